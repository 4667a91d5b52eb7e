/**
 * `MetadataStore`: moby's `fileMetadataStore` over one `layerdb` directory. See index.ts for the
 * layout and the protocols; this file only ties the pieces together.
 */
import fs from 'node:fs';
import path from 'node:path';
import { parseDigest, type Digest } from '../../digest/index.js';
import { LayerDbError, errCode } from './errors.js';
import { mkdirAll, mkdirTemp, removeAll } from './fsutil.js';
import { LAYER_FILES, Layout, WRITE_SET_PREFIX } from './layout.js';
import { LayerTransaction } from './transaction.js';
import type { Descriptor } from './descriptor.js';
import * as read from './read.js';
import * as mounts from './mounts.js';
import * as scan from './scan.js';
import * as remove from './remove.js';

/** Everything `readLayer` reads. */
export interface LayerRecord {
  chainId: Digest;
  diffId: Digest;
  size: number;
  cacheId: string;
  parent?: Digest;
  descriptor?: Descriptor;
}

/** Everything `readMount` reads. */
export interface MountRecord {
  name: string;
  mountId: string;
  initId?: string;
  parent?: Digest;
}

export class MetadataStore {
  /** The layerdb directory, e.g. `/var/lib/docker/image/overlay2/layerdb`. */
  readonly root: string;
  private readonly layout: Layout;

  /**
   * Opens the layerdb at `root`, creating it (and missing parents) with mode 0700 as moby's
   * `newFSMetadataStore` does; `sha256/`, `mounts/` and `tmp/` are created later, when first
   * written. Reads nothing. Throws SysError (`ENOTDIR` when `root` is a file).
   */
  constructor(root: string) {
    this.root = path.resolve(root);
    this.layout = new Layout(this.root);
    mkdirAll(this.root, 0o700);
  }

  // ---- layers: writing ----------------------------------------------------------------------

  /**
   * Starts a write-set: `MkdirAll(tmp, 0755)` and a new `tmp/write-set-<uint32>` dir (0700). Fill
   * it with the setters and `tarSplitWriter`, then `commit(chainId)` or `cancel()`.
   */
  startTransaction(): LayerTransaction {
    mkdirAll(this.layout.tmpDir, 0o755);
    return new LayerTransaction(this.layout, mkdirTemp(this.layout.tmpDir, WRITE_SET_PREFIX));
  }

  // ---- layers: reading ----------------------------------------------------------------------

  /** True when `sha256/<hex>` exists as a directory (a committed layer). */
  hasLayer(chainId: Digest): boolean {
    try {
      return fs.statSync(this.layout.layerDir(parseDigest(chainId))).isDirectory();
    } catch (e) {
      if (errCode(e) === 'ENOENT' || errCode(e) === 'ENOTDIR') return false;
      throw e;
    }
  }

  /** The DiffID in `diff` (trimmed, then validated as a sha256 digest). */
  getDiffId(chainId: Digest): Digest {
    return read.readDiffId(this.layout, chainId);
  }

  /**
   * The byte count in `size`, parsed as Go's `strconv.ParseInt(s, 10, 64)` **without trimming**:
   * `"123\n"` is `LAYERDB_INVALID`, as it makes dockerd skip the layer.
   */
  getSize(chainId: Digest): number {
    return read.readSize(this.layout, chainId);
  }

  /**
   * The graph-driver ID in `cache-id` (trimmed); empty, or not a single name (`..`, a path), is
   * `invalid cache id value`. Any other text is accepted (BuildKit's are 25 chars).
   */
  getCacheId(chainId: Digest): string {
    return read.readCacheId(this.layout, chainId);
  }

  /** The parent ChainID in `parent` (trimmed, validated), or undefined when there is no file. */
  getParent(chainId: Digest): Digest | undefined {
    return read.readParent(this.layout, chainId);
  }

  /** The parsed `descriptor.json`, or undefined when there is none (always, for Docker on Linux). */
  getDescriptor(chainId: Digest): Descriptor | undefined {
    return read.readDescriptor(this.layout, chainId);
  }

  /** All of a layer's values, read in moby's `loadLayer` order; the first failure is thrown. */
  readLayer(chainId: Digest): LayerRecord {
    const rec: LayerRecord = {
      chainId: parseDigest(chainId),
      diffId: this.getDiffId(chainId),
      size: this.getSize(chainId),
      cacheId: this.getCacheId(chainId),
    };
    const parent = this.getParent(chainId);
    if (parent !== undefined) rec.parent = parent;
    const descriptor = this.getDescriptor(chainId);
    if (descriptor !== undefined) rec.descriptor = descriptor;
    return rec;
  }

  /** Path of the layer's `tar-split.json.gz` (whether or not it exists). */
  tarSplitPath(chainId: Digest): string {
    return this.layout.layerFile(parseDigest(chainId), LAYER_FILES.tarSplit);
  }

  /**
   * Opens the layer's `tar-split.json.gz` now (a missing file is `LAYERDB_READ` here, not later)
   * and returns a stream of its gzip bytes, for `readTarSplit` or `assembleTar`.
   */
  openTarSplit(chainId: Digest): fs.ReadStream {
    const file = this.tarSplitPath(chainId);
    let fd: number;
    try {
      fd = fs.openSync(file, 'r');
    } catch (e) {
      throw new LayerDbError('LAYERDB_READ', chainId, LAYER_FILES.tarSplit, `cannot read: ${(e as Error).message}`, e);
    }
    return fs.createReadStream(file, { fd, highWaterMark: 64 * 1024 });
  }

  // ---- mounts -------------------------------------------------------------------------------

  /** Writes all files of mount `name` in one rename (see mounts.ts); replaces an existing set. */
  saveMount(name: string, values: mounts.MountValues): void {
    mounts.saveMount(this.layout, name, values);
  }

  /** Writes `mounts/<name>/mount-id` (64 hex), replacing it whole; creates the mount if needed. */
  setMountId(name: string, mountId: string): void {
    mounts.setMountFiles(this.layout, name, { mountId });
  }

  /** Writes `mounts/<name>/init-id` (`<mount-id>-init`), replacing it whole. */
  setInitId(name: string, initId: string): void {
    mounts.setMountFiles(this.layout, name, { initId });
  }

  /** Writes `mounts/<name>/parent` (a ChainID), replacing it whole. */
  setMountParent(name: string, parent: Digest): void {
    mounts.setMountFiles(this.layout, name, { parent });
  }

  /** `mount-id`, trimmed; must match `^[a-f0-9]{64}(-init)?$`, else `invalid mount id value`. */
  getMountId(name: string): string {
    return read.readMountId(this.layout, name);
  }

  /** `init-id`, trimmed and checked like mount-id (`invalid init id value`); undefined when absent. */
  getInitId(name: string): string | undefined {
    return read.readInitId(this.layout, name);
  }

  /** The mount's `parent` ChainID, or undefined when absent. */
  getMountParent(name: string): Digest | undefined {
    return read.readMountParent(this.layout, name);
  }

  /** All of a mount's values, read in moby's `loadMount` order. */
  readMount(name: string): MountRecord {
    const rec: MountRecord = { name, mountId: this.getMountId(name) };
    const initId = this.getInitId(name);
    if (initId !== undefined) rec.initId = initId;
    const parent = this.getMountParent(name);
    if (parent !== undefined) rec.parent = parent;
    return rec;
  }

  /**
   * Stages a new mount's files in a write-set, to be published by `commit()` (one rename, never
   * over an existing mount: `LAYERDB_EXISTS`) or dropped by `cancel()`.
   */
  startMount(name: string, values: mounts.MountValues): mounts.MountTransaction {
    return mounts.startMount(this.layout, name, values);
  }

  /**
   * Takes mount `name` off the list into a `tmp/` write-set (see mounts.ts) and returns that
   * write-set's name, or undefined if there is no such mount. Finish with `removeWriteSet`, or
   * undo with `relistMount`.
   */
  unlistMount(name: string): string | undefined {
    const ws = mounts.unlistMount(this.layout, name);
    return ws === undefined ? undefined : path.basename(ws);
  }

  /** Undoes `unlistMount`. `LAYERDB_EXISTS` if a mount of that name was made meanwhile. */
  relistMount(name: string, writeSet: string): void {
    mounts.relistMount(this.layout, name, path.join(this.layout.tmpDir, writeSet));
  }

  /** Whether `mounts/<name>` exists, loadable or not. */
  hasMount(name: string): boolean {
    try {
      return fs.statSync(this.layout.mountDir(name)).isDirectory();
    } catch (e) {
      if (errCode(e) === 'ENOENT' || errCode(e) === 'ENOTDIR') return false;
      throw e;
    }
  }

  /** Removes `mounts/<name>` whole (moved to `tmp/` first). Returns false if it did not exist. */
  removeMount(name: string): boolean {
    return mounts.removeMount(this.layout, name);
  }

  // ---- listing, deleting, cleanup -----------------------------------------------------------

  /** The layers and mounts on disk (spec 3.7), plus what was skipped and why. Reads no files. */
  list(): scan.Listing {
    return scan.list(this.layout);
  }

  /**
   * Unlists a layer: renames `sha256/<hex>` to `sha256/<hex>-<64 random hex>-removing` (drawing
   * again on EEXIST) and fsyncs `sha256/`. `LAYERDB_NOT_FOUND` if the layer is not there. Remove
   * the driver data next, then `finishRemove`.
   */
  startRemove(chainId: Digest): scan.RemovingLayer {
    return remove.startRemove(this.layout, chainId);
  }

  /** Deletes a `-removing` dir (from `startRemove` or `orphans()`), `cache-id` last. Idempotent. */
  finishRemove(handle: scan.RemovingLayer): void {
    remove.finishRemove(handle);
  }

  /**
   * moby's `getOrphan`: every `sha256/*-removing` dir whose name starts with valid hex and that
   * holds a non-empty `cache-id`. Cleanup removes each one's driver data (`cacheId`, ignoring
   * not-found), then `finishRemove`s it. Beyond moby: `finished` lists the `-removing` dirs with no
   * `cache-id` at all (a delete that died at its very end), which cleanup just `finishRemove`s;
   * the rest (bad hex, empty or unreadable cache-id) are in `skipped`.
   */
  orphans(): scan.OrphanListing {
    return scan.orphans(this.layout);
  }

  /** Every `tmp/write-set-*` with the driver IDs its files name (see `WriteSetIntent`). */
  intents(): scan.WriteSetIntent[] {
    return scan.intents(this.layout);
  }

  /** Every driver ID named by a layer or mount on disk, loadable or not (see scan.ts). */
  referencedDriverIds(): Set<string> {
    return scan.referencedDriverIds(this.layout);
  }

  /** Removes one write-set (by name, as `writeSets()`/`intents()` give it). */
  removeWriteSet(name: string): void {
    if (!name.startsWith(WRITE_SET_PREFIX) || name.includes('/')) throw new LayerDbError('LAYERDB_BAD_NAME', `tmp/${name}`, undefined, 'not a write-set name');
    removeAll(path.join(this.layout.tmpDir, name));
  }

  /** Names of the `tmp/write-set-*` entries (transactions in progress or left by a crash). */
  writeSets(): string[] {
    return scan.writeSets(this.layout);
  }

  /**
   * Removes every `tmp/write-set-*` entry and returns their names. Only safe when no transaction
   * is running against this layerdb, in this process or another: call it under the store's lock
   * (at open or cleanup). moby never sweeps them.
   */
  sweepWriteSets(): string[] {
    const names = this.writeSets();
    for (const n of names) removeAll(path.join(this.layout.tmpDir, n));
    return names;
  }
}
