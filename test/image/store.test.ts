/**
 * The image store (moby's image.Store): restore holds each image's top layer and skips (and
 * reports) images whose layers are gone; create refuses missing layers and stores nothing;
 * delete releases the top layer and clears children's parent.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { makeTar, tempDir } from '../helpers/tmp.js';
import { openImageStore } from '../../src/image/store.js';
import { marshalImageConfig, newImageConfig } from '../../src/image/config.js';
import type { Digest } from '../../src/digest/index.js';

async function* once(b: Buffer): AsyncGenerator<Buffer> {
  yield b;
}

function config(diffIds: string[], tag: string): Buffer {
  return marshalImageConfig(newImageConfig({ architecture: 'amd64', os: 'linux', comment: tag, rootfs: { type: 'layers', diff_ids: diffIds } }));
}

test('create, restore, children, delete', async () => {
  const root = tempDir('strata-imgstore-');
  let s = await openImageStore({ root, driver: 'vfs' });
  const base = await s.layers.register(once(makeTar({ 'a.txt': 'a' })));
  const top = await s.layers.register(once(makeTar({ 'b.txt': 'b' })), base.chainId);
  const baseImg = await s.create(config([base.diffId], 'base'));
  const topImg = await s.create(config([base.diffId, top.diffId], 'top'));
  assert.equal(await s.create(config([base.diffId, top.diffId], 'top')), topImg, 'creating the same config again gives the same image');
  s.setParent(topImg, baseImg);
  await s.layers.release(top);
  await s.layers.release(base);
  const missing = config(['sha256:' + 'ab'.repeat(32)], 'missing');
  await assert.rejects(s.create(missing), /failed to get layer sha256:[0-9a-f]{64}: layer does not exist/);
  assert.equal(s.db.walk().length, 2, 'a failed create stores no config');
  await s.close();

  // Restore: both images, each holding its top layer (so releasing the layer store's view deletes nothing).
  s = await openImageStore({ root, driver: 'vfs' });
  assert.deepEqual(s.images().map((i) => i.id).sort(), [baseImg, topImg].sort());
  assert.deepEqual(s.children(baseImg), [topImg]);
  assert.equal(s.resolve(topImg.slice(7, 19)), topImg, 'an ID prefix resolves');
  assert.equal(s.layers.layer(top.chainId).references.handles, 1, 'the top image holds its layer');
  // Deleting the child clears nothing of the base; deleting the base after it releases both layers.
  assert.deepEqual((await s.delete(topImg)).map((l) => l.chainId), [top.chainId]);
  assert.deepEqual(s.children(baseImg), []);
  assert.deepEqual((await s.delete(baseImg)).map((l) => l.chainId), [base.chainId]);
  assert.deepEqual(s.images(), []);
  await s.close();
});

test('restore skips an image whose layer is gone, and says why', async () => {
  const root = tempDir('strata-imgstore-');
  let s = await openImageStore({ root, driver: 'vfs' });
  const l = await s.layers.register(once(makeTar({ 'x': 'x' })));
  const id = await s.create(config([l.diffId], 'x'));
  await s.close();
  fs.rmSync(path.join(root, 'image/vfs/layerdb/sha256', l.chainId.slice(7)), { recursive: true });
  s = await openImageStore({ root, driver: 'vfs' });
  assert.deepEqual(s.images(), []);
  assert.deepEqual(s.problems, [{ id: id as Digest, reason: `layer ${l.chainId} does not exist` }]);
  assert.ok(fs.existsSync(s.db.contentPath(id)), 'the config stays on disk');
  await s.close();
});
