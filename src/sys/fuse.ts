/**
 * A FUSE server's calls on /dev/fuse that node:fs cannot make.
 *
 * Requests: `fuseReadRequest` reads the next one, busy-polling a short while before it sleeps.
 *
 * Passthrough (Linux >= 6.9, CONFIG_FUSE_PASSTHROUGH): a FUSE server registers an open file of
 * its own with the connection and names it in an OPEN or CREATE reply; the kernel then reads and
 * writes (and mmaps) the FUSE file straight through that backing file, without asking the server.
 * Both passthrough calls need CAP_SYS_ADMIN.
 */
import { native } from './native.js';

/**
 * Registers the open file `fd` (a regular file on a filesystem that is not itself stacked too
 * deep) with the FUSE connection `devFd` (/dev/fuse) and returns its backing id, for
 * `fuse_open_out.backing_id`. The connection keeps the file until `fuseBackingClose`.
 */
export function fuseBackingOpen(devFd: number, fd: number): number {
  return native.fuseBackingOpen(devFd, fd);
}

/** Drops the connection's reference to backing file `id`; FUSE files already open on it keep theirs. */
export function fuseBackingClose(devFd: number, id: number): void {
  native.fuseBackingClose(devFd, id);
}

/**
 * Reads the next request from the FUSE connection `devFd` into `buffer` and returns its length.
 * When `devFd` is non-blocking (O_NONBLOCK) and no request is queued, asks again — yielding the
 * CPU between tries to any thread waiting for it — for up to `spinUs` microseconds before it
 * sleeps in poll(2): waking a sleeping server costs tens of µs (more on a VM), while a sequential
 * client's next request is often due sooner. On a blocking fd it is a plain read(2).
 *
 * `waited[0]` receives the µs from the call until a request was there (0: one was queued, or the
 * fd blocks, so the wait was not measured and the caller never widens its polling), for
 * the caller to tune `spinUs` (see src/ovl/fuse/busy-poll.ts). Interrupted reads (EINTR, and
 * ENOENT for a request interrupted before it was read) are retried; ENODEV means unmounted.
 */
export function fuseReadRequest(devFd: number, buffer: Buffer, spinUs: number, waited: Uint32Array): number {
  return native.fuseReadRequest(devFd, buffer, spinUs, waited);
}

/**
 * Writes the first `len` bytes of `buffer` (one reply or notice) to the FUSE connection `devFd` in
 * one write(2), as `fs.writeSync` would but without its per-call bookkeeping, which costs a server
 * more than the write. Throws on failure: ENOENT when the request was interrupted meanwhile (nobody
 * waits for the reply), ENODEV once unmounted.
 */
export function fuseWrite(devFd: number, buffer: Buffer, len: number): void {
  native.fuseWrite(devFd, buffer, len);
}
