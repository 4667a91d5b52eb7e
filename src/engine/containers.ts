/**
 * Containers, as far as a layer store knows them: a named RW layer on an image. dockerd keeps
 * these facts in `containers/<id>/config.v2.json`, with much more (the process, its state); strata
 * runs no processes, so its record is small and lives apart, where dockerd never looks:
 *
 *   <root>/strata/containers/<id>.json      {"id":"<64 hex>","name":"web","image":"sha256:…","created":"…"}
 *
 * The RW layer itself is the layer store's mount named `<id>` (as dockerd names it), over the
 * image's top layer and Docker's init layer, so dockerd would find the same mount layout.
 *
 * Order of writes, so a crash never leaves a record without its layer: create makes the RW layer
 * first and then writes the record (atomically); remove deletes the record first and then the RW
 * layer. A crash in between leaves an unnamed RW layer (`strata rw ls` shows it; `rw rm` removes
 * it), never a name pointing at nothing.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { StrataError } from '../errors/index.js';
import { atomicWriteFile } from '../image/imagedb/index.js';
import type { Digest } from '../digest/index.js';

export interface ContainerRecord {
  /** 64 hex: also the name of its RW layer in the layer store. */
  id: string;
  /** What the user calls it; unique in the data root. */
  name: string;
  /** The image it was created from. */
  image: Digest;
  /** RFC 3339, when it was created. */
  created: string;
}

const NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/; // docker's container name rule
const HEX64 = /^[0-9a-f]{64}$/;

export class ContainerStore {
  readonly dir: string;
  #byId = new Map<string, ContainerRecord>();

  constructor(root: string) {
    this.dir = path.join(root, 'strata', 'containers');
    let names: string[] = [];
    try {
      names = fs.readdirSync(this.dir);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
    for (const n of names) {
      const m = /^([0-9a-f]{64})\.json$/.exec(n);
      if (!m) continue;
      try {
        const rec = JSON.parse(fs.readFileSync(path.join(this.dir, n), 'utf8')) as ContainerRecord;
        if (rec.id === m[1]) this.#byId.set(rec.id, rec);
      } catch {
        /* a damaged record names nothing; fsck reports the RW layer as unnamed */
      }
    }
  }

  list(): ContainerRecord[] {
    return [...this.#byId.values()].sort((a, b) => a.created.localeCompare(b.created) || a.name.localeCompare(b.name));
  }

  /** The container named `ref`: its name, full ID, or a unique ID prefix; undefined if none. */
  find(ref: string): ContainerRecord | undefined {
    const byName = [...this.#byId.values()].find((c) => c.name === ref);
    if (byName) return byName;
    if (!/^[0-9a-f]{1,64}$/.test(ref)) return undefined;
    const found = [...this.#byId.values()].filter((c) => c.id.startsWith(ref));
    if (found.length > 1) throw new StrataError('AMBIGUOUS_CONTAINER_PREFIX', `ambiguous container ID prefix ${ref}`);
    return found[0];
  }

  /** Like `find`, but `No such container: <ref>` when there is none. */
  get(ref: string): ContainerRecord {
    const c = this.find(ref);
    if (!c) throw new StrataError('CONTAINER_NOT_FOUND', `No such container: ${ref}`);
    return c;
  }

  /** The containers created from `image`. */
  using(image: Digest): ContainerRecord[] {
    return this.list().filter((c) => c.image === image);
  }

  /** A new ID, and the name checked (default: the ID's first 12 digits). Changes nothing. */
  prepare(image: Digest, name?: string): ContainerRecord {
    const id = crypto.randomBytes(32).toString('hex');
    const n = name ?? id.slice(0, 12);
    if (!NAME_RE.test(n)) throw new StrataError('INVALID_CONTAINER_NAME', `Invalid container name (${n}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`);
    const taken = [...this.#byId.values()].find((c) => c.name === n);
    if (taken) {
      throw new StrataError('CONTAINER_NAME_CONFLICT', `Conflict. The container name "${n}" is already in use by container "${taken.id}". You have to remove (or rename) that container to be able to reuse that name.`);
    }
    return { id, name: n, image, created: new Date().toISOString() };
  }

  /** Writes the record (atomically). */
  add(rec: ContainerRecord): void {
    if (!HEX64.test(rec.id)) throw new StrataError('INVALID_CONTAINER_ID', `invalid container ID ${rec.id}`);
    fs.mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    atomicWriteFile(path.join(this.dir, `${rec.id}.json`), JSON.stringify(rec), 0o600);
    this.#byId.set(rec.id, rec);
  }

  /** Removes the record (a missing one is not an error). */
  remove(id: string): void {
    fs.rmSync(path.join(this.dir, `${id}.json`), { force: true });
    this.#byId.delete(id);
  }
}
