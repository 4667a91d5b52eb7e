/**
 * Deleting a layer as moby's `deleteLayer` does, in two steps with a crash-safe middle:
 *
 *   startRemove:  sha256/<hex>  →  sha256/<hex>-<64 random hex>-removing   (one rename, fsync'd)
 *                 … the caller removes the driver data (cache-id) …
 *   finishRemove: remove the -removing dir
 *
 * After the rename the layer is no longer listed; if the process dies before finishRemove, the
 * `-removing` dir (still holding `cache-id`) is an orphan that cleanup finds and finishes.
 */
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import { digestHex, parseDigest, type Digest } from '../../digest/index.js';
import { LayerDbError, errCode, sys, toSysError } from './errors.js';
import { fsyncDir, renameNoReplace } from './fsutil.js';
import { LAYER_FILES, REMOVING_SUFFIX, type Layout } from './layout.js';
import type { RemovingLayer } from './scan.js';

export function startRemove(l: Layout, chainId: Digest): RemovingLayer {
  const hex = digestHex(parseDigest(chainId));
  const from = path.join(l.layersDir, hex);
  for (;;) {
    const name = `${hex}-${crypto.randomBytes(32).toString('hex')}${REMOVING_SUFFIX}`;
    const dir = path.join(l.layersDir, name);
    let moved: boolean;
    try {
      moved = renameNoReplace(from, dir);
    } catch (e) {
      if (errCode(e) === 'ENOENT') throw new LayerDbError('LAYERDB_NOT_FOUND', chainId, undefined, 'layer does not exist', e);
      throw e;
    }
    if (!moved) continue; // that random name exists: draw again, as moby does on EEXIST
    fsyncDir(l.layersDir);
    return { chainId, name, dir };
  }
}

/**
 * Removes a `-removing` dir. `cache-id` goes last (after every other entry, before the rmdir),
 * so a dir that a crash left half-removed still names its driver data for the next cleanup, and
 * one without `cache-id` was already past the point where the driver data mattered.
 */
export function finishRemove(r: RemovingLayer): void {
  let names: string[];
  try {
    names = fs.readdirSync(r.dir);
  } catch (e) {
    if (errCode(e) === 'ENOENT') return;
    throw toSysError(e);
  }
  sys(() => {
    for (const n of names) if (n !== LAYER_FILES.cacheId) fs.rmSync(path.join(r.dir, n), { recursive: true, force: true });
    fs.rmSync(path.join(r.dir, LAYER_FILES.cacheId), { force: true });
    fs.rmSync(r.dir, { recursive: true, force: true });
  });
}
