/**
 * OvlEntry: one union dentry, the engine's OvlNode. It records where the name lives: in the upper
 * layer (always at the same path as in the union) and/or in lower layers (a merge stack of
 * directories, or the one lower object or copy-up origin of a non-directory), plus the flags the
 * kernel keeps on its overlay inode (opaque, redirect, impure). Directories cache their looked-up
 * children (the dcache) and, when several lower layers merge, one index of the lower names.
 */
import type { RawDirents } from '../sys/index.js';
import type { OvlFileType, OvlNode, OvlStat } from './types.js';

/** A directory or object in a lower layer: layer index (0 = top lower) and path inside it ('' = its root). */
export interface LowerRef {
  layer: number;
  rel: string;
}

/** What a copied-up non-directory keeps from its origin: the lower inode's number and link count. */
export interface OriginInfo {
  ino: bigint;
  nlink: number;
}

export class OvlEntry implements OvlNode {
  /** Null for the root. */
  parent: OvlEntry | null;
  name: string;
  kind: OvlFileType;
  /** The object exists in the upper layer at this entry's union path. */
  upper: boolean;
  /** Directories: the lower dirs merged below (top first). Non-directories: the lower object, or the copy-up origin. */
  lower: LowerRef[];
  /** The upper directory is opaque (`opaque=y`): nothing below merges. */
  opaque = false;
  /** The directory's redirect (from its upper xattr, or set by a rename with redirectDir 'on'). */
  redirect: string | null = null;
  /** Directory: its upper dir is marked impure (holds copied-up or moved entries). Undefined until read. */
  impure: boolean | undefined = undefined;
  /** Non-directory in upper: its decoded origin (null: none or stale). Undefined until decoded. */
  origin: OriginInfo | null | undefined = undefined;
  /** Looked-up names: an entry, or null for a name known to be absent or whited out. */
  children: Map<string, OvlEntry | null> | null = null;
  /** Merge dirs: name -> stack positions (index into `lower`) holding it, with d_type, from the lower listings. */
  lowerNames: Map<string, number[]> | null = null;
  /** Merge dirs: each lower dir's listing in native order (lower layers never change under a live overlay). */
  lowerListings: (RawDirents | null)[] | null = null;
  /** Bumped on every change of the directory's entries: open readdir caches rebuild on rewind when it moved. */
  version = 0;
  /** Set when the name was removed (unlink, rmdir, rename over it); operations then fail with ENOENT. */
  removed = false;
  /** A directory's attributes as it was removed: what the kernel's open directory still answers to fstat. */
  removedStat: OvlStat | null = null;
  /** Cached lower-side attributes that never change: the top lower object's ino (merged dirs). */
  lowerIno: bigint | undefined = undefined;

  constructor(parent: OvlEntry | null, name: string, kind: OvlFileType, upper: boolean, lower: LowerRef[]) {
    this.parent = parent;
    this.name = name;
    this.kind = kind;
    this.upper = upper;
    this.lower = lower;
    if (kind === 'dir') this.children = new Map();
  }

  /** The union path: '/' for the root, '/a/b' below it. */
  get path(): string {
    if (this.parent === null) return '/';
    let p = '/' + this.name;
    for (let e = this.parent; e.parent !== null; e = e.parent) p = '/' + e.name + p;
    return p;
  }

  /** The path relative to a layer root: '' for the root, '/a/b' below it. */
  get rel(): string {
    return this.parent === null ? '' : this.path;
  }

  get isDir(): boolean {
    return this.kind === 'dir';
  }

  /** A merge dir in the kernel's sense (OVL_TYPE_MERGE): upper with lowers below, or several lowers. */
  get isMerge(): boolean {
    return this.kind === 'dir' && (this.upper ? this.lower.length > 0 : this.lower.length > 1);
  }

  /** The entry exists only in the upper layer (nothing below, no origin). */
  get pureUpper(): boolean {
    return this.upper && this.lower.length === 0;
  }

  /** Marks this entry and every cached descendant removed. */
  markRemoved(): void {
    this.removed = true;
    if (this.children) {
      for (const c of this.children.values()) if (c) c.markRemoved();
      this.children.clear();
    }
  }
}
