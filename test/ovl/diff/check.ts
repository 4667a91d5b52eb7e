/**
 * What the CI tests share: run fixed seeds (or scripted scenarios) through a comparison and fail
 * with the whole reproduction — shrunk within a time budget — on the first divergence.
 */
import assert from 'node:assert/strict';
import type { KnownDifference } from './compare.js';
import type { RedirectConfig, SideSpec } from './executor.js';
import { generateFixture } from './fixture.js';
import { renderDivergence, runComparison, shrinkDivergence, type ComparisonResult } from './runner.js';
import type { Scenario } from './scenarios.js';

export interface SeedRun {
  ref: SideSpec;
  cand: SideSpec;
  workDir: string;
  seeds: readonly number[];
  configs: readonly RedirectConfig[];
  /** Operations per seed. */
  count: number;
  known?: readonly KnownDifference[];
  shrinkMs?: number;
}

async function failWith(run: Omit<SeedRun, 'seeds' | 'configs' | 'count'>, r: ComparisonResult, what: string): Promise<void> {
  if (!r.divergence) return;
  const small = await shrinkDivergence(run, r.divergence, run.shrinkMs ?? 20_000);
  assert.fail(`${what}: ${run.ref.name} and ${run.cand.name} diverge (shrunk from op #${r.divergence.opIndex} of fixture seed ${r.divergence.fixture.seed}):\n${renderDivergence(small)}`);
}

/** Runs every seed under every config; returns the number of operations compared. */
export async function expectNoDivergence(run: SeedRun): Promise<number> {
  let ops = 0;
  for (const seed of run.seeds) {
    for (const config of run.configs) {
      const r = await runComparison({ ...run, config, fixture: generateFixture(seed), ops: { count: run.count, seed } });
      ops += r.opsRun;
      await failWith(run, r, `seed ${seed}, redirect_dir=${config}`);
    }
  }
  return ops;
}

/** Runs one scenario under `config`. */
export async function expectScenarioAgrees(run: Omit<SeedRun, 'seeds' | 'configs' | 'count'>, scenario: Scenario, config: RedirectConfig): Promise<void> {
  const r = await runComparison({ ...run, config, fixture: scenario.fixture, ops: scenario.ops });
  await failWith(run, r, `scenario "${scenario.name}", redirect_dir=${config}`);
}
