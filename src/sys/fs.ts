/**
 * File-system calls Node lacks: device nodes, atomic renames, linking an fd by name, exact
 * nanosecond timestamps, a lean stat, syncfs, and an overlay copy-up of one object in one call.
 */
import { AT_FDCWD, AT_SYMLINK_NOFOLLOW, UTIME_NOW, UTIME_OMIT } from './constants.js';
import { native, type PathLike, type RawTimespec } from './native.js';

/**
 * Creates the node `path` with `mode` (file type S_IFCHR/S_IFBLK/S_IFIFO/S_IFREG/S_IFSOCK plus
 * permission bits, subject to the umask) and device number major:minor. A character device 0:0 is
 * an overlay whiteout.
 */
export function mknod(path: PathLike, mode: number, major = 0, minor = 0): void {
  native.mknod(path, mode, major, minor);
}

/** As mknod, with `path` relative to the directory fd `dirFd` (AT_FDCWD for the cwd). */
export function mknodat(dirFd: number, path: PathLike, mode: number, major = 0, minor = 0): void {
  native.mknodat(dirFd, path, mode, major, minor);
}

/**
 * Renames atomically, as renameat2(2): RENAME_NOREPLACE fails with EEXIST instead of replacing,
 * RENAME_EXCHANGE swaps the two names, RENAME_WHITEOUT leaves an overlay whiteout (char 0:0) at the
 * old name. Paths are relative to their dir fds (AT_FDCWD for the cwd).
 */
export function renameat2(oldDirFd: number, oldPath: PathLike, newDirFd: number, newPath: PathLike, flags = 0): void {
  native.renameat2(oldDirFd, oldPath, newDirFd, newPath, flags);
}

/**
 * Creates the hard link `newPath` to `oldPath`, as linkat(2). With AT_SYMLINK_FOLLOW and oldPath
 * `/proc/self/fd/N` it gives a name to an O_TMPFILE file (which fs.linkSync cannot); with
 * AT_EMPTY_PATH and oldPath `''`, oldDirFd itself is linked (needs CAP_DAC_READ_SEARCH).
 */
export function linkat(oldDirFd: number, oldPath: PathLike, newDirFd: number, newPath: PathLike, flags = 0): void {
  native.linkat(oldDirFd, oldPath, newDirFd, newPath, flags);
}

/**
 * A timestamp for utimensat: BigInt nanoseconds since the epoch (negative is before 1970), a Date
 * (millisecond precision), `{sec, nsec}`, `'now'`, or `'omit'`/null to leave that time unchanged.
 */
export type TimeSpec = bigint | Date | RawTimespec | 'now' | 'omit' | null;

function toRaw(t: TimeSpec, name: string): bigint | RawTimespec | null {
  if (t === 'now') return { sec: 0, nsec: UTIME_NOW };
  if (t === 'omit' || t === null) return { sec: 0, nsec: UTIME_OMIT };
  if (t instanceof Date) {
    const ms = t.getTime();
    if (Number.isNaN(ms)) throw new TypeError(`utimensat: ${name} is an invalid Date`);
    return BigInt(ms) * 1_000_000n;
  }
  return t;
}

/**
 * Sets the access and modification times of `path` (relative to `dirFd`; null path means dirFd
 * itself) to the exact nanoseconds given, as utimensat(2); with AT_SYMLINK_NOFOLLOW a symlink's own
 * times are set. The change time becomes "now", as the kernel always does.
 */
export function utimensat(dirFd: number, path: PathLike | null, atime: TimeSpec, mtime: TimeSpec, flags = 0): void {
  native.utimensat(dirFd, path, toRaw(atime, 'atime'), toRaw(mtime, 'mtime'), flags);
}

/**
 * A file's attributes from stat(2): plain numbers where they fit (a size or block count is exact
 * below 2^53 bytes), the inode number and the nanosecond times as bigints.
 */
export interface FileStat {
  dev: number;
  ino: bigint;
  mode: number;
  nlink: number;
  uid: number;
  gid: number;
  rdev: number;
  size: number;
  blksize: number;
  blocks: number;
  atimeNs: bigint;
  mtimeNs: bigint;
  ctimeNs: bigint;
}

// The addon fills these and the wrappers below copy them out (one module instance per thread).
// Cheaper than Node's fs.Stats, which builds four Dates and divides bigints for every call:
// lstatSync({ bigint: true }) cost ~5 µs here against ~2 µs for the syscall alone.
const statNums = new Float64Array(9);
/** ino, atime, mtime, ctime; and copyUp's source inode number */
const statBigs = new BigInt64Array(5);
const statInos = new BigUint64Array(statBigs.buffer);

function filled(): FileStat {
  const n = statNums;
  const b = statBigs;
  return {
    dev: n[0]!,
    ino: statInos[0]!,
    mode: n[1]!,
    nlink: n[2]!,
    uid: n[3]!,
    gid: n[4]!,
    rdev: n[5]!,
    size: n[6]!,
    blksize: n[7]!,
    blocks: n[8]!,
    atimeNs: b[1]!,
    mtimeNs: b[2]!,
    ctimeNs: b[3]!,
  };
}

/** lstat(2): the attributes of `path` itself (a symlink is not followed). */
export function lstat(path: PathLike): FileStat {
  native.fstatat(AT_FDCWD, path, AT_SYMLINK_NOFOLLOW, false, statNums, statBigs);
  return filled();
}

/** As lstat, but undefined where `path` or a directory on the way to it does not exist (ENOENT, ENOTDIR). */
export function lstatMaybe(path: PathLike): FileStat | undefined {
  return native.fstatat(AT_FDCWD, path, AT_SYMLINK_NOFOLLOW, true, statNums, statBigs) ? filled() : undefined;
}

/** fstat(2): the attributes of the open file `fd`. */
export function fstat(fd: number): FileStat {
  native.fstatat(fd, null, 0, false, statNums, statBigs);
  return filled();
}

/**
 * Reads the raw directory entries of `dir` (`.` and `..` included) and returns how many there are
 * and how many carry no type (DT_UNKNOWN) — the filesystem then lacks d_type support, which
 * overlayfs needs. Node's own readdir cannot tell: it stats such entries to fill the type in.
 */
export function direntTypes(dir: PathLike): { entries: number; unknown: number } {
  return native.direntTypes(dir);
}

/** How copyUp treats extended attributes (an overlay's rules; see src/ovl/copyup.ts). */
export interface CopyUpXattrRules {
  /** Names under this prefix are not copied... */
  skipPrefix: string;
  /** ...unless they are also under this one. */
  keepPrefix: string;
  /** The xattr that records the origin. */
  originName: string;
  /**
   * The origin value's fixed head: the file handle of `src` is appended, byte 2 set to the total
   * length and byte 4 to the handle type. Empty: an empty origin (copied up, origin unknown);
   * null: no origin.
   */
  originHeader: Buffer | null;
}

/**
 * An attribute change that copyUp makes on the copy before putting it in place: what a setattr
 * that needed the copy-up asks for. Unset fields keep what was copied.
 */
export interface CopyUpChange {
  uid?: number;
  gid?: number;
  /** Permission bits (and setuid/setgid/sticky); the type bits are ignored. */
  mode?: number;
  /** A regular file's new size. */
  size?: number;
  /** Nanoseconds since the epoch, or 'now'. */
  atimeNs?: bigint | 'now';
  mtimeNs?: bigint | 'now';
}

/**
 * What copyUp syncs to disk before the copy gets its name, as the overlay's `fsync=` mode makes
 * the kernel's copy-up do: `'data'` a regular file's data when it has any (fsync=auto, the
 * default), `'all'` a regular file or directory once complete, its metadata included
 * (fsync=strict), `'none'` nothing (volatile).
 */
export type CopyUpSync = 'data' | 'all' | 'none';

/** The addon's numbers for CopyUpSync. */
const SYNC_CODES: Record<CopyUpSync, number> = { none: 0, data: 1, all: 2 };

/** What copyUp made: the inode number of `src`, whether the copy records it as its origin, and the copy's stat. */
export interface CopiedUp {
  ino: bigint;
  origin: boolean;
  stat: FileStat;
}

const changeNums = new Float64Array(4);

/** Rules in the form the addon reads them, encoded once per rules object (and again if it changed). */
const encodedRules = new WeakMap<CopyUpXattrRules, CopyUpXattrRules & { bytes: Buffer }>();

function encodeRules(rules: CopyUpXattrRules): Buffer {
  const { skipPrefix, keepPrefix, originName, originHeader } = rules;
  const known = encodedRules.get(rules);
  if (known?.skipPrefix === skipPrefix && known.keepPrefix === keepPrefix && known.originName === originName && known.originHeader === originHeader) return known.bytes;
  // a byte for whether there is an origin head, the three names NUL-terminated, the head's bytes
  const bytes = Buffer.concat([Buffer.from([originHeader === null ? 0 : 1]), Buffer.from(`${skipPrefix}\0${keepPrefix}\0${originName}\0`), originHeader ?? Buffer.alloc(0)]);
  encodedRules.set(rules, { skipPrefix, keepPrefix, originName, originHeader, bytes });
  return bytes;
}

/**
 * Makes `dst` a copy of the object `src` (never following it): an overlay copy-up's whole work on
 * one object in one native call, in the kernel's order (ovl_copy_up_one). Like the kernel's
 * copy-up, the copy is built complete where nobody looks and then put in place: a regular file as
 * an unnamed O_TMPFILE file in the directory of `tmp`, linked at `dst` (where that filesystem has
 * no O_TMPFILE, built at `tmp`, O_EXCL, and renamed); a directory, symlink, device, fifo or socket
 * made at `tmp` and renamed. A file gets its data (copy_file_range, a reflink where the filesystem
 * can; with `data` false only the size, as a hole), synced as `sync` says (CopyUpSync); then
 * every kind gets the owner (always, as a new object's group may be its directory's; chown drops
 * security.capability and setuid bits, so it goes first), the xattrs but those `rules` exclude (a
 * security.* one the target refuses with EPERM/EOPNOTSUPP is left out), the permission bits (not
 * a symlink's), the origin (for a directory, or what has one link), and last atime and mtime. A
 * `change` is then made on the copy, as a setattr makes it (owner, mode, size, times; the owner
 * still drops what chown drops), so the copy appears already changed.
 * The directory holding `dst` keeps its atime and mtime. A file is opened with O_NOATIME where
 * allowed, O_NOFOLLOW and O_NONBLOCK; nothing else is opened.
 *
 * The three paths are byte strings (one character per byte, Node's 'latin1', as the overlay engine
 * keeps paths) or Buffers: a string's characters are its bytes, with nothing to encode or test.
 *
 * `isFile`: the caller knows `src` is a regular file (it lstat'ed it, in a layer that does not
 * change), so it is opened at once and checked by fstat: one lstat fewer per copy-up of a file.
 *
 * Returns the inode number of `src`, whether the copy records it as its origin, and the stat of the
 * copy in place. On failure nothing is left at `tmp` or `dst`; ESTALE when `src` was replaced by
 * another type meanwhile.
 */
export function copyUp(
  src: string | Buffer,
  tmp: string | Buffer,
  dst: string | Buffer,
  data: boolean,
  rules: CopyUpXattrRules,
  change?: CopyUpChange,
  sync: CopyUpSync = 'data',
  isFile = false,
): CopiedUp {
  let c: Float64Array | null = null;
  if (change !== undefined) {
    c = changeNums;
    c[0] = change.uid ?? -1;
    c[1] = change.gid ?? -1;
    c[2] = change.mode ?? -1;
    c[3] = change.size ?? -1;
  }
  const atime = change?.atimeNs === undefined ? null : toRaw(change.atimeNs, 'atime');
  const mtime = change?.mtimeNs === undefined ? null : toRaw(change.mtimeNs, 'mtime');
  const origin = native.copyUp(src, tmp, dst, data, encodeRules(rules), c, atime, mtime, statNums, statBigs, SYNC_CODES[sync], isFile);
  return { ino: statInos[4]!, origin, stat: filled() };
}

/** Flushes every dirty page and inode of the filesystem holding `fd` to disk, as syncfs(2). */
export function syncfs(fd: number): void {
  native.syncfs(fd);
}
