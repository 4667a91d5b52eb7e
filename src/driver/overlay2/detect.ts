/**
 * overlay2's feature detection at Init, each decided by trying, as moby does (overlayutils,
 * overlay2/check.go): a test mount with two lowers (support), the opaque copy-up bug and
 * redirect_dir (native diff), and — beyond Docker — whether the new mount API takes `lowerdir+`.
 */
import fs from 'node:fs';
import path from 'node:path';
import * as sys from '../../sys/index.js';
import { NotSupportedError } from '../driver.js';

function why(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function tryUnmount(p: string, flags = 0): void {
  try {
    sys.umount2(p, flags);
  } catch {
    /* not mounted */
  }
}

/**
 * moby's `SupportsOverlay(testDir, checkMultipleLowers=true)`: mount an overlay with two lower
 * dirs in a fresh `check-overlayfs-support*` scratch dir under `testDir`. Returns undefined when
 * it worked, else the reason (the caller turns it into `driver not supported`). The scratch dir
 * is always removed.
 */
export function checkOverlaySupport(testDir: string): string | undefined {
  if (process.env._DOCKERD_ROOTLESS_SELINUX === '1') return 'overlay is not supported for Rootless with SELinux';
  let td: string | undefined;
  try {
    td = fs.mkdtempSync(path.join(testDir, 'check-overlayfs-support'));
    for (const d of ['lower1', 'lower2', 'upper', 'work', 'merged']) fs.mkdirSync(path.join(td, d), 0o755);
    const merged = path.join(td, 'merged');
    const opts = `lowerdir=${td}/lower2:${td}/lower1,upperdir=${td}/upper,workdir=${td}/work`;
    try {
      sys.mount('overlay', merged, 'overlay', 0, opts);
    } catch (e) {
      return `failed to mount overlay: ${why(e)}`;
    }
    tryUnmount(merged);
    return undefined;
  } catch (e) {
    return why(e);
  } finally {
    if (td) fs.rmSync(td, { recursive: true, force: true });
  }
}

/**
 * moby's `doesSupportNativeDiff(home)`: undefined when overlay2 may diff `diff/` dirs natively,
 * else the reason to use the naive diff — the kernel copies the opaque flag up (< 4.8), or it
 * has redirect_dir enabled (a renamed directory is then a redirect xattr that a tar of `diff/`
 * cannot express). Works in an `opaque-bug-check*` scratch dir under `home`, removed after.
 */
export function checkNativeDiff(home: string): string | undefined {
  let td: string | undefined;
  try {
    td = fs.mkdtempSync(path.join(home, 'opaque-bug-check'));
    for (const d of ['l1/d', 'l1/d1', 'l2/d', 'l3', 'work', 'merged']) fs.mkdirSync(path.join(td, d), { recursive: true, mode: 0o755 });
    sys.lsetxattr(path.join(td, 'l2', 'd'), 'trusted.overlay.opaque', 'y');
    const merged = path.join(td, 'merged');
    const opts = `lowerdir=${td}/l2:${td}/l1,upperdir=${td}/l3,workdir=${td}/work`;
    try {
      sys.mount('overlay', merged, 'overlay', 0, opts);
    } catch (e) {
      return `failed to mount overlay: ${why(e)}`;
    }
    try {
      fs.writeFileSync(path.join(merged, 'd', 'f'), '', { mode: 0o644 });
      const opaque = sys.lgetxattr(path.join(td, 'l3', 'd'), 'trusted.overlay.opaque');
      if (opaque?.toString() === 'y') return 'opaque flag erroneously copied up, consider update to kernel 4.8 or later to fix';
      try {
        fs.renameSync(path.join(merged, 'd1'), path.join(merged, 'd2'));
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'EXDEV') return undefined; // no redirect_dir: fine
        return `failed to rename dir in merged directory: ${why(e)}`;
      }
      const redirect = sys.lgetxattr(path.join(td, 'l3', 'd2'), 'trusted.overlay.redirect');
      if (redirect?.toString() === 'd1') return 'kernel has CONFIG_OVERLAY_FS_REDIRECT_DIR enabled';
      return undefined;
    } finally {
      tryUnmount(merged);
    }
  } catch (e) {
    return why(e);
  } finally {
    if (td) fs.rmSync(td, { recursive: true, force: true });
  }
}

/**
 * Whether overlay accepts one `lowerdir+` parameter per layer through fsopen/fsconfig (Linux
 * 6.8+): a real mount of two lowers in a scratch dir under `dir`. With it, stacks up to the
 * kernel's 500 lowers mount without the one-page limit on mount data.
 */
export function checkLowerdirPlus(dir: string): boolean {
  let td: string | undefined;
  try {
    td = fs.mkdtempSync(path.join(dir, 'check-lowerdir-plus'));
    for (const d of ['lower1', 'lower2', 'merged']) fs.mkdirSync(path.join(td, d));
    const merged = path.join(td, 'merged');
    sys.mountFs('overlay', merged, [
      ['lowerdir+', `${td}/lower2`],
      ['lowerdir+', `${td}/lower1`],
    ]);
    tryUnmount(merged, sys.constants.MNT_DETACH);
    return true;
  } catch {
    return false;
  } finally {
    if (td) fs.rmSync(td, { recursive: true, force: true });
  }
}

/** `index=off,` when `/sys/module/overlay/parameters/index` exists (moby's indexOff), else ''. */
export function indexOffOption(): string {
  try {
    fs.statSync('/sys/module/overlay/parameters/index');
    return 'index=off,';
  } catch {
    return '';
  }
}

/**
 * Whether this process runs in a user namespace (moby's `userns.RunningInUserNS`): anything but
 * the full identity map `0 0 4294967295` in /proc/self/uid_map.
 */
export function runningInUserNS(): boolean {
  try {
    const parts = fs.readFileSync('/proc/self/uid_map', 'utf8').trim().split(/\s+/);
    return !(parts.length === 3 && parts[0] === '0' && parts[1] === '0' && parts[2] === '4294967295');
  } catch {
    return false;
  }
}

/**
 * moby's `fsutils.SupportsDType`: whether the filesystem holding `dir` fills in d_type in its
 * directory entries. Reads the raw dirents of `dir`, first creating a dummy file when `dir` has
 * no entries of its own (so there is something to look at), and removes it again.
 */
export function checkDType(dir: string): boolean {
  let dummy: string | undefined;
  if (fs.readdirSync(dir).length === 0) {
    dummy = path.join(dir, `fsutils-dummy${process.pid}`);
    fs.writeFileSync(dummy, '');
  }
  try {
    const { entries, unknown } = sys.direntTypes(dir);
    return entries > 0 && unknown === 0;
  } finally {
    if (dummy) fs.rmSync(dummy, { force: true });
  }
}

/** moby's `isEmptyDir` test of Init: home counts as initialised when it exists and is not empty. */
export function isInitialized(home: string): boolean {
  try {
    return fs.readdirSync(home).length > 0;
  } catch {
    return false;
  }
}

/** moby's `overlayutils.ErrDTypeNotSupported`, word for word. */
export function errDTypeNotSupported(driver: string, backingFs: string): NotSupportedError {
  let msg = `${driver}: the backing ${backingFs} filesystem is formatted without d_type support, which leads to incorrect behavior.`;
  if (backingFs === 'xfs') msg += ' Reformat the filesystem with ftype=1 to enable d_type support.';
  if (backingFs === 'extfs') msg += ' Reformat the filesystem (or use tune2fs) with -O filetype flag to enable d_type support.';
  msg += ' Backing filesystems without d_type support are not supported.';
  return new NotSupportedError('DRIVER_NO_DTYPE', msg);
}
