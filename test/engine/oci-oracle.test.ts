/**
 * OCI image layouts end to end through the `strata` CLI, against the tools that make and read them:
 *
 * - skopeo 1.9 makes the layouts strata loads: `skopeo copy docker-archive:A.tar oci:L:TAG` (gzip
 *   layers by default; zstd with `--dest-compress-format zstd`; uncompressed with
 *   `--dest-oci-accept-uncompressed-layers`) and `oci-archive:L.tar:TAG`, read as a layout
 *   directory, a tar file and a tar on stdin. skopeo rewrites the docker config as an OCI config,
 *   so the image ID is the layout's config digest; the DiffIDs are the docker archive's, and
 *   `strata export` gives the source directories' files byte for byte. A bare ref name (`mytag`)
 *   loads untagged (`Loaded image ID: …`); full ref names (`example.com/app:1`) become tags.
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

/** Nothing registered: no images, no layers. */
function assertEmpty(root: string): void {
  assert.deepEqual(images(root), [], 'no images');
  assert.deepEqual(JSON.parse(ok(['--root', root, '--json', 'layer', 'ls']).stdout), [], 'no layers');
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

/** Loads into a fresh root; returns the root, what load printed and the one image. */
let roots = 0;
function loadFresh(dir: string, args: string[], input?: Buffer): { root: string; out: string; image: ImageJson } {
  const root = path.join(dir, `root-${++roots}`);
  const out = ok(['--root', root, 'load', ...args], input).stdout;
  const list = images(root);
  assert.equal(list.length, 1, `one image after load ${args.join(' ')}: ${JSON.stringify(list)}`);
  return { root, out, image: list[0]! };
}

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

describe('layouts made by skopeo copy load', () => {
  test('oci:L:mytag (gzip layers): untagged, ID = the layout config digest, DiffIDs and files of the source', () => {
    const layout = path.join(dir, 'L');
    sh('skopeo', ['copy', '--quiet', `docker-archive:${archive}`, `oci:${layout}:mytag`]);
    const { desc, manifest } = onlyManifest(layout);
    assert.deepEqual(desc.annotations, { 'org.opencontainers.image.ref.name': 'mytag' }, 'skopeo writes a bare ref name');
    assert.deepEqual(manifest.layers.map((l) => l.mediaType), Array(3).fill(`${LAYER}+gzip`), 'skopeo gzips the layers');
    const { root, out, image } = loadFresh(dir, ['-i', layout]);
    assert.equal(out, `Loaded image ID: ${manifest.config.digest}\n`, 'a bare ref name is not an image name');
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
    assert.deepEqual(fromFile.image.layers, dockerConfig.rootfs.diff_ids, 'file: DiffIDs');
    const fromStdin = loadFresh(dir, [], fs.readFileSync(file));
    assert.equal(fromStdin.out, `Loaded image ID: ${manifest.config.digest}\n`, 'stdin: untagged, the config digest');
    assert.deepEqual(fromStdin.image.layers, dockerConfig.rootfs.diff_ids, 'stdin: DiffIDs');
    assert.deepEqual(exported(fromStdin.root, fromStdin.image.id, dir), merged, 'stdin: export = the source directories');
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
    const { root, out, image } = loadFresh(dir, ['-i', layout]);
    assert.equal(out, 'Loaded image: example.com/app:1\nLoaded image: demo/app:2\n', 'load output');
    assert.deepEqual(image.repoTags, ['example.com/app:1', 'demo/app:2'], 'tagged with the full names');
    assert.deepEqual(image.layers, dockerConfig.rootfs.diff_ids, 'DiffIDs');
    // Loading again moves nothing and adds nothing.
    assert.equal(ok(['--root', root, 'load', '-i', layout]).stdout, out, 'reload prints the same');
    assert.equal(images(root).length, 1, 'still one image');
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
  test('skopeo --dest-compress-format zstd, and uncompressed layers: same image ID, DiffIDs and files as gzip', () => {
    const gz = onlyManifest(path.join(dir, 'L')).manifest; // from the first test
    for (const [name, flags, mediaType, magic] of [
      ['zstd', ['--dest-compress-format', 'zstd'], `${LAYER}+zstd`, '28b52ffd'],
      ['plain', ['--dest-oci-accept-uncompressed-layers'], LAYER, undefined],
    ] as const) {
      const layout = path.join(dir, `L-${name}`);
      sh('skopeo', ['copy', '--quiet', ...flags, `docker-archive:${archive}`, `oci:${layout}:${name}`]);
      const { manifest } = onlyManifest(layout);
      assert.deepEqual(manifest.layers.map((l) => l.mediaType), Array(3).fill(mediaType), `${name}: layer media types`);
      for (const l of manifest.layers) {
        const head = fs.readFileSync(blobPath(layout, l.digest)).subarray(0, 4).toString('hex');
        if (magic) assert.equal(head, magic, `${name}: ${l.digest} is a zstd frame`);
        else assert.ok(dockerConfig.rootfs.diff_ids.includes(l.digest), `${name}: an uncompressed blob's digest is its DiffID (${l.digest})`);
      }
      assert.equal(manifest.config.digest, gz.config.digest, `${name}: the same config as the gzip layout`);
      const { root, out, image } = loadFresh(dir, ['-i', layout]);
      assert.equal(out, `Loaded image ID: ${gz.config.digest}\n`, `${name}: load output`);
      assert.deepEqual(image.layers, dockerConfig.rootfs.diff_ids, `${name}: DiffIDs`);
      assert.deepEqual(exported(root, image.id, dir), merged, `${name}: export = the source directories`);
    }
  });

  test('by hand, one manifest mixing pigz, the zstd CLI and no compression: same image', () => {
    const layout = path.join(dir, 'L-mixed');
    recompress(path.join(dir, 'L'), layout, (i, tar) =>
      i === 0
        ? { bytes: sh('pigz', ['-c', '-9'], { input: tar }), mediaType: `${LAYER}+gzip` }
        : i === 1
          ? { bytes: sh('zstd', ['-c', '-q', '-19'], { input: tar }), mediaType: `${LAYER}+zstd` }
          : { bytes: tar, mediaType: LAYER },
    );
    const { manifest } = onlyManifest(layout);
    assert.equal(manifest.layers[1]!.mediaType, `${LAYER}+zstd`, 'the middle layer is zstd');
    const { root, out, image } = loadFresh(dir, ['-i', layout]);
    assert.equal(out, `Loaded image ID: ${manifest.config.digest}\n`, 'load output');
    assert.deepEqual(image.layers, dockerConfig.rootfs.diff_ids, 'DiffIDs');
    assert.deepEqual(exported(root, image.id, dir), merged, 'export = the source directories');
  });
});

// ---------------------------------------------------------------------------------------------
// Multi-platform

describe('multi-platform indexes', () => {
  const HOST = ({ x64: 'amd64', arm64: 'arm64' } as Record<string, string>)[process.arch];
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

  /** Loads `layout` (with `args`), checks it is `arch`'s image under `tag`, and its files. */
  function loadsArch(layout: string, args: string[], arch: Arch, tag: string): void {
    const { root, out, image } = loadFresh(dir, ['-i', layout, ...args]);
    const what = `${path.basename(layout)} ${args.join(' ') || '(host)'}`;
    assert.equal(out, `Loaded image: ${tag}\n`, `${what}: load output`);
    assert.equal(image.id, ids[arch], `${what}: the ${arch} image`);
    assert.deepEqual(image.repoTags, [tag], `${what}: tagged`);
    const files = Object.fromEntries(Object.entries(exported(root, image.id, dir)).filter(([, v]) => v.startsWith('file ')));
    const want = Object.fromEntries(Object.entries(spec[arch].files).map(([p, c]) => [p, `file 644 ${Buffer.from(c).toString('base64')}`]));
    assert.deepEqual(files, want, `${what}: the ${arch} image's files (a whiteout deleted etc/gone in arm64)`);
  }

  for (const kind of ['flat', 'nested'] as const) {
    test(`${kind} index: the host's platform by default, --platform picks, a missing platform fails cleanly`, () => {
      const layout = kind === 'flat' ? flat : nested;
      const tag = kind === 'flat' ? 'example.com/multi:1' : 'example.com/nested:1';
      if (HOST === 'amd64' || HOST === 'arm64') loadsArch(layout, [], HOST, tag);
      else fails(['--root', path.join(dir, `root-host-${kind}`), 'load', '-i', layout], /^strata: no image for platform linux\//);
      loadsArch(layout, ['--platform', 'linux/amd64'], 'amd64', tag);
      loadsArch(layout, ['--platform', 'linux/arm64'], 'arm64', tag);
      loadsArch(layout, ['--platform', 'linux/arm64/v8'], 'arm64', tag);
      const root = path.join(dir, `root-none-${kind}`);
      ok(['--root', root, 'df']); // makes the data root
      fails(['--root', root, 'load', '-i', layout, '--platform', 'linux/s390x'], /^strata: no image for platform linux\/s390x \(has: linux\/amd64, linux\/arm64\)$/);
      fails(['--root', root, 'load', '-i', layout, '--platform', 'windows/amd64'], /^strata: no image for platform windows\/amd64 /);
      assertEmpty(root);
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
    assert.deepEqual(back.image.layers, image!.layers, 'the copy: same DiffIDs');

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
    ok(['--root', root, 'df']); // makes the data root
    const good = path.join(dir, 'L');
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
