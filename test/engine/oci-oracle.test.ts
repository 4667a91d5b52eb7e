/**
 * OCI image layouts end to end through the `strata` CLI, against the tools that make and read them:
 *
 * - skopeo 1.9 makes the layouts strata loads, from a three-layer docker archive of directories
 *   (imageArchive; an upper layer replaces lower files): `skopeo copy docker-archive:A.tar
 *   oci:L:TAG` (gzip layers by default; zstd with `--dest-compress-format zstd`; plain tars, still
 *   typed `+gzip`, with `--dest-decompress`) and `oci-archive:L.tar:TAG`, read as a layout
 *   directory, a tar file and a tar on stdin. skopeo rewrites the docker config as an OCI config
 *   (a different digest), so the image ID is the layout's config digest; the DiffIDs are the
 *   docker archive's, and `strata export` gives the source directories' files byte for byte. A
 *   bare ref name (`mytag`) loads untagged (`Loaded image ID: …`); full ref names
 *   (`example.com/app:1`, `demo/app:2`) become tags. index.json descriptors that all carry the
 *   host's platform (as strata's own OCI export writes them) are each an image of the layout:
 *   every one loads, with its name.
 * - layers compressed by hand (pigz, the zstd CLI, none) in one manifest load the same image.
 * - multi-platform: an index of linux/amd64 + linux/arm64 manifests, flat and nested (index.json →
 *   an index blob → two manifests): the host's platform by default, `--platform` for the other
 *   (`linux/arm64/v8` matches an entry without variant), a missing platform is one line, exit 1,
 *   nothing registered. The arm64 image's upper layer deletes a file with a whiteout.
 * - strata's own OCI export (`save --format oci`): `skopeo inspect oci-archive:O.tar:TAG` reports
 *   its manifest digest and DiffIDs, `skopeo copy` of it loads back as the same image ID, and
 *   `umoci unpack` gives the image's files byte for byte.
 * - bad layouts (index.json not JSON, a manifest that is an array, a config blob whose bytes do
 *   not match its digest): one line on stderr, exit 1, no image and no layer left.
 */
import { describe, test, before } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { pipeline } from 'node:stream/promises';
import { strata, type CliResult } from '../helpers/cli.js';
import { makeTar, sh, tempDir } from '../helpers/tmp.js';
import { sha256Of } from '../../src/digest/index.js';
import { imageArchive } from '../../src/engine/build.js';

// ---------------------------------------------------------------------------------------------
// Helpers

function ok(args: string[], input?: Buffer): CliResult {
  const r = strata(args, input ? { input } : {});
  assert.equal(r.status, 0, `strata ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
  return r;
}

function fails(args: string[], re: RegExp): void {
  const r = strata(args);
  assert.equal(r.status, 1, `strata ${args.join(' ')}: expected exit 1, got ${r.status}: ${r.stdout}${r.stderr}`);
  const lines = r.stderr.split('\n').filter((l) => l !== '' && !l.includes('waiting for the lock'));
  assert.equal(lines.length, 1, `one line expected on stderr, got:\n${r.stderr}`);
  assert.match(lines[0]!, re);
}

interface ImageJson {
  id: string;
  repoTags: string[];
  layers: string[];
}

function images(root: string): ImageJson[] {
  return JSON.parse(ok(['--root', root, '--json', 'images']).stdout) as ImageJson[];
}

/** Nothing registered: no images, no layers, no driver directories but `l/`, no spool. */
function assertEmpty(root: string): void {
  assert.deepEqual(images(root), [], 'no images');
  assert.deepEqual(JSON.parse(ok(['--root', root, '--json', 'layer', 'ls']).stdout), [], 'no layers');
  const left = (sub: string) => (fs.existsSync(path.join(root, sub)) ? fs.readdirSync(path.join(root, sub)).filter((n) => n !== 'l') : []);
  assert.deepEqual(left('overlay2'), [], 'no driver directories left');
  assert.deepEqual(left('tmp'), [], 'no spool left in tmp/');
}

function readJson<T>(file: string): T {
  return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
}

interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: { os: string; architecture: string; variant?: string };
  annotations?: Record<string, string>;
}
interface Index {
  schemaVersion: number;
  mediaType?: string;
  manifests: Descriptor[];
}
interface Manifest {
  schemaVersion: number;
  mediaType: string;
  config: Descriptor;
  layers: Descriptor[];
}

const INDEX = 'application/vnd.oci.image.index.v1+json';
const MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const LAYER = 'application/vnd.oci.image.layer.v1.tar';

const blobPath = (layout: string, digest: string) => path.join(layout, 'blobs/sha256', digest.slice(7));

/** Writes `bytes` as a blob of `layout`, returns its descriptor. */
function putBlob(layout: string, mediaType: string, bytes: Buffer | string, extra: Partial<Descriptor> = {}): Descriptor {
  const buf = Buffer.from(bytes);
  const digest = sha256Of(buf);
  fs.mkdirSync(path.join(layout, 'blobs/sha256'), { recursive: true });
  fs.writeFileSync(blobPath(layout, digest), buf);
  return { mediaType, digest, size: buf.length, ...extra };
}

function writeIndex(layout: string, manifests: Descriptor[]): void {
  fs.writeFileSync(path.join(layout, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  fs.writeFileSync(path.join(layout, 'index.json'), JSON.stringify({ schemaVersion: 2, mediaType: INDEX, manifests }));
}

/** The single image manifest of a one-image layout. */
function onlyManifest(layout: string): { desc: Descriptor; manifest: Manifest } {
  const index = readJson<Index>(path.join(layout, 'index.json'));
  const desc = index.manifests[0]!;
  return { desc, manifest: readJson<Manifest>(blobPath(layout, desc.digest)) };
}

/**
 * A tree as comparable data: every path under `dir` with its type, permission bits and content
 * (regular files) or target (symlinks).
 */
function tree(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (rel: string): void => {
    for (const name of fs.readdirSync(path.join(dir, rel)).sort()) {
      const r = rel ? `${rel}/${name}` : name;
      const p = path.join(dir, r);
      const st = fs.lstatSync(p);
      const mode = (st.mode & 0o7777).toString(8);
      if (st.isSymbolicLink()) out[r] = `link -> ${fs.readlinkSync(p)}`;
      else if (st.isDirectory()) {
        out[r] = `dir ${mode}`;
        walk(r);
      } else if (st.isFile()) out[r] = `file ${mode} ${fs.readFileSync(p).toString('base64')}`;
      else out[r] = `other ${st.mode.toString(8)}`;
    }
  };
  walk('');
  return out;
}

/** `strata export IMAGE` unpacked, as a tree. */
function exported(root: string, image: string, scratch: string): Record<string, string> {
  const tar = path.join(scratch, `export-${Math.random().toString(36).slice(2)}.tar`);
  ok(['--root', root, 'export', image, '-o', tar]);
  const dir = `${tar}.d`;
  fs.mkdirSync(dir);
  sh('tar', ['-xpf', tar, '-C', dir]);
  return tree(dir);
}

/**
 * Loads into a fresh data root; returns the root and what load printed. (An image ID, once it
 * is checked, pins the DiffIDs too: they are in the config it is the digest of, and load checks
 * each layer against them — so the other tests list images only for tags.)
 */
let roots = 0;
function loadFresh(dir: string, args: string[], input?: Buffer): { root: string; out: string } {
  const root = path.join(dir, `root-${++roots}`);
  return { root, out: ok(['--root', root, 'load', ...args], input).stdout };
}

function onlyImage(root: string): ImageJson {
  const list = images(root);
  assert.equal(list.length, 1, `one image in ${root}: ${JSON.stringify(list)}`);
  return list[0]!;
}

/** This host's architecture as OCI platforms name it (the two the tests build images for). */
const HOST = ({ x64: 'amd64', arm64: 'arm64' } as Record<string, 'amd64' | 'arm64'>)[process.arch];

// The source image: three layers from directories (an upper layer replaces a lower file).
let dir: string;
let archive: string; // docker-archive made by imageArchive
let merged: Record<string, string>; // the image's filesystem
let dockerConfig: { rootfs: { diff_ids: string[] } };

before(async () => {
  dir = tempDir('strata-oci-oracle-');
  const l0 = path.join(dir, 'src/l0');
  const l1 = path.join(dir, 'src/l1');
  const l2 = path.join(dir, 'src/l2');
  for (const d of [`${l0}/etc`, `${l0}/bin`, `${l1}/srv/www`, `${l2}/srv/www`, `${l2}/etc`]) fs.mkdirSync(d, { recursive: true });
  fs.writeFileSync(`${l0}/etc/motd`, 'hello from l0\n');
  fs.writeFileSync(`${l0}/etc/os-release`, 'ID=strata-test\n');
  fs.writeFileSync(`${l0}/bin/tool`, '#!/bin/sh\necho tool\n', { mode: 0o755 });
  fs.writeFileSync(`${l0}/bin/blob`, Buffer.from(Array.from({ length: 70_000 }, (_, i) => (i * 31 + (i >> 7)) & 0xff)));
  fs.writeFileSync(`${l1}/srv/www/index.html`, '<h1>v1</h1>\n');
  fs.symlinkSync('../etc/motd', `${l1}/srv/motd-link`);
  fs.writeFileSync(`${l2}/srv/www/index.html`, '<h1>v2</h1>\n');
  fs.writeFileSync(`${l2}/etc/motd`, 'hello from l2\n', { mode: 0o600 });
  archive = path.join(dir, 'A.tar');
  await pipeline(imageArchive({ layers: [l0, l1, l2], tag: 'demo/app:1', scratchDir: dir }), fs.createWriteStream(archive));
  const m = dir + '/merged';
  fs.mkdirSync(m);
  for (const l of [l0, l1, l2]) sh('cp', ['-a', `${l}/.`, m]);
  merged = tree(m);
  const manifest = JSON.parse(sh('tar', ['-xOf', archive, 'manifest.json']).toString()) as Array<{ Config: string }>;
  dockerConfig = JSON.parse(sh('tar', ['-xOf', archive, manifest[0]!.Config]).toString()) as typeof dockerConfig;
  assert.equal(dockerConfig.rootfs.diff_ids.length, 3, 'three layers in the source image');
});

// ---------------------------------------------------------------------------------------------
// Layouts made by skopeo

/** `skopeo copy docker-archive:A.tar oci:L:mytag`, made once (skopeo's defaults: gzip layers). */
function gzipLayout(): string {
  const layout = path.join(dir, 'L');
  if (!fs.existsSync(layout)) sh('skopeo', ['copy', '--quiet', `docker-archive:${archive}`, `oci:${layout}:mytag`]);
  return layout;
}

describe('layouts made by skopeo copy load', () => {
  test('oci:L:mytag (gzip layers): untagged, ID = the layout config digest, DiffIDs and files of the source', () => {
    const layout = gzipLayout();
    const { desc, manifest } = onlyManifest(layout);
    assert.deepEqual(desc.annotations, { 'org.opencontainers.image.ref.name': 'mytag' }, 'skopeo writes a bare ref name');
    assert.deepEqual(manifest.layers.map((l) => l.mediaType), Array(3).fill(`${LAYER}+gzip`), 'skopeo gzips the layers');
    const { root, out } = loadFresh(dir, ['-i', layout]);
    assert.equal(out, `Loaded image ID: ${manifest.config.digest}\n`, 'a bare ref name is not an image name');
    const image = onlyImage(root);
    assert.equal(image.id, manifest.config.digest, 'image ID = the config blob digest');
    assert.deepEqual(image.repoTags, [], 'untagged');
    assert.deepEqual(image.layers, dockerConfig.rootfs.diff_ids, 'DiffIDs of the docker archive');
    assert.deepEqual(exported(root, image.id, dir), merged, 'export = the source directories, stacked');
  });

  test('oci-archive:L.tar:mytag loads from the file and from stdin', () => {
    const file = path.join(dir, 'L.tar');
    sh('skopeo', ['copy', '--quiet', `docker-archive:${archive}`, `oci-archive:${file}:mytag`]);
    const index = JSON.parse(sh('tar', ['-xOf', file, 'index.json']).toString()) as Index;
    const manifest = JSON.parse(sh('tar', ['-xOf', file, `blobs/sha256/${index.manifests[0]!.digest.slice(7)}`]).toString()) as Manifest;
    const fromFile = loadFresh(dir, ['-i', file]);
    assert.equal(fromFile.out, `Loaded image ID: ${manifest.config.digest}\n`, 'file: untagged, the config digest');
    const fromStdin = loadFresh(dir, [], fs.readFileSync(file));
    assert.equal(fromStdin.out, `Loaded image ID: ${manifest.config.digest}\n`, 'stdin: untagged, the config digest');
    assert.deepEqual(exported(fromStdin.root, manifest.config.digest, dir), merged, 'stdin: export = the source directories');
    assert.deepEqual(fs.readdirSync(path.join(fromStdin.root, 'tmp')), [], 'the stdin spool is removed');
  });

  test('full ref names (oci:L:example.com/app:1, oci:L:demo/app:2) are tags; a bare one in the same layout is not', () => {
    const layout = path.join(dir, 'L-named');
    for (const name of ['example.com/app:1', 'demo/app:2', 'bare']) sh('skopeo', ['copy', '--quiet', `docker-archive:${archive}`, `oci:${layout}:${name}`]);
    const index = readJson<Index>(path.join(layout, 'index.json'));
    assert.deepEqual(
      index.manifests.map((d) => d.annotations?.['org.opencontainers.image.ref.name']),
      ['example.com/app:1', 'demo/app:2', 'bare'],
      'skopeo writes the name as given as the ref name, one descriptor each',
    );
    assert.equal(new Set(index.manifests.map((d) => d.digest)).size, 1, 'one manifest for the three names');
    const { root, out } = loadFresh(dir, ['-i', layout]);
    assert.equal(out, 'Loaded image: example.com/app:1\nLoaded image: demo/app:2\n', 'load output');
    const image = onlyImage(root);
    assert.equal(image.id, onlyManifest(layout).manifest.config.digest, 'image ID = the config blob digest');
    assert.deepEqual([...image.repoTags].sort(), ['demo/app:2', 'example.com/app:1'], 'tagged with the full names');
  });

  // strata's own `save --format oci` puts a platform on every index.json descriptor: each one is
  // an image of the layout (a name, or another manifest), not a choice among platforms.
  test('index.json descriptors that carry the host platform: every one is loaded, with its name', { skip: HOST === undefined && 'host is not amd64/arm64' }, () => {
    const layout = path.join(dir, 'L-named-platform');
    for (const [name, flags] of [
      ['example.com/app:1', []],
      ['demo/app:2', []],
      ['example.com/app:zstd', ['--dest-compress-format', 'zstd']], // another manifest, the same config
    ] as const) {
      sh('skopeo', ['copy', '--quiet', ...flags, `docker-archive:${archive}`, `oci:${layout}:${name}`]);
    }
    const index = readJson<Index>(path.join(layout, 'index.json'));
    assert.equal(new Set(index.manifests.map((d) => d.digest)).size, 2, 'two manifests for three names');
    writeIndex(layout, index.manifests.map((d) => ({ ...d, platform: { architecture: HOST!, os: 'linux' } })));
    const { root, out } = loadFresh(dir, ['-i', layout]);
    assert.equal(out, 'Loaded image: example.com/app:1\nLoaded image: demo/app:2\nLoaded image: example.com/app:zstd\n', 'load output');
    assert.deepEqual([...onlyImage(root).repoTags].sort(), ['demo/app:2', 'example.com/app:1', 'example.com/app:zstd'], 'tagged with every name');
  });
});

// ---------------------------------------------------------------------------------------------
// Compression

/** Rewrites every layer blob of a one-image layout with `encode(i, tar)`; fixes manifest and index. */
function recompress(src: string, dest: string, encode: (i: number, tar: Buffer) => { bytes: Buffer; mediaType: string }): void {
  sh('cp', ['-a', src, dest]);
  const { desc, manifest } = onlyManifest(dest);
  manifest.layers = manifest.layers.map((l, i) => {
    const { bytes, mediaType } = encode(i, zlib.gunzipSync(fs.readFileSync(blobPath(dest, l.digest))));
    fs.rmSync(blobPath(dest, l.digest));
    return putBlob(dest, mediaType, bytes);
  });
  fs.rmSync(blobPath(dest, desc.digest));
  writeIndex(dest, [putBlob(dest, MANIFEST, JSON.stringify(manifest), desc.annotations ? { annotations: desc.annotations } : {})]);
}

describe('layer compression', () => {
  test('skopeo --dest-compress-format zstd, and --dest-decompress: same image ID, DiffIDs and files as gzip', () => {
    const gz = onlyManifest(gzipLayout()).manifest;
    // zstd: every layer a zstd frame, so typed. --dest-decompress: skopeo 1.9 writes the layer tars
    // uncompressed but still types them `tar+gzip` — strata goes by the bytes, not the media type.
    for (const [name, flags] of [
      ['zstd', ['--dest-compress-format', 'zstd']],
      ['plain', ['--dest-oci-accept-uncompressed-layers', '--dest-decompress']],
    ] as const) {
      const layout = path.join(dir, `L-${name}`);
      sh('skopeo', ['copy', '--quiet', ...flags, `docker-archive:${archive}`, `oci:${layout}:${name}`]);
      const { manifest } = onlyManifest(layout);
      if (name === 'zstd') {
        assert.deepEqual(manifest.layers.map((l) => l.mediaType), Array(3).fill(`${LAYER}+zstd`), 'zstd: layer media types');
        for (const l of manifest.layers) assert.equal(fs.readFileSync(blobPath(layout, l.digest)).subarray(0, 4).toString('hex'), '28b52ffd', `zstd: ${l.digest} is a zstd frame`);
      } else {
        assert.deepEqual(manifest.layers.map((l) => l.digest), dockerConfig.rootfs.diff_ids, 'plain: the blobs are the layer tars (digest = DiffID)');
      }
      assert.equal(manifest.config.digest, gz.config.digest, `${name}: the same config as the gzip layout`);
      const { root, out } = loadFresh(dir, ['-i', layout]);
      assert.equal(out, `Loaded image ID: ${gz.config.digest}\n`, `${name}: load output (same image ID, so same DiffIDs)`);
      assert.deepEqual(exported(root, gz.config.digest, dir), merged, `${name}: export = the source directories`);
    }
  });

  test('by hand, one manifest mixing pigz, the zstd CLI and no compression: same image', () => {
    const layout = path.join(dir, 'L-mixed');
    recompress(gzipLayout(), layout, (i, tar) =>
      i === 0
        ? { bytes: sh('pigz', ['-c', '-9'], { input: tar }), mediaType: `${LAYER}+gzip` }
        : i === 1
          ? { bytes: sh('zstd', ['-c', '-q', '-19'], { input: tar }), mediaType: `${LAYER}+zstd` }
          : { bytes: tar, mediaType: LAYER },
    );
    const { manifest } = onlyManifest(layout);
    assert.equal(manifest.layers[1]!.mediaType, `${LAYER}+zstd`, 'the middle layer is zstd');
    const { root, out } = loadFresh(dir, ['-i', layout]);
    assert.equal(out, `Loaded image ID: ${manifest.config.digest}\n`, 'load output (same image ID, so same DiffIDs)');
    assert.deepEqual(exported(root, manifest.config.digest, dir), merged, 'export = the source directories');
  });
});

// ---------------------------------------------------------------------------------------------
// Multi-platform

describe('multi-platform indexes', () => {
  // Per architecture: its layers (bottom first) and the files its image has.
  const spec = {
    amd64: {
      layers: [{ 'etc/': '', 'etc/arch': 'amd64\n', 'etc/common': 'common\n' }, { 'usr/': '', 'usr/lib/': '', 'usr/lib/x86_64-linux-gnu': 'x86\n' }],
      files: { 'etc/arch': 'amd64\n', 'etc/common': 'common\n', 'usr/lib/x86_64-linux-gnu': 'x86\n' },
    },
    arm64: {
      layers: [{ 'etc/': '', 'etc/arch': 'arm64\n', 'etc/common': 'common\n', 'etc/gone': 'deleted above\n' }, { 'etc/.wh.gone': '', 'usr/': '', 'usr/lib/': '', 'usr/lib/aarch64-linux-gnu': 'arm\n' }],
      files: { 'etc/arch': 'arm64\n', 'etc/common': 'common\n', 'usr/lib/aarch64-linux-gnu': 'arm\n' },
    },
  } as const;
  type Arch = keyof typeof spec;
  const ids: Partial<Record<Arch, string>> = {};
  let flat: string;
  let nested: string;

  /** Both images' blobs into `layout`; returns their manifest descriptors (with platforms). */
  function platformManifests(layout: string): Descriptor[] {
    return (Object.keys(spec) as Arch[]).map((arch) => {
      const tars = spec[arch].layers.map((files) => makeTar(files));
      // The bottom layer gzip'd, the top one plain.
      const layerDescs = tars.map((t, i) => (i === 0 ? putBlob(layout, `${LAYER}+gzip`, zlib.gzipSync(t)) : putBlob(layout, LAYER, t)));
      const config = JSON.stringify({
        created: '2024-01-02T03:04:05Z',
        architecture: arch,
        os: 'linux',
        config: { Env: ['PATH=/bin'] },
        rootfs: { type: 'layers', diff_ids: tars.map((t) => sha256Of(t)) },
        history: tars.map((_, i) => ({ created: '2024-01-02T03:04:05Z', created_by: `${arch} layer ${i}` })),
      });
      const configDesc = putBlob(layout, 'application/vnd.oci.image.config.v1+json', config);
      ids[arch] = configDesc.digest;
      const manifest = JSON.stringify({ schemaVersion: 2, mediaType: MANIFEST, config: configDesc, layers: layerDescs });
      return putBlob(layout, MANIFEST, manifest, { platform: { architecture: arch, os: 'linux' } });
    });
  }

  before(() => {
    flat = path.join(dir, 'multi-flat');
    writeIndex(flat, platformManifests(flat).map((d) => ({ ...d, annotations: { 'org.opencontainers.image.ref.name': 'example.com/multi:1' } })));
    nested = path.join(dir, 'multi-nested');
    const inner = putBlob(nested, INDEX, JSON.stringify({ schemaVersion: 2, mediaType: INDEX, manifests: platformManifests(nested) }));
    writeIndex(nested, [{ ...inner, annotations: { 'io.containerd.image.name': 'example.com/nested:1', 'org.opencontainers.image.ref.name': '1' } }]);
    assert.notEqual(ids.amd64, ids.arm64, 'two different images');
  });

  /** The files of `arch`'s image, as `tree` gives them. */
  function files(arch: Arch): Record<string, string> {
    return Object.fromEntries(Object.entries(spec[arch].files).map(([p, c]) => [p, `file 644 ${Buffer.from(c).toString('base64')}`]));
  }

  for (const kind of ['flat', 'nested'] as const) {
    test(`${kind} index: the host's platform by default, --platform picks, a missing platform fails cleanly`, () => {
      const layout = kind === 'flat' ? flat : nested;
      const tag = kind === 'flat' ? 'example.com/multi:1' : 'example.com/nested:1';
      const renamed = (id: string | undefined) => `The image ${tag} already exists, renaming the old one with ID ${id} to empty string\nLoaded image: ${tag}\n`;
      // One data root, loaded three times: each load moves the tag, and the line saying so names
      // the image the previous load picked.
      const root = path.join(dir, `root-multi-${kind}`);
      const load = (args: string[]) => ok(['--root', root, 'load', '-i', layout, ...args]).stdout;
      if (HOST === 'amd64' || HOST === 'arm64') {
        const other: Arch = HOST === 'amd64' ? 'arm64' : 'amd64';
        assert.equal(load([]), `Loaded image: ${tag}\n`, 'host pick: tagged');
        assert.equal(load(['--platform', `linux/${other}`]), renamed(ids[HOST]), `the first load picked the host's platform (${HOST}); now ${other}`);
        assert.equal(load(['--platform', `linux/${HOST}`]), renamed(ids[other]), `--platform linux/${other} picked ${other}`);
        if (kind === 'flat') assert.equal(load(['--platform', 'linux/arm64/v8']), renamed(ids.amd64), 'linux/arm64/v8 matches the arm64 entry without variant');
      } else {
        fails(['--root', path.join(dir, `root-host-${kind}`), 'load', '-i', layout], /^strata: no image for platform linux\//);
        assert.equal(load(['--platform', 'linux/amd64']), `Loaded image: ${tag}\n`, 'linux/amd64');
        assert.equal(load(['--platform', 'linux/arm64']), renamed(ids.amd64), 'linux/arm64');
      }
      const list = images(root);
      assert.deepEqual(list.map((i) => i.id).sort(), [ids.amd64, ids.arm64].sort(), 'both images are there');
      assert.deepEqual(list.flatMap((i) => i.repoTags), [tag], 'one tag');
      const only = (arch: Arch) => Object.fromEntries(Object.entries(exported(root, ids[arch]!, dir)).filter(([, v]) => v.startsWith('file ')));
      if (kind === 'flat') {
        assert.deepEqual(only('arm64'), files('arm64'), "the arm64 image's files (a whiteout in its upper layer deleted etc/gone)");
        assert.deepEqual(only('amd64'), files('amd64'), "the amd64 image's files");
      }

      const none = path.join(dir, `root-none-${kind}`);
      fails(['--root', none, 'load', '-i', layout, '--platform', 'linux/s390x'], /^strata: no image for platform linux\/s390x \(has: linux\/amd64, linux\/arm64\)$/);
      assertEmpty(none);
    });
  }
});

// ---------------------------------------------------------------------------------------------
// strata's OCI export, read by skopeo and umoci

describe("strata save --format oci, read by skopeo and umoci", () => {
  test('skopeo inspect and copy take it, the copy loads back as the same image, umoci unpacks its files', () => {
    const root = path.join(dir, 'root-save');
    assert.equal(ok(['--root', root, 'load', '-i', archive]).stdout, 'Loaded image: demo/app:1\n', 'the docker archive loads');
    const [image] = images(root);
    const out = path.join(dir, 'O.tar');
    ok(['--root', root, 'save', 'demo/app:1', '--format', 'oci', '-o', out]);
    const layout = path.join(dir, 'O');
    fs.mkdirSync(layout);
    sh('tar', ['-xf', out, '-C', layout]);
    const index = readJson<Index>(path.join(layout, 'index.json'));
    assert.equal(index.manifests.length, 1, 'one descriptor');
    const desc = index.manifests[0]!;
    const tag = desc.annotations?.['org.opencontainers.image.ref.name'];
    assert.equal(tag, '1', 'the ref name is the tag');
    assert.equal(desc.annotations?.['io.containerd.image.name'], 'docker.io/demo/app:1', 'the full name');

    const info = JSON.parse(sh('skopeo', ['inspect', `oci-archive:${out}:${tag}`]).toString()) as { Digest: string; Layers: string[]; Os: string; Architecture: string };
    assert.equal(info.Digest, desc.digest, 'skopeo: the manifest digest');
    assert.deepEqual(info.Layers, image!.layers, 'skopeo: the layers (uncompressed, so their DiffIDs)');
    assert.equal(info.Os, 'linux', 'skopeo: os');
    const config = sh('skopeo', ['inspect', '--config', '--raw', `oci-archive:${out}:${tag}`]);
    assert.equal(sha256Of(config), image!.id, 'skopeo: the config is the image config, byte for byte');

    const copy = path.join(dir, 'O-copy');
    sh('skopeo', ['copy', '--quiet', `oci-archive:${out}:${tag}`, `oci:${copy}:x`]);
    const copied = onlyManifest(copy).manifest;
    assert.deepEqual(copied.layers.map((l) => l.mediaType), Array(3).fill(`${LAYER}+gzip`), 'skopeo gzipped the layers of the copy');
    assert.ok(!fs.existsSync(path.join(copy, 'manifest.json')), 'the copy is a plain OCI layout (no manifest.json)');
    const back = loadFresh(dir, ['-i', copy]);
    assert.equal(back.out, `Loaded image ID: ${image!.id}\n`, 'the copy loads as the same image ID (untagged: ref name x)');

    const bundle = path.join(dir, 'bundle');
    sh('umoci', ['unpack', '--image', `${layout}:${tag}`, bundle]);
    assert.deepEqual(tree(path.join(bundle, 'rootfs')), merged, "umoci's rootfs = the image's files");
  });
});

// ---------------------------------------------------------------------------------------------
// Bad layouts

describe('bad layouts: one line, exit 1, nothing registered', () => {
  test('index.json not JSON, a manifest that is an array, a config blob that does not match its digest', () => {
    const root = path.join(dir, 'root-bad');
    const good = gzipLayout();
    const copy = (name: string): string => {
      const d = path.join(dir, `bad-${name}`);
      sh('cp', ['-a', good, d]);
      return d;
    };

    const notJson = copy('index');
    fs.writeFileSync(path.join(notJson, 'index.json'), '{"schemaVersion":2,"manifests":[');
    fails(['--root', root, 'load', '-i', notJson], /^strata: invalid index\.json: /);

    const array = copy('array');
    const arrayDesc = putBlob(array, MANIFEST, '[{"config":{},"layers":[]}]');
    writeIndex(array, [arrayDesc]);
    fails(['--root', root, 'load', '-i', array], new RegExp(`^strata: invalid manifest ${arrayDesc.digest}: no config or layers$`));

    const badConfig = copy('config');
    const { manifest } = onlyManifest(badConfig);
    const cfg = blobPath(badConfig, manifest.config.digest);
    fs.writeFileSync(cfg, fs.readFileSync(cfg, 'utf8').replace('"os":"linux"', '"os":"LINUX"'));
    fails(['--root', root, 'load', '-i', badConfig], new RegExp(`^strata: config ${manifest.config.digest}: digest mismatch: the blob hashes to sha256:[0-9a-f]{64}$`));
    assertEmpty(root);
  });
});
