/**
 * Legacy V1 image IDs: the directory names `docker save` (20.10) gives the layers of an image.
 *
 * Before content-addressed configs (Docker 1.10), every layer was an "image" with a random
 * 64-hex ID and a JSON file of its own. `docker save` still writes that layout, so it needs an
 * ID per layer, and it makes one deterministically (moby `image/v1/imagev1.go` CreateID, called
 * from `image/tarexport/save.go`). For layer `i` of an image (bottom first):
 *
 * 1. take a V1Image: for the top layer the image's own V1 fields (`img.V1Image`: architecture,
 *    config, container_config, created, …); for every other layer an empty one whose only value
 *    is `created: time.Unix(0, 0)` — local time, so `1970-01-01T00:00:00Z` on a UTC host;
 * 2. clear `id`, marshal it (Go struct order; `container_config` is always there, zeroed), read
 *    it back as a map, add `"layer_id": "<ChainID of layers 0..i>"` and, above the bottom,
 *    `"parent": "sha256:<V1 ID of layer i-1>"`;
 * 3. marshal the map (keys sorted) and SHA-256 it: the hex is the V1 ID.
 *
 * The `json` file next to `layer.tar` is that V1Image with `id` = the V1 ID, `parent` = the
 * previous V1 ID (bare hex), and `os` = the image's OS, marshalled in struct order (no newline).
 * `os` is set *after* the ID is computed, so it is part of the top layer's hash (it was in the
 * image's fields already) but not of the others'. Worked example — the two-layer image whose
 * top is `{"architecture":"amd64","created":"2026-11-23T10:22:17Z",…,"os":"linux"}`:
 *
 *   layer 0: sha256 of {"container_config":{…zero…},"created":"1970-01-01T00:00:00Z",
 *                       "layer_id":"sha256:<diffid 0>"}                        → 64 hex = A
 *            json: {"id":"A","created":"1970-01-01T00:00:00Z","container_config":{…},"os":"linux"}
 *   layer 1: sha256 of {"architecture":"amd64","config":{…},"container_config":{…},
 *                       "created":"2026-11-23T10:22:17Z",…,"layer_id":"sha256:<chain 1>",
 *                       "os":"linux","parent":"sha256:A"}                      → B
 *            json: {"id":"B","parent":"A","created":"2026-11-23T10:22:17Z",…,"os":"linux"}
 *
 *   const layers = v1Layers(parseImageConfig(bytes));
 *   layers.map((l) => l.v1Id)      // the `<v1id>/` directories, bottom first
 *   layers.at(-1)!.v1Id            // what the archive's `repositories` file names for a tag
 *
 * (Writing the archive — `VERSION` "1.0", `layer.tar`, symlinks for repeated DiffIDs, the
 * mtimes — is the save code's business; this module only names things.)
 */
import { type Digest, chainIds, digestHex, sha256Of } from '../digest/index.js';
import { StrataError } from '../errors/index.js';
import { goJsonString } from '../archive/gostrings.js';
import { type ImageConfig, type V1Image, diffIdsOf, marshalSortedMembers, marshalV1Image, newV1Image, v1ImageMembers, v1ImageOf } from './config.js';
import { goUnixEpochLocal } from './imagedb/gotime.js';

/** One layer of a saved image, as `docker save` lays it out. */
export interface V1Layer {
  /** 0 for the bottom layer. */
  index: number;
  /** The V1 ID, 64 hex: the layer's directory in the archive. */
  v1Id: string;
  /** The previous layer's V1 ID (64 hex); absent for the bottom layer. */
  parent?: string;
  /** The layer's DiffID (`sha256 of <v1id>/layer.tar`). */
  diffId: Digest;
  /** ChainID of layers 0..index: the layer in the layer store. */
  chainId: Digest;
  /** The bytes of `<v1id>/json`. */
  json: Buffer;
}

export interface V1Options {
  /**
   * The `created` of every layer but the top one: `time.Unix(0, 0)` as the daemon's local zone
   * writes it. Default: this host's zone (`goUnixEpochLocal()`), `1970-01-01T00:00:00Z` in UTC.
   */
  epochCreated?: string;
}

/**
 * moby's `v1.CreateID(v1Image, layerID, parent)`: the V1 ID (as a digest) of a layer whose V1
 * fields are `v1`, whose ChainID is `layerId` and whose parent's V1 ID is `parent` (if any).
 */
export function createV1Id(v1: V1Image, layerId: string, parent?: Digest): Digest {
  const members = v1ImageMembers({ ...v1, id: '' });
  members.push(['layer_id', goJsonString(layerId)]);
  if (parent !== undefined) members.push(['parent', goJsonString(parent)]);
  return sha256Of(marshalSortedMembers(members));
}

/**
 * The V1 ID and `json` file of every layer of `img`, bottom first, exactly as `docker save`
 * (20.10) makes them. An image without layers throws `IMAGE_EMPTY_EXPORT`
 * (`empty export - not implemented`); a DiffID that is not a sha256 digest, `INVALID_DIGEST`.
 */
export function v1Layers(img: ImageConfig, opts: V1Options = {}): V1Layer[] {
  const diffIds = diffIdsOf(img);
  if (diffIds.length === 0) throw new StrataError('IMAGE_EMPTY_EXPORT', 'empty export - not implemented');
  const chains = chainIds(diffIds);
  const epoch = opts.epochCreated ?? goUnixEpochLocal();
  const out: V1Layer[] = [];
  let parent: Digest | undefined;
  for (let i = 0; i < diffIds.length; i++) {
    const v1: V1Image = i === diffIds.length - 1 ? v1ImageOf(img) : newV1Image({ created: epoch });
    const id = createV1Id(v1, chains[i]!, parent);
    const file: V1Image = { ...v1, id: digestHex(id), parent: parent ? digestHex(parent) : '', os: img.os };
    out.push({
      index: i,
      v1Id: digestHex(id),
      ...(parent ? { parent: digestHex(parent) } : {}),
      diffId: diffIds[i]!,
      chainId: chains[i]!,
      json: Buffer.from(marshalV1Image(file), 'utf8'),
    });
    parent = id;
  }
  return out;
}
