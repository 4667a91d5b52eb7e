/**
 * fuse-overlay — Docker's overlay2 layout, mounted by strata's own OverlayFS through FUSE: the
 * driver for machines where the kernel's overlay cannot be mounted (priority: after overlay2,
 * before vfs). Layers live in `<root>/fuse-overlay/` exactly as overlay2 keeps them in
 * `<root>/overlay2/` (`diff/`, `link`, `l/` symlinks, `lower`, `work/`, `committed`), and the
 * upper dirs strata-overlay writes are in the kernel's format (chardev 0:0 whiteouts,
 * `trusted.overlay.opaque`), so renaming the dir to `overlay2/` hands the layers to the kernel.
 *
 *   const driver = await openFuseOverlay('/var/lib/strata/fuse-overlay', []);
 *   await driver.create('base', '');
 *   await driver.applyDiff('base', '', entries);     // unpacked into base/diff, as overlay2
 *   await driver.createReadWrite('ctr', 'base');
 *   const rootfs = await driver.get('ctr');          // strata-overlay -o lowerdir=…/l/X,upperdir=…/ctr/diff,workdir=…/ctr/work …/ctr/merged
 *   await driver.put('ctr');                         // umount2: the daemon exits
 *
 * Diffs never mount: like overlay2's native diff, a layer's changes are its `diff/` dir
 * (strata-overlay creates no redirects unless asked to, so a tar of `diff/` is the whole story).
 * Stacks: up to 500 layers (strata-overlay's limit, as the kernel's), no option-page limit.
 */
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { StrataError } from '../../errors/index.js';
import * as sys from '../../sys/index.js';
import { errNotSupported, type DriverInit } from '../driver.js';
import { fsNameOf } from '../fsnames.js';
import { checkDType, errDTypeNotSupported, isInitialized } from '../overlay2/detect.js';
import { Overlay2Driver } from '../overlay2/driver.js';
import { KERNEL_MAX_STACK, LINK_DIR } from '../overlay2/layout.js';
import { fuseMounter, strataOverlayCommand } from './mount.js';

export { fuseMounter, fuseMountOptions, isStrataOverlayMount, strataOverlayCommand, FUSE_OVERLAY_FSTYPE } from './mount.js';

/**
 * Why FUSE cannot serve here, or undefined: the kernel must list `fuse`, `/dev/fuse` must open,
 * and — on a home that holds no layers yet — a real strata-overlay mount of two lowers must come
 * up in a scratch dir (removed after).
 */
export function checkFuseOverlaySupport(testDir: string, home: string): string | undefined {
  if (!/\tfuse$/m.test(fs.readFileSync('/proc/filesystems', 'utf8'))) return "the kernel has no 'fuse' filesystem";
  try {
    fs.closeSync(fs.openSync('/dev/fuse', 'r+'));
  } catch (e) {
    return `/dev/fuse cannot be opened (${(e as NodeJS.ErrnoException).code ?? e})`;
  }
  if (isInitialized(home)) return undefined;
  let td: string | undefined;
  try {
    td = fs.mkdtempSync(path.join(testDir, 'check-fuse-overlay-support'));
    for (const d of ['lower1', 'lower2', 'merged']) fs.mkdirSync(path.join(td, d));
    const { file, args } = strataOverlayCommand();
    const res = spawnSync(file, [...args, '-o', `lowerdir=${td}/lower2:${td}/lower1`, `${td}/merged`], { encoding: 'utf8' });
    if (res.error || res.status !== 0) return `strata-overlay could not mount: ${(res.error?.message ?? res.stderr).trim()}`;
    sys.umount2(`${td}/merged`, sys.constants.MNT_DETACH);
    return undefined;
  } catch (e) {
    return e instanceof Error ? e.message : String(e);
  } finally {
    if (td) fs.rmSync(td, { recursive: true, force: true });
  }
}

/**
 * Starts fuse-overlay on `home`: no options are known (any is `fuse-overlay: unknown option`);
 * FUSE must work (else `driver not supported`, so selection moves on to vfs); the backing
 * filesystem needs d_type as for overlay2; creates home 0710 and `l/` 0700.
 */
export async function openFuseOverlay(home: string, options: string[]): Promise<Overlay2Driver> {
  for (const o of options) {
    throw new StrataError('DRIVER_OPTION_UNKNOWN', `fuse-overlay: unknown option ${o.split('=')[0]!.toLowerCase()}`);
  }
  const testDir = fs.existsSync(home) ? home : path.dirname(home);
  const unsupported = checkFuseOverlaySupport(testDir, home);
  if (unsupported !== undefined) throw errNotSupported(unsupported);
  const backingFs = fsNameOf(fs.statfsSync(testDir).type);
  const supportsDType = checkDType(testDir);
  if (!supportsDType && !isInitialized(home)) throw errDTypeNotSupported('fuse-overlay', backingFs);

  fs.mkdirSync(home, { recursive: true, mode: 0o710 });
  fs.chmodSync(home, 0o710);
  fs.mkdirSync(path.join(home, LINK_DIR), { recursive: true, mode: 0o700 });
  fs.chmodSync(path.join(home, LINK_DIR), 0o700);
  return new Overlay2Driver(
    {
      home,
      backingFs,
      supportsDType,
      naiveDiffReason: undefined,
      indexOff: '',
      userxattr: '',
      lowerdirPlus: true,
      maxDepth: KERNEL_MAX_STACK - 1,
      quotaSize: 0,
      quota: undefined,
    },
    fuseMounter,
  );
}

/** The registry's entry point. */
export const initFuseOverlay: DriverInit = (home, options) => openFuseOverlay(home, options);
