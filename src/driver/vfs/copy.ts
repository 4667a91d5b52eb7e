/**
 * A faithful directory copy: moby's `copy.DirCopy(src, dst, copy.Content, …)`, the way vfs makes a
 * new layer from its parent.
 *
 * The walk is lstat-based (nothing is ever followed) and handles names as raw bytes. For every
 * entry, in walk order (a directory before its contents), moby's sequence:
 *
 *   1. create it: a directory with mkdir (the root already exists and is reused), a regular
 *      file by copying its content, a symlink with the same target bytes, a FIFO, socket or
 *      device with mknod (same type, same device numbers);
 *   2. lchown to the source's uid:gid;
 *   3. copy extended attributes (after chown, which would clear `security.capability`);
 *   4. chmod to the source's permission bits with setuid/setgid/sticky (after chown, which clears
 *      setuid/setgid; symlinks have no mode of their own);
 *   5. set atime and mtime to the source's, to the nanosecond (symlinks themselves, not their
 *      targets); directories get theirs at the very end, children first and the root last, so
 *      creating their entries does not disturb them.
 *
 * Hardlinks: a second name of an inode already copied becomes a hard link to the first copy, so
 * the copy has the same link structure (and nothing more is done to it: it shares the inode).
 *
 * Content: `fs.copyFileSync` with COPYFILE_FICLONE | COPYFILE_EXCL — a reflink where the
 * filesystem has them (xfs, btrfs), else libuv's in-kernel copy_file_range/sendfile; the
 * destination is created O_EXCL, so an existing name (or a symlink planted there) is an error and
 * never written through. The source is opened by name, which follows a symlink: the walk only
 * calls it for names lstat just saw as regular files in a tree nobody else writes to. A file with
 * holes (fewer allocated blocks than its size) is copied by reading it and writing only its
 * non-zero 64 KiB blocks, then setting the size, so it stays sparse.
 *
 * Where strata differs from moby's DirCopy, deliberately:
 *   - every extended attribute is copied (`user.*`, `trusted.*`, `security.*`); vfs calls
 *     DirCopy with copyXattrs=false, so dockerd's vfs loses all xattrs — even file capabilities
 *     — in a layer created on a parent (and with true it copies only security.capability and
 *     trusted.overlay.opaque);
 *   - a socket is recreated as a socket (moby makes a FIFO of it), and devices are created in a
 *     user namespace too if the kernel allows it (moby silently skips them there);
 *   - hardlinks are kept for every non-directory type, not only regular files;
 *   - sparse files stay sparse.
 * Everything is synchronous: a copy is one uninterrupted piece of work of the driver's.
 */
import fs from 'node:fs';
import { StrataError } from '../../errors/index.js';
import { AT_FDCWD, AT_SYMLINK_NOFOLLOW, S_IFMT } from '../../sys/constants.js';
import { lgetxattr, llistxattr, lsetxattr, major, minor, mknod, utimensat } from '../../sys/index.js';

export interface DirCopyOptions {
  /** Extended attributes to copy: `'all'` (default), or `'none'`. */
  xattrs?: 'all' | 'none';
}

const SLASH = Buffer.from('/');
const BLOCK = 64 * 1024;

interface PendingDir {
  dst: Buffer;
  atime: bigint;
  mtime: bigint;
}

/**
 * Copies the tree `src` into the existing directory `dst` (moby's DirCopy in Content mode): every
 * entry with its type, content, owner, permission bits, nanosecond atime/mtime, extended
 * attributes and hardlink structure; `dst` itself takes `src`'s owner, mode, xattrs and times.
 * Fails with a StrataError (`VFS_COPY`) naming the entry on the first problem, leaving `dst`
 * partly filled (the caller removes it).
 */
export function dirCopy(src: string | Buffer, dst: string | Buffer, opts: DirCopyOptions = {}): void {
  const srcRoot = typeof src === 'string' ? Buffer.from(src) : src;
  const dstRoot = typeof dst === 'string' ? Buffer.from(dst) : dst;
  const copyXattrs = (opts.xattrs ?? 'all') === 'all';
  const links = new Map<string, Buffer>(); // "dev:ino" of a multiply-linked source → first copy
  const dirs: PendingDir[] = [];

  const visit = (s: Buffer, d: Buffer, isRoot: boolean): void => {
    let st: fs.BigIntStats;
    try {
      st = fs.lstatSync(s, { bigint: true });
    } catch (e) {
      throw copyError(s, d, e);
    }
    try {
      const type = Number(st.mode) & S_IFMT;
      const perm = Number(st.mode) & 0o7777;
      if (type !== fs.constants.S_IFDIR && st.nlink > 1n) {
        const key = `${st.dev}:${st.ino}`;
        const first = links.get(key);
        if (first) {
          fs.linkSync(first, d);
          return;
        }
        links.set(key, d);
      }
      switch (type) {
        case fs.constants.S_IFDIR:
          if (isRoot) {
            if (!fs.lstatSync(d).isDirectory()) throw new Error('not a directory');
          } else {
            fs.mkdirSync(d, 0o700);
          }
          break;
        case fs.constants.S_IFREG:
          copyRegular(s, d, st);
          break;
        case fs.constants.S_IFLNK:
          fs.symlinkSync(fs.readlinkSync(s, { encoding: 'buffer' }), d);
          break;
        case fs.constants.S_IFIFO:
        case fs.constants.S_IFSOCK:
          mknod(d, type | 0o600);
          break;
        case fs.constants.S_IFCHR:
        case fs.constants.S_IFBLK:
          mknod(d, type | 0o600, major(st.rdev), minor(st.rdev));
          break;
        default:
          throw new Error(`unknown file type 0o${type.toString(8)}`);
      }
      fs.lchownSync(d, Number(st.uid), Number(st.gid));
      if (copyXattrs) {
        for (const name of llistxattr(s)) {
          const value = lgetxattr(s, name);
          if (value !== null) lsetxattr(d, name, value);
        }
      }
      if (type !== fs.constants.S_IFLNK) fs.chmodSync(d, perm);
      if (type === fs.constants.S_IFDIR) {
        dirs.push({ dst: d, atime: st.atimeNs, mtime: st.mtimeNs });
      } else {
        utimensat(AT_FDCWD, d, st.atimeNs, st.mtimeNs, AT_SYMLINK_NOFOLLOW);
      }
    } catch (e) {
      throw copyError(s, d, e);
    }
    if ((Number(st.mode) & S_IFMT) === fs.constants.S_IFDIR) {
      let names: Buffer[];
      try {
        names = fs.readdirSync(s, { encoding: 'buffer' });
      } catch (e) {
        throw copyError(s, d, e);
      }
      names.sort(Buffer.compare);
      for (const n of names) visit(Buffer.concat([s, SLASH, n]), Buffer.concat([d, SLASH, n]), false);
    }
  };

  visit(srcRoot, dstRoot, true);
  // Directories last, deepest first (reverse walk order), the root at the very end.
  for (let i = dirs.length - 1; i >= 0; i--) {
    const p = dirs[i]!;
    try {
      utimensat(AT_FDCWD, p.dst, p.atime, p.mtime, AT_SYMLINK_NOFOLLOW);
    } catch (e) {
      throw copyError(p.dst, p.dst, e);
    }
  }
}

function copyError(s: Buffer, d: Buffer, e: unknown): StrataError {
  if (e instanceof StrataError) return e;
  const msg = e instanceof Error ? e.message : String(e);
  return new StrataError('VFS_COPY', `copying ${s.toString()} to ${d.toString()}: ${msg}`, { cause: e });
}

/** Copies a regular file's content into the new file `d` (which must not exist). */
function copyRegular(s: Buffer, d: Buffer, st: fs.BigIntStats): void {
  const size = st.size;
  if (size > 0n && st.blocks * 512n < size) {
    copySparse(s, d, Number(size));
    return;
  }
  fs.copyFileSync(s, d, fs.constants.COPYFILE_EXCL | fs.constants.COPYFILE_FICLONE);
}

/** Copies a file with holes, writing only non-zero blocks, so the copy keeps the holes. */
function copySparse(s: Buffer, d: Buffer, size: number): void {
  const inFd = fs.openSync(s, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
  try {
    const outFd = fs.openSync(d, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW, 0o600);
    try {
      const buf = Buffer.alloc(BLOCK);
      let pos = 0;
      while (pos < size) {
        const n = fs.readSync(inFd, buf, 0, Math.min(BLOCK, size - pos), pos);
        if (n === 0) break;
        const chunk = buf.subarray(0, n);
        if (!isZero(chunk)) {
          let off = 0;
          while (off < n) off += fs.writeSync(outFd, chunk, off, n - off, pos + off);
        }
        pos += n;
      }
      fs.ftruncateSync(outFd, size);
    } finally {
      fs.closeSync(outFd);
    }
  } finally {
    fs.closeSync(inFd);
  }
}

const ZERO = Buffer.alloc(BLOCK);
function isZero(b: Buffer): boolean {
  return b.equals(ZERO.subarray(0, b.length));
}
