/**
 * IDs against a real dockerd: the DiffIDs, ChainIDs and image IDs dockerd 20.10 recorded in its
 * data root are the ones strata computes from the same bytes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { chainIds, sha256File, sha256Of, digestHex } from '../../src/digest/index.js';
import { dockerFixture } from '../oracle/fixtures.js';

const fx = await dockerFixture();

for (const image of [fx.images.base, fx.images.built]) {
  test(`${image.ref}: DiffIDs, ChainIDs and the image ID match dockerd's`, async () => {
    const config = fs.readFileSync(image.configPath);
    assert.equal(sha256Of(config), image.id, 'image ID = sha256 of the config bytes');
    const diffIds = (JSON.parse(config.toString()) as { rootfs: { diff_ids: string[] } }).rootfs.diff_ids;
    for (const [i, layer] of image.layers.entries()) {
      assert.equal(diffIds[i], layer.diffId);
      assert.equal(await sha256File(layer.savedLayerTar), layer.diffId, `layer ${i}: sha256 of layer.tar`);
      assert.equal(fs.readFileSync(path.join(layer.layerDbDir, 'diff'), 'utf8'), layer.diffId);
    }
    const chains = chainIds(image.layers.map((l) => l.diffId as never));
    assert.deepEqual(chains, image.layers.map((l) => l.chainId));
    for (const [i, layer] of image.layers.entries()) {
      assert.equal(path.basename(layer.layerDbDir), digestHex(chains[i]!), 'layerdb directory is named by the ChainID');
      const parent = path.join(layer.layerDbDir, 'parent');
      if (i === 0) assert.equal(fs.existsSync(parent), false);
      else assert.equal(fs.readFileSync(parent, 'utf8'), chains[i - 1]);
    }
  });
}
