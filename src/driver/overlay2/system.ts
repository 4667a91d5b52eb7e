/**
 * Small facts about the running system that overlay2 needs and Node does not give directly: the
 * page size (mount data must fit in one page), the mount table, whether a path is an overlay
 * mount (moby's ref counter checks statfs f_type after a restart), unmounting a tree.
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

export interface MountEntry {
  mountPoint: string;
  fsType: string;
  /** Per-mount options (field 6). */
  mountOptions: string;
  source: string;
  /** Per-superblock options (after the `-`), e.g. `lowerdir=...,upperdir=...`. */
  superOptions: string;
}

/** Undoes mountinfo's octal escapes (`\040` for a space, `\134` for a backslash, …). */
function unescape(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

/** /proc/self/mountinfo, parsed. */
export function mountTable(): MountEntry[] {
  const out: MountEntry[] = [];
  for (const line of fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    if (!line) continue;
    const parts = line.split(' ');
    const dash = parts.indexOf('-');
    if (dash < 0) continue;
    out.push({
      mountPoint: unescape(parts[4]!),
      mountOptions: parts[5]!,
      fsType: parts[dash + 1]!,
      source: unescape(parts[dash + 2] ?? ''),
      superOptions: parts[dash + 3] ?? '',
    });
  }
  return out;
}

/** The mount entry a path lives on (longest mount point that is a prefix of it). */
export function mountOf(p: string): MountEntry | undefined {
  let best: MountEntry | undefined;
  for (const m of mountTable()) {
    const mp = m.mountPoint;
    if (p === mp || mp === '/' || p.startsWith(mp + '/')) {
      if (!best || mp.length >= best.mountPoint.length) best = m;
    }
  }
  return best;
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
  const targets = mountTable()
    .map((m) => m.mountPoint)
    .filter((mp) => mp === dir || mp.startsWith(dir + '/'))
    .sort((a, b) => b.length - a.length);
  for (const t of targets) {
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
