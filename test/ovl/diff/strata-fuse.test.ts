/**
 * strata-overlay (the engine mounted through strata's FUSE server, with its default caching:
 * a missed invalidation is a divergence) against the kernel overlay: a shorter run than the API's (every mount starts a daemon), through the identical
 * node:fs executor, so FUSE-specific bugs (entry/attr caching, open flags, readdir offsets, xattr
 * size probes, fds across copy-up) show up as divergences.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { tempDir } from '../../helpers/tmp.js';
import { expectNoDivergence, expectScenarioAgrees } from './check.js';
import type { RedirectConfig } from './executor.js';
import { SCENARIOS } from './scenarios.js';
import { FUSE_CACHED_LISTING_IMPURE, FUSE_STATFS_MAGIC, kernelSide, strataFuseSide } from './sides.js';

const SEED_OF: Record<RedirectConfig, number> = { follow: 21, on: 22 };
const OPS = 30;
const FUSE_KNOWN = [FUSE_STATFS_MAGIC, FUSE_CACHED_LISTING_IMPURE];
/**
 * The scenarios where FUSE adds its own risks: an fd across copy-up, dir removal and re-creation,
 * cached attributes of other names, writes the server never sees (passthrough), a create's owner.
 */
const FUSE_SCENARIOS = SCENARIOS.filter((s) => /read-only fd|rmdir of a merged|names left|fstat of an open merged|fstat of open directories|FUSE passthrough|setgid dir/.test(s.name));

describe('differential: kernel overlay vs strata-overlay (FUSE)', () => {
  for (const config of ['follow', 'on'] as RedirectConfig[]) {
    it(`random operations through the mount, redirect_dir=${config}, seed ${SEED_OF[config]}`, async () => {
      const ops = await expectNoDivergence({
        ref: kernelSide(),
        cand: strataFuseSide,
        workDir: tempDir('ovl-diff-'),
        seeds: [SEED_OF[config]],
        configs: [config],
        count: OPS,
        known: FUSE_KNOWN,
        shrinkMs: 10_000,
      });
      assert.equal(ops, OPS, 'every operation was compared');
    });
  }

  it('scenarios through the mount (redirect_dir=on): fd across copy-up, rmdir+mkdir, hard links seen through the cache, passthrough writes', async () => {
    assert.equal(FUSE_SCENARIOS.length, 8, 'the FUSE-relevant scenarios exist');
    const workDir = tempDir('ovl-diff-');
    for (const s of FUSE_SCENARIOS) await expectScenarioAgrees({ ref: kernelSide(), cand: strataFuseSide, workDir, known: FUSE_KNOWN, shrinkMs: 10_000 }, s, 'on');
  });
});
