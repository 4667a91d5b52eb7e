/**
 * ovl/fuse — strata's OverlayFS mounted through FUSE, speaking the kernel's protocol on /dev/fuse
 * directly (no libfuse, no native binding beyond src/sys's mount(2)).
 *
 * The life of a mount, as `strata-overlay MNT -o lowerdir=A:B,upperdir=U,workdir=W` lives it:
 *
 *   import { serveInWorker } from './ovl/fuse/index.js';
 *
 *   // 1. a worker thread builds the filesystem (OverlayFuseOps over the engine's OverlayCore),
 *   //    opens /dev/fuse, and mounts `fuse.strata-overlay` with fd=N,default_permissions,allow_other
 *   const server = await serveInWorker({
 *     mountpoint: '/mnt/rootfs',
 *     mount: { source: 'strata-overlay', subtype: 'strata-overlay' },
 *     ops: { module: overlayOpsUrl, export: 'createOverlayFuseOps', args: { lowerdirs: [A, B], upperdir: U, workdir: W } },
 *     timeout: 86_400,
 *   });
 *   // 2. the kernel's first request is INIT: protocol 7.31+, 1 MiB writes (MAX_PAGES, BIG_WRITES),
 *   //    READDIRPLUS, atomic O_TRUNC; the promise resolves once it is answered — the mount is live
 *   // 3. every access becomes requests: `cat /mnt/rootfs/etc/hosts` is LOOKUP etc (parent node 1,
 *   //    the root) → node 2, LOOKUP hosts → node 3, OPEN → fh, READ into the reply buffer,
 *   //    RELEASE; later the kernel FORGETs nodes 2 and 3 when it drops them from its caches.
 *   //    The kernel keeps names, attributes and listings (a day, until told): after a request that
 *   //    changed other nodes behind its back (a parent copied up, another name of a hard link),
 *   //    the session sends FUSE_NOTIFY_INVAL_INODE for them. OPENDIR, RELEASEDIR and FLUSH are
 *   //    answered ENOSYS once, and the kernel stops sending them: fewer round trips, which is
 *   //    where a FUSE mount's time goes. A file whose data can change only through its node (an
 *   //    upper file with one name) is opened in passthrough mode (Linux >= 6.9): the kernel reads
 *   //    and writes the upper file itself, and no READ or WRITE reaches the server (so the
 *   //    attributes of an upper file other nodes show too, other names or a name replaced
 *   //    while open, are never cached: they would miss those writes; a lower hard link's names
 *   //    never change one another, since a copy-up breaks the link)
 *   // 4. `umount /mnt/rootfs`: the next read of /dev/fuse fails with ENODEV, the session closes the
 *   //    engine and the worker ends
 *   await server.unmount();
 *
 * The pieces: `protocol.ts` (opcodes, struct layouts, encoders over a DataView, fast before V8
 * has optimised anything), `session.ts` (the blocking request loop: one read, one handler, one
 * write; its per-request path avoids loads and calls that only rare requests reach: V8
 * deoptimises code the first time such a path runs, and the loop then spends a thousand requests
 * in the interpreter), `busy-poll.ts` (how long the loop polls for the next request before it
 * sleeps, adapting to how soon requests come), `ops.ts` (the `FuseOps` contract a filesystem
 * implements, node-ID based), `overlay-ops.ts` (FuseOps over the overlay engine: node table with
 * lookup counts, handles, caller uid/gid), `mount.ts` (/dev/fuse and mount(2)), `worker.ts` and
 * `worker-main.ts` (serving from a worker thread), `passthrough.ts` (open files the kernel does
 * its own I/O on, one mode per node), `mount-options.ts` and `cli.ts` (the
 * `strata-overlay` command, fuse-overlayfs's conventions, daemonizing).
 *
 * One request is served at a time, synchronously: the engine is synchronous and local. The thread
 * that serves a mount must never touch it (it would wait for itself): serve from a worker, or
 * from a process that does nothing else (the strata-overlay daemon).
 */
export type { FuseAttr, FuseContext, FuseDirent, FuseEntry, FuseOpened, FuseOps, FuseSetattr, FuseStatfs } from './ops.js';
export { FuseSession, MAX_WRITE, type FuseSessionOptions } from './session.js';
export { openFuseDevice, mountFuse, unmountFuse, type FuseMountOptions } from './mount.js';
export { serveInWorker, type FuseServeOptions, type FuseServer, type FuseOpsFactoryRef } from './worker.js';
export { OverlayFuseOps, createOverlayFuseOps, toFuseAttr } from './overlay-ops.js';
export { parseMountOptions, DEFAULT_TIMEOUT, type StrataOverlayMountOptions } from './mount-options.js';
export { BusyPoll, DEFAULT_BUSY_POLL_US } from './busy-poll.js';
export { FuseError } from './errors.js';
export { FUSE_ROOT_ID, FUSE_KERNEL_VERSION, FUSE_MIN_MINOR, FUSE_SERVER_MINOR, InitFlag, Opcode } from './protocol.js';
