/**
 * `Engine`: one data root's stores opened together — the layer store (and its lock), the images
 * on it, and strata's container records — as the verbs in this folder use them.
 */
import fs from 'node:fs';
import path from 'node:path';
import { openImageStore, type ImageStore, type OpenImageStoreOptions } from '../image/store.js';
import type { LayerStore } from '../layer/index.js';
import { ContainerStore } from './containers.js';

export interface Engine {
  /** The data root. */
  readonly root: string;
  readonly images: ImageStore;
  readonly layers: LayerStore;
  readonly containers: ContainerStore;
  /** `<root>/tmp`: scratch space on the data root's filesystem (spooled archives). */
  readonly tmpDir: string;
  /** Closes the stores and drops the data-root lock. */
  close(): Promise<void>;
}

export type OpenEngineOptions = OpenImageStoreOptions;

/** Opens the data root (waiting for its lock) with its layers, images and containers loaded. */
export async function openEngine(opts: OpenEngineOptions): Promise<Engine> {
  const images = await openImageStore(opts);
  const root = images.layers.root;
  try {
    const tmpDir = path.join(root, 'tmp');
    if (!opts.readOnly) fs.mkdirSync(tmpDir, { recursive: true, mode: 0o700 });
    return { root, images, layers: images.layers, containers: new ContainerStore(root), tmpDir, close: () => images.close() };
  } catch (e) {
    await images.close();
    throw e;
  }
}

/** Runs `fn` with the data root open and closes it afterwards, whatever happens. */
export async function withEngine<T>(opts: OpenEngineOptions, fn: (engine: Engine) => Promise<T> | T): Promise<T> {
  const engine = await openEngine(opts);
  try {
    return await fn(engine);
  } finally {
    await engine.close();
  }
}
