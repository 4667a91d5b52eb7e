/**
 * strata opens Docker: the layer store on a copy of a data root dockerd 20.10 wrote (the oracle
 * fixture: an imported base image, a built image, a created and an exited container). Every layer
 * and mount must load with Docker's facts and counts, every layer's tar must come back as the
 * very bytes `docker save` gave, `docker diff` must be strata's changes, and an init layer strata
 * makes must be the one dockerd makes.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { openLayerStore, dockerInit, type LayerInfo, type LayerStore, type MountInfo } from '../../src/layer/index.js';
import { formatChange, sortChanges } from '../../src/archive/diff/index.js';
import { parseDigest } from '../../src/digest/index.js';
import { dockerFixture, copyFixtureDataRoot, type DockerFixture, type FixtureContainer } from '../oracle/fixtures.js';
import { strata } from '../helpers/cli.js';
import { snapshotTree, diffSnapshots, type Snapshot } from '../helpers/tree-snapshot.js';
import { mountsUnder } from '../driver/overlay2-helpers.js';
import { allLayers, collect, firstDifference, sha256Digest, varTmpScratch } from './store-docker-helpers.js';

const scratch = varTmpScratch('strata-opens-docker-');
let fx: DockerFixture;
let copy: string;
let store: LayerStore | undefined;

before(async () => {
  fx = await dockerFixture();
  // Never the fixture's own data root: strata writes (an RW layer below, recovery at open).
  copy = await copyFixtureDataRoot(fx, path.join(scratch.dir, 'data-root'));
});

after(async () => {
  try {
    await store?.close();
  } finally {
    scratch.dispose();
  }
});

function containers(): FixtureContainer[] {
  return [fx.containers.created, fx.containers.exited];
}

/** What the store must report for every fixture layer, ordered by ChainID as `layers()` is. */
function expectedLayers(): LayerInfo[] {
  const layers = allLayers(fx);
  const byChain = new Map(layers.map((l) => [l.chainId, l]));
  return layers
    .map((l): LayerInfo => {
      let depth = 0;
      let total = 0;
      for (let c: typeof l | undefined = l; c; c = c.parentChainId ? byChain.get(c.parentChainId) : undefined) {
        depth++;
        total += c.size;
      }
      const info: LayerInfo = {
        chainId: parseDigest(l.chainId),
        diffId: parseDigest(l.diffId),
        cacheId: l.cacheId,
        size: l.size,
        totalSize: total,
        depth,
        references: {
          children: layers.filter((x) => x.parentChainId === l.chainId).length,
          mounts: containers().filter((c) => c.parentChainId === l.chainId).length,
          handles: 0,
        },
      };
      if (l.parentChainId) info.parent = parseDigest(l.parentChainId);
      return info;
    })
    .sort((a, b) => (a.chainId < b.chainId ? -1 : 1));
}

/** `handles`: how many RW-layer handles this process holds on each container's mount. */
function expectedMounts(handles = 0): MountInfo[] {
  return containers()
    .map((c): MountInfo => ({ name: c.id, mountId: c.mountId, initId: c.initId, parent: parseDigest(c.parentChainId), handles }))
    .sort((a, b) => (a.name < b.name ? -1 : 1));
}

/** Orders `docker diff` lines (`C /path`) by the byte order of their paths. */
function byPath(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a.slice(2)), Buffer.from(b.slice(2)));
}

test('every layer and mount loads with Docker\'s ChainID, DiffID, size, parent, cache-id and counts', async () => {
  store = await openLayerStore({ root: copy, driver: 'overlay2' });
  assert.deepEqual(store.problems, []);
  assert.deepEqual(store.recovered, { removedLayers: [], writeSets: [], driverIds: [] });
  const want = expectedLayers();
  assert.equal(want.length, fx.images.built.layers.length, 'the base image\'s layer is the built image\'s first');
  assert.deepEqual(store.layers(), want);
  assert.deepEqual(store.mounts(), expectedMounts());

  // The counts, spelled out: each layer of the chain holds its parent once, and the top layer is
  // held by both containers.
  const built = fx.images.built.layers;
  for (const l of built.slice(0, -1)) assert.deepEqual(store.layer(parseDigest(l.chainId)).references, { children: 1, mounts: 0, handles: 0 });
  assert.deepEqual(store.layer(parseDigest(built.at(-1)!.chainId)).references, { children: 0, mounts: 2, handles: 0 });
  for (const c of containers()) {
    assert.equal(store.getMountId(c.id), c.mountId);
    assert.ok(store.layer(parseDigest(c.parentChainId)).references.mounts >= 1);
  }
  // `docker image inspect` Size is the top layer's total.
  const inspect = JSON.parse(fs.readFileSync(fx.images.built.inspectPath, 'utf8')) as { Size: number }[];
  assert.equal(store.layer(parseDigest(built.at(-1)!.chainId)).totalSize, inspect[0]!.Size);
});

test('every layer\'s tar is the `docker save` layer tar, byte for byte, and hashes to its DiffID', async () => {
  assert.ok(store);
  // Both images' saves: the base layer is in each, as the same bytes.
  for (const l of [...fx.images.base.layers, ...fx.images.built.layers]) {
    const h = store.get(parseDigest(l.chainId));
    const ours = await collect(h.tarStream());
    const saved = fs.readFileSync(l.savedLayerTar);
    assert.equal(sha256Digest(ours), l.diffId, `layer ${l.index} (${l.chainId})`);
    assert.ok(ours.equals(saved), `layer ${l.index}: ${ours.length} vs ${saved.length} bytes, first difference at ${firstDifference(ours, saved)}`);
    // Every layer has another holder (a child or a container), so letting go deletes nothing.
    assert.deepEqual(await store.release(h), []);
  }
  assert.deepEqual(store.layers(), expectedLayers());
  assert.deepEqual(mountsUnder(copy), [], 'every mount made to read the files is gone');
});

test('the containers\' changes are `docker diff`', async () => {
  assert.ok(store);
  for (const c of containers()) {
    // Handles on RW layers are not released: releasing the last one deletes the RW layer.
    const rw = store.getRWLayer(c.id);
    assert.equal(rw.mountId, c.mountId);
    assert.equal(rw.initId, c.initId);
    assert.equal(rw.parent, c.parentChainId);
    const changes = sortChanges(await rw.changes());
    // `docker diff` prints in Go map order (fixture.ts): same lines, compared in path order.
    assert.deepEqual(changes.map(formatChange), c.dockerDiff.split('\n').filter(Boolean).sort(byPath), c.name);
    assert.deepEqual(
      changes.map((x) => ({ kind: x.kind, path: x.path })),
      c.changes,
      c.name,
    );
  }
  assert.ok(fx.containers.exited.changes.length > 10, 'the exited container changed things');
  assert.deepEqual(fx.containers.created.changes, []);
});

/**
 * Overlay's own xattrs whose values name one kernel object rather than the files, so two init
 * layers made at different moments never share them; the names (and the origin's length) must
 * still match.
 * - `trusted.overlay.uuid` (on the upper root): the overlay instance's random UUID, new per mount.
 * - `trusted.overlay.origin` (on a copied-up dir, here `etc`): a file handle of the lower inode.
 *   dockerd's was taken on the fixture's own data root; `cp -a` gave the copy new inode numbers.
 */
const PER_INSTANCE_XATTRS = new Set(['trusted.overlay.uuid', 'trusted.overlay.origin']);

function maskInstanceXattrs(snap: Snapshot): Snapshot {
  for (const e of snap.values()) {
    for (const k of Object.keys(e.xattrs)) if (PER_INSTANCE_XATTRS.has(k)) e.xattrs[k] = `<${e.xattrs[k]!.length / 2} bytes>`;
  }
  return snap;
}

test('an init layer strata makes equals dockerd\'s', async () => {
  assert.ok(store);
  try {
    const top = fx.images.built.layers.at(-1)!;
    const rw = await store.createRWLayer('strata-init-check', parseDigest(top.chainId), { init: dockerInit() });
    assert.equal(rw.initId, `${rw.mountId}-init`);
    assert.equal(store.layer(parseDigest(top.chainId)).references.mounts, 3);
    const ours = maskInstanceXattrs(snapshotTree(path.join(copy, 'overlay2', rw.initId!, 'diff')));
    // dockerd's, from the copy (the same tree as fx.containers.created.initDiffDir; reading the
    // copy keeps even atimes in the fixture untouched).
    const c = fx.containers.created;
    assert.equal(c.image, fx.images.built.ref);
    const theirs = maskInstanceXattrs(snapshotTree(path.join(copy, path.relative(fx.dataRoot, c.initDiffDir))));
    for (const p of ['.dockerenv', 'etc/hosts', 'etc/hostname', 'etc/resolv.conf', 'etc/mtab', 'dev/console', 'dev/pts', 'dev/shm', 'proc', 'sys']) {
      assert.ok(theirs.has(p), `dockerd's init layer has ${p}: ${[...theirs.keys()].join(' ')}`);
    }
    // Made at different times, so every mtime differs (atimes are not in a snapshot at all).
    const diffs = diffSnapshots(ours, theirs, (_rel, field) => field === 'mtimeNs');
    assert.deepEqual(diffs, []);
    assert.deepEqual(await store.releaseRWLayer(rw), []);
    assert.equal(fs.existsSync(path.join(copy, 'overlay2', rw.initId!)), false);
    assert.equal(fs.existsSync(path.join(copy, 'overlay2', rw.mountId)), false);
    assert.deepEqual(store.mounts(), expectedMounts(1)); // the handles the diff test took
    assert.deepEqual(store.layers(), expectedLayers());
  } finally {
    await store.close();
    store = undefined;
  }
});

test('a read-only open loads the same, and exports the exited container\'s parent', async () => {
  const ro = await openLayerStore({ root: copy, driver: 'overlay2', readOnly: true, lock: 'fail' });
  try {
    assert.equal(ro.readOnly, true);
    assert.deepEqual(ro.problems, []);
    assert.deepEqual(ro.recovered, { removedLayers: [], writeSets: [], driverIds: [] });
    assert.deepEqual(ro.layers(), expectedLayers());
    assert.deepEqual(ro.mounts(), expectedMounts());

    // `strata layer export` of the exited container's parent: its tar, exactly as saved.
    const c = fx.containers.exited;
    const parent = fx.images.built.layers.find((l) => l.chainId === c.parentChainId)!;
    const h = ro.get(parseDigest(c.parentChainId));
    const tar = await collect(h.tarStream());
    assert.equal(sha256Digest(tar), parent.diffId);
    assert.ok(tar.equals(fs.readFileSync(parent.savedLayerTar)));
    // A read-only store changes nothing: releasing the only handle lets go of it, deletes nothing.
    assert.deepEqual(await ro.release(h), []);
    assert.equal(ro.layer(parseDigest(c.parentChainId)).references.handles, 0);
    await assert.rejects(ro.release(h), { code: 'LAYER_NOT_RETAINED' });
    await assert.rejects(ro.createRWLayer('x', parseDigest(c.parentChainId)), { code: 'STORE_READ_ONLY' });
    // And its changes read fine without a writable store.
    const changes = sortChanges(await ro.getRWLayer(c.id).changes()).map((x) => ({ kind: x.kind, path: x.path }));
    assert.deepEqual(changes, c.changes);
  } finally {
    await ro.close();
  }
});

test('the CLI: `strata layer ls --json` and `layer export` on the copy', () => {
  const ls = strata(['--root', copy, '-s', 'overlay2', 'layer', 'ls', '--json']);
  assert.equal(ls.status, 0, ls.stderr);
  assert.equal(ls.stderr, '', 'no load problems reported');
  const rows = JSON.parse(ls.stdout) as LayerInfo[];
  assert.deepEqual(
    rows.map((l) => l.chainId),
    allLayers(fx)
      .map((l) => l.chainId)
      .sort(),
  );
  assert.deepEqual(rows, expectedLayers());

  // The exited container's parent, by a unique prefix of its ChainID's hex.
  const c = fx.containers.exited;
  const parent = fx.images.built.layers.find((l) => l.chainId === c.parentChainId)!;
  const out = path.join(scratch.dir, 'exported.tar');
  const ex = strata(['--root', copy, '-s', 'overlay2', 'layer', 'export', c.parentChainId.slice(7, 19), '-o', out]);
  assert.equal(ex.status, 0, ex.stderr);
  assert.ok(fs.readFileSync(out).equals(fs.readFileSync(parent.savedLayerTar)));
});
