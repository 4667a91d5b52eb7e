/**
 * FUSE passthrough (Linux >= 6.9, CONFIG_FUSE_PASSTHROUGH): a FUSE server registers an open file of
 * its own with the connection and names it in an OPEN or CREATE reply; the kernel then reads and
 * writes (and mmaps) the FUSE file straight through that backing file, without asking the server.
 * Both calls need CAP_SYS_ADMIN.
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
