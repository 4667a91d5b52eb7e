/**
 * Whole-data-root verbs:
 *
 *   strata df      TYPE, TOTAL, ACTIVE, SIZE, RECLAIMABLE — as `docker system df`
 *   strata fsck    re-verifies every layer against its DiffID, every config against its ID and
 *                  every container against its layer; names what is damaged and exits 1 if anything is
 */
import type { Command } from 'commander';
import { chainIds } from '../../digest/index.js';
import type { Engine } from '../../engine/engine.js';
import { fsck, type FsckReport } from '../../engine/fsck.js';
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
    const images = d.images?.length ? ` (needed by image${d.images.length > 1 ? 's' : ''} ${d.images.map(shortId).join(', ')})` : '';
    return `damaged ${d.kind} ${d.id}: ${d.reason}${images}\n`;
  });
  const summary = `checked ${r.layersChecked} layers (${humanSize(r.bytesVerified)}), ${r.imagesChecked} images, ${r.containersChecked} containers: ${r.damaged.length ? `${r.damaged.length} damaged` : 'all good'}\n`;
  return lines.join('') + summary;
}

export function register(program: Command, globals: () => Globals): void {
  program
    .command('df')
    .description('show the space images, containers and layers use')
    .action(() => withEngineFor(globals(), false, async (engine) => emit(globals(), await diskUsage(engine), renderDf)));

  program
    .command('fsck')
    .description('re-verify every layer, image and container; name the damaged ones (exit 1 if any)')
    .option('-q, --quiet', 'no progress bar')
    .action((opts: { quiet?: boolean }) =>
      withEngineFor(globals(), true, (engine) =>
        interruptible(async (signal) => {
          const bar = progressBar('Verifying layers', engine.layers.layers().length, 'items', opts.quiet || globals().json);
          let report: FsckReport;
          try {
            report = await fsck(engine, { signal, onProgress: (d, t) => bar.update(d, t) });
          } finally {
            bar.finish();
          }
          emit(globals(), report, renderFsck);
          if (report.damaged.length > 0) throw new ExitCode(1);
        }),
      ),
    );
}
