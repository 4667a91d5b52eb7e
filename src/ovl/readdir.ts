/**
 * Reading a union directory, by the kernel's rules (fs/overlayfs/readdir.c).
 *
 * A merge dir (upper with lowers, or several lowers, or a dir that was one) is listed from all its
 * layers: top to bottom, a name seen in a higher layer is not added again; the lowest layer's
 * entries come first, in its own order (a name it shares with a higher layer moves there, keeping
 * the higher layer's type and d_ino), then the rest of the upper entries, then the middle layers'.
 * Whiteouts stay in the list as hidden entries (they take a position, and are never shown). `.`
 * and `..` are real entries placed by the same rule. The list is built at the first read and kept
 * in the open dir; reading from 0 again rebuilds it if the directory changed meanwhile.
 *
 * Any other dir (pure upper, pure lower, opaque) is listed straight from its one real dir: a stray
 * whiteout there shows, as in the kernel.
 *
 * d_ino is the real entry's, except where the kernel recomputes it to equal st_ino: `..` (unless
 * in the root), and in an upper dir marked impure, `.` and every upper entry. Listing a non-merge
 * impure dir where nothing needs recomputing removes its impure mark, as the kernel does.
 */
import { DT, type RawDirents } from '../sys/index.js';
import * as real from './realfs.js';
import type { Engine } from './engine.js';
import type { OvlEntry } from './entry.js';
import { lowerListings } from './lookup.js';
import { XATTR_ORIGIN, hasXwhiteoutsMark, isWhiteoutStat, isXattrWhiteout, kindOfDtype, kindOfMode, listRaw, lstatMaybe } from './realfs.js';
import type { OvlDir, OvlDirent, OvlFileType } from './types.js';

interface Slot {
  name: string;
  type: OvlFileType;
  ino: bigint;
  hidden: boolean;
  /** Came from the upper layer (its d_ino may need recomputing). */
  fromUpper: boolean;
}

/** The kernel keeps whiteouts out of a dir only when it "may contain whiteouts". */
export function isMergeListing(engine: Engine, dir: OvlEntry): boolean {
  if (dir.isMerge) return true;
  return dir.upper && dir.lower.length === 0 && dir.parent !== null && real.lgetxattr(engine.upperPath(dir), XATTR_ORIGIN) !== null;
}

function typeOf(dtype: number, realPath: string): OvlFileType {
  const k = kindOfDtype(dtype);
  if (k !== undefined) return k;
  const st = lstatMaybe(realPath);
  return st ? kindOfMode(st.mode) : 'file';
}

/** Builds the ordered slots of a merge dir. */
function mergedSlots(engine: Engine, dir: OvlEntry): Slot[] {
  const layers: { path: string; listing: RawDirents | null; upper: boolean; xwhiteouts: boolean }[] = [];
  if (dir.upper) {
    const path = engine.upperPath(dir);
    layers.push({ path, listing: listRaw(path), upper: true, xwhiteouts: false });
  }
  const listings = lowerListings(engine, dir);
  dir.lower.forEach((_, pos) => {
    const path = engine.lowerPath(dir, pos);
    layers.push({ path, listing: listings[pos] ?? null, upper: false, xwhiteouts: hasXwhiteoutsMark(path) });
  });

  const byName = new Map<string, Slot>();
  const rest: Slot[] = [];
  const lowest: Slot[] = [];
  const moved = new Set<Slot>();
  layers.forEach((layer, li) => {
    const isLowest = li === layers.length - 1;
    const l = layer.listing;
    if (!l) return;
    for (let k = 0; k < l.names.length; k++) {
      const name = l.names[k]!;
      const existing = byName.get(name);
      if (existing) {
        if (isLowest) {
          moved.add(existing);
          lowest.push(existing);
        }
        continue;
      }
      const dtype = l.types[k]!;
      const real = layer.path + '/' + name;
      let hidden = false;
      if (dtype === DT.CHR || dtype === DT.UNKNOWN) {
        const st = lstatMaybe(real);
        hidden = st !== undefined && isWhiteoutStat(st);
      } else if (dtype === DT.REG && layer.xwhiteouts) {
        const st = lstatMaybe(real);
        hidden = st !== undefined && isXattrWhiteout(real, st);
      }
      const slot: Slot = { name, type: typeOf(dtype, real), ino: l.inos[k]!, hidden, fromUpper: layer.upper };
      byName.set(name, slot);
      (isLowest ? lowest : rest).push(slot);
    }
  });
  const slots = lowest.concat(rest.filter((s) => !moved.has(s)));
  const impure = dir.upper && engine.isImpure(dir);
  // the kernel recomputes d_ino of `..` always, and of `.` and impure dirs' entries from upper; an
  // object with a copy-up origin (never the root) then reports its st_ino, anything else its real ino
  const recalc = (e: OvlEntry, raw: bigint) => (e.parent !== null && engine.hasOrigin(e) ? engine.getattr(e).ino : raw);
  for (const s of slots) {
    if (s.hidden) continue;
    if (s.name === '..') s.ino = recalc(dir.parent ?? dir, s.ino);
    else if (s.fromUpper && (s.name === '.' || impure)) {
      if (s.name === '.') s.ino = recalc(dir, s.ino);
      else {
        const child = engine.child(dir, s.name);
        if (child === null) s.hidden = true;
        else s.ino = recalc(child, s.ino);
      }
    }
  }
  return slots;
}

/** Lists a non-merge dir straight from its real dir, translating d_ino where the kernel does. */
function realSlots(engine: Engine, dir: OvlEntry): Slot[] {
  const path = engine.realPath(dir);
  const l = listRaw(path);
  const parentMerge = dir.parent !== null && dir.parent.isMerge;
  const impure = dir.upper && engine.isImpure(dir);
  const slots: Slot[] = [];
  // an impure dir whose entries all keep their real inode numbers needs no marking (`.` and `..`
  // do not count: the kernel's impure cache skips them)
  let translated = false;
  for (let k = 0; k < l.names.length; k++) {
    const name = l.names[k]!;
    const slot: Slot = { name, type: typeOf(l.types[k]!, path + '/' + name), ino: l.inos[k]!, hidden: false, fromUpper: dir.upper };
    if (name === '..') {
      if (parentMerge) slot.ino = engine.getattr(dir.parent!).ino;
    } else if (impure && name !== '.') {
      const child = engine.child(dir, name);
      if (child !== null) {
        slot.ino = engine.getattr(child).ino;
        if (engine.hasOrigin(child)) translated = true;
      }
    }
    slots.push(slot);
  }
  // the kernel drops the mark then (ovl_cache_get_impure: "get rid of an unneeded impure flag")
  if (impure && !translated) engine.clearImpure(dir);
  return slots;
}

/** An open union directory: the listing is cached in the handle (positions 1..N). */
export class OvlOpenDir implements OvlDir {
  private items: { entry: OvlDirent; next: number }[] | null = null;
  /** For each position p (0..N), the index in `items` of the first visible entry at position > p. */
  private firstAfter: Int32Array = new Int32Array(0);
  private version = -1;
  private closed = false;

  constructor(
    private readonly engine: Engine,
    readonly dir: OvlEntry,
    private readonly onClose: (d: OvlOpenDir) => void,
  ) {}

  private build(): void {
    const slots = isMergeListing(this.engine, this.dir) ? mergedSlots(this.engine, this.dir) : realSlots(this.engine, this.dir);
    const items: { entry: OvlDirent; next: number }[] = [];
    // firstAfter[p]: index in `items` of the first visible slot at position > p (slot i is position i+1)
    const firstAfter = new Int32Array(slots.length + 1);
    slots.forEach((s, i) => {
      firstAfter[i] = items.length;
      if (!s.hidden) items.push({ entry: { name: s.name, type: s.type, ino: s.ino }, next: i + 1 });
    });
    firstAfter[slots.length] = items.length;
    this.items = items;
    this.firstAfter = firstAfter;
    this.version = this.dir.version;
  }

  read(offset: number): { entry: OvlDirent; next: number }[] {
    if (this.closed) throw new Error('read of a closed directory');
    if (offset === 0 && this.items !== null && this.version !== this.dir.version) this.items = null;
    if (this.items === null) {
      if (this.dir.removed) return [];
      this.build();
    }
    if (offset >= this.firstAfter.length) return [];
    return this.items!.slice(this.firstAfter[offset]!);
  }

  rewind(): void {
    if (this.items !== null && this.version !== this.dir.version) this.items = null;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.items = null;
    this.onClose(this);
  }
}
