/**
 * Docker's init layer (src/layer/initlayer.ts, moby `daemon/initlayer.Setup`) on plain
 * directories: what it creates, with which modes and owners, and what it does to an image's own
 * versions of those paths (moby unlinks every prefix first, so files and symlinks — a symlinked
 * `/etc` too — are replaced, directories kept). The same behaviour through a real RW layer is in
 * store-suite.ts.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { dockerInit } from '../../src/layer/index.js';
import { diffSnapshots, snapshotTree } from '../helpers/tree-snapshot.js';
import { dataRoot, writeTree } from './store-helpers.js';

const DIRS = ['dev/pts', 'dev/shm', 'proc', 'sys'];
const FILES = ['.dockerenv', 'etc/resolv.conf', 'etc/hosts', 'etc/hostname', 'dev/console'];
const ALL = ['.dockerenv', 'dev', 'dev/console', 'dev/pts', 'dev/shm', 'etc', 'etc/hostname', 'etc/hosts', 'etc/mtab', 'etc/resolv.conf', 'proc', 'sys'];

const st = (p: string) => fs.lstatSync(p);
const perm = (p: string) => st(p).mode & 0o7777;

/** Every path under `dir`, relative, sorted. */
function tree(dir: string): string[] {
  return [...snapshotTree(dir).keys()].filter((k) => k !== '.').sort();
}

async function init(root: string, opts?: { uid?: number; gid?: number }): Promise<void> {
  const old = process.umask(0o077); // modes must not depend on the umask
  try {
    await dockerInit(opts)(root);
  } finally {
    process.umask(old);
  }
}

describe('dockerInit', () => {
  it('on an empty root: dirs 0755, empty files 0755, /etc/mtab -> /proc/mounts, missing parents 0755', async () => {
    const root = dataRoot('strata-init-');
    await init(root);
    assert.deepEqual(tree(root), ALL);
    for (const d of [...DIRS, 'dev', 'etc']) {
      assert.ok(st(path.join(root, d)).isDirectory(), d);
      assert.equal(perm(path.join(root, d)).toString(8), '755', d);
    }
    for (const f of FILES) {
      const s = st(path.join(root, f));
      assert.ok(s.isFile(), f);
      assert.equal(s.size, 0, f);
      assert.equal((s.mode & 0o7777).toString(8), '755', f);
      assert.equal(s.uid, 0, f);
      assert.equal(s.gid, 0, f);
    }
    assert.ok(st(path.join(root, 'etc/mtab')).isSymbolicLink());
    assert.equal(fs.readlinkSync(path.join(root, 'etc/mtab')), '/proc/mounts');
  });

  it('uid/gid: what it creates belongs to the container\'s root; what exists keeps its owner and mode', async () => {
    const root = dataRoot('strata-init-');
    fs.mkdirSync(path.join(root, 'etc'), { mode: 0o700 });
    fs.chmodSync(path.join(root, 'etc'), 0o700);
    await init(root, { uid: 100000, gid: 100001 });
    assert.equal(st(path.join(root, 'etc')).uid, 0);
    assert.equal(perm(path.join(root, 'etc')), 0o700);
    for (const p of ['dev', 'dev/pts', 'dev/shm', 'proc', 'sys', ...FILES]) {
      assert.equal(st(path.join(root, p)).uid, 100000, p);
      assert.equal(st(path.join(root, p)).gid, 100001, p);
    }
  });

  it('an image\'s /etc/mtab file and /etc/hosts are replaced (moby unlinks each path before creating it)', async () => {
    const root = dataRoot('strata-init-');
    writeTree(root, {
      'etc/mtab': 'rootfs / rootfs rw 0 0\n',
      'etc/hosts': { content: '127.0.0.1 image\n', mode: 0o600 },
      'etc/hostname': 'image\n',
      '.dockerenv': 'x',
      'etc/passwd': 'root:x:0:0::/root:/bin/sh\n',
    });
    await init(root);
    assert.equal(fs.readlinkSync(path.join(root, 'etc/mtab')), '/proc/mounts');
    for (const f of ['etc/hosts', 'etc/hostname', '.dockerenv']) {
      assert.equal(fs.readFileSync(path.join(root, f), 'utf8'), '', f);
      assert.equal(perm(path.join(root, f)), 0o755, f);
    }
    assert.equal(fs.readFileSync(path.join(root, 'etc/passwd'), 'utf8'), 'root:x:0:0::/root:/bin/sh\n');
  });

  it('an /etc that is an absolute symlink becomes a real directory; nothing is written through the link', async () => {
    const root = dataRoot('strata-init-');
    const outside = dataRoot('strata-init-outside-');
    fs.mkdirSync(path.join(outside, 'etc'));
    fs.writeFileSync(path.join(outside, 'etc', 'hosts'), 'host file\n');
    const before = snapshotTree(outside);
    fs.symlinkSync(path.join(outside, 'etc'), path.join(root, 'etc'));
    fs.symlinkSync(outside, path.join(root, 'dev'));
    await init(root);
    assert.ok(st(path.join(root, 'etc')).isDirectory());
    assert.ok(st(path.join(root, 'dev')).isDirectory());
    assert.deepEqual(tree(root), ALL);
    assert.deepEqual(diffSnapshots(before, snapshotTree(outside)), []);
  });

  it('an /etc that is a relative symlink inside the root is replaced too; its target is left alone', async () => {
    const root = dataRoot('strata-init-');
    writeTree(root, { 'private/etc/hosts': 'kept\n', etc: { symlink: 'private/etc' } });
    await init(root);
    assert.ok(st(path.join(root, 'etc')).isDirectory());
    assert.equal(fs.readFileSync(path.join(root, 'private/etc/hosts'), 'utf8'), 'kept\n');
    assert.deepEqual(fs.readdirSync(path.join(root, 'private/etc')), ['hosts']);
  });

  it('existing directories are kept as they are, also where a file would go', async () => {
    const root = dataRoot('strata-init-');
    writeTree(root, { proc: { dir: true, mode: 0o555 }, 'etc/hosts': { dir: true, mode: 0o700 }, 'etc/hosts/inside': 'x' });
    await init(root);
    assert.equal(perm(path.join(root, 'proc')), 0o555);
    assert.ok(st(path.join(root, 'etc/hosts')).isDirectory());
    assert.equal(perm(path.join(root, 'etc/hosts')), 0o700);
    assert.equal(fs.readFileSync(path.join(root, 'etc/hosts/inside'), 'utf8'), 'x');
  });

  it('running it twice gives the same tree', async () => {
    const root = dataRoot('strata-init-');
    await init(root);
    const once = snapshotTree(root);
    await init(root);
    assert.deepEqual(diffSnapshots(once, snapshotTree(root), (_rel, field) => field === 'mtimeNs'), []);
  });
});
