/**
 * `LayerStore`: moby's `layerStore` — read-only layers by ChainID with reference counts, RW layers
 * by name, over one graph driver and its layerdb. See index.ts for the lifecycle.
 */
import fs from 'node:fs';
import path from 'node:path';
import { parseDigest, type Digest } from '../digest/index.js';
import { openDriver, type Driver } from '../driver/index.js';
import { MetadataStore } from './metadata/index.js';
import { LayerStoreError, errLayerDoesNotExist } from './errors.js';
import { DataRootLock, type LockOptions } from './lock.js';
import { dockerdOwning } from './dockerd.js';
import { loadAll } from './load.js';
import { registerLayer } from './register.js';
import { dropHold } from './release.js';
import { createRWLayer, mountOf, removeRWLayer } from './rwlayer.js';
import { recover } from './recovery.js';
import { Layer, RWLayer } from './handles.js';
import { assertUsable, totalSize, track, type RoLayer, type StoreState } from './state.js';
import type {
  CreateRWLayerOptions,
  LayerInfo,
  LayerMetadata,
  LoadProblem,
  MountInfo,
  RecoveryReport,
  RegisterOptions,
} from './types.js';

export interface OpenLayerStoreOptions extends LockOptions {
  /** The data root (`/var/lib/docker`, `/var/lib/strata`, …). */
  root: string;
  /**
   * A driver name (`overlay2`, `vfs`), or a driver already started on this root. Without one the
   * driver is chosen as dockerd 20.10 chooses it (`STRATA_DRIVER`, then what the root already
   * uses, then the priority list).
   */
  driver?: string | Driver;
  /** Driver options, `key=value` (dockerd's `--storage-opt`). */
  driverOptions?: string[];
  /**
   * Open for writing even though a dockerd is running on this data root (it is refused otherwise:
   * `STORE_OWNED_BY_DOCKERD`). Reading never needs it.
   */
  ignoreDockerd?: boolean;
  /** Open under the shared lock: reading only, any number at once. */
  readOnly?: boolean;
}

function infoOf(l: RoLayer): LayerInfo {
  const info: LayerInfo = {
    chainId: l.chainId,
    diffId: l.diffId,
    cacheId: l.cacheId,
    size: l.size,
    totalSize: totalSize(l),
    depth: l.depth,
    references: { children: l.children, mounts: l.mounts, handles: l.handles.size },
  };
  if (l.parent) info.parent = l.parent.chainId;
  return info;
}

/**
 * Opens the layer store of a data root: takes the data-root lock (exclusive, or shared when
 * `readOnly`), starts the driver, loads every layer and mount (see `problems` for what did not
 * load) and, when writable, finishes what interrupted operations left (see `recovered`).
 */
export async function openLayerStore(opts: OpenLayerStoreOptions): Promise<LayerStore> {
  const root = path.resolve(opts.root);
  const readOnly = opts.readOnly === true;
  // Starting a driver makes its directories: a reader must not make a data root.
  if (readOnly && !fs.existsSync(root)) throw new LayerStoreError('NO_DATA_ROOT', `data root ${root} does not exist`);
  const owner = readOnly || opts.ignoreDockerd ? undefined : dockerdOwning(root);
  if (owner) {
    const who = owner.pid !== undefined ? `a running dockerd (pid ${owner.pid})` : 'a running dockerd';
    throw new LayerStoreError('STORE_OWNED_BY_DOCKERD', `data root ${root} is in use by ${who}: stop it first, or only read (--ignore-dockerd to write anyway)`);
  }
  const lock = await DataRootLock.acquire(root, readOnly ? 'shared' : 'exclusive', opts);
  try {
    const driver =
      typeof opts.driver === 'object'
        ? opts.driver
        : (await openDriver({ root, ...(opts.driver ? { name: opts.driver } : {}), options: opts.driverOptions ?? [] })).driver;
    const db = new MetadataStore(path.join(root, 'image', driver.name, 'layerdb'));
    const state: StoreState = {
      root,
      driver,
      db,
      readOnly,
      lock,
      layers: new Map(),
      mounts: new Map(),
      pendingMounts: new Set(),
      activeWriteSets: new Set(),
      activeRemovals: new Set(),
      inflight: new Set(),
      closing: false,
      problems: [],
    };
    loadAll(state);
    const recovered = readOnly ? { removedLayers: [], writeSets: [], driverIds: [] } : await recover(state);
    return new LayerStore(state, recovered);
  } catch (e) {
    lock.release();
    throw e;
  }
}

export class LayerStore {
  /** @internal use `openLayerStore` */
  constructor(
    private readonly s: StoreState,
    /** What opening found left by interrupted operations and finished (empty when read-only). */
    readonly recovered: RecoveryReport,
  ) {}

  /** The data root. */
  get root(): string {
    return this.s.root;
  }
  get driver(): Driver {
    return this.s.driver;
  }
  /** The layerdb, for reading its files directly. Write through the store, never through this. */
  get metadata(): MetadataStore {
    return this.s.db;
  }
  get readOnly(): boolean {
    return this.s.readOnly;
  }
  /** What loading skipped, and why (moby skips these silently). */
  get problems(): readonly LoadProblem[] {
    return this.s.problems;
  }

  // ---- read-only layers ---------------------------------------------------------------------

  /** Every loaded layer, ordered by ChainID. */
  layers(): LayerInfo[] {
    assertUsable(this.s);
    return [...this.s.layers.values()].sort((a, b) => (a.chainId < b.chainId ? -1 : 1)).map(infoOf);
  }

  /** One layer's facts (no handle is taken); `layer does not exist` if it is not loaded. */
  layer(chainId: Digest): LayerInfo {
    assertUsable(this.s);
    return infoOf(this.lookup(chainId));
  }

  has(chainId: Digest): boolean {
    assertUsable(this.s);
    return this.s.layers.has(chainId);
  }

  private lookup(chainId: Digest): RoLayer {
    const l = this.s.layers.get(parseDigest(chainId));
    if (!l) throw errLayerDoesNotExist(chainId);
    return l;
  }

  /** A new handle on a loaded layer (one more holder). */
  get(chainId: Digest): Layer {
    assertUsable(this.s);
    const l = this.lookup(chainId);
    l.refCount++;
    return new Layer(this.s, l);
  }

  /**
   * Registers a layer from its uncompressed tar on `parent` (a ChainID, or none for a base
   * layer) and returns a handle. The tar is read once: hashed (the DiffID), recorded (tar-split)
   * and applied. If a layer with the resulting ChainID exists, the handle is on that one and the
   * new data is discarded. On any failure nothing is left registered.
   */
  register(tar: AsyncIterable<Uint8Array>, parent?: Digest, opts?: RegisterOptions): Promise<Layer> {
    return track(this.s, 'register a layer', async () => new Layer(this.s, await registerLayer(this.s, tar, parent, opts)));
  }

  /**
   * Releases a handle from `get` or `register`. A layer left with no holder is deleted, then each
   * ancestor that this leaves unheld; returns those deleted, child first. `layer not retained` for
   * a handle already released; a layer already gone gives `[]`. In a read-only store the handle
   * is let go and nothing is ever deleted.
   */
  release(layer: Layer): Promise<LayerMetadata[]> {
    return track(this.s, undefined, async () => {
      const cur = this.s.layers.get(layer.rec.chainId);
      if (!cur) return [];
      if (cur !== layer.rec || !cur.handles.delete(layer)) throw new LayerStoreError('LAYER_NOT_RETAINED', 'layer not retained');
      if (this.s.readOnly) {
        cur.refCount--; // a read-only store lets go of handles but never deletes
        return [];
      }
      return dropHold(this.s, cur);
    });
  }

  /**
   * Deletes a layer nothing holds (`strata layer rm`), then each ancestor left unheld; returns
   * those deleted, child first. A layer with children, RW layers or handles is `LAYER_IN_USE`.
   */
  remove(chainId: Digest): Promise<LayerMetadata[]> {
    return track(this.s, 'remove a layer', () => this.removeUnheld(chainId));
  }

  private async removeUnheld(chainId: Digest): Promise<LayerMetadata[]> {
    const l = this.lookup(chainId);
    if (l.refCount > 0) {
      const holders = [
        l.children ? `${l.children} child layer${l.children > 1 ? 's' : ''}` : '',
        l.mounts ? `${l.mounts} read-write layer${l.mounts > 1 ? 's' : ''}` : '',
        l.handles.size ? `${l.handles.size} open handle${l.handles.size > 1 ? 's' : ''}` : '',
      ].filter(Boolean);
      throw new LayerStoreError('LAYER_IN_USE', `layer ${l.chainId} is in use: held by ${holders.join(', ') || 'another holder'}`);
    }
    l.refCount++; // the hold dropHold lets go of
    return dropHold(this.s, l);
  }

  // ---- read-write layers --------------------------------------------------------------------

  /**
   * Creates RW layer `name` on `parent` (a ChainID, or none), with an init layer when
   * `opts.init` is given (see `dockerInit`), and returns a handle. `mount already exists with
   * name` if the name is taken.
   */
  createRWLayer(name: string, parent?: Digest, opts?: CreateRWLayerOptions): Promise<RWLayer> {
    return track(this.s, 'create a read-write layer', async () => new RWLayer(this.s, await createRWLayer(this.s, name, parent, opts)));
  }

  /** A new handle on RW layer `name`; `mount does not exist` if there is none. */
  getRWLayer(name: string): RWLayer {
    assertUsable(this.s);
    return new RWLayer(this.s, mountOf(this.s, name));
  }

  /** The driver ID of RW layer `name`. */
  getMountId(name: string): string {
    assertUsable(this.s);
    return mountOf(this.s, name).mountId;
  }

  /** Every loaded RW layer, ordered by name. */
  mounts(): MountInfo[] {
    assertUsable(this.s);
    return [...this.s.mounts.values()]
      .sort((a, b) => (a.name < b.name ? -1 : 1))
      .map((m) => {
        const info: MountInfo = { name: m.name, mountId: m.mountId, handles: m.handles.size };
        if (m.initId) info.initId = m.initId;
        if (m.parent) info.parent = m.parent.chainId;
        return info;
      });
  }

  /**
   * Releases a handle from `createRWLayer`/`getRWLayer`. When it was the last, the RW layer and
   * its init layer are deleted and the parent released (returns the read-only layers that
   * deleted). Whether it is still mounted is not checked (as moby): the driver's remove unmounts.
   * In a read-only store the handle is let go and nothing is deleted.
   */
  releaseRWLayer(rw: RWLayer): Promise<LayerMetadata[]> {
    return track(this.s, undefined, async () => {
      const m = this.s.mounts.get(rw.rec.name);
      if (!m) return [];
      if (m !== rw.rec || !m.handles.delete(rw)) throw new LayerStoreError('LAYER_NOT_RETAINED', 'layer not retained');
      if (m.handles.size > 0 || this.s.readOnly) return [];
      try {
        return await removeRWLayer(this.s, m);
      } catch (e) {
        m.handles.add(rw);
        throw e;
      }
    });
  }

  // ---- the store ----------------------------------------------------------------------------

  /** The driver's `docker info` lines. */
  status(): [string, string][] {
    return this.s.driver.status();
  }

  /**
   * moby's `Cleanup` (what dockerd runs at shutdown): finishes interrupted operations (as at
   * open), then the driver's cleanup — for overlay2, unmounting every mount under its home.
   */
  cleanup(): Promise<RecoveryReport> {
    return track(this.s, 'clean up', async () => {
      const report = await recover(this.s);
      await this.s.driver.cleanup();
      return report;
    });
  }

  /**
   * Closes the store: new calls fail with `layer store is closed`, the changes under way finish
   * (their failures are theirs to report), then the data-root lock goes. Mounts stay mounted;
   * handles become unusable. Idempotent.
   */
  async close(): Promise<void> {
    this.s.closing = true;
    while (this.s.inflight.size > 0) await Promise.allSettled([...this.s.inflight]);
    const lock = this.s.lock;
    this.s.lock = undefined;
    lock?.release();
  }
}
