/**
 * The layerdb: where Docker keeps what it knows *about* each layer and each container's RW layer.
 *
 * The layer's files live with the graph driver (`<root>/overlay2/<cache-id>/diff`); the layerdb at
 * `<root>/image/<driver>/layerdb/` holds the small facts that tie a content name to that driver
 * directory. One directory per layer, named by the layer's ChainID, and one per RW layer ("mount"),
 * named by whoever created it (a container ID). Every value is a tiny text file with no trailing
 * newline. Worked example — the base layer of an imported image, and a container created on it,
 * exactly as dockerd 20.10 left them:
 *
 *   layerdb/                                           0700
 *   ├── sha256/                                        0755
 *   │   └── 6accd2b6…2819/                             0700   ChainID hex (base layer: = DiffID)
 *   │       ├── diff        "sha256:6accd2b6…2819"     0644   71 bytes, the DiffID
 *   │       ├── size        "2245111"                  0644   decimal, read WITHOUT trimming
 *   │       ├── cache-id    "daf3da5d…d6ff"            0644   → overlay2/daf3da5d…d6ff/
 *   │       ├── tar-split.json.gz                      0644   how to rebuild the exact tar
 *   │       └── (parent     "sha256:<parent chain>")   0644   only for layers with a parent
 *   ├── mounts/                                        0755
 *   │   └── 662dcfd3…4039/                             0755   the container ID
 *   │       ├── mount-id    "1e3a567f…8efd"            0644   → overlay2/1e3a567f…8efd/ (RW)
 *   │       ├── init-id     "1e3a567f…8efd-init"       0644   → overlay2/1e3a567f…8efd-init/
 *   │       └── parent      "sha256:d24361e2…3e10"     0644   the image's top ChainID
 *   └── tmp/                                           0755   write-sets in progress
 *
 *   const db = new MetadataStore(`${root}/image/overlay2/layerdb`);
 *   db.list()                      // { layers: ['sha256:6accd2b6…2819', …], mounts: ['662dcfd3…4039', …], skipped: [] }
 *   db.readLayer(chain)            // { chainId, diffId, size: 2245111, cacheId: 'daf3da5d…d6ff' }
 *   db.readMount('662dcfd3…4039')  // { name, mountId: '1e3a567f…8efd', initId: '…-init', parent }
 *
 * **Adding a layer: the write-set transaction.** A layer directory must appear complete or not at
 * all, so it is built aside and published with one rename:
 *
 *   const tx = db.startTransaction();                  // tmp/write-set-4025044846/ (0700)
 *   try {
 *     const packer = tx.tarSplitWriter();              // tar-split.json.gz, filled while applying
 *     … apply the tar through the driver, recording into packer …
 *     await packer.close();                            // gzip finished, file fsync'd
 *     tx.setLayer({ diffId, size, cacheId, parent });  // diff, size, cache-id, parent: each fsync'd
 *     tx.commit(chainId);                              // fsync dir; rename → sha256/<hex>; fsync sha256/
 *   } finally {
 *     await tx.cancel();                               // no-op once committed
 *   }
 *
 * A process killed anywhere in there leaves at most a `tmp/write-set-*` (never listed; removed by
 * `sweepWriteSets`), and `commit` never replaces an existing layer (RENAME_NOREPLACE:
 * `LAYERDB_EXISTS`).
 *
 * **Removing a layer: the -removing protocol.** Deleting a directory is many steps, so the layer is
 * first unlisted with one rename, then its driver data is removed, then the directory:
 *
 *   const h = db.startRemove(chain);   // sha256/<hex> → sha256/<hex>-<64 random hex>-removing
 *   driver.remove(cacheId);            // overlay2/<cache-id>/ gone
 *   db.finishRemove(h);                // the -removing dir gone (cache-id last)
 *
 * If the process dies in between, `orphans()` finds each `-removing` dir with its `cache-id`, and
 * cleanup does the last two steps again (the driver ignoring a cache-id that is already gone).
 * `finishRemove` deletes `cache-id` last, so a `-removing` dir without one (`orphans().finished`)
 * died after its driver data was gone and only needs `finishRemove` — moby skips those forever.
 *
 * **Mounts** are written with `saveMount(name, {mountId, initId, parent})`: the files are staged in
 * a write-set and the directory renamed into `mounts/` in one step (moby writes them one by one
 * with no fsync); the single setters replace one file whole. `removeMount` moves the directory
 * into `tmp/` before deleting it.
 *
 * Everything is synchronous, as moby's file store is: the files are a few bytes, and loading a
 * store of 10,000 layers is 40,000 small reads that the thread pool would only slow down. Only the
 * tar-split writer (a stream) and `cancel` (which may abort it) are asynchronous. Locking between
 * processes is the caller's (the layer store's) business; this module assumes one writer at a time
 * per layerdb, and any number of readers, who only ever see whole layers and whole mounts.
 */
export { MetadataStore, type LayerRecord, type MountRecord } from './store.js';
export { LayerTransaction, type LayerValues } from './transaction.js';
export { MountTransaction, type MountValues } from './mounts.js';
export type { Listing, SkippedEntry, RemovingLayer, Orphan, OrphanListing, WriteSetIntent } from './scan.js';
export { type Descriptor, type Platform, marshalDescriptor } from './descriptor.js';
export { LayerDbError, type LayerDbErrorCode } from './errors.js';
export { LAYER_FILES, MOUNT_FILES, checkMountName } from './layout.js';
export { goTrimSpace, goParseInt64 } from './gocompat.js';
export { isPlainDriverId } from './read.js';

/**
 * moby's `isValidID` (HEAD) / the 20.10 regex `^[a-f0-9]{64}(-init)?$`: whether a mount-id or
 * init-id read from a mount's files is acceptable. Only the 64-hex kind, with an optional
 * `-init`; BuildKit's 25-character cache-ids never appear here.
 */
export { isValidMountId as isValidId } from '../../digest/index.js';
