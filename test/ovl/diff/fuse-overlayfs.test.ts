/**
 * The harness against a peer known to differ: fuse-overlayfs 1.10 is not a faithful kernel clone
 * (spec §3.3), so a harness that finds nothing there is broken. It must report the merged-dir
 * nlink difference at once, and, with the differences it has already shown accepted, the extra
 * `.wh..wh..opq` upper file of an rmdir+mkdir.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { tempDir } from '../../helpers/tmp.js';
import type { KnownDifference } from './compare.js';
import { generateFixture, type FixtureDesc } from './fixture.js';
import { runComparison } from './runner.js';
import { fuseOverlayfsSide, kernelSide } from './sides.js';

describe('differential harness: kernel vs fuse-overlayfs', () => {
  it('reports the merged-dir nlink difference (kernel 1, fuse-overlayfs 2 + subdirs) on random fixtures', async () => {
    const workDir = tempDir('ovl-diff-');
    for (const seed of [1, 2]) {
      const r = await runComparison({ ref: kernelSide(), cand: fuseOverlayfsSide, config: 'follow', workDir, fixture: generateFixture(seed), ops: { count: 30, seed } });
      assert.ok(r.divergence, `seed ${seed}: fuse-overlayfs must diverge from the kernel`);
      const nlink = r.divergence.items.find((i) => i.area === 'merged' && i.path === '/' && i.field === 'nlink');
      assert.ok(nlink, `seed ${seed}: the merged root's nlink is among the differences:\n${JSON.stringify(r.divergence.items, null, 1)}`);
      assert.equal(nlink.ref, '1', 'the kernel reports nlink 1 for a merged dir');
      assert.notEqual(nlink.cand, '1', 'fuse-overlayfs counts subdirs');
    }
  });

  it('reports the extra .wh..wh..opq file of an rmdir+mkdir once the known differences are accepted', async () => {
    const t = '1000000000000000000';
    const fixture: FixtureDesc = {
      seed: 0,
      upper: [{ path: 'd', kind: 'dir', mode: 0o755, uid: 0, gid: 0, mtimeNs: t }],
      lowers: [[{ path: 'd', kind: 'dir', mode: 0o755, uid: 0, gid: 0, mtimeNs: t }]],
    };
    const known: KnownDifference[] = [
      { why: 'merged dirs: kernel nlink 1, fuse-overlayfs counts subdirs (§3.3.1)', matches: (i) => (i.area === 'merged' || i.area === 'prestat') && i.field === 'nlink' && i.ref === '1' },
      { why: 'the kernel shares one whiteout inode; fuse-overlayfs makes one per name', matches: (i) => i.area === 'upper' && i.field === 'nlink' && i.ref === 'shared' },
      { why: 'the kernel records origin/impure as it looks merged dirs up; fuse-overlayfs does not', matches: (i) => i.area === 'upper' && i.field === 'xattrs' && /trusted\.overlay\.(origin|impure)/.test(i.ref ?? '') },
    ];
    const r = await runComparison({
      ref: kernelSide(),
      cand: fuseOverlayfsSide,
      config: 'follow',
      workDir: tempDir('ovl-diff-'),
      fixture,
      ops: [{ op: 'rmdir', path: '/d' }, { op: 'mkdir', path: '/d', mode: 0o755 }],
      known,
    });
    assert.ok(r.divergence, 'fuse-overlayfs leaves opaque-dir marker files the kernel does not');
    assert.equal(r.divergence.opIndex, 1, 'the mkdir is where they differ');
    const extra = r.divergence.items.find((i) => i.area === 'upper' && i.path === '/d/.wh..wh..opq');
    assert.ok(extra, `the .wh..wh..opq file is reported:\n${JSON.stringify(r.divergence.items, null, 1)}`);
    assert.equal(extra.ref, undefined, 'absent from the kernel upper');
    assert.equal(extra.field, 'exists');
  });
});
