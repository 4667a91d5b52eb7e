/**
 * The README's library example, end to end through the package entry point: register a gzip'd
 * layer, run an RW layer over Docker's init layer, commit it, and get the exact tar back.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { openLayerStore, dockerInit, decompress, sha256Of } from '../src/index.js';
import { sh, tempDir } from './helpers/tmp.js';

test('README example: register, RW layer with init, changes, commit, exact tar back', async () => {
  const work = tempDir('strata-library-');
  const src = path.join(work, 'src');
  fs.mkdirSync(path.join(src, 'etc'), { recursive: true });
  fs.writeFileSync(path.join(src, 'etc', 'hostname'), 'strata\n');
  fs.symlinkSync('hostname', path.join(src, 'etc', 'name'));
  sh('tar', ['--format=pax', '-cf', path.join(work, 'layer.tar'), '-C', src, '.']);
  const tar = fs.readFileSync(path.join(work, 'layer.tar'));
  fs.writeFileSync(path.join(work, 'layer.tar.gz'), zlib.gzipSync(tar));

  const store = await openLayerStore({ root: path.join(work, 'root') });
  assert.equal(store.driver.name, 'overlay2');
  try {
    const base = await store.register(decompress(fs.createReadStream(path.join(work, 'layer.tar.gz'))));
    assert.equal(base.diffId, sha256Of(tar));
    assert.equal(base.chainId, base.diffId);
    assert.equal(base.size, 'strata\n'.length + 'hostname'.length);

    const rw = await store.createRWLayer('demo', base.chainId, { init: dockerInit() });
    const rootfs = await rw.mount();
    assert.ok(fs.lstatSync(path.join(rootfs, 'etc/mtab')).isSymbolicLink(), 'the init layer is under the RW layer');
    fs.writeFileSync(`${rootfs}/hello`, 'hi\n');
    assert.deepEqual((await rw.changes()).map((c) => `${c.kind} ${c.path}`), ['A /hello']);
    const committed = await store.register(rw.tarStream(), base.chainId);
    await rw.unmount();
    assert.deepEqual(await store.releaseRWLayer(rw), []);
    assert.deepEqual(store.mounts(), []);

    const out: Buffer[] = [];
    for await (const chunk of base.tarStream()) out.push(chunk);
    assert.ok(Buffer.concat(out).equals(tar));
    assert.deepEqual((await store.release(committed)).map((m) => m.chainId), [committed.chainId]);
    assert.deepEqual(store.layers().map((l) => l.chainId), [base.chainId]);
  } finally {
    await store.cleanup();
    await store.close();
  }
});
