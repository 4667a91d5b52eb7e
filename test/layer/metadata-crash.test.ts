/**
 * Crash safety: a child process writes to a layerdb (commits, removals, mounts) and is SIGKILLed
 * at a random moment, again and again. After every kill the store must list only whole layers and
 * whole mounts, each reading back exactly what the child meant to write; cleanup (orphans, write
 * sets) must then leave nothing behind. STRATA_CRASH_ITERATIONS overrides the 30 rounds.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { tempDir } from '../helpers/tmp.js';
import { chainId as makeChainId } from '../../src/digest/index.js';
import { readTarSplit, encodeEntry } from '../../src/archive/tarsplit/index.js';
import { MetadataStore } from '../../src/layer/metadata/index.js';
import { expectedLayer, expectedMountId } from './metadata-crash-shared.js';

const CHILD = fileURLToPath(new URL('./metadata-crash-child.ts', import.meta.url));
const ITERATIONS = Number(process.env.STRATA_CRASH_ITERATIONS ?? 30);

interface Child {
  /** Starts writing, lets it write for `ms`, SIGKILLs it. */
  runAndKill(ms: number): Promise<void>;
}

/**
 * Spawns a child and resolves once it has loaded (node + tsx take ~0.5 s, so the test keeps the
 * next child loading while the current one writes and is checked).
 */
const alive = new Set<ChildProcess>();

function spawnChild(root: string): Promise<Child> {
  const child = spawn(process.execPath, ['--import', 'tsx', CHILD, root], { stdio: ['pipe', 'pipe', 'pipe'] });
  alive.add(child);
  child.on('exit', () => alive.delete(child));
  let stderr = '';
  child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  return new Promise<Child>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`child not ready after 20 s; stdout ${JSON.stringify(out)}, stderr ${JSON.stringify(stderr)}`));
    }, 20_000);
    child.stdout.on('data', (b: Buffer) => {
      out += b.toString();
      if (out.includes('ready\n')) {
        clearTimeout(timer);
        resolve({
          async runAndKill(ms: number) {
            child.stdin.write('go\n');
            await new Promise((r) => setTimeout(r, ms));
            child.kill('SIGKILL');
            const r = await Promise.race([exited, new Promise<never>((_, rej) => setTimeout(() => rej(new Error('child did not die after SIGKILL')), 20_000).unref())]);
            assert.equal(r.signal, 'SIGKILL', `the child stopped on its own (${JSON.stringify(r)}): ${stderr}`);
          },
        });
      }
    });
    void exited.then((r) => {
      clearTimeout(timer);
      reject(new Error(`child exited before ready: ${JSON.stringify(r)}\n${stderr}`));
    });
  });
}

async function checkWhole(db: MetadataStore): Promise<{ layers: number; mounts: number }> {
  const { layers, mounts } = db.list();
  for (const chain of layers) {
    const rec = db.readLayer(chain); // throws on any missing or partial file
    const want = expectedLayer(rec.diffId);
    assert.equal(rec.cacheId, want.cacheId, chain);
    assert.equal(rec.size, want.size, chain);
    assert.equal(makeChainId(rec.parent, rec.diffId), chain, `${chain}: diff/parent do not give its ChainID`);
    const got: string[] = [];
    for await (const e of readTarSplit(db.openTarSplit(chain))) got.push(encodeEntry(e));
    assert.deepEqual(got, want.entries.map(encodeEntry), `${chain} tar-split`);
  }
  for (const name of mounts) {
    const m = db.readMount(name);
    assert.equal(m.mountId, expectedMountId(name), name);
    assert.equal(m.initId, `${m.mountId}-init`, name);
  }
  return { layers: layers.length, mounts: mounts.length };
}

test(`SIGKILL at random points of ${ITERATIONS} write runs: only whole layers and mounts, cleanup leaves nothing`, { timeout: 120_000 }, async (t) => {
  const root = path.join(tempDir(), 'layerdb');
  new MetadataStore(root);
  let maxLayers = 0;
  let sawLeftovers = 0;
  const loading = [spawnChild(root), spawnChild(root)];
  try {
    for (let i = 0; i < ITERATIONS; i++) {
      const child = await loading.shift()!;
      if (i + loading.length + 1 < ITERATIONS) loading.push(spawnChild(root));
      await child.runAndKill(Math.floor(Math.random() * 60));
      const db = new MetadataStore(root);
      const seen = await checkWhole(db);
      maxLayers = Math.max(maxLayers, seen.layers);
      // clean up on most rounds; on others leave the debris for the next child to write around
      if (i % 4 !== 3 || i === ITERATIONS - 1) {
        const { orphans, finished, skipped } = db.orphans();
        assert.deepEqual(skipped, []);
        for (const o of [...orphans, ...finished]) db.finishRemove(o);
        const swept = db.sweepWriteSets();
        if (orphans.length || finished.length || swept.length) sawLeftovers++;
        assert.deepEqual(db.writeSets(), []);
        assert.deepEqual(db.list().skipped, []);
        assert.deepEqual(db.orphans(), { orphans: [], finished: [], skipped: [] });
      }
    }
  } finally {
    // a failed round must not leave loaded children waiting on stdin (the test would never end)
    for (const p of loading) p.catch(() => undefined);
    for (const c of alive) c.kill('SIGKILL');
  }
  assert.ok(maxLayers > 0, 'the child never committed a layer');
  assert.deepEqual(fs.readdirSync(path.join(root, 'tmp')), []);
  // Not an assertion on luck, just visibility: how often a kill left debris behind.
  t.diagnostic(`${ITERATIONS} kills, up to ${maxLayers} layers, debris found by ${sawLeftovers} cleanups`);
});
