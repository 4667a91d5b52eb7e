/**
 * Layer diffs: what changed between two trees, and the tar that carries it.
 *
 * A layer is "what this step changed", written as a tar. How a driver finds those changes
 * depends on how it stores layers:
 *
 *   - overlay2 keeps each layer's own changes in its `diff/` directory already: new and
 *     modified files are there in full, a deleted path is a char device 0/0 (a whiteout), and a
 *     directory that replaced a lower one wholesale carries `trusted.overlay.opaque=y`. Its Diff
 *     is simply a walk of `diff/` (writeLayerTar), with whiteouts turned into the tar form:
 *     `dir/.wh.<name>` entries and a `dir/.wh..wh..opq` marker after an opaque dir's entry.
 *   - a driver without such a directory (vfs keeps full copies; strata's naive path) has to
 *     compare the mounted layer with its mounted parent (changes: Add / Modify / Delete) and
 *     then archive just those paths (exportChanges), a Delete becoming a `.wh.` header.
 *
 * Why the bytes must match dockerd's exactly: a layer's DiffID is the SHA-256 of its
 * uncompressed tar, and image configs, ChainIDs, layerdb directory names, `docker save`
 * archives and registry pushes all hang off it. If strata committed a container and produced
 * one different byte (a uname, an mtime's rounding, the order of two names, a PAX header where
 * Go writes none) the "same" layer would get another identity than under dockerd. So every
 * rule here is dockerd 20.10's (moby pkg/archive with Go's archive/tar), checked against a
 * real dockerd in the tests.
 *
 * Worked example. In a container over an image holding /bin/cat, /data/d and /fifo:
 *
 *   rm /bin/cat; rm -rf /data && mkdir /data && echo z > /data/z; rm /fifo; mkfifo /fifo2
 *
 * leaves this overlay upper dir (and `docker diff` reports C /bin, D /bin/cat, C /data,
 * A /data/z, D /data/d, D /fifo, A /fifo2 — `changes(merged, parentMerged)`):
 *
 *   bin/        dir
 *   bin/cat     char 0/0          (whiteout)
 *   data/       dir, trusted.overlay.opaque=y
 *   data/z      file
 *   fifo        char 0/0          (whiteout)
 *   fifo2       fifo
 *
 * and `writeLayerTar(upper)` yields, in this order (names sorted by the on-disk name, so
 * `.wh.fifo` sits where `fifo` sorts):
 *
 *   bin/  bin/.wh.cat  data/  data/.wh..wh..opq  data/z  .wh.fifo  fifo2  <two zero blocks>
 *
 * (The kernel makes every whiteout of a mount a link of one shared inode, so `.wh.fifo` is
 * the second name of the inode `bin/cat` and, as in dockerd's output, carries linkname
 * `bin/cat`: moby dedupes hardlinks before it converts whiteouts.) Each header is exactly
 * what Go's archive/tar writes for moby's FileInfoHeader: mode with type bits,
 * uname/gname from the host's passwd/group (20.10), mtime cut to whole seconds, only the
 * `security.capability` xattr, hardlinks as typeflag '1' to the first name in walk order.
 */
/*
 * The contract, one promise each:
 *
 * writeLayerTar(dir, { whiteouts = 'overlay', names = 'lookup' }) → AsyncGenerator<Buffer>
 *   Streams the tar dockerd 20.10's `TarWithOptions(dir, {Uncompressed, OverlayWhiteoutFormat})`
 *   writes for `dir`: a filepath.Walk (lstat, byte-wise sorted names, root left out, dirs with a
 *   trailing '/'), moby's headers, hardlinks deduplicated by inode number, sockets skipped,
 *   overlay whiteouts and opaque dirs converted (unless `whiteouts: 'none'`, which gives the
 *   plain `archive.Tar` of a naive driver's `Diff(id, "")`), then the two zero blocks and nothing
 *   else. Memory stays near one 1 MiB chunk; content is read straight into the output chunks.
 *   The same directory gives the same bytes, and those are the bytes dockerd would write. The
 *   file-system calls are synchronous, made between yields (about one chunk's worth at a time):
 *   never point it, changes or exportChanges at a FUSE mount served by this same thread.
 *
 * changes(newDir, oldDir?) → Promise<Change[]>
 *   moby's ChangesDirs: Add / Modify / Delete (`A` / `C` / `D`) between the trees, sorted by
 *   path bytes, paths starting with '/'. Modify when mode, uid, gid, rdev or security.capability
 *   differ, or, for non-directories, size or mtime (second-precision tolerant); directories that
 *   only contain changes get a Modify; a deleted subtree is one Delete. Without `oldDir`
 *   everything is an Add.
 *
 * changesSize(dir, changes) → number
 *   moby's ChangesSize: the lstat sizes in `dir` of the Added and Modified non-directories, an
 *   inode with several links counted once.
 *
 * exportChanges(dir, changes, { names, now }) → AsyncGenerator<Buffer>
 *   moby's ExportChanges (the naive Diff): the changes sorted by path, each Delete a bare
 *   `<dir>/.wh.<base>` header stamped with the current time, each other path archived from `dir`
 *   as writeLayerTar would archive it but without whiteout conversion.
 *
 * (Native DiffSize is `directorySize` from ../size.ts.)
 *
 * formatChange(change) → string
 *   The line `docker diff` prints for it: `C /bin`.
 */
export { writeLayerTar, layerTarChunks, type LayerTarOptions } from './layertar.js';
export { changes, changesSync, changesSize, formatChange, sortChanges, changePathBytes, type Change } from './changes.js';
export { exportChanges, exportChangesChunks, type ExportChangesOptions } from './export.js';
export { nameResolver, EMPTY_NAMES, type NameResolver, type NamesOption } from './names.js';
export { fileInfoHeader, exportCapability } from './header.js';
