/**
 * File-system calls Node lacks: device nodes, atomic renames, linking an fd by name, exact
 * nanosecond timestamps, and syncfs.
 */
import { UTIME_NOW, UTIME_OMIT } from './constants.js';
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
 * Reads the raw directory entries of `dir` (`.` and `..` included) and returns how many there are
 * and how many carry no type (DT_UNKNOWN) — the filesystem then lacks d_type support, which
 * overlayfs needs. Node's own readdir cannot tell: it stats such entries to fill the type in.
 */
export function direntTypes(dir: PathLike): { entries: number; unknown: number } {
  return native.direntTypes(dir);
}

/**
 * Copies up to `length` bytes from the start of `fdIn` to the start of `fdOut` inside the kernel, as
 * copy_file_range(2) (a reflink on filesystems that share extents); stops early where fdIn ends and
 * returns the bytes copied. Neither file's position is used or moved. EXDEV, EINVAL, ENOSYS or
 * EOPNOTSUPP mean the kernel cannot copy between these files: copy through a buffer instead.
 */
export function copyFileRange(fdIn: number, fdOut: number, length: number): number {
  return native.copyFileRange(fdIn, fdOut, length);
}

/** Flushes every dirty page and inode of the filesystem holding `fd` to disk, as syncfs(2). */
export function syncfs(fd: number): void {
  native.syncfs(fd);
}
