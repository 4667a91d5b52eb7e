/**
 * The real layers as the engine sees them, and the engine's only way to reach them by path: typed
 * lstat, file types, whiteout tests, the overlay's private xattr names, raw directory listings,
 * and the path calls of node:fs and src/sys that the engine uses. Everything here is synchronous
 * and talks to one real path at a time; nothing knows about the union.
 *
 * Paths are **byte strings** (one char per byte, Node's `latin1`), so a file name that is not
 * UTF-8 survives a round trip through the engine; `fsPath` turns one into what fs takes. Only
 * calls on file descriptors (read, write, close; src/sys's fstat) are made directly.
 */
import fs from 'node:fs';
import * as sys from '../sys/index.js';
import { AT_FDCWD, AT_SYMLINK_NOFOLLOW, DT, RENAME_EXCHANGE, S_IFBLK, S_IFCHR, S_IFDIR, S_IFIFO, S_IFLNK, S_IFMT, S_IFREG, S_IFSOCK } from '../sys/index.js';
import type { FileHandle, RawDirents, TimeSpec } from '../sys/index.js';
import type { OvlFileType, OvlStat } from './types.js';

// ---- byte strings ------------------------------------------------------------------------------

const NON_ASCII = /[^\x00-\x7f]/;

/** A byte-string path as node:fs and src/sys take it: ASCII as it is (its UTF-8 is the same bytes), else its bytes. */
export function fsPath(p: string): string | Buffer {
  return NON_ASCII.test(p) ? Buffer.from(p, 'latin1') : p;
}

/** The byte string of a text (UTF-8) string or of raw bytes. */
export function byteString(p: string | Buffer): string {
  if (typeof p !== 'string') return p.toString('latin1');
  return NON_ASCII.test(p) ? Buffer.from(p, 'utf8').toString('latin1') : p;
}

/** A byte string as text: its bytes decoded as UTF-8 (invalid sequences become U+FFFD). */
export function textOf(b: string): string {
  return NON_ASCII.test(b) ? Buffer.from(b, 'latin1').toString('utf8') : b;
}

/** The overlay's xattr namespace (the kernel's default, `trusted.`; `userxattr` is not supported). */
export const OVL_PREFIX = 'trusted.overlay.';
/** A user's own `trusted.overlay.X`, stored one level down so the overlay above sees it as its own. */
export const OVL_ESCAPED_PREFIX = 'trusted.overlay.overlay.';
export const XATTR_OPAQUE = 'trusted.overlay.opaque';
export const XATTR_REDIRECT = 'trusted.overlay.redirect';
export const XATTR_ORIGIN = 'trusted.overlay.origin';
export const XATTR_IMPURE = 'trusted.overlay.impure';
export const XATTR_WHITEOUT = 'trusted.overlay.whiteout';

// the file-type bits, for the engine (declared once, in src/sys from the system headers)
export { S_IFBLK, S_IFCHR, S_IFDIR, S_IFIFO, S_IFLNK, S_IFMT, S_IFREG, S_IFSOCK };
export const S_ISGID = 0o2000;
export const S_ISVTX = 0o1000;

export type Stat = sys.FileStat;

/** Who this process makes real objects as: a new object is chowned only when its owner must differ. */
export const EUID = process.geteuid!();
export const EGID = process.getegid!();

/** lstat without following, undefined when the path does not exist (ENOTDIR on the way counts as absent). */
export function lstatMaybe(p: string): Stat | undefined {
  return sys.lstatMaybe(fsPath(p));
}

export function lstat(p: string): Stat {
  return sys.lstat(fsPath(p));
}

export function kindOfMode(mode: number): OvlFileType {
  switch (mode & S_IFMT) {
    case S_IFDIR:
      return 'dir';
    case S_IFREG:
      return 'file';
    case S_IFLNK:
      return 'symlink';
    case S_IFCHR:
      return 'char';
    case S_IFBLK:
      return 'block';
    case S_IFIFO:
      return 'fifo';
    default:
      return 'socket';
  }
}

export function kindOfDtype(t: number): OvlFileType | undefined {
  switch (t) {
    case DT.DIR:
      return 'dir';
    case DT.REG:
      return 'file';
    case DT.LNK:
      return 'symlink';
    case DT.CHR:
      return 'char';
    case DT.BLK:
      return 'block';
    case DT.FIFO:
      return 'fifo';
    case DT.SOCK:
      return 'socket';
    default:
      return undefined;
  }
}

/** A kernel whiteout: a character device 0:0. */
export function isWhiteoutStat(st: Stat): boolean {
  return (st.mode & S_IFMT) === S_IFCHR && st.rdev === 0;
}

/** An xattr whiteout: an empty regular file carrying `trusted.overlay.whiteout`. */
export function isXattrWhiteout(p: string, st: Stat): boolean {
  return (st.mode & S_IFMT) === S_IFREG && st.size === 0 && lgetxattr(p, XATTR_WHITEOUT) !== null;
}

/** Either kind of whiteout. */
export function isAnyWhiteout(p: string, st: Stat): boolean {
  return isWhiteoutStat(st) || isXattrWhiteout(p, st);
}

/** The value of a `y`/`x`-style overlay flag xattr (first byte), or undefined. */
export function flagXattr(p: string, name: string): string | undefined {
  const v = lgetxattr(p, name);
  return v === null || v.length === 0 ? undefined : String.fromCharCode(v[0]!);
}

/** A directory is opaque when `trusted.overlay.opaque` is `y` (`x` only marks xattr whiteouts inside). */
export function isOpaqueDir(p: string): boolean {
  return flagXattr(p, XATTR_OPAQUE) === 'y';
}

/** A directory that may hold xattr whiteouts (`opaque=x`). */
export function hasXwhiteoutsMark(p: string): boolean {
  return flagXattr(p, XATTR_OPAQUE) === 'x';
}

/** The redirect of a directory if it is a valid one (kernel rules: absolute without empty components, or a single name). */
export function readRedirect(p: string): string | undefined {
  const v = lgetxattr(p, XATTR_REDIRECT);
  if (v === null || v.length === 0) return undefined;
  const s = v.toString('latin1');
  if (s.startsWith('/')) {
    if (s.slice(1).split('/').some((c) => c === '')) return undefined;
    return s;
  }
  return s.includes('/') ? undefined : s;
}

/** Every entry of a real dir (`.` and `..` included) in the filesystem's order, names as byte strings. */
export function listRaw(p: string): RawDirents {
  return sys.readdirRaw(fsPath(p));
}

/** Nanoseconds of a bigint stat's times. */
export function statTimes(st: Stat): { atimeNs: bigint; mtimeNs: bigint } {
  return { atimeNs: st.atimeNs, mtimeNs: st.mtimeNs };
}

/** A real inode's attributes as the union reports them, with the union's own dev, ino and nlink. */
export function toOvlStat(st: Stat, dev: number, ino: bigint, nlink: number): OvlStat {
  return { ...st, dev, ino, nlink };
}

// ---- path calls, byte strings in and out -------------------------------------------------------

export function open(p: string, flags: number, mode?: number): number {
  return fs.openSync(fsPath(p), flags, mode);
}

export function mkdir(p: string, mode: number): void {
  fs.mkdirSync(fsPath(p), { mode });
}

export function symlink(target: string, p: string): void {
  fs.symlinkSync(fsPath(target), fsPath(p));
}

export function readlink(p: string): string {
  return fs.readlinkSync(fsPath(p), 'latin1');
}

/** The names in a real dir, without `.` and `..`. */
export function readNames(p: string): string[] {
  return fs.readdirSync(fsPath(p), 'latin1');
}

export function rename(from: string, to: string): void {
  fs.renameSync(fsPath(from), fsPath(to));
}

/** Swaps two names atomically (renameat2 RENAME_EXCHANGE). */
export function exchange(a: string, b: string): void {
  sys.renameat2(AT_FDCWD, fsPath(a), AT_FDCWD, fsPath(b), RENAME_EXCHANGE);
}

/** renameat2 with flags (RENAME_NOREPLACE, RENAME_EXCHANGE, RENAME_WHITEOUT). */
export function renameWithFlags(from: string, to: string, flags: number): void {
  sys.renameat2(AT_FDCWD, fsPath(from), AT_FDCWD, fsPath(to), flags);
}

export function link(existing: string, p: string): void {
  sys.linkat(AT_FDCWD, fsPath(existing), AT_FDCWD, fsPath(p), 0);
}

export function unlink(p: string): void {
  fs.unlinkSync(fsPath(p));
}

export function rmdir(p: string): void {
  fs.rmdirSync(fsPath(p));
}

/** Removes a scratch object and everything under it; absent is fine. */
export function removeTree(p: string): void {
  fs.rmSync(fsPath(p), { recursive: true, force: true });
}

export function mknod(p: string, mode: number, major = 0, minor = 0): void {
  sys.mknod(fsPath(p), mode, major, minor);
}

export function lchown(p: string, uid: number, gid: number): void {
  fs.lchownSync(fsPath(p), uid, gid);
}

export function chmod(p: string, mode: number): void {
  fs.chmodSync(fsPath(p), mode);
}

export function truncate(p: string, size: number): void {
  fs.truncateSync(fsPath(p), size);
}

/** Sets atime and mtime of the object itself (not a symlink's target); 'omit' keeps one. */
export function setTimes(p: string, atime: TimeSpec, mtime: TimeSpec): void {
  sys.utimensat(AT_FDCWD, fsPath(p), atime, mtime, AT_SYMLINK_NOFOLLOW);
}

export function statfs(p: string): fs.StatsFs {
  return fs.statfsSync(fsPath(p));
}

/** fsync(2) (or fdatasync) of the object at `p`, opened read-only, never following a symlink. */
export function syncFile(p: string, datasync: boolean): void {
  const fd = fs.openSync(fsPath(p), fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
  try {
    if (datasync) fs.fdatasyncSync(fd);
    else fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** syncfs(2) of the filesystem holding the directory `p`. */
export function syncFs(p: string): void {
  const fd = fs.openSync(fsPath(p), fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
  try {
    sys.syncfs(fd);
  } finally {
    fs.closeSync(fd);
  }
}

export function lgetxattr(p: string, name: string): Buffer | null {
  return sys.lgetxattr(fsPath(p), name);
}

export function lsetxattr(p: string, name: string, value: Buffer | string, flags = 0): void {
  sys.lsetxattr(fsPath(p), name, typeof value === 'string' ? Buffer.from(value, 'latin1') : value, flags);
}

export function llistxattr(p: string): string[] {
  return sys.llistxattr(fsPath(p));
}

export function lremovexattr(p: string, name: string): void {
  sys.lremovexattr(fsPath(p), name);
}

export function nameToHandle(p: string): FileHandle {
  return sys.nameToHandleAt(AT_FDCWD, fsPath(p), 0);
}
