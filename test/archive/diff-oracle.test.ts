/**
 * The layer tar writer and changes() against a real dockerd 20.10 (test/oracle/fixtures.ts):
 *
 *   (a) every built layer: writeLayerTar(overlay2/<cacheId>/diff) against the layer.tar of
 *       `docker save` (the bytes dockerd's Diff produced when the step was committed);
 *   (b) the exited container: changes() between kernel overlay mounts of its RW layer and of its
 *       init layer (what overlay2's naive Changes compares) against its `docker diff`;
 *   (c) `docker commit` of that container on a copy of the data root: the committed layer.tar
 *       against writeLayerTar(<container's upper dir>), byte for byte.
 *
 * What (a) can and cannot show: an image layer's diff dir is the *re-application* of the layer
 * tar. Unpack recreates whiteouts with a fresh mknod, so a whiteout's mtime is the time of the
 * unpack, not the time of the deletion, and whiteouts that shared one inode in the container's
 * upper dir (the kernel links every whiteout of a mount to one inode, and moby's hardlink step
 * then leaves a linkname on the later ones) no longer do. Layers without whiteouts must be
 * byte-identical; in layers with whiteouts every other entry must be, and the whiteout entries
 * may differ in exactly those two fields. (c) is the byte-for-byte oracle for whiteouts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { writeLayerTar, changes, formatChange, exportChanges } from '../../src/archive/diff/index.js';
import { mount, umount2 } from '../../src/sys/index.js';
import { dockerFixture, copyFixtureDataRoot, type DockerFixture, type FixtureContainer } from '../oracle/fixtures.js';
import { startDockerd } from '../oracle/dockerd.js';
import { tempDir, sh } from '../helpers/tmp.js';
import { collect, listTar, ownBlocks, type ListedEntry } from '../helpers/layertar.js';
import { directorySize } from '../../src/archive/size.js';

const sha256 = (b: Buffer) => 'sha256:' + crypto.createHash('sha256').update(b).digest('hex');
const isFileWhiteout = (e: ListedEntry) => {
  const base = e.header.nameBytes.subarray(e.header.nameBytes.lastIndexOf(0x2f) + 1).toString('latin1');
  return base.startsWith('.wh.') && base !== '.wh..wh..opq';
};

/** Mounts a read-only overlay of `lowers` (top first); returns the mount point and its undo. */
function mountLowers(lowers: string[]): { merged: string; unmount: () => void } {
  const merged = path.join(tempDir('strata-diff-oracle-'), 'merged');
  fs.mkdirSync(merged);
  mount('overlay', merged, 'overlay', 1 /* MS_RDONLY */, `lowerdir=${lowers.join(':')}`);
  const onExit = () => umount2(merged, 2 /* MNT_DETACH */);
  process.on('exit', onExit);
  let mounted = true;
  const unmount = () => {
    if (mounted) umount2(merged, 0);
    mounted = false;
    process.off('exit', onExit);
  };
  return { merged, unmount };
}

/** `[<id>/diff, ...the layers its lower file names]`, resolved in an overlay2 home. */
function layerStack(dataRoot: string, id: string): string[] {
  const home = path.join(dataRoot, 'overlay2');
  const lowerFile = path.join(home, id, 'lower');
  const lowers = fs.existsSync(lowerFile) ? fs.readFileSync(lowerFile, 'utf8').split(':').map((l) => path.join(home, l)) : [];
  return [path.join(home, id, 'diff'), ...lowers];
}

let fxPromise: Promise<DockerFixture> | undefined;
const fixture = () => (fxPromise ??= dockerFixture());

test('(a) every built layer: writeLayerTar(diff dir) reproduces the layer.tar dockerd wrote', { timeout: 20 * 60_000 }, async () => {
  const fx = await fixture();
  const report: string[] = [];
  let identical = 0;
  const built = fx.images.built.layers.slice(1); // [0] is the imported base: a GNU tar, not a Diff
  for (const layer of built) {
    const mine = await collect(writeLayerTar(layer.diffDir));
    const theirs = fs.readFileSync(layer.savedLayerTar);
    assert.equal(sha256(theirs), layer.diffId, 'the saved layer.tar is the DiffID');
    if (mine.equals(theirs)) {
      identical++;
      report.push(`layer ${layer.index}: identical (${theirs.length} bytes)`);
      continue;
    }
    const [a, b] = [await listTar(mine), await listTar(theirs)];
    assert.deepEqual(
      a.map((e) => e.header.nameBytes.toString('hex')),
      b.map((e) => e.header.nameBytes.toString('hex')),
      `layer ${layer.index}: same entries in the same order`,
    );
    let whiteouts = 0;
    // In dockerd's tar, every whiteout after the first names the first one's device as linkname.
    const theirWhiteouts = b.filter(isFileWhiteout);
    const firstDevice = theirWhiteouts[0]!.header.name.replace(/\.wh\.([^/]*)$/, '$1');
    assert.deepEqual(
      theirWhiteouts.map((e) => e.header.linkname),
      theirWhiteouts.map((_, i) => (i === 0 ? '' : firstDevice)),
      `layer ${layer.index}: dockerd saw one shared whiteout inode`,
    );
    for (let i = 0; i < a.length; i++) {
      const [m, t] = [a[i]!, b[i]!];
      if (!isFileWhiteout(t)) {
        assert.ok(ownBlocks(m).equals(ownBlocks(t)), `layer ${layer.index}: ${t.header.name}: identical header bytes`);
        assert.ok(m.data.equals(t.data), `layer ${layer.index}: ${t.header.name}: identical content`);
        continue;
      }
      whiteouts++;
      // The whiteout differs at most in its mtime (unpack time vs deletion time) and in the
      // linkname dockerd left on a second name of a shared whiteout inode.
      const norm = (h: ListedEntry['header']) => ({ ...h, mtime: undefined, linkname: undefined, linknameBytes: undefined, pax: undefined, format: undefined });
      assert.deepEqual(norm(m.header), norm(t.header), `layer ${layer.index}: ${t.header.name}`);
      assert.equal(m.header.linkname, '');
      assert.ok(Math.abs(m.header.mtime.sec - t.header.mtime.sec) <= 60, 'whiteout mtimes close');
    }
    assert.ok(whiteouts > 0, `layer ${layer.index} differs although it has no whiteout`);
    // Give a copy of the diff dir back the two facts the unpack lost (the deletion times, and
    // one shared inode for all whiteouts): then the bytes are dockerd's exactly.
    const copy = path.join(tempDir('strata-diff-restore-'), 'diff');
    sh('cp', ['-a', layer.diffDir, copy]);
    const devicePath = (e: ListedEntry) => path.join(copy, e.header.name.replace(/\.wh\.([^/]*)$/, '$1'));
    const first = devicePath(theirWhiteouts[0]!);
    for (const e of theirWhiteouts) {
      if (e !== theirWhiteouts[0]) {
        fs.rmSync(devicePath(e));
        fs.linkSync(first, devicePath(e));
      }
    }
    for (const e of theirWhiteouts) fs.utimesSync(devicePath(e), e.header.mtime.sec, e.header.mtime.sec);
    for (const e of b) if (e.header.type === '5') fs.utimesSync(path.join(copy, e.header.name), e.header.mtime.sec, e.header.mtime.sec); // rm/ln touched them
    // utimes on one name of the shared inode sets them all: the mtimes must agree for this to work
    assert.equal(new Set(theirWhiteouts.map((e) => e.header.mtime.sec)).size, 1);
    assert.ok((await collect(writeLayerTar(copy))).equals(theirs), `layer ${layer.index}: identical once restored`);
    report.push(`layer ${layer.index}: identical except ${whiteouts} whiteout entries (mtime/linkname, see header comment); identical once those are restored`);
  }
  console.log(report.join('\n'));
  assert.ok(identical >= built.length - 2, `${identical} of ${built.length} built layers byte-identical`);
});

test('(a) the imported base layer: the diff dir dockerd unpacked archives to the same entries as the GNU tar it came from', { timeout: 20 * 60_000 }, async () => {
  const fx = await fixture();
  const layer = fx.images.base.layers[0]!;
  const mine = await listTar(await collect(writeLayerTar(layer.diffDir)));
  const gnu = await listTar(fs.readFileSync(layer.savedLayerTar));
  const describe = (e: ListedEntry, strip: boolean) => {
    let name = e.header.nameBytes.toString('latin1');
    if (strip) name = name.replace(/^\.\//, '');
    const dirSlash = e.header.type === '5' && !name.endsWith('/') ? '/' : '';
    const cap = e.header.xattrs.get('security.capability');
    return [
      name + dirSlash,
      e.header.type,
      (e.header.mode & 0o7777).toString(8),
      `${e.header.uid}:${e.header.gid}`,
      e.header.size,
      e.header.mtime.sec,
      e.header.linkname.replace(/^\.\//, ''),
      `${e.header.devmajor},${e.header.devminor}`,
      cap ? cap.toString('hex') : '',
      crypto.createHash('sha256').update(e.data).digest('hex').slice(0, 16),
    ].join(' ');
  };
  const gnuEntries = gnu.filter((e) => e.header.name !== './').map((e) => describe(e, true));
  // GNU tar exports every xattr; the layer tar keeps security.capability only, v3 as v2.
  const v3to2 = (s: string) => s.replace(/ 01000003(\w{32})\w* /, ' 01000002$1 ');
  assert.deepEqual(mine.map((e) => describe(e, false)).sort(), gnuEntries.map(v3to2).sort());
});

test('directorySize of every layer diff dir is its layerdb size (overlay2 ApplyDiff)', { timeout: 20 * 60_000 }, async () => {
  const fx = await fixture();
  for (const layer of fx.images.built.layers) assert.equal(directorySize(layer.diffDir), layer.size, `layer ${layer.index}`);
});

async function checkContainerChanges(c: FixtureContainer, dataRoot: string): Promise<void> {
  const rw = mountLowers(layerStack(dataRoot, c.mountId));
  try {
    const init = mountLowers(layerStack(dataRoot, c.initId));
    try {
      const mine = (await changes(rw.merged, init.merged)).map(formatChange);
      const theirs = c.changes.map((x) => `${x.kind} ${x.path}`).sort((x, y) => Buffer.compare(Buffer.from(x.slice(2)), Buffer.from(y.slice(2))));
      assert.deepEqual(mine, theirs);
    } finally {
      init.unmount();
    }
  } finally {
    rw.unmount();
  }
}

test('(b) changes(RW mount, init mount) of the exited container is its `docker diff`', { timeout: 20 * 60_000 }, async () => {
  const fx = await fixture();
  assert.ok(fx.containers.exited.changes.length > 5);
  await checkContainerChanges(fx.containers.exited, fx.dataRoot);
});

test('(b) a created, never-run container: no changes, as `docker diff` says', { timeout: 20 * 60_000 }, async () => {
  const fx = await fixture();
  await checkContainerChanges(fx.containers.created, fx.dataRoot);
});

test('(c) docker commit of the exited container: the committed layer.tar is writeLayerTar(upper dir)', { timeout: 20 * 60_000 }, async () => {
  const fx = await fixture();
  const c = fx.containers.exited;
  const root = await copyFixtureDataRoot(fx, path.join(tempDir('strata-diff-commit-'), 'root'));
  const d = await startDockerd({ dataRoot: root });
  let saved: string;
  let diffIds: string[];
  try {
    const id = (await d.docker(['commit', c.name, 'strata-test/committed:1'])).stdout.toString().trim();
    diffIds = JSON.parse((await d.docker(['image', 'inspect', '--format', '{{json .RootFS.Layers}}', id])).stdout.toString()) as string[];
    saved = path.join(path.dirname(root), 'saved');
    fs.mkdirSync(saved);
    await d.docker(['save', '-o', path.join(saved, 'img.tar'), id]);
  } finally {
    await d.stop({ remove: false });
  }
  sh('tar', ['-xf', path.join(saved, 'img.tar'), '-C', saved]);
  const manifest = JSON.parse(fs.readFileSync(path.join(saved, 'manifest.json'), 'utf8')) as { Layers: string[] }[];
  const top = fs.readFileSync(path.join(saved, manifest[0]!.Layers.at(-1)!));
  assert.equal(sha256(top), diffIds.at(-1));

  const upper = path.join(root, 'overlay2', c.mountId, 'diff');
  const mine = await collect(writeLayerTar(upper));
  if (!mine.equals(top)) {
    const [a, b] = [await listTar(mine), await listTar(top)];
    const show = (es: ListedEntry[]) => es.map((e) => `${e.header.name} ${e.header.type} ${e.header.mode.toString(8)} ${e.header.mtime.sec} ${e.header.linkname}`);
    assert.deepEqual(show(a), show(b));
  }
  assert.ok(mine.equals(top), 'byte-identical committed layer');
  assert.equal(sha256(mine), diffIds.at(-1));
  // The case that makes this layer interesting: two whiteouts sharing the kernel's whiteout inode.
  const entries = await listTar(mine);
  const linked = entries.filter((e) => isFileWhiteout(e) && e.header.linkname !== '');
  console.log(`committed layer: ${entries.length} entries, ${mine.length} bytes; whiteouts with a linkname: ${linked.map((e) => `${e.header.name} -> ${e.header.linkname}`).join(', ') || 'none'}`);
});

test('(d) the naive path on a vfs dockerd: changes() is `docker diff`, exportChanges() is the committed layer.tar but for Delete mtimes', { timeout: 20 * 60_000 }, async () => {
  const fx = await fixture();
  const d = await startDockerd({ storageDriver: 'vfs' });
  try {
    await d.docker(['import', fx.baseTar, 'strata-test/vfs-base:1']);
    const cmd =
      'echo added > /added.txt && ln /added.txt /added-hard && ln -s /added.txt /added-link && echo more >> /data/hello.txt' +
      ' && rm /data/empty && rm -r /deep && rm -rf /opaque && mkdir /opaque && echo again > /opaque/again' +
      ' && chmod 0700 /ids/uid70000 && mkfifo /fifo2 && touch /data/hard-a';
    await d.docker(['run', '--name', 'naive', '--network', 'none', 'strata-test/vfs-base:1', 'sh', '-c', cmd]);
    const dockerDiff = (await d.docker(['diff', 'naive'])).stdout.toString();
    const cid = (await d.docker(['inspect', '--format', '{{.Id}}', 'naive'])).stdout.toString().trim();
    const t0 = Math.floor(Date.now() / 1000);
    const id = (await d.docker(['commit', 'naive', 'strata-test/vfs-committed:1'])).stdout.toString().trim();
    const t1 = Math.ceil(Date.now() / 1000);
    const diffIds = JSON.parse((await d.docker(['image', 'inspect', '--format', '{{json .RootFS.Layers}}', id])).stdout.toString()) as string[];
    const saved = tempDir('strata-diff-vfs-');
    await d.docker(['save', '-o', path.join(saved, 'img.tar'), id]);
    sh('tar', ['-xf', path.join(saved, 'img.tar'), '-C', saved]);
    const manifest = JSON.parse(fs.readFileSync(path.join(saved, 'manifest.json'), 'utf8')) as { Layers: string[] }[];
    const top = fs.readFileSync(path.join(saved, manifest[0]!.Layers.at(-1)!));
    assert.equal(sha256(top), diffIds.at(-1));

    const mountDb = path.join(d.root, 'image/vfs/layerdb/mounts', cid);
    const rw = path.join(d.root, 'vfs/dir', fs.readFileSync(path.join(mountDb, 'mount-id'), 'utf8'));
    const init = path.join(d.root, 'vfs/dir', fs.readFileSync(path.join(mountDb, 'init-id'), 'utf8'));
    const cs = await changes(rw, init);
    const theirs = dockerDiff.split('\n').filter(Boolean).sort((x, y) => Buffer.compare(Buffer.from(x.slice(2)), Buffer.from(y.slice(2))));
    assert.deepEqual(cs.map(formatChange), theirs);

    const mine = await collect(exportChanges(rw, cs));
    const [a, b] = [await listTar(mine), await listTar(top)];
    assert.deepEqual(a.map((e) => e.header.name), b.map((e) => e.header.name));
    let deletes = 0;
    for (let i = 0; i < a.length; i++) {
      const [m, t] = [a[i]!, b[i]!];
      if (cs.some((c) => c.kind === 'D' && t.header.name === c.path.slice(1).replace(/[^/]*$/, (base) => '.wh.' + base))) {
        deletes++;
        const norm = (h: ListedEntry['header']) => ({ ...h, mtime: undefined });
        assert.deepEqual(norm(m.header), norm(t.header), t.header.name);
        assert.ok(t.header.mtime.sec >= t0 && t.header.mtime.sec <= t1, 'dockerd stamps Delete entries with the commit time');
        continue;
      }
      assert.ok(ownBlocks(m).equals(ownBlocks(t)), `${t.header.name}: identical header bytes`);
      assert.ok(m.data.equals(t.data), `${t.header.name}: identical content`);
    }
    assert.ok(deletes >= 3);
    console.log(`naive commit: ${a.length} entries, ${deletes} Delete entries; all others byte-identical`);
  } finally {
    await d.stop();
  }
});
