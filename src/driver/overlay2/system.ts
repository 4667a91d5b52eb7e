/**
 * Small facts about the running system that overlay2 needs and Node does not give directly: the
 * page size (mount data must fit in one page), whether a path is an overlay mount (moby's ref
 * counter checks statfs f_type after a restart), unmounting a tree.
 */
import fs from 'node:fs';
import * as sys from '../../sys/index.js';

export const OVERLAY_MAGIC = 0x794c7630;

let pageSizeMemo: number | undefined;

/** The kernel page size (AT_PAGESZ from /proc/self/auxv), 4096 if that cannot be read. */
export function pageSize(): number {
  if (pageSizeMemo !== undefined) return pageSizeMemo;
  pageSizeMemo = 4096;
  try {
    const aux = fs.readFileSync('/proc/self/auxv');
    for (let off = 0; off + 16 <= aux.length; off += 16) {
      const type = aux.readBigUInt64LE(off);
      if (type === 0n) break;
      if (type === 6n) pageSizeMemo = Number(aux.readBigUInt64LE(off + 8)); // AT_PAGESZ
    }
  } catch {
    /* keep 4096 */
  }
  return pageSizeMemo;
}

/** Whether `p` is the root of an overlay mount (statfs f_type 0x794c7630), as moby's Checker. */
export function isOverlayMount(p: string): boolean {
  try {
    return Number(fs.statfsSync(p).type) >>> 0 === OVERLAY_MAGIC;
  } catch {
    return false;
  }
}

/**
 * Unmounts (MNT_DETACH) every mount at or below `dir`, deepest first — moby's
 * `mount.RecursiveUnmount`. Errors on individual mounts are ignored when the mount is gone.
 */
export function recursiveUnmount(dir: string): void {
  for (const t of sys.mountsBelow(dir)) {
    try {
      sys.umount2(t, sys.constants.MNT_DETACH);
    } catch (e) {
      if (!sys.isSysError(e, 'EINVAL') && !sys.isSysError(e, 'ENOENT')) throw e;
    }
  }
}

/** moby's `EnsureRemoveAll`: unmount whatever is mounted below `dir`, then remove it; missing is fine. */
export function ensureRemoveAll(dir: string): void {
  recursiveUnmount(dir);
  fs.rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
}
