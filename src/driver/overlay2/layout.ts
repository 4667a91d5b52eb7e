/**
 * overlay2's on-disk layout (moby `daemon/graphdriver/overlay2/overlay.go`): names, the 26-char
 * link IDs, and the `lower` file — how it is computed on create and resolved for metadata.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { StrataError } from '../../errors/index.js';

export const LINK_DIR = 'l';
export const DIFF_DIR = 'diff';
export const WORK_DIR = 'work';
export const MERGED_DIR = 'merged';
export const LOWER_FILE = 'lower';
export const LINK_FILE = 'link';
export const COMMITTED_FILE = 'committed';
/** Docker's lower-layer limit: `(26 + len("l/")) * 128 = 4096 - 512`, so the string fits a page. */
export const DOCKER_MAX_DEPTH = 128;
/** The kernel's OVL_MAX_STACK: lower layers one overlay mount may have. */
export const KERNEL_MAX_STACK = 500;
export const ID_LENGTH = 26;

const B32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** RFC 4648 base32 (Go's `base32.StdEncoding`), without the `=` padding (we cut it anyway). */
export function base32(buf: Buffer): string {
  let out = '';
  let bits = 0;
  let value = 0;
  for (const byte of buf) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += B32[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
    value &= (1 << bits) - 1;
  }
  if (bits > 0) out += B32[(value << (5 - bits)) & 31];
  return out;
}

/**
 * moby's `generateID(26)`: `(26*5+7)/8 = 17` random bytes, base32-encoded, the first 26
 * characters — `[A-Z2-7]{26}`, the name of an `l/` symlink and the content of `link`.
 */
export function generateLinkId(random: (n: number) => Buffer = crypto.randomBytes): string {
  return base32(random(Math.floor((ID_LENGTH * 5 + 7) / 8))).slice(0, ID_LENGTH);
}

/** `max depth exceeded`: a `lower` list would name more layers than the driver allows. */
export function errMaxDepth(): StrataError {
  return new StrataError('OVERLAY_MAX_DEPTH', 'max depth exceeded');
}

/**
 * moby's `getLower(parent)`: `l/<parent link>` followed by the parent's own `lower` entries,
 * nearest first, joined with `:`. More than `maxDepth` entries is `max depth exceeded`. A
 * missing parent dir surfaces as its lstat error, as in moby.
 */
export function computeLower(home: string, parent: string, maxDepth: number): string {
  const parentDir = path.join(home, parent);
  fs.lstatSync(parentDir);
  const parentLink = fs.readFileSync(path.join(parentDir, LINK_FILE), 'utf8');
  const lowers = [`${LINK_DIR}/${parentLink}`];
  let parentLower: string | undefined;
  try {
    parentLower = fs.readFileSync(path.join(parentDir, LOWER_FILE), 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  if (parentLower !== undefined && parentLower !== '') {
    const parentLowers = parentLower.split(':');
    lowers.push(...parentLowers);
  }
  if (lowers.length > maxDepth) throw errMaxDepth();
  return lowers.join(':');
}

/** The `lower` entries of `id` (`l/X`, nearest first), or undefined when it has no `lower` file. */
export function readLower(home: string, id: string): string[] | undefined {
  try {
    const s = fs.readFileSync(path.join(home, id, LOWER_FILE), 'utf8');
    return s === '' ? [] : s.split(':');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

/**
 * moby's `getLowerDirs(id)`: each `lower` entry resolved through its `l/` symlink to an absolute
 * `<home>/<layer>/diff` path (readlink, joined with `<home>/l`, cleaned). Empty when there is no
 * `lower` file.
 */
export function resolveLowerDirs(home: string, id: string): string[] {
  const entries = readLower(home, id) ?? [];
  return entries.map((e) => {
    const target = fs.readlinkSync(path.join(home, e));
    return path.resolve(path.join(home, LINK_DIR), target);
  });
}
