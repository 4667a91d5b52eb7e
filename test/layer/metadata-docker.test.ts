/**
 * The layerdb against dockerd 20.10: strata reads what dockerd wrote, exactly, and what strata
 * writes is what dockerd writes (file set, bytes, modes).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { tempDir } from '../helpers/tmp.js';
import { dockerFixture, copyFixtureDataRoot, type DockerFixture, type FixtureLayer } from '../oracle/fixtures.js';
import { readTarSplit } from '../../src/archive/tarsplit/index.js';
import { parseDigest, type Digest } from '../../src/digest/index.js';
import { MetadataStore } from '../../src/layer/metadata/index.js';

function allLayers(fx: DockerFixture): FixtureLayer[] {
  const byChain = new Map<string, FixtureLayer>();
  for (const l of [...fx.images.base.layers, ...fx.images.built.layers]) byChain.set(l.chainId, l);
  return [...byChain.values()];
}

/** name → [mode, bytes] of every entry of a dir (one level; these dirs are flat). */
function snapshot(dir: string): Map<string, [number, Buffer]> {
  const out = new Map<string, [number, Buffer]>();
  out.set('.', [fs.statSync(dir).mode, Buffer.alloc(0)]);
  for (const n of fs.readdirSync(dir)) {
    const p = path.join(dir, n);
    const st = fs.lstatSync(p);
    out.set(n, [st.mode, st.isFile() ? fs.readFileSync(p) : Buffer.alloc(0)]);
  }
  return out;
}

test('strata reads dockerd\'s layerdb: every layer and mount, as the fixture records them', async () => {
  const fx = await dockerFixture();
  const copy = await copyFixtureDataRoot(fx, path.join(tempDir(), 'data-root'));
  const db = new MetadataStore(path.join(copy, 'image/overlay2/layerdb'));
  const layers = allLayers(fx);
  const containers = [fx.containers.created, fx.containers.exited];

  const listing = db.list();
  assert.deepEqual(listing.layers, layers.map((l) => l.chainId).sort());
  assert.deepEqual(listing.mounts, containers.map((c) => c.id).sort());
  assert.deepEqual(listing.skipped, []);
  assert.deepEqual(db.orphans(), { orphans: [], finished: [], skipped: [] });
  assert.deepEqual(db.writeSets(), []);

  for (const l of layers) {
    const chain = parseDigest(l.chainId);
    const rec = db.readLayer(chain);
    assert.deepEqual(rec, {
      chainId: l.chainId,
      diffId: l.diffId,
      size: l.size,
      cacheId: l.cacheId,
      ...(l.parentChainId ? { parent: l.parentChainId } : {}),
    });
    assert.equal(db.getDescriptor(chain), undefined); // never on Linux
    assert.equal(db.tarSplitPath(chain), path.join(copy, path.relative(fx.dataRoot, l.tarSplit)));
    let n = 0;
    for await (const _ of readTarSplit(db.openTarSplit(chain))) n++;
    assert.ok(n > 1);
  }
  for (const c of containers) {
    assert.deepEqual(db.readMount(c.id), { name: c.id, mountId: c.mountId, initId: c.initId, parent: c.parentChainId });
    assert.equal(c.initId, `${c.mountId}-init`);
  }

  // the -removing protocol on a real layer: the top of the built image
  const top = fx.images.built.layers.at(-1)!;
  const h = db.startRemove(parseDigest(top.chainId));
  assert.deepEqual(db.list().layers, layers.map((l) => l.chainId).filter((c) => c !== top.chainId).sort());
  assert.deepEqual(db.orphans().orphans, [{ ...h, cacheId: top.cacheId }]);
  db.finishRemove(h);
  assert.deepEqual(db.orphans(), { orphans: [], finished: [], skipped: [] });
});

test('a layer and a mount written by strata are what dockerd writes (files, bytes, modes)', async () => {
  const fx = await dockerFixture();
  const root = path.join(tempDir(), 'image/overlay2/layerdb');
  const db = new MetadataStore(root);
  const dockerDb = path.join(fx.dataRoot, 'image/overlay2/layerdb');

  for (const l of allLayers(fx)) {
    const tx = db.startTransaction();
    try {
      // tar-split first, as Docker does (it is written while the tar is applied)
      const packer = tx.tarSplitWriter();
      for await (const e of readTarSplit(l.tarSplit)) {
        packer.add(e);
        if (packer.wantsFlush) await packer.flush();
      }
      await packer.close();
      tx.setLayer({
        diffId: parseDigest(l.diffId),
        size: l.size,
        cacheId: l.cacheId,
        ...(l.parentChainId ? { parent: parseDigest(l.parentChainId) } : {}),
      });
      tx.commit(parseDigest(l.chainId));
    } finally {
      await tx.cancel();
    }
    const ours = snapshot(path.join(root, 'sha256', l.chainId.slice(7)));
    const theirs = snapshot(l.layerDbDir);
    assert.deepEqual([...ours.keys()].sort(), [...theirs.keys()].sort(), l.chainId);
    for (const [name, [m, bytes]] of theirs) {
      const [om, obytes] = ours.get(name)!;
      assert.equal(om.toString(8), m.toString(8), `${l.chainId} ${name} mode`);
      if (name === 'tar-split.json.gz') {
        // the JSON lines are identical; the deflate bytes are zlib's, not Go's (spec 4.1)
        assert.deepEqual(obytes.subarray(0, 10), bytes.subarray(0, 10), 'gzip header');
        assert.ok(zlib.gunzipSync(obytes).equals(zlib.gunzipSync(bytes)), `${l.chainId} tar-split content`);
      } else {
        assert.ok(obytes.equals(bytes), `${l.chainId} ${name}: ${JSON.stringify(obytes.toString())} vs ${JSON.stringify(bytes.toString())}`);
      }
    }
  }

  for (const c of [fx.containers.created, fx.containers.exited]) {
    db.saveMount(c.id, { mountId: c.mountId, initId: c.initId, parent: c.parentChainId as Digest });
    const ours = snapshot(path.join(root, 'mounts', c.id));
    const theirs = snapshot(c.mountDbDir);
    assert.deepEqual([...ours.entries()].map(([n, [m, b]]) => [n, m.toString(8), b.toString()]).sort(), [...theirs.entries()].map(([n, [m, b]]) => [n, m.toString(8), b.toString()]).sort());
  }

  // the store directories themselves
  for (const sub of ['.', 'sha256', 'mounts', 'tmp']) {
    assert.equal((fs.statSync(path.join(root, sub)).mode & 0o7777).toString(8), (fs.statSync(path.join(dockerDb, sub)).mode & 0o7777).toString(8), sub);
  }
  assert.deepEqual(fs.readdirSync(path.join(root, 'tmp')), fs.readdirSync(path.join(dockerDb, 'tmp')));
});
