/**
 * The reference store: which image each tag and digest reference names, kept in
 * `<root>/image/<driver>/repositories.json` exactly as moby 20.10's `reference/store.go` keeps it.
 *
 * The file groups references by repository, both spelled in their familiar form, each pointing at
 * an image ID (the SHA-256 of the image's config):
 *
 *   {"Repositories":{"a":{"a:2":"sha256:…","a:latest":"sha256:…"},"user/app":{"user/app:latest":"sha256:…"}}}
 *
 * Keys are sorted (Go's `encoding/json` sorts map keys), there is no newline, and every change
 * rewrites the whole file atomically with the imagedb's `atomicWriteFile` (a
 * `.tmp-repositories.json<digits>` file in the same directory, fsync'd, mode 0600, renamed over
 * the old one; then the directory is fsync'd).
 *
 *   const refs = openReferenceStore(repositoriesJsonPath('/var/lib/docker', 'overlay2'));
 *   refs.addTag('a', imageId);                   // stored as "a:latest" in repository "a"
 *   refs.addTag('a:2', imageId);
 *   refs.addTag('a:2', otherId);                 // ReferenceStoreError REFERENCE_CONFLICT:
 *   //   Conflict: Tag a:2 is already set to image sha256:…, if you want to replace it, please use the force option
 *   refs.addTag('a:2', otherId, true);           // forced: a:2 now names otherId
 *   refs.get('a');                               // imageId (a bare name means :latest)
 *   refs.references(imageId).map(String);        // ['docker.io/library/a:latest']
 *   refs.delete('a');                            // true; "a" still holds a:2
 *   refs.delete('a:2');                          // true; the now-empty repository "a" is removed
 *
 * Rules (moby's):
 * - `addTag` of a name without a tag adds `:latest`; a reference with a digest is refused
 *   (`refusing to create a tag with a digest reference`). `addDigest` of a reference with both a
 *   tag and a digest stores the digest form only.
 * - A tag can be moved with `force`; a digest reference can never be overwritten
 *   (`Cannot overwrite digest <d>`), not even with `force` or to the same image.
 * - A repository whose familiar name is `sha256` is refused
 *   (`refusing to create an ambiguous tag using digest algorithm as name`).
 * - `references(id)` and `referencesByName(name)` are sorted by the *full* reference string
 *   (`docker.io/library/a:2` < `docker.io/user/app:x` < `localhost:5000/b:latest`), not by the
 *   familiar one: the order `docker inspect` shows in `RepoTags`.
 *
 * Where strata differs on purpose: a failed write changes nothing, in memory or on disk (moby
 * keeps the change in memory); a missing file is an empty store and nothing is written until the
 * first change (dockerd writes `{"Repositories":{}}` at start: pass `create: true` for that);
 * `delete` and `get` report "not there" as `false`/`undefined` rather than moby's
 * `reference does not exist` error. Calls are synchronous, so they never interleave. Only one
 * writer may own the file: do not change it while a dockerd runs on the same data root.
 */
import fs from 'node:fs';
import path from 'node:path';
import { StrataError } from '../errors/index.js';
import { type Digest, parseDigest } from '../digest/index.js';
import { goJsonString } from '../archive/tarsplit/index.js';
import { errCode, toSysError } from '../layer/metadata/errors.js';
import { atomicWriteFile } from './imagedb/atomic.js';
import {
  type Reference,
  parseNormalizedNamed,
  tagNameOnly,
  trimNamed,
  withDigest,
} from './reference/index.js';

/** The file name inside `<root>/image/<driver>/`. */
export const REPOSITORIES_JSON = 'repositories.json';

/** `<root>/image/<driver>/repositories.json`, where dockerd keeps its references. */
export function repositoriesJsonPath(root: string, driver: string): string {
  return path.join(root, 'image', driver, REPOSITORIES_JSON);
}

/**
 * Stable codes:
 * - `REFERENCE_CONFLICT`: the tag is taken (without `force`), or a digest reference exists
 *   (moby's `conflictingTagError`);
 * - `REFERENCE_INVALID_TAG`: a digest reference given to `addTag`, or the repository name
 *   `sha256` (moby's `invalidTagError`);
 * - `REFERENCE_NO_DIGEST`: `addDigest` of a reference without a digest (Go's types rule it out);
 * - `REFERENCE_STORE_CORRUPT`: `repositories.json` is not what dockerd writes.
 */
export type ReferenceStoreErrorCode = 'REFERENCE_CONFLICT' | 'REFERENCE_INVALID_TAG' | 'REFERENCE_NO_DIGEST' | 'REFERENCE_STORE_CORRUPT';

/** A refused change, or an unreadable `repositories.json`. The message is moby's text where moby has one. */
export class ReferenceStoreError extends StrataError {
  declare readonly code: ReferenceStoreErrorCode;
  constructor(code: ReferenceStoreErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}

/** A reference and the image it names (moby's `Association`). */
export interface Association {
  ref: Reference;
  id: Digest;
}

export interface OpenReferenceStoreOptions {
  /** Write `{"Repositories":{}}` when the file is missing, as dockerd does at start. Default false. */
  create?: boolean;
}

/** Repositories by familiar name → references by familiar string → image ID. */
type Repos = Map<string, Map<string, string>>;

const ASCII = /^[\x00-\x7f]*$/;
/** Go's string order (bytes of UTF-8), which is what `encoding/json` sorts map keys by. */
function goCompare(a: string, b: string): number {
  if (ASCII.test(a) && ASCII.test(b)) return a < b ? -1 : a > b ? 1 : 0;
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/** The bytes `json.Marshal(store)` writes: `{"Repositories":{…}}`, keys sorted, no newline. */
export function marshalRepositories(repos: ReadonlyMap<string, ReadonlyMap<string, string>>): string {
  const names = [...repos.keys()].sort(goCompare);
  const body = names.map((name) => {
    const repo = repos.get(name)!;
    const keys = [...repo.keys()].sort(goCompare);
    return `${goJsonString(name)}:{${keys.map((k) => `${goJsonString(k)}:${goJsonString(repo.get(k)!)}`).join(',')}}`;
  });
  return `{"Repositories":{${body.join(',')}}}`;
}

function corrupt(file: string, why: string, cause?: unknown): ReferenceStoreError {
  return new ReferenceStoreError('REFERENCE_STORE_CORRUPT', `reference store ${file}: ${why}`, cause === undefined ? undefined : { cause });
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Reads `repositories.json` as Go's decoder would into moby's store: the `Repositories` key
 * (matched case-insensitively, as Go matches struct fields; other keys ignored; `null` is no
 * repositories), each repository an object (or `null`, kept as an empty one, which strata writes
 * back as `{}` where Go writes `null`) of string image IDs. Beyond Go, strata insists that each
 * ID is a `sha256:<64 hex>` digest and that there is nothing after the JSON.
 */
function parseRepositories(file: string, text: string): Repos {
  if (text.trim() === '') throw corrupt(file, 'the file is empty');
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw corrupt(file, `not valid JSON (${(e as Error).message})`, e);
  }
  if (!isObject(doc)) throw corrupt(file, 'not a JSON object');
  // Go decodes every key that matches the field (exactly or case-insensitively); the last wins.
  let top: unknown = null;
  for (const k of Object.keys(doc)) if (k.toLowerCase() === 'repositories') top = doc[k];
  const repos: Repos = new Map();
  if (top === null) return repos;
  if (!isObject(top)) throw corrupt(file, '"Repositories" is not an object');
  for (const [name, value] of Object.entries(top)) {
    if (value !== null && !isObject(value)) throw corrupt(file, `repository ${JSON.stringify(name)} is not an object`);
    // An empty (or null) repository stays, as in Go, until a reference is deleted from it.
    const repo = new Map<string, string>();
    repos.set(name, repo);
    for (const [ref, id] of Object.entries(value ?? {})) {
      if (typeof id !== 'string' || !/^sha256:[0-9a-f]{64}$/.test(id)) {
        throw corrupt(file, `${JSON.stringify(ref)} does not name an image ID (${JSON.stringify(id)})`);
      }
      repo.set(ref, id);
    }
  }
  return repos;
}

/**
 * Opens the reference store kept in `file` (normally `repositoriesJsonPath(root, driver)`).
 * A missing file is an empty store (written only on the first change, or now with
 * `create: true`); a file that is not dockerd's format throws `REFERENCE_STORE_CORRUPT`; a read
 * error throws SysError. References in the file that do not parse (moby skips them too) are kept
 * in the file but not listed by `references`.
 */
export function openReferenceStore(file: string, opts: OpenReferenceStoreOptions = {}): ReferenceStore {
  const abs = path.resolve(file);
  let text: string | undefined;
  try {
    text = fs.readFileSync(abs, 'utf8');
  } catch (e) {
    if (errCode(e) !== 'ENOENT') throw toSysError(e);
  }
  if (text === undefined) {
    const store = new ReferenceStore(abs, new Map());
    if (opts.create) atomicWriteFile(abs, marshalRepositories(new Map()), 0o600);
    return store;
  }
  return new ReferenceStore(abs, parseRepositories(abs, text));
}

/** Whether `file` now holds exactly `text` (after a failed write: did the rename happen?). */
function fileHolds(file: string, text: string): boolean {
  try {
    return fs.readFileSync(file, 'utf8') === text;
  } catch {
    return false;
  }
}

type RefInput = Reference | string;

function toRef(ref: RefInput): Reference {
  return typeof ref === 'string' ? parseNormalizedNamed(ref) : ref;
}

/** moby's `favorDigest`: a reference with both a tag and a digest is used by its digest only. */
function favorDigest(ref: Reference): Reference {
  return ref.tag !== undefined && ref.digest !== undefined ? withDigest(trimNamed(ref), ref.digest) : ref;
}

/** Full-string order, as moby's `lexicalRefs`. */
function byFullString(a: Reference, b: Reference): number {
  return goCompare(a.string(), b.string());
}

/** The references of one data root's `repositories.json`. Make one with `openReferenceStore`. */
export class ReferenceStore {
  /** Absolute path of `repositories.json`. */
  readonly file: string;
  #repos: Repos;
  /** moby's `referencesByIDCache`: image ID → familiar string → parsed reference. */
  #byId = new Map<string, Map<string, Reference>>();

  /** @internal Use `openReferenceStore`. */
  constructor(file: string, repos: Repos) {
    this.file = file;
    this.#repos = repos;
    for (const repo of repos.values()) {
      for (const [refStr, id] of repo) {
        let ref: Reference;
        try {
          ref = parseNormalizedNamed(refStr);
        } catch {
          continue; // moby: "should never happen", skipped
        }
        this.#index(id, refStr, ref);
      }
    }
  }

  #index(id: string, refStr: string, ref: Reference): void {
    let m = this.#byId.get(id);
    if (!m) this.#byId.set(id, (m = new Map()));
    m.set(refStr, ref);
  }

  #unindex(id: string, refStr: string): void {
    const m = this.#byId.get(id);
    if (!m) return;
    m.delete(refStr);
    if (m.size === 0) this.#byId.delete(id);
  }

  /**
   * Writes `next` (moby's `AtomicWriteFile`, plus a directory fsync) and then makes it the
   * store's state. If the write fails before the rename, nothing changes; if it fails after (the
   * directory fsync), the file already holds `next`, so the store takes it too, and the error is
   * thrown after.
   */
  #commit(next: Repos, apply: () => void): void {
    const bytes = marshalRepositories(next);
    try {
      atomicWriteFile(this.file, bytes, 0o600);
    } catch (e) {
      if (fileHolds(this.file, bytes)) {
        this.#repos = next;
        apply();
      }
      throw e;
    }
    this.#repos = next;
    apply();
  }

  /**
   * moby's `AddTag`: makes `ref` (a bare name gets `:latest`) name the image `id`, and returns
   * the reference as stored. Throws `REFERENCE_INVALID_TAG` for a reference with a digest or a
   * repository called `sha256`, `REFERENCE_CONFLICT` if the tag exists and `force` is not set
   * (even for the same image), `ReferenceError` for a string that is not a reference,
   * `INVALID_DIGEST` for a bad `id`, SysError if the file cannot be written.
   */
  addTag(ref: RefInput, id: Digest | string, force = false): Reference {
    const r = toRef(ref);
    if (r.digest !== undefined) {
      throw new ReferenceStoreError('REFERENCE_INVALID_TAG', 'refusing to create a tag with a digest reference');
    }
    return this.#addReference(tagNameOnly(r), parseDigest(id), force);
  }

  /**
   * moby's `AddDigest`: makes the digest reference `ref` (e.g. `a@sha256:<manifest digest>`, as a
   * pull records) name the image `id`; a tag in `ref` is dropped. An existing digest reference is
   * never replaced: `REFERENCE_CONFLICT` `Cannot overwrite digest <d>`, whatever `force` says.
   * `REFERENCE_NO_DIGEST` if `ref` has no digest. Returns the reference as stored.
   */
  addDigest(ref: RefInput, id: Digest | string, force = false): Reference {
    const r = toRef(ref);
    if (r.digest === undefined) {
      throw new ReferenceStoreError('REFERENCE_NO_DIGEST', `refusing to create a digest reference without a digest: ${r.familiarString()}`);
    }
    return this.#addReference(r, parseDigest(id), force);
  }

  #addReference(original: Reference, id: Digest, force: boolean): Reference {
    const ref = favorDigest(original);
    const refName = ref.familiarName();
    const refStr = ref.familiarString();
    if (refName === 'sha256') {
      throw new ReferenceStoreError('REFERENCE_INVALID_TAG', 'refusing to create an ambiguous tag using digest algorithm as name');
    }
    const repo = this.#repos.get(refName);
    const oldId = repo?.get(refStr);
    if (oldId !== undefined) {
      if (ref.digest !== undefined) throw new ReferenceStoreError('REFERENCE_CONFLICT', `Cannot overwrite digest ${ref.digest}`);
      if (!force) {
        throw new ReferenceStoreError(
          'REFERENCE_CONFLICT',
          `Conflict: Tag ${refStr} is already set to image ${oldId}, if you want to replace it, please use the force option`,
        );
      }
    }
    const next: Repos = new Map(this.#repos);
    const nextRepo = new Map(repo);
    nextRepo.set(refStr, id);
    next.set(refName, nextRepo);
    this.#commit(next, () => {
      if (oldId !== undefined) this.#unindex(oldId, refStr);
      this.#index(id, refStr, ref);
    });
    return ref;
  }

  /**
   * moby's `Delete`: removes the reference (a bare name means `:latest`; tag+digest means the
   * digest) and, with its last reference, the repository. Returns false, changing nothing, if
   * there was no such reference (where moby returns `reference does not exist`).
   */
  delete(ref: RefInput): boolean {
    const r = tagNameOnly(favorDigest(toRef(ref)));
    const refName = r.familiarName();
    const refStr = r.familiarString();
    const repo = this.#repos.get(refName);
    const id = repo?.get(refStr);
    if (repo === undefined || id === undefined) return false;
    const next: Repos = new Map(this.#repos);
    const nextRepo = new Map(repo);
    nextRepo.delete(refStr);
    if (nextRepo.size === 0) next.delete(refName);
    else next.set(refName, nextRepo);
    this.#commit(next, () => this.#unindex(id, refStr));
    return true;
  }

  /**
   * moby's `Get`: the image ID `ref` names, or undefined. A bare name means `:latest`; a reference
   * with both a tag and a digest is looked up by its digest.
   */
  get(ref: RefInput): Digest | undefined {
    let r = toRef(ref);
    if (r.digest !== undefined) r = favorDigest(r);
    else r = tagNameOnly(r);
    return this.#repos.get(r.familiarName())?.get(r.familiarString()) as Digest | undefined;
  }

  /** moby's `References`: every reference naming image `id`, sorted by full string. */
  references(id: Digest | string): Reference[] {
    return [...(this.#byId.get(id)?.values() ?? [])].sort(byFullString);
  }

  /**
   * moby's `ReferencesByName`: every reference in the repository of `name` (its tag or digest is
   * ignored) with the image it names, sorted by full string. Empty if there is no such repository
   * (or, as in moby, if one of its keys does not parse).
   */
  referencesByName(name: RefInput): Association[] {
    const repo = this.#repos.get(toRef(name).familiarName());
    if (!repo) return [];
    const out: Association[] = [];
    for (const [refStr, id] of repo) {
      let ref: Reference;
      try {
        ref = parseNormalizedNamed(refStr);
      } catch {
        return [];
      }
      out.push({ ref, id: id as Digest });
    }
    return out.sort((a, b) => byFullString(a.ref, b.ref));
  }

  /**
   * A copy of the whole store as in the file: familiar repository name → familiar reference →
   * image ID, keys in the file's (sorted) order.
   */
  repositories(): Record<string, Record<string, Digest>> {
    const out: Record<string, Record<string, Digest>> = {};
    for (const name of [...this.#repos.keys()].sort(goCompare)) {
      const repo = this.#repos.get(name)!;
      const o: Record<string, Digest> = {};
      for (const k of [...repo.keys()].sort(goCompare)) o[k] = repo.get(k) as Digest;
      out[name] = o;
    }
    return out;
  }

  /** The exact bytes the store writes for its current state (`repositories.json`'s content). */
  marshal(): string {
    return marshalRepositories(this.#repos);
  }
}
