/**
 * Byte identity with dockerd's own layer tars: every layer `docker save` wrote (the tars dockerd's
 * Go writer produced at build time, and the GNU-tar base) is read by strata and written back out
 * identically — by raw passthrough for every layer, and by re-encoding each header from its
 * decoded fields for the layers Go wrote.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { TarReader, encodeHeader, type TarHeader } from '../../src/archive/tar/index.js';
import { sha256Of } from '../../src/digest/index.js';
import { dockerFixture } from '../oracle/fixtures.js';

const fixture = await dockerFixture();
const layers = [fixture.images.base, fixture.images.built].flatMap((img) => img.layers);
const unique = [...new Map(layers.map((l) => [l.diffId, l])).values()];

/** The header as moby's FileInfoHeader would have filled it, recovered from the decoded entry. */
function asWritten(h: TarHeader) {
  return {
    name: h.nameBytes,
    type: h.type,
    mode: h.mode,
    uid: h.uid,
    gid: h.gid,
    size: h.size,
    mtime: h.mtime,
    uname: h.uname,
    gname: h.gname,
    linkname: h.linknameBytes,
    devmajor: h.devmajor,
    devminor: h.devminor,
    xattrs: h.xattrs,
    format: 'pax' as const,
  };
}

test('the fixture has Docker-built layers beyond the imported base', () => {
  assert.ok(unique.length >= 5, `${unique.length} layers`);
});

for (const layer of unique) {
  test(`layer ${layer.index} (${layer.diffId.slice(7, 19)}): reader→writer reproduces docker's layer.tar byte for byte`, async () => {
    const tar = fs.readFileSync(layer.savedLayerTar);
    assert.equal(sha256Of(tar), layer.diffId);
    const goWritten = layer.index > 0; // the base layer is the GNU tar we imported
    const reader = new TarReader([tar]);
    const passthrough: Buffer[] = [];
    const reencoded: Buffer[] = [];
    let previousPad = 0;
    for await (const e of reader) {
      const body = await e.readAll();
      passthrough.push(e.raw, body);
      if (goWritten) {
        // `raw` starts with the previous entry's padding; the rest is the header as Go wrote it.
        const header = e.raw.subarray(previousPad);
        assert.deepEqual(encodeHeader(asWritten(e.header)), header, `header of ${e.header.name}`);
        reencoded.push(e.raw.subarray(0, previousPad), encodeHeader(asWritten(e.header)), body);
      }
      previousPad = (512 - (e.dataSize % 512)) % 512;
    }
    passthrough.push(reader.endBytes);
    for await (const b of reader.rest()) passthrough.push(b);
    assert.ok(Buffer.concat(passthrough).equals(tar), 'raw passthrough');
    if (goWritten) {
      reencoded.push(reader.endBytes);
      assert.equal(sha256Of(Buffer.concat(reencoded)), layer.diffId, 're-encoded headers hash to the DiffID');
    }
  });
}
