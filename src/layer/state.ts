/**
 * The layer store's in-memory state, shared by the functions that implement each operation
 * (load.ts, register.ts, release.ts, rwlayer.ts, recovery.ts). Not exported from the package:
 * callers see `LayerStore` and the handles.
 *
 * Reference counting is moby's: a layer's `refCount` is the number of its holders — each child
 * layer, each RW layer on it, each handle given out in this process. When it falls to 0 the layer
 * is deleted and its parent loses the hold the child had.
 *
 * Every change to these maps happens in synchronous code (between awaits), so concurrent calls
 * in one process see the maps whole: a layer leaves the map before its deletion starts, a name is
 * reserved before an RW layer's creation starts.
 */
import type { Digest } from '../digest/index.js';
import type { Driver } from '../driver/index.js';
import type { MetadataStore } from './metadata/index.js';
import type { LoadProblem } from './types.js';
import type { DataRootLock } from './lock.js';
import { LayerStoreError } from './errors.js';

/** The longest chain of read-only layers (moby `maxLayerDepth`): 125 + init + RW = 127 lowers. */
export const MAX_LAYER_DEPTH = 125;

export interface RoLayer {
  chainId: Digest;
  diffId: Digest;
  cacheId: string;
  size: number;
  parent: RoLayer | undefined;
  depth: number;
  refCount: number;
  /** Of the holders counted in refCount: child layers, RW layers. The rest are handles. */
  children: number;
  mounts: number;
  handles: Set<object>;
}

export interface MountedLayer {
  name: string;
  mountId: string;
  initId: string | undefined;
  parent: RoLayer | undefined;
  handles: Set<object>;
}

export interface StoreState {
  readonly root: string;
  readonly driver: Driver;
  readonly db: MetadataStore;
  readonly readOnly: boolean;
  lock: DataRootLock | undefined;
  readonly layers: Map<Digest, RoLayer>;
  readonly mounts: Map<string, MountedLayer>;
  /** Names of RW layers being created, reserved against a second creation. */
  readonly pendingMounts: Set<string>;
  /** Write-sets of operations running in this process: recovery leaves them alone. */
  readonly activeWriteSets: Set<string>;
  /** `-removing` dirs of deletes running in this process: recovery leaves them alone too. */
  readonly activeRemovals: Set<string>;
  /** Changes under way; `close()` waits for them before it lets go of the lock. */
  readonly inflight: Set<Promise<unknown>>;
  /** Set by `close()`: no new call starts. */
  closing: boolean;
  /** Entries loading skipped; a layer or mount that later loads fine is taken off. */
  problems: LoadProblem[];
}

/** Throws unless the store is open, and writable when `op` names a change. */
export function assertUsable(s: StoreState, op?: string): void {
  if (!s.lock || s.closing) throw new LayerStoreError('STORE_CLOSED', 'layer store is closed');
  if (op && s.readOnly) throw new LayerStoreError('STORE_READ_ONLY', `layer store opened read-only: cannot ${op}`);
}

export function totalSize(l: RoLayer): number {
  let n = 0;
  for (let c: RoLayer | undefined = l; c; c = c.parent) n += c.size;
  return n;
}

/** The driver ID a layer's children and RW layers are created on (`''` for none). */
export function cacheIdOf(l: RoLayer | undefined): string {
  return l ? l.cacheId : '';
}

/** Runs a change as one `close()` waits for (after checking the store is open and writable when `op` says so). */
export function track<T>(s: StoreState, op: string | undefined, f: () => Promise<T>): Promise<T> {
  try {
    assertUsable(s, op);
  } catch (e) {
    return Promise.reject(e); // a Promise-returning call fails by rejecting, never by throwing
  }
  const p = f();
  s.inflight.add(p);
  const done = () => s.inflight.delete(p);
  p.then(done, done);
  return p;
}

/** Runs `f` (which mounts and unmounts through the driver) inside the lock's mounting stretch. */
export async function whileMounting<T>(s: StoreState, f: () => Promise<T>): Promise<T> {
  const leave = s.lock ? await s.lock.enterMounting() : () => undefined;
  try {
    return await f();
  } finally {
    leave();
  }
}

/** `whileMounting` for a stream: the stretch lasts until the stream ends or is abandoned. */
export async function* streamWhileMounting<T>(s: StoreState, f: () => AsyncIterable<T>): AsyncGenerator<T> {
  const leave = s.lock ? await s.lock.enterMounting() : () => undefined;
  try {
    yield* f();
  } finally {
    leave();
  }
}
