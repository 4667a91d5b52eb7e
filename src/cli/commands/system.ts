/**
 * Whole-data-root verbs:
 *
 *   strata df      TYPE, TOTAL, ACTIVE, SIZE, RECLAIMABLE — as `docker system df`
 *   strata fsck    re-verifies every layer against its DiffID, every config against its ID and
 *                  every container against its layer; names what is damaged and exits 1 if anything is
 *   strata fsck --repair
 *                  the same, then removes what is damaged and everything that depends on it (see
 *                  engine/repair.ts), printing each removal; exits 1 only if damage was left alone
 *
 * df and fsck only read (the shared lock: fine on a root a running dockerd owns); `--repair`
 * writes, under the exclusive lock, and is refused there.
 */
import type { Command } from 'commander';
import { chainIds } from '../../digest/index.js';
import type { Engine } from '../../engine/engine.js';
import { fsck, type FsckReport } from '../../engine/fsck.js';
import { executeRepair, planRepair, type RepairAction } from '../../engine/repair.js';
import { diffIdsOf } from '../../image/config.js';
import { emit, table } from '../output.js';
import { progressBar } from '../progress.js';
import { ExitCode, humanSize, interruptible, shortId } from '../store.js';
import { withEngineFor, type Globals } from '../engine.js';

interface DfRow {
  type: 'Images' | 'Containers' | 'Layers';
  total: number;
  active: number;
  size: number;
  reclaimable: number;
}

async function diskUsage(engine: Engine): Promise<DfRow[]> {
  const images = engine.images.images();
  const used = new Set(engine.containers.list().map((c) => c.image));
  const layerSize = new Map(engine.layers.layers().map((l) => [l.chainId as string, l.size]));
  const chainsOf = (id: string) => chainIds(diffIdsOf(engine.images.get(id as never).config));
  const all = new Set(images.flatMap((i) => chainsOf(i.id)));
  const active = new Set(images.filter((i) => used.has(i.id)).flatMap((i) => chainsOf(i.id)));
  const sum = (s: Set<string>) => [...s].reduce((n, c) => n + (layerSize.get(c) ?? 0), 0);
  let containerSize = 0;
  for (const c of engine.containers.list()) {
    try {
      containerSize += await engine.layers.getRWLayer(c.id).size();
    } catch {
      /* a container without its layer: fsck reports it */
    }
  }
  const allLayers = new Set(layerSize.keys());
  return [
    { type: 'Images', total: images.length, active: images.filter((i) => used.has(i.id)).length, size: sum(all), reclaimable: sum(all) - sum(active) },
    { type: 'Containers', total: engine.containers.list().length, active: 0, size: containerSize, reclaimable: containerSize },
    { type: 'Layers', total: allLayers.size, active: all.size, size: sum(allLayers), reclaimable: sum(allLayers) - sum(all) },
  ];
}

function renderDf(rows: DfRow[]): string {
  const pct = (r: DfRow) => (r.size > 0 ? ` (${Math.round((r.reclaimable * 100) / r.size)}%)` : '');
  return table(
    ['TYPE', 'TOTAL', 'ACTIVE', 'SIZE', 'RECLAIMABLE'],
    rows.map((r) => [r.type, String(r.total), String(r.active), humanSize(r.size), `${humanSize(r.reclaimable)}${pct(r)}`]),
  );
}

function renderFsck(r: FsckReport): string {
  const lines = r.damaged.map((d) => {
    const plural = (n: number) => (n > 1 ? 's' : '');
    const needs = [
      d.images?.length ? `image${plural(d.images.length)} ${d.images.map(shortId).join(', ')}` : '',
      d.containers?.length ? `container${plural(d.containers.length)} ${d.containers.join(', ')}` : '',
    ].filter(Boolean);
    return `damaged ${d.kind} ${d.id}: ${d.reason}${needs.length ? ` (needed by ${needs.join(', ')})` : ''}\n`;
  });
  const summary = `checked ${r.layersChecked} layers (${humanSize(r.bytesVerified)}), ${r.imagesChecked} images, ${r.containersChecked} containers: ${r.damaged.length ? `${r.damaged.length} damaged` : 'all good'}\n`;
  return lines.join('') + summary;
}

export function register(program: Command, globals: () => Globals): void {
  program
    .command('df')
    .description('show the space images, containers and layers use')
    .action(() => withEngineFor(globals(), true, async (engine) => emit(globals(), await diskUsage(engine), renderDf)));

  program
    .command('fsck')
    .description('re-verify every layer, image and container; name the damaged ones (exit 1 if any)')
    .option('-q, --quiet', 'no progress bar')
    .option('--repair', 'remove the damaged entries and everything that depends on them')
    .action((opts: { quiet?: boolean; repair?: boolean }) =>
      withEngineFor(globals(), !opts.repair, (engine) =>
        interruptible(async (signal) => {
          const bar = progressBar('Verifying layers', engine.layers.layers().length, 'items', opts.quiet || globals().json);
          let report: FsckReport;
          try {
            report = await fsck(engine, { signal, onProgress: (d, t) => bar.update(d, t) });
          } finally {
            bar.finish();
          }
          if (!opts.repair) {
            emit(globals(), report, renderFsck);
            if (report.damaged.length > 0) throw new ExitCode(1);
            return;
          }
          if (!globals().json) process.stdout.write(renderFsck(report));
          const plan = await planRepair(engine, report);
          // Past this point a signal no longer stops the work: each removal is whole, and stopping
          // between two would only leave the rest for the next run.
          const removed = await executeRepair(engine, plan, (a) => {
            if (!globals().json) process.stdout.write(renderAction(a));
          });
          if (globals().json) emit(globals(), { ...report, removed, leftAlone: plan.leftAlone }, () => '');
          else process.stdout.write(renderRepairSummary(removed, plan.leftAlone.length));
          if (plan.leftAlone.length > 0) throw new ExitCode(1);
        }),
      ),
    );
}

function renderAction(a: RepairAction): string {
  switch (a.kind) {
    case 'mount':
      return `removed read-write layer ${a.id}: ${a.reason}\n`;
    case 'container':
      return `removed container ${a.name} (${shortId(a.id)}): ${a.reason}\n`;
    case 'reference':
      return `untagged ${a.id}: ${a.reason}\n`;
    case 'parent':
      return `cleared the parent of image ${a.id}: ${a.reason}\n`;
    case 'image':
      return `removed image ${a.id}: ${a.reason}\n`;
    case 'layer':
      return `removed layer ${a.id}: ${a.reason}\n`;
  }
}

function renderRepairSummary(removed: RepairAction[], leftAlone: number): string {
  const left = leftAlone ? `; ${leftAlone} damaged entr${leftAlone > 1 ? 'ies' : 'y'} left alone (not a layer or read-write layer: remove by hand)` : '';
  return `${removed.length ? `repaired: ${removed.length} removal${removed.length > 1 ? 's' : ''}` : 'nothing to repair'}${left}\n`;
}
