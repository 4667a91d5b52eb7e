/**
 * overlay2 on a data root written by dockerd 20.10 (the oracle fixture, on a private copy):
 * strata mounts the built image's top layer and the exited container's RW layer from Docker's own
 * `lower`/`link` files, and what it shows must equal (a) the image rebuilt independently from the
 * `docker save` layer tars and (b) `docker diff` of the container; metadata must equal
 * `docker inspect`'s GraphDriver.Data.
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { openOverlay2, dockerMountData, type Overlay2Driver } from '../../src/driver/overlay2/index.js';
import { applyLayer, TarReader } from '../../src/archive/index.js';
import { dockerFixture, copyFixtureDataRoot, type DockerFixture } from '../oracle/fixtures.js';
import { snapshotTree, diffSnapshots } from '../helpers/tree-snapshot.js';
import { tempDir } from '../helpers/tmp.js';
import { scratchRoot, mountAt, mountsUnder } from './overlay2-helpers.js';

const { root, dispose } = scratchRoot('strata-ov2-docker-');
after(dispose);
let fx: DockerFixture;
let d: Overlay2Driver;
let copy: string;

before(async () => {
  fx = await dockerFixture();
  copy = await copyFixtureDataRoot(fx, path.join(root, 'data-root'));
  d = await openOverlay2(path.join(copy, 'overlay2'), []);
});

test('status and metadata equal dockerd\'s', async () => {
  assert.deepEqual(d.status(), [
    ['Backing Filesystem', 'extfs'],
    ['Supports d_type', 'true'],
    ['Native Overlay Diff', 'true'],
    ['userxattr', 'false'],
  ]);
  const c = fx.containers.exited;
  const inspect = JSON.parse(fs.readFileSync(c.inspectPath, 'utf8')) as { GraphDriver: { Name: string; Data: Record<string, string> } }[];
  const gd = inspect[0]!.GraphDriver;
  assert.equal(gd.Name, 'overlay2');
  const relocated = Object.fromEntries(Object.entries(gd.Data).map(([k, v]) => [k, v.split(fx.dataRoot).join(copy)]));
  assert.deepEqual(await d.metadata(c.mountId), relocated);
});

test('the built image\'s top layer mounts read-only and equals the saved layer tars applied in order', async () => {
  const layers = fx.images.built.layers;
  const top = layers[layers.length - 1]!;
  // An independent reconstruction: every `docker save` layer tar applied with deleting whiteouts.
  const flat = tempDir('strata-ov2-flat-');
  for (const l of layers) await applyLayer(new TarReader([fs.readFileSync(l.savedLayerTar)]), flat, { whiteouts: 'delete' });

  const merged = await d.get(top.cacheId);
  try {
    assert.equal(merged, path.join(copy, 'overlay2', top.cacheId, 'merged'));
    const m = mountAt(merged)!;
    assert.ok(m.mountOptions.startsWith('ro') || !m.superOptions.includes('upperdir='), 'committed → read-only');
    assert.ok(m.superOptions.includes(`lowerdir=${path.join(copy, 'overlay2', top.cacheId, 'diff')}:`));
    const a = snapshotTree(merged);
    const b = snapshotTree(flat);
    // Directory mtimes differ by construction (the kernel shows the upper-most copy's time, a
    // tar apply the last entry's); overlay hides trusted.overlay.* xattrs anyway.
    const diffs = diffSnapshots(a, b, (rel, k) => k === 'mtimeNs' && (a.get(rel)?.type === 'dir' || rel === '.'));
    assert.deepEqual(diffs, []);
    assert.ok(a.size > 50, `${a.size} entries`);
  } finally {
    await d.put(top.cacheId);
  }
  assert.deepEqual(mountsUnder(path.join(copy, 'overlay2')), []);
});

test('the exited container\'s RW layer mounts with dockerd\'s exact options and shows `docker diff`', async () => {
  const c = fx.containers.exited;
  const home = path.join(copy, 'overlay2');
  const merged = await d.get(c.mountId);
  try {
    assert.equal(d.mountMethods.get(merged), 'mount');
    const lowers = fs.readFileSync(path.join(home, c.mountId, 'lower'), 'utf8').split(':');
    const expected = dockerMountData({ home, id: c.mountId, lowers, readOnly: false, indexOff: 'index=off,', userxattr: '', lowerdirPlus: true });
    assert.equal(
      expected,
      `index=off,lowerdir=${lowers.map((l) => `${home}/${l}`).join(':')},upperdir=${home}/${c.mountId}/diff,workdir=${home}/${c.mountId}/work`,
    );
    // The kernel echoes the options minus index=off (its default).
    assert.ok(mountAt(merged)!.superOptions.includes(expected.slice('index=off,'.length)), mountAt(merged)!.superOptions);
    assert.equal(fs.readFileSync(path.join(merged, 'added.txt'), 'utf8'), 'added\n');
    assert.equal(fs.existsSync(path.join(merged, 'deep')), false);
  } finally {
    await d.put(c.mountId);
  }
  const ch = await d.changes(c.mountId, c.initId);
  assert.deepEqual(ch.map((x) => ({ kind: x.kind, path: x.path })), c.changes);
  assert.deepEqual(mountsUnder(home), []);
});
