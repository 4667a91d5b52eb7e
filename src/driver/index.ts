/**
 * Storage (graph) drivers: where a layer's files live and how a stack of layers becomes one
 * directory tree. This is moby's `daemon/graphdriver` in TypeScript.
 *
 * The lifecycle, as the layer store drives it (ids are opaque strings the caller picks):
 *
 *   const { driver } = await openDriver({ root: '/var/lib/strata' });   // overlay2 here
 *   await driver.create('base', '');                       // an empty image layer
 *   const size = await driver.applyDiff('base', '', entries);          // fill it from a layer tar
 *   await driver.create('app', 'base');                    // next layer, on top of base
 *   await driver.applyDiff('app', 'base', moreEntries);
 *   await driver.createReadWrite('ctr', 'app');             // a container's writable layer
 *   const rootfs = await driver.get('ctr');                 // mounted: base + app + ctr
 *   // ... a container writes into rootfs ...
 *   const changes = await driver.changes('ctr', 'app');    // what `docker diff` shows
 *   const tar = driver.diff('ctr', 'app');                 // what `docker commit` stores
 *   await driver.put('ctr');                               // unmounted again
 *   await driver.remove('ctr');
 *
 * The contract is `Driver` (driver.ts), every method with its promise. Selection (registry.ts)
 * picks the driver dockerd would pick for the same root. Built in:
 * - `overlay2` (overlay2/): the kernel's OverlayFS in Docker's exact on-disk layout;
 * - `fuse-overlay` (fuse-overlay/): the same layout, mounted by strata's own OverlayFS through
 *   FUSE (`strata-overlay`), where the kernel's overlay cannot be mounted;
 * - `vfs` (vfs/): full copies, works anywhere, always the naive diff (naive.ts).
 */
import { createRegistry, register, selectDriver, type DriverRegistry, type Selected } from './registry.js';
import { initOverlay2 } from './overlay2/index.js';
import { initVfs } from './vfs/index.js';
import { initFuseOverlay } from './fuse-overlay/index.js';

export * from './driver.js';
export {
  createRegistry,
  register,
  registeredNames,
  getDriver,
  scanPriorDrivers,
  selectDriver,
  isDriverNotSupported,
  DEFAULT_PRIORITY,
  DRIVER_ENV,
  type DriverRegistry,
  type SelectOptions,
  type Selected,
} from './registry.js';
export { parseKeyValue, parseSize, parseOverlay2Options, parseVfsOptions } from './options.js';
export { naiveDiff, withNaiveDiff, type LayerMounter, type ProtoDriver, type DiffOperations } from './naive.js';
export { probeDrivers, type DriverSupport } from './support.js';

/** A registry holding strata's built-in drivers. */
export function builtinRegistry(): DriverRegistry {
  const registry = createRegistry();
  register(registry, 'overlay2', initOverlay2);
  register(registry, 'fuse-overlay', initFuseOverlay);
  register(registry, 'vfs', initVfs);
  return registry;
}

/**
 * Opens the storage driver for a data root: `name` (or `STRATA_DRIVER`) when given, otherwise
 * the one dockerd 20.10 would choose for that root (prior state first, then priority order).
 */
export function openDriver(opts: { root: string; name?: string; options?: string[] }): Promise<Selected> {
  return selectDriver({ root: opts.root, name: opts.name, options: opts.options ?? [], registry: builtinRegistry() });
}
