/**
 * The engine: what dockerd's daemon does with a data root's stores — the verbs of the `strata`
 * command as plain functions over one opened `Engine` (layer store + image store + containers).
 *
 *   const engine = await openEngine({ root: '/var/lib/strata' });        // exclusive lock
 *   try {
 *     const { images } = await loadImages(engine, 'app.tar');          // docker save / OCI archive or layout
 *     const c = await createContainer(engine, 'app:1', { name: 'web' });
 *     const root = await engine.layers.getRWLayer(c.id).mount();      // change files under root…
 *     await engine.layers.getRWLayer(c.id).unmount();
 *     const { id } = await commitContainer(engine, 'web', { tag: 'app:2' });
 *     await pipeline(saveImages(engine, saveSelection(engine, ['app:2']), { format: 'docker' }),
 *                    fs.createWriteStream('app-2.tar'));
 *     await removeContainer(engine, 'web');
 *     await removeImage(engine, 'app:1');                              // docker rmi's rules
 *     (await fsck(engine)).damaged;                                    // [] on a healthy root
 *   } finally {
 *     await engine.close();
 *   }
 *
 * Files: engine.ts (open/close), containers.ts (strata's container records), container.ts
 * (create, remove, commit), load/ (plan.ts checks a whole archive before load.ts registers
 * anything), save.ts (which images, which tags; the writers are in image/archive/), rmi.ts (rmi
 * and prune policy), fsck.ts, repair.ts (`fsck --repair`: removes exactly the damaged entries and
 * what depends on them), pull.ts and push.ts (registries, through src/registry/), rootfs.ts (a
 * mounted view for export and cp), build.ts (an image archive from directories), platform.ts,
 * intent.ts (what a verb writes before its first change, so a killed one is finished or undone at
 * the next open).
 *
 * Every function leaves the data root whole when it fails: a load that fails releases the layers
 * it registered; a commit that fails releases its layer; rmi changes references before the image.
 */
export { openEngine, withEngine, type Engine, type OpenEngineOptions } from './engine.js';
export { ContainerStore, type ContainerRecord } from './containers.js';
export { createContainer, removeContainer, commitContainer, type CommitOptions } from './container.js';
export { loadImages, type LoadOptions, type LoadResult, type LoadedImage } from './load/load.js';
export { planLoad, type LoadItem, type LoadLayer } from './load/plan.js';
export { saveImages, saveSelection, type SaveFormat, type SaveImagesOptions, type SaveSelection } from './save.js';
export { removeImage, pruneImages, type DeleteRecord, type PruneReport } from './rmi.js';
export { fsck, type FsckReport, type Damage, type FsckOptions } from './fsck.js';
export { planRepair, executeRepair, type RepairPlan, type RepairAction } from './repair.js';
export { withRootfs, scopedPath } from './rootfs.js';
export { imageArchive, type BuildOptions } from './build.js';
export { hostPlatform, parsePlatform, formatPlatform, platformMatches, type Platform } from './platform.js';
export { pullImage, pullReference, type PullOptions, type PullProgress, type PullResult, type PulledLayer, type LayerStatus } from './pull.js';
export { pushImage, hmacKey, metadataHmac, type PushOptions, type PushProgress, type PushResult, type PushedLayer } from './push.js';
