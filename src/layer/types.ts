/**
 * The layer store's public values: what a caller can read about a layer or an RW layer, what
 * deleting reports, and what loading found wrong. Handles (`Layer`, `RWLayer`) are in handles.ts.
 */
import type { Digest } from '../digest/index.js';

/** One read-only layer as the store knows it (no handle is taken to read this). */
export interface LayerInfo {
  chainId: Digest;
  diffId: Digest;
  /** The parent's ChainID; absent for a base layer. */
  parent?: Digest;
  /** The graph driver's ID for the layer's files (`overlay2/<cacheId>`). */
  cacheId: string;
  /** The layerdb `size`: what the driver's apply measured for this layer alone (moby DiffSize). */
  size: number;
  /** `size` summed over the layer and all its ancestors (moby `Layer.Size()`, `docker images` SIZE). */
  totalSize: number;
  /** 1 for a base layer, parent's + 1 otherwise; at most 125. */
  depth: number;
  /** Holders: child layers, RW layers on it, and handles taken in this process. */
  references: { children: number; mounts: number; handles: number };
}

/** One read-write layer ("mount", named by its creator, e.g. a container ID). */
export interface MountInfo {
  name: string;
  /** The driver ID of the writable layer, 64 hex. */
  mountId: string;
  /** `<mountId>-init` when the RW layer has an init layer. */
  initId?: string;
  /** The ChainID the RW layer sits on; absent for an RW layer on nothing. */
  parent?: Digest;
  /** Handles taken in this process. */
  handles: number;
}

/** What a delete removed: one entry per layer, child first (moby's `layer.Metadata`). */
export interface LayerMetadata {
  chainId: Digest;
  diffId: Digest;
  /** Cumulative size, as `LayerInfo.totalSize`. */
  totalSize: number;
  /** This layer's own size, as `LayerInfo.size`. */
  size: number;
}

/**
 * An entry that loading skipped, and why. moby skips these silently (debug log); strata reports
 * each. A layer is skipped when a file is missing or invalid or its parent was skipped (then
 * `reason` names the parent); a mount when its files are invalid or its parent is not loaded.
 * `kind: 'entry'` is a name in `sha256/` or `mounts/` that is not a layer or mount at all.
 */
export interface LoadProblem {
  kind: 'layer' | 'mount' | 'entry';
  /** ChainID, mount name, or path relative to the layerdb. */
  name: string;
  reason: string;
}

/** What recovery (at a writable open, and in `cleanup`) removed that crashes had left behind. */
export interface RecoveryReport {
  /** `-removing` layer dirs finished (their driver data removed first). */
  removedLayers: Digest[];
  /** Write-sets in `tmp/` removed: interrupted registers, RW-layer creations and deletions. */
  writeSets: string[];
  /** Driver IDs removed because only an interrupted operation named them. */
  driverIds: string[];
}

/** Sets up a new init layer (mounted at `root`) before the RW layer is created on it. */
export type InitFunc = (root: string) => void | Promise<void>;

export interface CreateRWLayerOptions {
  /** SELinux label for the init layer's creation (moby passes it there only). */
  mountLabel?: string;
  /** Fills the `<mountId>-init` layer; without one there is no init layer. See `dockerInit`. */
  init?: InitFunc;
  /** Driver storage options, e.g. `{ size: '10G' }` (also given to the init layer, as moby does). */
  storageOpt?: Record<string, string>;
}

export interface RegisterOptions {
  /** Aborting stops the apply; nothing is registered and the parent is released. */
  signal?: AbortSignal;
}
