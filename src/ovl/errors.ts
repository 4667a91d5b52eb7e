/**
 * OvlError: a failed union operation, shaped like Node's fs errors and carrying the errno the
 * kernel overlay returns for the same operation. Errors from the real layers (an ENOSPC from the
 * upper filesystem, say) are re-raised as OvlErrors with the union path instead of the layer path.
 */
import os from 'node:os';
import { StrataError } from '../errors/index.js';
import { textOf } from './realfs.js';
import type { OvlErrorShape } from './types.js';

const MESSAGES: Record<string, string> = {
  EPERM: 'operation not permitted',
  ENOENT: 'no such file or directory',
  EIO: 'i/o error',
  EBADF: 'bad file descriptor',
  EEXIST: 'file already exists',
  EXDEV: 'cross-device link not permitted',
  ENOTDIR: 'not a directory',
  EISDIR: 'illegal operation on a directory',
  EINVAL: 'invalid argument',
  EROFS: 'read-only file system',
  ENOTEMPTY: 'directory not empty',
  ELOOP: 'too many symbolic links encountered',
  ENODATA: 'no data available',
  ENAMETOOLONG: 'name too long',
  EBUSY: 'resource busy or locked',
  EMLINK: 'too many links',
  EOPNOTSUPP: 'operation not supported on socket',
  ENOTSUP: 'operation not supported on socket',
  ERANGE: 'result too large',
  EFBIG: 'file too large',
  ESTALE: 'stale file handle',
  ENOSPC: 'no space left on device',
  EACCES: 'permission denied',
};

/** The negative errno of an errno name (`'EXDEV'` → -18), from Node's own table. */
export function errnoOf(code: string): number {
  const n = (os.constants.errno as Record<string, number>)[code];
  return n === undefined ? -5 : -n;
}

export class OvlError extends StrataError implements OvlErrorShape {
  readonly errno: number;
  readonly syscall: string;
  readonly path?: string;
  readonly dest?: string;

  /** `path` and `dest` are the engine's byte strings; the error carries them as text. */
  constructor(code: string, syscall: string, bytePath?: string, byteDest?: string, options?: { cause?: unknown }) {
    const path = bytePath === undefined ? undefined : textOf(bytePath);
    const dest = byteDest === undefined ? undefined : textOf(byteDest);
    const text = MESSAGES[code] ?? code.toLowerCase();
    const where = path === undefined ? '' : dest === undefined ? ` '${path}'` : ` '${path}' -> '${dest}'`;
    // An OvlError is an errno answer, as ordinary as a success (a lookup of a name that is not
    // there, an xattr that is not set): a stack would cost more than the operation (a FUSE server
    // meets several per request) and would only show the engine's own frames, so none is taken.
    const stackTraceLimit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    super(code, `${code}: ${text}, ${syscall}${where}`, options);
    Error.stackTraceLimit = stackTraceLimit;
    this.errno = errnoOf(code);
    this.syscall = syscall;
    if (path !== undefined) this.path = path;
    if (dest !== undefined) this.dest = dest;
  }
}

/** True when `e` is an OvlError, optionally with the given errno name. */
export function isOvlError(e: unknown, code?: string): e is OvlError {
  return e instanceof OvlError && (code === undefined || e.code === code);
}

/** The errno name of a failure from a real layer (Node fs or sys error), or undefined for other throws. */
export function errnoName(e: unknown): string | undefined {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^E[A-Z0-9]+$/.test(code) ? code : undefined;
}

/**
 * Where a union operation failed: its union path, or the entry, whose path is then worked out only
 * if an error needs it (building it walks up the tree, and the operations that succeed never do).
 */
export type UnionPlace = string | { readonly path: string };

export function pathOf(where: UnionPlace): string {
  return typeof where === 'string' ? where : where.path;
}

/**
 * What a real layer's errno failure `e` becomes: an OvlError about the union place, so callers
 * never see layer paths. OvlErrors and non-errno throws (bugs) come back unchanged.
 */
function unionError(e: unknown, syscall: string, where: UnionPlace, dest?: string): unknown {
  if (e instanceof OvlError) return e;
  const code = errnoName(e);
  if (code === undefined) return e;
  return new OvlError(code, syscall, pathOf(where), dest, { cause: e });
}

/** Runs `fn`, throwing its real layer's errno failure as the union's (unionError). */
export function asUnion<T>(syscall: string, where: UnionPlace, fn: () => T, dest?: string): T {
  try {
    return fn();
  } catch (e) {
    throw unionError(e, syscall, where, dest);
  }
}
