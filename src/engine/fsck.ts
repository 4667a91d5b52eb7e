/**
 * `strata fsck`: re-verifies a data root. Every layer's tar is rebuilt from its tar-split and its
 * files and hashed against its DiffID (a changed, missing or truncated file fails the hash or the
 * tar-split's CRC); every image config against its ID; every container record against its RW
 * layer. Entries that did not even load (a damaged layerdb entry, a config that does not parse)
 * are reported from the stores' load problems. Each damaged layer names the images that need it.
 *
 *   const report = await fsck(engine, { onProgress });
 *   report.damaged   // [{ kind: 'layer', id: 'sha256:…', reason: 'could not verify layer data for: …', images: ['sha256:…'] }]
 *
 * fsck changes nothing.
 */
import { chainIds, type Digest } from '../digest/index.js';
import { diffIdsOf } from '../image/config.js';
import type { Engine } from './engine.js';

export interface Damage {
  kind: 'layer' | 'image' | 'container' | 'mount' | 'entry';
  id: string;
  reason: string;
  /** For a layer: the images whose layer stacks include it. */
  images?: Digest[];
}

export interface FsckReport {
  layersChecked: number;
  imagesChecked: number;
  containersChecked: number;
  /** Bytes of layer tar re-hashed. */
  bytesVerified: number;
  damaged: Damage[];
}

export interface FsckOptions {
  signal?: AbortSignal;
  /** Layers verified so far, of `total`. */
  onProgress?: (done: number, total: number) => void;
}

export async function fsck(engine: Engine, opts: FsckOptions = {}): Promise<FsckReport> {
  const images = engine.images.images();
  const usedBy = new Map<string, Digest[]>();
  for (const img of images) {
    for (const chain of chainIds(diffIdsOf(img.config))) usedBy.set(chain, [...(usedBy.get(chain) ?? []), img.id]);
  }
  const report: FsckReport = { layersChecked: 0, imagesChecked: images.length, containersChecked: 0, bytesVerified: 0, damaged: [] };
  for (const p of engine.layers.problems) {
    report.damaged.push({ kind: p.kind, id: p.name, reason: p.reason, ...(p.kind === 'layer' ? { images: usedBy.get(p.name) ?? [] } : {}) });
  }
  for (const p of engine.images.problems) report.damaged.push({ kind: 'image', id: p.id, reason: p.reason });

  const layers = engine.layers.layers();
  for (const info of layers) {
    opts.signal?.throwIfAborted();
    const handle = engine.layers.get(info.chainId);
    try {
      for await (const chunk of handle.tarStream(opts.signal ? { signal: opts.signal } : {})) report.bytesVerified += chunk.length;
    } catch (e) {
      if (opts.signal?.aborted) throw e;
      report.damaged.push({ kind: 'layer', id: info.chainId, reason: (e as Error).message, images: usedBy.get(info.chainId) ?? [] });
    } finally {
      await engine.layers.release(handle);
    }
    report.layersChecked++;
    opts.onProgress?.(report.layersChecked, layers.length);
  }
  for (const img of images) {
    try {
      engine.images.db.get(img.id);
    } catch (e) {
      report.damaged.push({ kind: 'image', id: img.id, reason: (e as Error).message });
    }
  }
  const mounts = new Set(engine.layers.mounts().map((m) => m.name));
  for (const c of engine.containers.list()) {
    report.containersChecked++;
    if (!mounts.has(c.id)) report.damaged.push({ kind: 'container', id: c.name, reason: `its read-write layer ${c.id} does not exist` });
  }
  return report;
}
