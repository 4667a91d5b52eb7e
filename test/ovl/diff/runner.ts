/**
 * The differential loop: build the same fixture twice, open one side on each copy, then for every
 * operation run it on both, compare the outcomes and full observations, and stop at the first
 * divergence. Operations come from the seeded generator (driven by the reference side's
 * observations) or from a fixed script (a replay or a shrinking attempt).
 */
import path from 'node:path';
import { removeWithMounts } from '../../sys/helpers.js';
import { asciiJson, showByteString } from './bytes.js';
import { diffObservations, diffOutcomes, dropKnown, renderItems, type DiffItem, type KnownDifference } from './compare.js';
import type { Executor, RedirectConfig, SideSpec } from './executor.js';
import { buildFixture, layerPaths, withoutEntry, type FixtureDesc, type FixtureEntry, type LayerDirs } from './fixture.js';
import { OpGenerator, showOp, type Op } from './ops.js';

export interface ComparisonSpec {
  ref: SideSpec;
  cand: SideSpec;
  config: RedirectConfig;
  fixture: FixtureDesc;
  /** A fixed script, or `count` operations generated from `seed`. */
  ops: Op[] | { count: number; seed: number };
  /** A directory to build both fixtures in (a fresh sub-directory is made and removed). */
  workDir: string;
  known?: readonly KnownDifference[];
}

export interface Divergence {
  refName: string;
  candName: string;
  config: RedirectConfig;
  fixture: FixtureDesc;
  /** Index of the operation after which the sides differed; -1 = right after mounting. */
  opIndex: number;
  /** Every operation run, the divergent one last. */
  ops: Op[];
  items: DiffItem[];
}

export interface ComparisonResult {
  opsRun: number;
  divergence: Divergence | null;
}

let runCounter = 0;

export async function runComparison(spec: ComparisonSpec): Promise<ComparisonResult> {
  // A comparison's awaits never reach the event loop: let it turn once per comparison, so that a
  // long fuzz run or shrink still runs its timers and signal listeners (ovl-fuzz's SIGINT/SIGTERM).
  await new Promise((resolve) => setImmediate(resolve));
  const base = path.join(spec.workDir, `run-${process.pid}-${runCounter++}`);
  const refDirs = buildFixture(spec.fixture, path.join(base, 'ref'));
  const candDirs = buildFixture(spec.fixture, path.join(base, 'cand'));
  const opened: Executor[] = [];
  let result: ComparisonResult | undefined;
  try {
    result = await compareOn(spec, refDirs, candDirs, opened);
    return result;
  } finally {
    const failures: unknown[] = [];
    for (const ex of opened.reverse()) await ex.close().catch((e: unknown) => failures.push(e));
    // a mount whose close failed is detached first, or the remove would go through it
    removeWithMounts(base);
    // A side that cannot be closed cleanly (a FUSE server that died) is a failure of its own;
    // a divergence found before it stays the result (it usually explains the crash).
    if (failures.length) {
      if (result?.divergence) console.error(`closing a side after a divergence failed: ${String(failures[0])}`);
      else throw failures[0];
    }
  }
}

/** Opens both sides (recorded in `opened` for closing) and runs the comparison. */
async function compareOn(spec: ComparisonSpec, refDirs: LayerDirs, candDirs: LayerDirs, opened: Executor[]): Promise<ComparisonResult> {
  const ref = await spec.ref.open(refDirs, spec.config);
  opened.push(ref);
  const cand = await spec.cand.open(candDirs, spec.config);
  opened.push(cand);
  const known = spec.known ?? [];
  const diverged = (opIndex: number, ops: Op[], items: DiffItem[]): ComparisonResult => ({
    opsRun: ops.length,
    divergence: { refName: ref.name, candName: cand.name, config: spec.config, fixture: spec.fixture, opIndex, ops, items },
  });

  let obsRef = await ref.observe();
  let items = dropKnown(diffObservations(obsRef, await cand.observe()), known);
  if (items.length) return diverged(-1, [], items);

  const script = Array.isArray(spec.ops) ? spec.ops : null;
  const count = script ? script.length : (spec.ops as { count: number }).count;
  const gen = script ? null : new OpGenerator((spec.ops as { seed: number }).seed, layerPaths(spec.fixture));
  const done: Op[] = [];
  for (let i = 0; i < count; i++) {
    const op = script ? script[i]! : gen!.next(obsRef.merged);
    done.push(op);
    const outRef = await ref.run(op);
    const outCand = await cand.run(op);
    gen?.observe(op, outRef);
    obsRef = await ref.observe();
    const obsCand = await cand.observe();
    items = dropKnown([...diffOutcomes(outRef, outCand), ...diffObservations(obsRef, obsCand)], known);
    if (items.length) return diverged(i, done, items);
  }
  return { opsRun: count, divergence: null };
}

/** The fixture as one line per entry, bottom layer last (as `lowerdir=`); byte strings by showByteString. */
export function showFixture(desc: FixtureDesc): string {
  const line = (layer: string, e: FixtureEntry) => {
    const bits = [`${layer} ${e.kind} ${showByteString(e.path)}`];
    if (e.kind !== 'hardlink') bits.push(`mode=${e.mode.toString(8)} owner=${e.uid}:${e.gid}`);
    if (e.size !== undefined) bits.push(`size=${e.size}`);
    if (e.target !== undefined) bits.push(`-> ${showByteString(e.target)}`);
    for (const [k, v] of e.xattrs ?? []) bits.push(`${k}=${showByteString(v)}`);
    return bits.join(' ');
  };
  const lines = [`seed ${desc.seed}: ${desc.lowers.length} lower layer(s), ${desc.upper.length ? 'pre-populated' : 'empty'} upper`];
  desc.upper.forEach((e) => lines.push('  ' + line('upper', e)));
  desc.lowers.forEach((l, i) => l.forEach((e) => lines.push('  ' + line(`lower${i}`, e))));
  return lines.join('\n');
}

/** Everything needed to see and reproduce a divergence (names shown by showByteString; the replay line is ASCII JSON). */
export function renderDivergence(d: Divergence): string {
  const where = d.opIndex < 0 ? 'right after mounting' : `after op #${d.opIndex}: ${showOp(d.ops[d.opIndex]!)}`;
  return [
    `DIVERGENCE ${d.refName} vs ${d.candName}, redirect_dir=${d.config}, fixture seed ${d.fixture.seed}, ${where}`,
    renderItems(d.items, d.refName, d.candName),
    'fixture:',
    showFixture(d.fixture),
    `ops (${d.ops.length}):`,
    ...d.ops.map((op, i) => `  #${i} ${showOp(op)}`),
    'replay: save the JSON line below as FILE, then: node --import tsx scripts/ovl-fuzz.ts --target api|fuse|... --replay FILE',
    asciiJson({ config: d.config, fixture: d.fixture, ops: d.ops }),
  ].join('\n');
}

/**
 * Makes a divergence smaller while it stays a divergence of the same kind (area and field of the
 * first difference): drops chunks of operations, then fixture entries and whole lower layers.
 */
function sizeOf(d: Divergence): number {
  return d.ops.length + d.fixture.upper.length + d.fixture.lowers.reduce((n, l) => n + l.length + 1, 0);
}

export async function shrinkDivergence(spec: Omit<ComparisonSpec, 'ops' | 'fixture' | 'config'>, d: Divergence, budgetMs = 60_000): Promise<Divergence> {
  const deadline = Date.now() + budgetMs;
  const kind = (x: Divergence) => `${x.items[0]?.area}/${x.items[0]?.field}`;
  const want = kind(d);
  let best = d;
  const attempt = async (fixture: FixtureDesc, ops: Op[]): Promise<boolean> => {
    if (Date.now() > deadline) return false;
    const r = await runComparison({ ...spec, config: d.config, fixture, ops });
    if (r.divergence && kind(r.divergence) === want) {
      best = r.divergence;
      return true;
    }
    return false;
  };
  // Fewer entries can make operations unnecessary and the other way round: repeat until stable.
  for (let round = 0; round < 4 && Date.now() < deadline; round++) {
    const before = sizeOf(best);
    for (let chunk = Math.max(1, Math.ceil(best.ops.length / 2)); chunk >= 1; chunk = Math.floor(chunk / 2)) {
      for (let i = 0; i < best.ops.length && Date.now() < deadline; ) {
        const candidate = [...best.ops.slice(0, i), ...best.ops.slice(i + chunk)];
        if (!(await attempt(best.fixture, candidate))) i += chunk;
      }
      if (chunk === 1) break;
    }
    for (let layer = best.fixture.lowers.length - 1; layer >= 0 && best.fixture.lowers.length > 1; layer--) {
      if (layer >= best.fixture.lowers.length) continue;
      await attempt({ ...best.fixture, lowers: best.fixture.lowers.filter((_, i) => i !== layer) }, best.ops);
    }
    if (best.fixture.upper.length) await attempt({ ...best.fixture, upper: [] }, best.ops);
    for (const layer of [-1, ...best.fixture.lowers.map((_, i) => i)]) {
      const entriesOf = () => (layer === -1 ? best.fixture.upper : best.fixture.lowers[layer] ?? []);
      for (let idx = entriesOf().length - 1; idx >= 0 && Date.now() < deadline; idx--) {
        if (idx >= entriesOf().length) continue;
        await attempt(withoutEntry(best.fixture, layer, idx), best.ops);
      }
    }
    if (sizeOf(best) === before) break;
  }
  return best;
}
