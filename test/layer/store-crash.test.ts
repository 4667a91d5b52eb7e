/**
 * Crash safety of the layer store: a child process runs a seeded random mix of register,
 * createRWLayer (with Docker's init layer), commit, releaseRWLayer, release and remove on one
 * overlay2 data root, and is SIGKILLed 50–600 ms after it is ready — inside an operation, almost
 * always. After every kill the data root must
 *
 * - load cleanly, before recovery (read-only open) and after it (writable open): no `problems`;
 * - hold only whole layers: every file of the layerdb readable, ChainID = H(parent, DiffID), the
 *   driver dir with its `diff/`, `link`, `l/` symlink and a `lower` that is the parent's, and the
 *   tar (tar-split + files) hashing to the DiffID; every RW layer with its RW and init dirs;
 * - after recovery, hold nothing orphaned: no write-set, no `-removing` dir, a driver home of
 *   exactly the loaded layers' and RW layers' dirs plus `l/`, whose symlinks are exactly their
 *   `link`s; recovery never takes a loaded layer; `cleanup()` finds nothing more and unmounts all.
 *
 * State accumulates over the trials (one data root, each child starts where the last died). Three
 * in ten children run two operation loops at once; after every fifth kill the parent only looks,
 * and the next child's own open recovers.
 *
 * STRATA_CRASH_ITERATIONS overrides the 100 trials, STRATA_CRASH_SEED the run's seed (operations
 * and kill delays; where a kill lands still depends on timing). A failure names the seed, the
 * trial, the operations the kill landed in, what the kill left for recovery and what recovery
 * did; STRATA_CRASH_KEEP=1 keeps the data root of a failed run for inspection.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { openLayerStore } from '../../src/layer/index.js';
import { OP_KINDS, Rng, trialSeed } from './store-crash-shared.js';
import { checkNothingOrphaned, checkWhole, debris, killAllChildren, mountsUnder, spawnChild, unmountUnder, viewKey, type Child, type View } from './store-crash-checks.js';

const CHILD = fileURLToPath(new URL('./store-crash-child.ts', import.meta.url));
const ITERATIONS = Number(process.env.STRATA_CRASH_ITERATIONS ?? 100);
const SEED = process.env.STRATA_CRASH_SEED !== undefined ? Number(process.env.STRATA_CRASH_SEED) : crypto.randomInt(2 ** 32);
const KILL_MIN_MS = 50;
const KILL_MAX_MS = 600;

/** Starts the child, lets it run `ms` after it is ready, kills it; returns what it was doing. */
async function runAndKill(child: Child, seed: number, workers: number, ms: number): Promise<{ landed: string[]; ops: number; stdout: string }> {
  child.start(`go ${seed} ${workers}`);
  await child.waitFor('ready\n');
  await new Promise((r) => setTimeout(r, ms));
  child.kill();
  const r = await Promise.race([child.closed, new Promise<never>((_, rej) => setTimeout(() => rej(new Error('child did not die after SIGKILL')), 30_000).unref())]);
  assert.equal(r.signal, 'SIGKILL', `the child stopped on its own (code ${r.code}): ${r.stderr}`);
  const inFlight = new Map<string, string>();
  let ops = 0;
  for (const line of r.stdout.split('\n')) {
    const [what, no, kind] = line.split(' ');
    if (what === 'op') inFlight.set(no!, kind!);
    else if (what === 'done') inFlight.delete(no!), ops++;
  }
  return { landed: [...inFlight.values()], ops, stdout: r.stdout };
}

test(`SIGKILL at random points of register, createRWLayer, commit and release, ${ITERATIONS} times: every reopen loads whole layers, cleanup leaves nothing orphaned`, { timeout: 60_000 + ITERATIONS * 3_000 }, async (t) => {
  const root = fs.mkdtempSync('/var/tmp/strata-store-crash-');
  const rng = new Rng(SEED);
  const landed = new Map<string, number>([...OP_KINDS, 'between'].map((k) => [k, 0]));
  const recovered = { removedLayers: 0, writeSets: 0, driverIds: 0 };
  const verified = new Set<string>();
  let ops = 0;
  let twoWorkers = 0;
  let debrisLeft = 0;
  let maxLayers = 0;
  let maxMounts = 0;
  let failed = true;
  let context = '';
  const t0 = Date.now();
  // Create the root with one open, so the children start on an initialised driver home.
  await (await openLayerStore({ root, driver: 'overlay2' })).close();
  const loading = [spawnChild(CHILD, root), spawnChild(CHILD, root), spawnChild(CHILD, root)];
  try {
    for (let trial = 0; trial < ITERATIONS; trial++) {
      const child = await loading.shift()!;
      if (trial + loading.length + 1 < ITERATIONS) loading.push(spawnChild(CHILD, root));
      const seed = trialSeed(SEED, trial);
      const delay = rng.int(KILL_MIN_MS, KILL_MAX_MS + 1);
      // Some children run two operation loops at once; after some kills the parent only looks,
      // and the next child's open recovers (and its operations run among the debris).
      const workers = rng.next() < 0.3 ? 2 : 1;
      const leaveDebris = trial % 5 === 4 && trial < ITERATIONS - 1;
      if (workers > 1) twoWorkers++;
      if (leaveDebris) debrisLeft++;
      context = `trial ${trial}, child seed ${seed}, ${workers} worker${workers > 1 ? 's' : ''}, kill ${delay} ms after ready`;
      const k = await runAndKill(child, seed, workers, delay);
      context += `, landed in ${k.landed.join(' + ') || 'nothing (between operations)'} after ${k.ops} ops`;
      context += `; the child's last lines: ${k.stdout.trimEnd().split('\n').slice(-6).join(' | ')}`;
      context += `; left for recovery: ${debris(root)}`;
      for (const kind of k.landed.length ? k.landed : ['between']) landed.set(kind, (landed.get(kind) ?? 0) + 1);
      ops += k.ops;

      // The crash state as it is, before any recovery: it must load, whole.
      const ro = await openLayerStore({ root, driver: 'overlay2', readOnly: true, lock: 'fail' });
      let before: View;
      try {
        // Tars: every layer not verified before (new, or re-registered with a new cache-id), and a few old ones.
        before = await checkWhole(ro, { tars: (l) => !verified.has(`${l.chainId} ${l.cacheId}`) || rng.next() < 0.2 });
        for (const l of before.layers) verified.add(`${l.chainId} ${l.cacheId}`);
      } finally {
        await ro.close();
      }
      if (leaveDebris) continue;
      // Then the writable open, which recovers.
      const store = await openLayerStore({ root, driver: 'overlay2', lock: 'fail' });
      context += `; recovery at open: ${JSON.stringify(store.recovered)}`;
      try {
        const after = await checkWhole(store);
        assert.deepEqual(viewKey(after), viewKey(before), 'recovery changed the loaded layers or mounts');
        checkNothingOrphaned(store, after);
        recovered.removedLayers += store.recovered.removedLayers.length;
        recovered.writeSets += store.recovered.writeSets.length;
        recovered.driverIds += store.recovered.driverIds.length;
        maxLayers = Math.max(maxLayers, after.layers.length);
        maxMounts = Math.max(maxMounts, after.mounts.length);
        assert.deepEqual(await store.cleanup(), { removedLayers: [], writeSets: [], driverIds: [] }, 'cleanup found more to recover');
        assert.deepEqual(mountsUnder(root), [], 'cleanup left mounts');
      } finally {
        await store.close();
      }
    }
    assert.deepEqual(mountsUnder(root), [], 'overlay mounts left under the data root');
    failed = false;
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    throw new Error(`${msg}\n  at ${context}; run seed STRATA_CRASH_SEED=${SEED}, data root ${root}${process.env.STRATA_CRASH_KEEP ? ' (kept)' : ''}`, { cause: e });
  } finally {
    await killAllChildren(loading);
    unmountUnder(root);
    if (!(failed && process.env.STRATA_CRASH_KEEP)) fs.rmSync(root, { recursive: true, force: true });
  }
  assert.ok(maxLayers > 0 && maxMounts > 0, 'the children never made a layer and an RW layer');
  const dist = [...landed].map(([k, v]) => `${k} ${v}`).join(', ');
  t.diagnostic(
    `${ITERATIONS} kills in ${((Date.now() - t0) / 1000).toFixed(0)} s (seed ${SEED}; ${twoWorkers} children with 2 workers, ${debrisLeft} kills recovered by the next child; ${ops} ops completed) — landed in: ${dist}; ` +
      `up to ${maxLayers} layers, ${maxMounts} RW layers; recovery removed ${recovered.removedLayers} -removing layers, ${recovered.writeSets} write-sets, ${recovered.driverIds} driver dirs`,
  );
});
