/**
 * The harness's own observations: a FUSE mount's READDIRPLUS replies refresh the attributes the
 * kernel caches for each entry, so a walk that lists a directory before stat'ing its entries can
 * miss stale attributes that a program stat'ing a path directly would see. The "prestat" pass
 * stats the previous observation's paths before any listing.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { diffObservations } from './compare.js';
import { InoLabels, observeMerged, type FileType, type MergedReader, type RawStat } from './observe.js';

/**
 * A two-entry tree whose file `/f` gets a second link between two observations (`link()`); a
 * `caching` reader answers for `/f` what it cached, which only a listing of `/` refreshes (as
 * READDIRPLUS does on a FUSE mount).
 */
function tree(caching: boolean): MergedReader & { link(): void } {
  let nlink = 1;
  let cached = 1;
  const stat = (type: FileType, links: number, ino: bigint): RawStat => ({
    type,
    mode: type === 'dir' ? 0o40755 : 0o100644,
    uid: 0,
    gid: 0,
    size: 3,
    nlink: links,
    ino,
    dev: 1n,
    rdev: 0n,
    mtimeNs: 1000n,
  });
  return {
    link: () => void (nlink = 2),
    lstat: (p) => (p === '/' ? stat('dir', 1, 1n) : stat('file', caching ? cached : nlink, 2n)),
    readdir: () => {
      cached = nlink;
      return [{ name: 'f', type: 'file' }];
    },
    readFile: () => Buffer.from('abc'),
    readlink: () => '',
    listxattr: () => [],
    getxattr: () => Buffer.alloc(0),
  };
}

/** Observes `t`, links, observes again (stat'ing the first observation's paths first). */
async function observeAroundLink(t: ReturnType<typeof tree>) {
  const labels = new InoLabels();
  const first = await observeMerged(t, labels, []);
  t.link();
  return { merged: await observeMerged(t, labels, first.entries.keys()), upper: new Map() };
}

describe('differential harness: observations', () => {
  it('stats the previous paths before listing: a stale cached attribute shows as a prestat difference', async () => {
    const fresh = await observeAroundLink(tree(false));
    const stale = await observeAroundLink(tree(true));
    // the walk after the listing sees 2 links on both sides: only the pass before it tells them apart
    assert.deepEqual(diffObservations(fresh, stale), [{ area: 'prestat', path: '/f', field: 'nlink', ref: '2', cand: '1' }]);
    assert.deepEqual(fresh.merged.prestat.get('/'), { type: 'dir', perm: '755', owner: '0:0', nlink: '1', mtime: 'fixed 1000' });
  });

  it('the first observation has nothing to stat first', async () => {
    assert.equal((await observeMerged(tree(false), new InoLabels(), [])).prestat.size, 0);
  });
});
