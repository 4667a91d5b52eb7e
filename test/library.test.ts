/**
 * The README's library example, end to end through the package entry point: apply a gzip'd layer
 * with its DiffID and tar-split, then reassemble the original tar byte for byte.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { decompress, TarReader, recordTarSplit, createTarSplitWriter, assembleTar, rootFileGetter, openDriver, hashing, sha256Of } from '../src/index.js';
import { sh, tempDir } from './helpers/tmp.js';

test('README example: apply a layer on the selected driver and get the exact tar back', async () => {
  const work = tempDir('strata-library-');
  const src = path.join(work, 'src');
  fs.mkdirSync(path.join(src, 'etc'), { recursive: true });
  fs.writeFileSync(path.join(src, 'etc', 'hostname'), 'strata\n');
  fs.symlinkSync('hostname', path.join(src, 'etc', 'name'));
  sh('tar', ['--format=pax', '-cf', path.join(work, 'layer.tar'), '-C', src, '.']);
  const tar = fs.readFileSync(path.join(work, 'layer.tar'));
  fs.writeFileSync(path.join(work, 'layer.tar.gz'), zlib.gzipSync(tar));

  const root = path.join(work, 'root');
  fs.mkdirSync(root);
  const { driver, name } = await openDriver({ root });
  assert.equal(name, 'overlay2');
  try {
    await driver.create('layer1', '');
    let diffId = '';
    const reader = new TarReader(hashing(decompress(fs.createReadStream(path.join(work, 'layer.tar.gz'))), (d) => (diffId = d)));
    const tarSplit = createTarSplitWriter(path.join(work, 'layer1.tar-split.json.gz'));
    const size = await driver.applyDiff('layer1', '', recordTarSplit(reader, tarSplit));
    await tarSplit.close();
    assert.equal(diffId, sha256Of(tar));
    assert.equal(size, 'strata\n'.length + 'hostname'.length);

    const dir = await driver.get('layer1');
    const out: Buffer[] = [];
    for await (const chunk of assembleTar(path.join(work, 'layer1.tar-split.json.gz'), rootFileGetter(dir))) out.push(chunk);
    await driver.put('layer1');
    assert.ok(Buffer.concat(out).equals(tar));
  } finally {
    await driver.cleanup();
  }
});
