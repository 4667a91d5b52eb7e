/**
 * `docker rmi` and `docker image prune`, with dockerd 20.10's policy (daemon/images/image_delete.go
 * and image_prune.go): what a name or an ID removes, and when it must be forced.
 *
 *   await removeImage(engine, 'app:1')   // [{untagged: 'app:1'}, {deleted: 'sha256:<image>'}, {deleted: 'sha256:<layer>'}…]
 *
 * - By name: the tag goes (`Untagged:`); the image goes with its last reference. A container
 *   using an image whose only reference this is: refused unless forced.
 * - By ID: an image with one tag, or only references in one repository, loses them all and goes;
 *   references in several repositories need force (`image is referenced in multiple repositories`).
 * - Never: an image with child images (`cannot be forced`). A container on it: must be forced
 *   (strata's containers are never running, so they are dockerd's "stopped" ones).
 * - Deleting an image also tries its parent chain, quietly, as dockerd's prune of parents does.
 */
import { chainIds, type Digest } from '../digest/index.js';
import { diffIdsOf } from '../image/config.js';
import { StrataError } from '../errors/index.js';
import { DigestReference, parseAnyReference, parseNormalizedNamed, type Reference } from '../image/reference/index.js';
import type { Engine } from './engine.js';
import { underIntent } from './intent.js';

export interface DeleteRecord {
  untagged?: string;
  deleted?: string;
}

function short(id: string): string {
  return id.replace(/^sha256:/, '').slice(0, 12);
}

class Conflict extends StrataError {
  constructor(
    readonly hard: boolean,
    readonly used: boolean,
    message: string,
  ) {
    super('IMAGE_DELETE_CONFLICT', message);
  }
}

function conflict(id: Digest, hard: boolean, used: boolean, why: string): Conflict {
  return new Conflict(hard, used, `conflict: unable to delete ${short(id)} (${hard ? 'cannot be forced' : 'must be forced'}) - ${why}`);
}

function isIdPrefix(id: Digest, ref: string): boolean {
  return id.startsWith(ref) || id.slice(7).startsWith(ref);
}

function canRemoveReferences(refs: Reference[]): boolean {
  const tags = refs.filter((r) => r.digest === undefined);
  return tags.length <= 1 && new Set(refs.map((r) => r.name())).size <= 1;
}

/**
 * dockerd's `ImageDelete(ref, force, prune=true)`. It runs under an rmi intent (intent.ts), so
 * that a kill after the untag finishes the delete at the next open instead of leaving the image
 * untagged, and the layers a deleted image held are not left held by nothing.
 */
export async function removeImage(engine: Engine, ref: string, opts: { force?: boolean } = {}): Promise<DeleteRecord[]> {
  const id = engine.images.resolve(ref);
  const chain: Digest[] = []; // the image, then its parents (deleteHelper may take them too)
  for (let i: Digest | undefined = id; i && engine.images.has(i) && !chain.includes(i); i = engine.images.parentOf(i)) chain.push(i);
  // Every layer of theirs, not only the tops: a kill in the middle of a cascade leaves the
  // layers below the one being deleted held by nothing.
  const layers = new Set<Digest>();
  for (const i of [...chain].reverse()) for (const c of chainIds(diffIdsOf(engine.images.get(i).config))) layers.add(c);
  const deleting = chain.map((i, n) => ({ id: i, force: n === 0 && (opts.force ?? false) }));
  return underIntent(engine, { op: 'rmi', deleting, layers: [...layers] }, () => removeImageNow(engine, ref, id, opts));
}

async function removeImageNow(engine: Engine, ref: string, id: Digest, opts: { force?: boolean }): Promise<DeleteRecord[]> {
  const refs = engine.images.references.references(id);
  const records: DeleteRecord[] = [];
  let quietParent = false;
  if (!isIdPrefix(id, ref)) {
    const user = engine.containers.using(id)[0];
    if (user && refs.length === 1 && !opts.force) {
      throw new StrataError('IMAGE_DELETE_CONFLICT', `conflict: unable to remove repository reference "${ref}" (must force) - container ${short(user.id)} is using its referenced image ${short(id)}`);
    }
    const named = toNamed(ref);
    engine.images.references.delete(named);
    records.push({ untagged: named.familiarString() });
    let left = engine.images.references.references(id);
    if (named.digest === undefined && !left.some((r) => r.digest === undefined && r.name() === named.name())) {
      for (const r of left.filter((x) => x.digest !== undefined && x.name() === named.name())) {
        engine.images.references.delete(r);
        records.push({ untagged: r.familiarString() });
      }
      left = engine.images.references.references(id);
    }
    if (left.length > 0) return records;
    quietParent = true;
  } else if (canRemoveReferences(refs)) {
    for (const r of refs) {
      engine.images.references.delete(r);
      records.push({ untagged: r.familiarString() });
    }
  }
  await deleteHelper(engine, id, records, opts.force ?? false, quietParent);
  return records;
}

function toNamed(ref: string): Reference {
  const r = parseAnyReference(ref);
  if (r instanceof DigestReference) throw new StrataError('INVALID_REFERENCE', `invalid reference ${ref}`);
  return parseNormalizedNamed(ref);
}

function checkConflict(engine: Engine, id: Digest, force: boolean): Conflict | undefined {
  if (engine.images.children(id).length > 0) return conflict(id, true, false, 'image has dependent child images');
  if (force) return undefined;
  if (engine.images.references.references(id).length > 0) return conflict(id, false, false, 'image is referenced in multiple repositories');
  const user = engine.containers.using(id)[0];
  if (user) return conflict(id, false, true, `image is being used by stopped container ${short(user.id)}`);
  return undefined;
}

function isDangling(engine: Engine, id: Digest): boolean {
  return engine.images.references.references(id).length === 0 && engine.images.children(id).length === 0;
}

async function deleteHelper(engine: Engine, id: Digest, records: DeleteRecord[], force: boolean, quiet: boolean): Promise<void> {
  const c = checkConflict(engine, id, force);
  if (c) {
    if (quiet && (!isDangling(engine, id) || c.used)) return;
    throw c;
  }
  const parent = engine.images.parentOf(id);
  for (const r of engine.images.references.references(id)) {
    engine.images.references.delete(r);
    records.push({ untagged: r.familiarString() });
  }
  const layers = await engine.images.delete(id);
  records.push({ deleted: id });
  for (const l of layers) records.push({ deleted: l.chainId });
  if (parent && engine.images.has(parent)) await deleteHelper(engine, parent, records, false, true);
}

export interface PruneReport {
  deleted: DeleteRecord[];
  /** Bytes of the layers deleted. */
  spaceReclaimed: number;
}

/**
 * `docker image prune [-a]`: dangling images (no tags, no children), or with `all` every image no
 * container uses; conflicts are skipped, not errors.
 */
export async function pruneImages(engine: Engine, opts: { all?: boolean } = {}): Promise<PruneReport> {
  const sizes = new Map(engine.layers.layers().map((l) => [l.chainId as string, l.size]));
  const report: PruneReport = { deleted: [], spaceReclaimed: 0 };
  const heads = engine.images.images().filter((img) => opts.all || engine.images.children(img.id).length === 0);
  for (const img of heads) {
    if (!engine.images.has(img.id)) continue; // deleted as an earlier one's parent
    const refs = engine.images.references.references(img.id);
    if (refs.length === 0 && engine.images.children(img.id).length > 0) continue;
    const targets = refs.length === 0 ? [img.id.slice(7)] : opts.all || !refs.some((r) => r.tag !== undefined) ? refs.map((r) => r.string()) : [];
    for (const t of targets) {
      try {
        report.deleted.push(...(await removeImage(engine, t)));
      } catch (e) {
        if (!(e instanceof StrataError) || (e.code !== 'IMAGE_DELETE_CONFLICT' && e.code !== 'IMAGE_NOT_FOUND')) throw e;
      }
    }
  }
  for (const d of report.deleted) if (d.deleted) report.spaceReclaimed += sizes.get(d.deleted) ?? 0;
  return report;
}
