/**
 * strata as a library: Docker's layer storage, one folder per concept.
 *
 *   archive/  layer tars byte for byte: reader/writer, tar-split, apply, diff, compression
 *   digest/   Digest, SHA-256, DiffID/ChainID, IDs, CRC-64
 *   driver/   graph drivers (overlay2, fuse-overlay, vfs), their contract and moby's selection
 *   ovl/      strata's OverlayFS: the kernel's rules in userspace; fuse/ serves it on /dev/fuse
 *   registry/ the OCI distribution client (auth, manifests, verified resumable blobs, uploads)
 *   sys/      the syscalls Node lacks (mount, xattrs, mknod, renameat2, locks, ...)
 *   errors/   StrataError: a stable code and a one-line message
 *   layer/    the layer store: layers by ChainID, RW layers, reference counts, crash recovery
 *   image/    the image store: configs, references, docker-save and OCI archive formats
 *   engine/   the verbs: load, save, pull, push, create, commit, rmi, prune, fsck, export
 *
 * See README.md for a worked example.
 */
export * from './archive/index.js';
export * from './digest/index.js';
export * from './driver/index.js';
export * from './errors/index.js';
export * from './layer/index.js';
export * from './image/index.js';
export * from './engine/index.js';
export * as ovl from './ovl/index.js';
export { openOverlay, openOverlayCore, OvlError } from './ovl/index.js';
export * as registry from './registry/index.js';
export * as sys from './sys/index.js';
