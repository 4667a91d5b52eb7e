/**
 * Extended attributes through the l* calls: they act on a symlink itself, never on its target, so
 * applying a layer cannot be tricked into labelling a file outside it. Values are binary Buffers.
 */
import { native, type PathLike } from './native.js';

/** Returns the bytes of attribute `name` of `path` (a symlink itself, not followed), or null if it is not set. */
export function lgetxattr(path: PathLike, name: string): Buffer | null {
  return native.lgetxattr(path, name);
}

/**
 * Sets attribute `name` of `path` (not following symlinks) to exactly the bytes of `value` (a string
 * is stored as UTF-8, without a terminator). `flags` may be XATTR_CREATE (fail with EEXIST if set)
 * or XATTR_REPLACE (fail with ENODATA if not set).
 */
export function lsetxattr(path: PathLike, name: string, value: Buffer | Uint8Array | string, flags = 0): void {
  native.lsetxattr(path, name, typeof value === 'string' || Buffer.isBuffer(value) ? value : Buffer.from(value.buffer, value.byteOffset, value.byteLength), flags);
}

/** Lists the attribute names of `path` (not following symlinks), in the filesystem's order. */
export function llistxattr(path: PathLike): string[] {
  return native.llistxattr(path);
}

/** Removes attribute `name` from `path` (not following symlinks); throws ENODATA if it was not set. */
export function lremovexattr(path: PathLike, name: string): void {
  native.lremovexattr(path, name);
}
