/**
 * `strata push`: a local image to a registry, as dockerd's push does it.
 *
 *   const r = await pushImage(engine, '127.0.0.1:5000/team/app:v1', { compression: 'gzip' });
 *   r.digest    // sha256:… of the manifest put under the tag (also tagged locally as name@digest)
 *   r.layers    // [{ digest, diffId, action: 'pushed' | 'exists' | 'mounted' }]
 *
 * For each layer (3 at a time; the manifest keeps their order), cheapest first:
 * 1. `distribution/v2metadata-by-diffid` knows blobs of this layer in the same registry: HEAD
 *    them in the target repository — there already: `Layer already exists`;
 * 2. else ask the registry to mount one from the repository it was seen in (`Mounted from x`);
 * 3. else compress the layer's tar (gzip, or zstd) and upload it, hashed on the way
 *    (`Pushed`).
 * Each blob found or made is recorded in the mappings (`SourceRepository` = the target, with
 * moby's HMAC tying the entry to the credentials used). Then the config blob, then the manifest
 * under the tag: Docker schema 2 when every layer is gzip, an OCI manifest otherwise (zstd).
 * A reused blob's compression is read from its first bytes, so the manifest always says what
 * the blob is.
 */
import crypto from 'node:crypto';
import { goJsonString } from '../archive/gostrings.js';
import { compress, sniffCompression, type Compression } from '../archive/compression.js';
import { chainIds, type Digest } from '../digest/index.js';
import { StrataError } from '../errors/index.js';
import { diffIdsOf } from '../image/config.js';
import type { V2Metadata } from '../image/distribution.js';
import { parseNormalizedNamed, tagNameOnly, trimNamed, withDigest, type Reference } from '../image/reference/index.js';
import { MEDIA_TYPES, RegistryClient, imageManifestBytes, limiter, type Credentials, type Descriptor } from '../registry/index.js';
import type { Engine } from './engine.js';
import { openClient, type RegistryAccess } from './registry-access.js';

export interface PushOptions extends RegistryAccess {
  onProgress?: (event: PushProgress) => void;
  /** How new layer blobs are compressed. Default gzip. */
  compression?: 'gzip' | 'zstd';
  /** Layers handled at once (default 3). */
  concurrency?: number;
}

/** What a push reports; `id` is a layer's short DiffID, as docker shows it. */
export type PushProgress =
  | { kind: 'start'; repository: string }
  | { kind: 'layer'; id: string; status: string; current?: number; total?: number }
  | { kind: 'retry'; message: string; delayMs: number };

export interface PushedLayer {
  digest: Digest;
  diffId: Digest;
  action: 'pushed' | 'exists' | 'mounted';
}

export interface PushResult {
  /** The full reference, e.g. `127.0.0.1:5000/team/app:v1`. */
  ref: string;
  tag: string;
  digest: Digest;
  /** The manifest's size in bytes. */
  size: number;
  layers: PushedLayer[];
}

/** Layers of the same registry HEADed, then mounted from, at most (moby: 1 existence check, 3 mounts). */
const MAX_EXISTENCE_CHECKS = 2;
const MAX_MOUNT_ATTEMPTS = 3;

/** moby's `ComputeV2MetadataHMACKey`: the digest string of the auth config's JSON (`{}` without credentials). */
export function hmacKey(creds: Credentials | undefined): string {
  const fields: [string, string | undefined][] = [
    ['username', creds?.username],
    ['password', creds?.password],
    ['auth', undefined],
    ['identitytoken', creds?.identityToken],
    ['registrytoken', creds?.registryToken],
  ];
  const json = `{${fields
    .filter(([, v]) => v)
    .map(([k, v]) => `${goJsonString(k)}:${goJsonString(v!)}`)
    .join(',')}}`;
  return `sha256:${crypto.createHash('sha256').update(json).digest('hex')}`;
}

/** moby's `ComputeV2MetadataHMAC`: hex HMAC-SHA256 of Digest + SourceRepository. */
export function metadataHmac(key: string, digest: string, repository: string): string {
  return crypto.createHmac('sha256', key).update(digest).update(repository).digest('hex');
}

function shortId(d: string): string {
  return d.replace(/^sha256:/, '').slice(0, 12);
}

function domainOf(repository: string): Reference | undefined {
  try {
    return parseNormalizedNamed(repository);
  } catch {
    return undefined;
  }
}

/**
 * The known blobs of a layer in registry `target.domain`, best first (moby's
 * `sortV2MetadataByLikenessAndAge`): entries made with these credentials, then those whose
 * repository shares more leading path components with the target, then the newest.
 */
function candidates(list: V2Metadata[], target: Reference, key: string): { meta: V2Metadata; repo: Reference }[] {
  const parts = target.path.split('/');
  const likeness = (r: Reference) => {
    const p = r.path.split('/');
    let n = 0;
    while (n < p.length && n < parts.length && p[n] === parts[n]) n++;
    return n;
  };
  return list
    .map((meta, age) => ({ meta, repo: domainOf(meta.SourceRepository), age }))
    .filter((c): c is { meta: V2Metadata; repo: Reference; age: number } => c.repo !== undefined && c.repo.domain === target.domain)
    .sort((a, b) => {
      const ha = a.meta.HMAC !== '' && a.meta.HMAC === metadataHmac(key, a.meta.Digest, a.meta.SourceRepository) ? 1 : 0;
      const hb = b.meta.HMAC !== '' && b.meta.HMAC === metadataHmac(key, b.meta.Digest, b.meta.SourceRepository) ? 1 : 0;
      return hb - ha || likeness(b.repo) - likeness(a.repo) || b.age - a.age;
    })
    .map(({ meta, repo }) => ({ meta, repo }));
}

function layerMediaType(c: Compression): string {
  return c === 'zstd' ? MEDIA_TYPES.ociLayerZstd : c === 'gzip' ? MEDIA_TYPES.dockerLayer : MEDIA_TYPES.ociLayer;
}

/** Pushes the local image `refText` names (a bare name means `:latest`) to its registry. */
export async function pushImage(engine: Engine, refText: string, opts: PushOptions = {}): Promise<PushResult> {
  const named = parseNormalizedNamed(refText);
  if (named.digest !== undefined) throw new StrataError('INVALID_REFERENCE', `cannot push a digest reference: ${named.familiarString()}`);
  const ref = tagNameOnly(named);
  const signal = opts.signal;
  signal?.throwIfAborted();
  const id = engine.images.references.get(ref);
  if (id === undefined || !engine.images.has(id)) {
    throw new StrataError('IMAGE_NOT_FOUND', `An image does not exist locally with the tag: ${ref.familiarName()}`);
  }
  const image = engine.images.get(id);
  const diffIds = diffIdsOf(image.config);
  const chains = chainIds(diffIds);
  opts.onProgress?.({ kind: 'start', repository: ref.name() });
  const client = await openClient(ref.domain, opts, (message, delayMs) => opts.onProgress?.({ kind: 'retry', message, delayMs }), true);
  try {
    const key = hmacKey(client.credentials);
    for (const d of diffIds) opts.onProgress?.({ kind: 'layer', id: shortId(d), status: 'Preparing' });
    const limit = limiter(opts.concurrency ?? 3);
    const stop = new AbortController();
    const onAbort = () => stop.abort(signal!.reason);
    signal?.addEventListener('abort', onAbort, { once: true });
    const tasks = diffIds.map((diffId, i) =>
      limit(() => pushLayer(engine, client, ref, diffId, chains[i]!, key, opts.compression ?? 'gzip', stop.signal, opts.onProgress)),
    );
    let layers: (PushedLayer & { descriptor: Descriptor; compression: Compression })[];
    try {
      const settled = await Promise.allSettled(tasks.map((t) => t.catch((e: unknown) => {
        stop.abort(e);
        throw e;
      })));
      const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
      if (failed) throw signal?.aborted ? signal.reason : failed.reason;
      layers = settled.map((s) => (s as PromiseFulfilledResult<PushedLayer & { descriptor: Descriptor; compression: Compression }>).value);
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
    const oci = layers.some((l) => l.compression !== 'gzip');
    const configMediaType = oci ? MEDIA_TYPES.ociConfig : MEDIA_TYPES.dockerConfig;
    const configDigest = image.id;
    if ((await client.blobExists(ref.path, configDigest)) === undefined) await client.uploadBlobBytes(ref.path, image.bytes);
    const manifestLayers = layers.map((l) => ({ ...l.descriptor, mediaType: oci && l.compression === 'gzip' ? MEDIA_TYPES.ociLayerGzip : l.descriptor.mediaType }));
    const bytes = imageManifestBytes({ mediaType: configMediaType, digest: configDigest, size: image.bytes.length }, manifestLayers, oci ? 'oci' : 'docker');
    const digest = await client.putManifest(ref.path, ref.tag!, bytes, oci ? MEDIA_TYPES.ociManifest : MEDIA_TYPES.dockerManifest);
    // docker's addDigestReference after a push: name@digest names the image here too.
    const byDigest = withDigest(trimNamed(ref), digest);
    if (engine.images.references.get(byDigest) === undefined) engine.images.references.addDigest(byDigest, id, true);
    return {
      ref: ref.string(),
      tag: ref.tag!,
      digest,
      size: bytes.length,
      layers: layers.map((l) => ({ digest: l.digest, diffId: l.diffId, action: l.action })),
    };
  } finally {
    client.close();
  }
}

async function pushLayer(
  engine: Engine,
  client: RegistryClient,
  ref: Reference,
  diffId: Digest,
  chainId: Digest,
  key: string,
  compression: 'gzip' | 'zstd',
  signal: AbortSignal,
  progress: PushOptions['onProgress'],
): Promise<PushedLayer & { descriptor: Descriptor; compression: Compression }> {
  signal.throwIfAborted();
  const id = shortId(diffId);
  const dist = engine.images.distribution;
  const target = ref.name();
  const record = (digest: Digest) => dist.add(diffId, { Digest: digest, SourceRepository: target, HMAC: metadataHmac(key, digest, target) });
  const known = candidates(dist.metadataOf(diffId), ref, key);
  const reused = async (digest: Digest, size: number, action: 'exists' | 'mounted') => {
    const c = sniffCompression(await client.blobHead(ref.path, digest, 10, signal));
    record(digest);
    return { digest, diffId, action, compression: c, descriptor: { mediaType: layerMediaType(c), digest, size } };
  };

  // 1. Already in the target repository?
  const checked = new Set<string>();
  const inTargetFirst = [...known.filter((c) => c.meta.SourceRepository === target), ...known.filter((c) => c.meta.SourceRepository !== target)];
  for (const c of inTargetFirst) {
    if (checked.size >= MAX_EXISTENCE_CHECKS) break;
    if (checked.has(c.meta.Digest)) continue;
    checked.add(c.meta.Digest);
    const size = await client.blobExists(ref.path, c.meta.Digest as Digest, signal);
    if (size !== undefined) {
      progress?.({ kind: 'layer', id, status: 'Layer already exists' });
      return reused(c.meta.Digest as Digest, size, 'exists');
    }
    // moby forgets a mapping to the target that the registry no longer has.
    if (c.meta.SourceRepository === target) dist.remove(c.meta);
  }

  // 2. Mount from another repository of the same registry.
  let mounts = 0;
  for (const c of known) {
    if (c.meta.SourceRepository === target || mounts >= MAX_MOUNT_ATTEMPTS) continue;
    mounts++;
    if (await client.mountBlob(ref.path, c.meta.Digest as Digest, c.repo.path, signal)) {
      const size = await client.blobExists(ref.path, c.meta.Digest as Digest, signal);
      if (size !== undefined) {
        progress?.({ kind: 'layer', id, status: `Mounted from ${c.repo.path}` });
        return reused(c.meta.Digest as Digest, size, 'mounted');
      }
    } else if (c.meta.HMAC !== '' && c.meta.HMAC === metadataHmac(key, c.meta.Digest, c.meta.SourceRepository)) {
      // Our own record of a blob the registry would not mount: it is gone there.
      dist.remove(c.meta);
    }
  }

  // 3. Compress and upload.
  const info = engine.layers.layer(chainId);
  const total = info.size;
  const layer = engine.layers.get(chainId);
  try {
    let sent = 0;
    const source = () => {
      sent = 0;
      return counting(compress(layer.tarStream({ signal }), compression, undefined, { signal }), (n) => {
        sent += n;
        progress?.({ kind: 'layer', id, status: 'Pushing', current: Math.min(sent, total), total });
      });
    };
    progress?.({ kind: 'layer', id, status: 'Pushing', current: 0, total });
    const blob = await client.uploadBlob(ref.path, source, { signal });
    record(blob.digest);
    progress?.({ kind: 'layer', id, status: 'Pushed' });
    return { digest: blob.digest, diffId, action: 'pushed', compression, descriptor: { mediaType: layerMediaType(compression), digest: blob.digest, size: blob.size } };
  } finally {
    await engine.layers.release(layer);
  }
}

async function* counting(source: AsyncIterable<Buffer>, onBytes: (n: number) => void): AsyncGenerator<Buffer> {
  for await (const chunk of source) {
    onBytes(chunk.length);
    yield chunk;
  }
}
