/**
 * The `distribution/` mappings: how a data root remembers which registry blobs its layers came
 * from, so a pull never fetches a layer it has and a push never uploads a blob the registry has
 * (moby's distribution/metadata, 20.10). Two small maps, in Docker's files (spec 8.4):
 *
 *   image/overlay2/distribution/                                        0700
 *   ├── diffid-by-digest/sha256/<blob hex>        "sha256:<diffid>"     0644, no newline
 *   └── v2metadata-by-diffid/sha256/<diffid hex>  [{"Digest":"sha256:…","SourceRepository":"docker.io/library/busybox","HMAC":""}]
 *
 *   const dist = new DistributionStore(path.join(root, 'image/overlay2/distribution'));
 *   dist.add(diffId, { Digest: blob, SourceRepository: 'docker.io/library/busybox', HMAC: '' });  // pull records this
 *   dist.diffIdOf(blob)          // diffId: the blob is a layer we have
 *   dist.metadataOf(diffId)      // where that layer lives in registries (at most 50, newest last)
 *   dist.remove(entry)           // forgets one blob (and the list's file when it empties)
 *
 * Every write is atomic (`atomicWriteFile`, as moby's AtomicWriteFile). Unreadable files read as
 * absent, as moby treats them.
 */
import fs from 'node:fs';
import path from 'node:path';
import { goJsonString } from '../archive/gostrings.js';
import { parseDigest, type Digest } from '../digest/index.js';
import { atomicWriteFile } from './imagedb/index.js';

/** moby's `V2Metadata`: one registry blob of a layer. Go field names, no json tags. */
export interface V2Metadata {
  Digest: string;
  SourceRepository: string;
  /** Lowercase hex HMAC-SHA256 tying the entry to push credentials; '' for pulls. */
  HMAC: string;
}

/** Most entries kept per DiffID; older ones are dropped. */
export const MAX_V2_METADATA = 50;

const DIFFID_BY_DIGEST = 'diffid-by-digest';
const V2_BY_DIFFID = 'v2metadata-by-diffid';

/** Go's `json.Marshal([]V2Metadata)`. */
export function marshalV2Metadata(list: readonly V2Metadata[]): string {
  return `[${list.map((m) => `{"Digest":${goJsonString(m.Digest)},"SourceRepository":${goJsonString(m.SourceRepository)},"HMAC":${goJsonString(m.HMAC)}}`).join(',')}]`;
}

function same(a: V2Metadata, b: V2Metadata): boolean {
  return a.Digest === b.Digest && a.SourceRepository === b.SourceRepository && a.HMAC === b.HMAC;
}

export class DistributionStore {
  /** `image/<driver>/distribution`. */
  readonly root: string;

  constructor(root: string) {
    this.root = root;
  }

  #file(namespace: string, d: Digest): string {
    return path.join(this.root, namespace, 'sha256', d.slice(7));
  }

  #read(file: string): string | undefined {
    try {
      return fs.readFileSync(file, 'utf8');
    } catch {
      return undefined;
    }
  }

  #write(file: string, data: string): void {
    fs.mkdirSync(this.root, { recursive: true, mode: 0o700 });
    fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o755 });
    atomicWriteFile(file, data, 0o644);
  }

  /** The DiffID of the layer a registry blob holds, if known. */
  diffIdOf(blob: Digest): Digest | undefined {
    const text = this.#read(this.#file(DIFFID_BY_DIGEST, parseDigest(blob)));
    try {
      return text === undefined ? undefined : parseDigest(text);
    } catch {
      return undefined;
    }
  }

  /** The registry blobs known for a layer, oldest first. */
  metadataOf(diffId: Digest): V2Metadata[] {
    const text = this.#read(this.#file(V2_BY_DIFFID, parseDigest(diffId)));
    if (text === undefined) return [];
    try {
      const list = JSON.parse(text) as unknown;
      if (!Array.isArray(list)) return [];
      return list
        .filter((m): m is Record<string, unknown> => typeof m === 'object' && m !== null)
        .map((m) => ({ Digest: String(m.Digest ?? ''), SourceRepository: String(m.SourceRepository ?? ''), HMAC: String(m.HMAC ?? '') }));
    } catch {
      return [];
    }
  }

  /** moby's `V2MetadataService.Add`: blob → DiffID, and the entry appended to the DiffID's list (an equal one moved to the end). */
  add(diffId: Digest, entry: V2Metadata): void {
    const blob = parseDigest(entry.Digest);
    this.#write(this.#file(DIFFID_BY_DIGEST, blob), diffId);
    const list = this.metadataOf(diffId).filter((m) => !same(m, entry));
    list.push(entry);
    this.#write(this.#file(V2_BY_DIFFID, parseDigest(diffId)), marshalV2Metadata(list.slice(-MAX_V2_METADATA)));
  }

  /** moby's `Remove`: forgets the blob and its entry; the DiffID's file goes when its list empties. */
  remove(entry: V2Metadata): void {
    const blob = parseDigest(entry.Digest);
    const diffId = this.diffIdOf(blob);
    fs.rmSync(this.#file(DIFFID_BY_DIGEST, blob), { force: true });
    if (!diffId) return;
    const list = this.metadataOf(diffId).filter((m) => !same(m, entry));
    const file = this.#file(V2_BY_DIFFID, diffId);
    if (list.length === 0) fs.rmSync(file, { force: true });
    else this.#write(file, marshalV2Metadata(list));
  }
}
