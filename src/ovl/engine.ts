/**
 * The engine's state and the moves every operation is built from: resolving entries (with the
 * dcache), attributes by the kernel's samefs inode rules, copy-up, whiteouts, and marking
 * directories impure. The operations themselves (core.ts, rename.ts) combine these.
 */
import type { CopyUpChange, CopyUpSync } from '../sys/index.js';
import { OvlEntry } from './entry.js';
import { OvlError, asUnion, pathOf, type UnionPlace } from './errors.js';
import { lookupInLayers, lowerNames, type LookupEnv } from './lookup.js';
import type { Layers } from './options.js';
import { copyUpObject } from './copyup.js';
import { Origins } from './origin.js';
import * as real from './realfs.js';
import {
  OVL_ESCAPED_PREFIX,
  OVL_PREFIX,
  S_IFCHR,
  S_IFMT,
  XATTR_IMPURE,
  XATTR_ORIGIN,
  XATTR_REDIRECT,
  isAnyWhiteout,
  kindOfMode,
  lstat,
  lstatMaybe,
  type Stat,
  toOvlStat,
} from './realfs.js';
import type { FsyncMode, OvlStat } from './types.js';

let nextDev = 0x3f00;

/** How Engine.copyUp copies: with a regular file's data or only its size, and a change to make on the copy. */
export interface CopyUpOptions {
  data: boolean;
  change?: CopyUpChange;
}

const WITH_DATA: CopyUpOptions = { data: true };

/** What a copy-up syncs in each fsync= mode (the kernel's ovl_copy_up_one). */
const COPY_UP_SYNC: Record<FsyncMode, CopyUpSync> = { auto: 'data', strict: 'all', volatile: 'none' };

/** Longest absolute redirect the kernel writes (redirect_max). */
const REDIRECT_MAX = 256;

export class Engine implements LookupEnv {
  readonly upper: string | null;
  readonly work: string | null;
  readonly lowers: readonly string[];
  readonly followRedirects: boolean;
  readonly createRedirects: boolean;
  readonly root: OvlEntry;
  /** The overlay's own st_dev, one per instance (as the kernel's anonymous device). */
  readonly dev: number;
  readonly origins: Origins;
  /** False when mounted volatile: fsync(2) and syncfs(2) of the union then sync nothing (the kernel's ovl_should_sync). */
  readonly syncs: boolean;
  private readonly copyUpSync: CopyUpSync;
  private sharedWhiteout: string | null = null;
  /** Called with an entry whose real object is about to lose its name (see beforeRemove). */
  onRemove: ((e: OvlEntry) => void) | null = null;
  /** Called with each entry whose attributes an operation changed (see OverlayCore.onAttrChange). */
  onAttrChange: ((e: OvlEntry, listing: boolean) => void) | null = null;
  private tmpCounter = 0;

  constructor(layers: Layers) {
    this.upper = layers.upper;
    this.work = layers.work;
    this.lowers = layers.lowers;
    this.followRedirects = layers.redirect !== 'nofollow';
    this.createRedirects = layers.redirect === 'on';
    this.root = new OvlEntry(null, '', 'dir', layers.upper !== null, layers.lowers.map((_, layer) => ({ layer, rel: '' })));
    this.dev = nextDev++;
    this.origins = new Origins(layers.lowers);
    this.syncs = layers.fsync !== 'volatile';
    this.copyUpSync = COPY_UP_SYNC[layers.fsync];
  }

  get readOnly(): boolean {
    return this.upper === null;
  }

  // ---- paths --------------------------------------------------------------------------------

  upperPath(e: OvlEntry): string {
    return this.upper! + e.rel;
  }

  lowerPath(e: OvlEntry, pos = 0): string {
    const ref = e.lower[pos]!;
    return this.lowers[ref.layer]! + ref.rel;
  }

  /** The real object the union shows for `e`: upper if copied up, else the top lower one. */
  realPath(e: OvlEntry): string {
    return e.upper ? this.upperPath(e) : this.lowerPath(e);
  }

  /** A fresh name in work/work, like the kernel's `#<hex>` temporaries. */
  tempPath(): string {
    return `${this.work!}/#${(this.tmpCounter++).toString(16)}`;
  }

  // ---- checks -------------------------------------------------------------------------------

  alive(e: OvlEntry, syscall: string): void {
    if (e.removed) throw new OvlError('ENOENT', syscall, e.path);
  }

  writable(syscall: string, where: UnionPlace): void {
    if (this.upper === null) throw new OvlError('EROFS', syscall, pathOf(where));
  }

  // ---- lookup -------------------------------------------------------------------------------

  /** The child `name` of `dir`, or null (absent or whited out); cached in the dcache. */
  child(dir: OvlEntry, name: string): OvlEntry | null {
    // `.` and `..` name the dir and its parent (never a layer's own `..`: the union root has no parent)
    if (name === '.' || name === '') return dir;
    if (name === '..') return dir.parent ?? dir;
    const cached = dir.children!.get(name);
    if (cached !== undefined) return cached;
    const e = lookupInLayers(this, dir, name);
    if (e !== null && e.isDir && e.upper && e.lower.length > 0) this.fixOrigin(e);
    dir.children!.set(name, e);
    return e;
  }

  /**
   * A merge dir whose upper half has no origin gets one, pointing at its top lower dir, and its
   * parent is marked impure: the kernel does this at lookup (ovl_fix_origin).
   */
  private fixOrigin(e: OvlEntry): void {
    const p = this.upperPath(e);
    if (real.lgetxattr(p, XATTR_ORIGIN) !== null) return;
    real.lsetxattr(p, XATTR_ORIGIN, this.origins.encode(e.lower[0]!.layer, this.lowerPath(e)));
    this.setImpure(e.parent!);
  }

  /**
   * Whether some lower layer below `dir` still has `name` (the kernel's ovl_lower_positive): decides
   * if removing or moving the name away must leave a whiteout.
   */
  lowerPositive(dir: OvlEntry, name: string, e: OvlEntry | null): boolean {
    if (e !== null && !e.upper) return true;
    const index = dir.lower.length > 1 ? lowerNames(this, dir) : null;
    const hits = index ? index.get(name) : undefined;
    if (index && !hits) return false;
    const positions = hits ?? dir.lower.map((_, i) => i);
    for (const pos of positions) {
      const p = this.lowerPath(dir, pos) + '/' + name;
      const st = lstatMaybe(p);
      if (st) return !isAnyWhiteout(p, st);
    }
    return false;
  }

  /** The upper layer holds a whiteout at `dir/name` (the name is negative because of it). */
  upperWhiteout(dir: OvlEntry, name: string): boolean {
    if (!dir.upper || this.upper === null) return false;
    const p = this.upperPath(dir) + '/' + name;
    const st = lstatMaybe(p);
    return st !== undefined && isAnyWhiteout(p, st);
  }

  // ---- attributes ---------------------------------------------------------------------------

  /** The decoded copy-up origin of an upper non-directory (cached). */
  origin(e: OvlEntry, st?: Stat) {
    if (e.origin === undefined) {
      const fmt = st ? st.mode & S_IFMT : lstat(this.upperPath(e)).mode & S_IFMT;
      e.origin = this.origins.decode(this.upperPath(e), fmt);
    }
    return e.origin;
  }

  /**
   * Whether the entry has a copy-up origin the kernel trusts for its inode number (OVL_TYPE_ORIGIN:
   * upper with a lower, and hashed by the lower inode, which a lower hardlink never is).
   */
  hasOrigin(e: OvlEntry): boolean {
    if (!e.upper) return false;
    if (e.isDir) return e.lower.length > 0;
    const o = this.origin(e);
    return o !== null && o.nlink === 1;
  }

  getattr(e: OvlEntry, syscall = 'stat'): OvlStat {
    if (e.removed && e.removedStat !== null) return e.removedStat;
    this.alive(e, syscall);
    return this.unionStat(e, asUnion(syscall, e, () => lstat(this.realPath(e))));
  }

  /** The union attributes of `e` from `st`, the stat of its real object (upper if copied up). */
  unionStat(e: OvlEntry, st: Stat): OvlStat {
    if (e.isDir) return this.dirStat(e, st);
    let ino = st.ino;
    if (e.upper) {
      const o = this.origin(e, st);
      if (o !== null && o.nlink === 1) ino = o.ino;
    }
    return toOvlStat(st, this.dev, ino, st.nlink);
  }

  /**
   * A directory's union attributes from its real dir's `st` (also for an open directory whose name
   * was removed): a merged dir has nlink 1 and, below the root, its top lower dir's ino.
   */
  dirStat(e: OvlEntry, st: Stat): OvlStat {
    let ino = st.ino;
    if (e.parent !== null && e.upper && e.lower.length > 0) {
      if (e.lowerIno === undefined) e.lowerIno = lstat(this.lowerPath(e)).ino;
      ino = e.lowerIno;
    }
    return toOvlStat(st, this.dev, ino, e.isMerge ? 1 : st.nlink);
  }

  // ---- copy-up ------------------------------------------------------------------------------

  /**
   * Copies `e` (and first its parents) up to the upper layer, as the kernel does: built out of
   * sight in work/work and then put in place, the parent keeping its times (copyup.ts); the parent
   * is then marked impure (always: ovl_do_copy_up does not look at the origin). `data: false`
   * copies a regular file's size as a hole (for an open with O_TRUNC, which empties it anyway); a
   * `change` (a setattr's) is made on the copy before it appears. Returns the real stat of the
   * copy, or undefined when `e` was already upper (and `change` was not made).
   */
  copyUp(e: OvlEntry, syscall: string, opts: CopyUpOptions = WITH_DATA): Stat | undefined {
    if (e.upper) return undefined;
    this.writable(syscall, e);
    const parent = e.parent!;
    this.copyUp(parent, syscall);
    const stat = asUnion(syscall, e, () => {
      const source = { src: this.lowerPath(e), layer: e.lower[0]!.layer, isFile: e.kind === 'file', data: opts.data, change: opts.change };
      const copied = copyUpObject(source, this.tempPath(), this.upperPath(e), this.origins, this.copyUpSync);
      e.upper = true;
      if (e.isDir) e.lowerIno = copied.ino; // what dirStat would lstat the lower dir for
      else {
        e.origin = copied.origin ? { ino: copied.ino, nlink: 1 } : null;
        if (!copied.origin) e.lower = [];
      }
      // The kernel marks the parent impure after every copy-up, with or without an origin.
      this.setImpure(parent);
      return copied.stat;
    });
    // the copy is a new inode (ctime; a dir's link count and listing; a lower hardlink's ino).
    // The parent (copied up before, and reported then) got an entry but has its times put back
    // and, merged, a link count of 1: only its ctime moved, which is not reported.
    this.changed(e, e.isDir);
    return stat;
  }

  /** Reports that `e`'s attributes (and with `listing`, its directory listing) changed (onAttrChange). */
  changed(e: OvlEntry, listing = false): void {
    this.onAttrChange?.(e, listing);
  }

  /** Marks an upper dir impure (it now holds entries whose st_ino comes from an origin). */
  setImpure(dir: OvlEntry): void {
    if (dir.impure === true) return;
    real.lsetxattr(this.upperPath(dir), XATTR_IMPURE, 'y');
    dir.impure = true;
  }

  /** Removes an upper dir's impure mark (best effort, as the kernel's readdir does). */
  clearImpure(dir: OvlEntry): void {
    try {
      real.lremovexattr(this.upperPath(dir), XATTR_IMPURE);
    } catch {
      // already gone: nothing to do
    }
    dir.impure = false;
  }

  /** Whether an upper dir is marked impure (read once). */
  isImpure(dir: OvlEntry): boolean {
    if (dir.impure === undefined) dir.impure = dir.upper && real.lgetxattr(this.upperPath(dir), XATTR_IMPURE) !== null;
    return dir.impure;
  }

  // ---- whiteouts ----------------------------------------------------------------------------

  /**
   * Puts a whiteout at the real path `target` (replacing what is there): a hard link to the
   * overlay's one shared whiteout in work/work, made under a temporary name and renamed in, as the
   * kernel does since 5.8.
   */
  whiteout(target: string): void {
    const tmp = this.tempPath();
    for (;;) {
      if (this.sharedWhiteout === null) {
        const shared = this.tempPath();
        real.mknod(shared, S_IFCHR, 0, 0);
        this.sharedWhiteout = shared;
      }
      try {
        real.link(this.sharedWhiteout, tmp);
        break;
      } catch (e) {
        if ((e as { code?: string }).code !== 'EMLINK') throw e;
        this.sharedWhiteout = null;
      }
    }
    const st = lstatMaybe(target);
    if (st && kindOfMode(st.mode) === 'dir') {
      real.exchange(tmp, target);
      real.removeTree(tmp);
    } else {
      real.rename(tmp, target);
    }
  }

  /** Removes the whiteouts (the only entries a logically empty merged dir may hold) from an upper dir. */
  clearWhiteouts(upperDir: string): void {
    for (const name of real.readNames(upperDir)) {
      const p = upperDir + '/' + name;
      const st = lstat(p);
      if (isAnyWhiteout(p, st)) real.unlink(p);
    }
  }

  // ---- redirects ----------------------------------------------------------------------------

  /**
   * Gives a moved merged/lower dir its redirect, as the kernel's ovl_set_redirect: the old name
   * when it stays in its parent, else the absolute path of its lower origin (built from the
   * ancestors' own redirects); longer than redirect_max is EXDEV.
   */
  setRedirect(e: OvlEntry, samedir: boolean, syscall: string, path: string, dest: string): void {
    if (e.redirect !== null && (samedir || e.redirect.startsWith('/'))) return;
    let r: string;
    if (samedir) r = e.name;
    else {
      r = '';
      for (let d: OvlEntry = e; d.parent !== null; d = d.parent) {
        const comp = d.redirect ?? d.name;
        r = (comp.startsWith('/') ? comp : '/' + comp) + r;
        if (comp.startsWith('/')) break;
      }
    }
    if (r.length > REDIRECT_MAX) throw new OvlError('EXDEV', syscall, path, dest);
    real.lsetxattr(this.upperPath(e), XATTR_REDIRECT, r);
    e.redirect = r;
  }

  /**
   * An upper object is about to lose its name: handles still reading its lower copy move to the
   * upper one now, while it can be opened by name (the kernel's open file keeps reaching it).
   */
  beforeRemove(e: OvlEntry): void {
    if (e.upper && !e.isDir) this.onRemove?.(e);
    // a non-directory's other names lose a link
    if (!e.isDir) this.changed(e);
    // a removed directory's inode lives on while open, stat'ing its real dir: a merged one still
    // says nlink 1, an upper one 0 (gone), a lower one its lower dir's count (untouched)
    const st = e.isDir ? lstatMaybe(this.realPath(e)) : undefined;
    if (st) {
      const s = this.dirStat(e, st);
      e.removedStat = e.upper && !e.isMerge ? { ...s, nlink: 0 } : s;
    }
  }

  close(): void {
    this.origins.close();
  }
}

/** The user's name of a layer xattr, or null for the overlay's private ones. */
export function visibleXattr(realName: string): string | null {
  if (!realName.startsWith(OVL_PREFIX)) return realName;
  if (realName.startsWith(OVL_ESCAPED_PREFIX)) return OVL_PREFIX + realName.slice(OVL_ESCAPED_PREFIX.length);
  return null;
}

/** The name a user's xattr is stored under in a layer (`trusted.overlay.X` escaped one level). */
export function storedXattr(name: string): string {
  return name.startsWith(OVL_PREFIX) ? OVL_ESCAPED_PREFIX + name.slice(OVL_PREFIX.length) : name;
}
