/**
 * Fixtures: a layer stack described as data (so it can be printed, stored with a reproduction and
 * shrunk), generated from a seed, and built on disk as often as needed — once per side of a
 * comparison, always fresh, identical byte for byte except for inode numbers.
 *
 * The generator draws paths from a small pool of names, so the same path often appears in several
 * layers: that is where the overlay's rules live (dir over file over dir, whiteouts over dirs,
 * opaque dirs, redirects to a lower dir, hardlinks, escaped `trusted.overlay.overlay.*` xattrs).
 * Paths, symlink targets and xattr values are byte strings (bytes.ts); the pools hold a few names
 * that are UTF-8 but not ASCII and a few that are not UTF-8 at all, as Linux allows.
 */
import fs from 'node:fs';
import path from 'node:path';
import { S_IFCHR, S_IFIFO, AT_FDCWD, AT_SYMLINK_NOFOLLOW, lsetxattr, mknod, utimensat } from '../../../src/sys/index.js';
import { bytesOf, hostPath } from './bytes.js';
import { Rng, contentBytes } from './rng.js';

export type EntryKind = 'file' | 'dir' | 'symlink' | 'hardlink' | 'fifo' | 'whiteout';

/** One object in one layer. Paths are byte strings relative to the layer root (`a/h`), parents listed first. */
export interface FixtureEntry {
  path: string;
  kind: EntryKind;
  /** Permission bits incl. setuid/setgid/sticky (not used for hardlinks). */
  mode: number;
  uid: number;
  gid: number;
  /** Fixed mtime and atime, nanoseconds since the epoch as a decimal string. */
  mtimeNs: string;
  /** Regular files: size and the seed of their bytes. */
  size?: number;
  contentSeed?: number;
  /** Symlinks: the target (a byte string). Hardlinks: the path (in the same layer) of the file they link to. */
  target?: string;
  /** Extended attributes, name → value as a byte string, set exactly as given (incl. trusted.overlay.*). */
  xattrs?: [string, string][];
}

/** A whole layer stack. `lowers[0]` is the top lower layer, as in `lowerdir=top:...:bottom`. */
export interface FixtureDesc {
  seed: number;
  lowers: FixtureEntry[][];
  /** Entries pre-populated in the upper layer (often none). */
  upper: FixtureEntry[];
}

/** The directories of one built fixture. */
export interface LayerDirs {
  base: string;
  /** Top first. */
  lowers: string[];
  upper: string;
  work: string;
  mnt: string;
}

/** Every fixture time is in 2001..2004, far from "now": a time seen later is either one of these or a fresh one. */
export const FIXTURE_EPOCH_NS = 1_000_000_000n * 1_000_000_000n;
export const FRESH_TIME_NS = 1_500_000_000n * 1_000_000_000n;

/** UTF-8 but not ASCII: "café" (c3 a9 is é). */
export const NAME_UTF8 = 'caf\xc3\xa9';
/** Not UTF-8: a lone latin1 é (e9 opens a 3-byte sequence that never comes). */
export const NAME_LATIN1 = 'n\xe9';
/** Not UTF-8: ff and fe are never part of UTF-8. */
export const NAME_FF_FE = '\xff\xfe';

/** Names per depth (byte strings); the non-ASCII ones are a minority of each pool. */
const LEVEL_NAMES = [
  ['a', 'b', 'c', 'd', 'e', 'f', 'g', NAME_UTF8, NAME_LATIN1],
  ['h', 'i', 'j', 'k', NAME_FF_FE],
  ['l', 'm', 'n', NAME_UTF8],
] as const;
const FILE_MODES = [0o644, 0o644, 0o600, 0o755, 0o4755, 0o2755, 0o444, 0o640];
const DIR_MODES = [0o755, 0o755, 0o700, 0o1777, 0o2775, 0o555];
const OWNERS: [number, number][] = [[0, 0], [0, 0], [0, 0], [1000, 1000], [1, 2], [65534, 65534]];

function fixedTime(rng: Rng): string {
  return (FIXTURE_EPOCH_NS + BigInt(rng.int(0, 100_000_000)) * 1_000_000_000n + BigInt(rng.int(0, 999_999_999))).toString();
}

function randomXattrs(rng: Rng, kind: EntryKind): [string, string][] | undefined {
  const userOk = kind === 'file' || kind === 'dir';
  if (!rng.chance(userOk ? 0.3 : 0.1)) return undefined;
  const pool: [string, string][] = [
    ['trusted.t', `t${rng.int(0, 9)}`],
    ['trusted.overlay.overlay.esc', `escaped${rng.int(0, 9)}`],
  ];
  if (userOk) pool.push(['user.color', rng.pick(['red', 'green', ''])], ['user.n', String(rng.int(0, 99999))]);
  const out = pool.filter(() => rng.chance(0.5));
  return out.length ? out : [pool[0]!];
}

/** Builds the description of a random layer stack for `seed`. */
export function generateFixture(seed: number): FixtureDesc {
  const rng = new Rng(seed);
  const nLowers = rng.chance(0.1) ? rng.int(7, 12) : rng.int(1, 6);
  const withUpper = rng.chance(0.45);
  let bigFiles = 0;
  /** Dir paths of the layers generated so far (below the current one). */
  const lowerDirPaths = new Set<string>();
  const layersBottomUp: FixtureEntry[][] = [];

  const genLayer = (isBottom: boolean): FixtureEntry[] => {
    const entries: FixtureEntry[] = [];
    const byPath = new Map<string, FixtureEntry>();
    const meta = (kind: EntryKind) => {
      const [uid, gid] = rng.pick(OWNERS);
      return { mode: kind === 'dir' ? rng.pick(DIR_MODES) : rng.pick(FILE_MODES), uid, gid, mtimeNs: fixedTime(rng) };
    };
    const add = (e: FixtureEntry) => {
      entries.push(e);
      byPath.set(e.path, e);
    };
    const addDir = (p: string) => {
      const e: FixtureEntry = { path: p, kind: 'dir', ...meta('dir') };
      const xattrs = randomXattrs(rng, 'dir') ?? [];
      if (!isBottom && rng.chance(0.15)) xattrs.push(['trusted.overlay.opaque', 'y']);
      if (!isBottom && lowerDirPaths.size && rng.chance(0.12)) {
        const dirs = [...lowerDirPaths];
        const parent = path.posix.dirname(p);
        const siblings = dirs.filter((d) => path.posix.dirname(d) === parent && d !== p);
        const relative = siblings.length > 0 && rng.chance(0.5);
        xattrs.push(['trusted.overlay.redirect', relative ? path.posix.basename(rng.pick(siblings)) : '/' + rng.pick(dirs)]);
      }
      if (xattrs.length) e.xattrs = xattrs;
      add(e);
    };
    const n = rng.int(2, 14);
    for (let i = 0; i < n; i++) {
      const depth = rng.weighted({ 1: 45, 2: 35, 3: 20 });
      const names = LEVEL_NAMES.slice(0, Number(depth)).map((pool) => rng.pick(pool));
      const p = names.join('/');
      if (byPath.has(p)) continue;
      // Parents must be directories of this same layer.
      let ok = true;
      for (let d = 1; d < names.length; d++) {
        const anc = names.slice(0, d).join('/');
        const have = byPath.get(anc);
        if (!have) addDir(anc);
        else if (have.kind !== 'dir') {
          ok = false;
          break;
        }
      }
      if (!ok) continue;
      const files = entries.filter((e) => e.kind === 'file');
      const kind = rng.weighted({
        dir: 25,
        file: 35,
        symlink: 10,
        hardlink: files.length ? 6 : 0,
        fifo: 3,
        whiteout: isBottom ? 0 : 14,
      });
      if (kind === 'dir') addDir(p);
      else if (kind === 'file') {
        const sizeClass = rng.weighted({ empty: 20, small: 50, medium: 20, big: bigFiles < 2 ? 4 : 0 });
        if (sizeClass === 'big') bigFiles++;
        const size = { empty: 0, small: rng.int(1, 200), medium: rng.int(201, 8192), big: rng.int(65_537, 200_000) }[sizeClass];
        const e: FixtureEntry = { path: p, kind, ...meta(kind), size, contentSeed: rng.u32() };
        const x = randomXattrs(rng, kind);
        if (x) e.xattrs = x;
        add(e);
      } else if (kind === 'symlink') {
        const target = rng.weighted({ sibling: 30, up: 15, deep: 10, absolute: 20, dangling: 15, root: 3, self: 2 });
        const base = path.posix.basename(p);
        const t = {
          sibling: rng.pick(LEVEL_NAMES[names.length - 1]!),
          up: names.length > 1 ? `../${rng.pick(LEVEL_NAMES[0])}` : `./${rng.pick(LEVEL_NAMES[0])}`,
          deep: `${rng.pick(LEVEL_NAMES[0])}/${rng.pick(LEVEL_NAMES[1])}`,
          absolute: `/${rng.pick(LEVEL_NAMES[0])}${rng.chance(0.5) ? '/' + rng.pick(LEVEL_NAMES[1]) : ''}`,
          dangling: `${rng.chance(0.3) ? NAME_LATIN1 : 'nope'}-${rng.int(0, 9)}`,
          root: '/',
          self: base,
        }[target];
        const e: FixtureEntry = { path: p, kind, ...meta(kind), target: t };
        e.mode = 0o777;
        const x = randomXattrs(rng, kind);
        if (x) e.xattrs = x.filter(([k]) => !k.startsWith('user.'));
        add(e);
      } else if (kind === 'hardlink') {
        add({ path: p, kind, mode: 0, uid: 0, gid: 0, mtimeNs: '0', target: rng.pick(files).path });
      } else if (kind === 'fifo') {
        add({ path: p, kind, ...meta(kind) });
      } else {
        add({ path: p, kind: 'whiteout', mode: 0, uid: 0, gid: 0, mtimeNs: fixedTime(rng) });
      }
    }
    return hideRedirectTargets(entries);
  };

  for (let i = 0; i < nLowers; i++) {
    const layer = genLayer(i === 0);
    layersBottomUp.push(layer);
    for (const e of layer) if (e.kind === 'dir') lowerDirPaths.add(e.path);
  }
  const upper = withUpper ? genLayer(false) : [];
  return { seed, lowers: layersBottomUp.reverse(), upper };
}

const XATTR_REDIRECT = 'trusted.overlay.redirect';
const XATTR_OPAQUE = 'trusted.overlay.opaque';

/** The layer path a dir's redirect names (`a/k` for `/a/k`, or the sibling for a relative one), or null. */
function redirectTarget(e: FixtureEntry): string | null {
  const r = e.xattrs?.find(([k]) => k === XATTR_REDIRECT)?.[1];
  if (r === undefined) return null;
  if (r.startsWith('/')) return r.slice(1);
  const parent = path.posix.dirname(e.path);
  return parent === '.' ? r : `${parent}/${r}`;
}

/**
 * Keeps redirects realistic. The kernel writes a redirect only when it moves a dir, and the move
 * leaves the old place hidden in the same layer (a whiteout, or a new opaque dir or another moved
 * dir over it), so no two union dirs ever share a lower dir. A hand-made redirect to a lower dir
 * that is still visible at its own path makes two union dirs (and every file in them) aliases of
 * one lower object: the kernel then answers from whichever alias its inode cache met first (a
 * copy-up through one name shows through the other; lstat of a second dir with the same origin
 * is ESTALE). So each redirect in a layer gets its target hidden in that layer: a whiteout at the
 * target (with its missing parents as plain dirs), unless the layer already hides it (a non-dir or
 * an opaque dir on the way, an opaque dir or a dir redirected elsewhere at the target). A redirect
 * whose target is a plain dir of the same layer, or a target that is, holds or lies in a target
 * already claimed by another redirect of the layer, is dropped (dropping one can make another
 * invalid: repeated until nothing changes). A redirect to the dir's own path stays as it is: the
 * kernel leaves that after moving a dir away and back.
 */
export function hideRedirectTargets(layer: readonly FixtureEntry[]): FixtureEntry[] {
  let entries = [...layer];
  for (;;) {
    const next = hideRedirectTargetsOnce(entries);
    if (next.length === entries.length && next.every((e, i) => e === entries[i])) return next;
    entries = next;
  }
}

function hideRedirectTargetsOnce(layer: readonly FixtureEntry[]): FixtureEntry[] {
  const entries = [...layer];
  const byPath = new Map(entries.map((e) => [e.path, e]));
  const claimed = new Set<string>();
  const isOpaque = (e: FixtureEntry) => e.xattrs?.some(([k, v]) => k === XATTR_OPAQUE && v === 'y') ?? false;
  for (let idx = 0; idx < layer.length; idx++) {
    const e = layer[idx]!;
    if (e.kind !== 'dir') continue;
    const target = redirectTarget(e);
    if (target === null || target === e.path) continue;
    // entries are shared with other descriptions (shrinking): replace, never change them
    const drop = () => {
      const xattrs = e.xattrs!.filter(([k]) => k !== XATTR_REDIRECT);
      const copy: FixtureEntry = { ...e, xattrs };
      if (xattrs.length === 0) delete copy.xattrs;
      entries[idx] = copy;
      byPath.set(e.path, copy);
    };
    const nested = (a: string, b: string) => a === b || a.startsWith(b + '/') || b.startsWith(a + '/');
    if ([...claimed].some((c) => nested(c, target))) {
      drop();
      continue;
    }
    claimed.add(target);
    const comps = target.split('/');
    let hidden = false;
    for (let i = 1; i < comps.length && !hidden; i++) {
      const anc = byPath.get(comps.slice(0, i).join('/'));
      if (anc && (anc.kind !== 'dir' || isOpaque(anc))) hidden = true;
    }
    if (hidden) continue;
    const at = byPath.get(target);
    if (at) {
      if (at.kind !== 'dir') continue;
      const own = redirectTarget(at);
      if (isOpaque(at) || (own !== null && own !== at.path)) continue;
      claimed.delete(target);
      drop();
      continue;
    }
    const t = FIXTURE_EPOCH_NS.toString();
    for (let i = 1; i < comps.length; i++) {
      const anc = comps.slice(0, i).join('/');
      if (byPath.has(anc)) continue;
      const d: FixtureEntry = { path: anc, kind: 'dir', mode: 0o755, uid: 0, gid: 0, mtimeNs: t };
      entries.push(d);
      byPath.set(anc, d);
    }
    const w: FixtureEntry = { path: target, kind: 'whiteout', mode: 0, uid: 0, gid: 0, mtimeNs: t };
    entries.push(w);
    byPath.set(target, w);
  }
  return entries;
}

/** Creates the entries of one layer inside `root` (which exists), times last, children before parents. */
export function buildLayer(root: string, entries: readonly FixtureEntry[]): void {
  const real = (p: string) => hostPath(root, p);
  for (const e of entries) {
    const p = real(e.path);
    switch (e.kind) {
      case 'dir':
        fs.mkdirSync(p);
        break;
      case 'file':
        fs.writeFileSync(p, contentBytes(e.contentSeed ?? 0, e.size ?? 0));
        break;
      case 'symlink':
        fs.symlinkSync(bytesOf(e.target ?? ''), p);
        break;
      case 'hardlink':
        fs.linkSync(real(e.target ?? ''), p);
        continue;
      case 'fifo':
        mknod(p, S_IFIFO | 0o600);
        break;
      case 'whiteout':
        mknod(p, S_IFCHR, 0, 0);
        break;
    }
    fs.lchownSync(p, e.uid, e.gid);
    // chmod after chown: chown clears setuid/setgid.
    if (e.kind !== 'symlink') fs.chmodSync(p, e.mode);
    for (const [name, value] of e.xattrs ?? []) lsetxattr(p, name, bytesOf(value));
  }
  const byDepth = [...entries].filter((e) => e.kind !== 'hardlink').sort((x, y) => y.path.split('/').length - x.path.split('/').length);
  for (const e of byDepth) {
    const t = BigInt(e.mtimeNs);
    utimensat(AT_FDCWD, real(e.path), t, t, AT_SYMLINK_NOFOLLOW);
  }
}

/** The fixed mtime given to every layer root. */
export const ROOT_MTIME_NS = FIXTURE_EPOCH_NS + 123_456_789n;

/** Builds the whole stack under `base` (created): l0..lN (top first), upper, work and mnt. */
export function buildFixture(desc: FixtureDesc, base: string): LayerDirs {
  fs.mkdirSync(base, { recursive: true });
  const dirs: LayerDirs = {
    base,
    lowers: desc.lowers.map((_, i) => path.join(base, `l${i}`)),
    upper: path.join(base, 'upper'),
    work: path.join(base, 'work'),
    mnt: path.join(base, 'mnt'),
  };
  const layers: [string, readonly FixtureEntry[]][] = [...desc.lowers.map((l, i) => [dirs.lowers[i]!, l] as [string, FixtureEntry[]]), [dirs.upper, desc.upper]];
  for (const [dir, entries] of layers) {
    fs.mkdirSync(dir);
    fs.chmodSync(dir, 0o755);
    buildLayer(dir, entries);
    utimensat(AT_FDCWD, dir, ROOT_MTIME_NS, ROOT_MTIME_NS, AT_SYMLINK_NOFOLLOW);
  }
  fs.mkdirSync(dirs.work);
  fs.mkdirSync(dirs.mnt);
  return dirs;
}

/** Every path that exists (as anything, incl. a whiteout) in some layer: names worth trying to create or delete. */
export function layerPaths(desc: FixtureDesc): string[] {
  const set = new Set<string>();
  for (const layer of [...desc.lowers, desc.upper]) for (const e of layer) set.add('/' + e.path);
  return [...set].sort();
}

/** The description without entry `index` of layer `layer` (-1 = upper), with what depended on it (children, hardlinks). */
export function withoutEntry(desc: FixtureDesc, layer: number, index: number): FixtureDesc {
  const drop = (entries: FixtureEntry[]): FixtureEntry[] => {
    const gone = entries[index]!;
    const removed = new Set<string>([gone.path]);
    return entries.filter((e, i) => {
      if (i === index) return false;
      const under = [...removed].some((r) => e.path.startsWith(r + '/'));
      const orphanLink = e.kind === 'hardlink' && removed.has(e.target ?? '');
      if (under || orphanLink) {
        removed.add(e.path);
        return false;
      }
      return true;
    });
  };
  // a dropped whiteout or dir must not leave a redirect target visible again
  if (layer === -1) return { ...desc, upper: hideRedirectTargets(drop(desc.upper)) };
  return { ...desc, lowers: desc.lowers.map((l, i) => (i === layer ? hideRedirectTargets(drop(l)) : l)) };
}
