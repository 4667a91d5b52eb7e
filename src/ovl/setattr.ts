/**
 * setattr: chmod, chown, truncate and utimes in one call (FUSE SETATTR), on a union dentry or on
 * the real inode an open file holds. A lower object is copied up with the change made on the copy
 * before it appears (a truncate to 0 copies no data); an upper object is changed in place. Once
 * an open file's name is gone, the kernel still changes the inode the file holds: `setattrFd`
 * does that through the handle's fd.
 */
import fs from 'node:fs';
import { utimensat } from '../sys/index.js';
import * as real from './realfs.js';
import type { Engine } from './engine.js';
import type { OvlEntry } from './entry.js';
import { OvlError, asUnion } from './errors.js';
import type { OvlSetattr, OvlStat } from './types.js';

function hasChanges(attr: OvlSetattr): boolean {
  return attr.size !== undefined || attr.mode !== undefined || attr.uid !== undefined || attr.gid !== undefined || attr.atimeNs !== undefined || attr.mtimeNs !== undefined;
}

function syscallOf(attr: OvlSetattr): string {
  if (attr.size !== undefined) return 'truncate';
  if (attr.mode !== undefined) return 'chmod';
  return attr.uid !== undefined || attr.gid !== undefined ? 'chown' : 'utimes';
}

/** Applies `attr` to the union object `e` (copying it up first), and returns its new attributes. */
export function setattrEntry(engine: Engine, e: OvlEntry, attr: OvlSetattr): OvlStat {
  if (!hasChanges(attr)) return engine.getattr(e);
  const syscall = syscallOf(attr);
  engine.writable(syscall, e);
  engine.alive(e, syscall);
  if (attr.size !== undefined) {
    if (e.isDir) throw new OvlError('EISDIR', syscall, e.path);
    if (e.kind !== 'file' || attr.size < 0) throw new OvlError('EINVAL', syscall, e.path);
  }
  if (attr.mode !== undefined && e.kind === 'symlink') throw new OvlError('EOPNOTSUPP', syscall, e.path);
  // A lower object is copied up with the change already made (the copy appears changed, and a
  // failed change leaves no copy: the kernel checks a setattr before it copies up).
  const copied = engine.copyUp(e, syscall, { data: attr.size !== 0, change: attr });
  if (copied !== undefined) return engine.unionStat(e, copied);
  const p = engine.upperPath(e);
  asUnion(syscall, e, () => {
    if (attr.uid !== undefined || attr.gid !== undefined) real.lchown(p, attr.uid ?? -1, attr.gid ?? -1);
    if (attr.mode !== undefined) real.chmod(p, attr.mode & 0o7777);
    if (attr.size !== undefined) real.truncate(p, attr.size);
    if (attr.atimeNs !== undefined || attr.mtimeNs !== undefined) {
      real.setTimes(p, attr.atimeNs ?? 'omit', attr.mtimeNs ?? 'omit');
    }
  });
  engine.changed(e);
  return engine.getattr(e, syscall);
}

/**
 * Applies `attr` to the real inode open as `fd` (an upper file whose union name was removed; the
 * caller reports the new attributes). `path` names the file in errors.
 */
export function setattrFd(engine: Engine, fd: number, path: string, attr: OvlSetattr): void {
  if (!hasChanges(attr)) return;
  const syscall = syscallOf(attr);
  engine.writable(syscall, path);
  if (attr.size !== undefined && attr.size < 0) throw new OvlError('EINVAL', syscall, path);
  asUnion(syscall, path, () => {
    if (attr.uid !== undefined || attr.gid !== undefined) fs.fchownSync(fd, attr.uid ?? -1, attr.gid ?? -1);
    if (attr.mode !== undefined) fs.fchmodSync(fd, attr.mode & 0o7777);
    if (attr.size !== undefined) fs.ftruncateSync(fd, attr.size);
    if (attr.atimeNs !== undefined || attr.mtimeNs !== undefined) utimensat(fd, null, attr.atimeNs ?? 'omit', attr.mtimeNs ?? 'omit', 0);
  });
}
