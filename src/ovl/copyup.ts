/**
 * Building a copy-up's new upper object in work/work, as the kernel's ovl_copy_up_one does before
 * it renames the object into place: the data, the xattrs (without the overlay's private ones),
 * owner, mode, the origin file handle, atime and mtime.
 *
 * A regular file is copied between two open files: the data inside the kernel (copy_file_range,
 * a reflink where the filesystem shares extents), the metadata with fchown/fsetxattr/fchmod/
 * futimens — no path is resolved twice, which is most of what a copy-up costs. Other objects
 * (directories, symlinks, devices) are made and labelled by path, never following symlinks.
 *
 * Order matters: the owner is set before the xattrs (chown drops a file's security.capability)
 * and before the mode (chown drops setuid/setgid); the times go last (anything after would move them).
 */
import fs from 'node:fs';
import { copyFileRange, fgetxattr, flistxattr, fsetxattr, major, minor, utimensat } from '../sys/index.js';
import type { Origins } from './origin.js';
import * as real from './realfs.js';
import { EGID, EUID, OVL_ESCAPED_PREFIX, OVL_PREFIX, S_IFMT, XATTR_ORIGIN, kindOfMode, lstat, type Stat } from './realfs.js';

const { O_RDONLY, O_WRONLY, O_CREAT, O_EXCL, O_NOFOLLOW, O_NONBLOCK } = fs.constants;

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

/** What to copy: the lower object at `src` (in lower layer `layer`) to the new name `tmp`. */
export interface CopySource {
  src: string;
  layer: number;
  /** false: a regular file gets its size as a hole (an open with O_TRUNC empties it anyway). */
  data: boolean;
}

/**
 * Makes `tmp` a copy of the lower object; returns the lower object's attributes and whether the
 * copy records it as its origin: a directory, or a non-directory with one link (a lower hard link's
 * copies are separate inodes, each with its own st_ino). On failure `tmp` may be left behind: the
 * caller removes it.
 */
export function copyToWork(c: CopySource, tmp: string, origins: Origins): { st: Stat; withOrigin: boolean } {
  const st = lstat(c.src);
  const mode = Number(st.mode);
  const kind = kindOfMode(mode);
  const withOrigin = kind === 'dir' || Number(st.nlink) === 1;
  if (kind === 'file') {
    // O_NONBLOCK: should the layer have changed under us into a fifo, the open must not hang
    const from = openLowerForRead(c.src, O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
    try {
      const to = real.open(tmp, O_WRONLY | O_CREAT | O_EXCL, 0);
      try {
        if (c.data) copyData(from, to, Number(st.size));
        else fs.ftruncateSync(to, Number(st.size));
        applyMetadata(from, to, st, withOrigin ? origins.encode(c.layer, from) : null);
      } finally {
        fs.closeSync(to);
      }
    } finally {
      fs.closeSync(from);
    }
    return { st, withOrigin };
  }
  if (kind === 'dir') real.mkdir(tmp, 0);
  else if (kind === 'symlink') real.symlink(real.readlink(c.src), tmp);
  else real.mknod(tmp, mode & S_IFMT, major(Number(st.rdev)), minor(Number(st.rdev)));
  applyMetadata(c.src, tmp, st, withOrigin ? origins.encode(c.layer, c.src) : null);
  return { st, withOrigin };
}

/** An object to label: an open file (fd) or a path (never followed). */
type Target = number | string;

/** Gives `dst` the owner, xattrs, mode and times of `src` (attributes `st`), and the origin if any. */
function applyMetadata(src: Target, dst: Target, st: Stat, origin: Buffer | null): void {
  const uid = Number(st.uid);
  const gid = Number(st.gid);
  if (uid !== EUID || gid !== EGID) {
    if (typeof dst === 'number') fs.fchownSync(dst, uid, gid);
    else real.lchown(dst, uid, gid);
  }
  copyXattrs(src, dst);
  const mode = Number(st.mode);
  if (kindOfMode(mode) !== 'symlink') {
    if (typeof dst === 'number') fs.fchmodSync(dst, mode & 0o7777);
    else real.chmod(dst, mode & 0o7777);
  }
  if (origin !== null) setXattr(dst, XATTR_ORIGIN, origin);
  if (typeof dst === 'number') utimensat(dst, null, st.atimeNs, st.mtimeNs);
  else real.setTimes(dst, st.atimeNs, st.mtimeNs);
}

function setXattr(t: Target, name: string, value: Buffer): void {
  if (typeof t === 'number') fsetxattr(t, name, value);
  else real.lsetxattr(t, name, value);
}

/** Copies every xattr but the overlay's private ones (escaped user ones travel as they are). */
function copyXattrs(src: Target, dst: Target): void {
  for (const name of typeof src === 'number' ? flistxattr(src) : real.llistxattr(src)) {
    if (name.startsWith(OVL_PREFIX) && !name.startsWith(OVL_ESCAPED_PREFIX)) continue;
    const v = typeof src === 'number' ? fgetxattr(src, name) : real.lgetxattr(src, name);
    if (v === null) continue;
    try {
      setXattr(dst, name, v);
    } catch (e) {
      const code = (e as { code?: string }).code;
      if (!name.startsWith('security.') || (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP')) throw e;
    }
  }
}

/** Errors that mean copy_file_range cannot copy between these two files (copy through memory instead). */
const NO_KERNEL_COPY = new Set(['EXDEV', 'EINVAL', 'ENOSYS', 'ENOTSUP', 'EOPNOTSUPP']);

/** One buffer for every copy through memory: the engine is synchronous, so copies never overlap. */
let copyBuffer: Buffer | null = null;

/** Copies `size` bytes (fewer if the source is shorter) from the start of `from` into the empty `to`. */
function copyData(from: number, to: number, size: number): void {
  if (size === 0) return;
  try {
    copyFileRange(from, to, size);
    return;
  } catch (e) {
    if (!NO_KERNEL_COPY.has((e as { code?: string }).code ?? '')) throw e;
  }
  const buf = (copyBuffer ??= Buffer.allocUnsafe(1024 * 1024));
  for (let pos = 0; pos < size; ) {
    const n = fs.readSync(from, buf, 0, Math.min(buf.length, size - pos), pos);
    if (n === 0) break;
    for (let done = 0; done < n; ) done += fs.writeSync(to, buf, done, n - done, pos + done);
    pos += n;
  }
}
