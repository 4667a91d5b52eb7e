/**
 * Mounts: classic mount(2)/umount2(2), and the new mount API (fsopen, fsconfig, fsmount,
 * move_mount, open_tree), which configures a filesystem one parameter at a time — the way to
 * give overlayfs hundreds of layers with `lowerdir+` without the 4096-byte limit of mount data.
 */
import { AT_FDCWD, FSCONFIG_CMD_CREATE, FSCONFIG_SET_FLAG, FSCONFIG_SET_STRING, FSMOUNT_CLOEXEC, FSOPEN_CLOEXEC, MOVE_MOUNT_F_EMPTY_PATH, OPEN_TREE_CLOEXEC } from './constants.js';
import { native, type PathLike } from './native.js';
import fs from 'node:fs';

/**
 * Mounts `source` (null for none) of type `fstype` on `target` with MS_* `flags` and the
 * filesystem-specific option string `data`, exactly as mount(2). Throws SysError (`path` = source,
 * `dest` = target) on failure; the kernel writes the reason for an overlay refusal only to its log.
 */
export function mount(source: PathLike | null, target: PathLike, fstype: string | null, flags = 0, data: string | Buffer | null = null): void {
  native.mount(source, target, fstype, flags, data);
}

/** Unmounts `target` with MNT_* `flags` (MNT_DETACH for a lazy unmount), exactly as umount2(2). */
export function umount2(target: PathLike, flags = 0): void {
  native.umount2(target, flags);
}

/** Opens a filesystem context for `fsname` (e.g. `overlay`) and returns its fd; close it with fs.closeSync. */
export function fsopen(fsname: string, flags = FSOPEN_CLOEXEC): number {
  return native.fsopen(fsname, flags);
}

/**
 * Sends one fsconfig(2) command to a filesystem context: FSCONFIG_SET_FLAG (key), SET_STRING (key,
 * value — string or raw Buffer bytes, given to the filesystem as one parameter, so `lowerdir+`
 * values need no escaping), SET_BINARY (Buffer value), SET_PATH/SET_PATH_EMPTY (value = path,
 * aux = dir fd), SET_FD (aux = fd), or CMD_CREATE / CMD_RECONFIGURE. On failure the SysError's
 * `detail` holds the key and the kernel's own explanation from the context's log.
 */
export function fsconfig(fd: number, cmd: number, key: string | null = null, value: PathLike | null = null, aux = 0): void {
  native.fsconfig(fd, cmd, key, value, aux);
}

/** Turns a created filesystem context into a detached mount with MOUNT_ATTR_* `attrFlags`; returns the mount fd. */
export function fsmount(fsfd: number, flags = FSMOUNT_CLOEXEC, attrFlags = 0): number {
  return native.fsmount(fsfd, flags, attrFlags);
}

/**
 * Moves a mount (typically the fd from fsmount, with fromPath `''` and MOVE_MOUNT_F_EMPTY_PATH) to
 * `toPath` relative to `toDirFd` (AT_FDCWD for the cwd), exactly as move_mount(2).
 */
export function moveMount(fromDirFd: number, fromPath: PathLike, toDirFd: number, toPath: PathLike, flags = 0): void {
  native.moveMount(fromDirFd, fromPath, toDirFd, toPath, flags);
}

/** Opens (or with OPEN_TREE_CLONE, detaches a copy of) the mount at `path`; returns an fd for moveMount. */
export function openTree(dirFd: number, path: PathLike, flags = OPEN_TREE_CLOEXEC): number {
  return native.openTree(dirFd, path, flags);
}

/** One filesystem parameter for mountFs: `[key]` is a flag, `[key, value]` a string parameter. */
export type FsParam = readonly [key: string, value?: PathLike | null];

/**
 * Mounts a new `fstype` filesystem on `target` through the new mount API: fsopen, one fsconfig per
 * parameter (in order, so repeated `lowerdir+` keys stack layers top-first), CMD_CREATE, fsmount
 * with `attrFlags`, move_mount. Either the mount is attached at `target` or a SysError is thrown
 * and nothing is mounted; the fds it opened are closed in both cases.
 */
export function mountFs(fstype: string, target: PathLike, params: Iterable<FsParam>, attrFlags = 0): void {
  const fsfd = fsopen(fstype);
  try {
    for (const [key, value] of params) {
      if (value === undefined || value === null) fsconfig(fsfd, FSCONFIG_SET_FLAG, key);
      else fsconfig(fsfd, FSCONFIG_SET_STRING, key, value);
    }
    fsconfig(fsfd, FSCONFIG_CMD_CREATE);
    const mfd = fsmount(fsfd, FSMOUNT_CLOEXEC, attrFlags);
    try {
      moveMount(mfd, '', AT_FDCWD, target, MOVE_MOUNT_F_EMPTY_PATH);
    } finally {
      fs.closeSync(mfd);
    }
  } finally {
    fs.closeSync(fsfd);
  }
}
