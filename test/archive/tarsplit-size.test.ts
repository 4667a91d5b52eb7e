/**
 * tarSizeOf: the length of the tar a tar-split reassembles to, from the tar-split alone —
 * against Docker's own tar-split files (the dockerd 20.10 fixture's layerdb, whose tars
 * `docker save` wrote out), against tars recorded here (GNU tar record padding, junk after the
 * end-of-archive), and on hand-written JSON lines (entry types reassembly ignores).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { TarReader } from '../../src/archive/tar/index.js';
import { assembleTar, createTarSplitWriter, recordTarSplit, rootFileGetter, tarSizeOf } from '../../src/archive/tarsplit/index.js';
import { isStrataError } from '../../src/errors/index.js';
import { dockerFixture, type FixtureLayer } from '../oracle/fixtures.js';
import { chunked, makeTar, sh, tempDir } from '../helpers/tmp.js';

async function fixtureLayers(): Promise<FixtureLayer[]> {
  const fx = await dockerFixture();
  const byChain = new Map<string, FixtureLayer>();
  for (const l of [...fx.images.base.layers, ...fx.images.built.layers]) byChain.set(l.chainId, l);
  return [...byChain.values()];
}

/** Records the tar-split of `tar` (applying nothing) into a gzip file; returns its path. */
async function record(tar: Buffer, dir: string): Promise<string> {
  const out = path.join(dir, `ts-${tar.length}-${Date.now()}.json.gz`);
  const packer = createTarSplitWriter(out);
  for await (const e of recordTarSplit(new TarReader(chunked(tar, 7000)), packer)) await e.readAll();
  await packer.close();
  return out;
}

test('tarSizeOf equals the length of every Docker layer tar, from Docker\'s own tar-split.json.gz', async () => {
  const layers = await fixtureLayers();
  assert.ok(layers.length >= 8, `the fixture's distinct layers (got ${layers.length})`);
  for (const l of layers) {
    const expected = fs.statSync(l.savedLayerTar).size;
    assert.equal(await tarSizeOf(l.tarSplit), expected, `layer ${l.index} (${l.createdBy || 'base'}): size of ${l.savedLayerMember}`);
  }
});

test('tarSizeOf takes the gzip bytes as a stream or an iterable too', async () => {
  const l = (await fixtureLayers())[0]!;
  const expected = fs.statSync(l.savedLayerTar).size;
  assert.equal(await tarSizeOf(fs.createReadStream(l.tarSplit, { highWaterMark: 100 })), expected, 'from a Readable');
  assert.equal(await tarSizeOf([...chunked(fs.readFileSync(l.tarSplit), 33)]), expected, 'from an array of chunks');
});

test('tarSizeOf on tars recorded here: GNU record padding, trailing junk, empty files — equals the reassembled length', async () => {
  const dir = tempDir('strata-tarsize-');
  const gnu = makeTar({ 'a/': '', 'a/one': 'x'.repeat(1000), 'a/empty': '', 'b/big': Buffer.alloc(300_000, 7), 'c/': '' });
  assert.equal(gnu.length % 10240, 0, 'GNU tar pads to 10240-byte records');
  const junk = Buffer.concat([gnu, Buffer.from('trailing data after the end-of-archive\n'.repeat(50))]);
  for (const tar of [gnu, junk]) {
    const ts = await record(tar, dir);
    assert.equal(await tarSizeOf(ts), tar.length, `tar of ${tar.length} bytes`);
    // And reassembly (from an extraction of the same tar) really has that length.
    const root = path.join(dir, `x-${tar.length}`);
    fs.mkdirSync(root);
    const tarFile = path.join(dir, `t-${tar.length}.tar`);
    fs.writeFileSync(tarFile, tar);
    sh('tar', ['-xf', tarFile, '-C', root]);
    let n = 0;
    for await (const c of assembleTar(ts, rootFileGetter(root))) n += c.length;
    assert.equal(n, tar.length, 'assembleTar yields that many bytes');
  }
});

test('tarSizeOf counts Segment payloads and File sizes only; other entry types add nothing', async () => {
  const lines = [
    '{"type":2,"payload":"AAAAAA==","position":0}', // 4 bytes
    '{"type":1,"name":"f","size":1234,"payload":"AAAAAAAAAAA=","position":1}',
    '{"type":1,"name":"g","payload":null,"position":2}', // size 0, omitted
    '{"type":7,"payload":"AAAAAAAAAAAAAAAA","position":3}', // unknown type: ignored by reassembly
    '{"type":2,"payload":"","position":4}',
  ];
  const gz = zlib.gzipSync(lines.join('\n') + '\n');
  assert.equal(await tarSizeOf([gz]), 4 + 1234, 'segment bytes + file size');
  assert.equal(await tarSizeOf([zlib.gzipSync('')]), 0, 'an empty tar-split is an empty tar');
  await assert.rejects(tarSizeOf([Buffer.from('not gzip')]), (e: unknown) => isStrataError(e, 'TARSPLIT_CORRUPT'), 'bad gzip is TARSPLIT_CORRUPT');
  const dup = zlib.gzipSync('{"type":1,"name":"a","size":1,"position":0}\n{"type":1,"name":"./a","size":1,"position":1}\n');
  await assert.rejects(tarSizeOf([dup]), (e: unknown) => isStrataError(e, 'TARSPLIT_DUPLICATE_PATH'), 'duplicate paths refused as readTarSplit does');
});
