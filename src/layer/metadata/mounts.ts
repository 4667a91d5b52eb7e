/**
 * Writing `mounts/<name>/` so that a reader (strata or dockerd, now or after a crash) never sees
 * half of a mount's files.
 *
 * moby writes `mount-id`, `init-id` and `parent` one by one with a plain WriteFile after
 * `MkdirAll(mounts/<name>, 0755)`: no fsync, and a crash between the three leaves a mount that
 * fails to load (or, worse, a truncated `mount-id`). strata stages instead:
 *
 * - `saveMount` writes all of a mount's files into a write-set in `tmp/` (each fsync'd), sets the
 *   directory to 0755 and renames it to `mounts/<name>` (RENAME_NOREPLACE; if the mount exists,
 *   RENAME_EXCHANGE swaps the new set in and the old one is removed from `tmp/`). One rename: the
 *   whole set or nothing.
 * - A single setter (`setMountId`, …) on a mount that does not exist yet creates it the same way
 *   with that one file; on an existing mount it writes the file in a write-set and renames the
 *   file over the old one, so each file is replaced whole.
 * - `removeMount` renames `mounts/<name>` into `tmp/` first, then removes it there.
 * - `startMount` stages a new mount's files and returns a `MountTransaction` that publishes them
 *   later: the layer store stages first, creates the driver layers, then commits, so a crash in
 *   between leaves a write-set naming the driver IDs it may have created (see `intents`).
 *
 * Every staging directory is a `tmp/write-set-<n>`, so whatever a crash leaves behind is swept by
 * `sweepWriteSets`. The files that land in `mounts/<name>/` are byte for byte, mode for mode, what
 * dockerd writes: 0755 dir, 0644 files, no newline.
 */
import fs from 'node:fs';
import path from 'node:path';
import { parseDigest, isValidMountId, type Digest } from '../../digest/index.js';
import { LayerDbError, errCode, sys, toSysError } from './errors.js';
import { fsyncDir, mkdirAll, mkdirTemp, removeAll, renameExchange, renameNoReplace, writeFileSynced } from './fsutil.js';
import { MOUNT_FILES, WRITE_SET_PREFIX, checkMountName, type Layout } from './layout.js';

/** The files of one mount. */
export interface MountValues {
  /** The RW layer's driver ID: 64 hex. */
  mountId: string;
  /** The init layer's driver ID, `<mountId>-init`, when there is one. */
  initId?: string;
  /** The ChainID the RW layer sits on, when it has a parent. */
  parent?: Digest;
}

function checkId(id: string, name: string, file: string, what: string): string {
  if (typeof id !== 'string' || !isValidMountId(id)) {
    throw new LayerDbError('LAYERDB_BAD_VALUE', `mounts/${name}`, file, `invalid ${what} value ${JSON.stringify(String(id))}`);
  }
  return id;
}

/** The file contents for `v`, in moby's order (mount-id, init-id, parent), validated. */
export function mountFileSet(name: string, v: Partial<MountValues>): [string, string][] {
  const files: [string, string][] = [];
  if (v.mountId !== undefined) files.push([MOUNT_FILES.mountId, checkId(v.mountId, name, MOUNT_FILES.mountId, 'mount id')]);
  if (v.initId !== undefined) files.push([MOUNT_FILES.initId, checkId(v.initId, name, MOUNT_FILES.initId, 'init id')]);
  if (v.parent !== undefined) files.push([MOUNT_FILES.parent, parseDigest(v.parent)]);
  return files;
}

function stage(layout: Layout, files: [string, string][]): string {
  mkdirAll(layout.tmpDir, 0o755);
  const ws = mkdirTemp(layout.tmpDir, WRITE_SET_PREFIX);
  try {
    for (const [f, data] of files) writeFileSynced(path.join(ws, f), data);
    sys(() => fs.chmodSync(ws, 0o755));
    fsyncDir(ws);
  } catch (e) {
    removeAll(ws);
    throw e;
  }
  return ws;
}

/**
 * Replaces the whole file set of mount `name` by `v` in one rename (see the file comment).
 * Files of the old set that `v` lacks are gone afterwards.
 */
export function saveMount(layout: Layout, name: string, v: MountValues): void {
  const target = layout.mountDir(name);
  const files = mountFileSet(name, v);
  if (v.mountId === undefined) throw new LayerDbError('LAYERDB_BAD_VALUE', `mounts/${name}`, MOUNT_FILES.mountId, 'a mount needs a mount id');
  const ws = stage(layout, files);
  try {
    if (mkdirAll(layout.mountsDir, 0o755)) fsyncDir(layout.root);
    if (!renameNoReplace(ws, target)) {
      renameExchange(ws, target); // ws now holds the old set
    }
    fsyncDir(layout.mountsDir);
  } finally {
    removeAll(ws);
  }
}

/**
 * Writes some files of mount `name`, each replaced whole; creates the mount (0755) with just
 * those files when it does not exist. Used by the single setters.
 */
export function setMountFiles(layout: Layout, name: string, v: Partial<MountValues>): void {
  const target = layout.mountDir(checkMountName(name));
  const files = mountFileSet(name, v);
  const ws = stage(layout, files);
  try {
    if (mkdirAll(layout.mountsDir, 0o755)) fsyncDir(layout.root);
    if (renameNoReplace(ws, target)) {
      fsyncDir(layout.mountsDir);
      return;
    }
    for (const [f] of files) sys(() => fs.renameSync(path.join(ws, f), path.join(target, f)));
    fsyncDir(target);
  } finally {
    removeAll(ws);
  }
}

/**
 * Removes `mounts/<name>`: renamed into `tmp/` as a write-set (so a reader sees the mount whole
 * or not at all, and a crash leaves only a write-set to sweep), `mounts/` fsync'd, then removed.
 * Returns false when there was no such mount.
 */
export function removeMount(layout: Layout, name: string): boolean {
  const ws = unlistMount(layout, name);
  if (ws === undefined) return false;
  removeAll(ws);
  return true;
}

/**
 * A new mount staged in `tmp/write-set-<n>` (all files written and fsync'd), not yet visible.
 * Finished by one `commit` (rename to `mounts/<name>`, never over an existing mount) or `cancel`.
 */
export class MountTransaction {
  private state: 'open' | 'committed' | 'cancelled' = 'open';

  /** @internal use `MetadataStore.startMount`. */
  constructor(
    private readonly layout: Layout,
    readonly name: string,
    /** The staging directory. */
    readonly dir: string,
  ) {}

  /** Publishes the mount: `LAYERDB_EXISTS` (and still open) when `mounts/<name>` exists. */
  commit(): void {
    if (this.state !== 'open') throw new LayerDbError('LAYERDB_TX', `mounts/${this.name}`, undefined, `transaction already ${this.state}`);
    if (mkdirAll(this.layout.mountsDir, 0o755)) fsyncDir(this.layout.root);
    if (!renameNoReplace(this.dir, this.layout.mountDir(this.name))) {
      throw new LayerDbError('LAYERDB_EXISTS', `mounts/${this.name}`, undefined, 'mount already exists; the write-set was not committed');
    }
    this.state = 'committed';
    fsyncDir(this.layout.mountsDir);
  }

  /** Drops the staged files. A no-op after `commit` or a previous `cancel`. */
  cancel(): void {
    if (this.state !== 'open') return;
    this.state = 'cancelled';
    removeAll(this.dir);
  }
}

/** Stages mount `name` with `v` (see `MountTransaction`). */
export function startMount(layout: Layout, name: string, v: MountValues): MountTransaction {
  checkMountName(name);
  if (v.mountId === undefined) throw new LayerDbError('LAYERDB_BAD_VALUE', `mounts/${name}`, MOUNT_FILES.mountId, 'a mount needs a mount id');
  return new MountTransaction(layout, name, stage(layout, mountFileSet(name, v)));
}

/**
 * Takes mount `name` off the list: its directory is renamed into `tmp/` as a write-set (which
 * still names its driver IDs, for recovery), and `mounts/` fsync'd. Returns the write-set's path,
 * for `relistMount` (undo) or `MetadataStore.removeWriteSet` (finish); undefined when there was
 * no such mount.
 */
export function unlistMount(layout: Layout, name: string): string | undefined {
  const target = layout.mountDir(name);
  mkdirAll(layout.tmpDir, 0o755);
  const ws = mkdirTemp(layout.tmpDir, WRITE_SET_PREFIX);
  try {
    fs.renameSync(target, ws);
  } catch (e) {
    removeAll(ws);
    if (errCode(e) === 'ENOENT') return undefined;
    throw toSysError(e);
  }
  fsyncDir(layout.mountsDir);
  fsyncDir(layout.tmpDir);
  return ws;
}

/** Puts a mount taken off by `unlistMount` back (never over a mount of the same name). */
export function relistMount(layout: Layout, name: string, ws: string): void {
  if (!renameNoReplace(ws, layout.mountDir(name))) {
    throw new LayerDbError('LAYERDB_EXISTS', `mounts/${name}`, undefined, 'mount already exists; cannot put the old one back');
  }
  fsyncDir(layout.mountsDir);
}
