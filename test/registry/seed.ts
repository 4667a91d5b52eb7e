/**
 * Putting known images into a test registry, and reading them back, with the tools strata is
 * compared against (skopeo, GNU tar), plus an async runner for the `strata` CLI (pulls that a
 * test interrupts or races against faults).
 *
 *   const img = await buildImage(dir, 'seed/app:1', [{ 'etc/motd': 'hi\n' }, { 'app/x': big }]);
 *   // img.archive: a `docker save` archive (the engine's imageArchive); img.id, img.diffIds, img.chainIds
 *   const digest = await pushArchive(img.archive, target(reg), 'seed/app:1');   // skopeo copy → manifest digest
 *   await skopeoInspect(target(reg), 'seed/app:1')       // { Digest, Layers, … }
 *   const multi = multiPlatformLayout(dir, [{ architecture: 'amd64', layers: […] }, { architecture: 'arm64', … }]);
 *   await pushLayout(multi.layout, multi.refName, target(reg), 'seed/multi:1', { all: true });
 *
 * A `Target` is how skopeo reaches a registry (or the fault proxy in front of one): its host,
 * whether it is TLS (then verified against the registry's own certificate), and its credentials.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { pipeline } from 'node:stream/promises';
import { imageArchive } from '../../src/engine/build.js';
import { chainIds, sha256Of, type Digest } from '../../src/digest/index.js';
import { imageId, marshalImageConfig, newContainerConfig, newHistoryEntry, newImageConfig } from '../../src/image/config.js';
import { makeTar, sh } from '../helpers/tmp.js';
import type { Registry } from './registry.js';

/** How skopeo (and the tests) reach a registry. */
export interface Target {
  host: string;
  tls: boolean;
  /** A directory holding the registry's `ca.crt` (skopeo's `--*-cert-dir`). */
  certDir?: string;
  username?: string;
  password?: string;
}

/** The registry itself, or — with `via` — the fault proxy in front of it (same TLS, same users). */
export function target(reg: Registry, via?: { host: string }): Target {
  return {
    host: via?.host ?? reg.host,
    tls: reg.tls,
    ...(reg.caDir ? { certDir: path.join(reg.caDir, reg.host) } : {}),
    ...(reg.username ? { username: reg.username, password: reg.password! } : {}),
  };
}

/** skopeo's flags for one side (`src` or `dest`) of a copy, or for inspect (no prefix). */
function skopeoFlags(side: 'src-' | 'dest-' | '', t: Target): string[] {
  const flags: string[] = [];
  if (t.tls && t.certDir) flags.push(`--${side}cert-dir`, t.certDir);
  else flags.push(`--${side}tls-verify=false`);
  if (t.username) flags.push(`--${side}creds`, `${t.username}:${t.password}`);
  else flags.push(`--${side}no-creds`);
  return flags;
}

/**
 * Runs skopeo without blocking the event loop: the fault proxy a copy goes through lives in this
 * process.
 */
function skopeo(args: string[]): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const child = spawn('skopeo', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code === 0) resolve(Buffer.concat(out));
      else reject(new Error(`skopeo ${args.join(' ')} failed (${code}): ${Buffer.concat(err).toString().trim()}`));
    });
  });
}

// ---------------------------------------------------------------------------------------------
// Images

export interface SeedImage {
  /** The `docker save` archive. */
  archive: string;
  tag: string;
  /** Image ID: the config's digest (skopeo keeps the config's bytes when it pushes). */
  id: Digest;
  diffIds: Digest[];
  chainIds: Digest[];
  /** Every regular file of the image, as the top of the stack shows it: path → content. */
  files: Record<string, Buffer>;
}

export type LayerFiles = Record<string, string | Buffer>;

/**
 * An image of `layers` (each a map of path → content; a path ending in `/` is a directory), as a
 * `docker save` archive made by the engine's imageArchive (each layer dockerd's tar of a directory).
 */
export async function buildImage(dir: string, tag: string, layers: LayerFiles[]): Promise<SeedImage> {
  const work = fs.mkdtempSync(path.join(dir, 'build-'));
  const dirs: string[] = [];
  const files: Record<string, Buffer> = {};
  for (const [i, layer] of layers.entries()) {
    const d = path.join(work, `layer-${i}`);
    fs.mkdirSync(d);
    for (const [rel, content] of Object.entries(layer)) {
      const p = path.join(d, rel);
      if (rel.endsWith('/')) {
        fs.mkdirSync(p, { recursive: true });
        continue;
      }
      fs.mkdirSync(path.dirname(p), { recursive: true });
      fs.writeFileSync(p, content);
      files[rel] = Buffer.from(content);
    }
    dirs.push(d);
  }
  const archive = path.join(dir, `${tag.replace(/[^\w.-]+/g, '_')}.tar`);
  await pipeline(imageArchive({ layers: dirs, tag, scratchDir: work, cmd: ['/bin/sh'] }), fs.createWriteStream(archive));
  fs.rmSync(work, { recursive: true, force: true });
  const info = archiveInfo(archive);
  return { archive, tag, ...info, files };
}

/** Image ID, DiffIDs and ChainIDs of the first image in a `docker save` archive. */
export function archiveInfo(archive: string): { id: Digest; diffIds: Digest[]; chainIds: Digest[] } {
  const manifest = JSON.parse(sh('tar', ['-xOf', archive, 'manifest.json']).toString()) as { Config: string }[];
  const configBytes = sh('tar', ['-xOf', archive, manifest[0]!.Config]);
  const diffIds = (JSON.parse(configBytes.toString()) as { rootfs: { diff_ids: Digest[] } }).rootfs.diff_ids;
  return { id: sha256Of(configBytes), diffIds, chainIds: chainIds(diffIds) };
}

/** `skopeo copy docker-archive:ARCHIVE docker://HOST/REPO` (gzip layers); returns the manifest digest. */
export function pushArchive(archive: string, t: Target, repoTag: string): Promise<Digest> {
  return pushWithSkopeo(`docker-archive:${archive}`, t, repoTag, []);
}

/** `skopeo copy oci:LAYOUT:REF docker://HOST/REPO` (`all`: the whole index); returns the pushed digest. */
export function pushLayout(layout: string, refName: string, t: Target, repoTag: string, opts: { all?: boolean } = {}): Promise<Digest> {
  return pushWithSkopeo(`oci:${layout}:${refName}`, t, repoTag, opts.all ? ['--all'] : []);
}

async function pushWithSkopeo(src: string, t: Target, repoTag: string, extra: string[]): Promise<Digest> {
  const digestFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'strata-skopeo-')), 'digest');
  try {
    await skopeo(['copy', '-q', ...extra, '--digestfile', digestFile, ...skopeoFlags('dest-', t), src, `docker://${t.host}/${repoTag}`]);
    return fs.readFileSync(digestFile, 'utf8').trim() as Digest;
  } finally {
    fs.rmSync(path.dirname(digestFile), { recursive: true, force: true });
  }
}

/** `skopeo inspect docker://HOST/REF`: what skopeo makes of the image (after picking the platform). */
export interface SkopeoInspect {
  Name: string;
  Digest: Digest;
  Layers: Digest[];
  Architecture: string;
  Os: string;
}

export async function skopeoInspect(t: Target, ref: string): Promise<SkopeoInspect> {
  return JSON.parse((await skopeo(['inspect', ...skopeoFlags('', t), `docker://${t.host}/${ref}`])).toString()) as SkopeoInspect;
}

/** The manifest (or index) as the registry stores it: `skopeo inspect --raw`. */
export function skopeoRawManifest(t: Target, ref: string): Promise<Buffer> {
  return skopeo(['inspect', '--raw', ...skopeoFlags('', t), `docker://${t.host}/${ref}`]);
}

/** The image config: `skopeo inspect --config --raw`. */
export function skopeoRawConfig(t: Target, ref: string): Promise<Buffer> {
  return skopeo(['inspect', '--config', '--raw', ...skopeoFlags('', t), `docker://${t.host}/${ref}`]);
}

// ---------------------------------------------------------------------------------------------
// A multi-platform OCI layout, written by hand (every digest computed here)

const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
const OCI_LAYER_GZIP = 'application/vnd.oci.image.layer.v1.tar+gzip';

export interface PlatformImage {
  architecture: string;
  variant?: string;
  layers: LayerFiles[];
}

export interface PlatformManifest {
  architecture: string;
  variant?: string;
  /** The manifest's digest. */
  digest: Digest;
  /** The config's digest: the image ID. */
  id: Digest;
  diffIds: Digest[];
  chainIds: Digest[];
}

interface Descriptor {
  mediaType: string;
  digest: Digest;
  size: number;
  platform?: { architecture: string; os: string; variant?: string };
  annotations?: Record<string, string>;
}

function putBlob(layout: string, mediaType: string, bytes: Buffer): Descriptor {
  const digest = sha256Of(bytes);
  fs.writeFileSync(path.join(layout, 'blobs/sha256', digest.slice(7)), bytes);
  return { mediaType, digest, size: bytes.length };
}

/**
 * An OCI layout at `<dir>/layout` whose `index.json` names (`refName`, default `multi`) an image
 * index of one manifest per platform; each image's layers are GNU tars of its files, gzipped,
 * under a config that states its platform.
 */
export function multiPlatformLayout(dir: string, images: PlatformImage[], refName = 'multi'): { layout: string; refName: string; index: Digest; manifests: PlatformManifest[] } {
  const layout = path.join(dir, 'layout');
  fs.mkdirSync(path.join(layout, 'blobs/sha256'), { recursive: true });
  fs.writeFileSync(path.join(layout, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  const manifests: PlatformManifest[] = [];
  const descriptors: Descriptor[] = [];
  for (const im of images) {
    const tars = im.layers.map((files) => makeTar(files));
    const diffIds = tars.map((t) => sha256Of(t));
    const layers = tars.map((t) => putBlob(layout, OCI_LAYER_GZIP, zlib.gzipSync(t)));
    const created = '2024-01-01T00:00:00Z';
    const config = newImageConfig({
      architecture: im.architecture,
      ...(im.variant ? { variant: im.variant } : {}),
      os: 'linux',
      created,
      config: newContainerConfig({ Cmd: ['/bin/sh'] }),
      rootfs: { type: 'layers', diff_ids: diffIds },
      history: tars.map((_, i) => newHistoryEntry({ created, created_by: `seed ${im.architecture} layer ${i}` })),
    });
    const configBytes = marshalImageConfig(config);
    const configDesc = putBlob(layout, OCI_CONFIG, configBytes);
    const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: configDesc, layers }));
    const desc = putBlob(layout, OCI_MANIFEST, manifest);
    descriptors.push({ ...desc, platform: { architecture: im.architecture, os: 'linux', ...(im.variant ? { variant: im.variant } : {}) } });
    manifests.push({ architecture: im.architecture, ...(im.variant ? { variant: im.variant } : {}), digest: desc.digest, id: imageId(configBytes), diffIds, chainIds: chainIds(diffIds) });
  }
  const indexBytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: descriptors }));
  const indexDesc = putBlob(layout, OCI_INDEX, indexBytes);
  const top = { ...indexDesc, annotations: { 'org.opencontainers.image.ref.name': refName } };
  fs.writeFileSync(path.join(layout, 'index.json'), JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [top] }));
  return { layout, refName, index: indexDesc.digest, manifests };
}

// ---------------------------------------------------------------------------------------------
// The strata CLI, asynchronously

const CLI_ENTRY = path.join(path.dirname(fileURLToPath(import.meta.url)), '../helpers/cli-entry.ts');

export interface RunningCli {
  child: ChildProcess;
  /** Resolves when the process has exited. */
  done: Promise<{ status: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>;
}

/** Spawns `strata ARGS` (from the sources, through tsx) without waiting for it; `input` goes to its stdin. */
export function strataAsync(args: string[], env: NodeJS.ProcessEnv = {}, input?: string | Buffer): RunningCli {
  const child = spawn(process.execPath, ['--import', 'tsx', CLI_ENTRY, ...args], {
    env: { ...process.env, ...env },
    stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
  });
  if (input !== undefined) child.stdin!.end(input);
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout!.on('data', (b: Buffer) => out.push(b));
  child.stderr!.on('data', (b: Buffer) => err.push(b));
  const done = new Promise<{ status: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (status, signal) => resolve({ status, signal, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() }));
  });
  return { child, done };
}
