/**
 * pullImage / pushImage as a library, against Debian's docker-registry on loopback: round trips,
 * the layer skip and the distribution mappings, cross-repository mounts, zstd, and the promise
 * that a pull that fails or is aborted leaves the data root as it was.
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { after, before, describe, it } from 'node:test';
import { compress } from '../../src/archive/compression.js';
import { chainIds, sha256Of, type Digest } from '../../src/digest/index.js';
import { imageArchive } from '../../src/engine/build.js';
import { openEngine, type Engine } from '../../src/engine/engine.js';
import { loadImages } from '../../src/engine/load/load.js';
import { pullImage } from '../../src/engine/pull.js';
import { hmacKey, metadataHmac, pushImage } from '../../src/engine/push.js';
import { marshalImageConfig, newImageConfig } from '../../src/image/config.js';
import { MEDIA_TYPES, RegistryClient, imageManifestBytes } from '../../src/registry/index.js';
import { makeTar, tempDir } from '../helpers/tmp.js';
import { startRegistry, type Registry } from './registry.js';

async function expectReject(p: Promise<unknown>, check: (e: Error) => void): Promise<void> {
  let caught: unknown;
  try {
    await p;
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof Error, `expected a rejection, got ${String(caught)}`);
  check(caught);
}

/** Nothing of a failed pull is left: no layers, no images, no references, nothing in tmp. */
function assertUntouched(engine: Engine, layersBefore: number): void {
  assert.equal(engine.layers.layers().length, layersBefore, 'no layer left registered');
  assert.equal(engine.images.images().length, 0, 'no image written');
  assert.deepEqual(engine.images.references.repositories(), {}, 'no tag written');
  assert.deepEqual(fs.readdirSync(engine.tmpDir), [], 'no temp file left');
}

describe('pullImage and pushImage against docker-registry', () => {
  let reg: Registry;
  const dir = tempDir('strata-pullpush-');
  let src: Engine;
  let srcId: Digest;
  const random = crypto.randomBytes(24 << 20); // incompressible: a layer whose download takes a moment

  before(async () => {
    reg = await startRegistry();
    for (const [name, files] of Object.entries({ base: { 'etc/base.txt': 'base\n' }, app: { 'app/big.bin': random, 'app/run.sh': '#!/bin/sh\necho hi\n' } })) {
      for (const [rel, content] of Object.entries(files)) {
        fs.mkdirSync(path.dirname(path.join(dir, name, rel)), { recursive: true });
        fs.writeFileSync(path.join(dir, name, rel), content);
      }
    }
    await pipeline(imageArchive({ layers: [path.join(dir, 'base'), path.join(dir, 'app')], tag: 'app:1', scratchDir: dir }), fs.createWriteStream(path.join(dir, 'app.tar')));
    src = await openEngine({ root: path.join(dir, 'src') });
    const loaded = await loadImages(src, path.join(dir, 'app.tar'));
    srcId = loaded.images[0]!.id;
  });
  after(async () => {
    await src?.close();
    await reg?.stop();
  });

  it('pushes (then skips what the registry has), pulls the same image back, and records the mappings', async () => {
    src.images.references.addTag(`${reg.host}/team/app:1`, srcId, true);
    const first = await pushImage(src, `${reg.host}/team/app:1`);
    assert.deepEqual(first.layers.map((l) => l.action), ['pushed', 'pushed']);
    const again = await pushImage(src, `${reg.host}/team/app:1`);
    assert.deepEqual(again.layers.map((l) => l.action), ['exists', 'exists'], 'the second push HEADs the known blobs');
    assert.equal(again.digest, first.digest, 'the same manifest');
    // The push's mappings carry moby's HMAC of the (absent) credentials.
    const diffIds = src.images.get(srcId).config.rootfs.diff_ids as Digest[];
    const meta = src.images.distribution.metadataOf(diffIds[0]!);
    const entry = meta.find((m) => m.SourceRepository === `${reg.host}/team/app`);
    assert.ok(entry, `a mapping to the target: ${JSON.stringify(meta)}`);
    assert.equal(entry.HMAC, metadataHmac(hmacKey(undefined), entry.Digest, entry.SourceRepository));
    assert.equal(src.images.references.get(`${reg.host}/team/app@${first.digest}`), srcId, 'name@digest names the image');

    const dst = await openEngine({ root: path.join(dir, 'dst') });
    try {
      const pulled = await pullImage(dst, `${reg.host}/team/app:1`);
      assert.equal(pulled.id, srcId, 'the same image ID');
      assert.equal(pulled.digest, first.digest, 'the manifest pushed');
      assert.equal(pulled.status, 'downloaded');
      assert.deepEqual(pulled.layers.map((l) => l.fetched), [true, true]);
      assert.deepEqual(pulled.layers.map((l) => l.diffId), diffIds);
      assert.deepEqual(dst.layers.layers().map((l) => l.chainId).sort(), [...chainIds(diffIds)].sort(), 'the same ChainIDs');
      assert.equal(dst.images.references.get(`${reg.host}/team/app:1`), srcId);
      assert.equal(dst.images.references.get(`${reg.host}/team/app@${first.digest}`), srcId);
      for (const l of pulled.layers) {
        assert.equal(dst.images.distribution.diffIdOf(l.digest), l.diffId, 'blob → DiffID recorded');
        assert.deepEqual(dst.images.distribution.metadataOf(l.diffId), [{ Digest: l.digest, SourceRepository: `${reg.host}/team/app`, HMAC: '' }]);
      }
      const twice = await pullImage(dst, `${reg.host}/team/app:1`);
      assert.equal(twice.status, 'up-to-date');
      assert.deepEqual(twice.layers.map((l) => l.fetched), [false, false], 'nothing fetched again');
      const byDigest = await pullImage(dst, `${reg.host}/team/app@${first.digest}`);
      assert.equal(byDigest.id, srcId);
      assert.deepEqual(fs.readdirSync(dst.tmpDir), [], 'no temp file left');
    } finally {
      await dst.close();
    }
  });

  it('mounts blobs from another repository of the same registry', async () => {
    src.images.references.addTag(`${reg.host}/other/copy:2`, srcId, true);
    const r = await pushImage(src, `${reg.host}/other/copy:2`);
    assert.deepEqual(r.layers.map((l) => l.action), ['mounted', 'mounted']);
  });

  it('pushes zstd layers under an OCI manifest, and pulls them back', async () => {
    const fresh = await openEngine({ root: path.join(dir, 'zsrc') });
    try {
      const { images } = await loadImages(fresh, path.join(dir, 'app.tar'));
      fresh.images.references.addTag(`${reg.host}/zstd/app:1`, images[0]!.id, true);
      const r = await pushImage(fresh, `${reg.host}/zstd/app:1`, { compression: 'zstd' });
      assert.deepEqual(r.layers.map((l) => l.action), ['pushed', 'pushed']);
      const c = await RegistryClient.open(reg.host);
      try {
        const m = JSON.parse((await c.getManifest('zstd/app', '1')).bytes.toString()) as { mediaType: string; config: { mediaType: string }; layers: { mediaType: string }[] };
        assert.equal(m.mediaType, MEDIA_TYPES.ociManifest);
        assert.equal(m.config.mediaType, MEDIA_TYPES.ociConfig);
        assert.deepEqual(m.layers.map((l) => l.mediaType), [MEDIA_TYPES.ociLayerZstd, MEDIA_TYPES.ociLayerZstd]);
      } finally {
        c.close();
      }
    } finally {
      await fresh.close();
    }
    const dst = await openEngine({ root: path.join(dir, 'zdst') });
    try {
      const pulled = await pullImage(dst, `${reg.host}/zstd/app:1`);
      assert.equal(pulled.id, srcId, 'the same image from zstd blobs');
    } finally {
      await dst.close();
    }
  });

  it('an aborted pull leaves nothing registered and no temp files', async () => {
    const dst = await openEngine({ root: path.join(dir, 'abort') });
    try {
      const ac = new AbortController();
      let downloading = 0;
      const p = pullImage(dst, `${reg.host}/team/app:1`, {
        signal: ac.signal,
        onProgress: (e) => {
          if (e.kind === 'layer' && e.status === 'Downloading' && e.total! > 1 << 20 && ++downloading === 2) ac.abort(new Error('stop here'));
        },
      });
      await expectReject(p, (e) => assert.equal(e.message, 'stop here'));
      assertUntouched(dst, 0);
    } finally {
      await dst.close();
    }
  });

  it('an abort after the first layer registered releases it', async () => {
    const dst = await openEngine({ root: path.join(dir, 'abort2') });
    try {
      const ac = new AbortController();
      const p = pullImage(dst, `${reg.host}/team/app:1`, {
        signal: ac.signal,
        concurrency: 1,
        onProgress: (e) => {
          if (e.kind === 'layer' && e.status === 'Extracting' && dst.layers.layers().length === 1) ac.abort(new Error('stop in layer 2'));
        },
      });
      await expectReject(p, (e) => assert.equal(e.message, 'stop in layer 2'));
      assertUntouched(dst, 0);
    } finally {
      await dst.close();
    }
  });

  it('a layer whose DiffID is not the config\'s is rejected and nothing stays registered', async () => {
    const c = await RegistryClient.open(reg.host, { push: true });
    const good = makeTar({ 'good.txt': 'good\n' });
    const bad = makeTar({ 'bad.txt': 'not what the config says\n' });
    const blobs: { digest: Digest; size: number }[] = [];
    try {
      for (const tar of [good, bad]) {
        const gz: Buffer[] = [];
        for await (const chunk of compress([tar], 'gzip')) gz.push(chunk);
        const bytes = Buffer.concat(gz);
        blobs.push({ digest: sha256Of(bytes), size: bytes.length });
        await c.uploadBlob('bad/diffid', async function* () {
          yield bytes;
        });
      }
      const config = marshalImageConfig(newImageConfig({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [sha256Of(good), sha256Of(makeTar({ 'other.txt': 'x' }))] } }));
      await c.uploadBlobBytes('bad/diffid', config);
      const manifest = imageManifestBytes(
        { mediaType: MEDIA_TYPES.dockerConfig, digest: sha256Of(config), size: config.length },
        blobs.map((b) => ({ mediaType: MEDIA_TYPES.dockerLayer, ...b })),
        'docker',
      );
      await c.putManifest('bad/diffid', 'v1', manifest, MEDIA_TYPES.dockerManifest);
    } finally {
      c.close();
    }
    const dst = await openEngine({ root: path.join(dir, 'baddiff') });
    try {
      await expectReject(pullImage(dst, `${reg.host}/bad/diffid:v1`, { platform: { os: 'linux', architecture: 'amd64' } }), (e) => assert.match(e.message, /layer 1 \(sha256:[0-9a-f]{64}\): invalid diffID: expected "sha256:/));
      assertUntouched(dst, 0);
    } finally {
      await dst.close();
    }
  });

  it('names a missing image as docker does', async () => {
    const dst = await openEngine({ root: path.join(dir, 'missing') });
    try {
      await expectReject(pullImage(dst, `${reg.host}/no/such:1`), (e) => assert.equal(e.message, `manifest for ${reg.host}/no/such:1 not found: manifest unknown: manifest unknown`));
      await expectReject(pushImage(dst, `${reg.host}/no/such:1`), (e) => assert.equal(e.message, `An image does not exist locally with the tag: ${reg.host}/no/such`));
      assertUntouched(dst, 0);
    } finally {
      await dst.close();
    }
  });
});
