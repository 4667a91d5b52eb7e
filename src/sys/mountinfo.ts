/**
 * The mount table as this process's mount namespace shows it: /proc/self/mountinfo, parsed. The
 * one place strata reads it — the drivers ask what is mounted where and the FUSE server whether its
 * mount point is still live.
 */
import fs from 'node:fs';

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

/** Every mount, in the kernel's order (a mount listed after the ones it covers). */
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

/** The mount a path lives on: the longest mount point that is `p` or a parent of it (the last one mounted there). */
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

/** The mount points at or below `dir`, deepest first (the order to unmount them in); one per mount. */
export function mountsBelow(dir: string): string[] {
  return mountTable()
    .map((m) => m.mountPoint)
    .filter((mp) => mp === dir || mp.startsWith(dir + '/'))
    .sort((a, b) => b.length - a.length);
}

/** Whether something is mounted on `dir` now. */
export function isMountPoint(dir: string): boolean {
  return mountTable().some((m) => m.mountPoint === dir);
}
