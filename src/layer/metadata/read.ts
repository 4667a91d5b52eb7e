/**
 * Reading a layer's and a mount's files, with exactly the parsing dockerd applies (spec 3.1,
 * 3.2): everything trimmed as Go's `strings.TrimSpace` except `size`, which Go's ParseInt reads
 * raw. Each failure is a `LayerDbError` naming the layer (or mount) and the file.
 */
import { parseDigest, isValidMountId, type Digest } from '../../digest/index.js';
import { LayerDbError } from './errors.js';
import { readSmall } from './fsutil.js';
import { goParseInt64, goTrimSpace } from './gocompat.js';
import { parseDescriptor, type Descriptor } from './descriptor.js';
import { LAYER_FILES, MOUNT_FILES, type Layout } from './layout.js';

function readFile(file: string, subject: string, name: string, optional: boolean): string | undefined {
  try {
    return readSmall(file, optional);
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    throw new LayerDbError('LAYERDB_READ', subject, name, `cannot read: ${msg}`, e);
  }
}

function digestFrom(text: string, subject: string, name: string): Digest {
  try {
    return parseDigest(goTrimSpace(text));
  } catch (e) {
    throw new LayerDbError('LAYERDB_INVALID', subject, name, (e as Error).message, e);
  }
}

export function readDiffId(l: Layout, chainId: Digest): Digest {
  return digestFrom(readFile(l.layerFile(chainId, LAYER_FILES.diff), chainId, LAYER_FILES.diff, false)!, chainId, LAYER_FILES.diff);
}

export function readSize(l: Layout, chainId: Digest): number {
  const text = readFile(l.layerFile(chainId, LAYER_FILES.size), chainId, LAYER_FILES.size, false)!;
  const v = goParseInt64(text);
  if (typeof v === 'string') {
    throw new LayerDbError('LAYERDB_INVALID', chainId, LAYER_FILES.size, `invalid size value ${JSON.stringify(text)}: strconv.ParseInt: ${v}`);
  }
  if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER)) {
    throw new LayerDbError('LAYERDB_INVALID', chainId, LAYER_FILES.size, `size ${text} is beyond 2^53, which strata cannot represent`);
  }
  return Number(v);
}

/**
 * Whether a driver ID read from the layerdb can be handed to a driver: one plain name. Beyond
 * moby, which takes any non-empty text: overlay2 joins Go's `path.Base(id)` to its home, so `..`
 * (or `x/..`) would name the data root itself, and `x/<other id>` another layer's directory.
 */
export function isPlainDriverId(id: string): boolean {
  return id !== '' && id !== '.' && id !== '..' && !id.includes('/') && !id.includes('\0');
}

export function readCacheId(l: Layout, chainId: Digest): string {
  const text = readFile(l.layerFile(chainId, LAYER_FILES.cacheId), chainId, LAYER_FILES.cacheId, false)!;
  const id = goTrimSpace(text);
  if (id === '') throw new LayerDbError('LAYERDB_INVALID', chainId, LAYER_FILES.cacheId, 'invalid cache id value');
  if (!isPlainDriverId(id)) throw new LayerDbError('LAYERDB_INVALID', chainId, LAYER_FILES.cacheId, `invalid cache id value ${JSON.stringify(id)}: not a single name`);
  return id;
}

export function readParent(l: Layout, chainId: Digest): Digest | undefined {
  const text = readFile(l.layerFile(chainId, LAYER_FILES.parent), chainId, LAYER_FILES.parent, true);
  return text === undefined ? undefined : digestFrom(text, chainId, LAYER_FILES.parent);
}

export function readDescriptor(l: Layout, chainId: Digest): Descriptor | undefined {
  const text = readFile(l.layerFile(chainId, LAYER_FILES.descriptor), chainId, LAYER_FILES.descriptor, true);
  if (text === undefined) return undefined;
  try {
    return parseDescriptor(text);
  } catch (e) {
    throw new LayerDbError('LAYERDB_INVALID', chainId, LAYER_FILES.descriptor, `invalid descriptor: ${(e as Error).message}`, e);
  }
}

function mountIdFrom(text: string, name: string, file: string, what: string): string {
  const id = goTrimSpace(text);
  if (!isValidMountId(id)) throw new LayerDbError('LAYERDB_INVALID', `mounts/${name}`, file, `invalid ${what} value`);
  return id;
}

export function readMountId(l: Layout, name: string): string {
  const text = readFile(l.mountFile(name, MOUNT_FILES.mountId), `mounts/${name}`, MOUNT_FILES.mountId, false)!;
  return mountIdFrom(text, name, MOUNT_FILES.mountId, 'mount id');
}

export function readInitId(l: Layout, name: string): string | undefined {
  const text = readFile(l.mountFile(name, MOUNT_FILES.initId), `mounts/${name}`, MOUNT_FILES.initId, true);
  return text === undefined ? undefined : mountIdFrom(text, name, MOUNT_FILES.initId, 'init id');
}

export function readMountParent(l: Layout, name: string): Digest | undefined {
  const text = readFile(l.mountFile(name, MOUNT_FILES.parent), `mounts/${name}`, MOUNT_FILES.parent, true);
  return text === undefined ? undefined : digestFrom(text, `mounts/${name}`, MOUNT_FILES.parent);
}
