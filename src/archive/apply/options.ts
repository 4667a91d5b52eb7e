/** Options and results of `applyLayer` / `extractLayer`. */

/**
 * How whiteout entries (`.wh.<name>`, `.wh..wh..opq`) are applied.
 *
 * - `'overlay'`: moby's `Unpack` with `OverlayWhiteoutFormat`, for overlay-backed drivers. A
 *   whiteout becomes a character device 0:0 (mode 0000, owned by the entry's uid:gid) and an opaque
 *   marker becomes `trusted.overlay.opaque=y` on its directory; nothing is deleted. Missing parent
 *   directories are created 0755 and owned by root. `size` is `directorySize` of the result.
 * - `'delete'`: moby's `UnpackLayer`, for drivers that keep whole trees (vfs). The directory
 *   already holds the parent layer's files; a whiteout deletes its target, an opaque marker deletes
 *   everything in its directory that this layer did not itself unpack, and top-level
 *   `.wh..wh.*` AUFS metadata is skipped (hardlinks into `.wh..wh.plnk/` become copies). Missing
 *   parents are created 0600, as moby does. `size` is the sum of the entries' header sizes.
 */
export type WhiteoutMode = 'overlay' | 'delete';

export interface ApplyOptions {
  /** How whiteouts are applied; see `WhiteoutMode`. */
  whiteouts: WhiteoutMode;
  /**
   * Create character and block devices from the archive. Default: true when running as root
   * (as dockerd does outside a user namespace), false otherwise. When false, a device entry is an
   * `ARCHIVE_DEVICE_NOT_ALLOWED` error — except a character device 0:0, which is an overlay
   * whiteout and is always allowed (the kernel lets anyone create one).
   */
  allowDevices?: boolean;
  /**
   * Reject two entries whose cleaned names are equal (`./a` and `a`; a directory listed twice)
   * with `ARCHIVE_DUPLICATE`, as Docker does (its tar-split refuses such layers). Default: true.
   * With false, a later entry replaces an earlier one (a directory merges into a directory).
   */
  rejectDuplicates?: boolean;
  /**
   * Do not change owners: entries, whiteout devices and created parents keep the applying
   * process's uid/gid (moby's `NoLchown`). Default: false (owners come from the archive).
   */
  noLchown?: boolean;
  /**
   * Called once for every extended attribute the filesystem refused with ENOTSUP or EPERM (such
   * as `user.*` on a symlink); these are skipped, as moby does, and also listed in the result.
   */
  onWarning?: (message: string) => void;
}

export interface ApplyResult {
  /**
   * The layer's size as dockerd records it: `directorySize(dir)` after an `'overlay'` apply, the
   * sum of the entries' header sizes after a `'delete'` apply. (For an `'overlay'` apply into an
   * empty directory with nothing removed on the way, the same number is counted while applying
   * instead of walking the result: regular files' logical sizes plus symlink target lengths.)
   */
  size: number;
  /** Extended attributes skipped because the filesystem refused them (ENOTSUP/EPERM), one line each. */
  warnings: string[];
}
