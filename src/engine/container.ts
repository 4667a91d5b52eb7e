/**
 * Container lifecycle on the layer store, as dockerd drives it: create (an RW layer named by the
 * container's ID, on the image's top layer, over Docker's init layer), remove, and commit (the
 * RW layer's changes registered as a layer on the image's, and a child image config around it).
 *
 *   const c = await createContainer(engine, 'app:1', { name: 'web' });
 *   const root = await engine.layers.getRWLayer(c.id).mount();   // change files under root
 *   const { id } = await commitContainer(engine, 'web', { tag: 'app:2', comment: 'edited' });
 *   await removeContainer(engine, 'web');                        // RW and init layers deleted
 */
import { DIGEST_EMPTY_TAR, type Digest } from '../digest/index.js';
import { StrataError } from '../errors/index.js';
import { imageId, marshalImageConfig, newContainerConfig, newHistoryEntry, newImageConfig, type ImageConfig } from '../image/config.js';
import { goTimeNowUTC } from '../image/imagedb/index.js';
import { parseNormalizedNamed } from '../image/reference/index.js';
import { dockerInit, type Layer, type LayerMetadata } from '../layer/index.js';
import { beginIntent, underIntent } from './intent.js';
import type { ContainerRecord } from './containers.js';
import type { Engine } from './engine.js';
import { hostPlatform } from './platform.js';

/** `docker create IMAGE`: a container record and its RW layer. */
export async function createContainer(engine: Engine, imageRef: string, opts: { name?: string } = {}): Promise<ContainerRecord> {
  const image = engine.images.get(engine.images.resolve(imageRef));
  const rec = engine.containers.prepare(image.id, opts.name);
  // An RW layer whose record never got written is released (now on an error, or at the next open).
  return underIntent(engine, { op: 'create', container: rec.id }, async () => {
    await engine.layers.createRWLayer(rec.id, image.topChainId, { init: dockerInit() });
    engine.containers.add(rec);
    return rec;
  });
}

/**
 * `docker rm`: the record, then the RW layer (unmounted first by the driver). Returns the layers
 * deleted. Once started it is finished: a kill (or a failure) after the record went leaves an
 * intent, and the next writable open releases the RW layer.
 */
export async function removeContainer(engine: Engine, ref: string): Promise<LayerMetadata[]> {
  const rec = engine.containers.get(ref);
  // The layers under it too: when its image is gone (rmi -f), its release deletes them in a cascade.
  const layers: Digest[] = [];
  for (let p = engine.layers.mounts().find((m) => m.name === rec.id)?.parent; p !== undefined; p = engine.layers.layer(p).parent) layers.unshift(p);
  const intent = beginIntent(engine, { op: 'rm', container: rec.id, layers });
  engine.containers.remove(rec.id);
  const deleted = await engine.layers.releaseRWLayer(engine.layers.getRWLayer(rec.id));
  intent.done();
  return deleted;
}

export interface CommitOptions {
  /** A name for the new image (`name[:tag]`). */
  tag?: string;
  comment?: string;
  author?: string;
  signal?: AbortSignal;
}

/**
 * `docker commit`: registers the container's changes (against its init layer) on the image's top
 * layer and stores moby's `NewChildImage` of the image: the DiffID appended (unless the layer is
 * empty, which becomes an `empty_layer` history entry), a history entry, `container` set, the
 * image as `parent`. Returns the new image's ID.
 */
export async function commitContainer(engine: Engine, ref: string, opts: CommitOptions = {}): Promise<{ id: Digest; diffId: Digest }> {
  const rec = engine.containers.get(ref);
  const tag = opts.tag ? parseNormalizedNamed(opts.tag) : undefined; // a bad name fails before any work
  if (tag?.digest !== undefined) throw new StrataError('INVALID_TAG', `refusing to create a tag with a digest reference`);
  const parent = engine.images.has(rec.image) ? engine.images.get(rec.image) : undefined;
  if (!parent) throw new StrataError('IMAGE_NOT_FOUND', `the image of container ${rec.name} (${rec.image}) no longer exists`);
  const rw = engine.layers.getRWLayer(rec.id);
  const top = parent.topChainId ?? '';
  const before = engine.layers.layers().filter((l) => (l.parent ?? '') === top).map((l) => l.chainId);
  let layer: Layer | undefined;
  const releaseLayer = async () => {
    const l = layer;
    layer = undefined;
    if (l) await engine.layers.release(l);
  };
  // Until the layer is known, the intent names it as "a new layer on the image's top layer".
  return underIntent(
    engine,
    { op: 'commit', newChildrenOf: { parent: top, before } },
    async (intent) => {
      layer = await engine.layers.register(rw.tarStream(), parent.topChainId, opts.signal ? { signal: opts.signal } : {});
      const bytes = marshalImageConfig(childImage(parent.config, rec, layer.diffId, opts));
      const id = imageId(bytes);
      intent.update({
        op: 'commit',
        ...(before.includes(layer.chainId) ? {} : { layers: [layer.chainId] }),
        ...(engine.images.has(id) ? {} : { images: [{ id, tags: tag ? [tag.string()] : [], parent: parent.id }] }),
      });
      await engine.images.create(bytes);
      engine.images.setParent(id, parent.id);
      if (tag) engine.images.references.addTag(tag, id, true);
      const diffId = layer.diffId;
      await releaseLayer();
      return { id, diffId };
    },
    releaseLayer, // the handle goes before the undo, which removes only unheld layers
  );
}

/** moby's `image.NewChildImage`. */
function childImage(img: ImageConfig, rec: ContainerRecord, diffId: Digest, opts: CommitOptions): ImageConfig {
  const empty = diffId === DIGEST_EMPTY_TAR;
  const created = goTimeNowUTC();
  const history = newHistoryEntry({ created, author: opts.author ?? '', comment: opts.comment ?? '', empty_layer: empty });
  const containerConfig = newContainerConfig({ ...(img.config ?? {}), Hostname: rec.id.slice(0, 12), Image: rec.image });
  return newImageConfig({
    config: img.config,
    architecture: img.architecture || hostPlatform().architecture,
    variant: img.variant,
    os: img.os || 'linux',
    container: rec.id,
    container_config: containerConfig,
    author: opts.author ?? '',
    created,
    rootfs: { ...img.rootfs, diff_ids: empty ? [...img.rootfs.diff_ids] : [...img.rootfs.diff_ids, diffId] },
    history: [...img.history, history],
    'os.features': img['os.features'],
    'os.version': img['os.version'],
  });
}
