/**
 * Handles: what `get`, `register`, `createRWLayer` and `getRWLayer` give out. Each call gives a
 * new, distinct handle (moby's `referencedCacheLayer` / `referencedRWLayer`), and each must be
 * released once; a released handle refuses further use. A handle stays valid only as long as its
 * store is open.
 */
import type { Change } from '../archive/diff/index.js';
import { TarReader } from '../archive/tar/index.js';
import type { Digest } from '../digest/index.js';
import { LayerStoreError } from './errors.js';
import { assertUsable, cacheIdOf, streamWhileMounting, totalSize, track, whileMounting, type MountedLayer, type RoLayer, type StoreState } from './state.js';
import { layerTarStream } from './tarstream.js';

function checkHeld(s: StoreState, held: boolean): void {
  assertUsable(s);
  if (!held) throw new LayerStoreError('LAYER_NOT_RETAINED', 'layer not retained');
}

/** A held read-only layer. */
export class Layer {
  /** @internal made by the store */
  constructor(
    private readonly s: StoreState,
    /** @internal */ readonly rec: RoLayer,
  ) {
    rec.handles.add(this);
  }

  get chainId(): Digest {
    return this.rec.chainId;
  }
  get diffId(): Digest {
    return this.rec.diffId;
  }
  /** The parent's ChainID, or undefined for a base layer. */
  get parent(): Digest | undefined {
    return this.rec.parent?.chainId;
  }
  get cacheId(): string {
    return this.rec.cacheId;
  }
  /** This layer's own size (the layerdb `size`; moby `DiffSize()`). */
  get size(): number {
    return this.rec.size;
  }
  /** With all ancestors (moby `Size()`). */
  get totalSize(): number {
    return totalSize(this.rec);
  }
  get depth(): number {
    return this.rec.depth;
  }
  /** False once released. */
  get held(): boolean {
    return this.rec.handles.has(this);
  }

  /**
   * The layer's tar exactly as registered, rebuilt from its tar-split and the driver's files;
   * fails at the end with `could not verify layer data for: <diffID>…` if the bytes do not hash
   * to the DiffID.
   */
  tarStream(opts: { signal?: AbortSignal } = {}): AsyncGenerator<Buffer> {
    checkHeld(this.s, this.held);
    if (this.s.driver.diffGetter) return layerTarStream(this.s, this.rec, opts.signal);
    return streamWhileMounting(this.s, () => layerTarStream(this.s, this.rec, opts.signal));
  }

  /**
   * What this layer changed relative to `ancestor` (one of its ancestors), as the driver's diff
   * makes it — not verified, and not byte-identical to anything registered (moby `TarStreamFrom`).
   */
  tarStreamFrom(ancestor: Digest): AsyncIterable<Buffer> {
    checkHeld(this.s, this.held);
    let a = this.rec.parent;
    while (a && a.chainId !== ancestor) a = a.parent;
    if (!a) throw new LayerStoreError('NOT_A_PARENT', `layer ID '${ancestor}' is not a parent of the specified layer: cannot provide diff to non-parent`);
    const from = a.cacheId;
    return streamWhileMounting(this.s, () => this.s.driver.diff(this.rec.cacheId, from));
  }

  /** The driver's description of the layer (overlay2: LowerDir, UpperDir, WorkDir, MergedDir). */
  async metadata(): Promise<Record<string, string>> {
    checkHeld(this.s, this.held);
    return this.s.driver.metadata(this.rec.cacheId);
  }
}

/** A held read-write layer. */
export class RWLayer {
  /** @internal made by the store */
  constructor(
    private readonly s: StoreState,
    /** @internal */ readonly rec: MountedLayer,
  ) {
    rec.handles.add(this);
  }

  get name(): string {
    return this.rec.name;
  }
  get mountId(): string {
    return this.rec.mountId;
  }
  get initId(): string | undefined {
    return this.rec.initId;
  }
  get parent(): Digest | undefined {
    return this.rec.parent?.chainId;
  }
  get held(): boolean {
    return this.rec.handles.has(this);
  }

  /** What the RW layer's diffs are taken against: its init layer, else its parent. */
  private get base(): string {
    return this.rec.initId ?? cacheIdOf(this.rec.parent);
  }

  /**
   * Mounts the RW layer (the driver counts: each mount needs an unmount, the last one unmounts)
   * and returns the root path. A mount another process made is found and shared, not repeated.
   */
  mount(mountLabel?: string): Promise<string> {
    return track(this.s, 'mount a read-write layer', async () => {
      checkHeld(this.s, this.held);
      return this.s.driver.get(this.rec.mountId, mountLabel);
    });
  }

  /** Balances one `mount`. */
  unmount(): Promise<void> {
    return track(this.s, 'unmount a read-write layer', async () => {
      checkHeld(this.s, this.held);
      return this.s.driver.put(this.rec.mountId);
    });
  }

  /** `docker diff`: the changes against the image (the init layer's files are not changes). */
  async changes(): Promise<Change[]> {
    checkHeld(this.s, this.held);
    return whileMounting(this.s, () => this.s.driver.changes(this.rec.mountId, this.base));
  }

  /** `docker commit`'s layer: a tar of the changes (register it to make an image layer). */
  tarStream(): AsyncIterable<Buffer> {
    checkHeld(this.s, this.held);
    const base = this.base;
    return streamWhileMounting(this.s, () => this.s.driver.diff(this.rec.mountId, base));
  }

  /** Size of the changes (moby `RWLayer.Size()`). */
  async size(): Promise<number> {
    checkHeld(this.s, this.held);
    return whileMounting(this.s, () => this.s.driver.diffSize(this.rec.mountId, this.base));
  }

  /** Applies a layer tar onto the RW layer; returns the size the driver measured. */
  applyDiff(tar: AsyncIterable<Uint8Array>): Promise<number> {
    return track(this.s, 'apply a diff', async () => {
      checkHeld(this.s, this.held);
      return this.s.driver.applyDiff(this.rec.mountId, this.base, new TarReader(tar));
    });
  }

  async metadata(): Promise<Record<string, string>> {
    checkHeld(this.s, this.held);
    return this.s.driver.metadata(this.rec.mountId);
  }
}
