/**
 * sys — the Linux system calls strata needs and Node 20 does not have.
 *
 * A layer store is mostly ordinary files, but a few of its moves have no `node:fs` equivalent:
 * an overlay whiteout is a character device 0:0 (mknod), an opaque directory is marked by the
 * `trusted.overlay.opaque` xattr (which must be set on the entry itself, never through a symlink),
 * a layer becomes visible with an atomic rename that must not replace (renameat2), timestamps keep
 * their nanoseconds (utimensat), two strata processes coordinate with locks that vanish when the
 * holder dies (flock, OFD locks), and a container's root is an overlay mount (mount, or
 * fsopen/fsconfig/fsmount/move_mount for many layers). This folder offers exactly those calls, one
 * typed function per syscall, backed by the small C addon in `native/strata.c` — and a few
 * composites for speed: `copyUp`, an overlay copy-up of one object (data, owner, xattrs, mode,
 * origin handle, times, built out of sight — a file as an O_TMPFILE file — and put into place,
 * the parent's times kept; a setattr's change made on the copy before it appears) in one call
 * that returns the copy's stat; `fuseReadRequest`, a FUSE server's read of its next
 * request that busy-polls a short while before it sleeps, and `fuseWrite`, its reply in one
 * write(2) without node:fs's per-call bookkeeping; and `lstat`/`lstatMaybe`/`fstat`, which
 * Node has, but whose fs.Stats (four Dates, bigint arithmetic) costs more than the syscall on the
 * overlay's hottest path: these fill two typed arrays and return a plain `FileStat`. What is
 * mounted where comes from one reader of /proc/self/mountinfo (mountinfo.ts: `mountTable`,
 * `mountOf`, `mountsBelow`, `isMountPoint`).
 *
 * The lifecycle of an extracted layer, told through these calls:
 *
 *   import { mknod, lsetxattr, renameat2, utimensat, mountFs, umount2, constants as c } from '../sys/index.js';
 *
 *   // 1. apply a layer into a staging dir: a deletion becomes a whiteout, a reset dir goes opaque
 *   mknod(`${stage}/etc/old.conf`, c.S_IFCHR, 0, 0);
 *   lsetxattr(`${stage}/var/cache`, 'trusted.overlay.opaque', Buffer.from('y'));
 *   utimensat(c.AT_FDCWD, `${stage}/etc`, 'omit', 1700000000_123456789n, c.AT_SYMLINK_NOFOLLOW);
 *   // 2. publish it: appears complete or not at all, never over an existing layer
 *   renameat2(c.AT_FDCWD, stage, c.AT_FDCWD, `${root}/${cacheId}`, c.RENAME_NOREPLACE);
 *   // 3. run a container on it: layers top-first, one `lowerdir+` each, no 4 KiB limit
 *   mountFs('overlay', merged, [['lowerdir+', top], ['lowerdir+', base], ['upperdir', up], ['workdir', work]]);
 *   umount2(merged, c.MNT_DETACH);
 *
 * Every path may be a string or a Buffer (raw bytes: layer file names need not be UTF-8). Every
 * failure is a `SysError` shaped like Node's fs errors: `code` 'ENOENT', `errno` -2, `syscall`,
 * `path`, `dest`, and a message such as `ENOENT: no such file or directory, lgetxattr '/x/y'`.
 * Nothing here blocks the event loop for long: calls that can wait for another process
 * (flockWait, ofdLockWait) return Promises and wait on their own thread.
 */
export { SysError, isSysError } from './error.js';
export type { PathLike } from './native.js';
export * from './constants.js';
export { mount, umount2, fsopen, fsconfig, fsmount, moveMount, openTree, mountFs, type FsParam } from './mount.js';
export { mountTable, mountOf, mountsBelow, isMountPoint, type MountEntry } from './mountinfo.js';
export { lgetxattr, lsetxattr, llistxattr, lremovexattr } from './xattr.js';
export { mknod, mknodat, renameat2, linkat, utimensat, lstat, lstatMaybe, fstat, syncfs, copyUp, direntTypes, type CopiedUp, type CopyUpChange, type CopyUpSync, type CopyUpXattrRules, type FileStat, type TimeSpec } from './fs.js';
export { flock, tryFlock, flockWait, ofdLock, tryOfdLock, ofdUnlock, ofdLockWait, ofdGetLock, type LockInfo } from './lock.js';
export { fuseBackingOpen, fuseBackingClose, fuseReadRequest, fuseWrite } from './fuse.js';
export { readdirRaw, nameToHandleAt, openByHandleAt, fsUuid, DT, type RawDirents, type FileHandle } from './handle.js';
export { makedev, major, minor } from './rdev.js';
export { errnoName } from './errno.js';
