/**
 * vfs: the storage driver that needs nothing — every layer is a plain directory holding the
 * complete tree, made by copying its parent (moby daemon/graphdriver/vfs).
 *
 * It works on any filesystem, with no mounts and no kernel features, which makes it the driver of
 * last resort (dockerd never picks it from prior state and tries it last) and the reference that
 * other drivers' results can be compared with. The price is space and time: a layer costs a full
 * copy of everything below it (a reflink on xfs/btrfs, a real copy elsewhere).
 *
 * On disk (`<root>` is the data root; the driver's home is `<root>/vfs`):
 *
 *   <root>/vfs/            0710
 *   <root>/vfs/dir/        0710
 *   <root>/vfs/dir/<id>/   the layer's whole tree; 0755 root:root when created on nothing,
 *                          else its parent's root (mode, owner, times) as copied
 *
 * There are no link, lower or metadata files, and nothing is mounted: `get` returns the
 * directory, `put` does nothing. Since nothing records what a layer changed, every diff is the
 * naive one (../naive.ts): compare the layer's tree with its parent's, or apply a tar on top of
 * the copy with whiteouts deleting.
 *
 * Worked example, the life of an image layer and a container on it:
 *
 *   const vfs = await initVfs('/var/lib/strata/vfs', []);
 *   await vfs.create('L1', '');                                 // vfs/dir/L1/, empty, 0755
 *   await vfs.applyDiff('L1', '', new TarReader(layerTar));     // files unpacked; → Σ header sizes
 *   await vfs.createReadWrite('C1', 'L1');                      // vfs/dir/C1/ = full copy of L1
 *   const rootfs = await vfs.get('C1');                         // '/var/lib/strata/vfs/dir/C1'
 *   //   … a container writes /etc/hosts and deletes /tmp/x in rootfs …
 *   await vfs.put('C1');
 *   await vfs.changes('C1', 'L1');     // [ {C /etc}, {C /etc/hosts}, {C /tmp}, {D /tmp/x} ]
 *   vfs.diff('C1', 'L1');              // tar: etc/ etc/hosts tmp/ tmp/.wh.x (ends ≥ 1 s after start)
 *   await vfs.remove('C1');
 *
 * Options (`--storage-opt`): `size=<n>` only, and it needs quotas, which strata's vfs does not
 * implement: a non-zero size is the error `Filesystem does not support, or has not enabled
 * quotas`. Any other key is `unknown option <key> for vfs`. Per layer, `create` refuses every
 * storage option (`--storage-opt is not supported for vfs on read-only layers`); `createReadWrite`
 * knows only `size` (the quota error again) and otherwise says `Storage opt <key> not supported`.
 *
 * How strata's copy differs from dockerd's (see copy.ts): all extended attributes survive a
 * create-on-parent here (dockerd's vfs drops them, file capabilities included), sockets stay
 * sockets, every kind of hardlink stays a hardlink and sparse files stay sparse.
 */
import type { Driver, DriverInit } from '../driver.js';
import { withNaiveDiff, type NaiveDiffOptions } from '../naive.js';
import { openVfsProto } from './driver.js';

export { dirCopy, type DirCopyOptions } from './copy.js';
export { VfsProtoDriver, errQuotaNotSupported, openVfsProto } from './driver.js';

/**
 * Starts vfs on `home` (`<root>/vfs`, created 0710 if missing) with its `key=value` options, and
 * returns the complete driver: vfs's own create/remove/get/put/… wrapped in the naive diff (always:
 * `capabilities()` is `{ reproducesExactDiffs: false, nativeDiff: false }`). Option errors are
 * StrataErrors with dockerd's texts, thrown before anything is created; vfs itself is supported
 * everywhere, so it never throws NotSupportedError.
 */
export const initVfs: DriverInit = async (home, options) => openVfs(home, options);

/** `initVfs` with naive-diff settings (uname lookup, the one-second sleep — tests turn it off). */
export async function openVfs(home: string, options: readonly string[] = [], naive: NaiveDiffOptions = {}): Promise<Driver> {
  return withNaiveDiff(openVfsProto(home, options), naive);
}
