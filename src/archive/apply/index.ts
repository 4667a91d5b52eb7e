/**
 * Applying a layer: turning a layer tar into files in a directory, safely.
 *
 * An image is a stack of layers, and each layer is a tar of the files that changed relative to
 * the layers below it: added or modified files as ordinary entries, deletions as *whiteouts*.
 * "Applying" a layer writes those changes into a directory. Two kinds of directory exist:
 *
 * - An overlay2 layer's `diff/` holds only this layer's changes; the kernel's OverlayFS stacks the
 *   `diff/`s at mount time. Deletions must therefore stay visible as markers, in the form the
 *   kernel understands (`whiteouts: 'overlay'`, moby's `Unpack` with the overlay converter):
 *
 *       in the tar                    on disk in diff/
 *       etc/.wh.motd                  etc/motd    character device 0:0, mode 0000, entry's owner
 *       var/cache/.wh..wh..opq        var/cache   gets xattr trusted.overlay.opaque = "y"
 *
 * - A vfs layer's directory is a full copy of its parent with the changes applied on top. Here a
 *   whiteout simply deletes (`whiteouts: 'delete'`, moby's `UnpackLayer`): `etc/.wh.motd` removes
 *   `etc/motd`, and `var/cache/.wh..wh..opq` removes everything in `var/cache` that this layer did
 *   not itself put there.
 *
 * Everything else is created as GNU tar would with `-p` as root: owners, permission bits with
 * setuid/setgid/sticky, every xattr (binary-safe), nanosecond times (directories last, in archive
 * order, so that creating their children does not disturb them), hardlinks, symlinks, devices,
 * FIFOs and sparse files (data regions written at their offsets). The result's `size` is what
 * dockerd writes into the layer's layerdb `size` file.
 *
 * Safety model. Docker applies a layer inside a process chroot'ed into the target directory, so
 * nothing a hostile archive names can reach outside it. strata gets the same guarantee without
 * chroot:
 * - Names are cleaned (Go's filepath.Clean). A name that climbs out (`../x`, `a/../../x`, `..`)
 *   is an `ARCHIVE_BREAKOUT` error; an absolute name is joined under the target (`/etc/x` lands
 *   in `<dir>/etc/x`), exactly as moby's `Join(dest, name)`.
 * - Parent directories are resolved as the kernel would inside the chroot: component by component,
 *   a symlink met on the way is followed *within* the target (an absolute target restarts at the
 *   target directory, `..` stops at it; 40 links is a loop, `ARCHIVE_SYMLINK_LOOP`). So a
 *   `lib -> usr/lib` created earlier in the same tar works as in Docker, and `evil -> /` followed by
 *   `evil/x` writes `<dir>/x`. Missing parents are created (0755 owned by root in overlay mode,
 *   0600 in delete mode — both as moby); a missing component inside a symlink's target is an error.
 * - The final component of an entry is never followed: an existing entry is removed and replaced
 *   (a directory merges into a directory), and creation uses calls that fail rather than follow
 *   (O_CREAT|O_EXCL|O_NOFOLLOW, mkdir, symlink, link, mknod), then lchown, lsetxattr and
 *   utimensat(AT_SYMLINK_NOFOLLOW).
 * - A hardlink's target is resolved the same way and must lie inside (`invalid hardlink`); a
 *   symlink is checked as moby does: `Join(Dir(name), linkname)` must stay inside (`invalid
 *   symlink`), so `a -> ../../..` is refused while `a -> /etc` is allowed (it can only ever
 *   resolve inside). A whiteout must name an entry of its own directory (`.wh..`, `.wh...` are
 *   refused), and one aimed outside is a breakout.
 * - Devices are created only with `allowDevices` (default: when running as root, like dockerd);
 *   a 0:0 character device is a whiteout and always allowed.
 * - Two entries with the same cleaned name are refused (`ARCHIVE_DUPLICATE`), as Docker's
 *   tar-split refuses them.
 * Node has no openat(), so operations take absolute paths — but every directory in such a path was
 * just verified to be a real directory inside the target, and the resolution is redone after
 * anything is removed. That is exact for a directory nobody else writes to while it is applied,
 * which is the case for a layer being unpacked. Like moby, every xattr in the archive is applied,
 * `trusted.overlay.*` included: a layer can mark its own directories opaque.
 *
 * Where strata is stricter than moby's code (each of these is a hole or a crash there, and none
 * occurs in a tar Docker writes): a name that is exactly `..` (moby's `Rel` check lets it through
 * and chmods the target's parent); whiteouts `.wh.`, `.wh..`, `.wh...` (they would delete or
 * mknod a directory rather than an entry); a non-directory named `.` (moby would RemoveAll the
 * target); containment checked by path, not by string prefix (moby's `HasPrefix(target, dest)`
 * accepts `<dest>-evil/…`). Also: old-GNU sparse entries (typeflag 'S', written by
 * `tar --format=gnu --sparse`) are applied as sparse regular files, PAX global headers are
 * ignored in both modes, and an opaque marker in 'delete' mode keeps what this layer unpacked by
 * its real (resolved) path.
 *
 * Worked example: a layer that adds a file, deletes one, and resets a directory.
 *
 *   for await (const e of new TarReader(fs.createReadStream('layer.tar'))) ...   // entries:
 *     app/            dir
 *     app/run.sh      file, 0755, "#!/bin/sh\n…"
 *     etc/.wh.motd    whiteout for etc/motd
 *     var/cache/      dir
 *     var/cache/.wh..wh..opq
 *
 *   const tar = new TarReader(decompress(fs.createReadStream('layer.tar.gz', { highWaterMark: 1 << 20 })));
 *   const { size } = await extractLayer(tar, `${root}/overlay2/${id}/diff`, { whiteouts: 'overlay' });
 *   // diff/app/run.sh            the file, owner, mode, times, xattrs as archived
 *   // diff/etc/motd              c--------- 0,0   (etc/ created 0755: the tar did not list it)
 *   // diff/var/cache             trusted.overlay.opaque=y
 *   // size                       directory.Size of diff/: here the length of run.sh
 *
 *   // The same tar on a vfs copy of the parent layer deletes instead:
 *   await applyLayer(new TarReader(...), vfsDir, { whiteouts: 'delete' });
 *   // vfsDir/etc/motd is gone; vfsDir/var/cache is empty; size = sum of header sizes
 */
import type { TarEntry, TarReader } from '../tar/index.js';
import { runApply } from './apply.js';
import { runExtract } from './extract.js';
import type { ApplyOptions, ApplyResult } from './options.js';

export type { ApplyOptions, ApplyResult, WhiteoutMode } from './options.js';
export { ApplyErrorCode } from './errors.js';

/**
 * Applies the layer `source` (a TarReader, or any async iterable of its entries) into the
 * existing directory `dir`, entry by entry in archive order, with whiteouts handled per
 * `opts.whiteouts`. Nothing outside `dir` is created, followed or changed, whatever the archive
 * contains; an entry that would do so stops the apply with a StrataError (`ARCHIVE_BREAKOUT`,
 * `ARCHIVE_DUPLICATE`, `ARCHIVE_IO`, … — see `ApplyErrorCode`; archive format errors keep their
 * `TAR_*` codes) whose one-line message names the entry. On failure `dir` may hold part of the
 * layer (use `extractLayer` when that must not be visible) and the source is closed. Resolves to
 * the layer's `size` as dockerd records it and the xattr warnings.
 */
export function applyLayer(source: AsyncIterable<TarEntry> | TarReader, dir: string, opts: ApplyOptions): Promise<ApplyResult> {
  return runApply(source, dir, opts);
}

/**
 * Applies `source` as `applyLayer` does, into the directory `newDir`, which must not exist
 * (`ARCHIVE_TARGET_EXISTS`): the layer is unpacked into a hidden temporary sibling (mode 0755)
 * and renamed into place, without ever replacing anything, only once every entry was applied. On
 * any failure the temporary directory is removed, so `newDir` either appears complete or does not
 * appear at all.
 */
export function extractLayer(source: AsyncIterable<TarEntry> | TarReader, newDir: string, opts: ApplyOptions): Promise<ApplyResult> {
  return runExtract(source, newDir, opts);
}
