import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { S_IFBLK, S_IFCHR, S_IFIFO, S_IFMT, SysError, major, makedev, minor, mknod, mknodat } from '../../src/sys/index.js';
import { scratch } from './helpers.js';

describe('mknod', () => {
  let dir = '';
  let cleanup = () => {};
  before(() => ({ dir, cleanup } = scratch()));
  after(() => cleanup());

  it('creates an overlay whiteout: a character device 0:0', () => {
    const p = path.join(dir, 'whiteout');
    mknod(p, S_IFCHR | 0o000, 0, 0);
    const st = fs.lstatSync(p, { bigint: true });
    assert.ok(st.isCharacterDevice());
    assert.equal(st.rdev, 0n);
    assert.equal(major(st.rdev), 0);
    assert.equal(minor(st.rdev), 0);
  });

  it('creates a FIFO with the requested permission bits', () => {
    const p = path.join(dir, 'fifo');
    const old = process.umask(0);
    try {
      mknod(p, S_IFIFO | 0o640);
    } finally {
      process.umask(old);
    }
    const st = fs.lstatSync(p);
    assert.ok(st.isFIFO());
    assert.equal(st.mode & 0o7777, 0o640);
  });

  it('creates block device 8:1 and the rdev decodes back to 8:1', () => {
    const p = path.join(dir, 'sda1');
    mknod(p, S_IFBLK | 0o600, 8, 1);
    const st = fs.statSync(p);
    assert.ok(st.isBlockDevice());
    assert.equal(st.mode & S_IFMT, S_IFBLK);
    assert.equal(st.rdev, 2049);
    assert.equal(major(st.rdev), 8);
    assert.equal(minor(st.rdev), 1);
    assert.equal(BigInt(st.rdev), makedev(8, 1));
  });

  it('encodes device numbers exactly as glibc does (gnu_dev_makedev via python3 ctypes as the oracle)', () => {
    const p = path.join(dir, 'bigdev');
    mknod(p, S_IFCHR | 0o600, 0xabc, 0x12345);
    const st = fs.statSync(p, { bigint: true });
    assert.equal(major(st.rdev), 0xabc);
    assert.equal(minor(st.rdev), 0x12345);
    assert.equal(st.rdev, makedev(0xabc, 0x12345));
    const pairs = [[0xfffff123, 0xfedcba98], [4095, 255], [4096, 256], [1, 3], [0xffffffff, 0xffffffff]] as const;
    const py = [
      'import ctypes, sys',
      'libc = ctypes.CDLL(None)',
      'f = libc.gnu_dev_makedev',
      'f.argtypes = [ctypes.c_uint, ctypes.c_uint]',
      'f.restype = ctypes.c_uint64',
      'for a in sys.argv[1:]:',
      '    ma, mi = map(int, a.split(":"))',
      '    print(f(ma, mi))',
    ].join('\n');
    const out = execFileSync('python3', ['-c', py, ...pairs.map(([a, b]) => `${a}:${b}`)]).toString().trim().split('\n');
    pairs.forEach(([ma, mi], i) => {
      const oracle = BigInt(out[i]!);
      assert.equal(makedev(ma, mi), oracle, `${ma}:${mi}`);
      assert.equal(major(oracle), ma);
      assert.equal(minor(oracle), mi);
    });
    assert.throws(() => makedev(-1, 0), RangeError);
    assert.throws(() => makedev(2 ** 32, 0), RangeError);
  });

  it('mknodat resolves relative to a directory fd, and takes raw non-UTF-8 names', () => {
    const dfd = fs.openSync(dir, 'r');
    try {
      const name = Buffer.from([0x77, 0x68, 0xff, 0xfe, 0x2e, 0x63]); // "wh\xff\xfe.c"
      mknodat(dfd, name, S_IFCHR, 0, 0);
      const listed = fs.readdirSync(dir, { encoding: 'buffer' });
      assert.ok(listed.some((n) => n.equals(name)), 'name kept byte-exact');
      assert.ok(fs.lstatSync(Buffer.concat([Buffer.from(dir + '/'), name])).isCharacterDevice());
      assert.throws(() => mknodat(dfd, name, S_IFCHR, 0, 0), (e: unknown) => e instanceof SysError && e.code === 'EEXIST' && e.syscall === 'mknodat');
    } finally {
      fs.closeSync(dfd);
    }
  });
});
