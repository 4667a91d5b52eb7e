/**
 * `strata fsck --repair`: removes what fsck found damaged and everything that depends on it —
 * child layers, the RW layers on them, the images whose stacks use them and their tags, the
 * containers on those RW layers — and nothing else.
 *
 *   const report = await fsck(engine);                 // engine opened writable: exclusive lock
 *   const plan = planRepair(engine, report);           // what goes, and why; changes nothing
 *   await executeRepair(engine, plan, (a) => log(a));   // removes it; then close the engine
 *
 * What depends on what (a dependant is removed with what it depends on):
 * - a layer on a removed layer; an RW layer on a removed layer; an image whose stack includes a
 *   removed layer; a tag of a removed image; a container whose RW layer is removed or gone.
 * - A container does not depend on its image's config (dockerd keeps a container when its image
 *   is removed with force), and a layer does not depend on the images using it: a removed image
 *   leaves its layers, which a later load of that image uses again.
 * - An image whose `parent` is removed loses that link (as an image delete does), nothing more.
 * - An `entry` (a name in the layerdb that is not a layer or RW layer) is left alone: it is not
 *   strata's to guess what it is.
 *
 * Removal goes below the stores' reference counts, with the layerdb's own crash-safe steps, so a
 * healthy parent of a removed layer is never taken along (a release would delete an ancestor
 * nothing else holds). Order: RW layers, containers, tags, parent links, images, layers (children
 * first). Each step removes an entry whole, and what it leaves is still found damaged by the next
 * fsck — a layer whose dependant is gone is still damaged itself, a container whose RW layer is
 * gone is damaged — so a repair killed at any point leaves a store that opens, and running it
 * again finishes the work:
 * - a layer is unlisted with one rename (`-removing`, recovery finishes it at the next writable
 *   open); one whose `cache-id` is unsafe to hand to the driver (`..`, a path) or is shared with
 *   an entry that stays first loses that file, so neither repair nor recovery touches the data;
 * - an RW layer is moved into a `tmp/` write-set naming its driver IDs (recovery removes them);
 *   for one whose `init-id` file is missing, the init layer no file names goes first, while the
 *   RW layer is still listed: killed in between, the RW layer is still damaged (its init layer
 *   exists without `init-id`, or, once gone, overlay2 cannot resolve its lower dirs).
 *
 * The engine's in-memory view is stale afterwards: close it.
 */
import fs from 'node:fs';
import path from 'node:path';
import { isPlainDriverId, isValidId } from '../layer/metadata/index.js';
import { fsyncDir } from '../layer/metadata/fsutil.js';
import { StrataError, isStrataError } from '../errors/index.js';
import type { Digest } from '../digest/index.js';
import type { Engine } from './engine.js';
import { ancestry, imageChains, mountParent, type Damage, type FsckReport } from './fsck.js';

/** One removal, in the order `executeRepair` runs them. */
export type RepairAction =
  | { kind: 'mount'; id: string; reason: string; driverIds: string[]; orphanInitId?: string }
  | { kind: 'container'; id: string; name: string; reason: string }
  | { kind: 'reference'; id: string; image: string; reason: string }
  | { kind: 'parent'; id: Digest; parent: Digest; reason: string }
  | { kind: 'image'; id: Digest; reason: string }
  | { kind: 'layer'; id: Digest; reason: string; cacheId?: string; removeDriverData: boolean };

export interface RepairPlan {
  actions: RepairAction[];
  /** Damage repair does not act on (`entry` kinds). */
  leftAlone: Damage[];
}

/** A driver ID that can be handed to the driver: one plain name (overlay2 joins it to its home). */
function safeDriverId(id: string | undefined): id is string {
  return id !== undefined && isPlainDriverId(id);
}

function tryRead<T>(f: () => T): T | undefined {
  try {
    return f();
  } catch {
    return undefined;
  }
}

/** The driver IDs an RW layer's files name (or, for `mount-id`, imply), read without failing. */
function mountDriverIds(engine: Engine, name: string): { mountId?: string; initId?: string; initFileMissing: boolean } {
  const db = engine.layers.metadata;
  const loaded = engine.layers.mounts().find((m) => m.name === name);
  let mountId = loaded?.mountId ?? tryRead(() => db.getMountId(name));
  const initId = loaded ? loaded.initId : tryRead(() => db.getInitId(name));
  const initFileMissing = !fs.existsSync(path.join(db.root, 'mounts', name, 'init-id'));
  // Docker names the init layer `<mount-id>-init`: it still tells the RW layer's when mount-id is lost.
  if (mountId === undefined && initId?.endsWith('-init') && isValidId(initId.slice(0, -5))) mountId = initId.slice(0, -5);
  return { ...(mountId !== undefined ? { mountId } : {}), ...(initId !== undefined ? { initId } : {}), initFileMissing };
}

/** Computes what `--repair` removes for `report` (see the file comment). Changes nothing. */
export async function planRepair(engine: Engine, report: FsckReport): Promise<RepairPlan> {
  const db = engine.layers.metadata;
  const driver = engine.layers.driver;
  const listing = db.list();
  const damaged = (kind: Damage['kind']) => new Map(report.damaged.filter((d) => d.kind === kind).map((d) => [d.id, d.reason]));
  const leftAlone = report.damaged.filter((d) => d.kind === 'entry');

  // Layers: the damaged ones and, through the parent files on disk, every descendant.
  const removedLayers = new Map<Digest, string>(damaged('layer') as Map<Digest, string>);
  const children = new Map<Digest, Digest[]>();
  for (const l of listing.layers) {
    const p = ancestry(engine, l)[1];
    if (p !== undefined) children.set(p, [...(children.get(p) ?? []), l]);
  }
  const queue = [...removedLayers.keys()];
  while (queue.length > 0) {
    const l = queue.shift()!;
    for (const c of children.get(l) ?? []) {
      if (removedLayers.has(c)) continue;
      removedLayers.set(c, `depends on layer ${l}, which is removed`);
      queue.push(c);
    }
  }
  const removedLayer = (chain: Digest[]) => chain.find((c) => removedLayers.has(c));

  // Images: damaged ones, and those whose stacks use a removed layer.
  const removedImages = new Map<Digest, string>(damaged('image') as Map<Digest, string>);
  for (const [id, chain] of imageChains(engine)) {
    const l = removedLayer(chain);
    if (l !== undefined && !removedImages.has(id)) removedImages.set(id, `uses layer ${l}, which is removed`);
  }

  // RW layers: damaged ones, and those on a removed layer.
  const actions: RepairAction[] = [];
  const removedMounts = new Map<string, string>(damaged('mount'));
  for (const name of listing.mounts) {
    const l = removedLayer(ancestry(engine, mountParent(engine, name)));
    if (l !== undefined && !removedMounts.has(name)) removedMounts.set(name, `sits on layer ${l}, which is removed`);
  }

  // The driver IDs the entries that stay still name: never removed, whatever a damaged entry says.
  const keep = new Set<string>();
  for (const l of listing.layers) {
    if (removedLayers.has(l)) continue;
    const id = engine.layers.has(l) ? engine.layers.layer(l).cacheId : tryRead(() => db.getCacheId(l));
    if (id !== undefined) keep.add(id);
  }
  for (const name of listing.mounts) {
    if (removedMounts.has(name)) continue;
    const ids = mountDriverIds(engine, name);
    for (const id of [ids.mountId, ids.initId, ids.mountId && `${ids.mountId}-init`]) if (id) keep.add(id);
  }

  for (const [name, reason] of removedMounts) {
    const ids = mountDriverIds(engine, name);
    const usable = (id: string | undefined): id is string => safeDriverId(id) && !keep.has(id);
    const driverIds = [ids.mountId, ids.initId].filter(usable);
    // An init layer that no `init-id` names: Docker's `<mount-id>-init`, when the driver has it.
    const orphan = ids.initId === undefined && ids.initFileMissing && ids.mountId !== undefined ? `${ids.mountId}-init` : undefined;
    const orphanInitId = usable(orphan) && (await driver.exists(orphan).catch(() => false)) ? orphan : undefined;
    actions.push({ kind: 'mount', id: name, reason, driverIds, ...(orphanInitId ? { orphanInitId } : {}) });
  }

  // Containers: on a removed RW layer, or whose RW layer is gone.
  const damagedContainers = damaged('container');
  for (const c of engine.containers.list()) {
    const why = removedMounts.has(c.id) ? `its read-write layer ${c.id} is removed` : damagedContainers.get(c.name);
    if (why !== undefined) actions.push({ kind: 'container', id: c.id, name: c.name, reason: why });
  }

  // Tags: of removed images, and those naming no image at all.
  const damagedRefs = damaged('reference');
  for (const refs of Object.values(engine.images.references.repositories())) {
    for (const [ref, image] of Object.entries(refs)) {
      const why = removedImages.has(image) ? `its image ${image} is removed` : damagedRefs.get(ref);
      if (why !== undefined) actions.push({ kind: 'reference', id: ref, image, reason: why });
    }
  }

  // Parent links of images that stay, to images that go.
  const onDisk = engine.images.db.walk();
  for (const id of onDisk) {
    if (removedImages.has(id)) continue;
    const parent = tryRead(() => engine.images.db.getParent(id));
    if (parent !== undefined && removedImages.has(parent)) actions.push({ kind: 'parent', id, parent, reason: `its parent image ${parent} is removed` });
  }
  for (const id of onDisk) {
    const reason = removedImages.get(id);
    if (reason !== undefined) actions.push({ kind: 'image', id, reason });
  }

  // Layers, deepest first, so a child never outlives its parent on disk.
  const depth = (l: Digest) => ancestry(engine, l).length;
  const layers = [...removedLayers.keys()].filter((l) => listing.layers.includes(l)).sort((a, b) => depth(b) - depth(a) || (a < b ? -1 : 1));
  for (const l of layers) {
    const cacheId = engine.layers.has(l) ? engine.layers.layer(l).cacheId : tryRead(() => db.getCacheId(l));
    const removeDriverData = safeDriverId(cacheId) && !keep.has(cacheId);
    actions.push({ kind: 'layer', id: l, reason: removedLayers.get(l)!, ...(cacheId !== undefined ? { cacheId } : {}), removeDriverData });
  }
  return { actions, leftAlone };
}

function ignoreCode(e: unknown, ...codes: string[]): void {
  if (isStrataError(e) && codes.includes(e.code)) return;
  throw e;
}

/** Removes a layer's `cache-id` (and makes that durable), so no later step hands it to the driver. */
function forgetCacheId(engine: Engine, chainId: Digest): void {
  const dir = path.dirname(engine.layers.metadata.tarSplitPath(chainId));
  const file = path.join(dir, 'cache-id');
  if (!fs.existsSync(file)) return;
  fs.rmSync(file, { force: true });
  fsyncDir(dir);
}

async function run(engine: Engine, a: RepairAction): Promise<void> {
  const db = engine.layers.metadata;
  const driver = engine.layers.driver;
  switch (a.kind) {
    case 'mount': {
      if (a.orphanInitId !== undefined) await driver.remove(a.orphanInitId);
      const ws = db.unlistMount(a.id);
      for (const id of a.driverIds) await driver.remove(id);
      if (ws !== undefined) db.removeWriteSet(ws);
      return;
    }
    case 'container':
      engine.containers.remove(a.id);
      return;
    case 'reference':
      engine.images.references.delete(a.id);
      return;
    case 'parent':
      engine.images.db.deleteParent(a.id);
      return;
    case 'image':
      try {
        engine.images.db.delete(a.id);
      } catch (e) {
        ignoreCode(e, 'IMAGEDB_NOT_FOUND');
      }
      return;
    case 'layer': {
      if (!a.removeDriverData) forgetCacheId(engine, a.id);
      let removing;
      try {
        removing = db.startRemove(a.id);
      } catch (e) {
        ignoreCode(e, 'LAYERDB_NOT_FOUND');
        return;
      }
      if (a.removeDriverData) await driver.remove(a.cacheId!);
      db.finishRemove(removing);
      return;
    }
  }
}

/**
 * Runs `plan` in order, calling `onAction` after each removal, and returns what it removed. Needs
 * a writable engine (the exclusive data-root lock; never a root a running dockerd owns). The
 * engine's view is stale afterwards: close it.
 */
export async function executeRepair(engine: Engine, plan: RepairPlan, onAction?: (a: RepairAction) => void): Promise<RepairAction[]> {
  if (engine.layers.readOnly) throw new StrataError('STORE_READ_ONLY', 'cannot repair a data root opened read-only');
  const done: RepairAction[] = [];
  for (const a of plan.actions) {
    await run(engine, a);
    done.push(a);
    onAction?.(a);
  }
  return done;
}
