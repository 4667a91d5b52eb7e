/**
 * What the engine crash trials check on a data root after a kill (crash-harness.ts): the layer
 * store's own checks (test/layer/store-crash-checks.ts: whole layers, nothing orphaned in the
 * layerdb or the driver home), and on top of them the engine's:
 *
 * - before recovery (a read-only open): everything loads (no layer, mount or image problem),
 *   every new layer's tar hashes to its DiffID, every image's layers all exist;
 * - after recovery (a writable open): the same, `fsck` clean (every tar re-hashed), RW layers and
 *   container records one to one, no intent, spool dir or `.tmp-` file left, no layer held by
 *   nothing that was not so before or after the verb, and every image, tag set and container as
 *   it was before the verb or as the verb left it — never in between; cleanup finds nothing more
 *   and leaves no mount.
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { chainIds } from '../../src/digest/index.js';
import { diffIdsOf } from '../../src/image/config.js';
import { openEngine, fsck, type Engine } from '../../src/engine/index.js';
import { intentsDir } from '../../src/engine/intent.js';
import { checkNothingOrphaned, checkWhole, mountsUnder } from '../layer/store-crash-checks.js';

/** A data root's images, containers and layers, keyed so that two runs of one verb compare. */
export interface EngineView {
  /** image key → `tags=… parent=…` */
  images: Map<string, string>;
  /** container name → its image's key */
  containers: Map<string, string>;
  layers: Set<string>;
  /** Layers no image, child layer or RW layer holds. */
  unheld: Set<string>;
}

/**
 * An image's key: its config hashed without the fields that hold the time or a random ID (a
 * commit made twice from the same container gives two IDs, one key).
 */
function imageKey(bytes: Buffer): string {
  const c = JSON.parse(bytes.toString()) as Record<string, unknown>;
  delete c.created;
  delete c.container;
  delete c.container_config;
  if (Array.isArray(c.history)) c.history = c.history.map((h: Record<string, unknown>) => ({ ...h, created: undefined }));
  return crypto.createHash('sha256').update(JSON.stringify(c)).digest('hex').slice(0, 16);
}

export function engineView(engine: Engine): EngineView {
  const keys = new Map(engine.images.images().map((i) => [i.id as string, imageKey(i.bytes)]));
  const images = new Map<string, string>();
  const tops = new Set<string>();
  for (const img of engine.images.images()) {
    const tags = engine.images.references.references(img.id).map((r) => r.familiarString()).sort();
    const parent = engine.images.parentOf(img.id);
    images.set(keys.get(img.id)!, `tags=${tags.join(',')} parent=${parent ? (keys.get(parent) ?? parent) : '-'}`);
    if (img.topChainId) tops.add(img.topChainId);
  }
  const containers = new Map(engine.containers.list().map((c) => [c.name, keys.get(c.image) ?? `missing ${c.image}`]));
  const layers = engine.layers.layers();
  const unheld = layers.filter((l) => l.references.children === 0 && l.references.mounts === 0 && !tops.has(l.chainId)).map((l) => l.chainId as string);
  return { images, containers, layers: new Set(layers.map((l) => l.chainId)), unheld: new Set(unheld) };
}

/** Every layer of every image is loaded. */
function checkImageLayers(engine: Engine): void {
  for (const img of engine.images.images()) {
    for (const chain of chainIds(diffIdsOf(img.config))) assert.ok(engine.layers.has(chain), `image ${img.id} needs layer ${chain}, which is not there`);
  }
}

function checkLoadedCleanly(engine: Engine, when: string): void {
  assert.deepEqual(engine.layers.problems, [], `${when}: the layer store did not load cleanly`);
  assert.deepEqual(engine.images.problems, [], `${when}: an image did not load`);
}

/** Names under `dir`, recursively, that start with `.tmp-`. */
function tempFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of fs.existsSync(d) ? fs.readdirSync(d, { withFileTypes: true }) : []) {
      const p = path.join(d, e.name);
      if (e.name.startsWith('.tmp-')) out.push(p);
      else if (e.isDirectory() && e.name !== 'layerdb') walk(p);
    }
  };
  walk(dir);
  return out;
}

/** The crash state as it is, read-only: it must load whole. Tars of layers not in `known` are verified. */
export async function checkBeforeRecovery(root: string, known: Set<string>): Promise<void> {
  const engine = await openEngine({ root, driver: 'overlay2', readOnly: true, lock: 'fail' });
  try {
    checkLoadedCleanly(engine, 'before recovery');
    await checkWhole(engine.layers, { tars: (l) => !known.has(l.chainId) });
    checkImageLayers(engine);
  } finally {
    await engine.close();
  }
}

/** One entity's state after recovery must be its state before the verb or after it. */
function sameOrEither(what: string, after: Map<string, string>, t: Map<string, string>, f: Map<string, string>): void {
  const keys = new Set([...after.keys(), ...t.keys(), ...f.keys()]);
  const bad: string[] = [];
  for (const k of keys) {
    const s = after.get(k) ?? 'absent';
    const before = t.get(k) ?? 'absent';
    const done = f.get(k) ?? 'absent';
    if (s !== before && s !== done) bad.push(`${what} ${k}: ${s} (before the verb: ${before}; after it: ${done})`);
  }
  assert.deepEqual(bad, [], `${what}s in a state neither before nor after the verb`);
}

/**
 * Opens the root writable (which recovers), checks it (see the file comment) against the views of
 * the template (`t`) and of a full run of the verb (`f`), runs cleanup; returns what recovery did.
 */
export async function checkAfterRecovery(root: string, t: EngineView, f: EngineView): Promise<{ recovered: string }> {
  const engine = await openEngine({ root, driver: 'overlay2', lock: 'fail' });
  let recovered = '';
  try {
    recovered = JSON.stringify({ layers: engine.layers.recovered, engine: engine.recovered });
    checkLoadedCleanly(engine, 'after recovery');
    const whole = await checkWhole(engine.layers);
    checkNothingOrphaned(engine.layers, whole);
    checkImageLayers(engine);

    const ids = engine.containers.list().map((c) => c.id).sort();
    assert.deepEqual(engine.layers.mounts().map((m) => m.name).sort(), ids, 'RW layers and container records differ');
    const tmp = path.join(root, 'tmp');
    assert.deepEqual(fs.existsSync(tmp) ? fs.readdirSync(tmp) : [], [], 'spool left in <root>/tmp');
    const intents = intentsDir(root);
    assert.deepEqual(fs.existsSync(intents) ? fs.readdirSync(intents) : [], [], 'intents left after recovery');
    assert.deepEqual([...tempFiles(path.join(root, 'image')), ...tempFiles(path.join(root, 'strata'))], [], '.tmp- files left after recovery');

    const s = engineView(engine);
    sameOrEither('image', s.images, t.images, f.images);
    sameOrEither('container', s.containers, t.containers, f.containers);
    const strayLayers = [...s.layers].filter((l) => !t.layers.has(l) && !f.layers.has(l));
    const lostLayers = [...t.layers].filter((l) => f.layers.has(l) && !s.layers.has(l));
    assert.deepEqual({ strayLayers, lostLayers }, { strayLayers: [], lostLayers: [] }, 'layers neither before nor after the verb had, or lost');
    const leaked = [...s.unheld].filter((l) => !t.unheld.has(l) && !f.unheld.has(l));
    assert.deepEqual(leaked, [], 'layers held by nothing (no image, child or RW layer) after recovery');

    assert.deepEqual(await engine.layers.cleanup(), { removedLayers: [], writeSets: [], driverIds: [] }, 'cleanup found more to recover');
    assert.deepEqual(mountsUnder(root), [], 'mounts left after cleanup');
  } finally {
    await engine.close();
  }
  // fsck as `strata fsck` runs it: read-only (in a writable store its release of each layer's
  // handle would delete a layer nothing else holds, like the one `layer add` leaves).
  const ro = await openEngine({ root, driver: 'overlay2', readOnly: true, lock: 'fail' });
  try {
    const report = await fsck(ro);
    assert.deepEqual(report.damaged, [], 'fsck found damage');
  } finally {
    await ro.close();
  }
  return { recovered };
}

/** The view of a root, read-only. */
export async function viewOf(root: string): Promise<EngineView> {
  const engine = await openEngine({ root, driver: 'overlay2', readOnly: true });
  try {
    return engineView(engine);
  } finally {
    await engine.close();
  }
}

/**
 * The store's state as a short hash — images with their tags, containers, layers with their
 * child and RW-layer counts, RW layers — for comparing what two processes saw (concurrency test).
 */
export function stateHash(engine: Engine): string {
  const images = engine.images.images().map((i) => `${i.id}=${engine.images.references.references(i.id).map((r) => r.string()).sort().join(',')}`);
  const containers = engine.containers.list().map((c) => `${c.id}:${c.name}:${c.image}`);
  const layers = engine.layers.layers().map((l) => `${l.chainId}:${l.references.children}:${l.references.mounts}`);
  const mounts = engine.layers.mounts().map((m) => m.name);
  return crypto.createHash('sha256').update(JSON.stringify({ images, containers, layers, mounts })).digest('hex').slice(0, 16);
}
