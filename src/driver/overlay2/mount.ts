/**
 * Building and making overlay2's mounts (moby overlay2 `Get`, `mountfrom`), and the reference
 * counter that lets several users share one mount (moby `graphdriver.RefCounter`).
 */
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { StrataError } from '../../errors/index.js';
import * as sys from '../../sys/index.js';
import { DIFF_DIR, WORK_DIR, MERGED_DIR } from './layout.js';
import { isOverlayMount, pageSize } from './system.js';

export interface MountRequest {
  home: string;
  id: string;
  /** `lower` file entries (`l/X`), nearest first. */
  lowers: string[];
  /** The layer has `committed`: mount its own diff/ as the top lower, no upper. */
  readOnly: boolean;
  /** `index=off,` or ''. */
  indexOff: string;
  /** `userxattr,` or ''. */
  userxattr: string;
  mountLabel?: string;
  /** The kernel takes `lowerdir+` through fsconfig. */
  lowerdirPlus: boolean;
}

/** How the mount was (or will be) made: by the kernel (three ways), or by strata-overlay through FUSE. */
export type MountMethod = 'mount' | 'lowerdir+' | 'relative' | 'fuse';

/**
 * What makes a layer's `merged/` appear: the one part in which overlay2 (the kernel's OverlayFS)
 * and fuse-overlay (strata's own, through FUSE) differ. Both keep Docker's layout and unmount with
 * umount2.
 */
export interface MergedMounter {
  /** The driver this mounter serves: `overlay2` or `fuse-overlay`. */
  readonly driver: string;
  /** Mounts layer `r.id` on `<home>/<id>/merged`; throws a one-line StrataError on failure. */
  mount(r: MountRequest): MountMethod;
  /** Whether `p` is already such a mount (left by an earlier process). */
  isMounted(p: string): boolean;
}

/** go-selinux `FormatMountLabel`: `<opts>,context="<label>"`, or the options alone without a label. */
export function formatMountLabel(opts: string, label?: string): string {
  if (!label) return opts;
  return opts === '' ? `context="${label}"` : `${opts},context="${label}"`;
}

/** The absolute mount data dockerd builds for this layer (before any page-size fallback). */
export function dockerMountData(r: MountRequest): string {
  const dir = path.join(r.home, r.id);
  const abs = r.lowers.map((l) => path.join(r.home, l));
  const opts = r.readOnly
    ? `${r.indexOff}${r.userxattr}lowerdir=${[path.join(dir, DIFF_DIR), ...abs].join(':')}`
    : `${r.indexOff}${r.userxattr}lowerdir=${abs.join(':')},upperdir=${path.join(dir, DIFF_DIR)},workdir=${path.join(dir, WORK_DIR)}`;
  return formatMountLabel(opts, r.mountLabel);
}

/** dockerd's relative-path fallback data, to be mounted with `home` as the working directory. */
export function relativeMountData(r: MountRequest): string {
  const lowers = r.lowers.join(':');
  const opts = r.readOnly
    ? `${r.indexOff}${r.userxattr}lowerdir=${path.join(r.id, DIFF_DIR)}:${lowers}`
    : `${r.indexOff}${r.userxattr}lowerdir=${lowers},upperdir=${path.join(r.id, DIFF_DIR)},workdir=${path.join(r.id, WORK_DIR)}`;
  return formatMountLabel(opts, r.mountLabel);
}

/** The same mount as fsconfig parameters: one `lowerdir+` per layer, top first. */
export function lowerdirPlusParams(r: MountRequest): sys.FsParam[] {
  const dir = path.join(r.home, r.id);
  const params: sys.FsParam[] = [];
  if (r.indexOff) params.push(['index', 'off']);
  if (r.userxattr) params.push(['userxattr']);
  if (r.readOnly) params.push(['lowerdir+', path.join(dir, DIFF_DIR)]);
  for (const l of r.lowers) params.push(['lowerdir+', path.join(r.home, l)]);
  if (!r.readOnly) params.push(['upperdir', path.join(dir, DIFF_DIR)], ['workdir', path.join(dir, WORK_DIR)]);
  if (r.mountLabel) params.push(['context', r.mountLabel]);
  return params;
}

/** Go's `%v` of an errno: the strerror text alone (`invalid argument`), plus any kernel detail. */
function errText(e: unknown): string {
  if (sys.isSysError(e)) {
    const text = e.message.replace(/^[A-Z0-9]+: /, '').replace(/, [a-z_0-9]+ '.*$/s, '');
    return e.detail ? `${text} (${e.detail})` : text;
  }
  return e instanceof Error ? e.message : String(e);
}

/**
 * Mounts layer `r.id` on `<home>/<id>/merged` as dockerd would and returns how. When the mount
 * data fits in a page (the common case), the very `mount(2)` dockerd makes. When it does not,
 * dockerd switches to relative paths mounted from `home`; strata instead mounts through
 * fsopen/fsconfig with one `lowerdir+` per layer when the kernel has it (no size limit, no
 * chdir), and otherwise runs mount(8) with `home` as its working directory (Node cannot chdir one
 * thread). Failure: `error creating overlay mount to <merged>: <err>`, or dockerd's
 * `cannot mount layer, mount label too large <n>`.
 */
export function mountLayer(r: MountRequest): MountMethod {
  const merged = path.join(r.home, r.id, MERGED_DIR);
  const data = dockerMountData(r);
  const limit = pageSize() - 1;
  const fail = (e: unknown): StrataError =>
    new StrataError('OVERLAY_MOUNT_FAILED', `error creating overlay mount to ${merged}: ${errText(e)}`, { cause: e });
  if (Buffer.byteLength(data) <= limit) {
    try {
      sys.mount('overlay', merged, 'overlay', 0, data);
    } catch (e) {
      throw fail(e);
    }
    return 'mount';
  }
  if (r.lowerdirPlus) {
    try {
      sys.mountFs('overlay', merged, lowerdirPlusParams(r));
    } catch (e) {
      throw fail(e);
    }
    return 'lowerdir+';
  }
  const rel = relativeMountData(r);
  if (Buffer.byteLength(rel) > limit) {
    throw new StrataError('OVERLAY_MOUNT_TOO_LARGE', `cannot mount layer, mount label too large ${Buffer.byteLength(rel)}`);
  }
  const res = spawnSync('mount', ['-n', '-t', 'overlay', '-o', rel, 'overlay', path.join(r.id, MERGED_DIR)], { cwd: r.home, encoding: 'utf8' });
  if (res.error || res.status !== 0) throw fail(new Error((res.error?.message ?? res.stderr).trim()));
  return 'relative';
}

/** overlay2's mounter: the kernel. */
export const kernelMounter: MergedMounter = { driver: 'overlay2', mount: mountLayer, isMounted: isOverlayMount };

/**
 * moby's RefCounter: counts users per path. The first time a path is seen it checks whether it
 * is already an overlay mount (left by an earlier process) and, if so, starts from 1 — so a
 * restarted strata neither mounts twice nor leaves the old mount behind on the last put.
 */
export class RefCounter {
  private readonly counts = new Map<string, { count: number; checked: boolean }>();

  constructor(private readonly isMounted: (p: string) => boolean = isOverlayMount) {}

  private op(p: string, delta: number): number {
    let m = this.counts.get(p);
    if (!m) this.counts.set(p, (m = { count: 0, checked: false }));
    if (!m.checked) {
      m.checked = true;
      if (this.isMounted(p)) m.count++;
    }
    m.count += delta;
    if (m.count < 0) m.count = 0;
    return m.count;
  }

  increment(p: string): number {
    return this.op(p, 1);
  }

  decrement(p: string): number {
    return this.op(p, -1);
  }

  /** Forgets a path (its layer was removed). */
  forget(p: string): void {
    this.counts.delete(p);
  }

  /** The current count without touching it (0 for an unseen path). */
  peek(p: string): number {
    return this.counts.get(p)?.count ?? 0;
  }
}
