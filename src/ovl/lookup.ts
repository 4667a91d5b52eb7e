/**
 * Lookup: which layers a name lives in, by the kernel's rules (fs/overlayfs/namei.c). Layers are
 * searched top to bottom: a whiteout ends the search with a negative answer; a non-directory ends
 * it (and is ignored when a directory was found above); directories join the merge stack until an
 * opaque one; a redirect makes the lower layers be searched at another name (relative: a sibling;
 * absolute: a path from each lower layer's root, which also lifts a stop caused by an opaque
 * ancestor).
 */
import { OvlEntry, type LowerRef } from './entry.js';
import { isAnyWhiteout, isOpaqueDir, kindOfMode, listRaw, lstatMaybe, readRedirect } from './realfs.js';
import type { OvlFileType } from './types.js';

/** What lookup needs to know about the overlay. */
export interface LookupEnv {
  readonly upper: string | null;
  readonly lowers: readonly string[];
  /** Follow redirects found in layers ('on', 'follow', 'off'); 'nofollow' ignores them. */
  readonly followRedirects: boolean;
  readonly root: OvlEntry;
}

/** The state of one lookup across the layers (the kernel's ovl_lookup_data). */
interface Walk {
  name: string;
  isDir: boolean;
  stop: boolean;
}

interface Found {
  kind: OvlFileType;
  rel: string;
}

/** Builds the lower-name index of a merge dir: for each name, the stack positions whose dir holds it. */
export function lowerNames(env: LookupEnv, dir: OvlEntry): Map<string, number[]> {
  if (dir.lowerNames) return dir.lowerNames;
  const listings = lowerListings(env, dir);
  const names = new Map<string, number[]>();
  listings.forEach((l, pos) => {
    if (!l) return;
    for (const n of l.names) {
      if (n === '.' || n === '..') continue;
      const hits = names.get(n);
      if (hits) hits.push(pos);
      else names.set(n, [pos]);
    }
  });
  dir.lowerNames = names;
  return names;
}

/** Each lower dir's listing of a directory, read once (lower layers do not change under a live overlay). */
export function lowerListings(env: LookupEnv, dir: OvlEntry) {
  if (!dir.lowerListings) {
    dir.lowerListings = dir.lower.map((ref) => {
      try {
        return listRaw(env.lowers[ref.layer]! + ref.rel);
      } catch {
        return null;
      }
    });
  }
  return dir.lowerListings;
}

/**
 * Looks the walk's name up in one lower layer, with the kernel's per-layer rules (ovl_lookup_layer):
 * a plain name inside the dir at `baseRel`, or an absolute redirect's path from the layer's root,
 * one component at a time. A whiteout or non-directory on the way ends the search below; a
 * non-directory is only an answer as the last component and when no directory was found above;
 * an opaque directory stops the layers below; a redirect rewrites the name for the layers below
 * (an absolute one also lifts a stop). `last` is the bottom layer, where opaque and redirects do
 * not matter.
 */
function lookupLayer(env: LookupEnv, layer: number, baseRel: string, w: Walk, last: boolean): Found | null {
  const root = env.lowers[layer]!;
  const absolute = w.name.startsWith('/');
  const comps = absolute ? w.name.slice(1).split('/') : [w.name];
  let rel = absolute ? '' : baseRel;
  for (let k = 0; k < comps.length; k++) {
    const comp = comps[k]!;
    const post = k === comps.length - 1 ? '' : '/' + comps.slice(k + 1).join('/');
    const lastElement = post === '';
    const p = root + rel + '/' + comp;
    const st = lstatMaybe(p);
    if (!st) return null;
    if (isAnyWhiteout(p, st)) {
      w.stop = true;
      return null;
    }
    const kind = kindOfMode(st.mode);
    if (kind !== 'dir') {
      w.stop = true;
      return w.isDir || !lastElement ? null : { kind, rel: rel + '/' + comp };
    }
    if (lastElement) w.isDir = true;
    rel += '/' + comp;
    if (last) continue;
    if (isOpaqueDir(p)) {
      w.stop = true;
      continue;
    }
    if (env.followRedirects) {
      const r = readRedirect(p);
      if (r !== undefined) {
        if (r.startsWith('/')) {
          w.name = r + post;
          w.stop = false;
        } else {
          // a relative redirect renames this component
          w.name = w.name.slice(0, w.name.length - (comp.length + post.length)) + r + post;
        }
      }
    }
  }
  return { kind: 'dir', rel };
}

/**
 * Resolves `name` in directory `dir` across the layers: a new entry, or null when the name is
 * absent or whited out. The caller caches the answer in `dir.children`.
 */
export function lookupInLayers(env: LookupEnv, dir: OvlEntry, name: string): OvlEntry | null {
  const w: Walk = { name, isDir: false, stop: false };
  let upper = false;
  let kind: OvlFileType | null = null;
  let opaque = false;
  let redirect: string | null = null;

  if (dir.upper && env.upper !== null) {
    const p = env.upper + dir.rel + '/' + name;
    const st = lstatMaybe(p);
    if (st) {
      if (isAnyWhiteout(p, st)) return null;
      upper = true;
      kind = kindOfMode(st.mode);
      if (kind !== 'dir') w.stop = true;
      else {
        w.isDir = true;
        if (isOpaqueDir(p)) {
          w.stop = true;
          opaque = true;
        } else if (env.followRedirects) {
          const r = readRedirect(p);
          if (r !== undefined) {
            redirect = r;
            w.name = r;
          }
        }
      }
    }
  }

  const stack: LowerRef[] = [];
  let lowerObject: LowerRef | null = null;
  let poe = dir.lower;
  if (w.name.startsWith('/')) poe = env.root.lower;
  // A merge dir's lower names are indexed once; other dirs are looked up directly.
  let index = poe === dir.lower && poe.length > 1 && !w.name.startsWith('/') ? lowerNames(env, dir) : null;
  let hits = index?.get(w.name);
  let hitAt = 0;
  const bottom = env.lowers.length - 1;

  for (let i = 0; !w.stop && i < poe.length; i++) {
    if (index) {
      while (hits && hitAt < hits.length && hits[hitAt]! < i) hitAt++;
      if (!hits || hitAt >= hits.length) break;
      i = hits[hitAt]!;
    }
    const ref = poe[i]!;
    const last = ref.layer === bottom;
    const before = w.name;
    const found = lookupLayer(env, ref.layer, ref.rel, w, last);
    if (found) {
      if (found.kind === 'dir') stack.push({ layer: ref.layer, rel: found.rel });
      else if (kind === null) {
        kind = found.kind;
        lowerObject = { layer: ref.layer, rel: found.rel };
      }
      if (found.kind === 'dir' && kind === null) kind = 'dir';
    }
    if (w.stop) break;
    if (w.name !== before) {
      if (w.name.startsWith('/')) {
        // an absolute redirect: go on from the root's stack, below the current layer (the name
        // index only knows plain names of this dir)
        if (poe !== env.root.lower) {
          poe = env.root.lower;
          i = ref.layer;
        }
        index = null;
      } else if (index) {
        hits = index.get(w.name);
        hitAt = 0;
      }
    }
  }

  if (kind === null) return null;
  if (kind === 'dir') {
    const e = new OvlEntry(dir, name, 'dir', upper, stack);
    e.opaque = opaque;
    e.redirect = redirect;
    return e;
  }
  if (upper) return new OvlEntry(dir, name, kind, true, []);
  return new OvlEntry(dir, name, kind, false, lowerObject ? [lowerObject] : []);
}
