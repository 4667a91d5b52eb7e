/**
 * xfs project quotas for `overlay2.size` (moby `quota/projectquota.go`).
 *
 * moby's `NewControl(home)` mknods `<home>/backingFsBlockDev` (a block device with home's st_dev)
 * and asks quotactl(Q_XGETQSTAT_PRJQUOTA) whether project quota is accounted *and* enforced;
 * then it sets a 0 limit on the first free project ID as a capability test. strata's sys layer
 * has no quotactl, so the same questions are asked differently:
 *   1. the mknod of `backingFsBlockDev` is done exactly as moby does it;
 *   2. "accounted and enforced" is read from the mount's super options: xfs shows `prjquota`
 *      (or `pquota`) when project quota is enforced, `pqnoenforce` when only accounted, and
 *      `noquota` when off; anything but enforcement is moby's `ErrQuotaNotSupported`;
 *   3. the real attempt is `xfs_quota -x -c 'limit -p bsoft=0 bhard=0 <id>' <mountpoint>` (xfsprogs
 *      makes the quotactl call), as moby's 0-limit test.
 * Setting a quota (`SetQuota`) likewise uses `xfs_quota` (`project -s -p <dir> <id>` + `limit -p`).
 * On this project's test machine the kernel has no quota support at all (`mount -o prjquota`
 * fails with EINVAL, plain mounts show `noquota`), so only the refusal paths are exercised.
 */
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { StrataError } from '../../errors/index.js';
import * as sys from '../../sys/index.js';
import { runningInUserNS } from './detect.js';

/** moby's `quota.ErrQuotaNotSupported`. */
export const QUOTA_NOT_SUPPORTED = 'Filesystem does not support, or has not enabled quotas';

export interface QuotaControl {
  /** Gives `dir` (a layer dir) the next project ID and a block hard/soft limit of `size` bytes. */
  setQuota(dir: string, size: number): void;
}

function xfsQuota(mountPoint: string, ...cmds: string[]): void {
  const args = ['-x'];
  for (const c of cmds) args.push('-c', c);
  args.push(mountPoint);
  const r = spawnSync('xfs_quota', args, { encoding: 'utf8' });
  if (r.error) throw new StrataError('QUOTA_FAILED', `xfs_quota: ${r.error.message}`);
  if (r.status !== 0 || r.stderr.trim()) throw new StrataError('QUOTA_FAILED', `xfs_quota ${cmds.join('; ')}: ${(r.stderr || r.stdout).trim()}`);
}

/**
 * moby's `quota.NewControl(home)`: a QuotaControl, or throws a StrataError whose message is the
 * reason (the caller wraps it in Docker's `Storage option overlay2.size not supported…`).
 */
export function newQuotaControl(home: string): QuotaControl {
  if (runningInUserNS()) throw new StrataError('QUOTA_NOT_SUPPORTED', QUOTA_NOT_SUPPORTED);
  const st = fs.statSync(home);
  const dev = path.join(home, 'backingFsBlockDev');
  fs.rmSync(dev, { force: true });
  sys.mknod(dev, sys.constants.S_IFBLK | 0o600, sys.major(st.dev), sys.minor(st.dev));
  const m = sys.mountOf(home);
  const opts = (m?.superOptions ?? '').split(',');
  const enforced = opts.includes('prjquota') || opts.includes('pquota') || opts.includes('pqenforce');
  if (!m || !enforced) throw new StrataError('QUOTA_NOT_SUPPORTED', QUOTA_NOT_SUPPORTED);
  const mountPoint = m.mountPoint;
  const projectOf = (dir: string): number => {
    const r = spawnSync('lsattr', ['-p', '-d', dir], { encoding: 'utf8' });
    const n = parseInt(r.stdout.trim().split(/\s+/)[0] ?? '', 10);
    return Number.isFinite(n) ? n : 0;
  };
  const base = projectOf(home);
  let next = base + 1;
  xfsQuota(mountPoint, `limit -p bsoft=0 bhard=0 ${next}`);
  // The next free ID: above every project ID already used by home/* (and home/*/* under dirs
  // that carry none or the base one), as moby's findNextProjectID.
  for (const name of fs.readdirSync(home)) {
    const p = path.join(home, name);
    if (!fs.lstatSync(p).isDirectory()) continue;
    const id = projectOf(p);
    if (id >= next) next = id + 1;
  }
  return {
    setQuota(dir: string, size: number): void {
      const id = next++;
      xfsQuota(mountPoint, `project -s -p ${dir} ${id}`, `limit -p bsoft=${Math.floor(size / 512) * 512} bhard=${Math.floor(size / 512) * 512} ${id}`);
    },
  };
}
