/**
 * applyLayer against dockerd itself: every layer tar `docker save` wrote for the fixture images,
 * applied in overlay mode, must give exactly the overlay2 `diff/` dockerd made from it (dockerd
 * commits a built step by applying its tar too), and `size` must equal the layerdb `size` file.
 * Compared: names, types, modes, owners, sizes, contents, symlink targets, device numbers,
 * hardlink classes, every xattr (the opaque marker included) and mtimes — except for whiteout
 * devices, which are created at apply time, and the root, whose metadata Unpack leaves alone.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { applyLayer, extractLayer } from '../../src/archive/apply/index.js';
import { TarReader } from '../../src/archive/tar/index.js';
import { sh, tempDir } from '../helpers/tmp.js';
import { diffSnapshots, snapshotTree } from '../helpers/tree-snapshot.js';
import { dockerFixture, type FixtureLayer } from '../oracle/fixtures.js';

const fx = await dockerFixture();
const work = tempDir('strata-apply-docker-');

// Both images; the base layer is shared, so dedupe by DiffID.
const layers = new Map<string, { image: string; layer: FixtureLayer }>();
for (const [image, img] of Object.entries(fx.images)) for (const l of img.layers) if (!layers.has(l.diffId)) layers.set(l.diffId, { image, layer: l });

test('the fixture has layers to compare', () => {
  assert.ok(layers.size >= 2, `${layers.size} layers`);
});

for (const { image, layer } of layers.values()) {
  const label = `${image} layer ${layer.index} (${layer.createdBy.slice(0, 60) || 'import'})`;
  test(`dockerd's diff dir, reproduced: ${label}`, async () => {
    const ours = path.join(work, `layer-${layer.diffId.slice(7, 19)}`);
    const result = await extractLayer(new TarReader(fs.createReadStream(layer.savedLayerTar, { highWaterMark: 1 << 20 })), ours, { whiteouts: 'overlay' });
    const theirs = snapshotTree(layer.diffDir);
    const got = snapshotTree(ours);
    const whiteout = (rel: string) => theirs.get(rel)?.type === 'char' && theirs.get(rel)?.rdev === '0:0';
    const diffs = diffSnapshots(theirs, got, (rel, f) => rel === '.' || (f === 'mtimeNs' && whiteout(rel)));
    assert.deepEqual(diffs, []);
    assert.equal(result.size, layer.size, 'size equals the layerdb size file');
  });
}

test('delete mode: the layers applied one over another give the rootfs the kernel overlay shows for the diff dirs', async () => {
  // The vfs view: apply each layer of the built image in turn into one directory.
  const rootfs = tempDir('strata-apply-docker-vfs-');
  for (const l of fx.images.built.layers) {
    const r = await applyLayer(new TarReader(fs.createReadStream(l.savedLayerTar, { highWaterMark: 1 << 20 })), rootfs, { whiteouts: 'delete' });
    let sum = 0;
    for await (const e of new TarReader(fs.createReadStream(l.savedLayerTar))) sum += e.header.type === 'g' ? 0 : e.header.size;
    assert.equal(r.size, sum, 'delete mode size is the sum of header sizes');
  }
  // The oracle: the kernel's overlay of dockerd's own diff dirs, read-only, top layer first.
  const merged = path.join(work, 'merged');
  fs.mkdirSync(merged);
  const lower = [...fx.images.built.layers].reverse().map((l) => l.diffDir).join(':');
  sh('mount', ['-t', 'overlay', 'overlay', '-o', `ro,lowerdir=${lower}`, merged]);
  try {
    const diffs = diffSnapshots(snapshotTree(merged), snapshotTree(rootfs), (rel) => rel === '.');
    assert.deepEqual(diffs, []);
  } finally {
    sh('umount', [merged]);
  }
  assert.equal(fs.existsSync(path.join(rootfs, 'todelete')), false);
  assert.equal(fs.readFileSync(path.join(rootfs, 'opaque/new'), 'utf8'), 'new\n');
});
