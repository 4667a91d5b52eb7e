/**
 * The sides a comparison can run: the kernel's overlay (the oracle), a FUSE overlay started by a
 * command (fuse-overlayfs, strata-overlay), and strata's path API (api-executor.ts).
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { MNT_DETACH, isMountPoint, mountFs, umount2 } from '../../../src/sys/index.js';
import type { KnownDifference } from './compare.js';
import type { Executor, RedirectConfig, SideSpec } from './executor.js';
import type { LayerDirs } from './fixture.js';
import { FsExecutor } from './fs-executor.js';

function unmountPath(mnt: string): void {
  try {
    umount2(mnt);
  } catch {
    umount2(mnt, MNT_DETACH);
  }
}

/**
 * The kernel overlay through the new mount API: one `lowerdir+` per layer, options explicit.
 * `forceConfig` mounts with that redirect_dir whatever the comparison asks (to show the harness a
 * real behavioural difference).
 */
export function kernelSide(name = 'kernel', forceConfig?: RedirectConfig): SideSpec {
  return {
    name,
    async open(dirs: LayerDirs, asked: RedirectConfig): Promise<Executor> {
      const config = forceConfig ?? asked;
      mountFs('overlay', dirs.mnt, [
        ...dirs.lowers.map((l) => ['lowerdir+', l] as const),
        ['upperdir', dirs.upper],
        ['workdir', dirs.work],
        ['redirect_dir', config],
        ['index', 'off'],
        ['metacopy', 'off'],
        ['xino', 'off'],
      ]);
      return new FsExecutor(name, dirs, () => unmountPath(dirs.mnt));
    },
  };
}

function run(cmd: string, args: string[], what: string): void {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 30_000 });
  if (r.error) throw new Error(`${what}: ${cmd} could not run: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`${what}: ${cmd} ${args.join(' ')} exited ${r.status}: ${r.stderr.trim()}`);
}

/**
 * A FUSE overlay started by a command that takes fuse-overlayfs's arguments
 * (`-o lowerdir=A:B,upperdir=U,workdir=W MNT`) and returns once the mount is live; unmounted with
 * `fusermount3 -u`.
 */
export function fuseSide(name: string, argv: readonly string[], extraOptions: (config: RedirectConfig) => string[] = () => []): SideSpec {
  return {
    name,
    async open(dirs: LayerDirs, config: RedirectConfig): Promise<Executor> {
      const opts = [`lowerdir=${dirs.lowers.join(':')}`, `upperdir=${dirs.upper}`, `workdir=${dirs.work}`, ...extraOptions(config)];
      try {
        run(argv[0]!, [...argv.slice(1), '-o', opts.join(','), dirs.mnt], `mounting ${name}`);
      } catch (e) {
        // failed or timed out after the mount was made: nobody would unmount it
        if (isMountPoint(dirs.mnt)) umount2(dirs.mnt, MNT_DETACH);
        throw e;
      }
      if (!isMountPoint(dirs.mnt)) throw new Error(`mounting ${name}: ${dirs.mnt} is not a mount point after the command returned`);
      return new FsExecutor(name, dirs, () => {
        try {
          run('fusermount3', ['-u', dirs.mnt], `unmounting ${name}`);
        } catch (e) {
          // A crashed or wedged server: detach the mount so the fixture can be removed, then report.
          if (isMountPoint(dirs.mnt)) umount2(dirs.mnt, MNT_DETACH);
          throw e;
        }
      });
    },
  };
}

/** fuse-overlayfs (Debian's C 1.10), as in the spec's §3 comparisons. */
export const fuseOverlayfsSide: SideSpec = fuseSide('fuse-overlayfs', ['fuse-overlayfs']);

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
/** strata's FUSE server entry point (run from source through tsx). */
export const STRATA_OVERLAY_CLI = path.join(REPO, 'src/ovl/fuse/cli.ts');

/**
 * strata-overlay from source with its default caching: the kernel keeps names, attributes and
 * listings until the server invalidates them, so a missed invalidation shows up as a divergence.
 */
export const strataFuseSide: SideSpec = fuseSide('strata-fuse', [process.execPath, '--import', 'tsx', STRATA_OVERLAY_CLI], (config) => [`redirect_dir=${config}`]);

/** strata-overlay with timeout=0: the kernel asks the server for everything, every time. */
export const strataFuseUncachedSide: SideSpec = fuseSide(
  'strata-fuse-uncached',
  [process.execPath, '--import', 'tsx', STRATA_OVERLAY_CLI],
  (config) => ['timeout=0', `redirect_dir=${config}`],
);

/** Through any FUSE mount statfs reports FUSE's magic, not overlayfs's: not a behaviour of the overlay itself. */
export const FUSE_STATFS_MAGIC: KnownDifference = {
  why: 'a FUSE mount reports the FUSE magic (0x65735546) to statfs; the kernel overlay reports 0x794c7630',
  matches: (i) => i.area === 'outcome' && i.ref === 'ok type=overlay' && i.cand === 'ok type=fuse',
};

/**
 * The kernel's readdir clears a directory's `trusted.overlay.impure` when nothing in it needs its
 * inode number from an origin. Through a caching FUSE mount, listings the kernel serves from its
 * own cache never reach the server, so an impure mark can stay where the kernel overlay's would be
 * gone: an upper-dir difference only (the mark is a hint; a stale one costs a lookup, never a wrong
 * answer).
 */
export const FUSE_CACHED_LISTING_IMPURE: KnownDifference = {
  why: "listings served from the FUSE kernel cache never reach the server, so readdir's clearing of trusted.overlay.impure happens less often",
  matches: (i) => i.area === 'upper' && i.field === 'xattrs' && i.cand !== undefined && withoutImpure(i.cand) === (i.ref ?? ''),
};

function withoutImpure(xattrs: string): string {
  return xattrs
    .split(' ')
    .filter((x) => x !== 'trusted.overlay.impure(present)')
    .join(' ');
}

