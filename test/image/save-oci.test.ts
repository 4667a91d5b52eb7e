/**
 * ociLayoutArchive against the tools that read OCI layouts, on the dockerd fixture's images
 * (base: one layer; built: eight, the bottom one shared with base):
 * - the layout itself: members, blobs named by their SHA-256, each layer once, index.json
 *   descriptors and annotations, the OCI manifests, Docker 25's manifest.json;
 * - skopeo 1.9 (`oci-archive:FILE:TAG`, TAG matched against `org.opencontainers.image.ref.name`):
 *   inspect reports the manifest digest and the DiffIDs, `--raw`/`--config` give our bytes,
 *   copy to `dir:` works;
 * - umoci: `unpack --image DIR:TAG` builds a rootfs holding the fixture's files;
 * - dockerd 20.10: `docker load` takes the same file (through manifest.json) with the same IDs.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { TarType } from '../../src/archive/tar/index.js';
import { type Digest, sha256Of } from '../../src/digest/index.js';
import { ociLayoutArchive } from '../../src/image/archive/oci-layout.js';
import { dockerFixture, type DockerFixture, type FixtureImage } from '../oracle/fixtures.js';
import { startDockerd, type Dockerd } from '../oracle/dockerd.js';
import { sh, tempDir } from '../helpers/tmp.js';
import { collect } from '../helpers/layertar.js';
import { fixtureImage, tarMembers, type TarMember } from '../helpers/save-images.js';

// ---------------------------------------------------------------------------------------------
// Helpers

type Member = TarMember;
const members = tarMembers;

interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
  platform?: { architecture: string; os: string };
}

const BASE_TAGS = ['strata-oracle/base:base'];
const BUILT_TAGS = ['strata-oracle/built:1', 'example.com/a/b:built'];

/** The archive of both fixture images, written once to a file (and extracted next to it). */
let archive: Promise<{ fx: DockerFixture; file: string; dir: string; bytes: Buffer }> | undefined;
function theArchive(): NonNullable<typeof archive> {
  archive ??= (async () => {
    const fx = await dockerFixture();
    const bytes = await collect(ociLayoutArchive([fixtureImage(fx.images.base, BASE_TAGS), fixtureImage(fx.images.built, BUILT_TAGS)]));
    const root = tempDir('strata-oci-');
    const file = path.join(root, 'images.tar');
    fs.writeFileSync(file, bytes);
    const dir = path.join(root, 'layout');
    fs.mkdirSync(dir);
    sh('tar', ['-xf', file, '-C', dir]);
    return { fx, file, dir, bytes };
  })();
  return archive;
}

let daemon: Promise<Dockerd> | undefined;
after(async () => {
  if (daemon) await (await daemon).stop();
});

function readJson<T>(file: string): T {
  return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
}

// ---------------------------------------------------------------------------------------------
// The layout

test('the layout: members in walk order, blobs named by their digest, each layer once', async () => {
  const { fx, bytes } = await theArchive();
  const ms = await members(bytes);
  const names = ms.map((m) => m.name);
  assert.deepEqual(names.slice(0, 2), ['blobs/', 'blobs/sha256/'], 'directory entries first');
  assert.deepEqual(names.slice(-3), ['index.json', 'manifest.json', 'oci-layout'], 'then the top-level files');
  const blobs = ms.filter((m) => m.name.startsWith('blobs/sha256/') && m.type === TarType.Reg);
  assert.deepEqual(blobs.map((b) => b.name), [...blobs.map((b) => b.name)].sort(), 'blobs sorted');
  for (const b of blobs) assert.equal(sha256Of(b.content), `sha256:${b.name.slice('blobs/sha256/'.length)}`, `${b.name}: named by its digest`);
  const diffIds = new Set([...fx.images.base.layers, ...fx.images.built.layers].map((l) => l.diffId));
  // 8 distinct layers + 2 configs + 2 manifests.
  assert.equal(blobs.length, diffIds.size + 4, 'every layer once, two configs, two manifests');
  for (const m of ms) assert.equal(m.mode, m.type === TarType.Dir ? 0o40755 : 0o100644, `${m.name}: mode`);
  assert.equal(ms.find((m) => m.name === 'oci-layout')!.content.toString(), '{"imageLayoutVersion":"1.0.0"}', 'oci-layout');
});

test('index.json: one descriptor per tag (full name + ref name), OCI manifests by DiffID, manifest.json for docker load', async () => {
  const { fx, dir } = await theArchive();
  const index = readJson<{ schemaVersion: number; mediaType: string; manifests: Descriptor[] }>(path.join(dir, 'index.json'));
  assert.equal(index.schemaVersion, 2, 'index schemaVersion');
  assert.equal(index.mediaType, 'application/vnd.oci.image.index.v1+json', 'index mediaType');
  assert.deepEqual(
    index.manifests.map((d) => d.annotations),
    [
      { 'io.containerd.image.name': 'docker.io/strata-oracle/base:base', 'org.opencontainers.image.ref.name': 'base' },
      { 'io.containerd.image.name': 'docker.io/strata-oracle/built:1', 'org.opencontainers.image.ref.name': '1' },
      { 'io.containerd.image.name': 'example.com/a/b:built', 'org.opencontainers.image.ref.name': 'built' },
    ],
    'annotations',
  );
  for (const [i, im] of [fx.images.base, fx.images.built, fx.images.built].entries()) {
    const d = index.manifests[i]!;
    assert.equal(d.mediaType, 'application/vnd.oci.image.manifest.v1+json', `${i}: descriptor mediaType`);
    assert.deepEqual(d.platform, { architecture: 'amd64', os: 'linux' }, `${i}: platform`);
    const blob = fs.readFileSync(path.join(dir, 'blobs/sha256', d.digest.slice(7)));
    assert.equal(blob.length, d.size, `${i}: manifest size`);
    const m = JSON.parse(blob.toString()) as { schemaVersion: number; mediaType: string; config: Descriptor; layers: Descriptor[] };
    assert.equal(m.schemaVersion, 2, `${i}: manifest schemaVersion`);
    assert.equal(m.mediaType, 'application/vnd.oci.image.manifest.v1+json', `${i}: manifest mediaType`);
    assert.equal(m.config.mediaType, 'application/vnd.oci.image.config.v1+json', `${i}: config mediaType`);
    assert.equal(m.config.digest, im.id, `${i}: config digest = image ID`);
    assert.ok(fs.readFileSync(path.join(dir, 'blobs/sha256', im.id.slice(7))).equals(fs.readFileSync(im.configPath)), `${i}: config blob = the original bytes`);
    assert.deepEqual(
      m.layers,
      im.layers.map((l) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: l.diffId, size: fs.statSync(l.savedLayerTar).size })),
      `${i}: layers uncompressed, by DiffID`,
    );
  }
  const hex = (d: string) => d.slice(7);
  const entry = (im: FixtureImage, tags: string[]) =>
    `{"Config":"blobs/sha256/${hex(im.id)}","RepoTags":${JSON.stringify(tags)},"Layers":${JSON.stringify(im.layers.map((l) => `blobs/sha256/${hex(l.diffId)}`))}}`;
  assert.equal(
    fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8'),
    `[${entry(fx.images.base, BASE_TAGS)},${entry(fx.images.built, BUILT_TAGS)}]\n`,
    'manifest.json, Docker 25 form',
  );
});

test('an untagged image gets one index descriptor without annotations', async () => {
  const fx = await dockerFixture();
  const ms = await members(await collect(ociLayoutArchive([fixtureImage(fx.images.base, [])])));
  const index = JSON.parse(ms.find((m) => m.name === 'index.json')!.content.toString()) as { manifests: Descriptor[] };
  assert.equal(index.manifests.length, 1, 'one descriptor');
  assert.equal(index.manifests[0]!.annotations, undefined, 'no annotations');
  assert.match(ms.find((m) => m.name === 'manifest.json')!.content.toString(), /"RepoTags":null/, 'RepoTags null');
});

// ---------------------------------------------------------------------------------------------
// skopeo

test('skopeo inspect oci-archive:FILE:TAG reports our manifest digest and the DiffIDs; --raw and --config are our bytes', async () => {
  const { fx, file, dir } = await theArchive();
  const index = readJson<{ manifests: Descriptor[] }>(path.join(dir, 'index.json'));
  for (const [tag, im, d] of [
    ['base', fx.images.base, index.manifests[0]!],
    ['1', fx.images.built, index.manifests[1]!],
    ['built', fx.images.built, index.manifests[2]!],
  ] as const) {
    const info = JSON.parse(sh('skopeo', ['inspect', `oci-archive:${file}:${tag}`]).toString()) as { Digest: string; Layers: string[]; Architecture: string; Os: string };
    assert.equal(info.Digest, d.digest, `${tag}: manifest digest`);
    assert.deepEqual(info.Layers, im.layers.map((l) => l.diffId), `${tag}: layers`);
    assert.equal(info.Os, 'linux', `${tag}: os`);
    const raw = sh('skopeo', ['inspect', '--raw', `oci-archive:${file}:${tag}`]);
    assert.ok(raw.equals(fs.readFileSync(path.join(dir, 'blobs/sha256', d.digest.slice(7)))), `${tag}: --raw is our manifest blob`);
    const config = JSON.parse(sh('skopeo', ['inspect', '--config', '--raw', `oci-archive:${file}:${tag}`]).toString()) as unknown;
    assert.deepEqual(config, JSON.parse(fs.readFileSync(im.configPath, 'utf8')), `${tag}: --config is the image config`);
  }
});

test('skopeo copy oci-archive:FILE:TAG dir:DIR writes the config and every layer blob', async () => {
  const { fx, file } = await theArchive();
  const out = path.join(tempDir('strata-oci-copy-'), 'dir');
  sh('skopeo', ['copy', '--quiet', `oci-archive:${file}:built`, `dir:${out}`]);
  assert.ok(fs.readFileSync(path.join(out, fx.images.built.id.slice(7))).equals(fs.readFileSync(fx.images.built.configPath)), 'config blob');
  for (const l of fx.images.built.layers) {
    const blob = fs.readFileSync(path.join(out, l.diffId.slice(7)));
    assert.equal(sha256Of(blob), l.diffId, `layer ${l.index}: copied, sha256 = DiffID`);
  }
  const m = readJson<{ layers: Descriptor[] }>(path.join(out, 'manifest.json'));
  assert.equal(m.layers.length, fx.images.built.layers.length, 'copied manifest lists every layer');
});

test('two images with the same tag (the fixture\'s own `…/base:1`, `…/built:1`): skopeo takes the first, umoci calls it ambiguous', async () => {
  const fx = await dockerFixture();
  const root = tempDir('strata-oci-same-tag-');
  const file = path.join(root, 'same.tar');
  fs.writeFileSync(file, await collect(ociLayoutArchive([fixtureImage(fx.images.base, [fx.images.base.ref]), fixtureImage(fx.images.built, [fx.images.built.ref])])));
  const info = JSON.parse(sh('skopeo', ['inspect', `oci-archive:${file}:1`]).toString()) as { Layers: string[] };
  assert.deepEqual(info.Layers, fx.images.base.layers.map((l) => l.diffId), 'skopeo: the first descriptor whose ref name is "1"');
  const dir = path.join(root, 'layout');
  fs.mkdirSync(dir);
  sh('tar', ['-xf', file, '-C', dir]);
  assert.throws(() => sh('umoci', ['unpack', '--image', `${dir}:1`, path.join(root, 'bundle')]), /ambiguous/, 'umoci: tag is ambiguous');
});

// ---------------------------------------------------------------------------------------------
// umoci

test('umoci unpack --image DIR:TAG builds a rootfs with the fixture\'s files', async () => {
  const { fx, dir } = await theArchive();
  const bundle = path.join(tempDir('strata-oci-umoci-'), 'bundle');
  sh('umoci', ['unpack', '--image', `${dir}:built`, bundle]);
  const rootfs = path.join(bundle, 'rootfs');
  assert.ok(fs.readFileSync(path.join(rootfs, 'bin/busybox')).equals(fs.readFileSync('/bin/busybox')), 'bin/busybox: the fixture\'s busybox');
  assert.ok(
    fs.readFileSync(path.join(rootfs, 'copied/a.txt')).equals(fs.readFileSync(path.join(fx.contextDir, 'context-dir/a.txt'))),
    'copied/a.txt: the build context\'s file (COPY layer)',
  );
  assert.equal(fs.readFileSync(path.join(rootfs, 'data/hello.txt'), 'utf8'), 'hello\n', 'data/hello.txt');
  assert.equal(fs.readFileSync(path.join(rootfs, 'opaque/new'), 'utf8'), 'new\n', 'opaque/new (re-created dir)');
  assert.ok(!fs.existsSync(path.join(rootfs, 'opaque/old1')), 'opaque/old1 hidden by the opaque whiteout');
  assert.ok(!fs.existsSync(path.join(rootfs, 'todelete')), 'todelete/ removed by a whiteout');
  assert.ok(fs.readFileSync(path.join(rootfs, 'data/big.bin')).subarray(-9).equals(Buffer.from('appended\n')), 'data/big.bin appended to by the last layer');
  assert.equal(fs.readlinkSync(path.join(rootfs, 'etc/hello-symlink')), '../data/hello.txt', 'symlink from a RUN layer');
});

// ---------------------------------------------------------------------------------------------
// dockerd 20.10

test('dockerd 20.10 `docker load` takes the OCI archive (manifest.json): same IDs, a container runs', async () => {
  const { fx, file } = await theArchive();
  daemon ??= startDockerd();
  const d = await daemon;
  const out = (await d.docker(['load', '-i', file])).stdout.toString();
  for (const tag of [...BASE_TAGS, ...BUILT_TAGS]) assert.ok(out.includes(`Loaded image: ${tag}\n`), `load output names ${tag}: ${out}`);
  for (const [tag, im] of [
    [BASE_TAGS[0]!, fx.images.base],
    [BUILT_TAGS[0]!, fx.images.built],
    [BUILT_TAGS[1]!, fx.images.built],
  ] as const) {
    const id = (await d.docker(['image', 'inspect', '--format', '{{.Id}}', tag])).stdout.toString().trim();
    assert.equal(id, im.id, `${tag}: image ID`);
  }
  const r = await d.docker(['run', '--rm', '--network', 'none', BUILT_TAGS[1]!, 'cat', '/data/hello.txt', '/opaque/new']);
  assert.equal(r.stdout.toString(), 'hello\nnew\n', 'container output');
});
