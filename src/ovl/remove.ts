/**
 * unlink and rmdir on the union. A name that some lower layer still has is replaced by a whiteout
 * (after its parents are copied up); a name only the upper layer has is simply removed. A merged
 * directory can be removed only when it is logically empty (nothing but whiteouts in the merged
 * listing); its upper dir goes with those whiteouts.
 */
import type { Engine } from './engine.js';
import type { OvlEntry } from './entry.js';
import { OvlError, asUnion } from './errors.js';
import { lowerListings } from './lookup.js';
import * as real from './realfs.js';
import { isWhiteoutStat, listRaw, lstatMaybe } from './realfs.js';

/**
 * A merged dir is empty when every name in its layers but `.` and `..` is a (char 0:0) whiteout. An
 * xattr whiteout does not count: the kernel's emptiness check sees it as an entry.
 */
export function isLogicallyEmpty(engine: Engine, dir: OvlEntry): boolean {
  const seen = new Set<string>();
  const check = (base: string, names: readonly string[]): boolean => {
    for (const n of names) {
      if (n === '.' || n === '..' || seen.has(n)) continue;
      seen.add(n);
      const p = base + '/' + n;
      const st = lstatMaybe(p);
      if (!st || !isWhiteoutStat(st)) return false;
    }
    return true;
  };
  if (dir.upper && !check(engine.upperPath(dir), listRaw(engine.upperPath(dir)).names)) return false;
  const listings = lowerListings(engine, dir);
  for (let pos = 0; pos < dir.lower.length; pos++) {
    const l = listings[pos];
    if (l && !check(engine.lowerPath(dir, pos), l.names)) return false;
  }
  return true;
}

export function removeEntry(engine: Engine, dir: OvlEntry, name: string, wantDir: boolean): void {
  const syscall = wantDir ? 'rmdir' : 'unlink';
  const path = dir.rel + '/' + name;
  engine.writable(syscall, path);
  engine.alive(dir, syscall);
  if (!dir.isDir) throw new OvlError('ENOTDIR', syscall, path);
  if (wantDir && name === '.') throw new OvlError('EINVAL', syscall, path);
  if (wantDir && name === '..') throw new OvlError('ENOTEMPTY', syscall, path);
  if (name.length > 255) throw new OvlError('ENAMETOOLONG', syscall, path);
  const e = engine.child(dir, name);
  if (e === null) throw new OvlError('ENOENT', syscall, path);
  if (wantDir && !e.isDir) throw new OvlError('ENOTDIR', syscall, path);
  if (!wantDir && e.isDir) throw new OvlError('EISDIR', syscall, path);
  const lowerPositive = engine.lowerPositive(dir, name, e);
  if (wantDir && (lowerPositive || !e.pureUpper) && !isLogicallyEmpty(engine, e)) throw new OvlError('ENOTEMPTY', syscall, path);

  engine.copyUp(dir, syscall);
  // files still open keep reporting the origin's inode number: decode it while the name exists
  if (!e.isDir && e.upper) asUnion(syscall, path, () => engine.origin(e));
  engine.beforeRemove(e);
  asUnion(syscall, path, () => {
    const target = engine.upperPath(dir) + '/' + name;
    if (lowerPositive) {
      if (e.isDir && e.upper) engine.clearWhiteouts(target);
      engine.whiteout(target);
    } else if (e.isDir) {
      if (!e.pureUpper) engine.clearWhiteouts(target);
      real.rmdir(target);
    } else {
      real.unlink(target);
    }
  });
  dir.children!.set(name, null);
  e.markRemoved();
  dir.version++;
}
