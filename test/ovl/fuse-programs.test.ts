/**
 * Real programs on a strata-overlay FUSE mount, each against the kernel's overlay on an identical
 * copy of the same layers (issue 6, must-show 3): `tar -c` of the whole tree gives the same bytes,
 * `cp -a` of it the same tree, `git init/add/commit` the same commit, and `npm install` of a local
 * tarball a working package. Afterwards the upper dir strata-overlay wrote, mounted by the kernel,
 * shows exactly what strata-overlay showed.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { strataOverlayCommand } from '../../src/driver/fuse-overlay/index.js';
import * as sys from '../../src/sys/index.js';
import { tempDir } from '../helpers/tmp.js';
import { diffSnapshots, snapshotTree } from '../helpers/tree-snapshot.js';

const T0 = 1_600_000_000; // every fixture time, so both copies are identical to the nanosecond

/** A small rootfs-like stack, built the same way every time: bottom (`base`) and `top` over it. */
function buildLayers(dir: string): { lowers: string[] } {
  const base = path.join(dir, 'base');
  const top = path.join(dir, 'top');
  const put = (root: string, rel: string, data: string, mode = 0o644) => {
    const p = path.join(root, rel);
    fs.mkdirSync(path.dirname(p), { recursive: true });
    fs.writeFileSync(p, data, { mode });
    fs.chmodSync(p, mode);
  };
  for (let d = 0; d < 12; d++) {
    for (let f = 0; f < 20; f++) put(base, `usr/lib/pkg${d}/file${f}.txt`, `pkg ${d} file ${f}\n`.repeat(f * 7 + 1));
  }
  put(base, 'usr/bin/tool', '#!/bin/sh\necho tool\n', 0o755);
  put(base, 'usr/bin/suid', 'suid\n', 0o4755);
  put(base, 'etc/hosts', '127.0.0.1 localhost\n');
  put(base, 'etc/passwd', 'root:x:0:0:root:/root:/bin/sh\n');
  put(base, 'etc/old.conf', 'old\n');
  put(base, 'var/lib/big.bin', 'B'.repeat(300_000));
  fs.mkdirSync(path.join(base, 'var/empty'), { recursive: true });
  fs.symlinkSync('../usr/bin/tool', path.join(base, 'etc/tool-link'));
  fs.symlinkSync('/etc/hosts', path.join(base, 'etc/abs-link'));
  fs.linkSync(path.join(base, 'etc/passwd'), path.join(base, 'etc/passwd.hard'));
  fs.chownSync(path.join(base, 'etc/hosts'), 1000, 1000);

  put(top, 'etc/hosts', '127.0.0.1 localhost strata\n');
  put(top, 'usr/lib/pkg3/file0.txt', 'replaced\n');
  put(top, 'opt/app/README', 'app\n');
  fs.mkdirSync(path.join(top, 'usr/lib/pkg5'), { recursive: true });
  sys.lsetxattr(path.join(top, 'usr/lib/pkg5'), 'trusted.overlay.opaque', Buffer.from('y'));
  put(top, 'usr/lib/pkg5/only.txt', 'only this\n');
  sys.mknod(path.join(top, 'etc/old.conf'), sys.constants.S_IFCHR, 0, 0);
  for (const root of [base, top]) stamp(root);
  return { lowers: [top, base] };
}

/** Sets every entry's atime/mtime to T0 (deepest first, so directory times stick). */
function stamp(root: string): void {
  const all: string[] = [];
  const walk = (p: string) => {
    for (const d of fs.readdirSync(p, { withFileTypes: true })) {
      const q = path.join(p, d.name);
      if (d.isDirectory()) walk(q);
      all.push(q);
    }
  };
  walk(root);
  all.push(root);
  for (const p of all) sys.utimensat(sys.constants.AT_FDCWD, p, BigInt(T0) * 1_000_000_000n, BigInt(T0) * 1_000_000_000n, sys.constants.AT_SYMLINK_NOFOLLOW);
}

interface Side {
  merged: string;
  upper: string;
  unmount(): void;
}

function fresh(dir: string): { upper: string; work: string; merged: string } {
  const d = { upper: path.join(dir, 'upper'), work: path.join(dir, 'work'), merged: path.join(dir, 'merged') };
  Object.values(d).forEach((p) => fs.mkdirSync(p, { recursive: true }));
  stamp(d.upper); // the merged root shows the upper root's times: the same on both sides
  return d;
}

function mountStrata(dir: string): Side {
  const { lowers } = buildLayers(dir);
  const d = fresh(dir);
  const { file, args } = strataOverlayCommand();
  execFileSync(file, [...args, '-o', `lowerdir=${lowers.join(':')},upperdir=${d.upper},workdir=${d.work}`, d.merged]);
  return { merged: d.merged, upper: d.upper, unmount: () => sys.umount2(d.merged, 0) };
}

function mountKernel(lowers: string[], upper: string, dir: string): Side {
  const d = fresh(dir);
  sys.mount('overlay', d.merged, 'overlay', 0, `lowerdir=${lowers.join(':')},upperdir=${upper},workdir=${d.work},index=off`);
  return { merged: d.merged, upper, unmount: () => sys.umount2(d.merged, 0) };
}

let work: string;
let strata: Side;
let kernel: Side;

before(() => {
  work = tempDir();
  strata = mountStrata(path.join(work, 'strata'));
  const k = path.join(work, 'kernel');
  const { lowers } = buildLayers(k);
  kernel = mountKernel(lowers, path.join(k, 'upper'), k);
});

after(() => {
  for (const s of [strata, kernel]) {
    try {
      s.unmount();
    } catch {
      /* already unmounted by a test */
    }
  }
});

const run = (cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = {}) =>
  execFileSync(cmd, args, { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 1 << 28 });

test('tar -c of the whole tree: the same bytes as from the kernel overlay', () => {
  const tar = (root: string) =>
    run('tar', ['-c', '--sort=name', '--numeric-owner', '--xattrs', '--format=pax', '--pax-option=delete=atime,delete=ctime', '-C', root, '.'], root);
  const a = tar(strata.merged);
  const b = tar(kernel.merged);
  assert.ok(a.length > 300_000, `the tar holds the tree (${a.length} bytes)`);
  assert.ok(a.equals(b), 'strata-overlay and the kernel overlay give byte-identical tars');
});

test('cp -a of the whole tree: the same tree as from the kernel overlay', () => {
  const copy = (root: string, name: string) => {
    const dest = path.join(work, name);
    run('cp', ['-a', `${root}/.`, dest], work);
    return snapshotTree(dest);
  };
  const diffs = diffSnapshots(copy(kernel.merged, 'cp-kernel'), copy(strata.merged, 'cp-strata'));
  assert.deepEqual(diffs, [], 'cp -a copies the same tree from both');
});

test('git init/add/commit on the mount: the same commit as on the kernel overlay, and fsck clean', () => {
  const env = {
    GIT_AUTHOR_NAME: 'strata', GIT_AUTHOR_EMAIL: 'strata@example.com', GIT_AUTHOR_DATE: '2020-09-13T12:26:40Z',
    GIT_COMMITTER_NAME: 'strata', GIT_COMMITTER_EMAIL: 'strata@example.com', GIT_COMMITTER_DATE: '2020-09-13T12:26:40Z',
    GIT_CONFIG_NOSYSTEM: '1', HOME: work,
  };
  const commit = (root: string) => {
    const repo = path.join(root, 'usr/lib');
    run('git', ['init', '-q', '-b', 'main'], repo, env);
    fs.writeFileSync(path.join(repo, 'pkg0/new.txt'), 'new file\n');
    run('git', ['add', '-A'], repo, env);
    run('git', ['commit', '-q', '-m', 'layer contents'], repo, env);
    fs.appendFileSync(path.join(repo, 'pkg1/file1.txt'), 'changed\n');
    run('git', ['commit', '-q', '-am', 'a change to a lower file'], repo, env);
    run('git', ['fsck', '--full', '--strict'], repo, env);
    assert.equal(run('git', ['status', '--porcelain'], repo, env).toString(), '', 'the work tree is clean after the commits');
    return run('git', ['rev-parse', 'HEAD'], repo, env).toString().trim();
  };
  assert.equal(commit(strata.merged), commit(kernel.merged), 'both commits have the same ID');
});

test('npm install of a local tarball on the mount: the package installs and loads', () => {
  const pkg = path.join(work, 'pkg');
  fs.mkdirSync(pkg);
  fs.writeFileSync(path.join(pkg, 'package.json'), JSON.stringify({ name: 'strata-fixture-pkg', version: '1.2.3', main: 'index.js' }));
  fs.writeFileSync(path.join(pkg, 'index.js'), "module.exports = 'hello from the fixture';\n");
  const tgz = path.join(work, run('npm', ['pack', '--silent', '--pack-destination', work], pkg).toString().trim());
  const app = path.join(strata.merged, 'opt/app');
  fs.writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', private: true }));
  run('npm', ['install', '--offline', '--no-audit', '--no-fund', '--cache', path.join(work, 'npm-cache'), tgz], app);
  const out = run(process.execPath, ['-e', "process.stdout.write(require('strata-fixture-pkg'))"], app).toString();
  assert.equal(out, 'hello from the fixture');
  assert.ok(fs.existsSync(path.join(app, 'package-lock.json')), 'npm wrote its lock file');
});

test('the upper strata-overlay wrote, mounted by the kernel, shows what strata-overlay showed', () => {
  const before = snapshotTree(strata.merged);
  strata.unmount();
  const lowers = [path.join(work, 'strata/top'), path.join(work, 'strata/base')];
  const k = mountKernel(lowers, strata.upper, path.join(work, 'cross'));
  try {
    assert.deepEqual(diffSnapshots(before, snapshotTree(k.merged)), [], 'the kernel overlay shows the same tree');
  } finally {
    k.unmount();
  }
});
