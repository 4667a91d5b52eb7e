/**
 * The write-set transaction (moby's `pkg/ioutils.AtomicWriteSet` under `fileMetadataTransaction`):
 * a layer's files are written into `tmp/write-set-<n>/`, each fsync'd, and the directory is then
 * renamed to `sha256/<chain hex>` in one step. Until that rename nothing of the layer is visible;
 * after it, all of it is.
 */
import fs from 'node:fs';
import path from 'node:path';
import { parseDigest, digestHex, type Digest } from '../../digest/index.js';
import { TarSplitPacker, GzipTarSplitOutput } from '../../archive/tarsplit/index.js';
import { LayerDbError, sys } from './errors.js';
import { fsyncDir, mkdirAll, removeAll, renameNoReplace, writeFileSynced } from './fsutil.js';
import { goTrimSpace } from './gocompat.js';
import { marshalDescriptor, type Descriptor } from './descriptor.js';
import { LAYER_FILES, type Layout } from './layout.js';

/** The values of one layer, for `LayerTransaction.setLayer`. */
export interface LayerValues {
  diffId: Digest;
  /** The driver's apply size in bytes (Docker's `size` file, an int64). */
  size: number | bigint;
  cacheId: string;
  /** Written only when given with a non-empty `digest`, as moby does. */
  descriptor?: Descriptor;
  parent?: Digest;
}

/** Checks a cache-id reads back as written: non-empty, no surrounding white space, no `/`. */
export function checkCacheId(id: string, subject: string): string {
  if (typeof id !== 'string' || id === '' || goTrimSpace(id) !== id || id.includes('/') || id.includes('\0')) {
    throw new LayerDbError('LAYERDB_BAD_VALUE', subject, LAYER_FILES.cacheId, `invalid cache id value ${JSON.stringify(String(id))}`);
  }
  return id;
}

function sizeText(n: number | bigint, subject: string): string {
  const ok = typeof n === 'bigint' ? n >= -(1n << 63n) && n < 1n << 63n : Number.isSafeInteger(n);
  if (!ok) throw new LayerDbError('LAYERDB_BAD_VALUE', subject, LAYER_FILES.size, `size ${String(n)} is not an int64`);
  return String(n); // Go's %d
}

/** A TarSplitPacker that tells its transaction when it has closed (or failed). */
class TxPacker extends TarSplitPacker {
  state: 'open' | 'closed' | 'failed' = 'open';

  override async close(): Promise<void> {
    try {
      await super.close();
      this.state = 'closed';
    } catch (e) {
      this.state = 'failed';
      throw e;
    }
  }

  override async abort(): Promise<void> {
    this.state = 'failed';
    await super.abort();
  }
}

/**
 * One write-set. Made by `MetadataStore.startTransaction()`; finished by exactly one of `commit`
 * or `cancel`. Every setter writes its file at once (`O_WRONLY|O_CREAT|O_TRUNC`, 0644, no
 * newline, fsync'd), so a setter's return means the bytes are on disk — but only in `tmp/`.
 */
export class LayerTransaction {
  /** The write-set directory, `<layerdb>/tmp/write-set-<uint32>` (mode 0700). */
  readonly dir: string;
  private readonly layout: Layout;
  private state: 'open' | 'committed' | 'cancelled' = 'open';
  private readonly written = new Map<string, string>();
  private packer: TxPacker | undefined;

  /** @internal use `MetadataStore.startTransaction`. */
  constructor(layout: Layout, dir: string) {
    this.layout = layout;
    this.dir = dir;
  }

  private get subject(): string {
    return `tmp/${path.basename(this.dir)}`;
  }

  private write(file: string, data: string): void {
    this.assertOpen();
    // The same value again is not rewritten: a rewrite truncates first, and a crash right there
    // would leave an empty `cache-id` — losing the write-set's record of its driver layer.
    if (this.written.get(file) === data) return;
    writeFileSynced(path.join(this.dir, file), data);
    this.written.set(file, data);
  }

  private assertOpen(): void {
    if (this.state !== 'open') throw new LayerDbError('LAYERDB_TX', this.subject, undefined, `transaction already ${this.state}`);
  }

  /** Writes `diff`: the DiffID, 71 bytes. */
  setDiffId(diffId: Digest): void {
    this.write(LAYER_FILES.diff, parseDigest(diffId));
  }

  /** Writes `size`: the decimal int64 (`%d`), no newline. Refuses a non-integer or out-of-range value. */
  setSize(size: number | bigint): void {
    this.write(LAYER_FILES.size, sizeText(size, this.subject));
  }

  /** Writes `cache-id`: the graph driver's ID. Refuses a value that would not read back the same. */
  setCacheId(cacheId: string): void {
    this.write(LAYER_FILES.cacheId, checkCacheId(cacheId, this.subject));
  }

  /** Writes `parent`: the parent layer's ChainID. Not called for a base layer. */
  setParent(parent: Digest): void {
    this.write(LAYER_FILES.parent, parseDigest(parent));
  }

  /** Writes `descriptor.json` as Go's `json.Marshal` would (Docker on Linux never does). */
  setDescriptor(descriptor: Descriptor): void {
    this.write(LAYER_FILES.descriptor, marshalDescriptor(descriptor));
  }

  /**
   * Makes the files written so far durable as entries of the write-set (fsync of its directory).
   * The layer store calls it after `setCacheId` and before creating the driver layer, so that the
   * write-set names the driver ID of anything a crash could leave behind.
   */
  sync(): void {
    this.assertOpen();
    fsyncDir(this.dir);
  }

  /**
   * Writes the layer's values in moby's order (`storeLayer`): diff, size, cache-id,
   * descriptor.json (only with a digest), parent (only with a parent).
   */
  setLayer(v: LayerValues): void {
    this.setDiffId(v.diffId);
    this.setSize(v.size);
    this.setCacheId(v.cacheId);
    if (v.descriptor?.digest) this.setDescriptor(v.descriptor);
    if (v.parent !== undefined) this.setParent(v.parent);
  }

  /**
   * A tar-split packer writing `tar-split.json.gz` (gzip, Go's header, mode 0644) in the
   * write-set; its `close()` resolves once the file is fsync'd and closed. Commit refuses while
   * it is open or after it failed or was aborted.
   */
  tarSplitWriter(opts: { level?: number } = {}): TarSplitPacker {
    this.assertOpen();
    if (this.packer) throw new LayerDbError('LAYERDB_TX', this.subject, LAYER_FILES.tarSplit, 'tar-split writer already opened');
    const file = path.join(this.dir, LAYER_FILES.tarSplit);
    // Create it with the exact mode first; the gzip output reopens it with O_TRUNC.
    sys(() => {
      const fd = fs.openSync(file, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_TRUNC, 0o644);
      try {
        fs.fchmodSync(fd, 0o644);
      } finally {
        fs.closeSync(fd);
      }
    });
    this.packer = new TxPacker(new GzipTarSplitOutput(file, { fsync: true, level: opts.level }));
    return this.packer;
  }

  /**
   * Publishes the write-set as `sha256/<hex of chainId>`: checks `diff`, `size`, `cache-id` and a
   * closed tar-split are there, fsyncs the write-set dir, `MkdirAll(sha256, 0755)`, renames with
   * RENAME_NOREPLACE (an existing layer is never touched: `LAYERDB_EXISTS`, and the write-set
   * stays for `cancel`), then fsyncs `sha256/`. When this returns the layer is durable. Errors
   * from the file system are SysErrors (`ENOTDIR` when `sha256` is a file).
   */
  commit(chainId: Digest): void {
    this.assertOpen();
    const hex = digestHex(parseDigest(chainId));
    const missing: string[] = [LAYER_FILES.diff, LAYER_FILES.size, LAYER_FILES.cacheId].filter((f) => !this.written.has(f));
    if (!this.packer || this.packer.state !== 'closed') missing.push(LAYER_FILES.tarSplit);
    if (missing.length) {
      const why = this.packer?.state === 'open' ? ' (tar-split writer not closed)' : this.packer?.state === 'failed' ? ' (tar-split writer failed)' : '';
      throw new LayerDbError('LAYERDB_TX', this.subject, undefined, `cannot commit ${chainId}: missing ${missing.join(', ')}${why}`);
    }
    fsyncDir(this.dir);
    if (mkdirAll(this.layout.layersDir, 0o755)) fsyncDir(this.layout.root);
    if (!renameNoReplace(this.dir, path.join(this.layout.layersDir, hex))) {
      throw new LayerDbError('LAYERDB_EXISTS', chainId, undefined, 'layer already exists; the write-set was not committed');
    }
    this.state = 'committed';
    fsyncDir(this.layout.layersDir);
  }

  /**
   * Drops the write-set (`RemoveAll`). A no-op after `commit` or a previous `cancel`, so it can
   * sit in a `finally`. An open tar-split writer is aborted first.
   */
  async cancel(): Promise<void> {
    if (this.state !== 'open') return;
    this.state = 'cancelled';
    if (this.packer?.state === 'open') await this.packer.abort().catch(() => undefined);
    removeAll(this.dir);
  }
}
