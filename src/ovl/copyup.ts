/**
 * Making a copy-up's new upper object, as the kernel's ovl_copy_up_one does: built complete out of
 * sight in the work dir, then put in place, with the data, the xattrs (without the overlay's
 * private ones), owner, mode, the origin file handle, atime and mtime; the parent keeps its times.
 * What is synced before the copy gets its name follows the `fsync=` mode: a file's data (auto), a
 * whole file or directory (strict), nothing (volatile).
 *
 * The whole sequence is one native call (src/sys copyUp): a regular file is copied between two
 * open files (copy_file_range, a reflink where the filesystem shares extents) and built as an
 * unnamed O_TMPFILE file linked into place (the kernel's ovl_copy_up_tmpfile); a directory,
 * symlink or device is made under a temporary name in work/work and labelled by path, never
 * following, then renamed into place (ovl_copy_up_workdir). Made as ~15 calls from JavaScript,
 * the same syscalls made a FUSE copy-up (chmod of a lower file) cost 406 µs instead of 315 (client
 * and daemon pinned to one CPU). This module owns the rules the call follows.
 *
 * Order matters: the owner is set before the xattrs (chown drops a file's security.capability)
 * and before the mode (chown drops setuid/setgid); the times go last (anything after would move them).
 *
 * A setattr that needs the copy-up (chmod, chown, truncate, utimes of a lower object: what `chown
 * -R` in a Dockerfile does to every file) passes its change along: it is made on the copy before
 * the copy appears, after the metadata and in a setattr's own order, and the call returns the
 * copy's stat for the reply. The kernel checks a setattr before it copies up, so a change that
 * fails leaving no copy is what the kernel shows too.
 */
import fs from 'node:fs';
import { copyUp, type CopiedUp, type CopyUpChange, type CopyUpSync, type CopyUpXattrRules } from '../sys/index.js';
import type { Origins } from './origin.js';
import * as real from './realfs.js';
import { OVL_ESCAPED_PREFIX, OVL_PREFIX, XATTR_ORIGIN } from './realfs.js';

/** O_NOATIME where allowed: reading a lower layer must not change it. */
const O_NOATIME = fs.constants.O_NOATIME ?? 0;

/** Opens a lower file for reading without touching its atime. */
export function openLowerForRead(p: string, flags: number): number {
  try {
    return real.open(p, flags | O_NOATIME);
  } catch (e) {
    if ((e as { code?: string }).code !== 'EPERM' || O_NOATIME === 0) throw e;
    return real.open(p, flags);
  }
}

/** What to copy: the lower object at `src` (in lower layer `layer`). */
export interface CopySource {
  src: string;
  layer: number;
  /** The object is a regular file (as the lookup found it; lower layers do not change). */
  isFile: boolean;
  /** false: a regular file gets its size as a hole (an open with O_TRUNC empties it anyway). */
  data: boolean;
  /** A setattr to make on the copy before it appears (the kernel makes it right after the copy-up). */
  change?: CopyUpChange;
}

/**
 * The overlay's rules for copyUp with each layer's origin head: not the overlay's private xattrs,
 * but escaped ones set through the union; the origin in trusted.overlay.origin. Made once per layer.
 */
const rulesByOrigins = new WeakMap<Origins, CopyUpXattrRules[]>();

function copyRules(origins: Origins, layer: number): CopyUpXattrRules {
  let all = rulesByOrigins.get(origins);
  if (all === undefined) rulesByOrigins.set(origins, (all = []));
  return (all[layer] ??= { skipPrefix: OVL_PREFIX, keepPrefix: OVL_ESCAPED_PREFIX, originName: XATTR_ORIGIN, originHeader: origins.header(layer) });
}

/**
 * Makes `dst` (an upper path whose parent exists, and keeps its times) a copy of the lower object,
 * built at the work dir path `tmp` (a regular file: unnamed beside it) with `c.change` made on it,
 * synced as `sync` says (the overlay's fsync= mode);
 * returns the lower object's inode number, whether the copy records it as its origin (`origin`: a
 * directory, or a non-directory with one link; a lower hard link's copies are separate inodes, each
 * with its own st_ino), and the copy's stat. On failure nothing is left at `tmp` or `dst`.
 */
export function copyUpObject(c: CopySource, tmp: string, dst: string, origins: Origins, sync: CopyUpSync): CopiedUp {
  return copyUp(c.src, tmp, dst, c.data, copyRules(origins, c.layer), c.change, sync, c.isFile); // byte strings, as copyUp takes them
}
