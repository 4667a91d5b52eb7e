/**
 * `strata fsck`: re-verifies a data root. Every layer's driver data is looked for and its tar
 * rebuilt from its tar-split and its files and hashed against its DiffID (a changed, missing or
 * truncated file fails the hash or the tar-split's CRC); every image config against its ID; every
 * RW layer against its driver data (its own, its init layer's) and against its container's image;
 * every container record against its RW layer; every tag against its image. Entries that did not
 * even load (a damaged layerdb entry, a config that does not parse) are reported from the stores'
 * load problems. Each damaged layer names the images and containers that need it.
 *
 *   const report = await fsck(engine, { onProgress });
 *   report.damaged   // [{ kind: 'layer', id: 'sha256:…', reason: 'could not verify layer data for: …', images: ['sha256:…'], containers: [] }]
 *
 * fsck changes nothing, also in a writable store (where it never lets go of the last hold on a
 * layer, which would delete it); `planRepair` (repair.ts) turns its report into what `--repair`
 * removes.
 */
import { chainIds, type Digest } from '../digest/index.js';
import { diffIdsOf, parseImageConfig } from '../image/config.js';
import type { Engine } from './engine.js';

export interface Damage {
  /** `entry`: a name in the layerdb that is not a layer or RW layer at all. */
  kind: 'layer' | 'image' | 'container' | 'mount' | 'reference' | 'entry';
  /** ChainID, image ID, container name, RW-layer (mount) name, reference, or layerdb path. */
  id: string;
  reason: string;
  /** For a layer: the images whose layer stacks include it (loaded or not). */
  images?: Digest[];
  /** For a layer or an RW layer: the containers (by name) whose RW layer needs it. */
  containers?: string[];
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

function reasonOf(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).split('\n')[0]!;
}

/**
 * The layer stacks (ChainIDs, bottom first) of every image in the imagedb — the loaded ones and
 * those that did not load but whose config still parses. An image whose config is unreadable
 * has no entry.
 */
export function imageChains(engine: Engine): Map<Digest, Digest[]> {
  const out = new Map<Digest, Digest[]>();
  for (const id of engine.images.db.walk()) {
    try {
      const config = engine.images.has(id) ? engine.images.get(id).config : parseImageConfig(engine.images.db.get(id));
      out.set(id, chainIds(diffIdsOf(config)));
    } catch {
      /* a config that does not verify or parse: it is damaged itself, and names no layer */
    }
  }
  return out;
}

/**
 * The parent of layer `chainId` as the disk says — from the loaded layer, or read from the
 * layerdb for one that did not load; undefined for a base layer or an unreadable `parent`.
 */
export function layerParent(engine: Engine, chainId: Digest): Digest | undefined {
  if (engine.layers.has(chainId)) return engine.layers.layer(chainId).parent;
  try {
    return engine.layers.metadata.getParent(chainId);
  } catch {
    return undefined;
  }
}

/** The parent ChainID of RW layer `name` (loaded or read from its files), if readable. */
export function mountParent(engine: Engine, name: string): Digest | undefined {
  const loaded = engine.layers.mounts().find((m) => m.name === name);
  if (loaded) return loaded.parent;
  try {
    return engine.layers.metadata.getMountParent(name);
  } catch {
    return undefined;
  }
}

/** `chainId` and its ancestors, nearest first (a parent chain that loops stops at the loop). */
export function ancestry(engine: Engine, chainId: Digest | undefined): Digest[] {
  const out: Digest[] = [];
  const seen = new Set<Digest>();
  for (let c = chainId; c !== undefined && !seen.has(c); c = layerParent(engine, c)) {
    seen.add(c);
    out.push(c);
  }
  return out;
}

/** Who needs which layer: images by their stacks, containers by their RW layer's ancestry. */
function usage(engine: Engine): { images: (chain: string) => Digest[]; containers: (chain: string) => string[] } {
  const byImage = new Map<string, Digest[]>();
  for (const [id, chains] of imageChains(engine)) for (const c of chains) byImage.set(c, [...(byImage.get(c) ?? []), id]);
  const byContainer = new Map<string, string[]>();
  for (const c of engine.containers.list()) {
    for (const l of ancestry(engine, mountParent(engine, c.id))) byContainer.set(l, [...(byContainer.get(l) ?? []), c.name]);
  }
  return { images: (c) => byImage.get(c) ?? [], containers: (c) => byContainer.get(c) ?? [] };
}

async function driverHas(engine: Engine, id: string): Promise<boolean> {
  try {
    return await engine.layers.driver.exists(id);
  } catch {
    return false;
  }
}

/** What is wrong with a loaded RW layer's driver data, or undefined. */
async function mountFault(engine: Engine, m: { name: string; mountId: string; initId?: string; parent?: Digest }): Promise<string | undefined> {
  const driver = engine.layers.driver;
  if (!(await driverHas(engine, m.mountId))) return `its driver data ${driver.name}/${m.mountId} is missing`;
  if (m.initId !== undefined && !(await driverHas(engine, m.initId))) return `its init layer's driver data ${driver.name}/${m.initId} is missing`;
  if (m.initId === undefined && (await driverHas(engine, `${m.mountId}-init`))) {
    return `init-id is missing, but its init layer ${driver.name}/${m.mountId}-init exists`;
  }
  try {
    await driver.metadata(m.mountId);
  } catch (e) {
    return `the driver cannot resolve it: ${reasonOf(e)}`;
  }
  const c = engine.containers.list().find((x) => x.id === m.name);
  if (c && engine.images.has(c.image)) {
    const top = engine.images.get(c.image).topChainId;
    if (top !== m.parent) return `it sits on ${m.parent ?? 'no layer'}, but container ${c.name}'s image ${c.image} needs ${top ?? 'no layer'}`;
  }
  return undefined;
}

export async function fsck(engine: Engine, opts: FsckOptions = {}): Promise<FsckReport> {
  const images = engine.images.images();
  const used = usage(engine);
  const containersOf = (mount: string) => engine.containers.list().filter((c) => c.id === mount).map((c) => c.name);
  const report: FsckReport = { layersChecked: 0, imagesChecked: images.length, containersChecked: 0, bytesVerified: 0, damaged: [] };
  for (const p of engine.layers.problems) {
    if (p.kind === 'layer') report.damaged.push({ kind: 'layer', id: p.name, reason: p.reason, images: used.images(p.name), containers: used.containers(p.name) });
    else if (p.kind === 'mount') report.damaged.push({ kind: 'mount', id: p.name, reason: p.reason, containers: containersOf(p.name) });
    else report.damaged.push({ kind: 'entry', id: p.name, reason: p.reason });
  }
  for (const p of engine.images.problems) report.damaged.push({ kind: 'image', id: p.id, reason: p.reason });

  const layers = engine.layers.layers();
  for (const info of layers) {
    opts.signal?.throwIfAborted();
    const damaged = (reason: string) =>
      report.damaged.push({ kind: 'layer', id: info.chainId, reason, images: used.images(info.chainId), containers: used.containers(info.chainId) });
    if (!(await driverHas(engine, info.cacheId))) {
      damaged(`its driver data ${engine.layers.driver.name}/${info.cacheId} is missing`);
    } else {
      // In a writable store, releasing the last hold on a layer deletes it: a layer nothing else
      // holds (no image, child or RW layer) keeps fsck's handle until the store closes.
      const { children, mounts, handles } = engine.layers.layer(info.chainId).references;
      const releasable = engine.layers.readOnly || children + mounts + handles > 0;
      const handle = engine.layers.get(info.chainId);
      try {
        for await (const chunk of handle.tarStream(opts.signal ? { signal: opts.signal } : {})) report.bytesVerified += chunk.length;
      } catch (e) {
        if (opts.signal?.aborted) throw e;
        damaged(reasonOf(e));
      } finally {
        if (releasable) await engine.layers.release(handle);
      }
    }
    report.layersChecked++;
    opts.onProgress?.(report.layersChecked, layers.length);
  }
  for (const img of images) {
    try {
      engine.images.db.get(img.id);
    } catch (e) {
      report.damaged.push({ kind: 'image', id: img.id, reason: reasonOf(e) });
    }
  }
  for (const m of engine.layers.mounts()) {
    const fault = await mountFault(engine, m);
    if (fault !== undefined) report.damaged.push({ kind: 'mount', id: m.name, reason: fault, containers: containersOf(m.name) });
  }
  const mounts = new Set(engine.layers.mounts().map((m) => m.name));
  for (const c of engine.containers.list()) {
    report.containersChecked++;
    if (mounts.has(c.id)) continue;
    const why = engine.layers.metadata.hasMount(c.id) ? 'did not load' : 'does not exist';
    report.damaged.push({ kind: 'container', id: c.name, reason: `its read-write layer ${c.id} ${why}` });
  }
  const onDisk = new Set(engine.images.db.walk());
  for (const [, refs] of Object.entries(engine.images.references.repositories())) {
    for (const [ref, id] of Object.entries(refs)) {
      if (!onDisk.has(id)) report.damaged.push({ kind: 'reference', id: ref, reason: `names image ${id}, which does not exist` });
    }
  }
  return report;
}
