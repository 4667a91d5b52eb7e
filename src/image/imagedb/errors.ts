/**
 * The errors of the imagedb: one class, `ImageDbError`, whose messages are the ones dockerd 20.10
 * gives for the same failure (`failed to verify: sha256:…`, `invalid empty data`,
 * `failed to get digest sha256:…: open …: no such file or directory`), so a log line from strata
 * reads like one from dockerd.
 */
import { StrataError } from '../../errors/index.js';

/**
 * Stable codes:
 * - `IMAGEDB_INIT`: the store's directories could not be created (`failed to create storage
 *   backend: …`).
 * - `IMAGEDB_EMPTY_DATA`: `set` was given no bytes (`invalid empty data`).
 * - `IMAGEDB_NOT_FOUND`: there is no content file for the ID (`sysCode` `ENOENT`).
 * - `IMAGEDB_VERIFY`: the content file's SHA-256 is not its name (`failed to verify: <id>`).
 * - `IMAGEDB_READ`: the content file exists but could not be read (EACCES, EISDIR, EIO …).
 * - `IMAGEDB_NO_METADATA`: the image is there but has no such metadata file.
 * - `IMAGEDB_WRITE`: a write, rename, fsync or removal failed; nothing half-written is visible.
 * - `IMAGEDB_BAD_ID`: an ID that is not `sha256:<64 lowercase hex>`.
 * - `IMAGEDB_BAD_KEY`: a metadata key that is not a plain file name.
 * - `IMAGEDB_BAD_VALUE`: a metadata file whose content is not what it must be (a `parent` that is
 *   not an image ID, a `lastUpdated` Go's RFC3339Nano parser refuses).
 */
export type ImageDbErrorCode =
  | 'IMAGEDB_INIT'
  | 'IMAGEDB_EMPTY_DATA'
  | 'IMAGEDB_NOT_FOUND'
  | 'IMAGEDB_VERIFY'
  | 'IMAGEDB_READ'
  | 'IMAGEDB_NO_METADATA'
  | 'IMAGEDB_WRITE'
  | 'IMAGEDB_BAD_ID'
  | 'IMAGEDB_BAD_KEY'
  | 'IMAGEDB_BAD_VALUE';

/** An imagedb failure; `id` is the image it is about, `key` the metadata key when there is one. */
export class ImageDbError extends StrataError {
  declare readonly code: ImageDbErrorCode;
  readonly id?: string;
  readonly key?: string;
  /** The errno name of the underlying failure (`ENOENT`, `EISDIR`, …), when there was one. */
  readonly sysCode?: string;

  constructor(code: ImageDbErrorCode, message: string, opts: { id?: string; key?: string; cause?: unknown } = {}) {
    super(code, message, opts.cause === undefined ? undefined : { cause: opts.cause });
    if (opts.id !== undefined) this.id = opts.id;
    if (opts.key !== undefined) this.key = opts.key;
    const sc = (opts.cause as { code?: unknown } | undefined)?.code;
    if (typeof sc === 'string' && /^E[A-Z0-9]+$/.test(sc)) this.sysCode = sc;
  }
}

/** Go's names for the operations Node reports (`os.PathError.Op`). */
const GO_OP: Record<string, string> = {
  fsync: 'sync',
  fchmod: 'chmod',
  unlink: 'remove',
  rmdir: 'remove',
  rm: 'remove',
  scandir: 'open',
};

/**
 * Go's texts for the errnos a file store meets (`syscall.Errno.Error()`: glibc's strerror in
 * lower case). libuv words some differently (EISDIR is "illegal operation on a directory" there),
 * so Node's text is only the fallback.
 */
const GO_ERRNO_TEXT: Record<string, string> = {
  EPERM: 'operation not permitted',
  ENOENT: 'no such file or directory',
  EIO: 'input/output error',
  EBADF: 'bad file descriptor',
  EAGAIN: 'resource temporarily unavailable',
  EACCES: 'permission denied',
  EBUSY: 'device or resource busy',
  EEXIST: 'file exists',
  EXDEV: 'invalid cross-device link',
  ENOTDIR: 'not a directory',
  EISDIR: 'is a directory',
  EINVAL: 'invalid argument',
  ENFILE: 'too many open files in system',
  EMFILE: 'too many open files',
  ETXTBSY: 'text file busy',
  EFBIG: 'file too large',
  ENOSPC: 'no space left on device',
  EROFS: 'read-only file system',
  ENAMETOOLONG: 'file name too long',
  ENOTEMPTY: 'directory not empty',
  ELOOP: 'too many levels of symbolic links',
  EDQUOT: 'disk quota exceeded',
};

/**
 * A Node or strata fs error as Go prints the same `*os.PathError` / `*os.LinkError`:
 * `open /x/y: no such file or directory`, `rename /a /b: is a directory`. `path` names the file
 * when Node's error does not (a failed `read` carries no path). Anything else is returned by its
 * message.
 */
export function goErrorText(e: unknown, path?: string): string {
  const n = e as { code?: unknown; syscall?: unknown; path?: unknown; dest?: unknown; message?: unknown } | null;
  const message = typeof n?.message === 'string' ? n.message : String(e);
  if (typeof n?.code !== 'string' || typeof n.syscall !== 'string') return message;
  let desc = GO_ERRNO_TEXT[n.code];
  if (desc === undefined) {
    // Node: "ENOENT: no such file or directory, open '/x'"; the text between is strerror.
    desc = message.startsWith(n.code + ': ') ? message.slice(n.code.length + 2) : message;
    const at = desc.lastIndexOf(', ' + n.syscall);
    if (at >= 0) desc = desc.slice(0, at);
  }
  const op = GO_OP[n.syscall] ?? n.syscall;
  const paths = [n.path, n.dest].filter((p): p is string => typeof p === 'string');
  if (paths.length === 0 && path !== undefined) paths.push(path);
  return `${op}${paths.length ? ' ' + paths.join(' ') : ''}: ${desc}`;
}
