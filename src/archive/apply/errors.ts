/**
 * The errors `applyLayer` and `extractLayer` raise, and the one-line quoting they use.
 *
 * Entry names are raw bytes (a layer's file names need not be UTF-8), so messages quote them the
 * way Go's `%q` does — printable UTF-8 kept, everything else escaped — which also guarantees that a
 * name containing a newline cannot break a message over two lines.
 */
import util from 'node:util';
import { StrataError } from '../../errors/index.js';
import { goQuote } from '../gostrings.js';

/** Stable codes of the errors raised while applying a layer. */
export const ApplyErrorCode = {
  /** An entry, hardlink target, symlink target or whiteout points outside the target directory. */
  Breakout: 'ARCHIVE_BREAKOUT',
  /** Two entries with the same cleaned name (`./a` and `a`), which Docker's tar-split rejects. */
  Duplicate: 'ARCHIVE_DUPLICATE',
  /** A typeflag Docker does not handle (GNU dump dirs, volume labels, multi-volume parts, …). */
  UnsupportedType: 'ARCHIVE_UNSUPPORTED_TYPE',
  /** A character or block device while `allowDevices` is false. */
  DeviceNotAllowed: 'ARCHIVE_DEVICE_NOT_ALLOWED',
  /** A name that cannot be applied, such as a non-directory entry naming the root itself. */
  InvalidName: 'ARCHIVE_INVALID_NAME',
  /** A whiteout whose target is empty, `.` or `..` (it would delete a directory, not an entry of it). */
  InvalidWhiteout: 'ARCHIVE_INVALID_WHITEOUT',
  /** A sparse map that is unsorted, overlapping, past the file's size, or disagrees with the data. */
  BadSparse: 'ARCHIVE_BAD_SPARSE',
  /** Resolving a parent directory met more than 40 symbolic links. */
  SymlinkLoop: 'ARCHIVE_SYMLINK_LOOP',
  /** An AUFS hardlink into `.wh..wh.plnk/` whose file the layer never provided. */
  InvalidAufsHardlink: 'ARCHIVE_INVALID_AUFS_HARDLINK',
  /** A system call failed while creating or changing an entry (the errno is in the message). */
  Io: 'ARCHIVE_IO',
  /** Reading the archive failed with an error that was not already a StrataError. */
  Read: 'ARCHIVE_READ',
  /** `extractLayer`: the destination already exists. */
  TargetExists: 'ARCHIVE_TARGET_EXISTS',
  /** The directory to apply into does not exist or is not a directory. */
  TargetInvalid: 'ARCHIVE_TARGET_INVALID',
} as const;
export type ApplyErrorCode = (typeof ApplyErrorCode)[keyof typeof ApplyErrorCode];

/** Go's strconv.Quote over raw bytes held as a latin1 "byte string" or a Buffer. */
export function quote(name: string | Uint8Array): string {
  return goQuote(typeof name === 'string' ? Buffer.from(name, 'latin1') : name);
}

export function applyError(code: ApplyErrorCode, message: string, cause?: unknown): StrataError {
  return new StrataError(code, message, cause === undefined ? undefined : { cause });
}

/** The errno name of a Node fs error or a SysError, if it is one. */
export function errnoOf(e: unknown): string | undefined {
  if (e && typeof e === 'object' && 'code' in e && typeof (e as { code: unknown }).code === 'string') {
    const code = (e as { code: string }).code;
    return /^E[A-Z0-9]+$/.test(code) ? code : undefined;
  }
  return undefined;
}

const OWN_TEXT: Record<string, string> = { ENOTSUP: 'operation not supported', EOPNOTSUPP: 'operation not supported' };

/** "no such file or directory (ENOENT)" for a system error; the plain message otherwise. */
export function describe(e: unknown): string {
  const code = errnoOf(e);
  if (code) {
    const errno = (e as { errno?: unknown }).errno;
    let text: string | undefined = OWN_TEXT[code];
    if (!text && typeof errno === 'number') text = util.getSystemErrorMap().get(errno < 0 ? errno : -errno)?.[1];
    return `${text ?? 'system error'} (${code})`;
  }
  return oneLine(e instanceof Error ? e.message : String(e));
}

export function oneLine(s: string): string {
  return s.replace(/[\r\n]+/g, ' ');
}

/** `cannot <op> "<name>": <errno text> (<ERRNO>)`, code ARCHIVE_IO — unless `e` already is a StrataError of ours. */
export function ioError(op: string, name: string, e: unknown): StrataError {
  if (e instanceof StrataError && !errnoOf(e)) return e;
  return applyError(ApplyErrorCode.Io, `cannot ${op} ${quote(name)}: ${describe(e)}`, e);
}
