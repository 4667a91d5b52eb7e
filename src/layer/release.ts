/**
 * Letting go of layers (moby `releaseLayer`/`deleteLayer`): a holder leaves, and a layer nobody
 * holds any more is deleted — then its parent loses that layer's hold, and so on up the chain.
 *
 * Deleting one layer is the layerdb's `-removing` protocol: unlist it with one rename, remove the
 * driver data, remove the directory (`cache-id` last). A crash in the middle leaves a `-removing`
 * dir that recovery finishes; the layer is never half-visible.
 */
import type { LayerMetadata } from './types.js';
import { totalSize, type RoLayer, type StoreState } from './state.js';

function metadataOf(l: RoLayer): LayerMetadata {
  return { chainId: l.chainId, diffId: l.diffId, size: l.size, totalSize: totalSize(l) };
}

async function deleteLayer(s: StoreState, l: RoLayer): Promise<void> {
  const removing = s.db.startRemove(l.chainId);
  s.activeRemovals.add(removing.name);
  try {
    await s.driver.remove(l.cacheId); // on failure the -removing dir stays for recovery, as in moby
    s.db.finishRemove(removing);
  } finally {
    s.activeRemovals.delete(removing.name);
  }
}

/**
 * Drops one hold on `l`; deletes every layer whose count reaches 0, child first, and returns what
 * was deleted. The layer leaves the map before its files go, so nothing in this process can take
 * a new hold on a layer being deleted.
 */
export async function dropHold(s: StoreState, l: RoLayer): Promise<LayerMetadata[]> {
  const deleted: LayerMetadata[] = [];
  let cur: RoLayer | undefined = l;
  while (cur) {
    if (cur.refCount <= 0) throw new Error(`layer not retained: ${cur.chainId} has no holder to drop`); // a bug, as moby's panic
    cur.refCount--;
    if (cur.refCount > 0) break;
    s.layers.delete(cur.chainId);
    const meta = metadataOf(cur);
    await deleteLayer(s, cur);
    deleted.push(meta);
    if (cur.parent) cur.parent.children--;
    cur = cur.parent;
  }
  return deleted;
}

/**
 * Gives back a hold an operation took and did not keep (a failed or deduplicated register, a
 * failed RW-layer creation): the count goes back to what it was and nothing is deleted, even a
 * layer nothing else holds — the failed operation must leave the store as it found it.
 */
export function undoHold(l: RoLayer): void {
  if (l.refCount <= 0) throw new Error(`layer not retained: ${l.chainId} has no holder to undo`);
  l.refCount--;
}
