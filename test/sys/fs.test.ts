import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  AT_EMPTY_PATH,
  AT_FDCWD,
  AT_SYMLINK_FOLLOW,
  AT_SYMLINK_NOFOLLOW,
  O_TMPFILE,
  RENAME_EXCHANGE,
  RENAME_NOREPLACE,
  RENAME_WHITEOUT,
  SysError,
  UTIME_NOW,
  UTIME_OMIT,
  linkat,
  major,
  minor,
  renameat2,
  syncfs,
  utimensat,
} from '../../src/sys/index.js';
import { scratch } from './helpers.js';

describe('renameat2, linkat, utimensat, syncfs', () => {
  let dir = '';
  let cleanup = () => {};
  before(() => ({ dir, cleanup } = scratch()));
  after(() => cleanup());
  const p = (name: string) => path.join(dir, name);

  it('RENAME_NOREPLACE refuses to replace (EEXIST with path and dest) and changes nothing', () => {
    fs.writeFileSync(p('a'), 'A');
    fs.writeFileSync(p('b'), 'B');
    assert.throws(
      () => renameat2(AT_FDCWD, p('a'), AT_FDCWD, p('b'), RENAME_NOREPLACE),
      (e: unknown) => {
        assert.ok(e instanceof SysError);
        assert.equal(e.code, 'EEXIST');
        assert.equal(e.errno, -17);
        assert.equal(e.syscall, 'renameat2');
        assert.equal(e.path, p('a'));
        assert.equal(e.dest, p('b'));
        assert.equal(e.message, `EEXIST: file exists, renameat2 '${p('a')}' -> '${p('b')}'`);
        return true;
      },
    );
    assert.equal(fs.readFileSync(p('a'), 'utf8'), 'A');
    assert.equal(fs.readFileSync(p('b'), 'utf8'), 'B');
    renameat2(AT_FDCWD, p('a'), AT_FDCWD, p('c'), RENAME_NOREPLACE);
    assert.equal(fs.existsSync(p('a')), false);
    assert.equal(fs.readFileSync(p('c'), 'utf8'), 'A');
  });

  it('RENAME_EXCHANGE swaps a file and a directory atomically, relative to dir fds', () => {
    fs.writeFileSync(p('x-file'), 'file');
    fs.mkdirSync(p('x-dir'));
    fs.writeFileSync(p('x-dir/inner'), 'inner');
    const dfd = fs.openSync(dir, 'r');
    try {
      renameat2(dfd, 'x-file', dfd, 'x-dir', RENAME_EXCHANGE);
    } finally {
      fs.closeSync(dfd);
    }
    assert.equal(fs.readFileSync(p('x-dir'), 'utf8'), 'file');
    assert.equal(fs.readFileSync(p('x-file/inner'), 'utf8'), 'inner');
  });

  it('RENAME_WHITEOUT moves the entry and leaves a 0:0 character device behind', () => {
    fs.writeFileSync(p('w-src'), 'data');
    renameat2(AT_FDCWD, p('w-src'), AT_FDCWD, p('w-dst'), RENAME_WHITEOUT);
    assert.equal(fs.readFileSync(p('w-dst'), 'utf8'), 'data');
    const st = fs.lstatSync(p('w-src'));
    assert.ok(st.isCharacterDevice());
    assert.equal(major(st.rdev), 0);
    assert.equal(minor(st.rdev), 0);
  });

  it('renames names that are not UTF-8, byte for byte', () => {
    const from = Buffer.concat([Buffer.from(dir + '/'), Buffer.from([0x80, 0x81])]);
    const to = Buffer.concat([Buffer.from(dir + '/'), Buffer.from([0xc3, 0x28])]);
    fs.writeFileSync(from, 'raw');
    renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE);
    assert.equal(fs.readFileSync(to, 'utf8'), 'raw');
    assert.ok(fs.readdirSync(dir, { encoding: 'buffer' }).some((n) => n.equals(Buffer.from([0xc3, 0x28]))));
  });

  it('linkat with AT_SYMLINK_FOLLOW names an O_TMPFILE file via /proc/self/fd/N', () => {
    const fd = fs.openSync(dir, O_TMPFILE | fs.constants.O_RDWR, 0o640);
    try {
      fs.writeSync(fd, 'anonymous until linked');
      // what Node's own link() gets wrong: it does not follow the magic link
      assert.throws(() => fs.linkSync(`/proc/self/fd/${fd}`, p('tmp-node')), { code: 'EXDEV' });
      linkat(AT_FDCWD, `/proc/self/fd/${fd}`, AT_FDCWD, p('tmp-named'), AT_SYMLINK_FOLLOW);
      assert.equal(fs.readFileSync(p('tmp-named'), 'utf8'), 'anonymous until linked');
      assert.equal(fs.statSync(p('tmp-named')).ino, fs.fstatSync(fd).ino);
      assert.equal(fs.statSync(p('tmp-named')).mode & 0o777, 0o640);
    } finally {
      fs.closeSync(fd);
    }
  });

  it('linkat with AT_EMPTY_PATH links the fd itself, and plain linkat does not follow symlinks', () => {
    const fd = fs.openSync(dir, O_TMPFILE | fs.constants.O_RDWR, 0o600);
    try {
      fs.writeSync(fd, 'empty-path');
      linkat(fd, '', AT_FDCWD, p('tmp-empty'), AT_EMPTY_PATH);
      assert.equal(fs.readFileSync(p('tmp-empty'), 'utf8'), 'empty-path');
    } finally {
      fs.closeSync(fd);
    }
    fs.symlinkSync('tmp-empty', p('sym'));
    linkat(AT_FDCWD, p('sym'), AT_FDCWD, p('sym-hardlink'), 0);
    assert.ok(fs.lstatSync(p('sym-hardlink')).isSymbolicLink());
    assert.throws(() => linkat(AT_FDCWD, p('nope'), AT_FDCWD, p('nope2')), (e: unknown) => e instanceof SysError && e.code === 'ENOENT' && e.syscall === 'linkat' && e.dest === p('nope2'));
  });

  it('utimensat stores exact nanoseconds (BigInt, {sec, nsec}, before 1970)', () => {
    fs.writeFileSync(p('t'), '');
    utimensat(AT_FDCWD, p('t'), 1_600_000_000_111_111_111n, 1_700_000_000_987_654_321n);
    let st = fs.statSync(p('t'), { bigint: true });
    assert.equal(st.atimeNs, 1_600_000_000_111_111_111n);
    assert.equal(st.mtimeNs, 1_700_000_000_987_654_321n);
    utimensat(AT_FDCWD, p('t'), { sec: 1234, nsec: 5 }, { sec: 1_000_000_000n, nsec: 999_999_999 });
    st = fs.statSync(p('t'), { bigint: true });
    assert.equal(st.atimeNs, 1_234_000_000_005n);
    assert.equal(st.mtimeNs, 1_000_000_000_999_999_999n);
    utimensat(AT_FDCWD, p('t'), 'omit', -1_500_000_001n); // 1969-12-31T23:59:58.499999999Z
    st = fs.statSync(p('t'), { bigint: true });
    assert.equal(st.atimeNs, 1_234_000_000_005n, 'omitted atime kept');
    assert.equal(st.mtimeNs, -1_500_000_001n);
    utimensat(AT_FDCWD, p('t'), new Date(86_400_123), null);
    st = fs.statSync(p('t'), { bigint: true });
    assert.equal(st.atimeNs, 86_400_123_000_000n);
    assert.equal(st.mtimeNs, -1_500_000_001n);
  });

  it('utimensat with AT_SYMLINK_NOFOLLOW sets the symlink, not its target; UTIME_NOW/OMIT work', () => {
    fs.writeFileSync(p('tt'), '');
    fs.symlinkSync('tt', p('tl'));
    const before = fs.statSync(p('tt'), { bigint: true });
    utimensat(AT_FDCWD, p('tl'), 42_000_000_123n, 43_000_000_456n, AT_SYMLINK_NOFOLLOW);
    const l = fs.lstatSync(p('tl'), { bigint: true });
    assert.equal(l.atimeNs, 42_000_000_123n);
    assert.equal(l.mtimeNs, 43_000_000_456n);
    const after = fs.statSync(p('tt'), { bigint: true });
    assert.equal(after.mtimeNs, before.mtimeNs, 'target untouched');
    assert.equal(after.atimeNs, before.atimeNs, 'target untouched');
    const t0 = BigInt(Date.now() - 5_000) * 1_000_000n;
    utimensat(AT_FDCWD, p('tl'), { sec: 0, nsec: UTIME_OMIT }, 'now', AT_SYMLINK_NOFOLLOW);
    const l2 = fs.lstatSync(p('tl'), { bigint: true });
    assert.equal(l2.atimeNs, 42_000_000_123n);
    assert.ok(l2.mtimeNs > t0);
    utimensat(AT_FDCWD, p('tl'), { sec: 0, nsec: UTIME_NOW }, 'omit', AT_SYMLINK_NOFOLLOW);
    assert.ok(fs.lstatSync(p('tl'), { bigint: true }).atimeNs > t0);
  });

  it('utimensat with a null path acts on the fd itself', () => {
    fs.writeFileSync(p('byfd'), '');
    const fd = fs.openSync(p('byfd'), 'r+');
    try {
      utimensat(fd, null, 7n, 8n);
    } finally {
      fs.closeSync(fd);
    }
    const st = fs.statSync(p('byfd'), { bigint: true });
    assert.equal(st.atimeNs, 7n);
    assert.equal(st.mtimeNs, 8n);
    assert.throws(() => utimensat(AT_FDCWD, p('t'), { sec: 0, nsec: 1_000_000_000 }, null), /nsec/);
  });

  it('syncfs flushes the filesystem of an fd, and reports EBADF for a bad one', () => {
    const fd = fs.openSync(dir, 'r');
    try {
      syncfs(fd);
    } finally {
      fs.closeSync(fd);
    }
    assert.throws(() => syncfs(-1), (e: unknown) => e instanceof SysError && e.code === 'EBADF' && e.syscall === 'syncfs' && e.path === undefined);
  });
});
