/**
 * vfs beyond the conformance suite: its on-disk layout, its option errors (dockerd's exact texts),
 * the fidelity of the directory copy, and the naive diff's get/put balance and one-second sleep.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { writeLayerTar } from '../../src/archive/diff/index.js';
import { TarReader } from '../../src/archive/tar/index.js';
import { naiveDiff, sleepUntilNextSecond, type LayerMounter } from '../../src/driver/naive.js';
import { dirCopy, initVfs, openVfs } from '../../src/driver/vfs/index.js';
import { AT_FDCWD, AT_SYMLINK_NOFOLLOW, lgetxattr, lsetxattr, mknod, utimensat } from '../../src/sys/index.js';
import { collect } from '../helpers/layertar.js';
import { tempDir } from '../helpers/tmp.js';
import { diffSnapshots, snapshotTree } from '../helpers/tree-snapshot.js';
import { CAP_NET_RAW, makeTar, populateAllTypes } from './conformance.js';

const mode = (p: string): string => (fs.statSync(p).mode & 0o7777).toString(8);

describe('vfs layout', () => {
  it('home and dir/ are 0710, a layer on nothing is an empty 0755 root-owned dir, nothing else is written', async () => {
    const root = tempDir();
    const home = path.join(root, 'vfs');
    const old = process.umask(0o077); // the modes must not depend on the umask
    let d;
    try {
      d = await initVfs(home, []);
      await d.create('L1', '');
    } finally {
      process.umask(old);
    }
    assert.equal(mode(home), '710');
    assert.equal(mode(path.join(home, 'dir')), '710');
    const l1 = path.join(home, 'dir', 'L1');
    assert.equal(mode(l1), '755');
    assert.equal(fs.statSync(l1).uid, 0);
    assert.deepEqual(fs.readdirSync(home), ['dir']);
    assert.deepEqual(fs.readdirSync(l1), []);
    assert.equal(await d.get('L1'), l1);
    assert.equal(d.name, 'vfs');
    assert.equal(d.home, home);
    assert.deepEqual(d.status(), []);
    assert.deepEqual(await d.metadata('L1'), {});
    assert.deepEqual(d.capabilities(), { reproducesExactDiffs: false, nativeDiff: false });
  });

  it('a child layer is a full copy whose root takes the parent root’s mode, owner and times', async () => {
    const d = await openVfs(path.join(tempDir(), 'vfs'));
    await d.create('P', '');
    const p = await d.get('P');
    fs.writeFileSync(path.join(p, 'f'), 'x');
    fs.chmodSync(p, 0o700);
    fs.chownSync(p, 4, 5);
    utimensat(AT_FDCWD, p, 1_600_000_000_000_000_001n, 1_600_000_000_000_000_002n, 0);
    await d.create('C', 'P');
    const c = await d.get('C');
    const st = fs.statSync(c, { bigint: true });
    assert.equal((Number(st.mode) & 0o7777).toString(8), '700');
    assert.equal(st.uid, 4n);
    assert.equal(st.gid, 5n);
    assert.equal(st.mtimeNs, 1_600_000_000_000_000_002n);
    assert.equal(st.atimeNs, 1_600_000_000_000_000_001n);
    assert.equal(fs.readFileSync(path.join(c, 'f'), 'utf8'), 'x');
    assert.notEqual(fs.statSync(path.join(c, 'f')).ino, fs.statSync(path.join(p, 'f')).ino, 'a copy, not a link');
  });

  it('refuses a bad id, an existing id and a missing parent, leaving nothing behind', async () => {
    const home = path.join(tempDir(), 'vfs');
    const d = await openVfs(home);
    await assert.rejects(d.create('../x', ''), { code: 'DRIVER_BAD_ID' });
    await assert.rejects(d.create('', ''), { code: 'DRIVER_BAD_ID' });
    await d.create('A', '');
    await assert.rejects(d.create('A', ''), { code: 'DRIVER_LAYER_EXISTS' });
    await assert.rejects(d.create('B', 'nope'), {
      code: 'DRIVER_NO_SUCH_LAYER',
      message: `nope: stat ${home}/dir/nope: no such file or directory`,
    });
    await assert.rejects(d.get('nope'), { message: `stat ${home}/dir/nope: no such file or directory` });
    assert.deepEqual(fs.readdirSync(path.join(home, 'dir')), ['A']);
    fs.writeFileSync(path.join(home, 'dir', 'F'), '');
    await assert.rejects(d.get('F'), { code: 'DRIVER_NOT_A_DIRECTORY', message: `${home}/dir/F: not a directory` });
  });

  it('remove deletes the whole tree, including read-only dirs', async () => {
    const d = await openVfs(path.join(tempDir(), 'vfs'));
    await d.create('R', '');
    const r = await d.get('R');
    fs.mkdirSync(path.join(r, 'ro/deep'), { recursive: true });
    fs.writeFileSync(path.join(r, 'ro/deep/f'), 'x');
    fs.chmodSync(path.join(r, 'ro'), 0o500);
    await d.remove('R');
    assert.equal(await d.exists('R'), false);
    await d.remove('R');
  });
});

describe('vfs options (dockerd 20.10 texts)', () => {
  const QUOTA = 'Filesystem does not support, or has not enabled quotas';

  it('start options: size needs quotas, other keys are unknown; nothing is created on error', async () => {
    const root = tempDir();
    const home = path.join(root, 'vfs');
    await assert.rejects(initVfs(home, ['size=10G']), { code: 'QUOTA_NOT_SUPPORTED', message: QUOTA });
    await assert.rejects(initVfs(home, ['foo=bar']), { message: 'unknown option foo for vfs' });
    await assert.rejects(initVfs(home, ['SIZE=1g']), { message: 'unknown option SIZE for vfs' });
    await assert.rejects(initVfs(home, ['size']), { message: 'Unable to parse key/value option: size' });
    await assert.rejects(initVfs(home, ['size=lots']), { message: "invalid size: 'lots'" });
    assert.equal(fs.existsSync(home), false);
    await initVfs(home, ['size=0']);
    assert.equal(fs.existsSync(home), true);
  });

  it('per-layer storage options', async () => {
    const d = await initVfs(path.join(tempDir(), 'vfs'), []);
    await assert.rejects(d.create('a', '', { storageOpt: { size: '1G' } }), { message: '--storage-opt is not supported for vfs on read-only layers' });
    await assert.rejects(d.create('a', '', { storageOpt: { foo: 'x' } }), { message: '--storage-opt is not supported for vfs on read-only layers' });
    await assert.rejects(d.createReadWrite('a', '', { storageOpt: { size: '1G' } }), { code: 'QUOTA_NOT_SUPPORTED', message: QUOTA });
    await assert.rejects(d.createReadWrite('a', '', { storageOpt: { foo: 'x' } }), { message: 'Storage opt foo not supported' });
    assert.equal(await d.exists('a'), false);
    await d.create('a', '', { storageOpt: {} });
    await d.createReadWrite('b', 'a', { mountLabel: 'x', storageOpt: {} });
    assert.equal(await d.exists('b'), true);
  });
});

describe('vfs directory copy', () => {
  it('keeps every type, owner, mode, ns atime and mtime, every xattr and hardlinks (also of FIFOs)', () => {
    const src = tempDir();
    const dst = tempDir();
    populateAllTypes(src);
    mknod(path.join(src, 'sock'), fs.constants.S_IFSOCK | 0o755);
    mknod(path.join(src, 'tmp', 'fifo-a'), fs.constants.S_IFIFO | 0o600);
    fs.linkSync(path.join(src, 'tmp', 'fifo-a'), path.join(src, 'fifo-b'));
    utimensat(AT_FDCWD, path.join(src, 'sock'), 1_000_000_000_000_000_007n, 1_000_000_000_000_000_009n, AT_SYMLINK_NOFOLLOW);
    utimensat(AT_FDCWD, path.join(src, 'tmp'), 1_000_000_000_000_000_003n, 1_000_000_000_000_000_004n, AT_SYMLINK_NOFOLLOW);
    utimensat(AT_FDCWD, path.join(src, 'link'), 1_000_000_000_000_000_005n, 1_000_000_000_000_000_006n, AT_SYMLINK_NOFOLLOW);
    dirCopy(src, dst);
    // atimes first: reading the trees (the copy itself, the snapshots) moves the sources' atimes.
    const atimes = ['sock', 'tmp', 'link', 'file', 'sub'].map((n) => fs.lstatSync(path.join(dst, n), { bigint: true }).atimeNs);
    const T0 = 1_700_000_000_123_456_789n;
    assert.deepEqual(atimes, [1_000_000_000_000_000_007n, 1_000_000_000_000_000_003n, 1_000_000_000_000_000_005n, T0, T0]);
    assert.deepEqual(diffSnapshots(snapshotTree(dst), snapshotTree(src)), []);
    assert.equal(fs.lstatSync(path.join(dst, 'sock')).isSocket(), true);
    assert.equal(fs.lstatSync(path.join(dst, 'fifo-b')).ino, fs.lstatSync(path.join(dst, 'tmp', 'fifo-a')).ino);
    assert.deepEqual(lgetxattr(path.join(dst, 'caps'), 'security.capability'), CAP_NET_RAW);
  });

  it('keeps sparse files sparse and copies large files exactly', () => {
    const src = tempDir();
    const dst = tempDir();
    const sparse = path.join(src, 'sparse');
    const fd = fs.openSync(sparse, 'w');
    fs.writeSync(fd, Buffer.from('start'), 0, 5, 0);
    fs.writeSync(fd, Buffer.from('middle'), 0, 6, 40 * 1024 * 1024);
    fs.writeSync(fd, Buffer.from('end'), 0, 3, 100 * 1024 * 1024 - 3);
    fs.closeSync(fd);
    const big = Buffer.alloc(5 * 1024 * 1024 + 17);
    for (let i = 0; i < big.length; i++) big[i] = (i * 7919) & 0xff;
    fs.writeFileSync(path.join(src, 'big'), big);
    dirCopy(src, dst);
    const s = fs.statSync(path.join(dst, 'sparse'));
    assert.equal(s.size, 100 * 1024 * 1024);
    assert.ok(s.blocks * 512 < 1024 * 1024, `sparse copy allocates ${s.blocks * 512} bytes`);
    assert.deepEqual(fs.readFileSync(path.join(dst, 'sparse')), fs.readFileSync(sparse));
    assert.deepEqual(fs.readFileSync(path.join(dst, 'big')), big);
  });

  it('never writes through an existing name: a collision is an error naming the entry', () => {
    const src = tempDir();
    const dst = tempDir();
    const victim = path.join(tempDir(), 'victim');
    fs.writeFileSync(victim, 'untouched');
    fs.writeFileSync(path.join(src, 'f'), 'payload');
    fs.symlinkSync(victim, path.join(dst, 'f'));
    assert.throws(() => dirCopy(src, dst), (e: Error & { code?: string }) => e.code === 'VFS_COPY' && e.message.includes(`${src}/f`));
    assert.equal(fs.readFileSync(victim, 'utf8'), 'untouched');
  });

  it('copies no xattrs with xattrs: none', () => {
    const src = tempDir();
    const dst = tempDir();
    fs.writeFileSync(path.join(src, 'f'), 'x');
    lsetxattr(path.join(src, 'f'), 'user.a', 'b');
    dirCopy(src, dst, { xattrs: 'none' });
    assert.equal(lgetxattr(path.join(dst, 'f'), 'user.a'), null);
  });
});

describe('naive diff', () => {
  /** A vfs-like mounter over plain dirs that counts gets and puts. */
  function counting(root: string): LayerMounter & { held: Map<string, number>; gets: number } {
    const held = new Map<string, number>();
    const m = {
      held,
      gets: 0,
      async get(id: string): Promise<string> {
        const p = path.join(root, id);
        if (!fs.existsSync(p)) throw new Error(`no layer ${id}`);
        m.gets++;
        held.set(id, (held.get(id) ?? 0) + 1);
        return p;
      },
      async put(id: string): Promise<void> {
        const n = held.get(id) ?? 0;
        assert.ok(n > 0, `put(${id}) without get`);
        if (n === 1) held.delete(id);
        else held.set(id, n - 1);
      },
    };
    return m;
  }

  function layers(): string {
    const root = tempDir();
    fs.mkdirSync(path.join(root, 'base'));
    fs.writeFileSync(path.join(root, 'base', 'keep'), 'k');
    fs.writeFileSync(path.join(root, 'base', 'gone'), 'g');
    fs.mkdirSync(path.join(root, 'top'));
    dirCopy(path.join(root, 'base'), path.join(root, 'top'));
    fs.rmSync(path.join(root, 'top', 'gone'));
    fs.writeFileSync(path.join(root, 'top', 'new'), Buffer.alloc(3 * 1024 * 1024, 1));
    return root;
  }

  it('balances every get with a put: finished, abandoned and failed streams, and the other calls', async () => {
    const root = layers();
    const m = counting(root);
    const nd = naiveDiff(m, { sleepToNextSecond: false });
    await collect(nd.diff('top', 'base'));
    await collect(nd.diff('top', ''));
    for await (const _ of nd.diff('top', 'base')) break; // abandoned after the first chunk
    await assert.rejects(collect(nd.diff('top', 'missing')));
    await assert.rejects(collect(nd.diff('missing', 'base')));
    assert.deepEqual((await nd.changes('top', 'base')).map((c) => `${c.kind} ${c.path}`), ['D /gone', 'A /new']);
    assert.equal(await nd.diffSize('top', 'base'), 3 * 1024 * 1024);
    assert.equal(await nd.diffSize('top', ''), 3 * 1024 * 1024 + 1);
    fs.mkdirSync(path.join(root, 'fresh'));
    assert.equal(await nd.applyDiff('fresh', '', new TarReader([makeTar([{ name: 'a', type: '0', mode: 0o100644, content: Buffer.from('12345') }])])), 5);
    await assert.rejects(nd.applyDiff('fresh', '', new TarReader([Buffer.alloc(512, 1)])));
    assert.deepEqual([...m.held], []);
    assert.ok(m.gets >= 12);
  });

  it('diff(id, "") is the plain whole-tree tar; diff(id, parent) whites out deletions', async () => {
    const root = layers();
    const nd = naiveDiff(counting(root), { sleepToNextSecond: false, names: 'empty' });
    assert.deepEqual(await collect(nd.diff('top', '')), await collect(writeLayerTar(path.join(root, 'top'), { whiteouts: 'none', names: 'empty' })));
    const names: string[] = [];
    for await (const e of new TarReader(nd.diff('top', 'base'))) names.push(e.header.name);
    assert.deepEqual(names, ['.wh.gone', 'new']);
  });

  it('a parent diff stream ends only after the next whole second since the diff started', async () => {
    const root = layers();
    const nd = naiveDiff(counting(root));
    const start = Date.now();
    await collect(nd.diff('top', 'base'));
    const end = Date.now();
    assert.ok(Math.floor(end / 1000) > Math.floor(start / 1000), `started ${start}, ended ${end}`);
  });

  it('sleepUntilNextSecond waits to the boundary, not a fixed second', async () => {
    let now = 5_000_900;
    const t0 = Date.now();
    await sleepUntilNextSecond(5_000_250, () => now); // 100 ms left
    assert.ok(Date.now() - t0 >= 90 && Date.now() - t0 < 600);
    now = 5_001_000;
    const t1 = Date.now();
    await sleepUntilNextSecond(5_000_250, () => now); // already past
    assert.ok(Date.now() - t1 < 50);
  });
});
