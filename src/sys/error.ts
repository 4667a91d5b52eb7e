import { StrataError } from '../errors/index.js';

/**
 * A failed system call, shaped like Node's own fs errors: `code` is the errno name (`ENOENT`),
 * `errno` the negative errno number (-2), `syscall` the call (`lgetxattr`), `path`/`dest` the
 * path arguments (as text; non-UTF-8 bytes show as U+FFFD), and `message` reads
 * `ENOENT: no such file or directory, lgetxattr '/x/y'`. `detail` carries extra context when the
 * kernel gave some, e.g. the filesystem-context log of a failed `fsconfig`.
 */
export class SysError extends StrataError {
  /** Negative errno, as in Node (`-2` for ENOENT). */
  readonly errno: number;
  /** The system call that failed, e.g. `renameat2`. */
  readonly syscall: string;
  /** The (first) path argument, when the call had one. */
  readonly path?: string;
  /** The second path argument of two-path calls (rename, link, move_mount). */
  readonly dest?: string;
  /** Extra context from the kernel (fs-context log messages, the fsconfig key). */
  readonly detail?: string;

  constructor(code: string, errno: number, syscall: string, message: string, path?: string, dest?: string, detail?: string) {
    super(code, message);
    this.errno = errno;
    this.syscall = syscall;
    if (path !== undefined) this.path = path;
    if (dest !== undefined) this.dest = dest;
    if (detail !== undefined) this.detail = detail;
  }
}

/** True when `e` is a SysError, optionally with the given errno name (`'ENOENT'`). */
export function isSysError(e: unknown, code?: string): e is SysError {
  return e instanceof SysError && (code === undefined || e.code === code);
}
