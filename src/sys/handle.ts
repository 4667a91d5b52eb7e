/**
 * What an overlay needs from the filesystems under it and Node cannot give: a directory's entries
 * in the filesystem's own order (with `.`, `..`, d_type and d_ino), and persistent file handles
 * plus the filesystem UUID, which is how the kernel's overlay records a copied-up file's origin.
 */
import { native, type PathLike } from './native.js';

/** d_type values (dirent.h). */
export const DT = { UNKNOWN: 0, FIFO: 1, CHR: 2, DIR: 4, BLK: 6, REG: 8, LNK: 10, SOCK: 12 } as const;

/**
 * A directory listing in getdents order: parallel arrays of names, d_type and d_ino. Names are
 * byte strings (latin1: one char per byte; `Buffer.from(name, 'latin1')` is the name), so a name
 * that is not UTF-8 is kept exactly.
 */
export interface RawDirents {
  names: string[];
  types: Uint8Array;
  inos: BigUint64Array;
}

/** Reads every entry of `dir` (`.` and `..` included) in the filesystem's native order. */
export function readdirRaw(dir: PathLike): RawDirents {
  return native.readdirRaw(dir);
}

/** A file handle as name_to_handle_at(2) returns it. */
export interface FileHandle {
  type: number;
  handle: Buffer;
  mountId: number;
}

/** The persistent handle of `path` (relative to `dirFd`, AT_FDCWD for the cwd), as name_to_handle_at(2). */
export function nameToHandleAt(dirFd: number, path: PathLike, flags = 0): FileHandle {
  return native.nameToHandleAt(dirFd, path, flags);
}

/**
 * Opens the inode a handle names, as open_by_handle_at(2): `mountFd` is any fd on the filesystem
 * (O_PATH in `flags` is enough to fstat it). Needs CAP_DAC_READ_SEARCH; a deleted inode is ESTALE.
 */
export function openByHandleAt(mountFd: number, type: number, handle: Buffer, flags = 0): number {
  return native.openByHandleAt(mountFd, type, handle, flags);
}

/** The UUID of the filesystem holding `fd` (FS_IOC_GETFSUUID, Linux 6.5+): the bytes the kernel keeps as s_uuid. */
export function fsUuid(fd: number): Buffer {
  return native.fsUuid(fd);
}
