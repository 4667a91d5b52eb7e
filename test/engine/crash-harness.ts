/**
 * The engine crash trials, shared by test/engine/crash.test.ts (50 in CI) and
 * scripts/crash-trials.ts (the long run). One trial:
 *
 * 1. two copies of the template root (crash-fixture.ts); a child (crash-child.ts) runs the
 *    trial's verb through the real `strata` command on the first to the end, counting its
 *    file-system steps, then on the second, SIGKILLing itself before step k (k from the seed);
 * 2. about one trial in five then kills the recovery too: another child opens the crashed root
 *    for writing (which recovers) and is killed at a random step of that;
 * 3. the parent checks the crashed root before recovery and after it (crash-checks.ts), against
 *    the template and the first copy (the verb's outcome).
 *
 * Verbs go round-robin, so any 50 trials cover each about equally. A trial is reproduced by its
 * run seed and number (`--seed S --trial N` in the script); which fs call step k is can differ
 * by a step or two between runs (gzip output comes in chunks that depend on timing).
 */
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import * as sys from '../../src/sys/index.js';
import { Rng, trialSeed } from '../layer/store-crash-shared.js';
import { unmountUnder } from '../layer/store-crash-checks.js';
import { bundleScript } from '../helpers/bundle.js';
import { killAllLoaded, spawnLoaded, type LoadedChild } from './crash-bundle.js';
import { VERBS, buildFixture, verbArgs, type Fixture, type Verb } from './crash-fixture.js';
import { checkAfterRecovery, checkBeforeRecovery, viewOf, type EngineView } from './crash-checks.js';

const CHILD = new URL('./crash-child.ts', import.meta.url);
const CHILD_TIMEOUT_MS = 60_000;

export interface TrialResult {
  trial: number;
  seed: number;
  verb: Verb;
  /** Where the verb's kill landed (`killed before step 12: fs.renameSync(…)`), or that it finished first. */
  verbKill: string;
  /** The same for the recovery, when this trial killed it too. */
  recoveryKill?: string;
  ms: number;
  /** The failure, with everything needed to look into it; absent when the trial passed. */
  error?: string;
}

interface ChildRun {
  full: { steps: number; code: number };
  kill: string;
}

async function closedWithin(child: LoadedChild, ms: number): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, rej) => (timer = setTimeout(() => rej(new Error(`child still running after ${ms / 1000} s`)), ms)));
  try {
    return await Promise.race([child.closed, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export class CrashHarness {
  private loading: Promise<LoadedChild>[] = [];
  private childFile = '';
  private views = new Map<Verb, EngineView>();
  private template!: EngineView;
  private fixture!: Fixture;
  private knownLayers!: Set<string>;

  private constructor(
    readonly work: string,
    readonly seed: number,
  ) {}

  /**
   * Mounts a tmpfs on `work` (an empty directory) and builds the fixture in it. A tmpfs because a
   * kill loses nothing an fsync would have kept (the page cache outlives the process), while an
   * fsync on a disk costs milliseconds — and a trial makes hundreds (`cp -a`, every write-set).
   */
  static async create(work: string, seed: number): Promise<CrashHarness> {
    sys.mount('tmpfs', work, 'tmpfs', 0, 'size=2g,mode=0700');
    try {
      const h = new CrashHarness(work, seed);
      h.childFile = await bundleScript(CHILD, path.join(work, 'crash-child.mjs'));
      h.fixture = await buildFixture(work);
      h.template = await viewOf(h.fixture.template);
      h.knownLayers = new Set(h.template.layers);
      fs.mkdirSync(path.join(work, 'trials'));
      return h;
    } catch (e) {
      unmountUnder(work);
      throw e;
    }
  }

  /** The next loaded child; keeps two loading (two cores: more only slows the running one). */
  private async nextChild(): Promise<LoadedChild> {
    while (this.loading.length < 2) this.loading.push(spawnLoaded(this.childFile));
    return this.loading.shift()!;
  }

  private copyTemplate(to: string): void {
    execFileSync('cp', ['-a', this.fixture.template, to]);
  }

  private remove(dir: string): void {
    unmountUnder(dir);
    fs.rmSync(dir, { recursive: true, force: true });
  }

  /** Runs `args` to the end on `full`, then on `target` with a kill at a seeded step. */
  private async runChild(args: string[], full: string, target: string, seed: number): Promise<ChildRun> {
    const child = await this.nextChild();
    child.start(`go ${JSON.stringify({ args, full, target, seed })}`);
    const r = await closedWithin(child, CHILD_TIMEOUT_MS);
    const m = /^full (\d+) (-?\d+)$/m.exec(r.stdout);
    if (!m) throw new Error(`the child did not finish its full run (code ${r.code}, signal ${r.signal}): ${r.stderr.trim() || r.stdout.trim()}`);
    const fullRun = { steps: Number(m[1]), code: Number(m[2]) };
    if (fullRun.code !== 0) throw new Error(`strata ${args.join(' ')} failed on an intact copy of the template (exit ${fullRun.code}): ${r.stderr.trim()}`);
    const killed = /^killed before .*$/m.exec(r.stdout)?.[0];
    if (killed) {
      if (r.signal !== 'SIGKILL') throw new Error(`the child said "${killed}" but ended with code ${r.code}: ${r.stderr.trim()}`);
      return { full: fullRun, kill: killed };
    }
    const fin = /^finished (\d+) (-?\d+)$/m.exec(r.stdout);
    if (!fin) throw new Error(`the child neither killed itself nor finished (code ${r.code}, signal ${r.signal}): ${r.stderr.trim()}`);
    if (Number(fin[2]) !== 0) throw new Error(`strata ${args.join(' ')} failed on the second copy (exit ${fin[2]}): ${r.stderr.trim()}`);
    return { full: fullRun, kill: `finished in ${fin[1]} steps, before the kill at ${/^kill-at (\d+)$/m.exec(r.stdout)?.[1]}` };
  }

  /** Trial `n` of the run (see the file comment); never throws for a failed check — see `error`. */
  async trial(n: number): Promise<TrialResult> {
    const t0 = Date.now();
    const seed = trialSeed(this.seed, n);
    const rng = new Rng(seed);
    const verb = VERBS[n % VERBS.length]!;
    const killRecovery = rng.next() < 0.2;
    const result: TrialResult = { trial: n, seed, verb, verbKill: '(not run)', ms: 0 };
    const dir = path.join(this.work, 'trials', String(n));
    fs.mkdirSync(dir);
    const [full, target, recoveryCopy] = ['full', 'target', 'recovery-full'].map((x) => path.join(dir, x)) as [string, string, string];
    let stage = 'running the verb';
    try {
      this.copyTemplate(full);
      this.copyTemplate(target);
      const run = await this.runChild(verbArgs(this.fixture, verb), full, target, rng.int(0, 2 ** 31));
      result.verbKill = run.kill;
      let after = this.views.get(verb);
      if (!after) this.views.set(verb, (after = await viewOf(full)));
      this.remove(full);

      if (killRecovery) {
        stage = 'killing the recovery';
        execFileSync('cp', ['-a', target, recoveryCopy]);
        result.recoveryKill = (await this.runChild(['recover'], recoveryCopy, target, rng.int(0, 2 ** 31))).kill;
        this.remove(recoveryCopy);
      }
      stage = 'checking before recovery';
      await checkBeforeRecovery(target, this.knownLayers);
      stage = 'checking after recovery';
      await checkAfterRecovery(target, this.template, after);
      this.remove(dir);
    } catch (e) {
      const msg = e instanceof Error ? e.message : String(e);
      result.error = `${verb}, ${stage}: ${msg}\n    verb: ${result.verbKill}${result.recoveryKill ? `\n    recovery: ${result.recoveryKill}` : ''}\n    reproduce: --seed ${this.seed} --trial ${n}; data root kept at ${target}`;
      unmountUnder(dir);
    }
    result.ms = Date.now() - t0;
    return result;
  }

  /** Kills the children still loading; unmounts everything under the work directory (its tmpfs too) and removes it — unless `keep`. */
  async close(keep = false): Promise<void> {
    for (const p of this.loading) p.catch(() => undefined);
    this.loading = [];
    await killAllLoaded();
    if (keep) return;
    unmountUnder(this.work);
    fs.rmSync(this.work, { recursive: true, force: true });
  }
}

/** Per-verb counts and the failures, as the test's diagnostic and the script's report print them. */
export function summarize(results: TrialResult[]): string {
  const lines: string[] = [];
  for (const verb of VERBS) {
    const mine = results.filter((r) => r.verb === verb);
    if (mine.length === 0) continue;
    const killed = mine.filter((r) => r.verbKill.startsWith('killed')).length;
    const recov = mine.filter((r) => r.recoveryKill?.startsWith('killed')).length;
    const failed = mine.filter((r) => r.error).length;
    lines.push(`${verb.padEnd(10)} ${String(mine.length).padStart(4)} trials, ${String(killed).padStart(4)} killed mid-verb, ${String(recov).padStart(3)} recoveries killed, ${failed} failed`);
  }
  for (const r of results.filter((x) => x.error)) lines.push(`FAILED trial ${r.trial} (seed ${r.seed}): ${r.error}`);
  return lines.join('\n');
}
