/**
 * Giving a layer's tar back (moby `getTarStream` + `verifiedReadCloser`): the tar-split replays
 * every byte that was not file content, the files are read from the driver, and the SHA-256 of
 * the result must be the DiffID — if a file was changed behind the store's back, the stream ends
 * with `could not verify layer data for: <diffID>…` (or earlier, with the CRC-64 mismatch of the
 * changed file).
 */
import { assembleTar, rootFileGetter } from '../archive/tarsplit/index.js';
import { Sha256 } from '../digest/index.js';
import { errVerify } from './errors.js';
import type { RoLayer, StoreState } from './state.js';

/** The driver directory a layer's files are read from, and how to give it back. */
async function openFiles(s: StoreState, l: RoLayer): Promise<{ root: string; release(): Promise<void> }> {
  if (s.driver.diffGetter) return s.driver.diffGetter(l.cacheId);
  const root = await s.driver.get(l.cacheId, '');
  return { root, release: () => s.driver.put(l.cacheId) };
}

export async function* layerTarStream(s: StoreState, l: RoLayer, signal?: AbortSignal): AsyncGenerator<Buffer> {
  const tarSplit = s.db.openTarSplit(l.chainId);
  let files;
  try {
    files = await openFiles(s, l);
  } catch (e) {
    tarSplit.destroy();
    throw e;
  }
  try {
    const hash = new Sha256();
    for await (const chunk of assembleTar(tarSplit, rootFileGetter(files.root))) {
      signal?.throwIfAborted();
      hash.update(chunk);
      yield chunk;
    }
    if (hash.digest() !== l.diffId) throw errVerify(l.diffId);
  } finally {
    tarSplit.destroy();
    await files.release();
  }
}
