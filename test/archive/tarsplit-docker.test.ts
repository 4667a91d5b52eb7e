/**
 * tar-split against Docker itself: the dockerd 20.10 fixture's layers (an imported GNU-tar base
 * with PAX records, xattrs, a latin-1 name, `<&>` names and record padding; and layers committed
 * by `docker build`). For every layer:
 *   - our assembler rebuilds the layer tar, byte for byte, from Docker's own tar-split.json.gz and
 *     the layer's overlay2 diff directory (the bytes `docker save` wrote; SHA-256 = DiffID);
 *   - our disassembly of that saved layer.tar gives exactly Docker's JSON lines.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import zlib from 'node:zlib';
import crypto from 'node:crypto';
import { TarReader } from '../../src/archive/tar/index.js';
import { MemoryTarSplitOutput, TarSplitPacker, assembleTar, recordTarSplit, rootFileGetter } from '../../src/archive/tarsplit/index.js';
import { dockerFixture, type FixtureLayer } from '../oracle/fixtures.js';

async function layers(): Promise<FixtureLayer[]> {
  const fx = await dockerFixture();
  const byChain = new Map<string, FixtureLayer>();
  for (const l of [...fx.images.base.layers, ...fx.images.built.layers]) byChain.set(l.chainId, l);
  assert.ok(byChain.size >= 2, 'the fixture has a base layer and built layers');
  return [...byChain.values()];
}

test('our assembler rebuilds every Docker layer tar from Docker\'s tar-split and diff dir', async () => {
  for (const l of await layers()) {
    const hash = crypto.createHash('sha256');
    const parts: Buffer[] = [];
    for await (const chunk of assembleTar(l.tarSplit, rootFileGetter(l.diffDir))) {
      hash.update(chunk);
      parts.push(chunk);
    }
    assert.equal(`sha256:${hash.digest('hex')}`, l.diffId, `layer ${l.index} (${l.createdBy || 'base'}): DiffID`);
    assert.ok(Buffer.concat(parts).equals(fs.readFileSync(l.savedLayerTar)), `layer ${l.index}: same bytes as docker save`);
  }
});

test('our disassembly of every saved layer tar equals Docker\'s tar-split, line for line', async () => {
  for (const l of await layers()) {
    const out = new MemoryTarSplitOutput();
    const packer = new TarSplitPacker(out);
    const reader = new TarReader(fs.createReadStream(l.savedLayerTar, { highWaterMark: 64 * 1024 }));
    for await (const e of recordTarSplit(reader, packer)) await e.readAll();
    await packer.close();
    const ours = out.text.split('\n');
    const docker = zlib.gunzipSync(fs.readFileSync(l.tarSplit)).toString('utf8').split('\n');
    assert.equal(ours.length, docker.length, `layer ${l.index}: number of lines`);
    for (let i = 0; i < ours.length; i++) {
      assert.equal(ours[i], docker[i], `layer ${l.index} (${l.createdBy || 'base'}), line ${i}`);
    }
    // Docker's file is gzip with Go's header; ours carries the same header (checked elsewhere).
    assert.deepEqual([...fs.readFileSync(l.tarSplit).subarray(0, 10)], [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff]);
  }
});
