/**
 * `strata load`: images from a `docker save` archive or an OCI image layout into the data root.
 *
 *   const result = await loadImages(engine, '/tmp/app.tar', { onProgress });
 *   result.images     // [{ id: 'sha256:…', tags: ['app:1'] }]
 *   result.messages   // ['Loaded image: app:1'] — what `docker load` prints
 *
 * Three phases, so that a bad archive leaves the data root as it was:
 * 1. plan (plan.ts): every JSON file read and checked, every member found — no layer data read.
 * 2. register every layer of every image, in order, streamed from the archive and decompressed
 *    on the way (gzip, zstd, …); a layer whose ChainID is already there is not read at all. Each
 *    result is checked: its DiffID against the config, an OCI blob's digest and size against its
 *    descriptor. Any failure releases every layer this load registered — nothing is left.
 * 3. create the images (each now holds its top layer) and set their tags, as dockerd does
 *    (a tag that named another image moves, with dockerd's "renaming the old one" line).
 *
 * Phases 2 and 3 run under a load intent (../intent.ts), written before the first register: a
 * failure in them, or a SIGKILL, undoes the load — the images it created that did not get all
 * their tags are deleted, the layers it registered that no image holds are removed (on the
 * error at once, after a kill at the next writable open).
 *
 * Memory stays bounded whatever the archive's size: the archive is read in place when it is a
 * seekable tar or a directory, and only stdin or a compressed archive is spooled to disk first
 * (into `<root>/tmp`, removed at the end) — see image/archive/source.ts.
 */
import { isDeepStrictEqual } from 'node:util';
import { decompress } from '../../archive/compression.js';
import { chainIds, hashing, type Digest } from '../../digest/index.js';
import { StrataError } from '../../errors/index.js';
import { openArchive, type ArchiveSource } from '../../image/archive/source.js';
import type { Layer } from '../../layer/index.js';
import { imageId } from '../../image/config.js';
import { underIntent, type Intent, type IntendedImage } from '../intent.js';
import { hostPlatform, type Platform } from '../platform.js';
import type { Engine } from '../engine.js';
import { planLoad, type LoadItem, type LoadLayer } from './plan.js';

export interface LoadOptions {
  /** For an OCI index with several platforms. Default: the host's. */
  platform?: Platform;
  signal?: AbortSignal;
  /** Bytes of layer data read so far, of `total` (the archive members' sizes). */
  onProgress?: (done: number, total: number) => void;
}

export interface LoadedImage {
  id: Digest;
  /** Familiar names, e.g. `app:1`. */
  tags: string[];
}

export interface LoadResult {
  images: LoadedImage[];
  /** The lines `docker load` prints. */
  messages: string[];
}

/** Loads every image of the archive at `input` (a path: tar, compressed tar or layout dir; or a stream). */
export async function loadImages(engine: Engine, input: string | NodeJS.ReadableStream, opts: LoadOptions = {}): Promise<LoadResult> {
  const label = typeof input === 'string' ? input : 'stdin';
  const src = await openArchive(input, { spoolDir: engine.tmpDir, ...(opts.signal ? { signal: opts.signal } : {}) }).catch((e: unknown) => {
    throw whileWriting(`spooling ${label} into ${engine.tmpDir}`, e);
  });
  try {
    const items = await planLoad(src, opts.platform ?? hostPlatform(), opts.platform !== undefined);
    // Written before the first register: a load killed from here on is undone at the next open.
    return await underIntent(engine, loadIntent(engine, items), async () => {
      const held = await registerAll(engine, src, items, opts);
      try {
        return await createImages(engine, items);
      } finally {
        for (const l of held) await engine.layers.release(l);
      }
    }).catch((e: unknown) => {
      throw whileWriting(`loading ${label}`, e); // the intent itself, if the disk was full before the first layer
    });
  } finally {
    await src.close();
  }
}

/**
 * What this load may leave half-done: the layers it will register (those not there yet, bottom
 * first) and the images it will create, each with the tags and parent it gets (see intent.ts).
 */
function loadIntent(engine: Engine, items: LoadItem[]): Intent {
  const layers = new Set<Digest>();
  for (const item of items) for (const c of chainIds(item.layers.map((l) => l.diffId))) if (!engine.layers.has(c)) layers.add(c);
  const ids = items.map((i) => imageId(i.configBytes));
  const lastClaim = new Map<string, number>(); // a tag two items set ends on the later one
  items.forEach((item, n) => item.tags.forEach((t) => lastClaim.set(t.string(), n)));
  const images: IntendedImage[] = [];
  items.forEach((item, n) => {
    const id = ids[n]!;
    if (engine.images.has(id) || images.some((i) => i.id === id)) return;
    const tags = item.tags.map((t) => t.string()).filter((t) => lastClaim.get(t) === n);
    const parentSet = item.parent !== undefined && (engine.images.has(item.parent) || ids.includes(item.parent));
    images.push({ id, tags, ...(parentSet ? { parent: item.parent! } : {}) });
  });
  return { op: 'load', layers: [...layers], images };
}

/** Phase 2: every layer of every item, as handles (released by the caller, or here on failure). */
async function registerAll(engine: Engine, src: ArchiveSource, items: LoadItem[], opts: LoadOptions): Promise<Layer[]> {
  const total = items.flatMap((i) => i.layers).reduce((n, l) => n + src.size(l.name), 0);
  let done = 0;
  const held: Layer[] = [];
  try {
    for (const item of items) {
      const chains = chainIds(item.layers.map((l) => l.diffId));
      for (let i = 0; i < item.layers.length; i++) {
        const layer = item.layers[i]!;
        if (engine.layers.has(chains[i]!)) {
          done += src.size(layer.name);
          opts.onProgress?.(done, total);
          continue;
        }
        const registering = registerLayer(engine, src, layer, i, chains[i - 1], opts, (n) => opts.onProgress?.(done + n, total));
        held.push(
          await registering.catch((e: unknown) => {
            throw whileWriting(`loading layer ${i + 1} of ${item.layers.length} of ${imageName(item)}`, e);
          }),
        );
        done += src.size(layer.name);
      }
    }
    return held;
  } catch (e) {
    for (const l of held.reverse()) await engine.layers.release(l).catch(() => undefined);
    throw e;
  }
}

async function registerLayer(
  engine: Engine,
  src: ArchiveSource,
  layer: LoadLayer,
  index: number,
  parent: Digest | undefined,
  opts: LoadOptions,
  progress: (bytes: number) => void,
): Promise<Layer> {
  let blob: { digest: Digest; size: number } | undefined;
  let bytes = 0;
  async function* counted(chunks: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
    for await (const c of chunks) {
      bytes += c.length;
      progress(bytes);
      yield c;
    }
  }
  const read = counted(src.open(layer.name, opts.signal ? { signal: opts.signal } : {}));
  // Only an OCI blob has a digest of its own to check; a docker-save layer is checked by its DiffID.
  const raw = layer.blob ? hashing(read, (digest, size) => (blob = { digest, size })) : read;
  const registered = await engine.layers.register(decompress(raw, opts.signal ? { signal: opts.signal } : {}), parent, opts.signal ? { signal: opts.signal } : {});
  const problem = checkLayer(layer, index, registered, blob);
  if (problem) {
    await engine.layers.release(registered);
    throw problem;
  }
  return registered;
}

function checkLayer(layer: LoadLayer, index: number, got: Layer, blob: { digest: Digest; size: number } | undefined): StrataError | undefined {
  if (layer.blob && blob && blob.digest !== layer.blob.digest) {
    return new StrataError('DIGEST_MISMATCH', `blob ${layer.blob.digest} (layer ${index}): digest mismatch: the blob hashes to ${blob.digest}`);
  }
  if (layer.blob && blob && blob.size !== layer.blob.size) {
    return new StrataError('SIZE_MISMATCH', `blob ${layer.blob.digest} (layer ${index}): size mismatch: expected ${layer.blob.size} bytes, got ${blob.size}`);
  }
  if (got.diffId !== layer.diffId) {
    return new StrataError('DIFFID_MISMATCH', `invalid diffID for layer ${index}: expected "${layer.diffId}", got "${got.diffId}"`);
  }
  return undefined;
}

/** How messages name an image of the archive: its first tag, else its ID. */
function imageName(item: LoadItem): string {
  return item.tags[0]?.familiarString() ?? imageId(item.configBytes);
}

/** Whether `e` (or what caused it) is a full disk or an exhausted quota. */
function diskFull(e: unknown): boolean {
  for (let c: unknown = e, depth = 0; c instanceof Error && depth < 8; c = c.cause, depth++) {
    const code = (c as NodeJS.ErrnoException).code;
    if (code === 'ENOSPC' || code === 'EDQUOT' || /no space left on device|disk quota exceeded/i.test(c.message)) return true;
  }
  return false;
}

/** A full disk, with what was being written (see whileWriting). */
class DiskFullError extends StrataError {}

/**
 * A full disk, said with what was being written (`loading layer 2 of 3 of app:1: cannot write
 * "usr/lib/x": no space left on device (ENOSPC)`); any other error is returned as it is.
 */
function whileWriting(what: string, e: unknown): unknown {
  if (e instanceof DiskFullError || !(e instanceof Error) || !diskFull(e)) return e;
  // Node's own form `ENOSPC: no space left on device, write` says neither which file nor why.
  const text = e.message.replace(/^E[A-Z]+: (.*?)(, \w+(?: '[^']*')?)?$/s, '$1');
  const code = (e as NodeJS.ErrnoException).code;
  return new DiskFullError(code === 'EDQUOT' ? code : 'ENOSPC', `${what}: ${text.split('\n')[0]}`, { cause: e });
}

/** Phase 3: the images and their tags, with dockerd's messages. */
async function createImages(engine: Engine, items: LoadItem[]): Promise<LoadResult> {
  try {
    return await createImagesNow(engine, items);
  } catch (e) {
    throw whileWriting('storing the images', e);
  }
}

async function createImagesNow(engine: Engine, items: LoadItem[]): Promise<LoadResult> {
  const result: LoadResult = { images: [], messages: [] };
  const parents: [Digest, Digest][] = [];
  for (const item of items) {
    const id = await engine.images.create(item.configBytes);
    if (item.parent) parents.push([id, item.parent]);
    const tags: string[] = [];
    for (const ref of item.tags) {
      const prev = engine.images.references.get(ref);
      if (prev !== undefined && prev !== id) {
        result.messages.push(`The image ${ref.familiarString()} already exists, renaming the old one with ID ${prev} to empty string`);
      }
      engine.images.references.addTag(ref, id, true);
      tags.push(ref.familiarString());
      result.messages.push(`Loaded image: ${ref.familiarString()}`);
    }
    if (tags.length === 0) result.messages.push(`Loaded image ID: ${id}`);
    result.images.push({ id, tags });
  }
  // After all are created: a parent may come after its child in the manifest (dockerd's order is a map's).
  for (const [id, parent] of parents) if (engine.images.has(parent)) setParent(engine, id, parent);
  return result;
}

/**
 * moby's `setParentID` on load: the parent must be an image here whose history and DiffIDs are a
 * strict prefix of the child's (`image X is not a valid parent for Y` otherwise).
 */
function setParent(engine: Engine, id: Digest, parentId: Digest): void {
  const img = engine.images.get(id).config;
  const parent = engine.images.get(parentId).config;
  const valid =
    (img.history.length === 0 && parent.history.length === 0) ||
    (parent.history.length < img.history.length &&
      parent.rootfs.diff_ids.length <= img.rootfs.diff_ids.length &&
      parent.history.every((h, i) => isDeepStrictEqual(h, img.history[i])) &&
      parent.rootfs.diff_ids.every((d, i) => d === img.rootfs.diff_ids[i]));
  if (!valid) throw new StrataError('INVALID_PARENT', `image ${parentId} is not a valid parent for ${id}`);
  engine.images.setParent(id, parentId);
}
