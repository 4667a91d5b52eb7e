/**
 * ovl — strata's OverlayFS in userspace: the Linux kernel's overlay rules (6.18, all layers on one
 * filesystem) applied to real directories, reading and writing the kernel's on-disk format, so a
 * kernel mount and strata can take turns on the same upper dir.
 *
 * The lifecycle of a container's root filesystem, without mounting anything:
 *
 *   import { openOverlay } from './ovl/index.js';
 *
 *   // 1. stack the image's layers (top first) under a writable layer
 *   const ovl = await openOverlay({ lowerdirs: [app, base], upperdir: `${rw}/diff`, workdir: `${rw}/work` });
 *   // 2. read the union: lookups go top to bottom, whiteouts hide, directories merge
 *   await ovl.readFile('/etc/os-release');          // from `base`, unless `app` or upper has it
 *   await ovl.readdir('/etc');                      // one merged listing, in the kernel's order
 *   // 3. change it: the first write copies the file up into `diff` (data, owner, times, xattrs,
 *   //    and a trusted.overlay.origin that keeps its inode number); deleting a lower name leaves
 *   //    a char 0:0 whiteout; a new dir over a deleted one is made opaque
 *   await ovl.writeFile('/etc/hostname', 'web-1\n');
 *   await ovl.unlink('/etc/motd');
 *   await ovl.rename('/tmp/a', '/tmp/b');           // a lower dir: EXDEV, unless redirectDir 'on'
 *   await ovl.close();
 *   // 4. `diff` is now exactly what the kernel overlay would have left: mount it, or tar it as a layer
 *
 * Two levels share one engine. `openOverlayCore` gives the synchronous, node-level `OverlayCore`
 * (lookup a name in a dir node, then act on the node), which the FUSE server in `fuse/` drives;
 * `openOverlay` gives the fs/promises-like `Overlay` over union paths. Every failure is an
 * `OvlError` whose errno is the one the kernel overlay returns for the same call.
 *
 * Inside: `options.ts` checks the layers as mount would and prepares work/work; `lookup.ts`
 * resolves a name across layers (whiteouts, opaque dirs, redirects) into an `OvlEntry`
 * (`entry.ts`, cached per directory); `engine.ts` holds attributes (samefs inode rules), copy-up
 * (`copyup.ts` builds the copy of any object in one native call; `origin.ts` encodes origin file
 * handles, or the head the native call completes, and decodes them), whiteouts and redirects;
 * `readdir.ts` builds merged listings; `remove.ts` and `rename.ts` apply the kernel's unlink/rmdir/rename rules,
 * `setattr.ts` its chmod/chown/truncate/utimes (on a name, or on an open file whose name is gone);
 * `core.ts` puts them together as `OverlayCore`, `file.ts` is an open file, `api.ts` the path API.
 *
 * Names: the path API takes text (UTF-8) or Buffer paths; inside, names are byte strings (one char
 * per byte, `realfs.ts`), so names that are not UTF-8 work as they do in the kernel.
 *
 * Durability follows the kernel's `fsync=` option (`OverlayOptions.fsync`): what a copy-up syncs
 * (`copyup.ts`, the native call), what fsync(2) of a file (`file.ts`) or directory and syncfs(2)
 * (`core.ts`) sync; a volatile overlay marks its work dir as the kernel's does, and every open
 * refuses a work dir so marked (`options.ts`).
 *
 * Not covered: permission checks (callers act as root; the FUSE
 * server mounts with default_permissions so the kernel checks); the `userxattr`, `index`,
 * `metacopy` and `xino` options; the volatile kernel's failing every later sync once the upper
 * filesystem had a writeback error (a process cannot see that without syncing); layers on
 * different filesystems (the samefs inode rules are applied regardless). Lower layers must not change while an overlay is open (the
 * kernel calls that undefined; the engine caches lower listings).
 */
import { PathOverlay } from './api.js';
import { Core } from './core.js';
import type { Overlay, OverlayCore, OverlayOptions, OvlCaller } from './types.js';

export * from './types.js';
export { OvlError, isOvlError } from './errors.js';
export { OvlOptionsError, MAX_LAYERS } from './options.js';
export { parseOpenFlags } from './api.js';

/**
 * Opens the node-level engine over `options`' layers: validates them as the kernel's mount does
 * (throwing OvlOptionsError), creates `workdir/work`, and returns a synchronous OverlayCore. Without
 * an upperdir the union is read-only and every change fails with EROFS.
 */
export function openOverlayCore(options: OverlayOptions): OverlayCore {
  return new Core(options);
}

/**
 * Opens the fs/promises-like API over `options`' layers (see openOverlayCore). Created objects
 * belong to `caller` (default: this process's uid/gid, umask 0).
 */
export async function openOverlay(options: OverlayOptions, caller?: OvlCaller): Promise<Overlay> {
  return new PathOverlay(new Core(options), caller);
}
