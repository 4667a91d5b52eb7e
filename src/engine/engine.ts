/**
 * `Engine`: one data root's stores opened together — the layer store (and its lock), the images
 * on it, and strata's container records — as the verbs in this folder use them.
 *
 * A writable open finishes what killed processes left, under the exclusive lock and before any
 * verb runs: the layer store recovers its own write-sets and `-removing` dirs (layer/recovery.ts);
 * then each verb intent left behind is undone (intent.ts), the spool dirs of interrupted loads
 * and pulls in `<root>/tmp` are removed, and so are the `.tmp-…` files interrupted atomic writes left next to
 * the image configs, `repositories.json` and the container records (nothing ever reads them).
 */
import fs from 'node:fs';
import path from 'node:path';
import { openImageStore, type ImageStore, type OpenImageStoreOptions } from '../image/store.js';
import type { LayerStore } from '../layer/index.js';
import { ContainerStore } from './containers.js';
import { recoverIntents, type UndoReport } from './intent.js';

/** What a writable open found left by killed processes, and finished. */
export interface EngineRecovery extends UndoReport {
  /** Intent files undone. */
  intents: string[];
  /** Spool dirs and temp files removed (relative to the data root). */
  removed: string[];
}

export interface Engine {
  /** The data root. */
  readonly root: string;
  readonly images: ImageStore;
  readonly layers: LayerStore;
  readonly containers: ContainerStore;
  /** `<root>/tmp`: scratch space on the data root's filesystem (spooled archives). */
  readonly tmpDir: string;
  /** What opening recovered (empty when read-only); the layer store's own is `layers.recovered`. */
  readonly recovered: EngineRecovery;
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
    const recovered: EngineRecovery = { images: [], layers: [], containers: [], intents: [], removed: [] };
    const engine: Engine = { root, images, layers: images.layers, containers: new ContainerStore(root), tmpDir, recovered, close: () => images.close() };
    if (!opts.readOnly) {
      fs.mkdirSync(tmpDir, { recursive: true, mode: 0o700 });
      Object.assign(recovered, await recoverIntents(engine));
      recovered.removed = sweepLeftovers(root, images.layers.driver.name);
    }
    return engine;
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

const list = (dir: string): string[] => {
  try {
    return fs.readdirSync(dir);
  } catch {
    return [];
  }
};

/** strata's own scratch dirs in `<root>/tmp`: a load's spool (image/archive/source.ts), a pull's downloads. */
const SCRATCH = /^(archive|pull)-/;

/**
 * Removes what dead processes left that nothing reads: strata's scratch dirs in `<root>/tmp`
 * (dockerd's own files there are left alone: it may be running, with --ignore-dockerd), and
 * `.tmp-*` files of atomic writes in the imagedb, next to `repositories.json` and among the
 * container records. Only under the exclusive lock, before any verb of this process has started
 * one of its own.
 */
function sweepLeftovers(root: string, driver: string): string[] {
  const imageDir = path.join(root, 'image', driver);
  const content = path.join(imageDir, 'imagedb', 'content', 'sha256');
  const metadata = path.join(imageDir, 'imagedb', 'metadata', 'sha256');
  const tempDirs = [imageDir, content, path.join(root, 'strata', 'containers'), ...list(metadata).map((n) => path.join(metadata, n))];
  const removed: string[] = [];
  const tmp = path.join(root, 'tmp');
  for (const n of list(tmp).filter((x) => SCRATCH.test(x))) {
    fs.rmSync(path.join(tmp, n), { recursive: true, force: true });
    removed.push(path.join('tmp', n));
  }
  for (const dir of tempDirs) {
    for (const n of list(dir).filter((x) => x.startsWith('.tmp-'))) {
      fs.rmSync(path.join(dir, n), { force: true });
      removed.push(path.relative(root, path.join(dir, n)));
    }
  }
  return removed;
}
