/**
 * The long differential run, by hand: random operations on the kernel overlay and on one candidate
 * over identical fresh layer stacks, compared after every operation (test/ovl/diff).
 *
 *   node --import tsx scripts/ovl-fuzz.ts --ops 100000 [--seed N] [--target api|fuse|fuse-uncached|kernel|fuse-overlayfs]
 *        [--config follow|on|both] [--per-run 200] [--no-shrink] [--shrink-ms 60000] [--stop] [--out DIR]
 *   node --import tsx scripts/ovl-fuzz.ts --replay FILE.json [--target ...]
 *
 * Each run builds a fixture from seed N+k and runs --per-run operations generated from the same
 * seed. A divergence is shrunk (fewer operations, fewer fixture entries), printed with its diff, op
 * list and fixture, and saved as JSON for --replay; later divergences of the same kind are counted,
 * not reprinted. Needs root (mounts).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { apiSide } from '../test/ovl/diff/api-executor.js';
import type { RedirectConfig, SideSpec } from '../test/ovl/diff/executor.js';
import { generateFixture, type FixtureDesc } from '../test/ovl/diff/fixture.js';
import type { Op } from '../test/ovl/diff/ops.js';
import { renderDivergence, runComparison, shrinkDivergence, type Divergence } from '../test/ovl/diff/runner.js';
import { FUSE_CACHED_LISTING_IMPURE, FUSE_STATFS_MAGIC, fuseOverlayfsSide, kernelSide, strataFuseSide, strataFuseUncachedSide } from '../test/ovl/diff/sides.js';
import type { KnownDifference } from '../test/ovl/diff/compare.js';
import { asciiJson } from '../test/ovl/diff/bytes.js';
import { removeWithMounts } from '../test/sys/helpers.js';

interface Args {
  ops: number;
  seed: number;
  target: string;
  configs: RedirectConfig[];
  perRun: number;
  shrink: boolean;
  shrinkMs: number;
  stop: boolean;
  out: string;
  replay: string | null;
}

function usage(msg: string): never {
  console.error(`ovl-fuzz: ${msg}\nusage: node --import tsx scripts/ovl-fuzz.ts --ops N [--seed N] [--target api|fuse|fuse-uncached|kernel|fuse-overlayfs] [--config follow|on|both] [--per-run N] [--no-shrink] [--shrink-ms MS] [--stop] [--out DIR] | --replay FILE`);
  process.exit(2);
}

function parseArgs(argv: string[]): Args {
  const a: Args = { ops: 10_000, seed: Date.now() % 1_000_000, target: 'api', configs: ['follow', 'on'], perRun: 200, shrink: true, shrinkMs: 60_000, stop: false, out: os.tmpdir(), replay: null };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!;
    const value = () => argv[++i] ?? usage(`${flag} needs a value`);
    const int = () => {
      const v = Number(value());
      if (!Number.isInteger(v) || v < 0) usage(`${flag} needs a non-negative integer`);
      return v;
    };
    switch (flag) {
      case '--ops': a.ops = int(); break;
      case '--seed': a.seed = int(); break;
      case '--target': a.target = value(); break;
      case '--config': {
        const c = value();
        if (c === 'both') a.configs = ['follow', 'on'];
        else if (c === 'follow' || c === 'on') a.configs = [c];
        else usage(`--config must be follow, on or both`);
        break;
      }
      case '--per-run': a.perRun = Math.max(1, int()); break;
      case '--no-shrink': a.shrink = false; break;
      case '--shrink-ms': a.shrinkMs = int(); break;
      case '--stop': a.stop = true; break;
      case '--out': a.out = value(); break;
      case '--replay': a.replay = value(); break;
      case '-h': case '--help': usage('help');
      default: usage(`unknown argument ${flag}`);
    }
  }
  return a;
}

function candidate(target: string): SideSpec {
  switch (target) {
    case 'api': return apiSide();
    case 'fuse': return strataFuseSide;
    case 'fuse-uncached': return strataFuseUncachedSide;
    case 'kernel': return kernelSide('kernel-2');
    case 'fuse-overlayfs': return fuseOverlayfsSide;
    default: return usage(`unknown --target ${target}`);
  }
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  // made now, so that a bad --out fails before the run, not when a divergence is to be written
  fs.mkdirSync(args.out, { recursive: true });
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ovl-fuzz-'));
  // an interrupted run still unmounts its fixture (exit listeners run on process.exit, not on a
  // signal); runComparison lets the event loop turn between comparisons, where these listeners run
  process.on('exit', () => removeWithMounts(workDir));
  for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143]] as const) process.on(signal, () => process.exit(code));
  // a FUSE mount reports the FUSE statfs magic: accepted, as in the CI tests
  const known: KnownDifference[] = args.target === 'fuse-overlayfs' ? [FUSE_STATFS_MAGIC] : args.target.startsWith('fuse') ? [FUSE_STATFS_MAGIC, FUSE_CACHED_LISTING_IMPURE] : [];
  const sides = { ref: kernelSide('kernel'), cand: candidate(args.target), workDir, known };
  console.log(`ovl-fuzz: kernel ${os.release()} vs ${sides.cand.name}; overlay module parameters: ${moduleParams()}`);

  if (args.replay) {
    const saved = JSON.parse(fs.readFileSync(args.replay, 'utf8')) as { config: RedirectConfig; fixture: FixtureDesc; ops: Op[] };
    const r = await runComparison({ ...sides, config: saved.config, fixture: saved.fixture, ops: saved.ops });
    console.log(r.divergence ? renderDivergence(r.divergence) : `no divergence in ${r.opsRun} operations`);
    process.exitCode = r.divergence ? 1 : 0;
    return;
  }

  console.log(`seed ${args.seed}, ${args.ops} operations, ${args.perRun} per fixture, redirect_dir ${args.configs.join('+')}`);
  const start = Date.now();
  let total = 0;
  let runs = 0;
  let lastReport = start;
  const kinds = new Map<string, number>();
  for (let k = 0; total < args.ops; k++) {
    const seed = args.seed + k;
    const config = args.configs[k % args.configs.length]!;
    const count = Math.min(args.perRun, args.ops - total);
    const r = await runComparison({ ...sides, config, fixture: generateFixture(seed), ops: { count, seed } });
    total += r.opsRun;
    runs++;
    if (r.divergence) {
      const d = r.divergence;
      const kind = signature(d);
      kinds.set(kind, (kinds.get(kind) ?? 0) + 1);
      if (kinds.get(kind) === 1) report(args, seed, config, args.shrink ? await shrinkDivergence(sides, d, args.shrinkMs) : d);
      else console.log(`divergence again (${kind}): seed ${seed}, redirect_dir=${config}, op #${d.opIndex}`);
      if (args.stop) break;
    }
    if (Date.now() - lastReport > 5000 || total >= args.ops) {
      lastReport = Date.now();
      const secs = (Date.now() - start) / 1000;
      console.log(`ops ${total} in ${runs} runs, ${(total / secs).toFixed(1)} ops/s, divergences ${[...kinds.values()].reduce((a, b) => a + b, 0)} (${kinds.size} kinds)`);
    }
  }
  const secs = (Date.now() - start) / 1000;
  console.log(`done: ${total} operations in ${secs.toFixed(1)} s (${(total / secs).toFixed(1)} ops/s), ${runs} fixtures`);
  for (const [kind, n] of kinds) console.log(`  ${n} × ${kind}`);
  process.exitCode = kinds.size ? 1 : 0;
}

function signature(d: Divergence): string {
  const first = d.items[0];
  const op = d.opIndex >= 0 ? d.ops[d.opIndex]!.op : 'mount';
  return `${op}: ${first?.area} ${first?.field}`;
}

function report(args: Args, seed: number, config: RedirectConfig, d: Divergence): void {
  const file = path.join(args.out, `ovl-fuzz-${seed}-${config}.json`);
  // paths in it are byte strings (one char per byte): ASCII JSON keeps them exact through any editor
  fs.writeFileSync(file, asciiJson({ config: d.config, fixture: d.fixture, ops: d.ops }, 1));
  const text = renderDivergence(d);
  console.log(`\n=== seed ${seed}, redirect_dir=${config}, divergence at op #${d.opIndex} (after shrinking: ${d.ops.length} ops)`);
  console.log(text.slice(0, text.lastIndexOf('\nreplay')));
  console.log(`replay: node --import tsx scripts/ovl-fuzz.ts --target ${args.target} --replay ${file}\n`);
}

function moduleParams(): string {
  const dir = '/sys/module/overlay/parameters';
  try {
    return fs.readdirSync(dir).map((p) => `${p}=${fs.readFileSync(path.join(dir, p), 'utf8').trim()}`).join(' ');
  } catch {
    return '(overlay module parameters not readable)';
  }
}

await main();
