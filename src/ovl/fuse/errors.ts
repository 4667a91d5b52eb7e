/**
 * Errors of the FUSE server, and the one rule that turns any thrown error into the errno the
 * kernel receives.
 */
import os from 'node:os';
import { StrataError } from '../../errors/index.js';

/**
 * A FUSE mount or session problem a user can meet: no /dev/fuse (`FUSE_DEVICE`), the mount(2)
 * refused (`FUSE_MOUNT`), a kernel too old for the protocol (`FUSE_PROTOCOL`), bad command-line
 * options (`FUSE_USAGE`), a server that never became ready (`FUSE_SERVER`).
 */
export class FuseError extends StrataError {}

/** A request shorter than its opcode's arguments: answered with EINVAL. */
export class MalformedRequestError extends StrataError {
  readonly errno = -(os.constants.errno.EINVAL ?? 22);
  constructor(message: string) {
    super('EINVAL', message);
  }
}

const EIO = os.constants.errno.EIO ?? 5;

/**
 * The negative errno to send for `e`, or null when `e` carries none (a bug: the caller answers EIO
 * and reports it). Accepts Node-style errors (`errno` -2, `code` 'ENOENT'), strata's SysError and
 * OvlError (same shape), and plain objects with an errno name in `code`.
 */
export function errnoOf(e: unknown): number | null {
  if (typeof e !== 'object' || e === null) return null;
  const { errno, code } = e as { errno?: unknown; code?: unknown };
  if (typeof errno === 'number' && Number.isInteger(errno) && errno < 0 && errno > -512) return errno;
  if (typeof code === 'string') {
    const n = (os.constants.errno as Record<string, number | undefined>)[code];
    if (n !== undefined) return -n;
  }
  return null;
}

/** EIO as a negative errno: the answer for an error that carries no errno. */
export const NEG_EIO = -EIO;
