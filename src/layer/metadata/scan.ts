/**
 * Listing the layerdb (moby's `List`, `getOrphan`) and the leftovers strata sweeps that moby
 * never does.
 */
import fs from 'node:fs';
import path from 'node:path';
import { digestFromHex, type Digest } from '../../digest/index.js';
import { errCode, toSysError } from './errors.js';
import { readSmall } from './fsutil.js';
import { goTrimSpace } from './gocompat.js';
import { isPlainDriverId } from './read.js';
import { HEX64_RE, LAYER_FILES, REMOVING_SUFFIX, WRITE_SET_PREFIX, type Layout } from './layout.js';

/** A name in `sha256/` or `mounts/` that is not listed, and why. */
export interface SkippedEntry {
  /** Path relative to the layerdb root, e.g. `sha256/<hex>-<rand>-removing`. */
  path: string;
  reason: 'removing' | 'not a directory' | 'not a sha256 hex name' | 'not a UTF-8 name';
}

/** What `list()` found. */
export interface Listing {
  /** Every directory in `sha256/` named by 64 lowercase hex, as ChainIDs, sorted. */
  layers: Digest[];
  /** Every directory in `mounts/`, sorted. */
  mounts: string[];
  /** Everything else in those two directories, for the caller to report. */
  skipped: SkippedEntry[];
}

/** A `-removing` directory left by an interrupted delete. */
export interface RemovingLayer {
  chainId: Digest;
  /** `<hex>-<64 hex>-removing` */
  name: string;
  /** Absolute path of that directory. */
  dir: string;
}

/** An orphan that cleanup can act on: its driver data is `cacheId`. */
export interface Orphan extends RemovingLayer {
  cacheId: string;
}

/** What `orphans()` found. */
export interface OrphanListing {
  /** `-removing` dirs with a cache-id: remove the driver data, then `finishRemove`. */
  orphans: Orphan[];
  /**
   * `-removing` dirs without a `cache-id` file (moby skips them and they stay forever). Both
   * moby and strata delete a `-removing` dir only after its driver data is gone, and strata
   * deletes `cache-id` last, so such a dir is a delete that died at its very end: `finishRemove`
   * it, there is no driver data to remove.
   */
  finished: RemovingLayer[];
  /** `-removing` dirs that are left alone: bad hex, or a `cache-id` that is empty, unreadable or not a single name. */
  skipped: { path: string; reason: string }[];
}

function readDirents(dir: string): fs.Dirent[] {
  try {
    return fs.readdirSync(dir, { withFileTypes: true, encoding: 'buffer' }) as unknown as fs.Dirent[];
  } catch (e) {
    if (errCode(e) === 'ENOENT') return [];
    throw toSysError(e);
  }
}

function nameOf(d: fs.Dirent): string | undefined {
  const raw = d.name as unknown as Buffer;
  const s = raw.toString('utf8');
  return Buffer.from(s, 'utf8').equals(raw) ? s : undefined;
}

const byteOrder = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

export function list(l: Layout): Listing {
  const layers: Digest[] = [];
  const mounts: string[] = [];
  const skipped: SkippedEntry[] = [];
  for (const d of readDirents(l.layersDir)) {
    const name = nameOf(d);
    const rel = `sha256/${name ?? (d.name as unknown as Buffer).toString('latin1')}`;
    if (name === undefined) skipped.push({ path: rel, reason: 'not a UTF-8 name' });
    else if (!d.isDirectory()) skipped.push({ path: rel, reason: 'not a directory' });
    else if (HEX64_RE.test(name)) layers.push(digestFromHex(name));
    else skipped.push({ path: rel, reason: name.endsWith(REMOVING_SUFFIX) ? 'removing' : 'not a sha256 hex name' });
  }
  for (const d of readDirents(l.mountsDir)) {
    const name = nameOf(d);
    const rel = `mounts/${name ?? (d.name as unknown as Buffer).toString('latin1')}`;
    if (name === undefined) skipped.push({ path: rel, reason: 'not a UTF-8 name' });
    else if (!d.isDirectory()) skipped.push({ path: rel, reason: 'not a directory' });
    else mounts.push(name);
  }
  layers.sort(byteOrder);
  mounts.sort(byteOrder);
  return { layers, mounts, skipped };
}

export function orphans(l: Layout): OrphanListing {
  const out: OrphanListing = { orphans: [], finished: [], skipped: [] };
  for (const d of readDirents(l.layersDir)) {
    const name = nameOf(d);
    if (name === undefined || !d.isDirectory() || !name.endsWith(REMOVING_SUFFIX)) continue;
    const rel = `sha256/${name}`;
    const hex = name.split('-')[0]!;
    if (!HEX64_RE.test(hex)) {
      out.skipped.push({ path: rel, reason: 'invalid digest before the first "-"' });
      continue;
    }
    const dir = path.join(l.layersDir, name);
    let text: string | undefined;
    try {
      text = readSmall(path.join(dir, LAYER_FILES.cacheId), true);
    } catch (e) {
      out.skipped.push({ path: rel, reason: `cannot read cache-id: ${(e as Error).message}` });
      continue;
    }
    if (text === undefined) {
      out.finished.push({ chainId: digestFromHex(hex), name, dir });
      continue;
    }
    const cacheId = goTrimSpace(text);
    if (cacheId === '') {
      out.skipped.push({ path: rel, reason: 'empty cache-id' });
      continue;
    }
    if (!isPlainDriverId(cacheId)) {
      out.skipped.push({ path: rel, reason: `cache-id ${JSON.stringify(cacheId)} is not a single name` }); // never handed to the driver
      continue;
    }
    out.orphans.push({ chainId: digestFromHex(hex), name, dir, cacheId });
  }
  out.orphans.sort((a, b) => byteOrder(a.name, b.name));
  out.finished.sort((a, b) => byteOrder(a.name, b.name));
  return out;
}

/** Names of the `tmp/write-set-*` entries. */
export function writeSets(l: Layout): string[] {
  const out: string[] = [];
  for (const d of readDirents(l.tmpDir)) {
    const name = nameOf(d);
    if (name !== undefined && name.startsWith(WRITE_SET_PREFIX)) out.push(name);
  }
  return out.sort(byteOrder);
}

/**
 * A write-set and the driver IDs its files name. A write-set that names a driver ID is the record
 * of an operation that was creating or deleting that driver layer when it stopped: a register
 * (`cache-id`, written before the driver layer is created), an RW-layer creation (`mount-id`,
 * `init-id`, staged before the driver layers) or an RW-layer deletion (the mount's directory,
 * moved here before its driver layers are removed).
 */
export interface WriteSetIntent {
  name: string;
  dir: string;
  driverIds: string[];
}

const ID_FILES = [LAYER_FILES.cacheId, 'mount-id', 'init-id'];

function idsIn(dir: string): string[] {
  const ids: string[] = [];
  for (const f of ID_FILES) {
    let text: string | undefined;
    try {
      text = readSmall(path.join(dir, f), true);
    } catch {
      continue; // unreadable (a directory, EIO): names nothing we can act on
    }
    const id = text === undefined ? '' : goTrimSpace(text);
    if (id !== '' && !id.includes('/') && id !== '.' && id !== '..') ids.push(id);
  }
  return ids;
}

/** Every `tmp/write-set-*` with the driver IDs it names (possibly none). */
export function intents(l: Layout): WriteSetIntent[] {
  return writeSets(l).map((name) => {
    const dir = path.join(l.tmpDir, name);
    return { name, dir, driverIds: idsIn(dir) };
  });
}

/**
 * Every driver ID a layer or mount on disk names, read raw (trimmed, not validated), including
 * entries that fail to load: recovery must never remove the data of a layer that is merely
 * damaged. `-removing` dirs are not included (their data is being deleted).
 */
export function referencedDriverIds(l: Layout): Set<string> {
  const ids = new Set<string>();
  for (const d of readDirents(l.layersDir)) {
    const name = nameOf(d);
    if (name === undefined || name.endsWith(REMOVING_SUFFIX)) continue;
    for (const id of idsIn(path.join(l.layersDir, name))) ids.add(id);
  }
  for (const d of readDirents(l.mountsDir)) {
    const name = nameOf(d);
    if (name !== undefined) for (const id of idsIn(path.join(l.mountsDir, name))) ids.add(id);
  }
  return ids;
}
