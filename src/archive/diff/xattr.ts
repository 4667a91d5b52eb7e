/**
 * The two extended attributes a layer diff reads, through strata's syscall layer (`src/sys`):
 * `security.capability` on every entry and `trusted.overlay.opaque` on directories.
 */
import { lgetxattr } from '../../sys/index.js';
import { StrataError } from '../../errors/index.js';
import { OVERLAY_OPAQUE_XATTR } from '../whiteout.js';
import { SECURITY_CAPABILITY } from './header.js';

function errnoCode(e: unknown): string | undefined {
  return typeof e === 'object' && e !== null && 'code' in e ? String((e as { code: unknown }).code) : undefined;
}

/** Filesystems without xattrs (or without this namespace) answer with these. */
const UNSUPPORTED = new Set(['ENOTSUP', 'EOPNOTSUPP', 'ENOSYS']);

/**
 * The raw `security.capability` value, or null. Errors count as "none", as in moby
 * (`capability, _ := system.Lgetxattr(...)`), so an entry on a filesystem without xattrs still
 * gets its header.
 */
export function readCapability(path: Buffer): Buffer | null {
  try {
    return lgetxattr(path, SECURITY_CAPABILITY);
  } catch {
    return null;
  }
}

/**
 * Whether a directory is overlay-opaque: `trusted.overlay.opaque` is exactly the one byte `y`.
 * A missing attribute is "not opaque" (moby turns ENODATA into nil); so is a filesystem that has
 * no xattr support at all (moby would log and drop the directory's entry instead). A vanished
 * path returns undefined so the caller can skip it like any other vanished entry; other errors
 * are thrown.
 */
export function isOpaqueDir(path: Buffer): boolean | undefined {
  let v: Buffer | null;
  try {
    v = lgetxattr(path, OVERLAY_OPAQUE_XATTR);
  } catch (e) {
    const code = errnoCode(e);
    if (code !== undefined && UNSUPPORTED.has(code)) return false;
    if (code === 'ENOENT') return undefined;
    throw new StrataError('DIFF_XATTR', `reading ${OVERLAY_OPAQUE_XATTR} of ${path.toString()}: ${(e as Error).message}`, { cause: e });
  }
  return v !== null && v.length === 1 && v[0] === 0x79;
}
