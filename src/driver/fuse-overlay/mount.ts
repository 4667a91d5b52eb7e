/**
 * fuse-overlay's mounter: a layer's `merged/` served by a `strata-overlay` daemon (strata's own
 * OverlayFS through FUSE) instead of the kernel's overlay. The daemon is started the way
 * containers/storage starts fuse-overlayfs (its `mount_program`): with the kernel's option string,
 * returning once the mount is live; `umount2` ends it (the daemon exits when its connection does).
 */
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { StrataError } from '../../errors/index.js';
import { DIFF_DIR, MERGED_DIR, WORK_DIR } from '../overlay2/layout.js';
import { mountOf } from '../../sys/index.js';
import type { MergedMounter, MountMethod, MountRequest } from '../overlay2/mount.js';

/** The mount type strata-overlay's mounts carry in /proc/self/mountinfo. */
export const FUSE_OVERLAY_FSTYPE = 'fuse.strata-overlay';

/**
 * How to run strata-overlay from this very installation: its CLI module in the same tree as this
 * one (`src/`, with tsx, when strata runs from its TypeScript sources; `dist/` when built) — so the
 * daemon is always the same build as the driver that starts it. The tree is found from the
 * package root, not from this module's own place, so that a bundle of strata finds it too.
 */
export function strataOverlayCommand(): { file: string; args: string[] } {
  const self = fileURLToPath(import.meta.url);
  const ext = path.extname(self);
  const cli = path.join(packageRoot(path.dirname(self)), ext === '.ts' ? 'src' : 'dist', 'ovl', 'fuse', `cli${ext}`);
  return { file: process.execPath, args: ext === '.ts' ? ['--import', 'tsx', cli] : [cli] };
}

/** The nearest directory at or above `dir` holding a package.json. */
function packageRoot(dir: string): string {
  for (let d = dir; ; d = path.dirname(d)) {
    if (fs.existsSync(path.join(d, 'package.json'))) return d;
    if (path.dirname(d) === d) throw new StrataError('FUSE_OVERLAY_NOT_FOUND', `strata-overlay: no package.json above ${dir}`);
  }
}

/** A lowerdir entry with the kernel's escaping of `:` (and of the escape itself). */
function escapeLayer(p: string): string {
  return p.replace(/\\/g, '\\\\').replace(/:/g, '\\:');
}

/** The `-o` string for layer `r`: the same layers, in the same order, as overlay2's kernel mount. */
export function fuseMountOptions(r: MountRequest): string {
  const dir = path.join(r.home, r.id);
  const lowers = r.lowers.map((l) => path.join(r.home, l));
  if (r.readOnly) return `lowerdir=${[path.join(dir, DIFF_DIR), ...lowers].map(escapeLayer).join(':')}`;
  return `lowerdir=${lowers.map(escapeLayer).join(':')},upperdir=${path.join(dir, DIFF_DIR)},workdir=${path.join(dir, WORK_DIR)}`;
}

/**
 * Starts `strata-overlay -o <options> <merged>` and waits for it to report the mount live. Its
 * one-line error becomes `error creating fuse-overlay mount to <merged>: <line>`.
 */
export function mountWithStrataOverlay(r: MountRequest): MountMethod {
  const merged = path.join(r.home, r.id, MERGED_DIR);
  const { file, args } = strataOverlayCommand();
  const res = spawnSync(file, [...args, '-o', fuseMountOptions(r), merged], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  if (res.error || res.status !== 0) {
    const why = (res.error?.message ?? (res.stderr.trim() || `exit ${res.status}`)).split('\n').pop()!.replace(/^strata-overlay: /, '');
    throw new StrataError('FUSE_OVERLAY_MOUNT_FAILED', `error creating fuse-overlay mount to ${merged}: ${why}`);
  }
  return 'fuse';
}

/** Whether `p` is the root of a strata-overlay mount. */
export function isStrataOverlayMount(p: string): boolean {
  const m = mountOf(p);
  return m !== undefined && m.mountPoint === p && m.fsType === FUSE_OVERLAY_FSTYPE;
}

export const fuseMounter: MergedMounter = { driver: 'fuse-overlay', mount: mountWithStrataOverlay, isMounted: isStrataOverlayMount };
