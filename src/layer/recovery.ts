/**
 * Finishing what crashed processes left (moby `Cleanup`, and more): run at every writable open and
 * by `cleanup()`, always under the exclusive data-root lock.
 *
 * - A `sha256/<hex>-<rand>-removing` dir is a delete that stopped: remove the driver data its
 *   `cache-id` names (moby's `getOrphan`), then the dir. One without `cache-id` had already got
 *   that far; only the dir goes.
 * - A `tmp/write-set-*` is an operation that stopped before its rename: a register (its
 *   `cache-id`), an RW-layer creation (`mount-id`, `init-id`) or an RW-layer deletion (the mount
 *   record moved there). The driver layers it names are removed — unless a layer or mount on disk
 *   names the same ID, loadable or not: recovery never removes data something still points to.
 *   Then the write-set goes. moby never sweeps `tmp/`, so its interrupted registers leak forever.
 * - A scratch dir of the driver's start-up probes (`check-overlayfs-support*`,
 *   `opaque-bug-check*`, `check-lowerdir-plus*` in the driver home: each is a test mount, made and
 *   removed by every open) that a kill left, maybe still mounted: unmounted and removed, and
 *   listed with `driverIds`. Every open probes under the data-root lock, so under the exclusive
 *   one none of them is in use; moby leaves these forever too.
 */
import fs from 'node:fs';
import path from 'node:path';
import * as sys from '../sys/index.js';
import type { RecoveryReport } from './types.js';
import type { StoreState } from './state.js';

/** What the drivers' start-up probes name their scratch dirs (mkdtemp: the prefix and 6 characters). */
const PROBE_DIR = /^(check-overlayfs-support|opaque-bug-check|check-lowerdir-plus|check-fuse-overlay-support)[A-Za-z0-9]{6}$/;

/** Removes probe scratch dirs a killed open left in the driver home (unmounting what they hold first). */
function sweepProbeDirs(s: StoreState, report: RecoveryReport): void {
  const home = s.driver.home;
  let names: string[];
  try {
    names = fs.readdirSync(home);
  } catch {
    return;
  }
  for (const n of names.filter((x) => PROBE_DIR.test(x))) {
    const dir = path.join(home, n);
    try {
      sys.umount2(path.join(dir, 'merged'), sys.constants.MNT_DETACH);
    } catch {
      /* not mounted: the kill came before or after the test mount */
    }
    fs.rmSync(dir, { recursive: true, force: true });
    report.driverIds.push(n);
  }
}

export async function recover(s: StoreState): Promise<RecoveryReport> {
  const report: RecoveryReport = { removedLayers: [], writeSets: [], driverIds: [] };
  sweepProbeDirs(s, report);
  const orphans = s.db.orphans();
  orphans.orphans = orphans.orphans.filter((o) => !s.activeRemovals.has(o.name));
  orphans.finished = orphans.finished.filter((o) => !s.activeRemovals.has(o.name));
  for (const o of orphans.orphans) {
    await s.driver.remove(o.cacheId);
    s.db.finishRemove(o);
    report.removedLayers.push(o.chainId);
  }
  for (const f of orphans.finished) {
    s.db.finishRemove(f);
    report.removedLayers.push(f.chainId);
  }
  const intents = s.db.intents().filter((i) => !s.activeWriteSets.has(i.name));
  if (intents.length === 0) return report;
  const live = s.db.referencedDriverIds();
  for (const i of intents) {
    for (const id of i.driverIds) {
      if (live.has(id)) continue;
      const existed = await s.driver.exists(id);
      await s.driver.remove(id); // also when not there: a half-made layer may have left parts
      if (existed) report.driverIds.push(id);
    }
    s.db.removeWriteSet(i.name);
    report.writeSets.push(i.name);
  }
  return report;
}
