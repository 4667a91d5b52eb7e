/**
 * `ImageStore`: moby's `image.Store` — the images of one data root, each a config in the imagedb
 * holding its top layer in the layer store, plus the references (tags, digests) that name them.
 *
 *   const images = await openImageStore({ root: '/var/lib/strata' });   // layer store + images
 *   const id = await images.create(configBytes);    // the layers must be registered already
 *   images.references.addTag(parseNormalizedNamed('app:1'), id);
 *   images.resolve('app:1');                        // id (also: full ID, bare hex, unique prefix)
 *   images.get(id).config.rootfs.diff_ids;          // parsed once, at open or create
 *   await images.delete(id);                        // its top layer released: layers nothing else
 *                                                   // holds are deleted, child first
 *   await images.close();                           // closes the layer store (drops the lock)
 *
 * Rules (moby's, image/store.go at 20.10):
 * - Opening restores every config in the imagedb whose layers are all loaded, and holds a handle
 *   on its top layer (that is what keeps an image's layers alive). A config that does not verify
 *   or parse, or whose top layer did not load, is skipped and listed in `problems` (moby logs it
 *   at debug level and forgets it; the files are left on disk either way).
 * - `create` stores the config and holds its top layer; storing a config that is already an image
 *   changes nothing. Layers missing → `failed to get layer <chainId>: layer does not exist`, and
 *   nothing is stored.
 * - `parent` metadata (set by commit and the legacy builder) makes children; deleting an image
 *   clears its children's `parent`.
 * - The store does not decide *whether* an image may be deleted (tags, children, containers):
 *   that is `docker rmi`'s policy, in the engine.
 */
import path from 'node:path';
import type { Digest } from '../digest/index.js';
import { StrataError } from '../errors/index.js';
import { openLayerStore, type Layer, type LayerMetadata, type LayerStore, type OpenLayerStoreOptions } from '../layer/index.js';
import { imageId, parseImageConfig, parseNewImageConfig, topChainIdOf, type ImageConfig } from './config.js';
import { ImageDb } from './imagedb/index.js';
import { openReferenceStore, type ReferenceStore } from './references.js';
import { DistributionStore } from './distribution.js';
import { parseAnyReference, DigestReference } from './reference/index.js';

/** One image: its ID, config (as stored and parsed), top layer, parent. */
export interface ImageRecord {
  /** `sha256:` + SHA-256 of `bytes`. */
  id: Digest;
  /** The config exactly as stored. */
  bytes: Buffer;
  config: ImageConfig;
  /** ChainID of the whole layer stack; absent for an image without layers. */
  topChainId?: Digest;
}

/** An imagedb entry that did not load, and why. */
export interface ImageProblem {
  id: string;
  reason: string;
}

export interface OpenImageStoreOptions extends OpenLayerStoreOptions {}

interface Entry extends ImageRecord {
  layer?: Layer;
  children: Set<Digest>;
}

/** `image/<driver>/` of a data root: where the imagedb and `repositories.json` live. */
export function imageRoot(root: string, driver: string): string {
  return path.join(root, 'image', driver);
}

/** Opens the layer store (taking its lock) and restores the images on it. */
export async function openImageStore(opts: OpenImageStoreOptions): Promise<ImageStore> {
  const layers = await openLayerStore(opts);
  try {
    const dir = imageRoot(layers.root, layers.driver.name);
    const db = ImageDb.open(path.join(dir, 'imagedb'));
    const refs = openReferenceStore(path.join(dir, 'repositories.json'));
    return new ImageStore(layers, db, refs, new DistributionStore(path.join(dir, 'distribution')));
  } catch (e) {
    await layers.close();
    throw e;
  }
}

export class ImageStore {
  readonly layers: LayerStore;
  readonly db: ImageDb;
  readonly references: ReferenceStore;
  /** Registry blob ↔ layer mappings (pull and push keep them). */
  readonly distribution: DistributionStore;
  readonly problems: ImageProblem[] = [];
  #images = new Map<Digest, Entry>();

  /** @internal Use `openImageStore`. */
  constructor(layers: LayerStore, db: ImageDb, references: ReferenceStore, distribution: DistributionStore) {
    this.layers = layers;
    this.db = db;
    this.references = references;
    this.distribution = distribution;
    this.#restore();
  }

  #restore(): void {
    for (const id of this.db.walk()) {
      try {
        const bytes = this.db.get(id);
        const config = parseImageConfig(bytes);
        const top = topChainIdOf(config);
        if (top !== undefined && !this.layers.has(top)) {
          this.problems.push({ id, reason: `layer ${top} does not exist` });
          continue;
        }
        this.#images.set(id, { id, bytes, config, ...(top ? { topChainId: top, layer: this.layers.get(top) } : {}), children: new Set() });
      } catch (e) {
        this.problems.push({ id, reason: (e as Error).message });
      }
    }
    for (const id of this.#images.keys()) {
      const parent = this.parentOf(id);
      if (parent) this.#images.get(parent)?.children.add(id);
    }
  }

  /** Every image, in ID order. */
  images(): ImageRecord[] {
    return [...this.#images.values()].sort((a, b) => (a.id < b.id ? -1 : 1)).map(publicRecord);
  }

  has(id: Digest): boolean {
    return this.#images.has(id);
  }

  /** The image `id`; `IMAGE_NOT_FOUND` if there is none. */
  get(id: Digest): ImageRecord {
    return publicRecord(this.#entry(id));
  }

  #entry(id: Digest): Entry {
    const e = this.#images.get(id);
    if (!e) throw new StrataError('IMAGE_NOT_FOUND', `No such image: ${id}`);
    return e;
  }

  /**
   * The image a user's string names, as dockerd's `GetImage` finds it: a full ID (`sha256:…` or
   * 64 hex), a reference (`name`, `name:tag`, `name@digest`; a bare name means `:latest`), or
   * a unique prefix of an ID. Throws `IMAGE_NOT_FOUND` `No such image: <ref>`.
   */
  resolve(ref: string): Digest {
    let parsed;
    try {
      parsed = parseAnyReference(ref);
    } catch {
      parsed = undefined;
    }
    if (parsed instanceof DigestReference) {
      const id = parsed.digest as Digest;
      if (this.#images.has(id)) return id;
    } else if (parsed) {
      const id = this.references.get(parsed);
      if (id && this.#images.has(id)) return id;
    }
    const m = /^(?:sha256:)?([0-9a-f]{1,64})$/.exec(ref);
    if (m) {
      const prefix = `sha256:${m[1]!}`;
      const found = [...this.#images.keys()].filter((id) => id.startsWith(prefix));
      if (found.length === 1) return found[0]!;
      if (found.length > 1) throw new StrataError('AMBIGUOUS_IMAGE_PREFIX', `ambiguous image ID prefix ${ref}`);
    }
    throw new StrataError('IMAGE_NOT_FOUND', `No such image: ${ref}`);
  }

  /**
   * moby's `Store.Create`: stores `bytes` as an image config (parsed and checked as a new one)
   * and holds its top layer; returns the image ID. An image already there is left as it is.
   */
  async create(bytes: Buffer): Promise<Digest> {
    const config = parseNewImageConfig(bytes);
    const top = topChainIdOf(config);
    const id = imageId(bytes);
    if (this.#images.has(id)) return id;
    if (top !== undefined && !this.layers.has(top)) {
      throw new StrataError('LAYER_DOES_NOT_EXIST', `failed to get layer ${top}: layer does not exist`);
    }
    const stored = this.db.set(bytes);
    this.#images.set(stored, { id: stored, bytes, config, ...(top ? { topChainId: top, layer: this.layers.get(top) } : {}), children: new Set() });
    return stored;
  }

  /** The image's `parent` metadata, if it names an image. */
  parentOf(id: Digest): Digest | undefined {
    try {
      return this.db.getParent(id);
    } catch {
      return undefined;
    }
  }

  /** Records `parent` as the parent of `id` (commit does). Both must be images. */
  setParent(id: Digest, parent: Digest): void {
    this.#entry(parent);
    this.#entry(id);
    this.db.setParent(id, parent);
    this.#images.get(parent)!.children.add(id);
  }

  /** The images whose parent is `id`. */
  children(id: Digest): Digest[] {
    return [...this.#entry(id).children].sort();
  }

  /**
   * moby's `Store.Delete`: forgets image `id` (its config and metadata files), clears its
   * children's `parent`, and releases its top layer; returns the layers that release deleted.
   * References are the caller's to remove first.
   */
  async delete(id: Digest): Promise<LayerMetadata[]> {
    const e = this.#entry(id);
    for (const child of e.children) {
      try {
        this.db.deleteParent(child);
      } catch {
        /* the child's metadata may already be gone */
      }
    }
    const parent = this.parentOf(id);
    if (parent) this.#images.get(parent)?.children.delete(id);
    this.db.delete(id);
    this.#images.delete(id);
    return e.layer ? this.layers.release(e.layer) : [];
  }

  /** Closes the layer store (waiting for changes in flight) and drops the data-root lock. */
  async close(): Promise<void> {
    await this.layers.close();
  }
}

function publicRecord(e: Entry): ImageRecord {
  return { id: e.id, bytes: e.bytes, config: e.config, ...(e.topChainId ? { topChainId: e.topChainId } : {}) };
}
