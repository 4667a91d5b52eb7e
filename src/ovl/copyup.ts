/**
 * Making a copy-up's new upper object, as the kernel's ovl_copy_up_one does: built complete out of
 * sight in the work dir, then put in place: the data, the xattrs (without the overlay's private
 * ones), owner, mode, the origin file handle, atime and mtime.
 *
 * A regular file is copied by one native call (src/sys copyFileUp) between two open files: the
 * data inside the kernel (copy_file_range, a reflink where the filesystem shares extents), the
 * metadata with fchown/fsetxattr/fchmod/futimens, built as an unnamed O_TMPFILE file and linked
 * into place (the kernel's ovl_copy_up_tmpfile). Made as ~15 calls from JavaScript, the same
 * syscalls made a FUSE copy-up (chmod of a lower file) cost 406 µs instead of 315 (client and
 * daemon pinned to one CPU). Other objects (directories, symlinks, devices) are made and labelled
 * here by path under a temporary name in work/work, never following symlinks, in the same order,
 * and renamed into place (ovl_copy_up_workdir).
 *
 * Order matters: the owner is set before the xattrs (chown drops a file's security.capability)
 * and before the mode (chown drops setuid/setgid); the times go last (anything after would move them).
 */
import fs from 'node:fs';
import { copyFileUp, copyXattrs, major, minor, type CopyUpXattrRules } from '../sys/index.js';
import { OvlError } from './errors.js';
import type { Origins } from './origin.js';
import * as real from './realfs.js';
import { EGID, EUID, OVL_ESCAPED_PREFIX, OVL_PREFIX, S_IFMT, XATTR_ORIGIN, fsPath, kindOfMode, lstat, type Stat } from './realfs.js';
import type { OvlFileType } from './types.js';

/** O_NOATIME where allowed: reading a lower layer must not change it. */
const O_NOATIME = fs.constants.O_NOATIME ?? 0;

/** Opens a lower file for reading without touching its atime. */
export function openLowerForRead(p: string, flags: number): number {
  try {
    return real.open(p, flags | O_NOATIME);
  } catch (e) {
    if ((e as { code?: string }).code !== 'EPERM' || O_NOATIME === 0) throw e;
    return real.open(p, flags);
  }
}

/** What to copy: the lower object at `src` (in lower layer `layer`). */
export interface CopySource {
  src: string;
  layer: number;
  /** Its type as the union knows it: a regular file takes the native path. */
  kind: OvlFileType;
  /** false: a regular file gets its size as a hole (an open with O_TRUNC empties it anyway). */
  data: boolean;
}

/** Which xattrs a copy-up copies: not the overlay's private ones, but escaped ones set through the union. */
const COPIED_XATTRS = { skipPrefix: OVL_PREFIX, keepPrefix: OVL_ESCAPED_PREFIX };

/** The overlay's xattr rules as copyFileUp takes them, with a layer's origin head. */
function xattrRules(origins: Origins, layer: number): CopyUpXattrRules {
  return { ...COPIED_XATTRS, originName: XATTR_ORIGIN, originHeader: origins.header(layer) };
}

/**
 * Makes `dst` (an upper path whose parent exists) a copy of the lower object, built at the work
 * dir path `tmp` (a regular file: unnamed beside it); returns the lower object's inode number and
 * whether the copy records it as its origin: a directory, or a non-directory with one link (a
 * lower hard link's copies are separate inodes, each with its own st_ino). On failure nothing is
 * left at `tmp` or `dst`.
 */
export function copyUpObject(c: CopySource, tmp: string, dst: string, origins: Origins): { ino: bigint; withOrigin: boolean } {
  let st = c.kind === 'file' ? null : lstat(c.src);
  if (st === null || kindOfMode(Number(st.mode)) === 'file') {
    // the whole copy in one native call (copyFileUp applies the one-link rule to the origin itself)
    const copied = copyFileUp(fsPath(c.src), fsPath(tmp), fsPath(dst), c.data, xattrRules(origins, c.layer));
    if (copied !== null) return { ino: copied.ino, withOrigin: copied.origin };
    st = lstat(c.src); // not a regular file any more: the layer changed under the union
  }
  const mode = Number(st.mode);
  const kind = kindOfMode(mode);
  if (kind === 'file') throw new OvlError('ESTALE', 'copy_up', c.src); // and changed back
  const withOrigin = kind === 'dir' || Number(st.nlink) === 1;
  try {
    if (kind === 'dir') real.mkdir(tmp, 0);
    else if (kind === 'symlink') real.symlink(real.readlink(c.src), tmp);
    else real.mknod(tmp, mode & S_IFMT, major(Number(st.rdev)), minor(Number(st.rdev)));
    applyMetadata(c.src, tmp, st, withOrigin ? origins.encode(c.layer, c.src) : null);
    real.rename(tmp, dst);
  } catch (err) {
    real.removeTree(tmp);
    throw err;
  }
  return { ino: st.ino, withOrigin };
}

/**
 * Gives `dst` the owner, xattrs, mode and times of `src` (attributes `st`), and the origin if any,
 * by path, never following: the order of copyFileUp, for directories, symlinks and devices.
 */
function applyMetadata(src: string, dst: string, st: Stat, origin: Buffer | null): void {
  const uid = Number(st.uid);
  const gid = Number(st.gid);
  if (uid !== EUID || gid !== EGID) real.lchown(dst, uid, gid);
  copyXattrs(fsPath(src), fsPath(dst), COPIED_XATTRS);
  const mode = Number(st.mode);
  if (kindOfMode(mode) !== 'symlink') real.chmod(dst, mode & 0o7777);
  if (origin !== null) real.lsetxattr(dst, XATTR_ORIGIN, origin);
  real.setTimes(dst, st.atimeNs, st.mtimeNs);
}
