/**
 * overlay2 — Docker's overlay2 graph driver on the kernel's OverlayFS, with Docker's exact
 * on-disk layout, so that a data root written here opens in dockerd and the other way round.
 *
 * The layout. Every layer is a directory `<home>/<id>/` (home = `<root>/overlay2`, 0710) whose
 * `diff/` holds only that layer's own changes. Because a mount's option string must fit in one
 * 4 KiB page, layers refer to each other through short names: each layer gets a random 26-char
 * base32 link ID, `l/<LINK> -> ../<id>/diff` (relative symlink), and a child lists its ancestors,
 * nearest first, in `lower` as `l/<LINK>:l/<LINK>:…`.
 *
 * Worked example: a 3-layer image (A ← B ← C) and a container on it. `docker load` does
 *
 *   create('A', '')   → A/diff/ 0755, A/link "QFQS3TQ7MHCG54GM6D4ZTVCZG4", l/QFQS… -> ../A/diff
 *   create('B', 'A')  → B/diff/, B/link "FNAV…", B/work/ 0700, B/lower "l/QFQS…",
 *                       and A/committed (empty, 0600): "A has children, mount it read-only"
 *   create('C', 'B')  → C/lower "l/FNAV…:l/QFQS…", B/committed
 *   applyDiff(X, parent, tar) for each: the tar lands in X/diff/, `.wh.name` → char dev 0:0,
 *                       `.wh..wh..opq` → trusted.overlay.opaque=y on its dir
 *
 * and `docker run` adds the container's init layer and RW layer:
 *
 *   createReadWrite('M-init', 'C') → lower "l/<C>:l/FNAV…:l/QFQS…", C/committed
 *   createReadWrite('M', 'M-init') → lower "l/<M-init>:l/<C>:l/FNAV…:l/QFQS…", M-init/committed
 *   get('M') → mkdir M/merged (0700) and mount
 *     overlay on <home>/M/merged:
 *       index=off,lowerdir=<home>/l/<M-init>:<home>/l/<C>:<home>/l/FNAV…:<home>/l/QFQS…,
 *       upperdir=<home>/M/diff,workdir=<home>/M/work
 *   get('C') (e.g. to export it) → C has `committed`, so a read-only mount:
 *       index=off,lowerdir=<home>/C/diff:<home>/l/FNAV…:<home>/l/QFQS…
 *   get('A') → A has no `lower`: just <home>/A/diff, nothing is mounted.
 *
 * `index=off,` is prepended when /sys/module/overlay/parameters/index exists. When the option
 * string would not fit in pagesize-1 bytes, dockerd retries with paths relative to home, mounted
 * from a helper chdir'ed there; strata instead passes one `lowerdir+` per layer through
 * fsopen/fsconfig (Linux ≥ 6.8) — no size limit, no chdir — and only without it runs mount(8)
 * in home with dockerd's relative string. Gets are counted per layer: a second get returns the
 * same mount, the last put unmounts (MNT_DETACH) and removes merged/.
 *
 * Depth. Docker refuses a `lower` list of more than 128 entries (`max depth exceeded`), which is
 * what keeps its relative string within a page. With `lowerdir+` that reason is gone, and the
 * limit becomes the kernel's: 500 lower layers per mount. A committed layer mounts its own diff
 * as one more lower, so strata allows 499 `lower` entries — a 500-layer stack mounts both as a
 * container root (499 lowers + upper) and read-only (500 lowers). Without `lowerdir+` the limit
 * stays Docker's 128. The layer store caps image depth at 125 anyway, so everything the layer
 * store writes remains readable by dockerd; deeper stacks exist only for direct driver users.
 *
 * d_type: as dockerd, the raw dirents of the test dir are read (src/sys direntTypes; Node's own
 * readdir hides DT_UNKNOWN). A backing filesystem without d_type is refused when home is not yet
 * initialised (missing or empty), with Docker's message; an initialised home only reports
 * `Supports d_type: false`, as 20.10 only warns there.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { StrataError } from '../../errors/index.js';
import * as sys from '../../sys/index.js';
import { errNotSupported, type DriverInit } from '../driver.js';
import { fsNameOf } from '../fsnames.js';
import { checkDType, checkLowerdirPlus, checkNativeDiff, checkOverlaySupport, errDTypeNotSupported, indexOffOption, isInitialized, runningInUserNS } from './detect.js';
import { Overlay2Driver, type Overlay2Config } from './driver.js';
import { DOCKER_MAX_DEPTH, KERNEL_MAX_STACK, LINK_DIR } from './layout.js';
import { parseOverlay2Options } from '../options.js';
import { newQuotaControl, type QuotaControl } from './quota.js';

export { Overlay2Driver, type Overlay2Config } from './driver.js';
export { generateLinkId, base32, DOCKER_MAX_DEPTH, KERNEL_MAX_STACK } from './layout.js';
export { dockerMountData, relativeMountData, lowerdirPlusParams, type MountMethod, type MountRequest } from './mount.js';
export { parseStorageOpt } from './options.js';
export { QUOTA_NOT_SUPPORTED } from './quota.js';
export { pageSize, isOverlayMount } from './system.js';

export interface Overlay2InitExtras {
  /** Force the mount strategy: false pretends the kernel lacks `lowerdir+` (tests). */
  lowerdirPlus?: boolean;
}

/** Kernel ≥ 5.11 (userxattr for overlay inside a user namespace). */
function kernelAtLeast(major: number, minor: number): boolean {
  const m = /^(\d+)\.(\d+)/.exec(os.release());
  if (!m) return false;
  const [a, b] = [Number(m[1]), Number(m[2])];
  return a > major || (a === major && b >= minor);
}

/**
 * Starts overlay2 on `home` as moby's Init does: parse `overlay2.*` options (bad ones are fatal);
 * decide support with a real two-lower test mount in `check-overlayfs-support*` under home (or
 * its parent while home does not exist) — failure is `driver not supported` (NotSupportedError);
 * name the backing filesystem; refuse one without d_type unless home already holds layers; create home 0710 and `l/` 0700; set up xfs project quota when
 * `overlay2.size` asks for it (Docker's two errors otherwise); detect `index=off`, userxattr,
 * whether diffs can be native (opaque copy-up bug, redirect_dir) and whether `lowerdir+` works.
 */
export async function openOverlay2(home: string, options: string[], extras: Overlay2InitExtras = {}): Promise<Overlay2Driver> {
  if (!fs.existsSync(home)) return init(home, path.dirname(home), options, extras); // a new home: changes are expected
  return keepingTimes(home, () => init(home, home, options, extras));
}

/**
 * Runs `fn` and puts `dir`'s atime and mtime back afterwards: the probes create and remove scratch
 * dirs in it, and opening a data root (a live dockerd's, to read it) must leave it as it was.
 */
function keepingTimes<T>(dir: string, fn: () => T): T {
  const st = fs.statSync(dir, { bigint: true });
  try {
    return fn();
  } finally {
    try {
      sys.utimensat(sys.constants.AT_FDCWD, dir, st.atimeNs, st.mtimeNs, 0);
    } catch {
      /* the dir is gone or not ours to touch: nothing to restore */
    }
  }
}

function init(home: string, testDir: string, options: string[], extras: Overlay2InitExtras): Overlay2Driver {
  const quotaSize = parseOverlay2Options(options).size ?? 0;
  const unsupported = checkOverlaySupport(testDir);
  if (unsupported !== undefined) throw errNotSupported(unsupported);
  const backingFs = fsNameOf(fs.statfsSync(testDir).type);
  const supportsDType = checkDType(testDir);
  if (!supportsDType && !isInitialized(home)) throw errDTypeNotSupported('overlay2', backingFs);

  fs.mkdirSync(home, { recursive: true, mode: 0o710 });
  fs.chmodSync(home, 0o710);
  fs.mkdirSync(path.join(home, LINK_DIR), { recursive: true, mode: 0o700 });
  fs.chmodSync(path.join(home, LINK_DIR), 0o700);

  let quota: QuotaControl | undefined;
  if (backingFs === 'xfs') {
    try {
      quota = newQuotaControl(home);
    } catch (e) {
      if (quotaSize > 0) {
        const msg = e instanceof Error ? e.message : String(e);
        throw new StrataError('DRIVER_QUOTA', `Storage option overlay2.size not supported. Filesystem does not support Project Quota: ${msg}`);
      }
    }
  } else if (quotaSize > 0) {
    throw new StrataError('DRIVER_QUOTA', `Storage Option overlay2.size only supported for backingFS XFS. Found ${backingFs}`);
  }

  const userns = runningInUserNS();
  const naiveDiffReason = userns ? 'running in a user namespace' : checkNativeDiff(home);
  const lowerdirPlus = extras.lowerdirPlus ?? checkLowerdirPlus(home);
  const config: Overlay2Config = {
    home,
    backingFs,
    supportsDType,
    naiveDiffReason,
    indexOff: indexOffOption(),
    userxattr: userns && kernelAtLeast(5, 11) ? 'userxattr,' : '',
    lowerdirPlus,
    maxDepth: lowerdirPlus ? KERNEL_MAX_STACK - 1 : DOCKER_MAX_DEPTH,
    quotaSize,
    quota,
  };
  return new Overlay2Driver(config);
}

/** The registry's entry point: `openOverlay2` with no extras. */
export const initOverlay2: DriverInit = (home, options) => openOverlay2(home, options);
