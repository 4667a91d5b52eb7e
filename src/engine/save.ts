/**
 * `strata save`: images out of the data root as a `docker save` archive (the default) or an OCI
 * image layout, streamed — each layer tar rebuilt from its tar-split and files and verified
 * against its DiffID on the way out, never held in memory.
 *
 *   const images = saveSelection(engine, ['app:1', 'base']);   // which images, with which tags
 *   for await (const chunk of saveImages(engine, images, { format: 'docker' })) out.write(chunk);
 *
 * Which tags an image carries follows `docker save` (20.10): a `name:tag` saves that tag, a bare
 * repository name saves every tag of it, an ID saves the image without tags.
 */
import { tarSizeOf } from '../archive/tarsplit/index.js';
import type { Digest } from '../digest/index.js';
import { StrataError } from '../errors/index.js';
import { dockerSaveArchive } from '../image/archive/docker-save.js';
import { ociLayoutArchive } from '../image/archive/oci-layout.js';
import type { SaveImage, SaveLayer } from '../image/archive/save-types.js';
import { chainIds } from '../digest/index.js';
import { diffIdsOf } from '../image/config.js';
import { isNameOnly, parseAnyReference, DigestReference } from '../image/reference/index.js';
import type { Layer } from '../layer/index.js';
import type { Engine } from './engine.js';

export type SaveFormat = 'docker' | 'oci';

export interface SaveImagesOptions {
  format: SaveFormat;
  signal?: AbortSignal;
  /** Bytes written so far. */
  onProgress?: (bytes: number) => void;
}

/** An image to save and the tags it goes with, in the order the user named them. */
export interface SaveSelection {
  id: Digest;
  tags: string[];
}

/** Resolves the user's names to images and tags as `docker save` does; `No such image: x` if one is unknown. */
export function saveSelection(engine: Engine, names: string[]): SaveSelection[] {
  const out = new Map<Digest, Set<string>>();
  const add = (id: Digest, tag?: string) => {
    const tags = out.get(id) ?? new Set<string>();
    if (tag) tags.add(tag);
    out.set(id, tags);
  };
  for (const name of names) {
    let ref;
    try {
      ref = parseAnyReference(name);
    } catch {
      ref = undefined;
    }
    if (ref && !(ref instanceof DigestReference) && isNameOnly(ref)) {
      const tagged = engine.images.references.referencesByName(ref).filter((a) => a.ref.tag !== undefined && a.ref.digest === undefined);
      if (tagged.length > 0) {
        for (const a of tagged) if (engine.images.has(a.id)) add(a.id, a.ref.familiarString());
        continue;
      }
    }
    const id = engine.images.resolve(name);
    add(id, ref && !(ref instanceof DigestReference) && ref.tag !== undefined && ref.digest === undefined ? ref.familiarString() : undefined);
  }
  return [...out].map(([id, tags]) => ({ id, tags: [...tags] }));
}

/** The archive, streamed. Holds the saved layers until it is done. */
export async function* saveImages(engine: Engine, selection: SaveSelection[], opts: SaveImagesOptions): AsyncGenerator<Buffer> {
  if (selection.length === 0) throw new StrataError('NOTHING_TO_SAVE', 'no images to save');
  const held: Layer[] = [];
  try {
    const images: SaveImage[] = [];
    for (const s of selection) {
      const img = engine.images.get(s.id);
      const chains = chainIds(diffIdsOf(img.config));
      const layers: SaveLayer[] = [];
      for (const chain of chains) {
        const layer = engine.layers.get(chain);
        held.push(layer);
        layers.push({
          diffId: layer.diffId,
          chainId: chain,
          tarSize: await tarSizeOf(engine.layers.metadata.tarSplitPath(chain)),
          tarStream: (o) => layer.tarStream(o?.signal ? { signal: o.signal } : {}),
        });
      }
      const parent = engine.images.parentOf(img.id);
      images.push({ id: img.id, configBytes: img.bytes, config: img.config, repoTags: s.tags, layers, ...(parent ? { parent } : {}) });
    }
    const writerOpts = { ...(opts.signal ? { signal: opts.signal } : {}), ...(opts.onProgress ? { onProgress: opts.onProgress } : {}) };
    yield* opts.format === 'oci' ? ociLayoutArchive(images, writerOpts) : dockerSaveArchive(images, writerOpts);
  } finally {
    for (const l of held) await engine.layers.release(l);
  }
}
