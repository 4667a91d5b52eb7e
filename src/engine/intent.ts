/**
 * Intents: how a verb that changes several stores at once (layers, images, tags, containers) is
 * finished or undone after a SIGKILL. Each store is crash-safe on its own — a layer, an image
 * config, `repositories.json`, a container record each appear whole or not at all — but a verb is
 * several such steps, and a kill between them leaves, say, layers that no image holds (a load),
 * an image without its tag (a commit), or an RW layer without its container (a create). dockerd
 * leaves all of these behind for good.
 *
 * So before its first change a verb writes what it is about to do, and removes that once done:
 *
 *   <root>/strata/intents/load-<random>.json
 *   {"op":"load","layers":["sha256:<chain>",…],"images":[{"id":"sha256:…","tags":["app:1"]}]}
 *
 *   const intent = beginIntent(engine, { op: 'load', layers, images });   // written, fsync'd
 *   … register the layers, create the images, tag them …
 *   intent.done();                          // the file goes: nothing to finish
 *   // on an error instead: await undoIntent(engine, intent.value); intent.done();
 *
 * The next writable open of the engine (`recoverIntents`, under the exclusive lock, before any
 * verb runs) treats each intent file left behind as that verb's failure, and does what the verb
 * would have done on an error:
 *
 * - (`load` and `pull` alike) images it meant to create that are not complete (a tag of theirs does not name them, or the
 *   `parent` it was to set is not set) are deleted with their tags — unless a child image or a
 *   container uses them by now;
 * - layers it registered (`layers`, and for a commit the new children of `newChildrenOf.parent`)
 *   are removed if nothing holds them: no image, child layer or RW layer (an image that got as
 *   far as being complete holds its layers, so they stay);
 * - `create`: an RW layer whose container record was never written is released; `rm`: the record
 *   and the RW layer both go (the rm is finished, it cannot be undone);
 * - `rmi`: an image it was deleting that has lost its last tag is deleted, as the rmi would have
 *   (finished, too: its tags are gone already), and so is each parent the rmi would have taken.
 *
 * Undoing is idempotent, so a kill during recovery is recovered by the next open. The one thing
 * it cannot see is a writer that bypasses the engine (`strata layer add`, which opens only the
 * layer store) between the kill and the next engine open: a layer it re-registered with a ChainID
 * the intent names, and left unheld, is removed too.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { parseDigest, type Digest } from '../digest/index.js';
import { StrataError } from '../errors/index.js';
import { atomicWriteFile } from '../image/imagedb/index.js';
import { fsyncDir } from '../layer/metadata/fsutil.js';
import { parseNormalizedNamed } from '../image/reference/index.js';
import type { Engine } from './engine.js';

/** An image a verb creates: complete once every tag names it and its `parent` is set. */
export interface IntendedImage {
  id: Digest;
  /** References (`app:1`) the verb sets on it. */
  tags: string[];
  /** The parent the verb records for it, if any. */
  parent?: Digest;
}

export interface Intent {
  op: 'load' | 'pull' | 'commit' | 'create' | 'rm' | 'rmi';
  /** Layers the verb may leave held by nothing: removed on undo unless something holds them. */
  layers?: Digest[];
  /**
   * For a commit before its layer is known: the layers on `parent` (`''`: base layers) that
   * existed before; any other layer on it, unheld, is the commit's.
   */
  newChildrenOf?: { parent: Digest | ''; before: Digest[] };
  images?: IntendedImage[];
  /**
   * Images an rmi deletes (the one named, then its parents): after a kill, each that has no
   * reference, child image or container (unless `force`) left is deleted — the rmi finished.
   */
  deleting?: { id: Digest; force: boolean }[];
  /** The container a `create` or `rm` is about. */
  container?: string;
}

export interface IntentHandle {
  readonly file: string;
  readonly value: Intent;
  /** Replaces what the intent says (atomically), as a verb learns more. */
  update(next: Intent): void;
  /** Removes the intent: the verb is finished (or undone). */
  done(): void;
}

/** `<root>/strata/intents` */
export function intentsDir(root: string): string {
  return path.join(root, 'strata', 'intents');
}

/** Writes `intent` to disk (fsync'd) before the verb's first change. */
export function beginIntent(engine: Engine, intent: Intent): IntentHandle {
  const dir = intentsDir(engine.root);
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const file = path.join(dir, `${intent.op}-${crypto.randomBytes(8).toString('hex')}.json`);
  atomicWriteFile(file, JSON.stringify(intent), 0o600);
  let value = intent;
  return {
    file,
    get value() {
      return value;
    },
    update(next) {
      atomicWriteFile(file, JSON.stringify(next), 0o600);
      value = next;
    },
    done() {
      fs.rmSync(file, { force: true });
      fsyncDir(dir);
    },
  };
}

/** What undoing intents did. */
export interface UndoReport {
  images: Digest[];
  layers: Digest[];
  containers: string[];
}

/**
 * Runs `f` under `intent`: on success the intent goes; on failure the verb is undone
 * (`undoIntent`) and the intent goes — unless undoing fails too, when it stays for the next open.
 * The verb's own error is what is thrown either way.
 */
export async function underIntent<T>(engine: Engine, intent: Intent, f: (h: IntentHandle) => Promise<T>, beforeUndo?: () => Promise<void>): Promise<T> {
  const h = beginIntent(engine, intent);
  let result: T;
  try {
    result = await f(h);
  } catch (e) {
    try {
      await beforeUndo?.();
      await undoIntent(engine, h.value);
      h.done();
    } catch {
      /* left for the next writable open, which undoes it again */
    }
    throw e;
  }
  h.done();
  return result;
}

/** Undoes what a verb that stopped under `intent` left (see the file comment). Idempotent. */
export async function undoIntent(engine: Engine, intent: Intent, report: UndoReport = { images: [], layers: [], containers: [] }): Promise<UndoReport> {
  if (intent.container !== undefined) await undoContainer(engine, intent.op, intent.container, report);
  for (const d of intent.deleting ?? []) await finishDelete(engine, d.id, d.force, report);
  for (const img of [...(intent.images ?? [])].reverse()) await undoImage(engine, img, report);
  const candidates = [...(intent.layers ?? [])];
  if (intent.newChildrenOf) {
    const { parent, before } = intent.newChildrenOf;
    const old = new Set<string>(before);
    for (const l of engine.layers.layers()) if ((l.parent ?? '') === parent && !old.has(l.chainId)) candidates.push(l.chainId);
  }
  for (const chain of candidates.reverse()) {
    if (!engine.layers.has(chain)) continue; // never made, or gone with a child already
    const refs = engine.layers.layer(chain).references;
    if (refs.children + refs.mounts + refs.handles > 0) continue;
    for (const l of await engine.layers.remove(chain)) report.layers.push(l.chainId);
  }
  return report;
}

async function undoContainer(engine: Engine, op: Intent['op'], id: string, report: UndoReport): Promise<void> {
  const recorded = engine.containers.find(id)?.id === id;
  if (op === 'create' && recorded) return; // it was created whole
  if (recorded) engine.containers.remove(id); // an rm is finished, never undone
  if (!engine.layers.mounts().some((m) => m.name === id)) return;
  await engine.layers.releaseRWLayer(engine.layers.getRWLayer(id));
  report.containers.push(id);
}

function isComplete(engine: Engine, img: IntendedImage): boolean {
  if (img.parent !== undefined && engine.images.parentOf(img.id) !== img.parent) return false;
  return img.tags.every((t) => engine.images.references.get(t) === img.id);
}

async function undoImage(engine: Engine, img: IntendedImage, report: UndoReport): Promise<void> {
  if (!engine.images.has(img.id) || isComplete(engine, img)) return;
  if (engine.images.children(img.id).length > 0 || engine.containers.using(img.id).length > 0) return;
  for (const r of engine.images.references.references(img.id)) engine.images.references.delete(r);
  await engine.images.delete(img.id);
  report.images.push(img.id);
}

async function finishDelete(engine: Engine, id: Digest, force: boolean, report: UndoReport): Promise<void> {
  if (!engine.images.has(id) || engine.images.references.references(id).length > 0 || engine.images.children(id).length > 0) return;
  if (!force && engine.containers.using(id).length > 0) return;
  await engine.images.delete(id);
  report.images.push(id);
}

function parseIntent(text: string, file: string): Intent {
  const v = JSON.parse(text) as Intent;
  const ops = ['load', 'commit', 'create', 'rm', 'rmi'];
  if (typeof v !== 'object' || v === null || !ops.includes(v.op)) throw new StrataError('INTENT_INVALID', `${file}: not an intent`);
  for (const d of v.layers ?? []) parseDigest(d);
  for (const d of v.deleting ?? []) parseDigest(d.id);
  for (const i of v.images ?? []) {
    parseDigest(i.id);
    for (const t of i.tags) parseNormalizedNamed(t);
  }
  return v;
}

/**
 * At a writable open: undoes every intent a killed verb left (oldest first), then removes it;
 * removes what an interrupted write of an intent left (`.tmp-…`). Returns what was undone and
 * the intents' names. An intent that does not parse (it is always written whole, so only a
 * hand-edited one) is an error, not skipped: it may name layers nothing else would free.
 */
export async function recoverIntents(engine: Engine): Promise<UndoReport & { intents: string[] }> {
  const dir = intentsDir(engine.root);
  const report = { images: [], layers: [], containers: [], intents: [] as string[] };
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return report;
    throw e;
  }
  const files = names
    .filter((n) => n.endsWith('.json') && !n.startsWith('.'))
    .map((n) => ({ n, t: fs.statSync(path.join(dir, n)).mtimeMs }))
    .sort((a, b) => a.t - b.t || (a.n < b.n ? -1 : 1));
  for (const { n } of files) {
    const file = path.join(dir, n);
    await undoIntent(engine, parseIntent(fs.readFileSync(file, 'utf8'), file), report);
    fs.rmSync(file, { force: true });
    report.intents.push(n);
  }
  for (const n of names.filter((x) => x.startsWith('.tmp-'))) fs.rmSync(path.join(dir, n), { force: true });
  if (names.length > 0) fsyncDir(dir);
  return report;
}
