import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { AT_FDCWD, SysError, copyUp, lgetxattr, llistxattr, lsetxattr, mknod, mount, nameToHandleAt, utimensat, type CopyUpXattrRules } from '../../src/sys/index.js';
import { fileStatOf, scratch } from './helpers.js';

/** An overlay's rules, with a made-up 21-byte origin head (bytes 2 and 4 are copyUp's to fill). */
const HEAD = Buffer.from(Array.from({ length: 21 }, (_, i) => (i === 2 || i === 4 ? 0 : 0xa0 + i)));
const RULES: CopyUpXattrRules = { skipPrefix: 'trusted.overlay.', keepPrefix: 'trusted.overlay.overlay.', originName: 'trusted.overlay.origin', originHeader: HEAD };
/** open(2)'s O_TMPFILE (__O_TMPFILE | O_DIRECTORY), which node:fs does not name. */
const O_TMPFILE = 0o20200000;
/** A file capability (VFS_CAP_REVISION_2, cap_net_bind_service permitted): chown drops it. */
const CAP = Buffer.from('0100000200040000000000000000000000000000', 'hex');

describe('copyUp: an object with its metadata, in one call', () => {
  let dir = '';
  let cleanup = () => {};
  before(() => ({ dir, cleanup } = scratch()));
  after(() => cleanup());
  const p = (...names: string[]) => path.join(dir, ...names);

  /** A source file: data, setuid mode, a foreign owner, exact times, and every kind of xattr. */
  function source(at: string, size: number): Buffer {
    const data = Buffer.alloc(size);
    for (let i = 0; i < size; i++) data[i] = (i * 13 + 5) & 0xff;
    fs.writeFileSync(at, data);
    fs.chownSync(at, 1234, 5678);
    fs.chmodSync(at, 0o4750);
    lsetxattr(at, 'user.bin', Buffer.from([0, 1, 2, 255]));
    lsetxattr(at, 'trusted.overlay.opaque', 'y'); // the overlay's own: not copied
    lsetxattr(at, 'trusted.overlay.overlay.mine', 'kept'); // a user's escaped one: copied
    lsetxattr(at, 'security.capability', CAP); // after the chown, which would drop it
    utimensat(AT_FDCWD, at, 1_600_000_000_123_456_789n, 1_500_000_000_987_654_321n);
    return data;
  }

  function assertCopied(src: string, dst: string, data: Buffer): void {
    const s = fs.lstatSync(src, { bigint: true });
    const d = fs.lstatSync(dst, { bigint: true }); // before reading it, which moves its atime
    assert.ok(fs.readFileSync(dst).equals(data));
    assert.equal(d.mode, s.mode); // setuid survived the chown: the mode goes after it
    assert.deepEqual([d.uid, d.gid], [1234n, 5678n]);
    assert.deepEqual([d.atimeNs, d.mtimeNs], [1_600_000_000_123_456_789n, 1_500_000_000_987_654_321n]);
    assert.deepEqual(lgetxattr(dst, 'user.bin'), Buffer.from([0, 1, 2, 255]));
    assert.deepEqual(lgetxattr(dst, 'trusted.overlay.overlay.mine'), Buffer.from('kept'));
    assert.deepEqual(lgetxattr(dst, 'security.capability'), CAP);
    assert.equal(lgetxattr(dst, 'trusted.overlay.opaque'), null);
    // the origin: the head, then src's handle; byte 2 the length, byte 4 the handle type
    const h = nameToHandleAt(AT_FDCWD, src, 0);
    const origin = lgetxattr(dst, 'trusted.overlay.origin')!;
    const want = Buffer.concat([HEAD, h.handle]);
    want[2] = want.length;
    want[4] = h.type;
    assert.deepEqual(origin, want);
  }

  /** Runs `body` (JavaScript with copyUp imported) in a child under strace, tracing the syscalls `calls`; returns strace's lines. */
  function straceCopyUp(calls: string, body: string): string[] {
    const script = `import { copyUp } from ${JSON.stringify(path.resolve('src/sys/index.ts'))};\n${body}`;
    const r = spawnSync('strace', ['-f', '-e', `trace=${calls}`, '--', process.execPath, '--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    return r.stderr.split('\n');
  }

  /** A work dir path for the copy (a regular file's is built unnamed beside it). */
  const tmp = (at = dir) => {
    fs.mkdirSync(path.join(at, 'work'), { recursive: true });
    return path.join(at, 'work', '#1');
  };
  const workIsEmpty = (at = dir) => assert.deepEqual(fs.readdirSync(path.join(at, 'work')), []);

  it('copies data, owner, mode, xattrs (by the rules), times and the origin, on one filesystem', () => {
    const data = source(p('src'), 3 * 1024 * 1024 + 17);
    const got = copyUp(p('src'), tmp(), p('dst'), true, RULES);
    assert.deepEqual(got, { ino: fs.lstatSync(p('src'), { bigint: true }).ino, origin: true, stat: fileStatOf(fs.lstatSync(p('dst'), { bigint: true })) });
    assertCopied(p('src'), p('dst'), data);
    workIsEmpty(); // built as an unnamed O_TMPFILE file, then linked
    assert.equal(fs.lstatSync(p('dst')).nlink, 1);
  });

  it('takes paths as byte strings: a name in UTF-8, and one that is no UTF-8 at all, arrive byte for byte', () => {
    fs.mkdirSync(p('bytes'));
    // the names' bytes, and the byte strings (one char per byte) the engine keeps them as
    const srcBytes = Buffer.concat([Buffer.from(p('bytes') + '/'), Buffer.from('café', 'utf8')]);
    const dstName = Buffer.from([0x64, 0xff, 0xc3, 0xa9, 0x80]);
    fs.writeFileSync(srcBytes, 'bytes\n');
    const got = copyUp(srcBytes.toString('latin1'), tmp(), `${p('bytes')}/${dstName.toString('latin1')}`, true, RULES);
    assert.ok(got.origin);
    const names = fs.readdirSync(p('bytes'), { encoding: 'buffer' }).map((b) => b.toString('hex')).sort();
    assert.deepEqual(names, [Buffer.from('café', 'utf8').toString('hex'), dstName.toString('hex')].sort());
    assert.equal(fs.readFileSync(Buffer.concat([Buffer.from(p('bytes') + '/'), dstName]), 'utf8'), 'bytes\n');
    workIsEmpty();
  });

  it('builds at the temporary name and renames where the filesystem has no O_TMPFILE (a FUSE mount)', () => {
    const f = p('fuse');
    for (const d of ['l', 'u', 'w', 'm']) fs.mkdirSync(path.join(f, d), { recursive: true });
    const r = spawnSync('fuse-overlayfs', ['-o', `lowerdir=${f}/l,upperdir=${f}/u,workdir=${f}/w`, `${f}/m`], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.throws(() => fs.openSync(`${f}/m`, fs.constants.O_WRONLY | O_TMPFILE), (e: NodeJS.ErrnoException) => e.errno === -95, 'no O_TMPFILE there (EOPNOTSUPP)');
    const data = Buffer.from('through a FUSE mount\n');
    fs.writeFileSync(p('plain-src'), data);
    const got = copyUp(p('plain-src'), tmp(`${f}/m`), `${f}/m/dst`, true, { ...RULES, originHeader: null });
    assert.deepEqual(got, { ino: fs.lstatSync(p('plain-src'), { bigint: true }).ino, origin: false, stat: fileStatOf(fs.lstatSync(`${f}/m/dst`, { bigint: true })) });
    assert.ok(fs.readFileSync(`${f}/m/dst`).equals(data));
    workIsEmpty(`${f}/m`);
    // and a failure there leaves nothing: the rename onto a directory fails after the copy was built
    fs.mkdirSync(`${f}/m/taken/sub`, { recursive: true });
    assert.throws(() => copyUp(p('plain-src'), tmp(`${f}/m`), `${f}/m/taken`, true, { ...RULES, originHeader: null }), (e: unknown) => e instanceof SysError && e.code === 'EISDIR' && e.syscall === 'rename');
    workIsEmpty(`${f}/m`);
  });

  it('copies through a buffer where the kernel cannot copy between the two filesystems (tmpfs to here)', () => {
    fs.mkdirSync(p('tmpfs'));
    mount('tmpfs', p('tmpfs'), 'tmpfs', 0, 'size=16m');
    const data = source(p('tmpfs', 'src'), 2 * 1024 * 1024 + 5);
    assert.ok(copyUp(p('tmpfs', 'src'), tmp(), p('from-tmpfs'), true, RULES));
    assertCopied(p('tmpfs', 'src'), p('from-tmpfs'), data);
  });

  it('copies xattr lists and values larger than a page (the size-query path), on tmpfs', () => {
    fs.mkdirSync(p('tmpfs-big'));
    mount('tmpfs', p('tmpfs-big'), 'tmpfs', 0, 'size=4m');
    const src = p('tmpfs-big', 'src');
    fs.writeFileSync(src, 'x');
    const value = Buffer.alloc(20_000);
    for (let i = 0; i < value.length; i++) value[i] = (i * 7 + 3) & 0xff;
    lsetxattr(src, 'trusted.big', value);
    const names = Array.from({ length: 200 }, (_, i) => `trusted.a-rather-long-attribute-name-to-fill-the-list-${i}`);
    for (const n of names) lsetxattr(src, n, Buffer.from([1]));
    assert.ok(copyUp(src, tmp(p('tmpfs-big')), p('tmpfs-big', 'dst'), true, RULES));
    assert.deepEqual(lgetxattr(p('tmpfs-big', 'dst'), 'trusted.big'), value);
    assert.deepEqual(llistxattr(p('tmpfs-big', 'dst')).filter((n) => n.startsWith('trusted.a-')).sort(), [...names].sort());
  });

  it('without data, gives the copy its size as a hole', () => {
    source(p('nodata-src'), 70_000);
    assert.ok(copyUp(p('nodata-src'), tmp(), p('nodata-dst'), false, RULES));
    assert.ok(fs.readFileSync(p('nodata-dst')).equals(Buffer.alloc(70_000)));
  });

  it("gives every kind its source's owner, even the caller's, where the work dir would give it its own group (setgid)", () => {
    const work = p('setgid-work');
    fs.mkdirSync(work);
    fs.chownSync(work, 0, 4321);
    fs.chmodSync(work, 0o2755); // what is made in here gets group 4321
    fs.mkdirSync(p('setgid-up'));
    fs.writeFileSync(p('mine'), 'the caller owns this');
    fs.mkdirSync(p('mine-dir'));
    fs.symlinkSync('mine', p('mine-link'));
    const ids = (at: string) => [fs.lstatSync(at).uid, fs.lstatSync(at).gid];
    for (const name of ['mine', 'mine-dir', 'mine-link']) {
      copyUp(p(name), path.join(work, '#1'), p('setgid-up', name), true, RULES);
      assert.deepEqual(ids(p('setgid-up', name)), ids(p(name)), name);
    }
  });

  it("syncs a file's data before the copy gets its name (strace)", () => {
    source(p('sync-src'), 100_000);
    fs.writeFileSync(p('sync-empty'), '');
    // a child copies: a data copy, an empty file, a data-less copy (only the first has data to sync)
    const lines = straceCopyUp(
      'write,fsync,fdatasync,linkat',
      `const rules = ${JSON.stringify({ ...RULES, originHeader: null })};
      process.stdout.write('start\\n');
      for (const [src, dst, data] of ${JSON.stringify([
        [p('sync-src'), p('sync-dst'), true],
        [p('sync-empty'), p('sync-empty-dst'), true],
        [p('sync-src'), p('sync-nodata-dst'), false],
      ])}) { copyUp(src, ${JSON.stringify(tmp())}, dst, data, rules); process.stdout.write(dst + '\\n'); }`,
    );
    // the syscalls after the child said 'start', in order, each with the file it named
    const calls = lines.slice(lines.findIndex((l) => l.includes('"start\\n"')) + 1);
    const seen = calls.filter((l) => /\b(fsync|fdatasync|linkat)\(/.test(l) || /write\(1, "\//.test(l)).map((l) => l.replace(/^\[pid\s+\d+\] /, '').replace(/^\d+ +/, ''));
    const fd = (l: string) => /^(?:fsync|linkat)\((\d+)/.exec(l)?.[1];
    assert.match(seen[0]!, /^fsync\(\d+\) += 0/, seen.join('\n'));
    assert.match(seen[1]!, /^linkat\(\d+, "", .*sync-dst"/, seen.join('\n'));
    assert.equal(fd(seen[0]!), fd(seen[1]!), 'the file synced is the one linked');
    assert.deepEqual(seen.slice(2).map((l) => l.split('(')[0]), ['write', 'linkat', 'write', 'linkat', 'write'], seen.join('\n'));
    assert.ok(fs.readFileSync(p('sync-dst')).equals(fs.readFileSync(p('sync-src'))));
  });

  it('records no origin for a file with several links, an empty one for an empty head, none for a null head', () => {
    source(p('linked'), 10);
    fs.linkSync(p('linked'), p('linked2'));
    assert.equal(copyUp(p('linked'), tmp(), p('linked-dst'), true, RULES).origin, false);
    assert.equal(lgetxattr(p('linked-dst'), 'trusted.overlay.origin'), null);
    source(p('plain'), 10);
    assert.equal(copyUp(p('plain'), tmp(), p('empty-origin'), true, { ...RULES, originHeader: Buffer.alloc(0) }).origin, true);
    assert.deepEqual(lgetxattr(p('empty-origin'), 'trusted.overlay.origin'), Buffer.alloc(0));
    assert.equal(copyUp(p('plain'), tmp(), p('no-origin'), true, { ...RULES, originHeader: null }).origin, false);
    assert.ok(!llistxattr(p('no-origin')).includes('trusted.overlay.origin'));
  });

  it('copies a directory, a symlink itself, a fifo and a device by path, with their metadata; the parent keeps its times', () => {
    fs.mkdirSync(p('kinds'));
    fs.mkdirSync(p('kinds', 'dir'));
    fs.symlinkSync('dir', p('kinds', 'link'));
    mknod(p('kinds', 'fifo'), fs.constants.S_IFIFO | 0o640);
    mknod(p('kinds', 'dev'), fs.constants.S_IFCHR | 0o600, 1, 3);
    const KINDS = ['dir', 'link', 'fifo', 'dev'];
    const value = (name: string) => Buffer.alloc(2000, KINDS.indexOf(name) + 1); // each its own: a followed link would show the dir's
    for (const name of KINDS) {
      const at = p('kinds', name);
      fs.lchownSync(at, 1234, 5678);
      if (name !== 'link') fs.chmodSync(at, name === 'dir' ? 0o2751 : 0o640);
      lsetxattr(at, 'trusted.t', value(name));
      lsetxattr(at, 'trusted.overlay.opaque', 'y');
      lsetxattr(at, 'trusted.overlay.overlay.mine', 'kept');
      utimensat(AT_FDCWD, at, 1_600_000_000_123_456_789n, 1_500_000_000_987_654_321n, 0x100 /* AT_SYMLINK_NOFOLLOW */);
    }
    fs.mkdirSync(p('kinds-up'));
    utimensat(AT_FDCWD, p('kinds-up'), 1_000_000_001_000_000_001n, 1_000_000_002_000_000_002n);
    for (const name of KINDS) {
      const src = p('kinds', name);
      const dst = p('kinds-up', name);
      const got = copyUp(src, tmp(), dst, true, RULES);
      const s = fs.lstatSync(src, { bigint: true });
      const d = fs.lstatSync(dst, { bigint: true });
      assert.deepEqual(got, { ino: s.ino, origin: true, stat: fileStatOf(d) }, name);
      assert.deepEqual([d.mode, d.uid, d.gid, d.rdev], [s.mode, 1234n, 5678n, s.rdev], name);
      assert.deepEqual([d.atimeNs, d.mtimeNs], [1_600_000_000_123_456_789n, 1_500_000_000_987_654_321n], name);
      assert.deepEqual(lgetxattr(dst, 'trusted.t'), value(name), name);
      assert.deepEqual(lgetxattr(dst, 'trusted.overlay.overlay.mine'), Buffer.from('kept'), name);
      assert.equal(lgetxattr(dst, 'trusted.overlay.opaque'), null, name);
      const h = nameToHandleAt(AT_FDCWD, src, 0);
      const want = Buffer.concat([HEAD, h.handle]);
      want[2] = want.length;
      want[4] = h.type;
      assert.deepEqual(lgetxattr(dst, 'trusted.overlay.origin'), want, name);
    }
    assert.equal(fs.readlinkSync(p('kinds-up', 'link')), 'dir');
    const parent = fs.lstatSync(p('kinds-up'), { bigint: true });
    assert.deepEqual([parent.atimeNs, parent.mtimeNs], [1_000_000_001_000_000_001n, 1_000_000_002_000_000_002n], 'the parent keeps its times');
    workIsEmpty();
    // a device with two links records no origin; a failure (no such target dir) leaves nothing behind
    fs.linkSync(p('kinds', 'dev'), p('kinds', 'dev2'));
    assert.equal(copyUp(p('kinds', 'dev'), tmp(), p('kinds-up', 'dev-linked'), true, RULES).origin, false);
    assert.throws(() => copyUp(p('kinds', 'dir'), tmp(), p('kinds-up', 'none', 'dir'), true, RULES), (e: unknown) => e instanceof SysError && e.code === 'ENOENT' && e.syscall === 'lstat');
    fs.mkdirSync(p('kinds-up', 'sub'));
    fs.mkdirSync(p('kinds-up', 'sub', 'dir'));
    fs.writeFileSync(p('kinds-up', 'sub', 'dir', 'x'), 'a full dir is not replaced');
    assert.throws(() => copyUp(p('kinds', 'dir'), tmp(), p('kinds-up', 'sub', 'dir'), true, RULES), (e: unknown) => e instanceof SysError && e.code === 'ENOTEMPTY' && e.syscall === 'rename');
    workIsEmpty();
  });

  it('with isFile, opens the source at once (no lstat of it) and copies the same; what is not a regular file is ESTALE, never followed', () => {
    const data = source(p('known'), 70_000);
    const got = copyUp(p('known'), tmp(), p('known-dst'), true, RULES, undefined, 'data', true);
    assert.deepEqual(got, { ino: fs.lstatSync(p('known'), { bigint: true }).ino, origin: true, stat: fileStatOf(fs.lstatSync(p('known-dst'), { bigint: true })) });
    assertCopied(p('known'), p('known-dst'), data);
    fs.linkSync(p('known'), p('known2'));
    assert.equal(copyUp(p('known'), tmp(), p('known-linked'), true, RULES, undefined, 'data', true).origin, false, 'two links: no origin');
    // replaced under the caller: a symlink to a file, a directory, a fifo (which must not block the open)
    fs.mkdirSync(p('not-files'));
    fs.symlinkSync(p('known'), p('not-files', 'link'));
    fs.mkdirSync(p('not-files', 'dir'));
    mknod(p('not-files', 'fifo'), fs.constants.S_IFIFO | 0o644);
    for (const name of ['link', 'dir', 'fifo']) {
      assert.throws(() => copyUp(p('not-files', name), tmp(), p(`not-${name}`), true, RULES, undefined, 'data', true), (e: unknown) => e instanceof SysError && e.code === 'ESTALE' && e.path === p('not-files', name), name);
      assert.equal(fs.existsSync(p(`not-${name}`)), false, name);
    }
    // the one lstat left is the parent's (its times are put back): strace shows no lstat of the source
    const lines = straceCopyUp(
      'lstat,newfstatat,statx',
      `copyUp(${JSON.stringify(p('known'))}, ${JSON.stringify(tmp())}, ${JSON.stringify(p('known-traced'))}, true, ${JSON.stringify({ ...RULES, originHeader: null })}, undefined, 'data', true);`,
    );
    assert.ok(fs.existsSync(p('known-traced')));
    assert.ok(!lines.some((l) => l.includes(`"${p('known')}"`)), 'the source is not stat-ed by path');
    workIsEmpty();
  });

  it('never replaces: an existing target is EEXIST (linkat, with its path), a missing source or target dir ENOENT; nothing is left', () => {
    fs.writeFileSync(p('exists'), 'keep me');
    source(p('src2'), 10);
    assert.throws(
      () => copyUp(p('src2'), tmp(), p('exists'), true, RULES),
      (e: unknown) => e instanceof SysError && e.code === 'EEXIST' && e.syscall === 'linkat' && e.path === p('exists'),
    );
    assert.equal(fs.readFileSync(p('exists'), 'utf8'), 'keep me');
    assert.throws(() => copyUp(p('missing'), tmp(), p('m-dst'), true, RULES), (e: unknown) => e instanceof SysError && e.code === 'ENOENT' && e.path === p('missing'));
    assert.throws(() => copyUp(p('src2'), tmp(), p('no-such-dir', 'dst'), true, RULES), (e: unknown) => e instanceof SysError && e.code === 'ENOENT' && e.syscall === 'lstat' && e.path === p('no-such-dir'));
    workIsEmpty();
  });

  describe('with a change made on the copy before it appears (a setattr that needed the copy-up)', () => {
    it('a mode: the new permission bits; owner, data, xattrs and the lower times kept; the stat returned is the copy in place', () => {
      const data = source(p('ch-mode-src'), 5000);
      const got = copyUp(p('ch-mode-src'), tmp(), p('ch-mode'), true, RULES, { mode: fs.constants.S_IFREG | 0o640 });
      const d = fs.lstatSync(p('ch-mode'), { bigint: true });
      assert.deepEqual(got.stat, fileStatOf(d));
      assert.equal(d.mode, BigInt(fs.constants.S_IFREG | 0o640));
      assert.deepEqual([d.uid, d.gid, d.atimeNs, d.mtimeNs], [1234n, 5678n, 1_600_000_000_123_456_789n, 1_500_000_000_987_654_321n]);
      assert.ok(fs.readFileSync(p('ch-mode')).equals(data));
      assert.deepEqual(lgetxattr(p('ch-mode'), 'security.capability'), CAP);
      workIsEmpty();
    });

    it('an owner: drops setuid and security.capability as chown does, unless the same change sets the mode again', () => {
      source(p('ch-own-src'), 10);
      copyUp(p('ch-own-src'), tmp(), p('ch-own'), true, RULES, { uid: 4321 });
      const d = fs.lstatSync(p('ch-own'));
      assert.deepEqual([d.uid, d.gid, d.mode & 0o7777], [4321, 5678, 0o750]);
      assert.equal(lgetxattr(p('ch-own'), 'security.capability'), null);
      assert.deepEqual(lgetxattr(p('ch-own'), 'user.bin'), Buffer.from([0, 1, 2, 255]));
      copyUp(p('ch-own-src'), tmp(), p('ch-own-mode'), true, RULES, { uid: 4321, gid: 8765, mode: 0o4755 });
      const m = fs.lstatSync(p('ch-own-mode'));
      assert.deepEqual([m.uid, m.gid, m.mode & 0o7777], [4321, 8765, 0o4755]);
    });

    it('a size and times: the data cut, the times set last (a truncate moves mtime, as in a setattr)', () => {
      const data = source(p('ch-size-src'), 9000);
      const got = copyUp(p('ch-size-src'), tmp(), p('ch-size'), true, RULES, { size: 100, mtimeNs: 1_234_567_890_000_000_001n });
      assert.ok(fs.readFileSync(p('ch-size')).equals(data.subarray(0, 100)));
      assert.deepEqual([got.stat.size, got.stat.atimeNs, got.stat.mtimeNs], [100, 1_600_000_000_123_456_789n, 1_234_567_890_000_000_001n]);
      const empty = copyUp(p('ch-size-src'), tmp(), p('ch-size-0'), false, RULES, { size: 0, atimeNs: 'now' });
      assert.equal(fs.readFileSync(p('ch-size-0')).length, 0);
      assert.ok(empty.stat.atimeNs > 1_700_000_000_000_000_000n, 'atime now');
      assert.ok(empty.stat.mtimeNs > 1_700_000_000_000_000_000n, 'the truncate moved mtime');
    });

    it('on a directory and a symlink by path: the link itself changes; the parent keeps its times', () => {
      fs.mkdirSync(p('ch-kinds', 'dir'), { recursive: true });
      fs.symlinkSync('dir', p('ch-kinds', 'link'));
      fs.mkdirSync(p('ch-kinds-up'));
      utimensat(AT_FDCWD, p('ch-kinds-up'), 1_000_000_001_000_000_001n, 1_000_000_002_000_000_002n);
      const dirStat = copyUp(p('ch-kinds', 'dir'), tmp(), p('ch-kinds-up', 'dir'), true, RULES, { mode: 0o1777, uid: 77 }).stat;
      assert.deepEqual([dirStat.mode & 0o7777, dirStat.uid], [0o1777, 77]);
      const linkStat = copyUp(p('ch-kinds', 'link'), tmp(), p('ch-kinds-up', 'link'), true, RULES, { uid: 88, mtimeNs: 5_000_000_000n }).stat;
      assert.deepEqual([linkStat.uid, linkStat.mtimeNs], [88, 5_000_000_000n]);
      assert.equal(fs.lstatSync(p('ch-kinds', 'dir')).uid, 0, 'the link was not followed');
      const parent = fs.lstatSync(p('ch-kinds-up'), { bigint: true });
      assert.deepEqual([parent.atimeNs, parent.mtimeNs], [1_000_000_001_000_000_001n, 1_000_000_002_000_000_002n]);
      workIsEmpty();
    });

    it('a change that fails leaves no copy (a size for a directory is EINVAL, a mode for a symlink EOPNOTSUPP, which libuv spells ENOTSUP)', () => {
      fs.mkdirSync(p('ch-bad', 'dir'), { recursive: true });
      fs.symlinkSync('dir', p('ch-bad', 'link'));
      const dirMode = fs.lstatSync(p('ch-bad', 'dir')).mode;
      assert.throws(() => copyUp(p('ch-bad', 'dir'), tmp(), p('ch-bad', 'copy'), true, RULES, { size: 1 }), (e: unknown) => e instanceof SysError && e.code === 'EINVAL' && e.syscall === 'truncate');
      assert.throws(() => copyUp(p('ch-bad', 'link'), tmp(), p('ch-bad', 'copy'), true, RULES, { mode: 0o600 }), (e: unknown) => e instanceof SysError && e.errno === -95 && e.syscall === 'chmod');
      assert.ok(!fs.existsSync(p('ch-bad', 'copy')));
      assert.equal(fs.lstatSync(p('ch-bad', 'dir')).mode, dirMode, 'the link was not followed');
      workIsEmpty();
    });
  });
});
