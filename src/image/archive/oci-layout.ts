/**
 * Images as an OCI image layout in a tar — what `skopeo … oci-archive:FILE:TAG` and `umoci`
 * read — with Docker 25's `manifest.json` added, so dockerd 20.10's `docker load` (which only
 * reads `manifest.json`) takes the same file.
 *
 * Every blob is stored once under `blobs/sha256/<hex>`: each image's config (its original
 * bytes, so the image ID stays the config digest), an OCI image manifest per image, and each
 * layer's tar uncompressed (so its digest is its DiffID — no compression step, nothing to
 * recompute, and a layer shared by two images is written once). Worked example — the fixture's
 * base image tagged `strata-oracle/base:1`:
 *
 *   blobs/                                  040755
 *   blobs/sha256/                           040755
 *   blobs/sha256/469789f7…badde             the config, 893 B         (mtime: config.created)
 *   blobs/sha256/6accd2b6…2819              the layer tar, 2 324 480 B (mtime: config.created)
 *   blobs/sha256/<manifest hex>             {"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",
 *                                            "config":{"mediaType":"application/vnd.oci.image.config.v1+json",
 *                                              "digest":"sha256:469789f7…","size":893,
 *                                              "platform":{"architecture":"amd64","os":"linux"}},
 *                                            "layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar",
 *                                              "digest":"sha256:6accd2b6…","size":2324480}]}
 *   index.json                              {"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json",
 *                                            "manifests":[{"mediaType":"…manifest.v1+json","digest":"sha256:<manifest hex>",
 *                                              "size":…,"annotations":{"io.containerd.image.name":"docker.io/strata-oracle/base:1",
 *                                              "org.opencontainers.image.ref.name":"1"},"platform":{…}}]}
 *   manifest.json                           [{"Config":"blobs/sha256/469789f7…","RepoTags":["strata-oracle/base:1"],
 *                                             "Layers":["blobs/sha256/6accd2b6…"]}]\n
 *   oci-layout                              {"imageLayoutVersion":"1.0.0"}
 *
 *   for await (const chunk of ociLayoutArchive([base])) out.write(chunk);
 *   // skopeo inspect oci-archive:out.tar:1     umoci unpack --image dir:1 bundle     docker load -i out.tar
 *
 * The index has one manifest descriptor per tag, annotated as Docker 25 and containerd do:
 * `io.containerd.image.name` the fully qualified reference, `org.opencontainers.image.ref.name`
 * the tag alone — which is what skopeo's and umoci's `:TAG` match, so two images saved with the
 * same tag (`a:1`, `b:1`) share a ref name: skopeo takes the first, umoci calls it ambiguous.
 * An untagged image gets one descriptor without annotations. JSON is Go's (`json.Marshal` field
 * order, `\u0026`-style escapes), `manifest.json` as in `docker-save.ts` (with `Parent` when the
 * parent is saved too). Members are in `filepath.Walk` order with dockerd's headers
 * (`tarout.ts`); config and layer blobs carry their image's `created` time, everything else the
 * epoch, so the same input gives the same bytes.
 */
import { digestHex, sha256Of, type Digest } from '../../digest/index.js';
import { goJsonString } from '../../archive/gostrings.js';
import { StrataError } from '../../errors/index.js';
import type { ImageConfig } from '../config.js';
import { type ManifestItem, manifestJson } from './docker-save.js';
import { type PreparedImage, type SaveImage, type SaveLayer, type SaveOptions, prepareImages, savedParent } from './save-types.js';
import { type TarOutMember, sortWalkOrder, writeTarMembers } from './tarout.js';

export const MEDIA_TYPE_OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
export const MEDIA_TYPE_OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const MEDIA_TYPE_OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
export const MEDIA_TYPE_OCI_LAYER_TAR = 'application/vnd.oci.image.layer.v1.tar';
/** containerd's annotation for the full image name (`images.AnnotationImageName`). */
export const ANNOTATION_IMAGE_NAME = 'io.containerd.image.name';
/** The OCI ref name annotation (`ocispec.AnnotationRefName`). */
export const ANNOTATION_REF_NAME = 'org.opencontainers.image.ref.name';
const OCI_LAYOUT = '{"imageLayoutVersion":"1.0.0"}';
const BLOBS = 'blobs/sha256';

/** JSON object text from [key, JSON value] pairs, in the given order, empty values skipped. */
function obj(members: Array<[string, string | undefined]>): string {
  return '{' + members.filter(([, v]) => v !== undefined).map(([k, v]) => goJsonString(k) + ':' + v).join(',') + '}';
}

/** `ocispec.Platform` of an image (`image.Platform()`): architecture, os, os.version, os.features, variant. */
function platformJson(c: ImageConfig): string {
  return obj([
    ['architecture', goJsonString(c.architecture)],
    ['os', goJsonString(c.os)],
    ['os.version', c['os.version'] ? goJsonString(c['os.version']) : undefined],
    ['os.features', c['os.features'].length > 0 ? '[' + c['os.features'].map(goJsonString).join(',') + ']' : undefined],
    ['variant', c.variant ? goJsonString(c.variant) : undefined],
  ]);
}

/** An `ocispec.Descriptor` (mediaType, digest, size, annotations, platform). */
function descriptorJson(mediaType: string, digest: string, size: number, extra: { annotations?: string; platform?: string } = {}): string {
  return obj([
    ['mediaType', goJsonString(mediaType)],
    ['digest', goJsonString(digest)],
    ['size', String(size)],
    ['annotations', extra.annotations],
    ['platform', extra.platform],
  ]);
}

/** The OCI image manifest of one image: config and uncompressed layers by DiffID. */
export function ociManifestJson(img: SaveImage): Buffer {
  const config = descriptorJson(MEDIA_TYPE_OCI_CONFIG, img.id, img.configBytes.length, { platform: platformJson(img.config) });
  const layers = img.layers.map((l) => descriptorJson(MEDIA_TYPE_OCI_LAYER_TAR, l.diffId, l.tarSize));
  const text = obj([
    ['schemaVersion', '2'],
    ['mediaType', goJsonString(MEDIA_TYPE_OCI_MANIFEST)],
    ['config', config],
    ['layers', '[' + layers.join(',') + ']'],
  ]);
  return Buffer.from(text, 'utf8');
}

/** The index descriptors of one image's manifest: one per tag, or one bare one if untagged. */
function indexDescriptors(p: PreparedImage, manifest: Buffer): string[] {
  const digest = sha256Of(manifest);
  const platform = platformJson(p.image.config);
  if (p.refs.length === 0) return [descriptorJson(MEDIA_TYPE_OCI_MANIFEST, digest, manifest.length, { platform })];
  return p.refs.map((ref) => {
    const annotations = obj([
      [ANNOTATION_IMAGE_NAME, goJsonString(ref.string())],
      [ANNOTATION_REF_NAME, goJsonString(ref.tag!)],
    ]);
    return descriptorJson(MEDIA_TYPE_OCI_MANIFEST, digest, manifest.length, { annotations, platform });
  });
}

function indexJson(descriptors: string[]): Buffer {
  const text = obj([
    ['schemaVersion', '2'],
    ['mediaType', goJsonString(MEDIA_TYPE_OCI_INDEX)],
    ['manifests', '[' + descriptors.join(',') + ']'],
  ]);
  return Buffer.from(text, 'utf8');
}

/** The blob members, each digest once; a layer seen again must have the same size. */
class Blobs {
  readonly members = new Map<string, TarOutMember>();
  private readonly sizes = new Map<string, number>();

  file(digest: Digest, data: Buffer, mtime: number): void {
    const name = `${BLOBS}/${digestHex(digest)}`;
    if (!this.members.has(name)) this.members.set(name, { name, kind: 'file', mtime, data });
  }

  layer(l: SaveLayer, mtime: number): void {
    const name = `${BLOBS}/${digestHex(l.diffId)}`;
    const known = this.sizes.get(name);
    if (known !== undefined && known !== l.tarSize) {
      throw new StrataError('LAYER_SIZE_MISMATCH', `layer ${l.diffId}: given with sizes ${known} and ${l.tarSize}`);
    }
    this.sizes.set(name, l.tarSize);
    if (!this.members.has(name)) this.members.set(name, { name, kind: 'layer', mtime, layer: l });
  }
}

/** Every member of the archive, in `filepath.Walk` order. */
export function ociLayoutMembers(images: readonly SaveImage[]): TarOutMember[] {
  const prepared = prepareImages(images);
  const ids = new Set<string>(prepared.map((p) => p.image.id));
  const blobs = new Blobs();
  const descriptors: string[] = [];
  const items: ManifestItem[] = [];
  for (const p of prepared) {
    const img = p.image;
    blobs.file(img.id, img.configBytes, p.createdSeconds);
    for (const l of img.layers) blobs.layer(l, p.createdSeconds);
    const manifest = ociManifestJson(img);
    blobs.file(sha256Of(manifest), manifest, 0);
    descriptors.push(...indexDescriptors(p, manifest));
    const parent = savedParent(img, ids);
    items.push({
      config: `${BLOBS}/${digestHex(img.id)}`,
      repoTags: p.refs.map((r) => r.familiarString()),
      layers: img.layers.map((l) => `${BLOBS}/${digestHex(l.diffId)}`),
      ...(parent ? { parent } : {}),
    });
  }
  return sortWalkOrder([
    { name: 'blobs', kind: 'dir', mtime: 0 },
    { name: BLOBS, kind: 'dir', mtime: 0 },
    ...blobs.members.values(),
    { name: 'index.json', kind: 'file', mtime: 0, data: indexJson(descriptors) },
    { name: 'manifest.json', kind: 'file', mtime: 0, data: manifestJson(items) },
    { name: 'oci-layout', kind: 'file', mtime: 0, data: Buffer.from(OCI_LAYOUT) },
  ]);
}

/**
 * An OCI image layout (as a tar) that skopeo (`oci-archive:`) and umoci accept, plus Docker 25's
 * `manifest.json` so dockerd 20.10's `docker load` accepts it too.
 */
export async function* ociLayoutArchive(images: SaveImage[], opts: SaveOptions = {}): AsyncGenerator<Buffer> {
  opts.signal?.throwIfAborted();
  yield* writeTarMembers(ociLayoutMembers(images), opts);
}
