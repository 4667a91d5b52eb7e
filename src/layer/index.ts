/**
 * The layer store: Docker's `layer` package. Read-only layers named by ChainID, kept by a graph
 * driver (their files) and the layerdb (their facts: DiffID, size, cache-id, parent, tar-split),
 * shared by reference counts; and read-write layers named by their creator, each on an image's
 * top layer and usually over an init layer.
 *
 * The lifecycle — load an image's layers, run a container on them, commit it, clean up:
 *
 *   const store = await openLayerStore({ root: '/var/lib/strata' });   // exclusive lock; loads all
 *   const base = await store.register(fs.createReadStream('base.tar'));   // DiffID = ChainID
 *   const app = await store.register(appTar, base.chainId);    // ChainID = H(base + ' ' + DiffID)
 *   const rw = await store.createRWLayer('web-1', app.chainId, { init: dockerInit() });
 *   const rootfs = await rw.mount();                           // overlay: app, base, -init, rw
 *   fs.writeFileSync(`${rootfs}/etc/motd`, 'hi\n');
 *   await rw.changes();                                        // [{ kind: 'C', path: '/etc' }, { kind: 'A', path: '/etc/motd' }]
 *   const committed = await store.register(rw.tarStream(), app.chainId);   // `docker commit`
 *   await rw.unmount();
 *   await store.releaseRWLayer(rw);                            // RW + init layers deleted
 *   for await (const chunk of app.tarStream()) out.write(chunk);   // the registered tar, verified
 *   await store.release(committed);                            // → [committed]: nothing else held it
 *   await store.release(base);                                 // → []: app, its child, still holds it
 *   await store.release(app);                                  // → [app, base]: child first
 *   await store.close();
 *
 * Rules (moby's, tested against dockerd 20.10):
 * - Every `get`/`register`/`createRWLayer`/`getRWLayer` returns a new handle; release each once.
 *   A layer is held by its handles, its child layers and the RW layers on it; the last release
 *   deletes it and then each ancestor left unheld, child first.
 * - Registering a tar whose ChainID exists returns a handle on the existing layer (the new copy
 *   is applied, then discarded). Chains are at most 125 layers: `max depth exceeded`.
 * - A layer's tar comes back byte for byte (tar-split + files) and is verified against its DiffID.
 * - An RW layer's diff, changes and tar are taken against its init layer, so the init files
 *   (`/etc/hosts`, …) are never part of a commit.
 * - Loading rebuilds every count from disk; a layer or mount that does not load is skipped with
 *   everything that depends on it, and listed in `problems` (moby only logs it at debug level).
 *
 * Crash safety: every change is a write-set renamed into place (register, RW-layer creation) or
 * unlisted by one rename before anything is deleted (layer and RW-layer deletion). A process
 * killed at any point leaves the store loading cleanly, with only whole layers; what it left in
 * `tmp/` or as `-removing` is finished at the next writable open (`recovered`) — see recovery.ts.
 *
 * Locking (lock.ts): a writable store holds an exclusive flock on `<root>/strata.lock` from open
 * to close, a read-only one (`readOnly: true`) a shared lock. So two strata processes never write
 * one data root at once, and a reader never sees a writer's half-done step; opening waits for
 * the lock (or fails at once with `lock: 'fail'`). Within one process, calls may overlap freely:
 * every change to the in-memory state happens between awaits. A data root a running dockerd owns
 * (dockerd.ts: its process, or the lock on its network store) is refused for writing —
 * `STORE_OWNED_BY_DOCKERD` — unless `ignoreDockerd`; reading it is allowed.
 */
export { openLayerStore, LayerStore, type OpenLayerStoreOptions } from './store.js';
export { Layer, RWLayer } from './handles.js';
export { dockerInit } from './initlayer.js';
export { LayerStoreError, type LayerStoreErrorCode } from './errors.js';
export { LOCK_FILE } from './lock.js';
export { MAX_LAYER_DEPTH } from './state.js';
export type {
  LayerInfo,
  MountInfo,
  LayerMetadata,
  LoadProblem,
  RecoveryReport,
  InitFunc,
  CreateRWLayerOptions,
  RegisterOptions,
} from './types.js';
export * as metadata from './metadata/index.js';
