/**
 * Names in the layerdb: the file names Docker uses and the paths they live at.
 */
import path from 'node:path';
import { digestHex, type Digest } from '../../digest/index.js';
import { LayerDbError } from './errors.js';

/** File names inside `sha256/<chain hex>/`. */
export const LAYER_FILES = {
  diff: 'diff',
  size: 'size',
  cacheId: 'cache-id',
  parent: 'parent',
  descriptor: 'descriptor.json',
  tarSplit: 'tar-split.json.gz',
} as const;

/** File names inside `mounts/<name>/`. */
export const MOUNT_FILES = {
  mountId: 'mount-id',
  initId: 'init-id',
  parent: 'parent',
} as const;

/** The only algorithm Docker's layer store scans. */
export const ALGORITHM = 'sha256';
export const MOUNTS = 'mounts';
export const TMP = 'tmp';
export const WRITE_SET_PREFIX = 'write-set-';
export const REMOVING_SUFFIX = '-removing';

export const HEX64_RE = /^[0-9a-f]{64}$/;

/** Paths below one layerdb root. */
export class Layout {
  constructor(readonly root: string) {}

  get layersDir(): string {
    return path.join(this.root, ALGORITHM);
  }
  get mountsDir(): string {
    return path.join(this.root, MOUNTS);
  }
  get tmpDir(): string {
    return path.join(this.root, TMP);
  }
  layerDir(chainId: Digest): string {
    return path.join(this.root, ALGORITHM, digestHex(chainId));
  }
  layerFile(chainId: Digest, file: string): string {
    return path.join(this.root, ALGORITHM, digestHex(chainId), file);
  }
  mountDir(name: string): string {
    return path.join(this.root, MOUNTS, checkMountName(name));
  }
  mountFile(name: string, file: string): string {
    return path.join(this.mountDir(name), file);
  }
}

/**
 * A mount name must be one directory name: not empty, no `/`, no NUL, not `.` or `..`. Docker
 * does not validate mount names (its callers pass container IDs and BuildKit keys); strata
 * refuses the few that would escape `mounts/`.
 */
export function checkMountName(name: string): string {
  if (typeof name !== 'string' || name === '' || name === '.' || name === '..' || name.includes('/') || name.includes('\0')) {
    throw new LayerDbError('LAYERDB_BAD_NAME', `mounts/${String(name)}`, undefined, 'invalid mount name: it must be one non-empty directory name');
  }
  return name;
}
