/**
 * Manifests and indexes: the four JSON documents a registry serves for a tag, told apart, parsed
 * and checked; the platform picked from an index; the manifest a push uploads.
 *
 *   Docker v2 schema 2 manifest   application/vnd.docker.distribution.manifest.v2+json
 *   Docker manifest list          application/vnd.docker.distribution.manifest.list.v2+json
 *   OCI image manifest            application/vnd.oci.image.manifest.v1+json
 *   OCI image index               application/vnd.oci.image.index.v1+json
 *
 *   const m = parseManifest(bytes, res.contentType);
 *   if (m.kind === 'index') pickPlatform(m, { os: 'linux', architecture: 'arm64' })   // → a descriptor
 *   else m.config.digest, m.layers[0].mediaType
 *   imageManifestBytes(config, layers, 'oci')   // what push PUTs: docker's 3-space indent
 *
 * The document's own `mediaType` field decides its kind; without one, the response's
 * Content-Type; without that, its shape (`manifests` → index, `config` + `layers` → manifest).
 * Schema 1 manifests (signed, pre-2017) are refused.
 */
import { goJsonString } from '../archive/gostrings.js';
import { parseDigest, type Digest } from '../digest/index.js';
import { StrataError } from '../errors/index.js';
import { formatPlatform, platformMatches, type Platform } from '../engine/platform.js';

export const MEDIA_TYPES = {
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  dockerLayer: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  dockerForeignLayer: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
  ociLayer: 'application/vnd.oci.image.layer.v1.tar',
  ociLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  ociLayerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
} as const;

/** What a pull asks for, best first (Accept). */
export const MANIFEST_ACCEPT = [MEDIA_TYPES.dockerManifest, MEDIA_TYPES.dockerManifestList, MEDIA_TYPES.ociManifest, MEDIA_TYPES.ociIndex];

const SCHEMA1 = new Set(['application/vnd.docker.distribution.manifest.v1+json', 'application/vnd.docker.distribution.manifest.v1+prettyjws']);
const INDEX_TYPES = new Set<string>([MEDIA_TYPES.dockerManifestList, MEDIA_TYPES.ociIndex]);
const IMAGE_TYPES = new Set<string>([MEDIA_TYPES.dockerManifest, MEDIA_TYPES.ociManifest]);

export interface Descriptor {
  mediaType: string;
  digest: Digest;
  size: number;
  platform?: Platform;
  urls?: string[];
}

export interface IndexManifest {
  kind: 'index';
  mediaType: string;
  manifests: Descriptor[];
}

export interface ImageManifest {
  kind: 'image';
  mediaType: string;
  config: Descriptor;
  layers: Descriptor[];
}

export type Manifest = IndexManifest | ImageManifest;

function invalid(why: string): StrataError {
  return new StrataError('INVALID_MANIFEST', `invalid manifest: ${why}`);
}

function isObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

function descriptor(x: unknown, what: string): Descriptor {
  if (!isObject(x) || typeof x.digest !== 'string' || typeof x.size !== 'number' || !Number.isSafeInteger(x.size) || x.size < 0) {
    throw invalid(`${what}: a descriptor needs a digest and a size`);
  }
  let digest: Digest;
  try {
    digest = parseDigest(x.digest);
  } catch {
    throw invalid(`${what}: unsupported digest ${JSON.stringify(x.digest)}`);
  }
  const d: Descriptor = { mediaType: typeof x.mediaType === 'string' ? x.mediaType : '', digest, size: x.size };
  if (isObject(x.platform) && typeof x.platform.os === 'string' && typeof x.platform.architecture === 'string') {
    d.platform = { os: x.platform.os, architecture: x.platform.architecture, ...(typeof x.platform.variant === 'string' && x.platform.variant ? { variant: x.platform.variant } : {}) };
  }
  if (Array.isArray(x.urls)) d.urls = x.urls.filter((u): u is string => typeof u === 'string');
  return d;
}

/** Parses a manifest or index served with `contentType` (the Content-Type, parameters allowed). */
export function parseManifest(bytes: Buffer, contentType?: string): Manifest {
  let doc: unknown;
  try {
    doc = JSON.parse(bytes.toString('utf8'));
  } catch (e) {
    throw invalid((e as Error).message);
  }
  if (!isObject(doc)) throw invalid('not a JSON object');
  const header = (contentType ?? '').split(';')[0]!.trim().toLowerCase();
  let mediaType = typeof doc.mediaType === 'string' && doc.mediaType ? doc.mediaType : header;
  if (SCHEMA1.has(mediaType) || doc.schemaVersion === 1) {
    throw new StrataError('UNSUPPORTED_MANIFEST', 'unsupported manifest format: Docker image manifest v2 schema 1 (deprecated); push the image again with a current client');
  }
  if (!INDEX_TYPES.has(mediaType) && !IMAGE_TYPES.has(mediaType)) {
    if (Array.isArray(doc.manifests)) mediaType = MEDIA_TYPES.ociIndex;
    else if (isObject(doc.config) && Array.isArray(doc.layers)) mediaType = MEDIA_TYPES.ociManifest;
    else throw new StrataError('UNSUPPORTED_MANIFEST', `unsupported manifest media type ${JSON.stringify(mediaType || header)}`);
  }
  if (doc.schemaVersion !== 2) throw invalid(`schemaVersion ${JSON.stringify(doc.schemaVersion)}, expected 2`);
  if (INDEX_TYPES.has(mediaType)) {
    if (!Array.isArray(doc.manifests)) throw invalid('an index without manifests');
    return { kind: 'index', mediaType, manifests: doc.manifests.map((m, i) => descriptor(m, `manifests[${i}]`)) };
  }
  if (!isObject(doc.config) || !Array.isArray(doc.layers)) throw invalid('no config or layers');
  return {
    kind: 'image',
    mediaType,
    config: descriptor(doc.config, 'config'),
    layers: doc.layers.map((l, i) => descriptor(l, `layers[${i}]`)),
  };
}

/**
 * The index entry for platform `want`: an image manifest whose os and architecture match, an
 * exact variant preferred (an entry without a variant serves any). dockerd's error otherwise:
 * `no matching manifest for linux/amd64 in the manifest list entries`.
 */
export function pickPlatform(index: IndexManifest, want: Platform): Descriptor {
  const candidates = index.manifests.filter((d) => d.platform && platformMatches(d.platform, want) && (IMAGE_TYPES.has(d.mediaType) || INDEX_TYPES.has(d.mediaType) || d.mediaType === ''));
  const best = candidates.find((d) => d.platform!.variant === want.variant) ?? candidates.find((d) => !d.platform!.variant) ?? candidates[0];
  if (!best) throw new StrataError('NO_MATCHING_PLATFORM', `no matching manifest for ${formatPlatform(want)} in the manifest list entries`);
  return best;
}

/** Whether a layer's media type is one strata can register (foreign/non-distributable layers are not fetched). */
export function isForeignLayer(d: Descriptor): boolean {
  return d.mediaType === MEDIA_TYPES.dockerForeignLayer || d.mediaType.includes('nondistributable');
}

function descriptorJson(d: Descriptor, indent: string): string {
  const i = indent + '   ';
  return `{\n${i}"mediaType": ${goJsonString(d.mediaType)},\n${i}"size": ${d.size},\n${i}"digest": ${goJsonString(d.digest)}\n${indent}}`;
}

/**
 * The bytes of an image manifest as docker's push writes them (`json.MarshalIndent(m, "", "   ")`):
 * `docker` gives schema 2 (its config and gzip layer types), `oci` an OCI image manifest.
 */
export function imageManifestBytes(config: Descriptor, layers: Descriptor[], kind: 'docker' | 'oci'): Buffer {
  const mediaType = kind === 'docker' ? MEDIA_TYPES.dockerManifest : MEDIA_TYPES.ociManifest;
  const layerList = layers.length === 0 ? '[]' : `[\n${layers.map((l) => `      ${descriptorJson(l, '      ')}`).join(',\n')}\n   ]`;
  return Buffer.from(
    `{\n   "schemaVersion": 2,\n   "mediaType": ${goJsonString(mediaType)},\n   "config": ${descriptorJson(config, '   ')},\n   "layers": ${layerList}\n}`,
  );
}
