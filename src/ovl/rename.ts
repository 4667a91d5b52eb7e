/**
 * rename(2) on the union, in the kernel's order of checks: the VFS's (flags, existence,
 * RENAME_NOREPLACE, a dir into its own subtree, same inode, dir-vs-non-dir), then the overlay's
 * (RENAME_WHITEOUT refused; lower/merged dirs only move with redirectDir 'on', else EXDEV; a merged
 * target dir must be logically empty), then copy-ups, then one renameat2 in the upper layer —
 * which leaves a whiteout (nlink 1) where a lower entry still exists under the old name, or swaps
 * an existing whiteout at the target into the old place. A moved pure-upper dir becomes opaque in a
 * merged parent; a moved merged/lower dir gets a redirect.
 */
import { RENAME_WHITEOUT as SYS_RENAME_WHITEOUT } from '../sys/index.js';
import type { Engine } from './engine.js';
import type { OvlEntry } from './entry.js';
import { OvlError, asUnion } from './errors.js';
import { isLogicallyEmpty } from './remove.js';
import * as real from './realfs.js';
import { XATTR_OPAQUE, lstatMaybe } from './realfs.js';
import { RENAME_EXCHANGE, RENAME_NOREPLACE, RENAME_WHITEOUT } from './types.js';

/** `a` is `b` or one of its ancestors. */
function isAncestorOrSelf(a: OvlEntry, b: OvlEntry): boolean {
  for (let d: OvlEntry | null = b; d !== null; d = d.parent) if (d === a) return true;
  return false;
}

/**
 * Two names of one overlay inode: hard links of one upper inode. Lower hard links are separate
 * overlay inodes (index=off: the kernel never hashes them by their lower inode), so a rename
 * between two of them goes ahead and copies both up.
 */
function sameInode(engine: Engine, a: OvlEntry, b: OvlEntry): boolean {
  if (a === b) return true;
  if (a.isDir || b.isDir || !a.upper || !b.upper) return false;
  const sa = lstatMaybe(engine.realPath(a));
  const sb = lstatMaybe(engine.realPath(b));
  return sa !== undefined && sb !== undefined && sa.ino === sb.ino && sa.dev === sb.dev;
}

export function renameEntries(engine: Engine, odir: OvlEntry, oname: string, ndir: OvlEntry, nname: string, flags: number): void {
  const from = odir.rel + '/' + oname;
  const to = ndir.rel + '/' + nname;
  const fail = (code: string): never => {
    throw new OvlError(code, 'rename', from, to);
  };
  if (flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE | RENAME_WHITEOUT)) fail('EINVAL');
  if (flags & (RENAME_NOREPLACE | RENAME_WHITEOUT) && flags & RENAME_EXCHANGE) fail('EINVAL');
  engine.writable('rename', from);
  engine.alive(odir, 'rename');
  engine.alive(ndir, 'rename');
  if (!odir.isDir || !ndir.isDir) fail('ENOTDIR');
  if (oname === '.' || oname === '..' || nname === '.' || nname === '..') fail('EBUSY');
  if (oname.length > 255 || nname.length > 255) fail('ENAMETOOLONG');

  const old = engine.child(odir, oname);
  if (old === null) return fail('ENOENT');
  const target = engine.child(ndir, nname);
  if (flags & RENAME_NOREPLACE && target !== null) fail('EEXIST');
  if (flags & RENAME_EXCHANGE && target === null) fail('ENOENT');
  if (odir !== ndir) {
    if (isAncestorOrSelf(old, ndir)) fail('EINVAL');
    if (target !== null && isAncestorOrSelf(target, odir)) fail(flags & RENAME_EXCHANGE ? 'EINVAL' : 'ENOTEMPTY');
  }
  if (target !== null && sameInode(engine, old, target)) return;
  const overwrite = !(flags & RENAME_EXCHANGE);
  if (target !== null && overwrite) {
    if (old.isDir && !target.isDir) fail('ENOTDIR');
    if (!old.isDir && target.isDir) fail('EISDIR');
  }

  // the overlay's own rules
  if (flags & RENAME_WHITEOUT) fail('EINVAL');
  const canMove = (e: OvlEntry) => engine.createRedirects || !e.isDir || e.pureUpper;
  if (!canMove(old)) fail('EXDEV');
  if (!overwrite && !canMove(target!)) fail('EXDEV');
  if (overwrite && target !== null && target.isDir && !target.pureUpper && !isLogicallyEmpty(engine, target)) fail('ENOTEMPTY');

  let realFlags = overwrite ? 0 : RENAME_EXCHANGE;
  let cleanupWhiteout = false;
  if (overwrite) {
    const targetIsWhiteout = target === null && engine.upperWhiteout(ndir, nname);
    if (engine.lowerPositive(odir, oname, old)) realFlags = targetIsWhiteout ? RENAME_EXCHANGE : SYS_RENAME_WHITEOUT;
    else if (old.isDir && targetIsWhiteout) {
      realFlags = RENAME_EXCHANGE;
      cleanupWhiteout = true;
    }
  }

  // an overwritten file or directory may still be open: keep a file's origin decoded (see
  // OvlOpenFile.stat) and a directory's last attributes (FUSE's fstat of it comes by node)
  if (overwrite && target !== null) {
    if (!target.isDir && target.upper) engine.origin(target);
    engine.beforeRemove(target);
  }
  engine.copyUp(old, 'rename');
  engine.copyUp(ndir, 'rename');
  if (!overwrite) engine.copyUp(target!, 'rename');

  const samedir = odir === ndir;
  asUnion(
    'rename',
    from,
    () => {
      if (old.isDir) {
        if (old.lower.length > 0) engine.setRedirect(old, samedir, 'rename', from, to);
        else if (!old.opaque && ndir.isMerge) setOpaque(engine, old);
      }
      if (!overwrite && target!.isDir) {
        if (target!.lower.length > 0) engine.setRedirect(target!, samedir, 'rename', from, to);
        else if (!target!.opaque && odir.isMerge) setOpaque(engine, target!);
      }
      // the kernel marks the new parents impure before the real rename (which may still fail,
      // e.g. ENOTEMPTY over a full pure-upper dir: the marks stay)
      if (!samedir) {
        if (engine.hasOrigin(old)) engine.setImpure(ndir);
        if (!overwrite && engine.hasOrigin(target!)) engine.setImpure(odir);
      }
      if (overwrite && target !== null && target.isDir && target.upper && !target.pureUpper) engine.clearWhiteouts(engine.upperPath(target));
      const src = engine.upperPath(odir) + '/' + oname;
      real.renameWithFlags(src, engine.upperPath(ndir) + '/' + nname, realFlags);
      if (cleanupWhiteout) real.unlink(src);
    },
    to,
  );

  // the dcache follows
  if (overwrite) {
    if (target !== null) target.markRemoved();
    odir.children!.set(oname, null);
  } else {
    odir.children!.set(oname, target);
    target!.parent = odir;
    target!.name = oname;
  }
  ndir.children!.set(nname, old);
  old.parent = ndir;
  old.name = nname;
  odir.version++;
  ndir.version++;
}

function setOpaque(engine: Engine, dir: OvlEntry): void {
  real.lsetxattr(engine.upperPath(dir), XATTR_OPAQUE, 'y');
  dir.opaque = true;
}
