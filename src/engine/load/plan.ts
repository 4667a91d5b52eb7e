/**
 * What an archive asks to load, worked out and checked before anything is registered: the
 * images (config member, layer members, names), from either form an archive comes in.
 *
 * - `docker save` form (dockerd 20.10, and Docker 25+'s OCI-layout archives, which carry the
 *   same `manifest.json` next to `index.json`):
 *     [{"Config":"<hex>.json","RepoTags":["app:1"],"Layers":["<v1id>/layer.tar", …]}]
 * - OCI image layout (`skopeo copy … oci:`, `oci-archive:`, a layout directory): `index.json`
 *   → manifests (a nested index or manifest list picks one platform: `--platform`, else the
 *   host's) → config and layer blobs under `blobs/<alg>/<hex>`, each checked against its digest.
 *
 * Everything a load could fail on without reading layer data fails here, so a bad archive
 * registers nothing: JSON that is not what it claims, a member or blob that is missing, a config
 * that does not parse or whose DiffIDs do not match the layer count, a name that is not a tag.
 */
import { parseDigest, sha256Of, type Digest } from '../../digest/index.js';
import { StrataError } from '../../errors/index.js';
import { shownName } from '../../image/archive/members.js';
import type { ArchiveSource } from '../../image/archive/source.js';
import { diffIdsOf, parseNewImageConfig, type ImageConfig } from '../../image/config.js';
import { parseNormalizedNamed, type Reference } from '../../image/reference/index.js';
import { formatPlatform, platformMatches, type Platform } from '../platform.js';

/** One image to load. */
export interface LoadItem {
  /** Config member (docker form) or blob path (OCI). */
  configName: string;
  configBytes: Buffer;
  config: ImageConfig;
  /** Bottom first; one per `config.rootfs.diff_ids`. */
  layers: LoadLayer[];
  /** Tags to set (tagged references). */
  tags: Reference[];
  /** docker-save's `Parent`: the image ID of this one's parent, written when both were saved together. */
  parent?: Digest;
}

export interface LoadLayer {
  /** Member holding the (maybe compressed) layer tar. */
  name: string;
  /** The uncompressed tar's expected digest (from the config). */
  diffId: Digest;
  /** OCI: the blob's own digest and size, checked while it is read. */
  blob?: { digest: Digest; size: number };
}

const MAX_JSON = 16 << 20;

const INDEX_TYPES = new Set(['application/vnd.oci.image.index.v1+json', 'application/vnd.docker.distribution.manifest.list.v2+json']);
const MANIFEST_TYPES = new Set(['application/vnd.oci.image.manifest.v1+json', 'application/vnd.docker.distribution.manifest.v2+json']);

function invalid(what: string, why: string): StrataError {
  return new StrataError('INVALID_ARCHIVE_JSON', `invalid ${what}: ${oneLine(why)}`);
}

/** `s` on one line: V8's JSON errors quote the text they failed on, newlines and all. */
function oneLine(s: string): string {
  return s.replace(/\r\n|\n|\r/g, (m) => JSON.stringify(m).slice(1, -1));
}

/** A config parsed (parseNewImageConfig), its errors kept to one line. */
function parseConfig(bytes: Buffer): ImageConfig {
  try {
    return parseNewImageConfig(bytes);
  } catch (e) {
    if (e instanceof StrataError && /[\r\n]/.test(e.message)) throw new StrataError(e.code, oneLine(e.message), { cause: e });
    throw e;
  }
}

async function readJson(src: ArchiveSource, name: string, what: string): Promise<unknown> {
  if (!src.has(name)) throw new StrataError('ARCHIVE_MISSING_MEMBER', `${what} ${shownName(name)} not found in archive`);
  const bytes = await src.readFile(name, MAX_JSON);
  try {
    return JSON.parse(bytes.toString('utf8'));
  } catch (e) {
    throw invalid(what, (e as Error).message);
  }
}

function isObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

function stringArray(x: unknown, what: string): string[] {
  if (x === null || x === undefined) return [];
  if (!Array.isArray(x) || x.some((s) => typeof s !== 'string')) throw invalid(what, 'expected an array of strings');
  return x as string[];
}

/** Reads and parses a config member (a docker-save `Config` path). */
async function readConfig(src: ArchiveSource, name: string): Promise<{ bytes: Buffer; config: ImageConfig }> {
  if (!src.has(name)) throw new StrataError('ARCHIVE_MISSING_MEMBER', `config ${shownName(name)} not found in archive`);
  const bytes = await src.readFile(name, MAX_JSON);
  return { bytes, config: parseConfig(bytes) };
}

/** An OCI blob's bytes (a manifest, index or config), checked against its descriptor's digest and size. */
async function readBlob(src: ArchiveSource, d: Descriptor, what: string): Promise<Buffer> {
  const name = blobName(d);
  if (!src.has(name)) throw new StrataError('ARCHIVE_MISSING_MEMBER', `${what} ${d.digest} not found in the layout`);
  const bytes = await src.readFile(name, MAX_JSON);
  const got = sha256Of(bytes);
  if (got !== d.digest) throw new StrataError('DIGEST_MISMATCH', `${what} ${d.digest}: digest mismatch: the blob hashes to ${got}`);
  if (bytes.length !== d.size) throw new StrataError('SIZE_MISMATCH', `${what} ${d.digest}: size mismatch: expected ${d.size} bytes, got ${bytes.length}`);
  return bytes;
}

/** A blob's JSON, after readBlob's checks. */
async function readBlobJson(src: ArchiveSource, d: Descriptor, what: string): Promise<unknown> {
  const bytes = await readBlob(src, d, what);
  try {
    return JSON.parse(bytes.toString('utf8'));
  } catch (e) {
    throw invalid(`${what} ${d.digest}`, (e as Error).message);
  }
}

function checkLayerCount(config: ImageConfig, layers: number): Digest[] {
  const diffIds = diffIdsOf(config);
  if (diffIds.length !== layers) throw new StrataError('INVALID_MANIFEST', `invalid manifest, layers length mismatch: expected ${layers}, got ${diffIds.length}`);
  return diffIds;
}

function parseTag(s: string): Reference {
  const ref = parseNormalizedNamed(s);
  if (ref.tag === undefined || ref.digest !== undefined) throw new StrataError('INVALID_TAG', `invalid tag ${JSON.stringify(s)}`);
  return ref;
}

/** The images of a `docker save` archive's manifest.json. */
export async function planDockerArchive(src: ArchiveSource): Promise<LoadItem[]> {
  const doc = await readJson(src, 'manifest.json', 'manifest.json');
  if (!Array.isArray(doc)) throw invalid('manifest.json', 'expected an array of images');
  const items: LoadItem[] = [];
  for (const m of doc) {
    if (!isObject(m) || typeof m.Config !== 'string') throw invalid('manifest.json', 'an entry without a Config string');
    const layerNames = stringArray(m.Layers, 'manifest.json Layers');
    const tags = stringArray(m.RepoTags, 'manifest.json RepoTags').map(parseTag);
    const { bytes, config } = await readConfig(src, m.Config);
    const diffIds = checkLayerCount(config, layerNames.length);
    const layers = layerNames.map((name, i) => {
      if (!src.has(name)) throw new StrataError('ARCHIVE_MISSING_MEMBER', `layer ${shownName(name)} not found in archive`);
      return { name, diffId: diffIds[i]! };
    });
    let parent: Digest | undefined;
    if (m.Parent !== undefined && m.Parent !== '') {
      try {
        parent = parseDigest(String(m.Parent));
      } catch {
        throw invalid('manifest.json', `invalid Parent ${JSON.stringify(m.Parent)}`);
      }
    }
    items.push({ configName: m.Config, configBytes: bytes, config, layers, tags, ...(parent ? { parent } : {}) });
  }
  return items;
}

interface Descriptor {
  mediaType: string;
  digest: Digest;
  size: number;
  platform?: Platform;
  annotations: Record<string, string>;
}

function descriptor(x: unknown, what: string): Descriptor {
  if (!isObject(x) || typeof x.digest !== 'string' || typeof x.size !== 'number') throw invalid(what, 'a descriptor without digest and size');
  let digest: Digest;
  try {
    digest = parseDigest(x.digest);
  } catch {
    throw invalid(what, `unsupported digest ${JSON.stringify(x.digest)}`);
  }
  const d: Descriptor = { mediaType: typeof x.mediaType === 'string' ? x.mediaType : '', digest, size: x.size, annotations: {} };
  if (isObject(x.platform) && typeof x.platform.os === 'string' && typeof x.platform.architecture === 'string') {
    d.platform = { os: x.platform.os, architecture: x.platform.architecture, ...(typeof x.platform.variant === 'string' ? { variant: x.platform.variant } : {}) };
  }
  if (isObject(x.annotations)) for (const [k, v] of Object.entries(x.annotations)) if (typeof v === 'string') d.annotations[k] = v;
  return d;
}

function blobName(d: Descriptor): string {
  return `blobs/sha256/${d.digest.slice(7)}`;
}

function descriptors(doc: unknown, what: string): Descriptor[] {
  if (!isObject(doc) || !Array.isArray(doc.manifests)) throw invalid(what, 'no manifests array');
  return doc.manifests.map((m) => descriptor(m, what));
}

/** Of an index's entries, the image manifests for `want` (entries without a platform always count). */
async function pickManifests(src: ArchiveSource, entries: Descriptor[], want: Platform, depth: number): Promise<Descriptor[]> {
  if (depth > 4) throw invalid('index', 'indexes nested too deep');
  const out: Descriptor[] = [];
  const platformed = entries.filter((d) => d.platform && MANIFEST_TYPES.has(d.mediaType));
  const matching = platformed.filter((d) => platformMatches(d.platform!, want));
  if (platformed.length > 0 && matching.length === 0 && entries.every((d) => d.platform)) {
    throw new StrataError('NO_MATCHING_PLATFORM', `no image for platform ${formatPlatform(want)} (has: ${platformed.map((d) => formatPlatform(d.platform!)).join(', ')})`);
  }
  // The layout's own index lists images (each tag may name one, platforms written in); a nested
  // index is one image for many platforms, of which one is picked — an exact variant first.
  if (depth === 0) out.push(...matching);
  else if (matching.length > 0) out.push(matching.find((d) => d.platform!.variant === want.variant) ?? matching[0]!);
  for (const d of entries) {
    if (d.platform && MANIFEST_TYPES.has(d.mediaType)) continue;
    if (INDEX_TYPES.has(d.mediaType)) {
      const nested = await readBlobJson(src, d, 'index');
      const picked = await pickManifests(src, descriptors(nested, `index ${d.digest}`), want, depth + 1);
      out.push(...picked.map((p) => ({ ...p, annotations: { ...d.annotations, ...p.annotations } })));
    } else if (MANIFEST_TYPES.has(d.mediaType) || d.mediaType === '') {
      out.push(d);
    }
  }
  return out;
}

/** The name an OCI index entry gives its image, if it gives a full one. */
function ociName(d: Descriptor): Reference | undefined {
  const full = d.annotations['io.containerd.image.name'];
  if (full) return parseTag(full);
  const ref = d.annotations['org.opencontainers.image.ref.name'];
  // A bare ref.name (`latest`, `1.0`) is only a tag within the layout, not an image name.
  if (ref && (ref.includes('/') || ref.includes(':'))) {
    try {
      return parseTag(ref);
    } catch {
      return undefined;
    }
  }
  return undefined;
}

/** The images of an OCI image layout, for platform `want`. */
export async function planOciLayout(src: ArchiveSource, want: Platform): Promise<LoadItem[]> {
  const index = await readJson(src, 'index.json', 'index.json');
  const entries = descriptors(index, 'index.json');
  const manifests = await pickManifests(src, entries, want, 0);
  if (manifests.length === 0) {
    // Unknown media types are skipped (as OCI asks); a layout of nothing but those is not an image.
    const types = [...new Set(entries.map((d) => JSON.stringify(d.mediaType)))];
    throw new StrataError('NO_IMAGES', `index.json lists no image manifest to load${types.length > 0 ? ` (media types: ${types.join(', ')})` : ''}`);
  }
  const byDigest = new Map<string, LoadItem>();
  for (const d of manifests) {
    const name = ociName(d);
    const seen = byDigest.get(d.digest);
    if (seen) {
      if (name && !seen.tags.some((t) => t.string() === name.string())) seen.tags.push(name);
      continue;
    }
    const doc = await readBlobJson(src, d, 'manifest');
    if (!isObject(doc) || !isObject(doc.config) || !Array.isArray(doc.layers)) throw invalid(`manifest ${d.digest}`, 'no config or layers');
    const cfg = descriptor(doc.config, `manifest ${d.digest} config`);
    const layerDescs = doc.layers.map((l) => descriptor(l, `manifest ${d.digest} layers`));
    const bytes = await readBlob(src, cfg, 'config');
    const config = parseConfig(bytes);
    const diffIds = checkLayerCount(config, layerDescs.length);
    const layers = layerDescs.map((l, i) => {
      if (!src.has(blobName(l))) throw new StrataError('ARCHIVE_MISSING_MEMBER', `blob ${l.digest} (layer ${i}) not found in the layout`);
      return { name: blobName(l), diffId: diffIds[i]!, blob: { digest: l.digest, size: l.size } };
    });
    byDigest.set(d.digest, { configName: blobName(cfg), configBytes: bytes, config, layers, tags: name ? [name] : [] });
  }
  return [...byDigest.values()];
}

/**
 * The load plan of any archive strata reads. With `explicit` (the user named `--platform`), an
 * image whose index entry names no platform is kept only if its config's os/architecture match,
 * as newer Docker's `load --platform` does; none left is `NO_MATCHING_PLATFORM`.
 */
export async function planLoad(src: ArchiveSource, want: Platform, explicit = false): Promise<LoadItem[]> {
  let items: LoadItem[];
  if (src.has('manifest.json')) items = await planDockerArchive(src);
  else if (src.has('index.json')) items = await planOciLayout(src, want);
  else throw new StrataError('NOT_AN_IMAGE_ARCHIVE', 'no manifest.json or index.json in the archive: not a docker save archive or an OCI image layout');
  if (!explicit) return items;
  const kept = items.filter((i) => platformMatches({ os: i.config.os, architecture: i.config.architecture, ...(i.config.variant ? { variant: i.config.variant } : {}) }, want));
  if (kept.length === 0) {
    const has = [...new Set(items.map((i) => formatPlatform({ os: i.config.os, architecture: i.config.architecture, ...(i.config.variant ? { variant: i.config.variant } : {}) })))];
    throw new StrataError('NO_MATCHING_PLATFORM', `no image for platform ${formatPlatform(want)} (has: ${has.join(', ')})`);
  }
  return kept;
}
