/**
 * A catalogue of hostile image archives for `strata load`, built in code.
 *
 * Where test/archive/hostile-tars.ts attacks the layer apply with bare layer tars, these cases
 * wrap attacks in whole archives — `docker save` tars (read in place, spooled from stdin, or
 * compressed), OCI image layouts as directories and OCI archives — and attack every level a load
 * goes through: the archive's own members (names, links, headers, compression), its JSON
 * (manifest.json, index.json, manifests, configs, references), and the layers inside (paths,
 * links, devices, collisions, header fields, decompression bombs), including a symlink left by a
 * lower layer of the same image.
 *
 * Each case says what it attacks and what `strata load` must do: fail with one line matching
 * `error`, or — for input that is odd but legitimate, which dockerd 20.10 accepts — load, with a
 * check of the result. hostile-archives.test.ts runs each through the real CLI on a fresh data
 * root and proves that nothing outside the data root changed and nothing was left registered.
 *
 * Paths outside the data root come from the ArchiveContext: a canary directory next to the data
 * root holding a secret and "naive targets" (a valid config, a valid layer tar) that a loader
 * following a hostile name out of the archive would find and use.
 *
 * The outcomes follow dockerd 20.10, checked by loading the same archives with `docker load`: it
 * refuses a layer with two entries of one name — a file twice, `./a` and `a`, a file and a
 * directory in either order — with tar-split's "duplicates of file paths not supported" (the
 * last one does not win); it creates device nodes, FIFOs, a 0:0 character device under an
 * ordinary name, and keeps setuid/setgid/sticky bits; it ignores unreferenced members, loads an
 * image listed twice (printing a line per entry), lets a later manifest.json replace an earlier
 * one, reads absolute member names inside the archive and writes absolute entry names inside the
 * layer; a name the config cannot reach (not UTF-8) is not found. Where strata differs it is
 * stricter on purpose: dockerd registers an image before it parses its RepoTags, so a bad tag
 * leaves an untagged image behind, where strata refuses the archive before registering anything;
 * dockerd has no decompression bound.
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { execFileSync } from 'node:child_process';
import { hostPlatform } from '../../src/engine/platform.js';
import { base256, dir, entry, hardlink, hostileCases, oct, paxHeader, rawBlock, symlink, tar, CANARY } from '../archive/hostile-tars.js';
import type { TarWriteHeader } from '../../src/archive/tar/index.js';
import { BLOCK, END_OF_ARCHIVE, contentPadding } from '../../src/archive/tar/index.js';

export { CANARY };

/** A regular file entry (content may be bytes). */
function file(name: string | Buffer, data: Buffer | string = 'pwned\n', extra: Partial<TarWriteHeader> = {}): Buffer {
  return entry({ name, type: '0', mode: 0o644, ...extra }, data);
}

export interface ArchiveContext {
  /** A directory outside the data root that must stay untouched (cases may plant files in it while building). */
  canaryDir: string;
  /** `canaryDir/secret`, a regular file. */
  canaryFile: string;
  /** Where a builder writes its archive or layout (outside the data root, not watched). */
  workDir: string;
}

/** What `strata load` is given. */
export type ArchiveInput = { file: string } | { dir: string } | { stdin: Buffer };

/** The data root after a successful load, for a case's check. */
export interface LoadedView {
  root: string;
  /** Images loaded, with their familiar tags. */
  images: { id: string; tags: string[]; layers: string[] }[];
  /** The files of a layer of the (first) image, by index: overlay2's `diff/`, vfs's whole tree. */
  layerDir(index: number): string;
  /** The tar the layer store gives back for a layer (`strata layer export`). */
  layerTar(index: number): Promise<Buffer>;
}

export type ArchiveExpectation =
  /** Exit 1 and exactly one stderr line matching `error` (and passing `checkLine`). */
  | { error: RegExp; checkLine?: (line: string) => void }
  /** Exit 0, stdout exactly these lines (a RegExp matches its line), then `check`. */
  | { loads: (string | RegExp)[]; check?: (v: LoadedView, ctx: ArchiveContext) => void | Promise<void> };

export interface ArchiveCase {
  name: string;
  /** What the archive tries, in one line. */
  about: string;
  /** Storage driver for the data root (default: what strata picks, overlay2 here). */
  driver?: 'vfs';
  build(ctx: ArchiveContext): ArchiveInput;
  expect: ArchiveExpectation;
}

// ---- layers ----------------------------------------------------------------------------------

export interface LayerBlob {
  /** The bytes stored in the archive (maybe compressed). */
  stored: Buffer;
  /** The uncompressed tar's digest, as the config names it. */
  diffId: string;
}

export function sha256(b: Buffer | string): string {
  return `sha256:${crypto.createHash('sha256').update(b).digest('hex')}`;
}

/** An uncompressed layer. */
export const plain = (t: Buffer): LayerBlob => ({ stored: t, diffId: sha256(t) });
/** A gzip-compressed layer. */
export const gzipped = (t: Buffer): LayerBlob => ({ stored: zlib.gzipSync(t), diffId: sha256(t) });

export function zstdOf(b: Buffer): Buffer {
  return execFileSync('zstd', ['-q', '-c', '-3'], { input: b, maxBuffer: 1 << 28 });
}

/** A small layer with ordinary content. */
export function benignTar(tag = 'benign'): Buffer {
  return tar(dir('etc/'), file('etc/motd', `${tag}\n`), file('bin/tool', '#!/bin/sh\necho hi\n', { mode: 0o755 }));
}

// ---- docker save archives ----------------------------------------------------------------------

/** An image config as dockerd writes one, for these DiffIDs. */
export function configFor(diffIds: string[]): Record<string, unknown> {
  return {
    architecture: hostPlatform().architecture,
    config: { Env: ['PATH=/usr/bin:/bin'], Cmd: ['/bin/sh'] },
    created: '2024-01-01T00:00:00Z',
    history: diffIds.map((_, i) => ({ created: '2024-01-01T00:00:00Z', created_by: `hostile layer ${i}` })),
    os: 'linux',
    rootfs: { type: 'layers', diff_ids: diffIds },
  };
}

export interface ImageSpec {
  layers: LayerBlob[];
  /** manifest.json RepoTags (any JSON value). Default `['hostile:1']`. */
  tags?: unknown;
  /** Rewrites the config object; or `configBytes` replaces it. */
  config?: (c: Record<string, unknown>) => unknown;
  configBytes?: Buffer;
}

export interface SaveSpec {
  images: ImageSpec[];
  /** Rewrites the manifest.json value; or `manifestBytes` replaces it. */
  manifest?: (m: Record<string, unknown>[]) => unknown;
  manifestBytes?: Buffer;
  /** More tar members (whole entries), written before manifest.json. */
  extra?: Buffer[];
  /** Prefix for every member name (e.g. '/' or './'). */
  prefix?: string;
}

function configMember(bytes: Buffer): string {
  return `${sha256(bytes).slice(7)}.json`;
}

function layerMember(l: LayerBlob, i: number): string {
  return `${sha256(Buffer.concat([Buffer.from(String(i)), Buffer.from(l.diffId)])).slice(7, 71)}/layer.tar`;
}

export function configBytesOf(img: ImageSpec): Buffer {
  if (img.configBytes) return img.configBytes;
  const c = configFor(img.layers.map((l) => l.diffId));
  return Buffer.from(JSON.stringify(img.config ? img.config(c) : c));
}

/** A `docker save` archive (dockerd 20.10's layout: `<v1>/layer.tar`, `<id>.json`, manifest.json). */
export function dockerSave(spec: SaveSpec): Buffer {
  const p = spec.prefix ?? '';
  const parts: Buffer[] = [];
  const manifest: Record<string, unknown>[] = [];
  const written = new Set<string>();
  for (const img of spec.images) {
    const configBytes = configBytesOf(img);
    const layers = img.layers.map((l, i) => layerMember(l, i));
    img.layers.forEach((l, i) => {
      const name = layers[i]!;
      if (written.has(name)) return;
      written.add(name);
      parts.push(dir(`${p}${path.posix.dirname(name)}/`), file(`${p}${path.posix.dirname(name)}/VERSION`, '1.0'), file(`${p}${name}`, l.stored));
    });
    const cfg = configMember(configBytes);
    if (!written.has(cfg)) parts.push(file(`${p}${cfg}`, configBytes));
    written.add(cfg);
    manifest.push({ Config: cfg, RepoTags: img.tags === undefined ? ['hostile:1'] : img.tags, Layers: layers });
  }
  parts.push(...(spec.extra ?? []));
  const m = spec.manifestBytes ?? Buffer.from(JSON.stringify(spec.manifest ? spec.manifest(manifest) : manifest) + '\n');
  parts.push(file(`${p}manifest.json`, m));
  return tar(...parts);
}

/** A one-image archive of these layers. */
export const saveOf = (...layers: LayerBlob[]): Buffer => dockerSave({ images: [{ layers }] });

/** Writes `bytes` as a file in the work dir and names it as the input. */
export function inFile(ctx: ArchiveContext, bytes: Buffer, name = 'archive.tar'): ArchiveInput {
  const f = path.join(ctx.workDir, name);
  fs.writeFileSync(f, bytes);
  return { file: f };
}

// ---- OCI image layouts -------------------------------------------------------------------------

export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
export const OCI_LAYER_GZIP = 'application/vnd.oci.image.layer.v1.tar+gzip';

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
  platform?: { os: string; architecture: string };
}

/** An OCI layout held as files (name → bytes), built up blob by blob and then edited by a case. */
export class Layout {
  readonly files = new Map<string, Buffer>([['oci-layout', Buffer.from('{"imageLayoutVersion":"1.0.0"}')]]);

  blob(bytes: Buffer | string, mediaType: string): Descriptor {
    const b = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes);
    const digest = sha256(b);
    this.files.set(`blobs/sha256/${digest.slice(7)}`, b);
    return { mediaType, digest, size: b.length };
  }

  json(value: unknown, mediaType: string): Descriptor {
    return this.blob(JSON.stringify(value), mediaType);
  }

  /** One image: config, layers and manifest blobs; returns the manifest's descriptor (not yet in index.json). */
  image(layers: LayerBlob[], opts: { config?: (c: Record<string, unknown>) => unknown; name?: string } = {}): Descriptor {
    const c = configFor(layers.map((l) => l.diffId));
    const config = this.json(opts.config ? opts.config(c) : c, OCI_CONFIG);
    const manifest = this.json({ schemaVersion: 2, mediaType: OCI_MANIFEST, config, layers: layers.map((l) => this.blob(l.stored, OCI_LAYER_GZIP)) }, OCI_MANIFEST);
    const name = opts.name ?? 'docker.io/library/hostile:1';
    return { ...manifest, annotations: { 'io.containerd.image.name': name, 'org.opencontainers.image.ref.name': name.replace(/^.*:/, '') } };
  }

  index(manifests: unknown[]): this {
    this.files.set('index.json', Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests })));
    return this;
  }

  /** The parsed JSON of a blob. */
  read(d: Descriptor): Record<string, unknown> {
    return JSON.parse(this.files.get(`blobs/sha256/${d.digest.slice(7)}`)!.toString()) as Record<string, unknown>;
  }

  /** The layout as a directory in the work dir. */
  asDir(ctx: ArchiveContext): ArchiveInput {
    const root = path.join(ctx.workDir, 'layout');
    for (const [name, bytes] of this.files) {
      fs.mkdirSync(path.dirname(path.join(root, name)), { recursive: true });
      fs.writeFileSync(path.join(root, name), bytes);
    }
    return { dir: root };
  }

  /** The layout as an OCI archive (a tar of the directory). */
  asTar(ctx: ArchiveContext): ArchiveInput {
    const names = [...this.files.keys()].sort();
    return inFile(ctx, tar(dir('blobs/'), dir('blobs/sha256/'), ...names.map((n) => file(n, this.files.get(n)!))), 'oci.tar');
  }
}

/** A one-image layout tagged `hostile:1`. */
function ociOf(layers: LayerBlob[], opts: { config?: (c: Record<string, unknown>) => unknown; name?: string } = {}): { layout: Layout; manifest: Descriptor } {
  const layout = new Layout();
  const manifest = layout.image(layers, opts);
  layout.index([manifest]);
  return { layout, manifest };
}

// ---- decompression bombs -------------------------------------------------------------------------

/** The header (PAX record included) of one regular file `zeros` of `size` bytes. */
function bigFileHeader(size: number): Buffer {
  return entry({ name: 'zeros', type: '0', mode: 0o644, size });
}

/** What each bomb claims: 8 GiB — many times the guard's floor, yet finite should the guard ever fail. */
const BOMB_SIZE = 8 * 1024 ** 3;
const BOMB_PIECES = BOMB_SIZE / (64 << 20);

/**
 * A gzip layer of 8 MiB holding an 8 GiB file of zeros: one gzip member with the file's header,
 * then the same member of 64 MiB of zeros 128 times (a multi-member gzip stream decodes to the
 * concatenation, as Go's gzip.Reader reads it).
 */
export function gzipBomb(): Buffer {
  const zeros = zlib.gzipSync(Buffer.alloc(64 << 20), { level: 9 });
  return Buffer.concat([zlib.gzipSync(bigFileHeader(BOMB_SIZE)), ...Array.from({ length: BOMB_PIECES }, () => zeros)]);
}

/** The same in zstd: a frame with the header, then 128 frames of 64 MiB of zeros (about 300 KiB in all). */
export function zstdBomb(): Buffer {
  const zeros = zstdOf(Buffer.alloc(64 << 20));
  return Buffer.concat([zstdOf(bigFileHeader(BOMB_SIZE)), ...Array.from({ length: BOMB_PIECES }, () => zeros)]);
}

// ---- checks ------------------------------------------------------------------------------------

function lstat(p: string): fs.Stats | undefined {
  return fs.lstatSync(p, { throwIfNoEntry: false });
}

function modeOf(p: string): number {
  const st = lstat(p);
  assert.ok(st, `${p} exists`);
  return st.mode & 0o7777;
}

/** The layer store gives back exactly the tar that was loaded (tar-split kept every byte). */
async function sameTar(v: LoadedView, index: number, expected: Buffer): Promise<void> {
  const got = await v.layerTar(index);
  assert.ok(got.equals(expected), `layer ${index}: the exported tar (${got.length} B) is the loaded one (${expected.length} B)`);
}

// ---- messages ----------------------------------------------------------------------------------

const HEX64 = '[0-9a-f]{64}';
const err = (re: RegExp): ArchiveExpectation => ({ error: re });
/** What loading a case's image (tagged `hostile:1`) prints. */
const LOADED = 'Loaded image: hostile:1';
const loaded = (check?: (v: LoadedView, ctx: ArchiveContext) => void | Promise<void>): ArchiveExpectation => ({ loads: [LOADED], ...(check ? { check } : {}) });
const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
/** The apply's breakout message: the entry, and the layer directory it would leave. */
const outside = (name: string) => new RegExp(`^strata: "${escape(name)}" is outside of "/.*/diff"$`);
const invalidLink = (kind: 'symlink' | 'hardlink', name: string, target: string) => new RegExp(`^strata: invalid ${kind} "${escape(name)}" -> "${escape(target)}"$`);
const cannotResolve = (name: string) => new RegExp(`^strata: cannot resolve "${name}": no such file or directory \\(ENOENT\\)$`);
const duplicate = (name: string) => new RegExp(`^strata: duplicates of file paths not supported: "${name}"$`);
const missing = (what: string) => new RegExp(`^strata: ${what} not found in (archive|the layout)$`);
const bombError = (format: string) => new RegExp(`^strata: ${format} data decompresses to more than 100 times its size \\((\\d+) bytes from (\\d+)\\): refused as a decompression bomb$`);

/**
 * A bomb stopped early: just past the 1 GiB floor (one output chunk of 1 MiB at most) with a few
 * MiB of input read — bounded work, whatever the machine's speed.
 */
function bomb(format: string): ArchiveExpectation {
  return {
    error: bombError(format),
    checkLine: (line) => {
      const [, out, read] = bombError(format).exec(line)!;
      assert.ok(Number(out) > 1024 ** 3 && Number(out) <= 1024 ** 3 + (1 << 20), `stopped just past 1 GiB of output: ${out}`);
      assert.ok(Number(read) <= 8 << 20, `after at most 8 MiB of input: ${read}`);
    },
  };
}

/** The foundation's hostile layer tar `name`, built against the canary. */
function foundation(name: string, ctx: ArchiveContext): Buffer {
  const c = hostileCases().find((x) => x.name === name);
  if (!c) throw new Error(`no foundation case ${name}`);
  return c.build({ outsideDir: ctx.canaryDir, outsideFile: ctx.canaryFile, targetName: 'diff' });
}

/** A chain of directory entries for an absolute host path, inside a layer. */
function dirChain(abs: string): Buffer[] {
  const parts = abs.split('/').filter(Boolean);
  return parts.map((_, i) => dir(parts.slice(0, i + 1).join('/') + '/'));
}

/** Plants a valid config and layer tar in the canary dir (what a loader escaping the archive would find). */
function plantNaiveTargets(ctx: ArchiveContext): { layer: LayerBlob; configBytes: Buffer } {
  const layer = plain(benignTar('planted'));
  const configBytes = Buffer.from(JSON.stringify(configFor([layer.diffId])));
  fs.writeFileSync(path.join(ctx.canaryDir, 'layer.tar'), layer.stored);
  fs.writeFileSync(path.join(ctx.canaryDir, 'config.json'), configBytes);
  return { layer, configBytes };
}


// ---- the catalogue -----------------------------------------------------------------------------

/** Every case, each distinct. */
export function archiveCases(): ArchiveCase[] {
  return [...jsonCases(), ...memberCases(), ...layerCases(), ...ociCases(), ...bombCases()];
}

/** manifest.json, configs and RepoTags of `docker save` archives. */
function jsonCases(): ArchiveCase[] {
  return [
    // ---- manifest.json ----
    {
      name: 'manifest-not-json',
      about: 'manifest.json is not JSON',
      build: (c) => inFile(c, dockerSave({ images: [{ layers: [plain(benignTar())] }], manifestBytes: Buffer.from('this is {not json\n') })),
      expect: err(/^strata: invalid manifest\.json: Unexpected token 'h', "this is \{not json\\n" is not valid JSON$/),
    },
    {
      name: 'manifest-object',
      about: 'manifest.json is an object, not an array',
      build: (c) => inFile(c, dockerSave({ images: [{ layers: [plain(benignTar())] }], manifest: (m) => m[0] })),
      expect: err(/^strata: invalid manifest\.json: expected an array of images$/),
    },
    {
      name: 'manifest-entry-not-object',
      about: 'manifest.json is an array of strings',
      build: (c) => inFile(c, dockerSave({ images: [{ layers: [plain(benignTar())] }], manifest: () => ['x.json'] })),
      expect: err(/^strata: invalid manifest\.json: an entry without a Config string$/),
    },
    {
      name: 'manifest-missing-config',
      about: 'a manifest entry without Config',
      build: (c) => inFile(c, dockerSave({ images: [{ layers: [plain(benignTar())] }], manifest: (m) => m.map(({ Config: _, ...rest }) => rest) })),
      expect: err(/^strata: invalid manifest\.json: an entry without a Config string$/),
    },
    {
      name: 'manifest-layers-not-array',
      about: 'Layers is a string',
      build: (c) => inFile(c, dockerSave({ images: [{ layers: [plain(benignTar())] }], manifest: (m) => m.map((e) => ({ ...e, Layers: (e.Layers as string[])[0] })) })),
      expect: err(/^strata: invalid manifest\.json Layers: expected an array of strings$/),
    },
    {
      name: 'manifest-missing-layer-member',
      about: 'Layers names a member the archive does not have',
      build: (c) => inFile(c, dockerSave({ images: [{ layers: [plain(benignTar())] }], manifest: (m) => m.map((e) => ({ ...e, Layers: ['feedface/layer.tar'] })) })),
      expect: err(missing('layer feedface/layer\\.tar')),
    },
    {
      name: 'manifest-missing-config-member',
      about: 'Config names a member the archive does not have',
      build: (c) => inFile(c, dockerSave({ images: [{ layers: [plain(benignTar())] }], manifest: (m) => m.map((e) => ({ ...e, Config: `${'ab'.repeat(32)}.json` })) })),
      expect: err(missing(`config ${'ab'.repeat(32)}\\.json`)),
    },
    {
      name: 'manifest-more-layers-than-diffids',
      about: 'Layers lists two members, the config one DiffID',
      build: (c) => {
        const a = plain(benignTar('a'));
        const b = plain(benignTar('b'));
        return inFile(c, dockerSave({ images: [{ layers: [a, b], config: (cfg) => ({ ...cfg, rootfs: { type: 'layers', diff_ids: [a.diffId] }, history: [] }) }] }));
      },
      expect: err(/^strata: invalid manifest, layers length mismatch: expected 2, got 1$/),
    },
    {
      name: 'manifest-fewer-layers-than-diffids',
      about: 'Layers lists one member, the config two DiffIDs',
      build: (c) => {
        const a = plain(benignTar('a'));
        return inFile(c, dockerSave({ images: [{ layers: [a], config: (cfg) => ({ ...cfg, rootfs: { type: 'layers', diff_ids: [a.diffId, a.diffId] }, history: [] }) }] }));
      },
      expect: err(/^strata: invalid manifest, layers length mismatch: expected 1, got 2$/),
    },
    {
      name: 'manifest-extra-unreferenced-blobs',
      about: 'members nothing references (a whole extra layer, a stray file): ignored, as dockerd does',
      build: (c) => {
        const stray = plain(benignTar('stray'));
        return inFile(c, dockerSave({ images: [{ layers: [plain(benignTar())] }], extra: [dir('stray/'), file('stray/layer.tar', stray.stored), file('README', 'hello\n')] }));
      },
      expect: loaded((v) => assert.equal(v.images.length, 1, 'one image')),
    },
    {
      name: 'manifest-duplicate-entries',
      about: 'the same image listed twice: loaded once, reported twice (dockerd prints a line per entry)',
      build: (c) => inFile(c, dockerSave({ images: [{ layers: [plain(benignTar())] }], manifest: (m) => [...m, ...m] })),
      expect: { loads: [LOADED, LOADED], check: (v) => assert.equal(v.images.length, 1, 'one image') },
    },
    {
      name: 'manifest-member-twice',
      about: 'manifest.json appears twice: the later member wins, as extraction would',
      build: (c) => {
        const l = plain(benignTar());
        const first = dockerSave({ images: [{ layers: [l], tags: ['first:1'] }] });
        const second = dockerSave({ images: [{ layers: [l], tags: ['second:1'] }] });
        // Everything of the first but its end marker, then the second.
        return inFile(c, Buffer.concat([first.subarray(0, first.length - END_OF_ARCHIVE.length), second]));
      },
      expect: { loads: ['Loaded image: second:1'], check: (v) => assert.deepEqual(v.images.map((i) => i.tags), [['second:1']]) },
    },
    {
      name: 'manifest-empty-array',
      about: 'manifest.json is []: nothing to load, as dockerd (no output, exit 0)',
      build: (c) => inFile(c, dockerSave({ images: [], manifest: () => [] })),
      expect: { loads: [], check: (v) => assert.equal(v.images.length, 0, 'no image') },
    },
    {
      name: 'manifest-parent-invalid',
      about: 'Parent is not a digest',
      build: (c) => inFile(c, dockerSave({ images: [{ layers: [plain(benignTar())] }], manifest: (m) => m.map((e) => ({ ...e, Parent: '../../etc' })) })),
      expect: err(/^strata: invalid manifest\.json: invalid Parent "\.\.\/\.\.\/etc"$/),
    },

    // ---- configs ----
    {
      name: 'config-not-json',
      about: 'the config member is not JSON',
      build: (c) => inFile(c, dockerSave({ images: [{ layers: [plain(benignTar())], configBytes: Buffer.from('x\n') }] })),
      expect: err(/^strata: invalid image JSON: Unexpected token 'x', "x\\n" is not valid JSON$/),
    },
    {
      name: 'config-is-string',
      about: 'the config is a JSON string',
      build: (c) => inFile(c, dockerSave({ images: [{ layers: [plain(benignTar())], configBytes: Buffer.from('"a config"') }] })),
      expect: err(/^strata: json: cannot unmarshal string into Go value of type image\.Image$/),
    },
    {
      name: 'config-is-array',
      about: 'the config is a JSON array',
      build: (c) => inFile(c, dockerSave({ images: [{ layers: [plain(benignTar())], configBytes: Buffer.from('[{"rootfs":{}}]') }] })),
      expect: err(/^strata: json: cannot unmarshal array into Go value of type image\.Image$/),
    },
    {
      name: 'config-diffids-malformed',
      about: 'rootfs.diff_ids holds sha256:zz',
      build: (c) => inFile(c, dockerSave({ images: [{ layers: [plain(benignTar())], config: (cfg) => ({ ...cfg, rootfs: { type: 'layers', diff_ids: ['sha256:zz'] } }) }] })),
      expect: err(/^strata: invalid digest "sha256:zz": the part after "sha256:" is not hex$/),
    },
    {
      name: 'config-diffids-traversal',
      about: 'rootfs.diff_ids holds sha256:../../../canary',
      build: (c) => inFile(c, dockerSave({ images: [{ layers: [plain(benignTar())], config: (cfg) => ({ ...cfg, rootfs: { type: 'layers', diff_ids: ['sha256:../../../canary'] } }) }] })),
      expect: err(/^strata: invalid digest "sha256:\.\.\/\.\.\/\.\.\/canary": the part after "sha256:" is not hex$/),
    },
    {
      name: 'config-no-rootfs',
      about: 'a config without rootfs',
      build: (c) => inFile(c, dockerSave({ images: [{ layers: [plain(benignTar())], config: ({ rootfs: _, ...cfg }) => cfg }] })),
      expect: err(/^strata: invalid image JSON, no RootFS key$/),
    },
    {
      name: 'config-diffids-not-array',
      about: 'rootfs.diff_ids is a string',
      build: (c) => inFile(c, dockerSave({ images: [{ layers: [plain(benignTar())], config: (cfg) => ({ ...cfg, rootfs: { type: 'layers', diff_ids: 'sha256:x' } }) }] })),
      expect: err(/^strata: json: cannot unmarshal string into Go struct field RootFS\.rootfs\.diff_ids of type \[\]layer\.DiffID$/),
    },
    {
      name: 'diffid-mismatch',
      about: 'a layer whose bytes do not hash to the config DiffID',
      build: (c) => inFile(c, saveOf({ stored: benignTar('actual'), diffId: sha256(benignTar('claimed')) })),
      expect: err(new RegExp(`^strata: invalid diffID for layer 0: expected "sha256:${HEX64}", got "sha256:${HEX64}"$`)),
    },

    // ---- RepoTags ----
    { name: 'tag-uppercase', about: 'RepoTags ["UPPER:tag"]', build: (c) => inFile(c, dockerSave({ images: [{ layers: [plain(benignTar())], tags: ['UPPER:tag'] }] })), expect: err(/^strata: invalid reference format: repository name must be lowercase$/) },
    { name: 'tag-two-colons', about: 'RepoTags ["a:b:c"]', build: (c) => inFile(c, dockerSave({ images: [{ layers: [plain(benignTar())], tags: ['a:b:c'] }] })), expect: err(/^strata: invalid reference format$/) },
    { name: 'tag-short-digest', about: 'RepoTags ["name@sha256:short"]', build: (c) => inFile(c, dockerSave({ images: [{ layers: [plain(benignTar())], tags: ['name@sha256:short'] }] })), expect: err(/^strata: invalid reference format$/) },
    {
      name: 'tag-digest-not-tag',
      about: 'RepoTags ["name@sha256:<64 hex>"]: a digest reference is not a tag',
      build: (c) => inFile(c, dockerSave({ images: [{ layers: [plain(benignTar())], tags: [`name@sha256:${'a'.repeat(64)}`] }] })),
      expect: err(/^strata: invalid tag "name@sha256:a{64}"$/),
    },
    { name: 'tag-empty', about: 'RepoTags [""]', build: (c) => inFile(c, dockerSave({ images: [{ layers: [plain(benignTar())], tags: [''] }] })), expect: err(/^strata: invalid reference format$/) },
    {
      name: 'tag-name-too-long',
      about: 'a 300-character repository name',
      build: (c) => inFile(c, dockerSave({ images: [{ layers: [plain(benignTar())], tags: [`${'a'.repeat(300)}:1`] }] })),
      expect: err(/^strata: repository name must not be more than 255 characters$/),
    },
    {
      name: 'tag-too-long',
      about: 'a 129-character tag',
      build: (c) => inFile(c, dockerSave({ images: [{ layers: [plain(benignTar())], tags: [`app:${'t'.repeat(129)}`] }] })),
      expect: err(/^strata: invalid reference format$/),
    },
    {
      name: 'tag-64-hex-name',
      about: 'a repository name of 64 hex digits and no tag (it would read as an image ID)',
      build: (c) => inFile(c, dockerSave({ images: [{ layers: [plain(benignTar())], tags: ['ab'.repeat(32)] }] })),
      expect: err(/^strata: invalid repository name \([0-9a-f]{64}\), cannot specify 64-byte hexadecimal strings$/),
    },
    {
      name: 'tag-64-hex-name-tagged',
      about: 'the same name with a tag: a valid reference for Go\'s parser, so it loads as dockerd loads it',
      build: (c) => inFile(c, dockerSave({ images: [{ layers: [plain(benignTar())], tags: [`${'ab'.repeat(32)}:1`] }] })),
      expect: { loads: [`Loaded image: ${'ab'.repeat(32)}:1`] },
    },
    {
      name: 'tag-not-string',
      about: 'RepoTags [42]',
      build: (c) => inFile(c, dockerSave({ images: [{ layers: [plain(benignTar())], tags: [42] }] })),
      expect: err(/^strata: invalid manifest\.json RepoTags: expected an array of strings$/),
    },
  ];
}

/** The archive's own members: names, links, headers and compression of the outer tar. */
function memberCases(): ArchiveCase[] {
  return [
    {
      name: 'member-dotdot',
      about: 'an archive member named ../../canary/pwned',
      build: (c) => inFile(c, dockerSave({ images: [{ layers: [plain(benignTar())] }], extra: [file('../../canary/pwned')] })),
      expect: err(/^strata: archive member \.\.\/\.\.\/canary\/pwned escapes the archive root$/),
    },
    {
      name: 'member-dotdot-stdin',
      about: 'the same archive piped in (spooled): refused before anything is written',
      build: () => ({ stdin: dockerSave({ images: [{ layers: [plain(benignTar())] }], extra: [file('../../../canary/pwned')] }) }),
      expect: err(/^strata: archive member \.\.\/\.\.\/\.\.\/canary\/pwned escapes the archive root$/),
    },
    {
      name: 'member-dotdot-deep',
      about: 'a member named with twenty ../ then the host canary name (would reach /)',
      build: (c) => inFile(c, dockerSave({ images: [{ layers: [plain(benignTar())] }], extra: [file(`${'../'.repeat(20)}${CANARY}`)] })),
      expect: err(new RegExp(`^strata: archive member (\\.\\./){20}${CANARY} escapes the archive root$`)),
    },
    {
      name: 'member-name-newline',
      about: 'Layers names a member with a newline and a fake second message line: the error stays one line',
      build: (c) => inFile(c, dockerSave({ images: [{ layers: [plain(benignTar())] }], manifest: (m) => m.map((e) => ({ ...e, Layers: ['x\nstrata: Loaded image: fake:1'] })) })),
      expect: err(/^strata: layer "x\\nstrata: Loaded image: fake:1" not found in archive$/),
    },
    {
      name: 'member-name-very-long',
      about: 'a member with a GNU long name of 2 MiB',
      build: (c) => {
        const name = Buffer.concat([Buffer.alloc(2 << 20, 0x61), Buffer.from([0])]);
        const longName = Buffer.concat([rawBlock({ name: '././@LongLink', type: 'L', size: oct(name.length, 12), magic: 'gnu' }), name, contentPadding(name.length)]);
        return inFile(c, Buffer.concat([file('hello', 'hi'), longName, rawBlock({ name: 'short', magic: 'gnu' }), dockerSave({ images: [{ layers: [plain(benignTar())] }] })]));
      },
      expect: err(/^strata: .*archive\.tar has an extended header of 2097153 bytes at offset 1024, which is too large$/),
    },
    {
      name: 'member-absolute-names',
      about: 'every member named from / (/manifest.json, …): read inside the archive, as docker load\'s untar does',
      build: (c) => inFile(c, dockerSave({ images: [{ layers: [plain(benignTar())] }], prefix: '/' })),
      expect: loaded(),
    },
    {
      name: 'layers-path-dotdot',
      about: 'Layers names ../../canary/layer.tar, where a valid layer waits outside',
      build: (c) => {
        const { layer } = plantNaiveTargets(c);
        return inFile(c, dockerSave({ images: [{ layers: [layer] }], manifest: (m) => m.map((e) => ({ ...e, Layers: ['../../canary/layer.tar'] })) }));
      },
      expect: err(missing('layer \\.\\./\\.\\./canary/layer\\.tar')),
    },
    {
      name: 'layers-path-absolute-host',
      about: 'Layers names the absolute host path of a valid layer tar',
      build: (c) => {
        const { layer } = plantNaiveTargets(c);
        return inFile(c, dockerSave({ images: [{ layers: [layer] }], manifest: (m) => m.map((e) => ({ ...e, Layers: [path.join(c.canaryDir, 'layer.tar')] })) }));
      },
      expect: err(missing('layer /.*/canary/layer\\.tar')),
    },
    {
      name: 'config-path-absolute-host',
      about: 'Config names the absolute host path of a valid config',
      build: (c) => {
        const { layer } = plantNaiveTargets(c);
        return inFile(c, dockerSave({ images: [{ layers: [layer] }], manifest: (m) => m.map((e) => ({ ...e, Config: path.join(c.canaryDir, 'config.json') })) }));
      },
      expect: err(missing('config /.*/canary/config\\.json')),
    },
    {
      name: 'layer-member-symlink-to-host',
      about: 'a layer.tar member that is a symlink to a valid layer tar on the host',
      build: (c) => {
        const { layer } = plantNaiveTargets(c);
        const save = dockerSave({ images: [{ layers: [layer] }], manifest: (m) => m.map((e) => ({ ...e, Layers: ['evil/layer.tar'] })), extra: [dir('evil/'), symlink('evil/layer.tar', path.join(c.canaryDir, 'layer.tar'))] });
        return inFile(c, save);
      },
      expect: err(missing('layer evil/layer\\.tar')),
    },
    {
      name: 'layer-member-symlink-dotdot',
      about: 'a layer.tar member that is a symlink ../../canary/layer.tar',
      build: (c) => {
        const { layer } = plantNaiveTargets(c);
        const save = dockerSave({ images: [{ layers: [layer] }], manifest: (m) => m.map((e) => ({ ...e, Layers: ['evil/layer.tar'] })), extra: [dir('evil/'), symlink('evil/layer.tar', '../../canary/layer.tar')] });
        return inFile(c, save);
      },
      expect: err(missing('layer evil/layer\\.tar')),
    },
    {
      name: 'layer-member-symlink-dir-escape',
      about: 'a member directory symlink up -> ../.., then Layers up/canary/layer.tar',
      build: (c) => {
        const { layer } = plantNaiveTargets(c);
        const save = dockerSave({ images: [{ layers: [layer] }], manifest: (m) => m.map((e) => ({ ...e, Layers: ['up/canary/layer.tar'] })), extra: [symlink('up', '../..')] });
        return inFile(c, save);
      },
      expect: err(missing('layer up/canary/layer\\.tar')),
    },
    {
      name: 'layer-member-hardlink-to-host',
      about: 'a layer.tar member that is a hardlink to a host path',
      build: (c) => {
        const { layer } = plantNaiveTargets(c);
        const save = dockerSave({ images: [{ layers: [layer] }], manifest: (m) => m.map((e) => ({ ...e, Layers: ['evil/layer.tar'] })), extra: [dir('evil/'), hardlink('evil/layer.tar', path.join(c.canaryDir, 'layer.tar'))] });
        return inFile(c, save);
      },
      expect: err(missing('layer evil/layer\\.tar')),
    },
    {
      name: 'member-name-nul',
      about: 'a PAX path record with a NUL byte in the member name',
      build: (c) => {
        const save = dockerSave({ images: [{ layers: [plain(benignTar())] }] });
        const evil = Buffer.concat([paxHeader({ path: 'manifest.json\0../../canary/x' }), rawBlock({ name: 'harmless', size: oct(2, 12) }), Buffer.from('[]'), contentPadding(2)]);
        return inFile(c, Buffer.concat([evil, save]));
      },
      expect: err(/^strata: .*archive\.tar has a corrupt PAX header at offset 0: invalid PAX record "path"$/),
    },
    {
      name: 'member-name-non-utf8',
      about: 'the config member is named with a byte that is not UTF-8; manifest.json can only name it as U+FFFD, which dockerd does not find',
      build: (c) => {
        const l = plain(benignTar());
        const configBytes = Buffer.from(JSON.stringify(configFor([l.diffId])));
        return inFile(c, dockerSave({ images: [{ layers: [l] }], manifest: (m) => m.map((e) => ({ ...e, Config: 'conf\ufffd.json' })), extra: [file(Buffer.from([0x63, 0x6f, 0x6e, 0x66, 0xff, 0x2e, 0x6a, 0x73, 0x6f, 0x6e]), configBytes)] }));
      },
      expect: err(missing('config conf\ufffd\\.json')),
    },
    {
      name: 'outer-bad-checksum',
      about: 'a header of the archive with a wrong checksum',
      build: (c) => {
        const save = dockerSave({ images: [{ layers: [plain(benignTar())] }] });
        const bad = Buffer.from(save);
        bad[BLOCK + 148] = bad[BLOCK + 148] === 0x30 ? 0x31 : 0x30; // the header of the member after the first directory
        return inFile(c, bad);
      },
      expect: err(/^strata: .*archive\.tar is not a valid tar archive: .*checksum/),
    },
    {
      name: 'outer-huge-size-truncated',
      about: 'a member claiming 8 GiB (octal 77777777777) with the archive ending after a few bytes',
      build: (c) => inFile(c, Buffer.concat([dockerSave({ images: [{ layers: [plain(benignTar())] }] }).subarray(0, -END_OF_ARCHIVE.length), rawBlock({ name: 'big', size: '77777777777\0' }), Buffer.alloc(4096)])),
      expect: err(/^strata: archive is truncated: big needs \d+ bytes past the end of .*archive\.tar$/),
    },
    {
      name: 'outer-base256-size-overflow',
      about: 'a member whose base-256 size is 2^80',
      build: (c) => inFile(c, Buffer.concat([file('hello', 'hi'), rawBlock({ name: 'big', size: base256(1n << 80n, 12) }), dockerSave({ images: [{ layers: [plain(benignTar())] }] })])),
      expect: err(/^strata: .*archive\.tar is not a valid tar archive: /),
    },
    {
      name: 'outer-negative-size',
      about: 'a member whose base-256 size is -1, after a valid one',
      build: (c) => inFile(c, Buffer.concat([file('hello', 'hi'), rawBlock({ name: 'neg', size: base256(-1n, 12) }), dockerSave({ images: [{ layers: [plain(benignTar())] }] })])),
      expect: err(/^strata: .*archive\.tar has a negative size in the header at offset 1024$/),
    },
    {
      name: 'outer-pax-size-overflow',
      about: 'a PAX size record of 99999999999999999999 for a member',
      build: (c) => inFile(c, Buffer.concat([file('hello', 'hi'), paxHeader({ size: '99999999999999999999' }), rawBlock({ name: 'big', size: oct(0, 12) }), dockerSave({ images: [{ layers: [plain(benignTar())] }] })])),
      expect: err(/^strata: .*archive\.tar is not a valid tar archive: PAX size value out of range$/),
    },
    {
      name: 'outer-gzip-truncated',
      about: 'a gzip-compressed archive cut short',
      build: (c) => {
        const gz = zlib.gzipSync(dockerSave({ images: [{ layers: [plain(benignTar())] }] }));
        return inFile(c, gz.subarray(0, gz.length - 40), 'archive.tar.gz');
      },
      expect: err(/^strata: gzip data is truncated$/),
    },
    {
      name: 'not-an-archive',
      about: 'neither manifest.json nor index.json: a plain layer tar given to load',
      build: (c) => inFile(c, benignTar()),
      expect: err(/^strata: no manifest\.json or index\.json in the archive/),
    },
  ];
}

/** The layers inside: paths, links, devices, modes, collisions and header fields. */
function layerCases(): ArchiveCase[] {
  return [
    {
      name: 'layer-entry-dotdot',
      about: 'a layer entry ../../../../canary/pwned (from diff/ up to the canary)',
      build: (c) => inFile(c, saveOf(plain(tar(dir('etc/'), file('../../../../canary/pwned'))))),
      expect: err(outside('../../../../canary/pwned')),
    },
    {
      name: 'layer-entry-dotdot-deep',
      about: 'a layer entry with twenty ../ then the host canary name (would reach /)',
      build: (c) => inFile(c, saveOf(plain(tar(file(`${'../'.repeat(20)}${CANARY}`))))),
      expect: err(outside(`${'../'.repeat(20)}${CANARY}`)),
    },
    {
      name: 'layer-entry-gnu-longname-dotdot',
      about: 'the foundation\'s GNU long name starting with ../',
      build: (c) => inFile(c, saveOf(plain(foundation('dotdot-gnu-longname', c)))),
      expect: err(outside(`../${'x'.repeat(150)}`)),
    },
    {
      name: 'layer-entry-absolute',
      about: 'a layer entry named by the canary\'s absolute path: it lands inside the layer, as moby\'s Join(dest, name)',
      build: (c) => inFile(c, saveOf(plain(tar(file(`${c.canaryDir}/pwned`, 'inside\n'))))),
      expect: loaded((v, c) => {
        const st = lstat(path.join(v.layerDir(0), c.canaryDir, 'pwned'));
        assert.ok(st?.isFile(), 'the file is inside the layer, under the host path');
      }),
    },
    {
      name: 'layer-symlink-then-write',
      about: 'evil -> <canary dir>, then evil/pwned in the same tar: resolved inside, where that path does not exist',
      build: (c) => inFile(c, saveOf(plain(tar(symlink('evil', c.canaryDir), file('evil/pwned'))))),
      expect: err(cannotResolve('evil/pwned')),
    },
    {
      name: 'layer-symlink-root-then-write',
      about: 'evil -> /, then evil/pwned: re-rooted at the layer',
      build: (c) => inFile(c, saveOf(plain(tar(symlink('evil', '/'), file('evil/pwned', 'inside\n'))))),
      expect: loaded((v) => {
        assert.ok(lstat(path.join(v.layerDir(0), 'pwned'))?.isFile(), 'pwned is at the layer root');
        assert.equal(fs.readlinkSync(path.join(v.layerDir(0), 'evil')), '/');
      }),
    },
    {
      name: 'layer-symlink-dotdot-target',
      about: 'a symlink ../../../../canary (moby\'s Join(Dir(name), target) climbs out)',
      build: (c) => inFile(c, saveOf(plain(tar(symlink('evil', '../../../../canary'))))),
      expect: err(invalidLink('symlink', 'evil', '../../../../canary')),
    },
    {
      name: 'lower-symlink-upper-write',
      about: 'layer 0: evil -> <canary dir>; layer 1: evil/pwned (overlay2: the upper layer is applied alone, evil/ is its own directory)',
      build: (c) => inFile(c, saveOf(plain(tar(symlink('evil', c.canaryDir))), plain(tar(file('evil/pwned', 'upper\n'))))),
      expect: loaded((v, c) => {
        assert.equal(fs.readlinkSync(path.join(v.layerDir(0), 'evil')), c.canaryDir);
        const st = lstat(path.join(v.layerDir(1), 'evil'));
        assert.ok(st?.isDirectory(), 'layer 1 holds a real directory evil/');
      }),
    },
    {
      name: 'lower-symlink-upper-write-vfs',
      about: 'the same on vfs, where layer 1 is applied over a copy of layer 0: the symlink is followed inside, to nothing',
      driver: 'vfs',
      build: (c) => inFile(c, saveOf(plain(tar(symlink('evil', c.canaryDir))), plain(tar(file('evil/pwned', 'upper\n'))))),
      expect: err(cannotResolve('evil/pwned')),
    },
    {
      name: 'lower-symlink-upper-write-vfs-precreated',
      about: 'vfs, with the canary path also created inside by layer 0: the write lands in <layer><canary dir>/pwned',
      driver: 'vfs',
      build: (c) => inFile(c, saveOf(plain(tar(...dirChain(c.canaryDir), symlink('evil', c.canaryDir))), plain(tar(file('evil/pwned', 'upper\n'))))),
      expect: loaded((v, c) => assert.ok(lstat(path.join(v.layerDir(1), c.canaryDir, 'pwned'))?.isFile(), 'written inside the layer')),
    },
    {
      name: 'lower-symlink-upper-hardlink',
      about: 'layer 0: evil -> <canary dir>; layer 1: h => evil/secret',
      build: (c) => inFile(c, saveOf(plain(tar(symlink('evil', c.canaryDir))), plain(tar(hardlink('h', 'evil/secret'))))),
      expect: err(cannotResolve('h')),
    },
    {
      name: 'layer-hardlink-dotdot',
      about: 'h => ../../../../canary/secret',
      build: (c) => inFile(c, saveOf(plain(tar(hardlink('h', '../../../../canary/secret'))))),
      expect: err(invalidLink('hardlink', 'h', '../../../../canary/secret')),
    },
    {
      name: 'layer-hardlink-absolute-host',
      about: 'h => <canary file>, an absolute host path: resolved inside the layer, where it does not exist',
      build: (c) => inFile(c, saveOf(plain(foundation('hardlink-absolute-host', c)))),
      expect: err(cannotResolve('h')),
    },
    {
      name: 'layer-hardlink-through-symlink',
      about: 'evil -> <canary dir>, then h => evil/secret in the same tar',
      build: (c) => inFile(c, saveOf(plain(foundation('hardlink-through-symlink', c)))),
      expect: err(cannotResolve('h')),
    },
    {
      name: 'layer-symlink-loop',
      about: 'the foundation\'s a -> b, b -> a, then a/x',
      build: (c) => inFile(c, saveOf(plain(foundation('symlink-loop-parent', c)))),
      expect: err(/^strata: cannot resolve "a\/x": too many levels of symbolic links$/),
    },
    {
      name: 'layer-whiteout-through-symlink',
      about: 'the foundation\'s evil -> <canary dir>, then evil/.wh.secret',
      build: (c) => inFile(c, saveOf(plain(foundation('whiteout-through-symlink', c)))),
      expect: err(cannotResolve('evil/\\.wh\\.secret')),
    },
    {
      name: 'layer-devices',
      about: 'char 1:3 and block 7:0 device nodes: dockerd as root creates them, and so does strata',
      build: (c) => {
        const t = tar(dir('dev/'), entry({ name: 'dev/null', type: '3', mode: 0o666, devmajor: 1, devminor: 3 }), entry({ name: 'dev/loop0', type: '4', mode: 0o660, devmajor: 7, devminor: 0 }));
        return inFile(c, saveOf(plain(t)));
      },
      expect: loaded(async (v) => {
        const nul = lstat(path.join(v.layerDir(0), 'dev/null'));
        const loop = lstat(path.join(v.layerDir(0), 'dev/loop0'));
        assert.ok(nul?.isCharacterDevice() && nul.rdev === ((1 << 8) | 3), 'dev/null is char 1:3');
        assert.ok(loop?.isBlockDevice() && loop.rdev === 7 << 8, 'dev/loop0 is block 7:0');
      }),
    },
    {
      name: 'layer-fifo',
      about: 'a FIFO',
      build: (c) => inFile(c, saveOf(plain(tar(entry({ name: 'run/pipe', type: '6', mode: 0o600 }))))),
      expect: loaded((v) => assert.ok(lstat(path.join(v.layerDir(0), 'run/pipe'))?.isFIFO(), 'a FIFO')),
    },
    {
      name: 'layer-char00-normal-name',
      about: 'a char device 0:0 named etc/motd: an overlay whiteout on disk (as with dockerd), the tar kept as loaded',
      build: (c) => {
        const t = tar(dir('etc/'), entry({ name: 'etc/motd', type: '3', mode: 0o644, devmajor: 0, devminor: 0 }));
        fs.writeFileSync(path.join(c.workDir, 'layer.tar'), t);
        return inFile(c, saveOf(plain(t)));
      },
      expect: loaded(async (v, c) => {
        const st = lstat(path.join(v.layerDir(0), 'etc/motd'));
        assert.ok(st?.isCharacterDevice() && st.rdev === 0, 'etc/motd is char 0:0');
        await sameTar(v, 0, fs.readFileSync(path.join(c.workDir, 'layer.tar')));
      }),
    },
    {
      name: 'layer-setuid-setgid-sticky',
      about: 'setuid/setgid files and sticky/setgid directories: kept, as dockerd keeps them',
      build: (c) => {
        const t = tar(dir('tmp/', { mode: 0o1777 }), dir('shared/', { mode: 0o2775, gid: 50 }), file('bin/su', 'su\n', { mode: 0o4755 }), file('bin/wall', 'wall\n', { mode: 0o2755, gid: 5 }), file('bin/both', 'x\n', { mode: 0o6711, uid: 1000, gid: 1000 }));
        return inFile(c, saveOf(plain(t)));
      },
      expect: loaded((v) => {
        const d = v.layerDir(0);
        assert.equal(modeOf(path.join(d, 'tmp')), 0o1777);
        assert.equal(modeOf(path.join(d, 'shared')), 0o2775);
        assert.equal(modeOf(path.join(d, 'bin/su')), 0o4755);
        assert.equal(modeOf(path.join(d, 'bin/wall')), 0o2755);
        assert.equal(modeOf(path.join(d, 'bin/both')), 0o6711);
        assert.equal(lstat(path.join(d, 'bin/both'))!.uid, 1000);
      }),
    },
    {
      name: 'layer-duplicate-file',
      about: 'the same file twice in one layer: dockerd refuses it (tar-split\'s packer)',
      build: (c) => inFile(c, saveOf(plain(tar(file('a', 'one\n'), file('a', 'two\n'))))),
      expect: err(duplicate('a')),
    },
    {
      name: 'layer-duplicate-dot-slash',
      about: './etc/motd and etc/motd in one layer',
      build: (c) => inFile(c, saveOf(plain(tar(dir('etc/'), file('./etc/motd', 'one\n'), file('etc/motd', 'two\n'))))),
      expect: err(duplicate('etc/motd')),
    },
    {
      name: 'layer-file-then-dir',
      about: 'a (file), then a/ (directory)',
      build: (c) => inFile(c, saveOf(plain(tar(file('a'), dir('a/'))))),
      expect: err(duplicate('a/?')),
    },
    {
      name: 'layer-dir-then-file',
      about: 'a/ (directory) with a child, then a (file)',
      build: (c) => inFile(c, saveOf(plain(tar(dir('a/'), file('a/child'), file('a'))))),
      expect: err(duplicate('a')),
    },
    {
      name: 'layer-file-then-child',
      about: 'a (file), then a/b',
      build: (c) => inFile(c, saveOf(plain(tar(file('a'), file('a/b'))))),
      expect: err(/^strata: cannot resolve "a\/b": not a directory \(ENOTDIR\)$/),
    },
    {
      name: 'layer-huge-size-truncated',
      about: 'an entry claiming 8 GiB (octal 77777777777) in a layer that ends after 4 KiB',
      build: (c) => inFile(c, saveOf(plain(Buffer.concat([rawBlock({ name: 'big', size: '77777777777\0' }), Buffer.alloc(4096, 0x61)])))),
      expect: err(/^strata: .*truncated/),
    },
    {
      name: 'layer-base256-size-overflow',
      about: 'a layer entry whose base-256 size is 2^80',
      build: (c) => inFile(c, saveOf(plain(tar(rawBlock({ name: 'a', size: base256(1n << 80n, 12) }))))),
      expect: err(/^strata: tar: /),
    },
    {
      name: 'layer-negative-size',
      about: 'a layer entry whose base-256 size is -1',
      build: (c) => inFile(c, saveOf(plain(tar(file('ok'), rawBlock({ name: 'a', size: base256(-1n, 12) }))))),
      expect: err(/^strata: tar: /),
    },
    {
      name: 'layer-invalid-octal-size',
      about: 'a layer entry with size field 0000000009x',
      build: (c) => inFile(c, saveOf(plain(tar(rawBlock({ name: 'a', size: '0000000009x\0' }))))),
      expect: err(/^strata: tar: /),
    },
    {
      name: 'layer-pax-size-overflow',
      about: 'a PAX size record of 99999999999999999999 in a layer',
      build: (c) => inFile(c, saveOf(plain(tar(paxHeader({ size: '99999999999999999999' }), rawBlock({ name: 'a', size: oct(0, 12) }))))),
      expect: err(/^strata: tar: /),
    },
    {
      name: 'layer-bad-checksum',
      about: 'a layer header whose checksum is off by one',
      build: (c) => inFile(c, saveOf(plain(foundation('bad-checksum', c)))),
      expect: err(/^strata: tar: .*checksum/),
    },
    {
      name: 'layer-not-a-tar',
      about: 'layer.tar holds text',
      build: (c) => inFile(c, saveOf(plain(Buffer.from('this is not a tar\n'.repeat(64))))),
      expect: err(/^strata: tar: /),
    },
    {
      name: 'layer-corrupt-gzip',
      about: 'a gzip layer whose CRC-32 trailer is wrong',
      build: (c) => {
        const t = benignTar();
        const gz = zlib.gzipSync(t);
        gz[gz.length - 8] = gz[gz.length - 8]! ^ 0xff;
        return inFile(c, saveOf({ stored: gz, diffId: sha256(t) }));
      },
      expect: err(/^strata: gzip data is corrupt: incorrect data check$/),
    },
  ];
}

/** Edits the JSON of blob `d` in place and returns its new descriptor (the old blob stays, unreferenced). */
function rewrite(layout: Layout, d: Descriptor, edit: (doc: Record<string, unknown>) => unknown): Descriptor {
  const nd = layout.json(edit(layout.read(d)), d.mediaType);
  return { ...d, digest: nd.digest, size: nd.size };
}

/** OCI image layouts: index.json, manifests, descriptors, configs, names. */
function ociCases(): ArchiveCase[] {
  const layer = () => gzipped(benignTar('oci'));
  return [
    {
      name: 'oci-layout-dir-loads',
      about: 'control: a well-formed OCI layout directory with a gzip layer loads',
      build: (c) => ociOf([layer()]).layout.asDir(c),
      expect: loaded(async (v) => {
        assert.equal(v.images.length, 1, 'one image');
        await sameTar(v, 0, benignTar('oci'));
      }),
    },
    {
      name: 'oci-index-not-json',
      about: 'index.json is not JSON',
      build: (c) => {
        const { layout } = ociOf([layer()]);
        layout.files.set('index.json', Buffer.from('{"manifests": ['));
        return layout.asTar(c);
      },
      expect: err(/^strata: invalid index\.json: /),
    },
    {
      name: 'oci-index-not-index',
      about: 'index.json is an array',
      build: (c) => {
        const { layout, manifest } = ociOf([layer()]);
        layout.files.set('index.json', Buffer.from(JSON.stringify([manifest])));
        return layout.asTar(c);
      },
      expect: err(/^strata: invalid index\.json: no manifests array$/),
    },
    {
      name: 'oci-manifest-digest-wrong',
      about: 'the manifest blob\'s bytes do not hash to the digest it is stored and named under',
      build: (c) => {
        const { layout, manifest } = ociOf([layer()]);
        const name = `blobs/sha256/${manifest.digest.slice(7)}`;
        const doc = layout.read(manifest);
        layout.files.set(name, Buffer.from(JSON.stringify({ ...doc, annotations: { evil: 'x' } }).padEnd(manifest.size, ' ').slice(0, manifest.size)));
        return layout.asDir(c);
      },
      expect: err(new RegExp(`^strata: manifest sha256:${HEX64}: digest mismatch: the blob hashes to sha256:${HEX64}$`)),
    },
    {
      name: 'oci-layer-size-mismatch',
      about: 'a layer descriptor whose size is one byte short (checked while the layer is read, then released)',
      build: (c) => {
        const layout = new Layout();
        const m = layout.image([layer()]);
        const fixed = rewrite(layout, m, (doc) => ({ ...doc, layers: (doc.layers as Descriptor[]).map((l) => ({ ...l, size: l.size - 1 })) }));
        return layout.index([fixed]).asTar(c);
      },
      expect: err(new RegExp(`^strata: blob sha256:${HEX64} \\(layer 0\\): size mismatch: expected \\d+ bytes, got \\d+$`)),
    },
    {
      name: 'oci-layer-digest-mismatch',
      about: 'a layer blob replaced by another gzip of the same tar (same DiffID, wrong blob digest)',
      build: (c) => {
        const { layout } = ociOf([layer()]);
        const l = layer();
        layout.files.set(`blobs/sha256/${sha256(l.stored).slice(7)}`, zlib.gzipSync(benignTar('oci'), { level: 1 }));
        return layout.asDir(c);
      },
      expect: err(new RegExp(`^strata: blob sha256:${HEX64} \\(layer 0\\): digest mismatch: the blob hashes to sha256:${HEX64}$`)),
    },
    {
      name: 'oci-unknown-media-type',
      about: 'the only index entry has an unknown mediaType: nothing loadable',
      build: (c) => {
        const layout = new Layout();
        const m = layout.image([layer()]);
        return layout.index([{ ...m, mediaType: 'application/vnd.evil.thing+json' }]).asTar(c);
      },
      expect: err(/^strata: index\.json lists no image manifest to load \(media types: "application\/vnd\.evil\.thing\+json"\)$/),
    },
    {
      name: 'oci-index-nested-too-deep',
      about: 'an index nested in an index, six deep',
      build: (c) => {
        const layout = new Layout();
        let d: Descriptor = layout.image([layer()]);
        for (let i = 0; i < 6; i++) d = layout.json({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [d] }, OCI_INDEX);
        return layout.index([d]).asTar(c);
      },
      expect: err(/^strata: invalid index: indexes nested too deep$/),
    },
    {
      name: 'oci-index-cycle',
      about: 'a nested index that lists itself (stored under its own name, so its bytes cannot hash to it)',
      build: (c) => {
        const layout = new Layout();
        const self = `sha256:${'c'.repeat(64)}`;
        const body = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [{ mediaType: OCI_INDEX, digest: self, size: 0 }] }));
        const fixedSize = JSON.parse(body.toString()) as { manifests: Descriptor[] };
        fixedSize.manifests[0]!.size = body.length + String(body.length).length - 1;
        const bytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: fixedSize.manifests }));
        layout.files.set(`blobs/sha256/${'c'.repeat(64)}`, bytes);
        return layout.index([{ mediaType: OCI_INDEX, digest: self, size: bytes.length }]).asTar(c);
      },
      expect: err(new RegExp(`^strata: index sha256:c{64}: digest mismatch: the blob hashes to sha256:${HEX64}$`)),
    },
    {
      name: 'oci-digest-bad-algorithm',
      about: 'a descriptor digest md5:…',
      build: (c) => {
        const { layout, manifest } = ociOf([layer()]);
        return layout.index([{ ...manifest, digest: `md5:${'a'.repeat(32)}` }]).asTar(c);
      },
      expect: err(/^strata: invalid index\.json: unsupported digest "md5:a{32}"$/),
    },
    {
      name: 'oci-digest-traversal',
      about: 'a descriptor digest sha256:../../../canary/blob',
      build: (c) => {
        const { layout, manifest } = ociOf([layer()]);
        return layout.index([{ ...manifest, digest: 'sha256:../../../canary/blob' }]).asDir(c);
      },
      expect: err(/^strata: invalid index\.json: unsupported digest "sha256:\.\.\/\.\.\/\.\.\/canary\/blob"$/),
    },
    {
      name: 'oci-digest-bad-hex',
      about: 'a layer descriptor digest with uppercase, short hex',
      build: (c) => {
        const layout = new Layout();
        const m = layout.image([layer()]);
        const fixed = rewrite(layout, m, (doc) => ({ ...doc, layers: [{ ...(doc.layers as Descriptor[])[0], digest: 'sha256:ABCDEF' }] }));
        return layout.index([fixed]).asTar(c);
      },
      expect: err(new RegExp(`^strata: invalid manifest sha256:${HEX64} layers: unsupported digest "sha256:ABCDEF"$`)),
    },
    {
      name: 'oci-config-is-string',
      about: 'the config blob is a JSON string',
      build: (c) => ociOf([layer()], { config: () => 'a config' }).layout.asTar(c),
      expect: err(/^strata: json: cannot unmarshal string into Go value of type image\.Image$/),
    },
    {
      name: 'oci-config-is-array',
      about: 'the config blob is a JSON array',
      build: (c) => ociOf([layer()], { config: (cfg) => [cfg] }).layout.asTar(c),
      expect: err(/^strata: json: cannot unmarshal array into Go value of type image\.Image$/),
    },
    {
      name: 'oci-diffids-malformed',
      about: 'the config\'s diff_ids hold a digest of the wrong length',
      build: (c) => ociOf([layer()], { config: (cfg) => ({ ...cfg, rootfs: { type: 'layers', diff_ids: [`sha256:${'a'.repeat(63)}`] } }) }).layout.asTar(c),
      expect: err(/^strata: invalid digest "sha256:a{63}"/),
    },
    {
      name: 'oci-image-name-invalid',
      about: 'io.containerd.image.name "UPPER:tag"',
      build: (c) => ociOf([layer()], { name: 'UPPER:tag' }).layout.asTar(c),
      expect: err(/^strata: invalid reference format: repository name must be lowercase$/),
    },
    {
      name: 'oci-ref-name-invalid',
      about: 'only org.opencontainers.image.ref.name, and it is not a reference ("a b/c:d e"): the image loads untagged',
      build: (c) => {
        const { layout, manifest } = ociOf([layer()]);
        return layout.index([{ ...manifest, annotations: { 'org.opencontainers.image.ref.name': 'a b/c:d e' } }]).asTar(c);
      },
      expect: { loads: [new RegExp(`^Loaded image ID: sha256:${HEX64}$`)], check: (v) => assert.deepEqual(v.images.map((i) => i.tags), [[]]) },
    },
    {
      name: 'oci-blob-symlink-outside',
      about: 'in a layout directory, the layer blob is a symlink to the same bytes outside the layout',
      build: (c) => {
        const l = layer();
        const input = ociOf([l]).layout.asDir(c) as { dir: string };
        const blob = path.join(input.dir, 'blobs/sha256', sha256(l.stored).slice(7));
        fs.writeFileSync(path.join(c.canaryDir, 'blob'), l.stored);
        fs.rmSync(blob);
        fs.symlinkSync(path.join(c.canaryDir, 'blob'), blob);
        return input;
      },
      expect: err(new RegExp(`^strata: blob sha256:${HEX64} \\(layer 0\\) not found in the layout$`)),
    },
    {
      name: 'oci-blob-fifo',
      about: 'in a layout directory, the layer blob is a FIFO (a naive reader would wait forever)',
      build: (c) => {
        const l = layer();
        const input = ociOf([l]).layout.asDir(c) as { dir: string };
        const blob = path.join(input.dir, 'blobs/sha256', sha256(l.stored).slice(7));
        fs.rmSync(blob);
        execFileSync('mkfifo', [blob]);
        return input;
      },
      expect: err(new RegExp(`^strata: blob sha256:${HEX64} \\(layer 0\\) not found in the layout$`)),
    },
    {
      name: 'oci-manifest-huge-size',
      about: 'the index says the manifest is 2^53 bytes',
      build: (c) => {
        const { layout, manifest } = ociOf([layer()]);
        return layout.index([{ ...manifest, size: 2 ** 53 }]).asTar(c);
      },
      expect: err(new RegExp(`^strata: manifest sha256:${HEX64}: size mismatch: expected 9007199254740992 bytes, got \\d+$`)),
    },
  ];
}

/** Decompression bombs: each must stop early, in bounded time and disk, with a clear error. */
function bombCases(): ArchiveCase[] {
  return [
    {
      name: 'bomb-gzip-layer',
      about: 'a docker-save layer of 8 MiB of gzip holding an 8 GiB file of zeros',
      build: (c) => inFile(c, saveOf({ stored: gzipBomb(), diffId: sha256('never computed') })),
      expect: bomb('gzip'),
    },
    {
      name: 'bomb-zstd-oci-blob',
      about: 'an OCI layer blob of 300 KiB of zstd holding an 8 GiB file of zeros',
      build: (c) => {
        const layout = new Layout();
        const bomb = zstdBomb();
        return layout.index([layout.image([{ stored: bomb, diffId: sha256('never computed') }])]).asTar(c);
      },
      expect: bomb('zstd'),
    },
    {
      name: 'bomb-gzip-archive',
      about: 'a gzip-compressed archive (spooled) whose tar is followed by 8 GiB of zeros',
      build: (c) => {
        const zeros = zlib.gzipSync(Buffer.alloc(64 << 20), { level: 9 });
        const head = zlib.gzipSync(dockerSave({ images: [{ layers: [plain(benignTar())] }] }));
        return inFile(c, Buffer.concat([head, ...Array.from({ length: BOMB_PIECES }, () => zeros)]), 'archive.tar.gz');
      },
      expect: bomb('gzip'),
    },
  ];
}
