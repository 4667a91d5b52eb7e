/**
 * The long crash run of issue 7: SIGKILL `strata` at a random file-system step of load (plain and
 * compressed), commit, create, rm, rmi, prune, layer add and layer rm — and sometimes of the
 * recovery after it — then check the data root (see test/engine/crash-harness.ts).
 *
 *   node --import tsx scripts/crash-trials.ts --trials 500 [--seed N] [--keep]
 *   node --import tsx scripts/crash-trials.ts --seed N --trial T     # one trial again
 *
 * Prints a line per failure as it happens, then per-verb counts and every failure with the seed
 * and trial that reproduce it. Exit status 1 if any trial failed. Needs root (overlay mounts).
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import { parseArgs } from 'node:util';
import { CrashHarness, summarize, type TrialResult } from '../test/engine/crash-harness.js';

const { values } = parseArgs({
  options: {
    trials: { type: 'string', default: '500' },
    seed: { type: 'string' },
    trial: { type: 'string' },
    keep: { type: 'boolean', default: false },
  },
});
const seed = values.seed !== undefined ? Number(values.seed) : crypto.randomInt(2 ** 32);
const only = values.trial !== undefined ? [Number(values.trial)] : undefined;
const trials = only ?? Array.from({ length: Number(values.trials) }, (_, i) => i);
if (trials.some((t) => !Number.isInteger(t) || t < 0) || !Number.isInteger(seed)) {
  process.stderr.write('usage: crash-trials.ts [--trials N] [--seed N] [--trial T] [--keep]\n');
  process.exit(2);
}

const work = fs.mkdtempSync('/var/tmp/strata-crash-trials-');
process.stdout.write(`seed ${seed}, ${trials.length} trial${trials.length > 1 ? 's' : ''}, work dir ${work}\n`);
const t0 = Date.now();
const harness = await CrashHarness.create(work, seed);
const results: TrialResult[] = [];
try {
  for (const n of trials) {
    const r = await harness.trial(n);
    results.push(r);
    if (r.error) process.stdout.write(`trial ${n}: FAILED — ${r.error}\n`);
    else if (results.length % 25 === 0 || only) process.stdout.write(`${results.length}/${trials.length} trials (${((Date.now() - t0) / 1000).toFixed(0)} s); trial ${n} ${r.verb}: ${r.verbKill}${r.recoveryKill ? `; recovery ${r.recoveryKill}` : ''}\n`);
  }
} finally {
  const failed = results.some((r) => r.error);
  await harness.close(values.keep || failed);
  process.stdout.write(`\n${results.length} trials in ${((Date.now() - t0) / 1000).toFixed(0)} s, seed ${seed}\n${summarize(results)}\n`);
  if (failed || values.keep) process.stdout.write(`work dir kept: ${work} (a tmpfs: umount -R ${work} when done)\n`);
  process.exitCode = failed ? 1 : 0;
}
