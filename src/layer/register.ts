/**
 * Registering a layer from its tar (moby `registerWithDescriptor`), in the order that leaves
 * nothing behind whatever happens:
 *
 *   1. hold the parent (`layer does not exist` if it is not loaded; `max depth exceeded` at 125)
 *   2. write-set in `layerdb/tmp` with `cache-id` written and fsync'd   ← names what 3 creates
 *   3. driver.create(cacheId, parent's cacheId)
 *   4. stream the tar once: SHA-256 of every byte (the DiffID), tar-split recorded into the
 *      write-set, entries applied by the driver (whose result is `size`)
 *   5. ChainID from the parent's ChainID and the DiffID
 *   6. ChainID already loaded → a new handle on that layer; the new data is thrown away
 *      otherwise → `diff`, `size`, `cache-id`, `parent` written, and the write-set renamed to
 *      `sha256/<hex>`: the layer appears whole, in one step
 *
 * Any failure (a bad tar, an abort, a full disk) removes the driver layer, then the write-set,
 * then drops the parent hold; a crash instead leaves the write-set, which names the driver layer
 * for recovery to remove. moby runs driver.create before the transaction (HEAD swaps them, as
 * here) and has no recovery for either.
 */
import { TarReader, type TarEntry } from '../archive/tar/index.js';
import { recordTarSplit } from '../archive/tarsplit/index.js';
import { chainId as chainIdOf, hashing, parseDigest, randomCacheId, type Digest } from '../digest/index.js';
import { LayerDbError, type LayerTransaction } from './metadata/index.js';
import { LayerStoreError, errLayerDoesNotExist } from './errors.js';
import { MAX_LAYER_DEPTH, cacheIdOf, type RoLayer, type StoreState } from './state.js';
import { undoHold } from './release.js';
import type { RegisterOptions } from './types.js';
import path from 'node:path';

/** Holds `parent` for a new child or RW layer; `undefined` for none. */
export function holdParent(s: StoreState, parent: Digest | undefined): RoLayer | undefined {
  if (parent === undefined || parent === '') return undefined;
  const p = s.layers.get(parseDigest(parent));
  if (!p) throw errLayerDoesNotExist(parent);
  p.refCount++;
  return p;
}

/** Passes `source` through, failing with the signal's reason once it is aborted. */
async function* abortable(source: AsyncIterable<Uint8Array>, signal: AbortSignal | undefined): AsyncGenerator<Uint8Array> {
  signal?.throwIfAborted();
  for await (const chunk of source) {
    signal?.throwIfAborted();
    yield chunk;
  }
}

/** A generator that remembers whether it ran to its end. */
function tracked<T>(gen: AsyncGenerator<T, void, undefined>): { iterable: AsyncIterable<T>; done: () => boolean } {
  let finished = false;
  async function* wrap(): AsyncGenerator<T> {
    yield* gen;
    finished = true;
  }
  return { iterable: wrap(), done: () => finished };
}

/** Returns the registered (or existing) layer, already held once for the caller's handle. */
export async function registerLayer(
  s: StoreState,
  tar: AsyncIterable<Uint8Array>,
  parentId: Digest | undefined,
  opts: RegisterOptions = {},
): Promise<RoLayer> {
  opts.signal?.throwIfAborted();
  const parent = s.layers.get(parentId === undefined || parentId === '' ? ('' as Digest) : parseDigest(parentId));
  if (parentId && !parent) throw errLayerDoesNotExist(parentId);
  if (parent && parent.depth >= MAX_LAYER_DEPTH) throw new LayerStoreError('MAX_DEPTH_EXCEEDED', 'max depth exceeded');
  holdParent(s, parent?.chainId);

  const cacheId = randomCacheId();
  let tx: LayerTransaction;
  try {
    tx = s.db.startTransaction();
  } catch (e) {
    if (parent) undoHold(parent);
    throw e;
  }
  const ws = path.basename(tx.dir);
  s.activeWriteSets.add(ws);
  let created = false;
  let result: RoLayer | undefined;
  try {
    return await applyAndCommit();
  } catch (e) {
    // An abort surfaces as itself, not as the read error the tar reader wrapped it in.
    throw opts.signal?.aborted ? opts.signal.reason : e;
  } finally {
    if (!result) {
      // The write-set goes only once the driver data is gone: until then it is what names it.
      let dataGone = !created;
      if (created) dataGone = await s.driver.remove(cacheId).then(() => true, () => false);
      if (dataGone) await tx.cancel();
      if (parent) undoHold(parent);
    }
    s.activeWriteSets.delete(ws);
  }

  async function applyAndCommit(): Promise<RoLayer> {
    tx.setCacheId(cacheId);
    tx.sync();
    await s.driver.create(cacheId, cacheIdOf(parent));
    created = true;

    let diffId: Digest | undefined;
    const packer = tx.tarSplitWriter();
    let size: number;
    try {
      const reader = new TarReader(hashing(abortable(tar, opts.signal), (d) => (diffId = d)));
      const entries = tracked<TarEntry>(recordTarSplit(reader, packer));
      size = await s.driver.applyDiff(cacheId, cacheIdOf(parent), entries.iterable);
      if (!entries.done()) throw new LayerStoreError('LAYER_VERIFY', `the ${s.driver.name} driver stopped before the end of the layer`);
      await packer.close();
    } catch (e) {
      await packer.abort().catch(() => undefined);
      throw e;
    }
    if (diffId === undefined) throw new LayerStoreError('LAYER_VERIFY', 'the layer stream ended before its digest was taken');
    opts.signal?.throwIfAborted();

    const chainId = chainIdOf(parent?.chainId, diffId);
    const existing = s.layers.get(chainId);
    if (existing) {
      // Deduplicated: a new reference on the layer we have; the finally below drops the new data
      // and the extra parent hold (moby's `layer already exists` path).
      existing.refCount++;
      return existing;
    }
    tx.setLayer({ diffId, size, cacheId, ...(parent ? { parent: parent.chainId } : {}) });
    try {
      tx.commit(chainId);
    } catch (e) {
      if (e instanceof LayerDbError && e.code === 'LAYERDB_EXISTS') {
        const why = s.problems.find((p) => p.kind === 'layer' && p.name === chainId)?.reason;
        throw new LayerStoreError('LAYER_BROKEN', `layer ${chainId} exists on disk but did not load${why ? `: ${why}` : ''}`, e);
      }
      throw e;
    }
    result = {
      chainId,
      diffId,
      cacheId,
      size,
      parent,
      depth: parent ? parent.depth + 1 : 1,
      refCount: 1,
      children: 0,
      mounts: 0,
      handles: new Set(),
    };
    if (parent) parent.children++; // the hold taken above is now this child's
    s.layers.set(chainId, result);
    return result;
  }
}
