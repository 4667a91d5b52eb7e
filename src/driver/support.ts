/**
 * What this machine can do for each graph driver, decided the way dockerd decides it: by trying.
 *
 * overlay2 is supported when a real overlay mount with two lower layers succeeds in a scratch
 * directory next to the data root (moby's SupportsOverlay) — no kernel-version or filesystem
 * list is consulted. The FUSE overlay needs /dev/fuse and the kernel's fuse filesystem. vfs needs
 * nothing.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fsNameOf } from './fsnames.js';
import { checkLowerdirPlus, checkOverlaySupport } from './overlay2/detect.js';

export interface DriverSupport {
  name: string;
  supported: boolean;
  /** Why not, or what was checked. One line. */
  reason: string;
  details: Record<string, string>;
}

/** Probes every driver strata knows against the filesystem that holds `root`. */
export function probeDrivers(root: string): DriverSupport[] {
  const testDir = existingAncestor(root);
  const backing = fsNameOf(fs.statfsSync(testDir).type);
  return [probeOverlay(testDir, backing), probeFuse(backing), probeVfs(backing)];
}

function existingAncestor(p: string): string {
  let dir = path.resolve(p);
  while (!fs.existsSync(dir)) dir = path.dirname(dir);
  return dir;
}

function filesystemsListed(): string[] {
  try {
    return fs
      .readFileSync('/proc/filesystems', 'utf8')
      .split('\n')
      .map((l) => l.split('\t').pop()!.trim())
      .filter(Boolean);
  } catch {
    return [];
  }
}

function probeOverlay(testDir: string, backing: string): DriverSupport {
  const details: Record<string, string> = { 'Backing Filesystem': backing };
  if (!filesystemsListed().includes('overlay')) {
    return { name: 'overlay2', supported: false, reason: "the kernel has no 'overlay' filesystem (try: modprobe overlay)", details };
  }
  const failure = checkOverlaySupport(testDir);
  if (failure !== undefined) return { name: 'overlay2', supported: false, reason: `a test overlay mount failed: ${failure}`, details };
  details['lowerdir+'] = checkLowerdirPlus(testDir) ? 'yes (up to 500 layers)' : 'no (lower list limited by the 4 KiB option page)';
  return { name: 'overlay2', supported: true, reason: `a test overlay mount on ${backing} succeeded`, details };
}

function probeFuse(backing: string): DriverSupport {
  const details: Record<string, string> = { 'Backing Filesystem': backing };
  if (!filesystemsListed().includes('fuse')) {
    return { name: 'fuse-overlay', supported: false, reason: "the kernel has no 'fuse' filesystem (try: modprobe fuse)", details };
  }
  try {
    fs.closeSync(fs.openSync('/dev/fuse', 'r+'));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? 'error';
    return { name: 'fuse-overlay', supported: false, reason: `/dev/fuse cannot be opened (${code})`, details };
  }
  return { name: 'fuse-overlay', supported: true, reason: '/dev/fuse opens and the kernel lists fuse', details };
}

function probeVfs(backing: string): DriverSupport {
  return { name: 'vfs', supported: true, reason: 'plain directory copies work on any filesystem', details: { 'Backing Filesystem': backing } };
}
