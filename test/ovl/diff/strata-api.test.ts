/**
 * strata's path API against the kernel overlay: fixed seeds of random operations under both
 * redirect configs, and the hand-written scenarios. Any divergence fails with its (shrunk)
 * reproduction: fixture, operations, diff, and a JSON line for `scripts/ovl-fuzz.ts --replay`.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { tempDir } from '../../helpers/tmp.js';
import { apiSide } from './api-executor.js';
import { expectNoDivergence, expectScenarioAgrees } from './check.js';
import type { RedirectConfig } from './executor.js';
import { SCENARIOS } from './scenarios.js';
import { kernelSide } from './sides.js';

const SEEDS = [1, 2, 3, 4];
const OPS_PER_SEED = 70;

describe('differential: kernel overlay vs strata API', () => {
  for (const config of ['follow', 'on'] as RedirectConfig[]) {
    it(`random operations, redirect_dir=${config}, seeds ${SEEDS.join(',')}`, async () => {
      const ops = await expectNoDivergence({ ref: kernelSide(), cand: apiSide(), workDir: tempDir('ovl-diff-'), seeds: SEEDS, configs: [config], count: OPS_PER_SEED });
      assert.equal(ops, SEEDS.length * OPS_PER_SEED, 'every operation was compared');
    });
  }

  for (const scenario of SCENARIOS) {
    for (const config of ['follow', 'on'] as RedirectConfig[]) {
      it(`scenario: ${scenario.name} (redirect_dir=${config})`, async () => {
        await expectScenarioAgrees({ ref: kernelSide(), cand: apiSide(), workDir: tempDir('ovl-diff-') }, scenario, config);
      });
    }
  }
});
