/**
 * Docker opens strata: a data root whose layers strata registered (from the fixture's `docker
 * save` layer tars) is a data root dockerd 20.10 runs from. Only the image store files (imagedb
 * config, repositories.json — spec 8.1–8.3) are written by hand; everything under
 * `image/overlay2/layerdb/` and `overlay2/` is strata's. dockerd must list the image, run a
 * container on it, and `docker save` it back to tars that hash to the DiffIDs (so it read
 * strata's tar-split); then strata must load the mount dockerd made for a container of its own.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import zlib from 'node:zlib';
import { openLayerStore } from '../../src/layer/index.js';
import { formatChange, sortChanges } from '../../src/archive/diff/index.js';
import { parseDigest } from '../../src/digest/index.js';
import { dockerFixture, type DockerFixture, type FixtureImage } from '../oracle/fixtures.js';
import { startDockerd, type Dockerd } from '../oracle/dockerd.js';
import { snapshotTree, diffSnapshots } from '../helpers/tree-snapshot.js';
import { varTmpScratch, collect, sha256Digest, firstDifference } from './store-docker-helpers.js';

const REPO = 'strata-test/opened';
const REF = `${REPO}:1`;

const scratch = varTmpScratch('strata-docker-opens-');
const root = path.join(scratch.dir, 'data-root');
let fx: DockerFixture;
let img: FixtureImage;
let imageId: string;
/** ChainID → the cache-id strata gave the layer. */
const cacheIds = new Map<string, string>();
let d: Dockerd | undefined;

before(async () => {
  fx = await dockerFixture();
  img = fx.images.built;
  imageId = img.id;
});

after(async () => {
  try {
    await d?.stop({ remove: false });
  } finally {
    scratch.dispose();
  }
});

/** Writes a file the way dockerd's AtomicWriteFile leaves it: mode 0600, no trailing newline. */
function writeImageStoreFile(p: string, data: Buffer | string): void {
  fs.mkdirSync(path.dirname(p), { recursive: true, mode: 0o700 });
  fs.writeFileSync(p, data, { mode: 0o600 });
  fs.chmodSync(p, 0o600);
}

test('strata registers the built image\'s layer tars with Docker\'s ChainIDs, DiffIDs and sizes', async () => {
  const store = await openLayerStore({ root, driver: 'overlay2' });
  try {
    assert.deepEqual(store.problems, []);
    let parent: string | undefined;
    for (const l of img.layers) {
      const h = await store.register(fs.createReadStream(l.savedLayerTar), parent === undefined ? undefined : parseDigest(parent));
      assert.equal(h.chainId, l.chainId, `layer ${l.index}: ChainID`);
      assert.equal(h.diffId, l.diffId, `layer ${l.index}: DiffID`);
      assert.equal(h.parent, l.parentChainId ?? undefined, `layer ${l.index}: parent`);
      // The layerdb `size` is overlay2's directory.Size of the diff dir after the apply: the
      // same tar applied by strata must measure what dockerd measured.
      assert.equal(h.size, l.size, `layer ${l.index}: size`);
      assert.match(h.cacheId, /^[0-9a-f]{64}$/);
      assert.notEqual(h.cacheId, l.cacheId, 'a fresh random cache-id, not Docker\'s');
      cacheIds.set(l.chainId, h.cacheId);
      parent = l.chainId;
      // The handle is deliberately not released: releasing the only holder deletes a layer. The
      // image (written below) is what holds them for dockerd; closing the store keeps them.
    }
    const top = store.layer(parseDigest(img.layers.at(-1)!.chainId));
    assert.equal(top.depth, img.layers.length);
  } finally {
    await store.close();
  }

  // The image store, as dockerd writes it (spec 8.1–8.3): the config bytes exactly (their
  // sha256 is the image ID) and a tag. metadata/ is left out: the built image's only metadata is
  // `parent` (a classic-builder intermediate image that is not here) and `lastUpdated`.
  const config = fs.readFileSync(img.configPath); // the fixture's, read only
  assert.equal(sha256Digest(config), imageId);
  const imagedb = path.join(root, 'image/overlay2/imagedb');
  writeImageStoreFile(path.join(imagedb, 'content/sha256', imageId.slice(7)), config);
  fs.mkdirSync(path.join(imagedb, 'metadata/sha256'), { recursive: true, mode: 0o700 });
  writeImageStoreFile(path.join(root, 'image/overlay2/repositories.json'), JSON.stringify({ Repositories: { [REPO]: { [REF]: imageId } } }));
});

test('what strata wrote for each layer is what dockerd wrote: layerdb files and the diff dir', () => {
  assert.equal(cacheIds.size, img.layers.length, 'the register test ran');
  for (const l of img.layers) {
    const db = path.join(root, 'image/overlay2/layerdb/sha256', l.chainId.slice(7));
    // diff, size, parent: the same bytes; cache-id: a different random ID of the same form.
    const names = fs.readdirSync(db).sort();
    assert.deepEqual(names, fs.readdirSync(l.layerDbDir).sort(), `layer ${l.index} layerdb files`);
    for (const n of ['diff', 'size', 'parent']) {
      if (!names.includes(n)) continue;
      assert.equal(fs.readFileSync(path.join(db, n), 'utf8'), fs.readFileSync(path.join(l.layerDbDir, n), 'utf8'), `layer ${l.index} ${n}`);
    }
    assert.equal(fs.readFileSync(path.join(db, 'cache-id'), 'utf8'), cacheIds.get(l.chainId));
    // The tar-split JSON lines (strata's disassembly of the tar) are dockerd's; the deflate bytes
    // are zlib's, not Go's (spec 4.1), so the gzip is compared decompressed.
    const a = zlib.gunzipSync(fs.readFileSync(path.join(db, 'tar-split.json.gz')));
    const b = zlib.gunzipSync(fs.readFileSync(l.tarSplit));
    assert.ok(a.equals(b), `layer ${l.index} tar-split: first difference at ${firstDifference(a, b)}: ${a.subarray(firstDifference(a, b) - 80, firstDifference(a, b) + 80)}`);

    // The driver's layer dir: the same files and modes; `lower` names the parents' `l/` links,
    // nearest first. `committed` is in every layer that has a child; dockerd's top layer has it
    // too because the fixture's containers were created on it, strata's has none yet.
    const ovl = path.join(root, 'overlay2', cacheIds.get(l.chainId)!);
    const listing = (dir: string) => fs.readdirSync(dir).sort().map((n) => `${n} ${(fs.lstatSync(path.join(dir, n)).mode & 0o7777).toString(8)}`);
    const isTop = l.index === img.layers.length - 1;
    assert.deepEqual(listing(ovl), listing(l.overlayDir).filter((x) => !(isTop && x.startsWith('committed '))), `layer ${l.index} overlay2 dir`);
    assert.equal(fs.statSync(ovl).mode & 0o7777, fs.statSync(l.overlayDir).mode & 0o7777);
    assert.match(fs.readFileSync(path.join(ovl, 'link'), 'utf8'), /^[A-Z0-9]{26}$/);
    if (l.parentChainId) {
      const lowers = img.layers
        .slice(0, l.index)
        .reverse()
        .map((p) => `l/${fs.readFileSync(path.join(root, 'overlay2', cacheIds.get(p.chainId)!, 'link'), 'utf8')}`);
      assert.equal(fs.readFileSync(path.join(ovl, 'lower'), 'utf8'), lowers.join(':'));
    }

    // The applied files: compared with a private copy of dockerd's diff dir (so that reading
    // file contents cannot touch even the fixture's atimes).
    const theirsCopy = path.join(scratch.dir, 'docker-diffs', String(l.index));
    fs.mkdirSync(path.dirname(theirsCopy), { recursive: true });
    const cp = spawnSync('cp', ['-a', l.diffDir, theirsCopy]);
    assert.equal(cp.status, 0, cp.stderr?.toString());
    // Everything is compared, mtimes too, except two that are the wall-clock time of the apply
    // in dockerd as in strata:
    // - the diff dir's own: moby's Unpack skips the tar's `./` entry for an existing dir;
    // - overlay whiteouts (char 0:0): the converter mknods them for a `.wh.` entry and applies
    //   none of the entry's metadata.
    const ours = snapshotTree(path.join(root, 'overlay2', cacheIds.get(l.chainId)!, 'diff'));
    const theirs = snapshotTree(theirsCopy);
    const isWhiteout = (rel: string) => theirs.get(rel)?.type === 'char' && theirs.get(rel)?.rdev === '0:0';
    const diffs = diffSnapshots(ours, theirs, (rel, field) => field === 'mtimeNs' && (rel === '.' || isWhiteout(rel)));
    assert.deepEqual(diffs, [], `layer ${l.index} diff dir`);
  }
});

test('dockerd lists, inspects and runs the image on strata\'s layers', async () => {
  assert.equal(cacheIds.size, img.layers.length, 'the register test ran');
  // debug: moby logs a layer or mount it could not load only at debug level (checked below).
  d = await startDockerd({ dataRoot: root, logLevel: 'debug' });

  const log = fs.readFileSync(d.logFile, 'utf8');
  assert.match(log, /level=debug/);
  assert.doesNotMatch(log, /Failed to load (layer|mount)|not restoring image|Failed to restore|failed to verify/i);

  const images = (await d.docker(['images', '--no-trunc', '--format', '{{.ID}} {{.Repository}}:{{.Tag}}'])).stdout.toString();
  assert.equal(images, `${imageId} ${REF}\n`);

  const inspect = JSON.parse((await d.docker(['image', 'inspect', REF])).stdout.toString()) as {
    Id: string;
    Size: number;
    RootFS: { Type: string; Layers: string[] };
    GraphDriver: { Name: string; Data: Record<string, string> };
  }[];
  const fxInspect = JSON.parse(fs.readFileSync(img.inspectPath, 'utf8')) as typeof inspect;
  const ins = inspect[0]!;
  assert.equal(ins.Id, imageId);
  assert.deepEqual(ins.RootFS, fxInspect[0]!.RootFS);
  assert.deepEqual(ins.RootFS.Layers, img.layers.map((l) => l.diffId));
  // Size is the sum of the layerdb sizes strata wrote.
  assert.equal(ins.Size, fxInspect[0]!.Size);
  // dockerd found each layer's files through strata's cache-id files.
  const layersTopDown = [...img.layers].reverse();
  assert.equal(ins.GraphDriver.Name, 'overlay2');
  assert.equal(ins.GraphDriver.Data.UpperDir, path.join(root, 'overlay2', cacheIds.get(layersTopDown[0]!.chainId)!, 'diff'));
  assert.equal(
    ins.GraphDriver.Data.LowerDir,
    layersTopDown
      .slice(1)
      .map((l) => path.join(root, 'overlay2', cacheIds.get(l.chainId)!, 'diff'))
      .join(':'),
  );

  // Files every layer made: the base, a whiteout of a file and of a dir, an opaque dir, a
  // hardlink, a symlink, a chmod, a chown, an overwrite, COPY, COPY --chown, the pax uid, a
  // sticky dir, an append to a copied-up file.
  const script = [
    'cat /data/hello.txt /opaque/new /data/overwrite-me /copied/a.txt /copied/sub/b.txt /copied/owned.txt',
    'ls /opaque',
    'test ! -e /data/delete-me && test ! -e /todelete && test ! -e /newdir/sub && test ! -e /data/fifo && echo gone',
    'stat -c "%a %u:%g %h %s" /data/chmod-me /data/chown-me /data/hello-hardlink /copied/owned.txt /data/big.bin',
    'stat -c "%a %u:%g" /sticky',
    'cat /etc/hello-symlink',
    '/copied/run.sh',
    'echo "$STRATA_ORACLE"',
  ].join('; ');
  const out = (await d.docker(['run', '--rm', '--network', 'none', REF, 'sh', '-c', script])).stdout.toString();
  assert.equal(
    out,
    [
      'hello',
      'new',
      'overwritten',
      'from the build context',
      'nested',
      'single file',
      'new',
      'sub',
      'gone',
      '600 0:0 1 9',
      '644 70000:70001 1 9',
      '644 0:0 2 6',
      '644 3000000:3000001 1 12',
      `644 0:0 1 ${256 * 1024 + 'appended\n'.length}`,
      '1777 0:0',
      'hello',
      'run',
      '1',
      '',
    ].join('\n'),
  );
});

test('`docker save` from dockerd gives back strata\'s tars byte for byte (dockerd reads strata\'s tar-split)', async () => {
  assert.ok(d, 'dockerd runs');
  const archive = path.join(scratch.dir, 'saved.tar');
  await d.docker(['save', '-o', archive, REF]);
  const out = path.join(scratch.dir, 'saved');
  fs.mkdirSync(out);
  const r = spawnSync('tar', ['-xf', archive, '-C', out]);
  assert.equal(r.status, 0, r.stderr?.toString());
  const manifest = JSON.parse(fs.readFileSync(path.join(out, 'manifest.json'), 'utf8')) as { Config: string; RepoTags: string[]; Layers: string[] }[];
  assert.equal(manifest.length, 1);
  assert.deepEqual(manifest[0]!.RepoTags, [REF]);
  assert.equal(manifest[0]!.Config, `${imageId.slice(7)}.json`);
  assert.equal(manifest[0]!.Layers.length, img.layers.length);
  img.layers.forEach((l, i) => {
    const tar = fs.readFileSync(path.join(out, manifest[0]!.Layers[i]!));
    assert.equal(sha256Digest(tar), l.diffId, `layer ${i}`);
    // Same V1 IDs as the fixture's save, too: they depend only on the config and the ChainIDs.
    assert.equal(manifest[0]!.Layers[i], l.savedLayerMember, `layer ${i} member`);
  });
});

test('strata loads the mount dockerd made for its container (with an -init layer) on strata\'s layers', async () => {
  assert.ok(d, 'dockerd runs');
  const top = img.layers.at(-1)!;
  const name = 'strata-opened-c';
  await d.docker(['run', '--name', name, '--network', 'none', REF, 'sh', '-c', 'echo x > /written && rm /data/hello.txt && mkdir -p /made/here']);
  const id = (await d.docker(['container', 'inspect', '--format', '{{.Id}}', name])).stdout.toString().trim();
  const upper = (await d.docker(['container', 'inspect', '--format', '{{.GraphDriver.Data.UpperDir}}', name])).stdout.toString().trim();
  const diff = (await d.docker(['diff', name])).stdout.toString();
  const mountId = path.basename(path.dirname(upper));
  const mountDb = path.join(root, 'image/overlay2/layerdb/mounts', id);
  assert.equal(fs.readFileSync(path.join(mountDb, 'mount-id'), 'utf8'), mountId);
  await d.stop({ remove: false });
  d = undefined;

  const store = await openLayerStore({ root, driver: 'overlay2' });
  try {
    assert.deepEqual(store.problems, []);
    assert.deepEqual(store.recovered, { removedLayers: [], writeSets: [], driverIds: [] });
    // Only the kept container: the `--rm` one's mount was removed by dockerd.
    assert.deepEqual(store.mounts(), [{ name: id, mountId, initId: `${mountId}-init`, parent: top.chainId, handles: 0 }]);
    assert.deepEqual(
      store.layers().map((l) => [l.chainId, l.cacheId, l.references.children, l.references.mounts]),
      img.layers
        .map((l, i) => [l.chainId, cacheIds.get(l.chainId), i < img.layers.length - 1 ? 1 : 0, i < img.layers.length - 1 ? 0 : 1])
        .sort((a, b) => (a[0]! < b[0]! ? -1 : 1)),
    );
    // strata's view of dockerd's RW layer is `docker diff`'s (Go map order there: compare sorted).
    const rw = store.getRWLayer(id);
    assert.equal(rw.initId, `${mountId}-init`);
    const changes = sortChanges(await rw.changes()).map(formatChange);
    assert.deepEqual(changes, diff.split('\n').filter(Boolean).sort(byPath));
    assert.deepEqual(changes, ['C /data', 'D /data/hello.txt', 'A /made', 'A /made/here', 'A /written']);
    // dockerd's create marked the top layer as having children, as strata's driver does.
    assert.ok(fs.existsSync(path.join(root, 'overlay2', cacheIds.get(top.chainId)!, 'committed')));
    // The layers still give their exact tars back after dockerd used them.
    const h = store.get(parseDigest(top.chainId));
    assert.equal(sha256Digest(await collect(h.tarStream())), top.diffId);
    assert.deepEqual(await store.release(h), []);
  } finally {
    await store.close();
  }
});

/** Orders `docker diff` lines (`C /path`) by the byte order of their paths. */
function byPath(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a.slice(2)), Buffer.from(b.slice(2)));
}
