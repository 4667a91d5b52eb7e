/**
 * Which storage driver a data root gets: the registry of drivers and the selection rules of moby
 * 20.10's `graphdriver.New` (with `GetDriver` and `scanPriorDrivers`), so strata picks the driver
 * dockerd would pick for the same root.
 *
 * Drivers register an init function under a name; selection calls one of them on
 * `<root>/<name>`. An explicit choice (`--driver`/`-s`, or `STRATA_DRIVER`, which wins as
 * `DOCKER_DRIVER` does in dockerd) is obeyed or fails — never replaced by another driver.
 * Without one, the root itself decides: a driver that has left layers there ("prior state") is
 * reused, because choosing another would make every image seem to vanish. Only on a root without
 * prior state does strata try drivers in priority order (`overlay2, fuse-overlay, vfs`), skipping
 * those that say "not supported here" (`NotSupportedError`) and stopping at any other error.
 *
 * Worked example, with the default priority and overlay2 working on this kernel:
 *
 *   fresh root (or missing)            → overlay2 (first in priority that starts)
 *   root with only vfs/ (non-empty)    → overlay2: vfs never counts as prior state (it works
 *                                        everywhere, so its layers may be a leftover experiment)
 *   root with overlay2/ and fuse-overlay/, both non-empty
 *                                      → error: `<root> contains several valid graphdrivers:
 *                                        overlay2, fuse-overlay; Please cleanup or explicitly
 *                                        choose storage driver (-s <DRIVER>)`
 *   root with fuse-overlay/ only       → fuse-overlay, although overlay2 would start: prior state
 *                                        outranks priority; if fuse-overlay cannot start, that
 *                                        error is the answer (no fallback)
 *   root with an empty overlay2/       → as a fresh root: an empty dir is not prior state
 *
 *   const registry = createRegistry();
 *   register(registry, 'overlay2', initOverlay2);
 *   register(registry, 'vfs', initVfs);
 *   const { driver, name } = await selectDriver({ root: '/var/lib/strata', options: [], registry });
 *
 * Prior-state details, as moby: a driver's dir counts when `stat` (following symlinks) succeeds
 * and it is not an empty directory — a dir that cannot be opened or read (EACCES, or a plain file
 * in its place) counts, so that doubt never hides images. Registered drivers outside the priority
 * list are scanned too: they never get chosen from prior state, but their dirs do make the
 * "several" error.
 *
 * Where strata differs from moby, on purpose:
 * - an unknown explicit name fails with `DRIVER_UNKNOWN` naming the known drivers; moby would look
 *   for a graphdriver plugin and, failing, return `driver not supported`. strata has no plugins.
 *   The error is still a NotSupportedError, as moby's is;
 * - the "several" message lists the prior drivers in priority order, then the others in
 *   registration order; moby joins the keys of a Go map, whose order changes from run to run;
 * - the last step tries only registered drivers not already tried by the priority walk (moby
 *   re-runs them; they fail the same way), in registration order (moby: Go map order).
 */
import type { Dir } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { StrataError } from '../errors/index.js';
import { NotSupportedError, type Driver, type DriverInit } from './driver.js';

/** A set of named driver init functions. Insertion order is the registration order. */
export interface DriverRegistry {
  readonly drivers: Map<string, DriverInit>;
}

/** strata's priority list: kernel overlay first, then strata's FUSE overlay, then plain copies. */
export const DEFAULT_PRIORITY: readonly string[] = Object.freeze(['overlay2', 'fuse-overlay', 'vfs']);

/** The environment variable that names the driver and wins over any other choice (dockerd: `DOCKER_DRIVER`). */
export const DRIVER_ENV = 'STRATA_DRIVER';

/** The driver that is never chosen from prior state (moby's rule). */
const NEVER_PRIOR = 'vfs';

/** An empty registry. Tests and embedders make their own; the CLI uses `defaultRegistry`. */
export function createRegistry(): DriverRegistry {
  return { drivers: new Map() };
}

/**
 * Adds driver `name` to `registry` with its init function (moby's `graphdriver.Register`). A name
 * can be registered once: a second registration throws `Name already registered <name>`
 * (code `DRIVER_ALREADY_REGISTERED`) and leaves the first in place.
 */
export function register(registry: DriverRegistry, name: string, init: DriverInit): void {
  if (registry.drivers.has(name)) throw new StrataError('DRIVER_ALREADY_REGISTERED', `Name already registered ${name}`);
  registry.drivers.set(name, init);
}

/** The names in `registry`, in registration order. */
export function registeredNames(registry: DriverRegistry): string[] {
  return [...registry.drivers.keys()];
}

/**
 * Starts the registered driver `name` on `<root>/<name>` with `options` and returns it; its init
 * error, whatever it is, propagates unchanged. An unregistered name throws a NotSupportedError
 * with code `DRIVER_UNKNOWN`: `unknown storage driver "<name>": strata knows <a, b, c>
 * (graphdriver plugins are not supported)`.
 */
export async function getDriver(registry: DriverRegistry, name: string, root: string, options: string[]): Promise<Driver> {
  const init = registry.drivers.get(name);
  if (!init) {
    const known = registeredNames(registry).sort();
    throw new NotSupportedError(
      'DRIVER_UNKNOWN',
      `unknown storage driver "${name}": strata knows ${known.length ? known.join(', ') : 'no drivers'} (graphdriver plugins are not supported)`,
    );
  }
  return init(path.join(root, name), options);
}

/**
 * moby's `isEmptyDir`: true only when `dir` opens as a directory and has no entry. Any failure —
 * cannot open (EACCES), not a directory, cannot read — answers false ("not empty"), so an
 * unreadable driver dir still counts as prior state.
 */
async function isEmptyDir(dir: string): Promise<boolean> {
  let handle: Dir;
  try {
    handle = await fs.opendir(dir);
  } catch {
    return false;
  }
  try {
    return (await handle.read()) === null;
  } catch {
    return false;
  } finally {
    await handle.close().catch(() => {});
  }
}

/**
 * The registered drivers (other than vfs) that have left state in `root`: those whose
 * `<root>/<name>` exists (`stat`, following symlinks) and is not an empty directory — an entry
 * that cannot be opened or read counts. Returned in registration order. A missing root has none.
 * This is moby's `scanPriorDrivers`.
 */
export async function scanPriorDrivers(registry: DriverRegistry, root: string): Promise<string[]> {
  const found: string[] = [];
  for (const name of registry.drivers.keys()) {
    if (name === NEVER_PRIOR) continue;
    const p = path.join(root, name);
    try {
      await fs.stat(p);
    } catch {
      continue;
    }
    if (!(await isEmptyDir(p))) found.push(name);
  }
  return found;
}

/** Whether an init error means "not here, try the next driver" (moby's `IsDriverNotSupported`). */
export function isDriverNotSupported(e: unknown): e is NotSupportedError {
  return e instanceof NotSupportedError;
}

export interface SelectOptions {
  /** The data root; drivers live in `<root>/<name>`. */
  root: string;
  /** The explicit choice (`--driver`/`-s`); `''` or absent means "choose for me". */
  name?: string;
  /** Driver options (`key=value`), passed to whichever driver is started. */
  options: string[];
  registry: DriverRegistry;
  /** The priority list; default `DEFAULT_PRIORITY`. Names not registered are skipped. */
  priority?: readonly string[];
  /** Where to read `STRATA_DRIVER`; default `process.env`. */
  env?: Record<string, string | undefined>;
}

export interface Selected {
  driver: Driver;
  /** The registered name the driver was selected under (its home is `<root>/<name>`). */
  name: string;
}

/**
 * Chooses and starts the driver for `root`, as dockerd 20.10 does at start:
 * 1. `env.STRATA_DRIVER`, if set and non-empty, else `name`, if non-empty: start that driver
 *    (`getDriver`); any error, not-supported included, is the result.
 * 2. Otherwise scan for prior state (`scanPriorDrivers`) and walk `priority`, skipping vfs: the
 *    first prior driver is started; its error is the result (no fallback); if it starts but other
 *    drivers have state too, throws `<root> contains several valid graphdrivers: <a, b>; Please
 *    cleanup or explicitly choose storage driver (-s <DRIVER>)` (code `DRIVER_SEVERAL_PRIOR`;
 *    names in priority order, then registration order).
 * 3. Otherwise start each registered driver of `priority` in order, then each other registered
 *    driver in registration order: a NotSupportedError moves on, any other error is the result.
 * 4. Nothing started: `No supported storage backend found` (code `DRIVER_NONE_SUPPORTED`).
 *
 * In step 2's "several" case the driver has been started and is dropped without `cleanup()`, as
 * moby drops it: its cleanup would unmount everything under its home, which may belong to a
 * running dockerd. Driver inits hold no resources that outlive them.
 */
export async function selectDriver(opts: SelectOptions): Promise<Selected> {
  const { root, options, registry } = opts;
  const priority = opts.priority ?? DEFAULT_PRIORITY;
  const env = opts.env ?? process.env;

  const explicit = env[DRIVER_ENV] || opts.name || '';
  if (explicit !== '') {
    return { driver: await getDriver(registry, explicit, root, options), name: explicit };
  }

  // Prior state: of the drivers that left layers here, the one we would prefer.
  const prior = await scanPriorDrivers(registry, root);
  for (const name of priority) {
    if (name === NEVER_PRIOR || !prior.includes(name)) continue;
    // An error here is returned as is: the root holds this driver's layers and it no longer
    // starts, which needs attention; falling back would make the images "disappear".
    const driver = await getDriver(registry, name, root, options);
    if (prior.length > 1) {
      const inPriority = priority.filter((n) => prior.includes(n));
      const ordered = [...new Set([...inPriority, ...prior])];
      throw new StrataError(
        'DRIVER_SEVERAL_PRIOR',
        `${root} contains several valid graphdrivers: ${ordered.join(', ')}; Please cleanup or explicitly choose storage driver (-s <DRIVER>)`,
      );
    }
    return { driver, name };
  }

  // No prior state: the first driver that works here.
  const tried = new Set<string>();
  const candidates = [...priority.filter((n) => registry.drivers.has(n)), ...registeredNames(registry)];
  for (const name of candidates) {
    if (tried.has(name)) continue;
    tried.add(name);
    try {
      return { driver: await getDriver(registry, name, root, options), name };
    } catch (e) {
      if (isDriverNotSupported(e)) continue;
      throw e;
    }
  }
  throw new StrataError('DRIVER_NONE_SUPPORTED', 'No supported storage backend found');
}
