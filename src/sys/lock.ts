/**
 * Advisory locks that die with their holder: flock(2) locks and OFD ("open file description")
 * byte-range locks. Both belong to an open file description, so two fds opened separately on the
 * same file conflict even inside one process, and a crashed process leaves no stale lock.
 *
 * Synchronous calls never wait: they take the lock or throw EAGAIN (try* return false). Waiting is
 * asynchronous (flockWait, ofdLockWait): the blocking call runs on its own thread, the event loop
 * keeps running, and the Promise settles once the lock is held. Do not close the fd while a wait is
 * pending.
 */
import { F_OFD_GETLK, F_OFD_SETLK, F_UNLCK, LOCK_NB, LOCK_UN } from './constants.js';
import { isSysError } from './error.js';
import { native, type LockInfo } from './native.js';

export type { LockInfo } from './native.js';

/**
 * A non-blocking flock(2): `op` is LOCK_UN, or LOCK_SH/LOCK_EX together with LOCK_NB. A conflict
 * throws SysError EAGAIN; an `op` that could block throws TypeError (use flockWait).
 */
export function flock(fd: number, op: number): void {
  if (op !== LOCK_UN && (op & LOCK_NB) === 0) throw new TypeError('flock: a blocking lock must use flockWait (or add LOCK_NB)');
  native.flock(fd, op);
}

/** Takes the flock(2) lock `op` (LOCK_SH or LOCK_EX) if free and returns true, or returns false on a conflict. */
export function tryFlock(fd: number, op: number): boolean {
  return attempt(() => native.flock(fd, op | LOCK_NB));
}

/** Waits, off the event loop, until the flock(2) lock `op` (LOCK_SH or LOCK_EX) is held. */
export function flockWait(fd: number, op: number): Promise<void> {
  return native.flockWait(fd, op & ~LOCK_NB);
}

/**
 * Takes (F_RDLCK/F_WRLCK) or drops (F_UNLCK) an OFD lock on bytes [start, start+len) of `fd`'s
 * file (len 0 = to the end, however it grows) without waiting; a conflict throws SysError EAGAIN.
 */
export function ofdLock(fd: number, type: number, start: number | bigint = 0, len: number | bigint = 0): void {
  native.ofdLock(fd, F_OFD_SETLK, type, start, len);
}

/** As ofdLock, but returns false instead of throwing on a conflict. */
export function tryOfdLock(fd: number, type: number, start: number | bigint = 0, len: number | bigint = 0): boolean {
  return attempt(() => native.ofdLock(fd, F_OFD_SETLK, type, start, len));
}

/** Drops this fd's OFD lock on [start, start+len) (the whole file by default). */
export function ofdUnlock(fd: number, start: number | bigint = 0, len: number | bigint = 0): void {
  native.ofdLock(fd, F_OFD_SETLK, F_UNLCK, start, len);
}

/** Waits, off the event loop, until the OFD lock `type` on [start, start+len) is held (F_OFD_SETLKW). */
export function ofdLockWait(fd: number, type: number, start: number | bigint = 0, len: number | bigint = 0): Promise<void> {
  return native.ofdLockWait(fd, type, start, len);
}

/**
 * Asks whether an OFD lock `type` on [start, start+len) could be taken (F_OFD_GETLK): returns null
 * if so, or the first conflicting lock held through another open file description.
 */
export function ofdGetLock(fd: number, type: number, start: number | bigint = 0, len: number | bigint = 0): LockInfo | null {
  return native.ofdLock(fd, F_OFD_GETLK, type, start, len) ?? null;
}

function attempt(fn: () => void): boolean {
  try {
    fn();
    return true;
  } catch (e) {
    if (isSysError(e, 'EAGAIN')) return false;
    throw e;
  }
}
