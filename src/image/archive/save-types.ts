/**
 * What `strata save` writes from: images as their config bytes plus a way to stream each layer's
 * exact tar, and the checks both archive writers (`docker-save.ts`, `oci-layout.ts`) run on them
 * before writing a byte.
 *
 * The writers never hold a layer in memory: a tar member's header needs the size first, so each
 * layer says how long its tar is (`tarSize`, from the layer store's tar-split with `tarSizeOf`,
 * or a file's size) and the writer then pipes `tarStream()` straight through. Worked example —
 * an image read back from the fixture's `docker save` output:
 *
 *   const configBytes = fs.readFileSync(configPath);
 *   const config = parseImageConfig(configBytes);
 *   const image: SaveImage = {
 *     id: imageId(configBytes),                       // sha256:5ca0cdc5…: the config's hash
 *     configBytes, config,
 *     repoTags: ['strata-oracle/built:1'],            // familiar form, as `docker images` shows it
 *     layers: config.rootfs.diff_ids.map((d, i) => ({
 *       diffId: d, chainId: chains[i],
 *       tarSize: fs.statSync(tars[i]).size,           // exact: the header is written before the bytes
 *       tarStream: ({ signal } = {}) => fs.createReadStream(tars[i], { signal }),
 *     })),
 *   };
 *   for await (const chunk of dockerSaveArchive([image])) out.write(chunk);
 *
 * `prepareImages` is what both writers do first, so a bad input fails before any output:
 * - the ID must be the SHA-256 of `configBytes` and the layers must match `rootfs.diff_ids`
 *   (`SAVE_IMAGE_INVALID`), sizes must be non-negative integers;
 * - an image with no layers is refused as dockerd refuses it (`IMAGE_EMPTY_EXPORT`,
 *   `empty export - not implemented`);
 * - every repo tag is parsed as dockerd's save parses names (`busybox` means `busybox:latest`),
 *   repeated tags of one image are dropped, and a digest reference — which `docker save` never
 *   writes as a tag — is refused (`SAVE_INVALID_TAG`);
 * - the same image given twice is saved once, with the tags of both (dockerd keys images by ID).
 */
import { type Digest, sha256Of } from '../../digest/index.js';
import { StrataError } from '../../errors/index.js';
import type { ImageConfig } from '../config.js';
import { parseGoTime } from '../imagedb/gotime.js';
import { type Reference, parseNormalizedNamed, tagNameOnly } from '../reference/index.js';

/** One layer of an image to save. */
export interface SaveLayer {
  /** sha256 of the layer tar. */
  diffId: Digest;
  chainId: Digest;
  /** Exact byte length of `tarStream()`. */
  tarSize: number;
  /** The exact uncompressed layer tar. */
  tarStream(opts?: { signal?: AbortSignal }): AsyncIterable<Uint8Array>;
}

/** One image to save. */
export interface SaveImage {
  /** sha256 of `configBytes`. */
  id: Digest;
  /** The config exactly as stored. */
  configBytes: Buffer;
  /** `configBytes` parsed. */
  config: ImageConfig;
  /**
   * Familiar `name:tag` strings as docker prints them (`busybox:latest`,
   * `example.com/a/b:1`); may be empty.
   */
  repoTags: string[];
  /** Bottom first; matches `config.rootfs.diff_ids`. */
  layers: SaveLayer[];
  /**
   * The image store's parent of this image (imagedb `metadata/…/parent`), if any. `docker save`
   * writes it as the manifest's `Parent` when that parent is saved in the same archive.
   */
  parent?: Digest;
}

export interface SaveOptions {
  signal?: AbortSignal;
  /** Called after each chunk is handed out, with the total bytes handed out so far. */
  onProgress?: (bytesWritten: number) => void;
}

/** An image after `prepareImages`: tags parsed, duplicates merged. */
export interface PreparedImage {
  image: SaveImage;
  /** Tagged references (`docker.io/library/busybox:latest`), in order, without repeats. */
  refs: Reference[];
  /** `config.created` as the seconds dockerd's `system.Chtimes` leaves on a file. */
  createdSeconds: number;
}

function invalid(message: string): StrataError {
  return new StrataError('SAVE_IMAGE_INVALID', message);
}

/** The tagged reference a repo tag names, as dockerd's save parses it. */
export function parseRepoTag(tag: string): Reference {
  const ref = tagNameOnly(parseNormalizedNamed(tag));
  if (ref.digest !== undefined) throw new StrataError('SAVE_INVALID_TAG', `invalid tag ${JSON.stringify(tag)}: a digest reference is not a tag`);
  return ref;
}

function checkLayers(img: SaveImage): void {
  const diffIds = img.config.rootfs.diff_ids;
  if (diffIds.length === 0) throw new StrataError('IMAGE_EMPTY_EXPORT', 'empty export - not implemented');
  if (img.layers.length !== diffIds.length) {
    throw invalid(`image ${img.id}: ${img.layers.length} layers given, its config has ${diffIds.length}`);
  }
  img.layers.forEach((l, i) => {
    if (l.diffId !== diffIds[i]) throw invalid(`image ${img.id}: layer ${i} is ${l.diffId}, its config says ${diffIds[i]}`);
    if (!Number.isSafeInteger(l.tarSize) || l.tarSize < 0) throw invalid(`layer ${l.diffId}: bad tarSize ${l.tarSize}`);
  });
}

function checkImage(img: SaveImage): void {
  const actual = sha256Of(img.configBytes);
  if (actual !== img.id) throw invalid(`image ${img.id}: its config bytes hash to ${actual}`);
  checkLayers(img);
}

/**
 * moby's `system.Chtimes(path, created, created)` as a tar header then shows it: whole seconds
 * (archive.Tar truncates), and a time before 1970 or past the 64-bit nanosecond range (Go's zero
 * time included) becomes the Unix epoch.
 */
export function chtimesSeconds(created: string): number {
  const t = parseGoTime(created);
  if (typeof t === 'string') return 0;
  const d = new Date(0);
  d.setUTCFullYear(t.year, t.month - 1, t.day);
  d.setUTCHours(t.hour, t.minute, t.second, 0);
  const seconds = Math.floor(d.getTime() / 1000) - t.offsetMinutes * 60;
  const max = 9223372036; // time.Unix(0, 1<<63-1), whole seconds
  return seconds < 0 || seconds > max ? 0 : seconds;
}

/**
 * The images to write: checked, tags parsed, and an image given twice merged into its first
 * place (dockerd keys the images of one save by ID).
 */
export function prepareImages(images: readonly SaveImage[]): PreparedImage[] {
  const byId = new Map<string, PreparedImage>();
  for (const image of images) {
    let p = byId.get(image.id);
    if (!p) {
      checkImage(image);
      p = { image, refs: [], createdSeconds: chtimesSeconds(image.config.created) };
      byId.set(image.id, p);
    }
    for (const tag of image.repoTags) {
      const ref = parseRepoTag(tag);
      if (!p.refs.some((r) => r.string() === ref.string())) p.refs.push(ref);
    }
  }
  return [...byId.values()];
}

/**
 * save.go's `validatedParentLinks`: the manifest's `Parent` of `img` — its parent, if that is
 * one of the images saved (`ids`) and not the image itself; otherwise none.
 */
export function savedParent(img: SaveImage, ids: ReadonlySet<string>): Digest | undefined {
  return img.parent !== undefined && img.parent !== img.id && ids.has(img.parent) ? img.parent : undefined;
}
