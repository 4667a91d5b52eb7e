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
 * Verbs that span stores (a load: layers, then images, then tags) add an intent on top, undone or
 * finished by the engine's next writable open (engine/intent.ts). Both are checked by SIGKILLing
 * at every step (test/layer/store-crash-points.test.ts) and at random steps of every `strata`
 * verb (test/engine/crash.test.ts; scripts/crash-trials.ts for the long run).
 *
 * Locking (lock.ts) — one writer or many readers per data root, for a whole command:
 * - Every `strata` command opens the data root once and keeps it open until it is done. Commands
 *   that change anything take an exclusive flock on `<root>/strata.lock` (and on the root directory
 *   itself, for readers of a root that has no strata.lock yet): load, pull, tag, rmi,
 *   prune, create, commit, rm, mount, umount, diff, export, cp (these three mount), push,
 *   fsck --repair, layer add/rm, rw create/mount/umount/diff/rm. The rest take it shared: images,
 *   inspect, history, save, ps, df, fsck, layer ls/inspect/tree/export, rw ls — on strata.lock
 *   when it exists, else on the root directory, so reading a dockerd's root creates nothing in
 *   it. A writable open
 *   recovers first, under the same lock, before the verb runs.
 * - A reader that must mount (a driver without a diff getter, overlay2's naive diff) also takes an
 *   exclusive OFD lock on the lock file's first byte while its mounts live (lock.ts says why).
 * - Opening waits for the lock (`lock: 'fail'` gives `STORE_LOCKED` instead); the CLI says that
 *   it waits. Within one process, calls on one open store may overlap freely: every change to the
 *   in-memory state happens between awaits.
 * Why it cannot deadlock: each process takes the lock of one data root once per command (a
 * writer: the file, then the directory, always in that order; the directory's other holders are
 * readers that hold nothing else and wait for nothing), never a second (no verb opens another store on the same root, or a second root while holding
 * one), and never upgrades it (a reader does not ask for the exclusive lock while holding the
 * shared one); the byte lock is taken only under the shared lock and let go before it. The only
 * wait while holding a lock is a mounting reader's for the byte lock, whose holder waits for
 * nothing more; so there is no cycle, and every wait ends when a holder finishes — or dies: flock
 * and OFD locks belong to the open file, and a SIGKILLed holder's go with its last fd. Linux's
 * flock is not fair: a steady stream of readers can keep a writer waiting (each reader
 * is short). test/engine/concurrency.test.ts runs 8 processes × 50 mixed commands on one root and
 * checks, in lock order, that each saw exactly what the previous writer left.
 *
 * A data root a running dockerd owns (dockerd.ts: its process, or the lock on its network store)
 * is refused for writing — `STORE_OWNED_BY_DOCKERD` — unless `ignoreDockerd`; reading it is
 * allowed. dockerd does not know strata's lock.
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
