import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { AT_FDCWD, O_PATH, S_IFCHR, S_IFIFO, SysError, fstat, lstat, lstatMaybe, mknod, utimensat } from '../../src/sys/index.js';
import { fileStatOf, scratch } from './helpers.js';

describe('lstat, lstatMaybe and fstat: stat(2) without fs.Stats', () => {
  let dir = '';
  let cleanup = () => {};
  before(() => ({ dir, cleanup } = scratch()));
  after(() => cleanup());
  const p = (...names: string[]) => path.join(dir, ...names);

  it('report what node:fs reports, for every kind, never following a symlink', () => {
    fs.writeFileSync(p('file'), 'x'.repeat(5000));
    fs.chownSync(p('file'), 1234, 5678);
    fs.chmodSync(p('file'), 0o4751);
    fs.linkSync(p('file'), p('second-name'));
    // before the epoch, with nanoseconds: the times are exact bigints
    utimensat(AT_FDCWD, p('file'), -1_500_000_001n, 1_700_000_000_123_456_789n);
    fs.mkdirSync(p('dir'));
    fs.symlinkSync('file', p('link'));
    mknod(p('dev'), S_IFCHR | 0o640, 4, 70);
    mknod(p('fifo'), S_IFIFO | 0o600);
    const names = ['file', 'dir', 'link', 'dev', 'fifo'];
    for (const name of names) {
      const expected = fileStatOf(fs.lstatSync(p(name), { bigint: true }));
      assert.deepEqual(lstat(p(name)), expected, name);
      assert.deepEqual(lstatMaybe(p(name)), expected, name);
    }
    const st = lstat(p('file'));
    assert.deepEqual([st.nlink, st.uid, st.gid, st.mode & 0o7777, st.size], [2, 1234, 5678, 0o4751, 5000]);
    assert.equal(st.atimeNs, -1_500_000_001n);
    assert.equal(st.mtimeNs, 1_700_000_000_123_456_789n);
    assert.equal(lstat(p('dev')).rdev, Number(fs.lstatSync(p('dev'), { bigint: true }).rdev));
  });

  it('take a path as raw bytes (a name that is not UTF-8)', () => {
    const name = Buffer.concat([Buffer.from(dir + '/'), Buffer.from([0x66, 0xff, 0x6f])]);
    fs.writeFileSync(name, 'abc');
    assert.equal(lstat(name).size, 3);
    assert.deepEqual(lstat(name), fileStatOf(fs.lstatSync(name, { bigint: true })));
  });

  it('fstat an open file and an O_PATH descriptor', () => {
    fs.writeFileSync(p('open'), 'hello');
    const fd = fs.openSync(p('open'), 'r+');
    const pathFd = fs.openSync(p('open'), O_PATH);
    try {
      fs.writeSync(fd, 'hello world', 0);
      assert.deepEqual(fstat(fd), fileStatOf(fs.fstatSync(fd, { bigint: true })));
      assert.equal(fstat(fd).size, 11);
      fs.unlinkSync(p('open'));
      assert.equal(fstat(fd).nlink, 0, 'an unlinked file still answers');
      assert.equal(fstat(pathFd).ino, fstat(fd).ino);
    } finally {
      fs.closeSync(fd);
      fs.closeSync(pathFd);
    }
  });

  it('lstatMaybe: undefined for a missing name or a file on the way, an error otherwise', () => {
    fs.writeFileSync(p('plain'), '');
    assert.equal(lstatMaybe(p('missing')), undefined);
    assert.equal(lstatMaybe(p('missing', 'below')), undefined);
    assert.equal(lstatMaybe(p('plain', 'below')), undefined, 'ENOTDIR');
    fs.symlinkSync('loop', p('loop'));
    assert.throws(
      () => lstatMaybe(p('loop', 'x')),
      (e: SysError) => e instanceof SysError && e.code === 'ELOOP' && e.syscall === 'lstat' && e.path === p('loop', 'x'),
    );
  });

  it('throw a SysError with the code, the syscall and the path', () => {
    assert.throws(
      () => lstat(p('nothing-here')),
      (e: SysError) => e instanceof SysError && e.code === 'ENOENT' && e.errno === -2 && e.syscall === 'lstat' && e.path === p('nothing-here') && e.message === `ENOENT: no such file or directory, lstat '${p('nothing-here')}'`,
    );
    assert.throws(() => fstat(987654), (e: SysError) => e.code === 'EBADF' && e.syscall === 'fstat');
  });
});
