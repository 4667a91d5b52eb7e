/**
 * A full disk (issue 7): the data root on a small tmpfs (`size=`), images loaded with the real
 * `strata` until the disk is full. The load that meets ENOSPC — in the layer's files, or in the
 * spool of a compressed archive — prints one line naming `no space left on device` and what it
 * was writing, and leaves nothing half-written: no partial layer (layerdb and driver dirs exactly
 * the loaded layers), no image without its layers, no spool, no intent. Once an image is deleted,
 * the store opens cleanly, fsck is clean, and the load that failed works.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { spawnSync } from 'node:child_process';
import { pipeline } from 'node:stream/promises';
import { openEngine, imageArchive, fsck } from '../../src/engine/index.js';
import { intentsDir } from '../../src/engine/intent.js';
import * as sys from '../../src/sys/index.js';
import { tempDir } from '../helpers/tmp.js';
import { checkNothingOrphaned, checkWhole, unmountUnder } from '../layer/store-crash-checks.js';
import { bundleScript } from '../helpers/bundle.js';

const DISK_MB = 16;
const LAYER_MB = 4;

/** An image of one layer: a file of random (incompressible) bytes. */
async function randomImage(work: string, n: number): Promise<string> {
  const dir = path.join(work, 'src', `img${n}`);
  fs.mkdirSync(path.join(dir, 'data'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'data', 'blob'), crypto.randomBytes(LAYER_MB << 20));
  fs.writeFileSync(path.join(dir, 'data', 'name'), `image ${n}\n`);
  const file = path.join(work, `img${n}.tar`);
  await pipeline(imageArchive({ layers: [dir], tag: `fill:${n}`, scratchDir: work }), fs.createWriteStream(file));
  return file;
}

/** The data root holds only whole things, and nothing is left from a failed load. */
async function checkClean(root: string, when: string): Promise<{ images: string[]; layers: number }> {
  const engine = await openEngine({ root, driver: 'overlay2', lock: 'fail' });
  try {
    assert.deepEqual(engine.layers.problems, [], `${when}: the layer store did not load cleanly`);
    assert.deepEqual(engine.images.problems, [], `${when}: an image did not load`);
    assert.deepEqual(engine.layers.recovered, { removedLayers: [], writeSets: [], driverIds: [] }, `${when}: the failed load left work for recovery`);
    assert.deepEqual(engine.recovered.intents, [], `${when}: the failed load left its intent`);
    assert.deepEqual(engine.recovered.removed, [], `${when}: the failed load left a spool or temp files`);
    const whole = await checkWhole(engine.layers, { tars: () => true });
    checkNothingOrphaned(engine.layers, whole);
    for (const img of engine.images.images()) assert.ok(img.topChainId && engine.layers.has(img.topChainId), `${when}: image ${img.id} without its layer`);
    assert.deepEqual(fs.readdirSync(engine.tmpDir), [], `${when}: spool left in tmp/`);
    assert.deepEqual(fs.existsSync(intentsDir(root)) ? fs.readdirSync(intentsDir(root)) : [], [], `${when}: intent files left`);
    const tags = engine.images.images().flatMap((i) => engine.images.references.references(i.id).map((r) => r.familiarString()));
    return { images: tags.sort(), layers: whole.layers.length };
  } finally {
    await engine.close();
  }
}

test(`a ${DISK_MB} MB data root loaded until ENOSPC: one clear line, nothing half-written, works again once space is freed`, { timeout: 180_000 }, async (t) => {
  const work = tempDir('strata-enospc-');
  const disk = tempDir('strata-enospc-disk-');
  sys.mount('tmpfs', disk, 'tmpfs', 0, `size=${DISK_MB}m,mode=0700`);
  try {
    const root = path.join(disk, 'root');
    const cli = await bundleScript(new URL('../helpers/cli-entry.ts', import.meta.url), path.join(work, 'cli.mjs'));
    const strata = (...args: string[]) => spawnSync(process.execPath, [cli, '--root', root, '--driver', 'overlay2', ...args], { encoding: 'utf8' });
    const oneLine = (r: { stderr: string }) => r.stderr.split('\n').filter((l) => l !== '');

    const archives: string[] = [];
    const loaded: string[] = [];
    let failure: { stderr: string } | undefined;
    for (let n = 0; n < Math.ceil(DISK_MB / LAYER_MB) + 2 && !failure; n++) {
      archives.push(await randomImage(work, n));
      const r = strata('load', '-q', '-i', archives[n]!);
      if (r.status === 0) loaded.push(`fill:${n}`);
      else {
        assert.equal(r.status, 1, `load ${n}: exit ${r.status}: ${r.stderr}`);
        failure = r;
      }
    }
    assert.ok(failure, `${DISK_MB} MB took ${loaded.length} images of ${LAYER_MB} MB without running out of space`);
    assert.ok(loaded.length >= 2, `only ${loaded.length} images fit before ENOSPC: ${failure.stderr}`);
    const lines = oneLine(failure);
    assert.equal(lines.length, 1, `one line on stderr, got:\n${failure.stderr}`);
    // Which write meets the full disk depends on how the sizes fall; each names what it was.
    assert.match(lines[0]!, /^strata: (loading layer \d+ of \d+ of fill:\d+|storing the images|loading \S+): .*no space left on device/, 'the failing load says the disk is full, and while writing what');
    const after = await checkClean(root, 'after the failed load');
    assert.deepEqual(after.images, [...loaded].sort(), 'the images loaded before the disk filled, and no other');

    // A compressed archive is spooled into <root>/tmp first: the disk fills there.
    const gz = `${archives.at(-1)!}.gz`;
    await pipeline(fs.createReadStream(archives.at(-1)!), zlib.createGzip({ level: 1 }), fs.createWriteStream(gz));
    const spooled = strata('load', '-q', '-i', gz);
    assert.equal(spooled.status, 1, `the spooled load should fail on the full disk: ${spooled.stderr}`);
    assert.equal(oneLine(spooled).length, 1, `one line on stderr, got:\n${spooled.stderr}`);
    assert.match(oneLine(spooled)[0]!, /^strata: spooling \S+\.gz into \S+\/root\/tmp: no space left on device/, 'the failing spooled load says the disk is full, and while writing what');
    assert.deepEqual((await checkClean(root, 'after the failed spooled load')).images, [...loaded].sort(), 'a failed spooled load changed the images');

    // Free space: delete two images; then the load that failed works, and fsck is clean.
    for (const tag of loaded.slice(0, 2)) assert.equal(strata('rmi', tag).status, 0, `rmi ${tag}`);
    const retry = strata('load', '-q', '-i', archives.at(-1)!);
    assert.equal(retry.status, 0, `the load that failed, once space is freed: ${retry.stderr}`);
    t.diagnostic(`${loaded.length} images fit; the failing load said: ${lines[0]}; the spooled one: ${oneLine(spooled)[0]}`);
    const final = await checkClean(root, 'after space was freed');
    assert.deepEqual(final.images, [...loaded.slice(2), `fill:${archives.length - 1}`].sort(), 'the images after freeing space and loading again');
    const fsckRun = strata('fsck');
    assert.equal(fsckRun.status, 0, `fsck: ${fsckRun.stdout}${fsckRun.stderr}`);
    const ro = await openEngine({ root, driver: 'overlay2', readOnly: true });
    try {
      assert.deepEqual((await fsck(ro)).damaged, [], 'fsck found damage');
    } finally {
      await ro.close();
    }
  } finally {
    unmountUnder(disk);
  }
});
