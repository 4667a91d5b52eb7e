/**
 * Whiteouts: how a layer says "this path is deleted" or "hide everything below in this directory".
 *
 * Two representations exist, and strata converts between them exactly as moby does:
 *
 *   | meaning                 | in a layer tar (OCI / AUFS form)  | in an overlay upper dir (on disk)          |
 *   |-------------------------|-----------------------------------|--------------------------------------------|
 *   | `dir/x` deleted         | empty file entry `dir/.wh.x`      | char device `dir/x`, rdev 0/0, mode 0000   |
 *   | `dir` opaque            | empty file entry `dir/.wh..wh..opq` | xattr `trusted.overlay.opaque` = "y" on dir |
 *
 * Tar → disk happens when a layer is applied (archive/apply); disk → tar when a layer's changes are
 * written out (archive/diff). Drivers without overlay apply whiteouts as plain deletions instead.
 */
import { S_IFCHR, S_IFMT } from '../sys/index.js';

export const WHITEOUT_PREFIX = '.wh.';
export const WHITEOUT_META_PREFIX = '.wh..wh.';
export const WHITEOUT_LINK_DIR = '.wh..wh.plnk';
export const WHITEOUT_OPAQUE_DIR = '.wh..wh..opq';
export const OVERLAY_OPAQUE_XATTR = 'trusted.overlay.opaque';
export const OVERLAY_OPAQUE_VALUE = Buffer.from('y');

/** What a tar entry's base name means, whiteout-wise. */
export type WhiteoutKind =
  | { kind: 'none' }
  | { kind: 'opaque' }
  | { kind: 'whiteout'; target: Buffer };

/** Classifies a base name (raw bytes): `.wh..wh..opq`, `.wh.<target>`, or an ordinary name. */
export function classifyWhiteout(base: Buffer): WhiteoutKind {
  const s = base.toString('latin1');
  if (s === WHITEOUT_OPAQUE_DIR) return { kind: 'opaque' };
  if (s.startsWith(WHITEOUT_PREFIX)) return { kind: 'whiteout', target: base.subarray(WHITEOUT_PREFIX.length) };
  return { kind: 'none' };
}

/** True when an on-disk entry is an overlay whiteout: a character device with rdev 0/0. */
export function isOverlayWhiteout(mode: number, rdev: number | bigint): boolean {
  return (mode & S_IFMT) === S_IFCHR && BigInt(rdev) === 0n;
}

/**
 * The tar entry name moby writes for an overlay whiteout found at `name` (`dir/x` → `dir/.wh.x`).
 * The entry itself is a regular file with mode exactly 0600 (no type bits), size 0, owner and
 * mtime kept from the device node.
 */
export function whiteoutEntryName(name: Buffer): Buffer {
  const slash = name.lastIndexOf(0x2f);
  return Buffer.concat([name.subarray(0, slash + 1), Buffer.from(WHITEOUT_PREFIX), name.subarray(slash + 1)]);
}

/**
 * The name of the opaque marker entry moby writes right after an opaque directory's own entry
 * (`dir/` → `dir/.wh..wh..opq`); its mode is the directory's permission bits and its mtime 0.
 */
export function opaqueMarkerName(dirName: Buffer): Buffer {
  const base = dirName[dirName.length - 1] === 0x2f ? dirName : Buffer.concat([dirName, Buffer.from('/')]);
  return Buffer.concat([base, Buffer.from(WHITEOUT_OPAQUE_DIR)]);
}
