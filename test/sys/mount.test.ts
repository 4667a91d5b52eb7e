import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  AT_FDCWD,
  FSCONFIG_CMD_CREATE,
  FSCONFIG_SET_FLAG,
  FSCONFIG_SET_STRING,
  FSMOUNT_CLOEXEC,
  MNT_DETACH,
  MOUNT_ATTR_RDONLY,
  MOVE_MOUNT_F_EMPTY_PATH,
  MS_RDONLY,
  OPEN_TREE_CLOEXEC,
  OPEN_TREE_CLONE,
  SysError,
  fsconfig,
  fsmount,
  fsopen,
  isMountPoint,
  lgetxattr,
  major,
  minor,
  mount,
  mountFs,
  moveMount,
  openTree,
  umount2,
} from '../../src/sys/index.js';
import { scratch, writeTree } from './helpers.js';

const OVERLAY_MAGIC = 0x794c7630;

describe('mounts', () => {
  let dir = '';
  let cleanup = () => {};
  before(() => ({ dir, cleanup } = scratch()));
  after(() => cleanup());

  /** Fresh layer dirs under a sub-directory for one test. */
  function layers(name: string, lowers: Record<string, string>[]) {
    const base = path.join(dir, name);
    const lowerDirs = lowers.map((files, i) => {
      const d = path.join(base, `l${i}`);
      fs.mkdirSync(d, { recursive: true });
      writeTree(d, files);
      return d;
    });
    const [upper, work, merged] = ['upper', 'work', 'merged'].map((n) => path.join(base, n)) as [string, string, string];
    for (const d of [upper, work, merged]) fs.mkdirSync(d, { recursive: true });
    return { lowerDirs, upper, work, merged };
  }

  /** Runs `body` with `merged` mounted; always unmounts. */
  function withMount(merged: string, doMount: () => void, body: () => void) {
    doMount();
    try {
      body();
    } finally {
      umount2(merged, MNT_DETACH);
    }
  }

  it('mount(2) an overlay from lowerdir=a:b,upperdir,workdir; merged view, copy-up, whiteout; umount2', () => {
    const { lowerDirs, upper, work, merged } = layers('classic', [
      { 'f': 'from a', 'only-a': 'a', 'd/x': 'ax' },
      { 'f': 'from b', 'only-b': 'b', 'd/y': 'by' },
    ]);
    const [a, b] = lowerDirs as [string, string];
    withMount(
      merged,
      () => mount('overlay', merged, 'overlay', 0, `lowerdir=${a}:${b},upperdir=${upper},workdir=${work}`),
      () => {
        assert.ok(isMountPoint(merged));
        assert.equal(fs.statfsSync(merged).type, OVERLAY_MAGIC);
        assert.equal(fs.readFileSync(path.join(merged, 'f'), 'utf8'), 'from a', 'leftmost lower wins');
        assert.equal(fs.readFileSync(path.join(merged, 'only-b'), 'utf8'), 'b');
        assert.deepEqual(fs.readdirSync(merged).sort(), ['d', 'f', 'only-a', 'only-b']);
        assert.deepEqual(fs.readdirSync(path.join(merged, 'd')).sort(), ['x', 'y'], 'directories merge');
        fs.writeFileSync(path.join(merged, 'new'), 'written');
        assert.equal(fs.readFileSync(path.join(upper, 'new'), 'utf8'), 'written');
        fs.rmSync(path.join(merged, 'only-b'));
        const wh = fs.lstatSync(path.join(upper, 'only-b'));
        assert.ok(wh.isCharacterDevice() && major(wh.rdev) === 0 && minor(wh.rdev) === 0, 'deletion leaves a whiteout');
        fs.rmSync(path.join(merged, 'd'), { recursive: true });
        fs.mkdirSync(path.join(merged, 'd'));
        assert.deepEqual(lgetxattr(path.join(upper, 'd'), 'trusted.overlay.opaque'), Buffer.from('y'));
        assert.equal(fs.readFileSync(path.join(b, 'only-b'), 'utf8'), 'b', 'lower layers untouched');
      },
    );
    assert.ok(!isMountPoint(merged));
    assert.deepEqual(fs.readdirSync(merged), []);
  });

  it('mount(2) honours flags (MS_RDONLY) and umount2 reports EINVAL for a non-mount', () => {
    const { lowerDirs, merged } = layers('ro', [{ f: '1' }, { g: '2' }]);
    withMount(
      merged,
      () => mount('overlay', merged, 'overlay', MS_RDONLY, `lowerdir=${lowerDirs.join(':')}`),
      () => {
        assert.deepEqual(fs.readdirSync(merged).sort(), ['f', 'g']);
        assert.throws(() => fs.writeFileSync(path.join(merged, 'h'), ''), { code: 'EROFS' });
      },
    );
    assert.throws(() => umount2(merged), (e: unknown) => e instanceof SysError && e.code === 'EINVAL' && e.syscall === 'umount2' && e.path === merged);
  });

  it('fsopen/fsconfig(lowerdir+ per layer)/fsmount/move_mount with 3 lowers, upper and work', () => {
    const { lowerDirs, upper, work, merged } = layers('newapi', [
      { top: '0', 'shared': 'from l0' },
      { mid: '1', 'shared': 'from l1' },
      { bottom: '2', 'shared': 'from l2', 'deep/file': 'deep' },
    ]);
    const fsfd = fsopen('overlay');
    let mounted = false;
    try {
      for (const l of lowerDirs) fsconfig(fsfd, FSCONFIG_SET_STRING, 'lowerdir+', l);
      fsconfig(fsfd, FSCONFIG_SET_STRING, 'upperdir', upper);
      fsconfig(fsfd, FSCONFIG_SET_STRING, 'workdir', work);
      fsconfig(fsfd, FSCONFIG_SET_FLAG, 'userxattr');
      fsconfig(fsfd, FSCONFIG_CMD_CREATE);
      const mfd = fsmount(fsfd, FSMOUNT_CLOEXEC, 0);
      try {
        moveMount(mfd, '', AT_FDCWD, merged, MOVE_MOUNT_F_EMPTY_PATH);
        mounted = true;
      } finally {
        fs.closeSync(mfd);
      }
    } finally {
      fs.closeSync(fsfd);
    }
    try {
      assert.equal(fs.statfsSync(merged).type, OVERLAY_MAGIC);
      assert.deepEqual(fs.readdirSync(merged).sort(), ['bottom', 'deep', 'mid', 'shared', 'top']);
      assert.equal(fs.readFileSync(path.join(merged, 'shared'), 'utf8'), 'from l0', 'first lowerdir+ is the top');
      fs.writeFileSync(path.join(merged, 'deep/file'), 'changed');
      assert.equal(fs.readFileSync(path.join(upper, 'deep/file'), 'utf8'), 'changed', 'copy-up into upper');
      assert.equal(fs.readFileSync(path.join(lowerDirs[2]!, 'deep/file'), 'utf8'), 'deep');
      fs.rmSync(path.join(merged, 'top'));
      assert.ok(fs.lstatSync(path.join(upper, 'top')).isCharacterDevice());
    } finally {
      if (mounted) umount2(merged);
    }
    assert.deepEqual(fs.readdirSync(merged), []);
  });

  it('mountFs takes layer paths as raw bytes, with ":" and "," that a lowerdir= string would need escaped', () => {
    const base = path.join(dir, 'rawnames');
    const weird = [Buffer.from('layer:one,\xff', 'latin1'), Buffer.from('layer\xe9:two', 'latin1'), Buffer.from('three', 'latin1')];
    const lowers = weird.map((n, i) => {
      const p = Buffer.concat([Buffer.from(base + '/'), n]);
      fs.mkdirSync(p, { recursive: true });
      fs.writeFileSync(Buffer.concat([p, Buffer.from(`/file${i}`)]), `layer ${i}`);
      return p;
    });
    const merged = path.join(base, 'merged');
    fs.mkdirSync(merged);
    withMount(
      merged,
      () => mountFs('overlay', merged, [...lowers.map((l) => ['lowerdir+', l] as const), ['source', 'strata-test']], MOUNT_ATTR_RDONLY),
      () => {
        assert.deepEqual(fs.readdirSync(merged).sort(), ['file0', 'file1', 'file2']);
        assert.equal(fs.readFileSync(path.join(merged, 'file1'), 'utf8'), 'layer 1');
        assert.throws(() => fs.writeFileSync(path.join(merged, 'x'), ''), { code: 'EROFS' }, 'MOUNT_ATTR_RDONLY applied');
        const line = fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').find((l) => l.split(' ')[4] === merged);
        assert.match(line ?? '', / - overlay strata-test /);
      },
    );
  });

  it('openTree(OPEN_TREE_CLONE) + moveMount makes a bind mount', () => {
    const src = path.join(dir, 'bind-src');
    const dst = path.join(dir, 'bind-dst');
    writeTree(src, { 'hello.txt': 'hi' });
    fs.mkdirSync(dst);
    const tfd = openTree(AT_FDCWD, src, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
    try {
      moveMount(tfd, '', AT_FDCWD, dst, MOVE_MOUNT_F_EMPTY_PATH);
    } finally {
      fs.closeSync(tfd);
    }
    try {
      assert.equal(fs.readFileSync(path.join(dst, 'hello.txt'), 'utf8'), 'hi');
    } finally {
      umount2(dst);
    }
    assert.deepEqual(fs.readdirSync(dst), []);
  });

  it('errors name the call, the path and the kernel’s reason; mountFs leaves nothing mounted', () => {
    const { lowerDirs, merged } = layers('errors', [{ f: '1' }]);
    const missing = path.join(dir, 'errors', 'no-such-layer');
    assert.throws(
      () => mountFs('overlay', merged, [['lowerdir+', lowerDirs[0]!], ['lowerdir+', missing]]),
      (e: unknown) => {
        assert.ok(e instanceof SysError);
        assert.equal(e.code, 'ENOENT');
        assert.equal(e.syscall, 'fsconfig');
        assert.equal(e.path, missing);
        assert.match(e.detail ?? '', /lowerdir\+/);
        return true;
      },
    );
    assert.ok(!isMountPoint(merged));
    const fsfd = fsopen('overlay');
    try {
      assert.throws(
        () => fsconfig(fsfd, FSCONFIG_SET_STRING, 'no_such_option', 'x'),
        (e: unknown) => e instanceof SysError && e.code === 'EINVAL' && /Unknown parameter 'no_such_option'/.test(e.detail ?? ''),
      );
    } finally {
      fs.closeSync(fsfd);
    }
    assert.throws(() => fsopen('no-such-fs-type'), (e: unknown) => e instanceof SysError && e.code === 'ENODEV' && e.syscall === 'fsopen' && e.path === 'no-such-fs-type');
    assert.throws(
      () => mount('overlay', merged, 'overlay', 0, `lowerdir=${missing}`),
      (e: unknown) => e instanceof SysError && e.code === 'ENOENT' && e.syscall === 'mount' && e.path === 'overlay' && e.dest === merged,
    );
    assert.ok(!isMountPoint(merged));
  });
});
