/**
 * Crash safety, step by step: each operation of the layer store (register — of a base layer, of a
 * child layer, deduplicated —, createRWLayer with Docker's init layer, releaseRWLayer of a mounted
 * RW layer whose release deletes the two layers under it, remove of a two-layer chain) is run in a
 * child process that SIGKILLs itself before its 1st file-system step, then before its 2nd, and so
 * on to the end (see store-crash-points-child.ts for what a step is). Where store-crash.test.ts
 * kills at random moments, this kills at every step, the same way every run: a failure names the
 * scenario and the step, and reproduces.
 *
 * After each kill, as in store-crash.test.ts: the store loads cleanly with only whole layers (all
 * tars verified) before and after recovery; it holds what it held before the operation, what it
 * holds after it, or (for deletes) a state on the way — nothing else; after recovery nothing is
 * orphaned, and cleanup finds nothing more.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { openLayerStore, dockerInit } from '../../src/layer/index.js';
import { SCENARIOS, tinyTar, type Scenario } from './store-crash-shared.js';
import { checkNothingOrphaned, checkWhole, debris, killAllChildren, mountsUnder, spawnChild, unmountUnder, type Child, type View } from './store-crash-checks.js';

const CHILD = fileURLToPath(new URL('./store-crash-points-child.ts', import.meta.url));

/** The data root each scenario starts from. */
async function prepare(root: string, scenario: Scenario): Promise<void> {
  const store = await openLayerStore({ root, driver: 'overlay2' });
  try {
    if (scenario === 'register-base') return;
    const base = await store.register(tinyTar('base'));
    if (scenario === 'register-child' || scenario === 'register-dedup') return;
    const child = await store.register(tinyTar('child'), base.chainId);
    if (scenario === 'releaseRWLayer') await store.createRWLayer('rw', child.chainId, { init: dockerInit() });
  } finally {
    await store.close(); // the handles go with the process: on disk, only children and RW layers hold layers
  }
}

/** Names in a view: layers by ChainID, RW layers by name. */
const names = (v: View) => [...v.layers.map((l) => l.chainId), ...v.mounts.map((m) => `mount ${m.name}`)];

test('SIGKILL before every file-system step of register, createRWLayer, releaseRWLayer and remove: whole layers, nothing orphaned', { timeout: 600_000 }, async (t) => {
  const work = fs.mkdtempSync('/var/tmp/strata-store-crash-points-');
  let next = 0;
  const newRoot = () => path.join(work, String(next++));
  const loading: Promise<Child>[] = [];
  const roots: string[] = [];
  /** The next loaded child, and its data root (still to be filled); keeps three loading. */
  const nextChild = async (): Promise<{ child: Child; root: string }> => {
    while (loading.length < 3) {
      const r = newRoot();
      roots.push(r);
      loading.push(spawnChild(CHILD, r));
    }
    const child = await loading.shift()!;
    return { child, root: roots.shift()! };
  };
  const counts: string[] = [];
  let context = '';
  try {
    for (const scenario of SCENARIOS) {
      const template = path.join(work, `template-${scenario}`);
      await prepare(template, scenario);

      // A run to the end: how many steps, and what the store holds after.
      const full = await nextChild();
      execFileSync('cp', ['-a', template, full.root]);
      full.child.start(`go ${scenario} 1000000000`);
      const done = await full.child.closed;
      assert.equal(done.code, 0, `${scenario} did not finish: ${done.stderr}`);
      const steps = Number(/^steps (\d+)$/m.exec(done.stdout)?.[1]);
      assert.ok(steps > 0, `${scenario}: no step counted`);
      const viewOf = async (root: string) => {
        const s = await openLayerStore({ root, driver: 'overlay2', readOnly: true });
        try {
          return names(await checkWhole(s));
        } finally {
          await s.close();
        }
      };
      const before = await viewOf(template);
      const after = await viewOf(full.root);
      unmountUnder(full.root);
      fs.rmSync(full.root, { recursive: true, force: true });
      counts.push(`${scenario} ${steps}`);

      for (let n = 1; n <= steps; n++) {
        const { child, root } = await nextChild();
        execFileSync('cp', ['-a', template, root]);
        context = `${scenario}, killed before step ${n} of ${steps}`;
        child.start(`go ${scenario} ${n}`);
        const r = await child.closed;
        // The count can differ by a write or two between runs (the tar-split's gzip output comes in
        // chunks that depend on timing): a run that ends before step n must then have finished cleanly.
        if (r.signal !== 'SIGKILL') {
          const ran = Number(/^steps (\d+)$/m.exec(r.stdout)?.[1]);
          assert.ok(r.code === 0 && ran < n, `the child neither killed itself nor finished before step ${n} (code ${r.code}, ${ran} steps): ${r.stderr}`);
        }
        context = `${scenario}, ${/^killed before .*$/m.exec(r.stdout)?.[0] ?? `killed before step ${n}`} of ${steps}; left for recovery: ${debris(root)}`;

        // Before recovery: loads, whole, every tar verified; holds before, after, or a state on the way.
        const ro = await openLayerStore({ root, driver: 'overlay2', readOnly: true, lock: 'fail' });
        let seen: View;
        try {
          seen = await checkWhole(ro, { tars: () => true });
        } finally {
          await ro.close();
        }
        const held = names(seen);
        const stray = held.filter((x) => !before.includes(x) && !after.includes(x));
        const lost = before.filter((x) => after.includes(x) && !held.includes(x));
        assert.deepEqual({ stray, lost }, { stray: [], lost: [] }, 'the store holds something neither before nor after the operation held, or lost what both held');

        const store = await openLayerStore({ root, driver: 'overlay2', lock: 'fail' });
        context += `; recovery at open: ${JSON.stringify(store.recovered)}`;
        try {
          const v = await checkWhole(store);
          assert.deepEqual(names(v), held, 'recovery changed the loaded layers or mounts');
          checkNothingOrphaned(store, v);
          assert.deepEqual(await store.cleanup(), { removedLayers: [], writeSets: [], driverIds: [] }, 'cleanup found more to recover');
          assert.deepEqual(mountsUnder(root), [], 'cleanup left mounts');
        } finally {
          await store.close();
        }
        fs.rmSync(root, { recursive: true, force: true });
      }
      fs.rmSync(template, { recursive: true, force: true });
    }
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    throw new Error(`${msg}\n  at ${context}`, { cause: e });
  } finally {
    await killAllChildren(loading);
    unmountUnder(work);
    fs.rmSync(work, { recursive: true, force: true });
  }
  t.diagnostic(`steps killed before, per operation: ${counts.join(', ')}`);
});
