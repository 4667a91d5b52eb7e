/**
 * What the crash tests (store-crash.test.ts, store-crash-points.test.ts) check after a kill, and
 * how they run their children. A data root after a kill must load cleanly with only whole layers
 * and RW layers (`checkWhole`); after recovery, nothing may be left that no layer or RW layer names
 * (`checkNothingOrphaned`).
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { chainId as makeChainId } from '../../src/digest/index.js';
import { mountTable } from '../../src/sys/index.js';
import type { LayerInfo, LayerStore, MountInfo } from '../../src/layer/index.js';
import * as sys from '../../src/sys/index.js';

// ---- children ---------------------------------------------------------------------------------

const alive = new Set<ChildProcess>();

export interface Child {
  /** Moves it to normal CPU priority and writes `line` to its stdin. */
  start(line: string): void;
  /** Resolves once its stdout has a line starting with `prefix`. */
  waitFor(prefix: string): Promise<void>;
  kill(): void;
  /** Resolves when it is gone and its output read to the end. */
  closed: Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>;
}

function setPriority(child: ChildProcess, prio: number): void {
  try {
    if (child.pid !== undefined) os.setPriority(child.pid, prio);
  } catch {
    /* not permitted (raising it back needs CAP_SYS_NICE): only slower */
  }
}

/**
 * Spawns `node --import tsx <script> <root>` and resolves once it says `loaded` (tsx start-up is
 * ~0.5 s, so the tests load the next children while one runs). It loads at the lowest CPU
 * priority, so that the child running (back to normal in `start`) and the checks get the CPU.
 */
export function spawnChild(script: string, root: string): Promise<Child> {
  const child = spawn(process.execPath, ['--import', 'tsx', script, root], { stdio: ['pipe', 'pipe', 'pipe'] });
  alive.add(child);
  setPriority(child, 19);
  let out = '';
  let stderr = '';
  child.stdout.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
  const closed = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>((resolve) =>
    child.on('close', (code, signal) => {
      alive.delete(child);
      resolve({ code, signal, stdout: out, stderr });
    }),
  );
  const waitFor = (prefix: string) =>
    new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`child did not say ${JSON.stringify(prefix)} within 30 s; stdout tail ${JSON.stringify(out.slice(-300))}, stderr ${JSON.stringify(stderr)}`)), 30_000);
      const check = () => {
        if (out.startsWith(prefix) || out.includes('\n' + prefix)) {
          clearTimeout(timer);
          child.stdout.off('data', check);
          resolve();
        }
      };
      child.stdout.on('data', check);
      check();
      void closed.then((r) => {
        clearTimeout(timer);
        reject(new Error(`child exited before saying ${JSON.stringify(prefix)}: code ${r.code}, signal ${r.signal}\n${stderr}`));
      });
    });
  return waitFor('loaded\n').then(
    () => ({
      start(line: string) {
        setPriority(child, 0);
        child.stdin.write(line + '\n');
      },
      waitFor,
      kill: () => child.kill('SIGKILL'),
      closed,
    }),
    (e: unknown) => {
      child.kill('SIGKILL');
      throw e;
    },
  );
}

/** Kills every child still running (a failed test must not leave them waiting on stdin) and waits for them. */
export async function killAllChildren(loading: Promise<Child>[]): Promise<void> {
  for (const p of loading) p.catch(() => undefined);
  const all = [...alive];
  for (const c of all) c.kill('SIGKILL');
  await Promise.all(all.map((c) => new Promise((r) => (c.exitCode !== null || c.signalCode !== null ? r(undefined) : c.once('close', r)))));
}

// ---- mounts -----------------------------------------------------------------------------------

/** Mount points at or below `dir`. */
export function mountsUnder(dir: string): string[] {
  return mountTable()
    .map((m) => m.mountPoint)
    .filter((mp) => mp === dir || mp.startsWith(dir + '/'));
}

export function unmountUnder(dir: string): void {
  for (const mp of mountsUnder(dir).sort((a, b) => b.length - a.length)) {
    try {
      sys.umount2(mp, sys.constants.MNT_DETACH);
    } catch {
      /* gone already */
    }
  }
}

// ---- checks -----------------------------------------------------------------------------------

const readText = (p: string): string | undefined => {
  try {
    return fs.readFileSync(p, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
};
const readdir = (p: string): string[] => (fs.existsSync(p) ? fs.readdirSync(p).sort() : []);
const isDir = (p: string) => fs.lstatSync(p, { throwIfNoEntry: false })?.isDirectory() === true;

/** Asserts two lists hold the same names, saying which are extra and which missing. */
function sameSet(actual: string[], expected: string[], what: string): void {
  const a = new Set(actual);
  const e = new Set(expected);
  const extra = actual.filter((x) => !e.has(x));
  const missing = expected.filter((x) => !a.has(x));
  if (extra.length || missing.length) assert.fail(`${what}: extra ${JSON.stringify(extra)}, missing ${JSON.stringify(missing)}`);
}

/** One overlay2 layer dir, checked whole: `diff/`, a `link` with its `l/` symlink, and `lower` = the parent's link + the parent's lower. */
function checkDriverDir(home: string, id: string, parent: string | undefined, what: string): void {
  const dir = path.join(home, id);
  assert.ok(isDir(dir), `${what}: driver dir overlay2/${id} is missing`);
  assert.ok(isDir(path.join(dir, 'diff')), `${what}: overlay2/${id}/diff is missing`);
  const link = readText(path.join(dir, 'link'));
  assert.match(link ?? '(none)', /^[A-Z2-7]{26}$/, `${what}: overlay2/${id}/link`);
  let target: string | undefined;
  try {
    target = fs.readlinkSync(path.join(home, 'l', link!));
  } catch (e) {
    assert.fail(`${what}: l/${link} (the link of overlay2/${id}): ${(e as Error).message}`);
  }
  assert.equal(target, `../${id}/diff`, `${what}: l/${link} points elsewhere`);
  const lower = readText(path.join(dir, 'lower'));
  if (parent === undefined) {
    assert.equal(lower, undefined, `${what}: overlay2/${id} has no parent but a lower file`);
  } else {
    const pLower = readText(path.join(home, parent, 'lower'));
    const want = `l/${readText(path.join(home, parent, 'link'))}` + (pLower ? `:${pLower}` : '');
    assert.equal(lower, want, `${what}: overlay2/${id}/lower is not its parent's`);
    assert.ok(isDir(path.join(dir, 'work')), `${what}: overlay2/${id}/work is missing`);
  }
}

export interface View {
  layers: LayerInfo[];
  mounts: MountInfo[];
}

/**
 * The store loaded cleanly, and every layer and RW layer is whole: the layerdb files read back
 * (diff, size, cache-id, parent), ChainID = H(parent, DiffID), a non-empty tar-split, the driver
 * dirs whole (see checkDriverDir); the tars `opts.tars` picks hash to their DiffIDs (a handle is
 * taken on each and not released: close the store after).
 */
export async function checkWhole(store: LayerStore, opts: { tars?: (l: LayerInfo) => boolean } = {}): Promise<View> {
  assert.deepEqual(store.problems, [], 'the store did not load cleanly');
  const home = path.join(store.root, 'overlay2');
  const layers = store.layers();
  const byChain = new Map(layers.map((l) => [l.chainId, l]));
  for (const l of layers) {
    const rec = store.metadata.readLayer(l.chainId); // throws on a missing or bad file
    assert.equal(rec.diffId, l.diffId);
    assert.equal(rec.cacheId, l.cacheId);
    assert.equal(rec.parent, l.parent);
    assert.equal(makeChainId(l.parent, l.diffId), l.chainId, `${l.chainId}: diff/parent do not give its ChainID`);
    assert.ok(fs.statSync(store.metadata.tarSplitPath(l.chainId)).size > 0, `${l.chainId}: empty tar-split`);
    checkDriverDir(home, l.cacheId, l.parent === undefined ? undefined : byChain.get(l.parent)!.cacheId, `layer ${l.chainId}`);
    if (opts.tars?.(l)) {
      const h = store.get(l.chainId);
      const hash = crypto.createHash('sha256');
      for await (const chunk of h.tarStream()) hash.update(chunk); // throws `could not verify layer data` itself
      assert.equal(`sha256:${hash.digest('hex')}`, l.diffId, `${l.chainId}: tar does not hash to the DiffID`);
    }
  }
  const mounts = store.mounts();
  for (const m of mounts) {
    assert.ok(m.initId, `mount ${m.name} has no init layer`);
    checkDriverDir(home, m.initId, m.parent === undefined ? undefined : byChain.get(m.parent)!.cacheId, `init layer of ${m.name}`);
    checkDriverDir(home, m.mountId, m.initId, `RW layer ${m.name}`);
  }
  return { layers, mounts };
}

/**
 * After recovery: `layerdb/tmp/` empty (no write-set), `sha256/` and `mounts/` exactly the loaded
 * layers and mounts (no `-removing`), the driver home exactly their driver dirs plus `l/`, and
 * `l/` exactly their links.
 */
export function checkNothingOrphaned(store: LayerStore, v: View): void {
  const db = store.metadata.root;
  assert.deepEqual(readdir(path.join(db, 'tmp')), [], 'layerdb/tmp is not empty after recovery');
  sameSet(readdir(path.join(db, 'sha256')), v.layers.map((l) => l.chainId.slice('sha256:'.length)), 'layerdb/sha256/ against the loaded layers');
  sameSet(readdir(path.join(db, 'mounts')), v.mounts.map((m) => m.name), 'layerdb/mounts/ against the loaded RW layers');
  const home = path.join(store.root, 'overlay2');
  const ids = [...v.layers.map((l) => l.cacheId), ...v.mounts.flatMap((m) => [m.mountId, m.initId!])];
  assert.equal(new Set(ids).size, ids.length, 'two layers share a driver dir');
  sameSet(readdir(home), [...ids, 'l'], 'overlay2/ (the driver home) against the loaded layers and RW layers');
  const links = ids.map((id) => fs.readFileSync(path.join(home, id, 'link'), 'utf8'));
  sameSet(readdir(path.join(home, 'l')), links, "overlay2/l/ against the loaded layers' and RW layers' links");
}

/** What a kill left for recovery (tmp/ write-sets, -removing dirs), with the IDs they name: for failure messages. */
export function debris(root: string): string {
  const db = path.join(root, 'image', 'overlay2', 'layerdb');
  const describe = (dir: string) =>
    readdir(dir)
      .map((f) => {
        const v = ['cache-id', 'mount-id', 'init-id'].includes(f) ? readText(path.join(dir, f)) : undefined;
        return v === undefined ? f : `${f}=${JSON.stringify(v.slice(0, 16))}`;
      })
      .join(',');
  const entries = [
    ...readdir(path.join(db, 'tmp')).map((n) => `tmp/${n} {${describe(path.join(db, 'tmp', n))}}`),
    ...readdir(path.join(db, 'sha256'))
      .filter((n) => n.endsWith('-removing'))
      .map((n) => `sha256/${n.slice(0, 12)}…-removing {${describe(path.join(db, 'sha256', n))}}`),
  ];
  return entries.join('; ') || 'none';
}

/** A view as comparable text: each layer's ChainID, cache-id, parent; each mount's name, IDs, parent. */
export function viewKey(v: View): { layers: string[]; mounts: string[] } {
  return {
    layers: v.layers.map((l) => `${l.chainId} ${l.cacheId} ${l.parent ?? '-'}`),
    mounts: v.mounts.map((m) => `${m.name} ${m.mountId} ${m.initId} ${m.parent ?? '-'}`),
  };
}
