/**
 * The graph-driver contract: what every storage driver (overlay2, vfs, fuse-overlay) promises the
 * layer store. It is moby's `graphdriver.Driver` (ProtoDriver + DiffDriver), in TypeScript.
 *
 * Layers are named by opaque string IDs the caller chooses (the layer store uses 64-hex cache IDs;
 * BuildKit-made layers use 25-char base-36 keys — never assume a format). A layer is created on a
 * parent (or on nothing, `''`), filled by `applyDiff` or, for a read-write layer, by a container
 * writing into the path `get` returned.
 */
import type { Change } from '../archive/diff/index.js';
import type { TarEntry } from '../archive/tar/index.js';
import { StrataError } from '../errors/index.js';

export interface CreateOptions {
  /** SELinux mount label (only passed through to mounts). */
  mountLabel?: string;
  /** Per-layer storage options, e.g. `{ size: '50M' }` where the driver supports quotas. */
  storageOpt?: Record<string, string>;
}

export interface DriverCapabilities {
  /** The driver's `diff` reproduces a layer's original tar exactly (no tar-split needed). No Linux driver does. */
  reproducesExactDiffs: boolean;
  /** `diff`/`applyDiff`/`diffSize` work natively for a layer and its direct parent (overlay2 native diff). */
  nativeDiff: boolean;
}

export interface Driver {
  /** The registered name, e.g. `overlay2`. */
  readonly name: string;
  /** `<root>/<name>`: where the driver keeps its layers. */
  readonly home: string;

  /** Creates an empty image layer `id` on `parent` (`''` for none). Storage options are refused. */
  create(id: string, parent: string, opts?: CreateOptions): Promise<void>;
  /** Creates an empty read-write layer (a container root) on `parent`; may take a `size` quota. */
  createReadWrite(id: string, parent: string, opts?: CreateOptions): Promise<void>;
  /** Deletes layer `id` and everything the driver keeps for it; a missing layer is not an error. */
  remove(id: string): Promise<void>;
  /** Makes layer `id` available as a directory (mounting it if needed) and returns its path. Every get is balanced by a put. */
  get(id: string, mountLabel?: string): Promise<string>;
  /** Releases one `get`; the last release unmounts. */
  put(id: string): Promise<void>;
  /** Whether layer `id` exists. */
  exists(id: string): Promise<boolean>;
  /** Diagnostic key/value pairs, in dockerd's order (`docker info` "Storage Driver" lines). */
  status(): [string, string][];
  /** Driver-specific paths of a layer (overlay2: LowerDir, UpperDir, WorkDir, MergedDir). */
  metadata(id: string): Promise<Record<string, string>>;
  /** Releases everything at shutdown (overlay2: unmounts every mount under home). */
  cleanup(): Promise<void>;

  /** An uncompressed tar of what layer `id` changed relative to `parent` (`''`: the whole layer). */
  diff(id: string, parent: string): AsyncIterable<Buffer>;
  /** The changes of layer `id` relative to `parent`, sorted by path (`docker diff`). */
  changes(id: string, parent: string): Promise<Change[]>;
  /** Applies a layer's tar entries into layer `id` (whose parent is `parent`) and returns the size dockerd would record. */
  applyDiff(id: string, parent: string, entries: AsyncIterable<TarEntry>): Promise<number>;
  /** The size of layer `id`'s changes relative to `parent`. */
  diffSize(id: string, parent: string): Promise<number>;
  capabilities(): DriverCapabilities;
  /**
   * Optional (moby's `DiffGetterDriver`): a directory from which every file that layer `id`'s own
   * tar contained can be read by its name in the tar, without mounting anything — what the layer
   * store reassembles a layer's tar from. `release` ends the use. Without it the layer store uses
   * `get`/`put`, as moby does for overlay2.
   */
  diffGetter?(id: string): Promise<{ root: string; release(): Promise<void> }>;
}

/**
 * Starts a driver on `home` with its `key=value` options. Throws a `NotSupportedError` when the
 * driver cannot work here (selection then tries the next one); any other error is fatal.
 */
export type DriverInit = (home: string, options: string[]) => Promise<Driver>;

/** The three "not here" errors of moby's graphdriver package: auto-selection skips past them. */
export class NotSupportedError extends StrataError {}

export function errNotSupported(detail?: string): NotSupportedError {
  return new NotSupportedError('DRIVER_NOT_SUPPORTED', detail ? `driver not supported: ${detail}` : 'driver not supported');
}

export function errPrerequisites(): NotSupportedError {
  return new NotSupportedError('DRIVER_PREREQUISITES', 'prerequisites for driver not satisfied (wrong filesystem?)');
}

export function errIncompatibleFs(): NotSupportedError {
  return new NotSupportedError('DRIVER_INCOMPATIBLE_FS', 'backing file system is unsupported for this graph driver');
}
