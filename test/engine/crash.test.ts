/**
 * Crash consistency of the engine's verbs (issue 7): 50 trials, each SIGKILLing `strata` at a
 * random file-system step of load (plain, and compressed through the spool), commit, create, rm,
 * rmi, prune, layer add or layer rm — and about one in five the recovery after it too — then
 * checking that the data root opens, loads whole (before and after recovery), `fsck` is clean,
 * nothing is orphaned (write-sets, `-removing` dirs, driver dirs, spool files, intents, temp
 * files, mounts), no layer is left held by nothing, and each image, tag set and container is as it
 * was before the verb or as the verb left it. See crash-harness.ts and crash-checks.ts.
 *
 * STRATA_CRASH_SEED sets the run's seed (a failure prints it with the trial number:
 * `node --import tsx scripts/crash-trials.ts --seed S --trial N` runs that trial again and keeps
 * its data root); STRATA_CRASH_TRIALS the number of trials. The long run is that script.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { tempDir } from '../helpers/tmp.js';
import { CrashHarness, summarize, type TrialResult } from './crash-harness.js';
import { VERBS } from './crash-fixture.js';

const TRIALS = Number(process.env.STRATA_CRASH_TRIALS ?? 50);
const SEED = process.env.STRATA_CRASH_SEED !== undefined ? Number(process.env.STRATA_CRASH_SEED) : crypto.randomInt(2 ** 32);

test(`SIGKILL at a random step of every verb, ${TRIALS} times: the store opens whole, fsck is clean, nothing orphaned, no image half there`, { timeout: 120_000 + TRIALS * 5_000 }, async (t) => {
  const work = tempDir('strata-engine-crash-');
  const t0 = Date.now();
  const results: TrialResult[] = [];
  let harness: CrashHarness | undefined;
  try {
    harness = await CrashHarness.create(work, SEED);
    for (let n = 0; n < TRIALS; n++) results.push(await harness.trial(n));
  } finally {
    await harness?.close();
  }
  const summary = summarize(results);
  t.diagnostic(`${TRIALS} trials in ${((Date.now() - t0) / 1000).toFixed(0)} s, seed ${SEED}`);
  for (const line of summary.split('\n')) t.diagnostic(line);
  assert.deepEqual(results.filter((r) => r.error).map((r) => r.error), [], `failed trials (seed ${SEED}):\n${summary}`);
  // The kills must land inside the verbs: a harness whose children all finish first tests nothing.
  for (const verb of VERBS) {
    const killed = results.filter((r) => r.verb === verb && r.verbKill.startsWith('killed')).length;
    assert.ok(TRIALS < VERBS.length * 2 || killed > 0, `no trial killed ${verb} mid-way`);
  }
  assert.ok(results.some((r) => r.recoveryKill?.startsWith('killed')), 'no trial killed a recovery');
});
