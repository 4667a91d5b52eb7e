import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { AT_FDCWD, SysError, copyFileUp, copyXattrs, lgetxattr, llistxattr, lsetxattr, mknod, mount, nameToHandleAt, utimensat, type CopyUpXattrRules } from '../../src/sys/index.js';
import { scratch } from './helpers.js';

/** An overlay's rules, with a made-up 21-byte origin head (bytes 2 and 4 are copyFileUp's to fill). */
const HEAD = Buffer.from(Array.from({ length: 21 }, (_, i) => (i === 2 || i === 4 ? 0 : 0xa0 + i)));
const RULES: CopyUpXattrRules = { skipPrefix: 'trusted.overlay.', keepPrefix: 'trusted.overlay.overlay.', originName: 'trusted.overlay.origin', originHeader: HEAD };
/** open(2)'s O_TMPFILE (__O_TMPFILE | O_DIRECTORY), which node:fs does not name. */
const O_TMPFILE = 0o20200000;
/** A file capability (VFS_CAP_REVISION_2, cap_net_bind_service permitted): chown drops it. */
const CAP = Buffer.from('0100000200040000000000000000000000000000', 'hex');

describe('copyFileUp: a regular file with its metadata, in one call', () => {
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

  /** A work dir path for the copy (a regular file's is built unnamed beside it). */
  const tmp = (at = dir) => {
    fs.mkdirSync(path.join(at, 'work'), { recursive: true });
    return path.join(at, 'work', '#1');
  };
  const workIsEmpty = (at = dir) => assert.deepEqual(fs.readdirSync(path.join(at, 'work')), []);

  it('copies data, owner, mode, xattrs (by the rules), times and the origin, on one filesystem', () => {
    const data = source(p('src'), 3 * 1024 * 1024 + 17);
    const got = copyFileUp(p('src'), tmp(), p('dst'), true, RULES);
    assert.deepEqual(got, { ino: fs.lstatSync(p('src'), { bigint: true }).ino, origin: true });
    assertCopied(p('src'), p('dst'), data);
    workIsEmpty(); // built as an unnamed O_TMPFILE file, then linked
    assert.equal(fs.lstatSync(p('dst')).nlink, 1);
  });

  it('builds at the temporary name and renames where the filesystem has no O_TMPFILE (a FUSE mount)', () => {
    const f = p('fuse');
    for (const d of ['l', 'u', 'w', 'm']) fs.mkdirSync(path.join(f, d), { recursive: true });
    const r = spawnSync('fuse-overlayfs', ['-o', `lowerdir=${f}/l,upperdir=${f}/u,workdir=${f}/w`, `${f}/m`], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.throws(() => fs.openSync(`${f}/m`, fs.constants.O_WRONLY | O_TMPFILE), (e: NodeJS.ErrnoException) => e.errno === -95, 'no O_TMPFILE there (EOPNOTSUPP)');
    const data = Buffer.from('through a FUSE mount\n');
    fs.writeFileSync(p('plain-src'), data);
    const got = copyFileUp(p('plain-src'), tmp(`${f}/m`), `${f}/m/dst`, true, { ...RULES, originHeader: null });
    assert.deepEqual(got, { ino: fs.lstatSync(p('plain-src'), { bigint: true }).ino, origin: false });
    assert.ok(fs.readFileSync(`${f}/m/dst`).equals(data));
    workIsEmpty(`${f}/m`);
    // and a failure there leaves nothing: the target's directory is missing
    assert.throws(() => copyFileUp(p('plain-src'), tmp(`${f}/m`), `${f}/m/none/dst`, true, { ...RULES, originHeader: null }), (e: unknown) => e instanceof SysError && e.code === 'ENOENT' && e.syscall === 'rename');
    workIsEmpty(`${f}/m`);
  });

  it('copies through a buffer where the kernel cannot copy between the two filesystems (tmpfs to here)', () => {
    fs.mkdirSync(p('tmpfs'));
    mount('tmpfs', p('tmpfs'), 'tmpfs', 0, 'size=16m');
    const data = source(p('tmpfs', 'src'), 2 * 1024 * 1024 + 5);
    assert.ok(copyFileUp(p('tmpfs', 'src'), tmp(), p('from-tmpfs'), true, RULES));
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
    assert.ok(copyFileUp(src, tmp(p('tmpfs-big')), p('tmpfs-big', 'dst'), true, RULES));
    assert.deepEqual(lgetxattr(p('tmpfs-big', 'dst'), 'trusted.big'), value);
    assert.deepEqual(llistxattr(p('tmpfs-big', 'dst')).filter((n) => n.startsWith('trusted.a-')).sort(), [...names].sort());
  });

  it('without data, gives the copy its size as a hole', () => {
    source(p('nodata-src'), 70_000);
    assert.ok(copyFileUp(p('nodata-src'), tmp(), p('nodata-dst'), false, RULES));
    assert.ok(fs.readFileSync(p('nodata-dst')).equals(Buffer.alloc(70_000)));
  });

  it('records no origin for a file with several links, an empty one for an empty head, none for a null head', () => {
    source(p('linked'), 10);
    fs.linkSync(p('linked'), p('linked2'));
    assert.equal(copyFileUp(p('linked'), tmp(), p('linked-dst'), true, RULES)!.origin, false);
    assert.equal(lgetxattr(p('linked-dst'), 'trusted.overlay.origin'), null);
    source(p('plain'), 10);
    assert.equal(copyFileUp(p('plain'), tmp(), p('empty-origin'), true, { ...RULES, originHeader: Buffer.alloc(0) })!.origin, true);
    assert.deepEqual(lgetxattr(p('empty-origin'), 'trusted.overlay.origin'), Buffer.alloc(0));
    assert.equal(copyFileUp(p('plain'), tmp(), p('no-origin'), true, { ...RULES, originHeader: null })!.origin, false);
    assert.ok(!llistxattr(p('no-origin')).includes('trusted.overlay.origin'));
  });

  it('returns null and creates nothing for what is not a regular file (symlink, fifo, device)', () => {
    fs.symlinkSync('src', p('link'));
    mknod(p('fifo'), fs.constants.S_IFIFO | 0o644);
    mknod(p('dev'), fs.constants.S_IFCHR | 0o644, 1, 3);
    for (const name of ['link', 'fifo', 'dev']) {
      assert.equal(copyFileUp(p(name), tmp(), p(`${name}-dst`), true, RULES), null);
      assert.ok(!fs.existsSync(p(`${name}-dst`)));
    }
  });

  it('never replaces: an existing target is EEXIST (linkat, with its path), a missing source ENOENT; nothing is left', () => {
    fs.writeFileSync(p('exists'), 'keep me');
    source(p('src2'), 10);
    assert.throws(
      () => copyFileUp(p('src2'), tmp(), p('exists'), true, RULES),
      (e: unknown) => e instanceof SysError && e.code === 'EEXIST' && e.syscall === 'linkat' && e.path === p('exists'),
    );
    assert.equal(fs.readFileSync(p('exists'), 'utf8'), 'keep me');
    assert.throws(() => copyFileUp(p('missing'), tmp(), p('m-dst'), true, RULES), (e: unknown) => e instanceof SysError && e.code === 'ENOENT' && e.path === p('missing'));
    assert.throws(() => copyFileUp(p('src2'), tmp(), p('no-such-dir', 'dst'), true, RULES), (e: unknown) => e instanceof SysError && e.code === 'ENOENT' && e.syscall === 'linkat');
    workIsEmpty();
  });

  it('copyXattrs: the same rules by path, for a directory and a symlink itself', () => {
    fs.mkdirSync(p('xdir'));
    lsetxattr(p('xdir'), 'user.u', 'dir');
    lsetxattr(p('xdir'), 'trusted.overlay.opaque', 'y');
    lsetxattr(p('xdir'), 'trusted.overlay.overlay.mine', 'kept');
    fs.mkdirSync(p('xdir-dst'));
    copyXattrs(p('xdir'), p('xdir-dst'), RULES);
    assert.deepEqual(lgetxattr(p('xdir-dst'), 'user.u'), Buffer.from('dir'));
    assert.deepEqual(lgetxattr(p('xdir-dst'), 'trusted.overlay.overlay.mine'), Buffer.from('kept'));
    assert.equal(lgetxattr(p('xdir-dst'), 'trusted.overlay.opaque'), null);
    fs.symlinkSync('xdir', p('xlink'));
    lsetxattr(p('xlink'), 'trusted.t', Buffer.alloc(2000, 7));
    fs.symlinkSync('nowhere', p('xlink-dst'));
    copyXattrs(p('xlink'), p('xlink-dst'), RULES);
    assert.deepEqual(lgetxattr(p('xlink-dst'), 'trusted.t'), Buffer.alloc(2000, 7));
    assert.equal(lgetxattr(p('xdir-dst'), 'trusted.t'), null, 'the link itself, not its target');
    assert.throws(() => copyXattrs(p('missing'), p('xdir-dst'), RULES), (e: unknown) => e instanceof SysError && e.code === 'ENOENT' && e.syscall === 'llistxattr' && e.path === p('missing'));
  });
});
