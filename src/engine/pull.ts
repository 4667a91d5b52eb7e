/**
 * `strata pull`: an image from a registry into the data root, as dockerd's pull does it.
 *
 *   const r = await pullImage(engine, '127.0.0.1:5000/team/app:v1', { onProgress, signal });
 *   r.id        // sha256:… — the config's digest, the image ID
 *   r.digest    // sha256:… — the manifest's (or index's) digest: `team/app@sha256:…` is tagged too
 *   r.layers    // [{ digest, diffId, size, fetched }]
 *
 * Steps:
 * 1. the manifest for the tag or digest (Docker schema 2 or OCI; from a manifest list or OCI
 *    index, the entry for `platform`, else the host's), checked against its digest;
 * 2. the config, checked against its digest (which is the image ID), parsed, its DiffIDs
 *    counted against the manifest's layers;
 * 3. every layer whose ChainID the layer store lacks is downloaded — 3 at a time, into
 *    `<root>/tmp/pull-*`, verified by blob digest and size while it streams, resumed with `Range`
 *    if the connection breaks — and registered in order as soon as it and its parent are
 *    ready: decompressed on the way (gzip, zstd, none), its DiffID checked against the config;
 * 4. the image is created and tagged `REF` and `name@digest`; the `distribution/` mappings
 *    (blob → DiffID, DiffID → blob and repository) are recorded for every layer fetched.
 *
 * A failure or an abort at any step releases every layer this pull registered, writes no image
 * and no tag, and removes its temporary files: the data root is as it was.
 */
import fs from 'node:fs';
import path from 'node:path';
import { decompress } from '../archive/compression.js';
import { chainIds, type Digest } from '../digest/index.js';
import { StrataError } from '../errors/index.js';
import { diffIdsOf, imageId, parseNewImageConfig, type ImageConfig } from '../image/config.js';
import { parseNormalizedNamed, tagNameOnly, withDigest, trimNamed, type Reference } from '../image/reference/index.js';
import type { Layer } from '../layer/index.js';
import { RegistryClient, RegistryError, isForeignLayer, limiter, parseManifest, pickPlatform, type Descriptor, type ImageManifest } from '../registry/index.js';
import type { Engine } from './engine.js';
import { underIntent, type Intent } from './intent.js';
import { openClient, type RegistryAccess } from './registry-access.js';
import { formatPlatform, hostPlatform, platformMatches, type Platform } from './platform.js';

export interface PullOptions extends RegistryAccess {
  /** The platform to pick from an index; default: the host's. Also checked against a single manifest's config. */
  platform?: Platform;
  onProgress?: (event: PullProgress) => void;
  /** Layers downloaded at once (default 3, as dockerd). */
  concurrency?: number;
}

/** What a pull reports as it goes; `id` is a layer's short blob digest, as docker shows it. */
export type PullProgress =
  | { kind: 'start'; ref: string; tagOrDigest: string; repository: string }
  | { kind: 'layer'; id: string; status: LayerStatus; current?: number; total?: number }
  | { kind: 'retry'; message: string; delayMs: number };

export type LayerStatus = 'Already exists' | 'Pulling fs layer' | 'Waiting' | 'Downloading' | 'Verifying Checksum' | 'Download complete' | 'Extracting' | 'Pull complete' | 'Resuming';

export interface PulledLayer {
  digest: Digest;
  diffId: Digest;
  size: number;
  /** False when the layer was already in the store. */
  fetched: boolean;
}

export interface PullResult {
  /** The full reference pulled, e.g. `docker.io/library/busybox:latest`. */
  ref: string;
  /** docker's familiar form, e.g. `busybox:latest` (what the Status line names). */
  familiarRef: string;
  id: Digest;
  /** The digest of what the tag named: the manifest, or the index a platform was picked from. */
  digest: Digest;
  layers: PulledLayer[];
  /** `Downloaded newer image` when the reference moved (or was new); `Image is up to date` otherwise. */
  status: 'downloaded' | 'up-to-date';
}

const MAX_CONFIG = 16 << 20;

/** The reference a pull means: a bare name gets `:latest`; a tag with a digest pulls the digest. */
export function pullReference(ref: string): Reference {
  const named = parseNormalizedNamed(ref);
  if (named.digest !== undefined) return withDigest(trimNamed(named), named.digest);
  return tagNameOnly(named);
}

/** Pulls `ref` into the engine's data root (see the module comment). */
export async function pullImage(engine: Engine, refText: string, opts: PullOptions = {}): Promise<PullResult> {
  const ref = pullReference(refText);
  const signal = opts.signal;
  signal?.throwIfAborted();
  const want = opts.platform ?? hostPlatform();
  const tagOrDigest = ref.digest ?? ref.tag!;
  const client = await openClient(ref.domain, opts, (message, delayMs) => opts.onProgress?.({ kind: 'retry', message, delayMs }));
  try {
    const { manifest, digest } = await resolveManifest(client, ref, want);
    opts.onProgress?.({ kind: 'start', ref: ref.string(), tagOrDigest, repository: ref.path });
    const configBytes = await fetchConfig(client, ref, manifest);
    const config = parseNewImageConfig(configBytes);
    checkPlatform(ref, config, want, opts.platform !== undefined);
    const layers = manifest.layers;
    if (layers.some(isForeignLayer)) throw new StrataError('FOREIGN_LAYER', `${ref.familiarString()}: foreign (non-distributable) layers are not supported`);
    const diffIds = diffIdsOf(config);
    if (diffIds.length !== layers.length) {
      throw new StrataError('INVALID_MANIFEST', `invalid manifest: ${layers.length} layers but the config has ${diffIds.length} DiffIDs`);
    }
    const id = imageId(configBytes);
    const previous = engine.images.references.get(ref);
    const chains = chainIds(diffIds);
    const fetched = layers.map((_, i) => !engine.layers.has(chains[i]!));
    // As a load: written before the first register, so a pull killed from here on is undone at the next open.
    const intent: Intent = {
      op: 'pull',
      layers: chains.filter((_, i) => fetched[i]),
      images: engine.images.has(id) ? [] : [{ id, tags: ref.tag !== undefined ? [ref.string()] : [] }],
    };
    await underIntent(engine, intent, async () => {
      const held = await fetchLayers(engine, client, ref, layers, diffIds, chains, fetched, opts);
      try {
        await createAndTag(engine, ref, id, digest, configBytes);
      } catch (e) {
        await releaseAll(engine, held);
        throw e;
      }
      for (const l of held) await engine.layers.release(l);
    });
    recordMappings(engine, ref, layers, diffIds, fetched);
    return {
      ref: ref.string(),
      familiarRef: ref.familiarString(),
      id,
      digest,
      layers: layers.map((l, i) => ({ digest: l.digest, diffId: diffIds[i]!, size: l.size, fetched: fetched[i]! })),
      status: previous === id ? 'up-to-date' : 'downloaded',
    };
  } catch (e) {
    throw explain(e, ref);
  } finally {
    client.close();
  }
}

/** The image manifest for `want`, and the digest the reference names (an index's, when there is one). */
async function resolveManifest(client: RegistryClient, ref: Reference, want: Platform): Promise<{ manifest: ImageManifest; digest: Digest }> {
  const top = await client.getManifest(ref.path, ref.digest ?? ref.tag!);
  let m = parseManifest(top.bytes, top.contentType);
  for (let depth = 0; m.kind === 'index'; depth++) {
    if (depth > 2) throw new StrataError('INVALID_MANIFEST', 'invalid manifest: indexes nested too deep');
    const entry = pickPlatform(m, want);
    const got = await client.getManifest(ref.path, entry.digest);
    m = parseManifest(got.bytes, got.contentType || entry.mediaType);
  }
  return { manifest: m, digest: top.digest };
}

async function fetchConfig(client: RegistryClient, ref: Reference, manifest: ImageManifest): Promise<Buffer> {
  if (manifest.config.size > MAX_CONFIG) throw new StrataError('INVALID_MANIFEST', `invalid manifest: a config of ${manifest.config.size} bytes`);
  const bytes = await client.getBlob(ref.path, manifest.config);
  if (imageId(bytes) !== manifest.config.digest) throw new StrataError('DIGEST_MISMATCH', `image config verification failed for digest ${manifest.config.digest}`);
  return bytes;
}

/** A single manifest has no platform list: with `--platform`, its config must match (dockerd's check). */
function checkPlatform(ref: Reference, config: ImageConfig, want: Platform, explicit: boolean): void {
  if (!explicit) return;
  const actual: Platform = { os: config.os, architecture: config.architecture, ...(config.variant ? { variant: config.variant } : {}) };
  if (!platformMatches(actual, want)) {
    throw new StrataError(
      'NO_MATCHING_PLATFORM',
      `image with reference ${ref.familiarString()} was found but does not match the specified platform: wanted ${formatPlatform(want)}, actual: ${formatPlatform(actual)}`,
    );
  }
}

function shortId(d: string): string {
  return d.replace(/^sha256:/, '').slice(0, 12);
}

/**
 * Downloads the missing layers (a pool of `concurrency`) and registers them in order; returns
 * the handles of the layers registered. On failure: stops the other downloads, waits for them,
 * releases what it registered, and removes its temp dir.
 */
async function fetchLayers(
  engine: Engine,
  client: RegistryClient,
  ref: Reference,
  layers: Descriptor[],
  diffIds: Digest[],
  chains: Digest[],
  fetched: boolean[],
  opts: PullOptions,
): Promise<Layer[]> {
  const progress = opts.onProgress;
  const stop = new AbortController();
  const onAbort = () => stop.abort(opts.signal!.reason);
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  const signal = stop.signal;
  const tmp = fs.mkdtempSync(path.join(engine.tmpDir, 'pull-'));
  const held: Layer[] = [];
  const downloads: (Promise<string> | undefined)[] = [];
  try {
    for (let i = 0; i < layers.length; i++) {
      const id = shortId(layers[i]!.digest);
      if (!fetched[i]) progress?.({ kind: 'layer', id, status: 'Already exists' });
      else progress?.({ kind: 'layer', id, status: 'Pulling fs layer' });
    }
    const limit = limiter(opts.concurrency ?? 3);
    const started = new Set<string>();
    for (let i = 0; i < layers.length; i++) {
      if (!fetched[i]) continue;
      const desc = layers[i]!;
      // The same blob twice in one image: one download serves both.
      const file = path.join(tmp, desc.digest.slice(7));
      if (started.has(file)) {
        downloads[i] = downloads[layers.findIndex((l) => l.digest === desc.digest)];
        continue;
      }
      started.add(file);
      const id = shortId(desc.digest);
      const p = limit(async () => {
        signal.throwIfAborted();
        await client.downloadBlob(ref.path, desc, file, {
          signal,
          onProgress: (n) => progress?.({ kind: 'layer', id, status: 'Downloading', current: n, total: desc.size }),
          onResume: (offset) => progress?.({ kind: 'layer', id, status: 'Resuming', current: offset, total: desc.size }),
        });
        progress?.({ kind: 'layer', id, status: 'Verifying Checksum' });
        progress?.({ kind: 'layer', id, status: 'Download complete' });
        return file;
      });
      p.catch(() => undefined); // awaited below, in order; a later one failing first must not be "unhandled"
      downloads[i] = p;
    }
    for (let i = 0; i < layers.length; i++) {
      if (!fetched[i]) continue;
      const file = await downloads[i]!;
      held.push(await registerLayer(engine, file, layers[i]!, i, diffIds[i]!, chains[i - 1], signal, progress));
    }
    return held;
  } catch (e) {
    stop.abort(e);
    await Promise.allSettled(downloads.filter((d): d is Promise<string> => d !== undefined));
    await releaseAll(engine, held);
    throw opts.signal?.aborted ? opts.signal.reason : e;
  } finally {
    opts.signal?.removeEventListener('abort', onAbort);
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

async function registerLayer(
  engine: Engine,
  file: string,
  desc: Descriptor,
  index: number,
  diffId: Digest,
  parent: Digest | undefined,
  signal: AbortSignal,
  progress: PullOptions['onProgress'],
): Promise<Layer> {
  const id = shortId(desc.digest);
  let done = 0;
  async function* counted(): AsyncGenerator<Buffer> {
    for await (const chunk of fs.createReadStream(file, { highWaterMark: 1 << 20, signal }) as AsyncIterable<Buffer>) {
      done += chunk.length;
      progress?.({ kind: 'layer', id, status: 'Extracting', current: done, total: desc.size });
      yield chunk;
    }
  }
  const layer = await engine.layers.register(decompress(counted(), { signal }), parent, { signal });
  if (layer.diffId !== diffId) {
    await engine.layers.release(layer);
    throw new StrataError('DIFFID_MISMATCH', `layer ${index} (${desc.digest}): invalid diffID: expected "${diffId}", got "${layer.diffId}"`);
  }
  progress?.({ kind: 'layer', id, status: 'Pull complete' });
  return layer;
}

async function releaseAll(engine: Engine, held: Layer[]): Promise<void> {
  for (const l of [...held].reverse()) await engine.layers.release(l).catch(() => undefined);
  held.length = 0;
}

/** The image, `REF` (a tag) and `name@digest` — docker's addDigestReference, which never moves a digest. */
async function createAndTag(engine: Engine, ref: Reference, id: Digest, digest: Digest, configBytes: Buffer): Promise<void> {
  const existed = engine.images.has(id);
  await engine.images.create(configBytes);
  try {
    const refs = engine.images.references;
    if (ref.tag !== undefined) refs.addTag(ref, id, true);
    const byDigest = withDigest(trimNamed(ref), digest);
    if (refs.get(byDigest) === undefined) refs.addDigest(byDigest, id, true);
  } catch (e) {
    if (!existed && engine.images.references.references(id).length === 0) await engine.images.delete(id).catch(() => undefined);
    throw e;
  }
}

/** moby's `V2MetadataService.Add` for each layer fetched, or already known by this blob. */
function recordMappings(engine: Engine, ref: Reference, layers: Descriptor[], diffIds: Digest[], fetched: boolean[]): void {
  const dist = engine.images.distribution;
  for (let i = 0; i < layers.length; i++) {
    const blob = layers[i]!.digest;
    if (!fetched[i] && dist.diffIdOf(blob) !== diffIds[i]) continue;
    dist.add(diffIds[i]!, { Digest: blob, SourceRepository: ref.name(), HMAC: '' });
  }
}

/** dockerd's words for a pull the registry refused. */
function explain(e: unknown, ref: Reference): unknown {
  if (!(e instanceof RegistryError)) return e;
  if (e.hasRegistryCode('MANIFEST_UNKNOWN')) {
    return new RegistryError('MANIFEST_UNKNOWN', `manifest for ${ref.familiarString()} not found: ${e.message}`, { registryCodes: e.registryCodes, ...(e.status !== undefined ? { status: e.status } : {}) });
  }
  if (e.hasRegistryCode('UNAUTHORIZED') || e.hasRegistryCode('DENIED') || e.hasRegistryCode('NAME_UNKNOWN')) {
    return new RegistryError(
      e.code,
      `pull access denied for ${ref.familiarName()}, repository does not exist or may require 'docker login': ${e.message}`,
      { registryCodes: e.registryCodes, ...(e.status !== undefined ? { status: e.status } : {}) },
    );
  }
  return e;
}
