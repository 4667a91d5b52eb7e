/**
 * overlay2 against dockerd, layer by layer: the same layer tars, applied through strata's overlay2
 * driver on a fresh data root, give the `diff/` trees dockerd 20.10 wrote (cache IDs aside), the
 * sizes in dockerd's layerdb, and Docker's `link`/`lower`/`committed` layout around them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { initOverlay2 } from '../../src/driver/overlay2/index.js';
import { TarReader } from '../../src/archive/tar/index.js';
import { tempDir } from '../helpers/tmp.js';
import { diffSnapshots, snapshotTree } from '../helpers/tree-snapshot.js';
import { dockerFixture } from '../oracle/fixtures.js';

const fx = await dockerFixture();

test('applyDiff of the built image, layer on layer, reproduces dockerd\'s overlay2 diff dirs', async () => {
  const root = tempDir('strata-ovl-apply-');
  const driver = await initOverlay2(path.join(root, 'overlay2'), []);
  try {
    let parent = '';
    for (const layer of fx.images.built.layers) {
      const id = `layer${layer.index}`;
      await driver.create(id, parent);
      const size = await driver.applyDiff(id, parent, new TarReader(fs.createReadStream(layer.savedLayerTar, { highWaterMark: 1 << 20 })));
      assert.equal(size, layer.size, `layer ${layer.index}: size equals dockerd's layerdb size`);
      const theirs = snapshotTree(layer.diffDir);
      const ours = snapshotTree(path.join(root, 'overlay2', id, 'diff'));
      // Whiteout devices are made at apply time, so their mtimes differ between any two applies.
      const whiteout = (rel: string) => theirs.get(rel)?.type === 'char' && theirs.get(rel)?.rdev === '0:0';
      assert.deepEqual(diffSnapshots(theirs, ours, (rel, f) => rel === '.' || (f === 'mtimeNs' && whiteout(rel))), [], `layer ${layer.index}`);
      // The files around diff/ follow Docker's layout.
      const dockerDir = layer.overlayDir;
      const ourDir = path.join(root, 'overlay2', id);
      assert.equal(fs.existsSync(path.join(ourDir, 'lower')), fs.existsSync(path.join(dockerDir, 'lower')));
      assert.equal(fs.existsSync(path.join(ourDir, 'work')), fs.existsSync(path.join(dockerDir, 'work')));
      if (fs.existsSync(path.join(dockerDir, 'lower'))) {
        const depth = (p: string) => fs.readFileSync(path.join(p, 'lower'), 'utf8').split(':').length;
        assert.equal(depth(ourDir), depth(dockerDir));
      }
      assert.match(fs.readFileSync(path.join(ourDir, 'link'), 'utf8'), /^[A-Z2-7]{26}$/);
      parent = id;
    }
    // `committed` marks exactly the layers that have children, as in dockerd's data root.
    for (const layer of fx.images.built.layers.slice(0, -1)) {
      assert.equal(fs.existsSync(path.join(root, 'overlay2', `layer${layer.index}`, 'committed')), true);
    }
    assert.equal(fs.existsSync(path.join(root, 'overlay2', `layer${fx.images.built.layers.at(-1)!.index}`, 'committed')), false);
  } finally {
    await driver.cleanup();
  }
});
