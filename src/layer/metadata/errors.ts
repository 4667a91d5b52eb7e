/**
 * The errors of the layerdb: one class, `LayerDbError`, for everything that is wrong with what is
 * (or is not) on disk, and `SysError` (from `src/sys`) for a system call that failed while
 * writing, so a caller can tell "the store is damaged" from "the disk said no".
 */
import { StrataError } from '../../errors/index.js';
import { SysError } from '../../sys/index.js';

/**
 * Stable codes:
 * - `LAYERDB_READ`: a file of a layer or mount could not be read (missing, I/O error); `sysCode`
 *   holds the errno name (`ENOENT`).
 * - `LAYERDB_INVALID`: a file was read but its content is not valid (bad digest, a size Go's
 *   ParseInt refuses, `invalid cache id value`, `invalid mount id value`, `invalid init id value`,
 *   bad descriptor JSON).
 * - `LAYERDB_EXISTS`: commit found `sha256/<hex>` already there; nothing was overwritten.
 * - `LAYERDB_NOT_FOUND`: startRemove of a layer whose directory is not there.
 * - `LAYERDB_BAD_NAME`: a mount name that cannot be a directory name.
 * - `LAYERDB_BAD_VALUE`: a value that would not read back as written (an empty or padded
 *   cache-id, a size that is not an int64, an invalid mount-id).
 * - `LAYERDB_TX`: a transaction used wrongly (after commit/cancel, commit with a file missing
 *   or a tar-split writer still open).
 */
export type LayerDbErrorCode =
  | 'LAYERDB_READ'
  | 'LAYERDB_INVALID'
  | 'LAYERDB_EXISTS'
  | 'LAYERDB_NOT_FOUND'
  | 'LAYERDB_BAD_NAME'
  | 'LAYERDB_BAD_VALUE'
  | 'LAYERDB_TX';

/**
 * A layerdb failure that names what it is about: `subject` is the layer (`sha256:<hex>`) or the
 * mount (`mounts/<name>`), `file` the file inside it (`size`, `cache-id`, …) when there is one.
 * The message reads e.g.
 * `layerdb sha256:5adf…29 cache-id: invalid cache id value`.
 */
export class LayerDbError extends StrataError {
  declare readonly code: LayerDbErrorCode;
  readonly subject: string;
  readonly file?: string;
  /** The errno name of the underlying failure, for `LAYERDB_READ`. */
  readonly sysCode?: string;

  constructor(code: LayerDbErrorCode, subject: string, file: string | undefined, detail: string, cause?: unknown) {
    super(code, `layerdb ${subject}${file ? ' ' + file : ''}: ${detail}`, cause === undefined ? undefined : { cause });
    this.subject = subject;
    if (file !== undefined) this.file = file;
    const sc = (cause as { code?: unknown } | undefined)?.code;
    if (code === 'LAYERDB_READ' && typeof sc === 'string') this.sysCode = sc;
  }
}

/** Turns a Node fs error into a `SysError` (same code, errno, syscall, paths, message). */
export function toSysError(e: unknown): unknown {
  if (e instanceof SysError || !(e instanceof Error)) return e;
  const n = e as NodeJS.ErrnoException & { dest?: string };
  if (typeof n.code !== 'string' || typeof n.errno !== 'number' || typeof n.syscall !== 'string') return e;
  return new SysError(n.code, n.errno, n.syscall, n.message, n.path, n.dest);
}

/** Runs `f`, rethrowing Node fs errors as `SysError`. */
export function sys<T>(f: () => T): T {
  try {
    return f();
  } catch (e) {
    throw toSysError(e);
  }
}

/** The errno name of `e`, if it has one. */
export function errCode(e: unknown): string | undefined {
  const c = (e as { code?: unknown } | null | undefined)?.code;
  return typeof c === 'string' ? c : undefined;
}
