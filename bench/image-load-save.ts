/**
 * `strata load` and `strata save` against `docker load` and `docker save` of the same archive, in
 * the same run, as ratios (target ≤ 0.7×); and the peak RSS of `strata load` of an image with a
 * 1 GiB layer (target < 150 MB).
 *
 * Both sides are the real command lines, timed from spawn to exit, so process start-up counts on
 * both: `node bin/strata.js --root R -s overlay2 load -i A -q` (dist/ is rebuilt first when a
 * file in src/ is newer) and Debian's `/usr/bin/docker load -i A` against a private dockerd 20.10
 * (overlay2, test/oracle/dockerd.ts). Every load registers every layer: strata gets a new data
 * root each time and so does dockerd (a daemon started for each load — `docker rmi` between runs
 * would delete files, see QUIET_S). All data roots are on the same filesystem (/var/tmp). Page
 * cache warm (the archives are read once first; nothing is dropped), `sync` before each timed run
 * so no run pays for another's writeback. Median of BENCH_RUNS (default 3); strata and docker
 * alternate.
 *
 * Measured:
 * - load -i of the main image (~490 MB, 5 layers, ~20,000 entries: a rootfs-like tree of many
 *   small files, MB-sized libraries, three big files; seeded content, text-like or binary)
 * - load from stdin of the same (strata spools a stream to `<root>/tmp` before registering);
 *   its anchor is the same `docker load -i`, which is what `docker load < A` does (the client
 *   posts the file either way)
 * - save -o of the same image (strata: from a data root it was loaded into; the first outputs of
 *   both are compared byte for byte)
 * - the image with one 1 GiB layer (a single 1 GiB file): load -i, load from stdin and save,
 *   once each (BENCH_BIG_RUNS), with strata's peak RSS (GNU time's %M: the child's maxrss) and,
 *   for context, dockerd's (VmHWM, reset through /proc/<pid>/clear_refs before each command).
 *
 * The archives are made once with the engine's imageArchive (each directory a layer, as
 * `docker save` writes it) from trees generated with a fixed seed, and cached in
 * /var/tmp/strata-bench/image-load-save/ (BENCH_CACHE); rebuilt when missing or of another shape.
 * A run keeps every data root it made (~9 GB) until it ends.
 *
 * BENCH_PROFILE=1 also runs `strata load -i`, `strata load` from stdin and `strata save` once
 * each under `node --cpu-prof` and prints where their time goes (self time per function).
 *
 *   npm run bench -- image-load-save        (or: node --import tsx bench/image-load-save.ts)
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import crypto from 'node:crypto';
import { spawn, execFileSync } from 'node:child_process';
import { pipeline } from 'node:stream/promises';
import { imageArchive } from '../src/engine/build.js';
import { DOCKER_CLIENT, startDockerd, type Dockerd } from '../test/oracle/dockerd.js';
import { rng, type Rng } from './lib/seeded.js';
import { ensureDist } from './lib/dist.js';

const REPO = path.resolve(import.meta.dirname, '..');
const CACHE = path.join(process.env.BENCH_CACHE ?? '/var/tmp/strata-bench', 'image-load-save');
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const BIG_RUNS = Number(process.env.BENCH_BIG_RUNS ?? 1);
const PROFILE = process.env.BENCH_PROFILE === '1';
const TARGET_RATIO = 0.7;
const TARGET_RSS_MB = 150;
const SCRATCH = fs.mkdtempSync('/var/tmp/strata-bench-ils-');

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const max = (xs: number[]) => Math.max(...xs);
const s = (msv: number) => `${(msv / 1000).toFixed(2)} s`;

// ---------------------------------------------------------------------------------------------
// The fixture: two image archives, generated from a seed.

/** What the cached archives are; a change here rebuilds them. */
const SHAPE = { version: 2, seed: 5_150_707, big: 1 << 30 };
const MAIN_TAG = 'bench/image-load-save:main';
const BIG_TAG = 'bench/image-load-save:big';
const MAIN_TAR = path.join(CACHE, 'main.tar');
const BIG_TAR = path.join(CACHE, 'big.tar');
const MARKER = path.join(CACHE, 'shape.json');
/** Every generated file and directory gets this mtime (2024-01-01), so the trees are the same each time. */
const MTIME = 1_704_067_200;


/** File content from AES-256-CTR keyed by the seed: fast, deterministic, incompressible as is. */
class Content {
  private readonly cipher: crypto.Cipher;
  private static readonly TEXT = Buffer.from('etaoinshrdlucmfwypvbgkjqxzETAOINSHRDLU0123456789          \n\n\n.,;:(){}="_-/');
  constructor(seed: number) {
    const key = crypto.createHash('sha256').update(`strata-bench:${seed}`).digest();
    this.cipher = crypto.createCipheriv('aes-256-ctr', key, Buffer.alloc(16));
  }
  random(n: number): Buffer {
    return this.cipher.update(Buffer.alloc(n));
  }
  /** Like source or docs: letters, digits, spaces, newlines (gzip gets ~1.6×). */
  text(n: number): Buffer {
    const b = this.random(n);
    const t = Content.TEXT;
    for (let i = 0; i < n; i++) b[i] = t[b[i]! % t.length]!;
    return b;
  }
  /** Like an ELF file: random, with about a quarter of its 4 KiB pages zero. */
  binary(n: number): Buffer {
    const b = this.random(n);
    for (let off = 0; off < n; off += 4096) if (b[off]! < 64) b.fill(0, off, Math.min(n, off + 4096));
    return b;
  }
}

interface Group {
  /** Directory the group's files go under. */
  base: string;
  count: number;
  /** Sizes are log-uniform in [min, max). */
  min: number;
  max: number;
  kind: 'text' | 'binary';
  ext: string;
  /** Files per directory, on average; directories nest up to `depth` below `base`. */
  perDir: number;
  depth: number;
  mode?: number;
}

/** Writes a group's files below `root`; returns their paths (relative). */
function writeGroup(root: string, g: Group, r: Rng, c: Content): string[] {
  const dirs: string[] = [];
  for (let i = 0; i < Math.max(1, Math.ceil(g.count / g.perDir)); i++) {
    const parts = [g.base];
    const depth = r.int(0, g.depth + 1);
    for (let d = 0; d < depth; d++) parts.push(r.name(3, 9));
    dirs.push(path.join(...parts));
  }
  const files: string[] = [];
  for (let i = 0; i < g.count; i++) {
    const dir = dirs[r.int(0, dirs.length)]!;
    const rel = path.join(dir, `${r.name()}${i}${g.ext}`);
    fs.mkdirSync(path.join(root, dir), { recursive: true });
    const size = r.logSize(g.min, g.max);
    fs.writeFileSync(path.join(root, rel), g.kind === 'text' ? c.text(size) : c.binary(size), { mode: g.mode ?? 0o644 });
    files.push(rel);
  }
  return files;
}

/** A big file of random content, written in 16 MiB pieces. */
function writeBig(file: string, size: number, c: Content): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const fd = fs.openSync(file, 'w', 0o644);
  try {
    for (let off = 0; off < size; off += 16 << 20) fs.writeSync(fd, c.random(Math.min(16 << 20, size - off)));
  } finally {
    fs.closeSync(fd);
  }
}

/** Every entry below `dir` gets MTIME (children before their directory). */
function fixTimes(dir: string): void {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) fixTimes(p);
    fs.lutimesSync(p, MTIME, MTIME);
  }
  fs.lutimesSync(dir, MTIME, MTIME);
}

const KB = 1024;
const MB = 1024 * 1024;

/** The main image's five layers: ~440 MB, ~18,000 files. */
function mainLayers(work: string, r: Rng, c: Content): string[] {
  const dirs = ['base', 'runtime', 'deps', 'assets', 'app'].map((n) => path.join(work, 'tree', n));
  const [base, runtime, deps, assets, app] = dirs as [string, string, string, string, string];

  // 0. a distro's rootfs: config, executables, shared libraries (+ their symlinks), docs, locales, headers.
  writeGroup(base, { base: 'etc', count: 250, min: 100, max: 8 * KB, kind: 'text', ext: '.conf', perDir: 25, depth: 1 }, r, c);
  const bins = writeGroup(base, { base: 'usr/bin', count: 350, min: 8 * KB, max: 600 * KB, kind: 'binary', ext: '', perDir: 350, depth: 0, mode: 0o755 }, r, c);
  const libs = writeGroup(base, { base: 'usr/lib/x86_64-linux-gnu', count: 700, min: 4 * KB, max: 800 * KB, kind: 'binary', ext: '.so.1.2.3', perDir: 120, depth: 1 }, r, c);
  writeGroup(base, { base: 'usr/share/doc', count: 1500, min: 300, max: 30 * KB, kind: 'text', ext: '', perDir: 3, depth: 1 }, r, c);
  writeGroup(base, { base: 'usr/share/locale', count: 2500, min: 1 * KB, max: 60 * KB, kind: 'binary', ext: '.mo', perDir: 40, depth: 2 }, r, c);
  writeGroup(base, { base: 'usr/include', count: 1800, min: 500, max: 50 * KB, kind: 'text', ext: '.h', perDir: 30, depth: 2 }, r, c);
  for (const lib of libs) fs.symlinkSync(path.basename(lib), path.join(base, lib.replace(/\.2\.3$/, '')));
  for (const bin of bins.slice(0, 20)) fs.linkSync(path.join(base, bin), path.join(base, `${bin}-link`));
  fs.chmodSync(path.join(base, bins[20]!), 0o4755);
  for (const d of ['tmp', 'var/tmp', 'run', 'proc', 'sys', 'dev']) fs.mkdirSync(path.join(base, d), { recursive: true });
  fs.chmodSync(path.join(base, 'tmp'), 0o1777);
  fs.writeFileSync(path.join(base, 'etc/hostname'), 'base\n');

  // 1. a language runtime: many sources, compiled files, a few big shared objects.
  writeGroup(runtime, { base: 'usr/local/lib/python3.11', count: 4000, min: 200, max: 40 * KB, kind: 'text', ext: '.py', perDir: 15, depth: 3 }, r, c);
  writeGroup(runtime, { base: 'usr/local/lib/python3.11', count: 400, min: 1 * KB, max: 100 * KB, kind: 'binary', ext: '.pyc', perDir: 15, depth: 3 }, r, c);
  writeGroup(runtime, { base: 'usr/local/lib', count: 8, min: 2 * MB, max: 12 * MB, kind: 'binary', ext: '.so', perDir: 8, depth: 0 }, r, c);

  // 2. an application's dependencies: thousands of tiny files, deeply nested.
  writeGroup(deps, { base: 'app/node_modules', count: 6000, min: 100, max: 8 * KB, kind: 'text', ext: '.js', perDir: 12, depth: 4 }, r, c);

  // 3. assets: three big files.
  for (const [i, size] of [64 * MB, 40 * MB, 24 * MB].entries()) writeBig(path.join(assets, 'srv/assets', `blob${i}.bin`), size, c);

  // 4. the application, owned by a user, changing a file of the base.
  writeGroup(app, { base: 'app/src', count: 300, min: 1 * KB, max: 200 * KB, kind: 'text', ext: '.ts', perDir: 20, depth: 2 }, r, c);
  fs.mkdirSync(path.join(app, 'etc'));
  fs.writeFileSync(path.join(app, 'etc/hostname'), 'app\n');
  execFileSync('chown', ['-R', '1000:1000', path.join(app, 'app')]);

  for (const d of dirs) fixTimes(d);
  return dirs;
}

/**
 * ext4 without a journal (this VM's disk) does not reuse an inode for 60 s after it was deleted,
 * 360 s while its inode-table block is dirty — and creating files keeps those blocks dirty — so
 * after a mass deletion every create scans past the freed inodes (the kernel's `recently_deleted`
 * in `find_inode_bit`): `open(O_CREAT)` took ~250 µs instead of ~10 µs here, for strata and
 * dockerd alike, and runs varied 3×. So this benchmark deletes nothing until it is done, stamps
 * the time of every mass deletion, and waits (QUIET_S) after one before it measures anything.
 */
const DELETED_AT = `${CACHE}.deleted-at`;
const QUIET_S = 370;

/** rm -rf, stamping the time when it removed more than a thousand entries. */
function removeMany(p: string): void {
  if (!fs.existsSync(p)) return;
  let n = 0;
  try {
    n = fs.readdirSync(p, { recursive: true }).length;
  } catch {
    /* a file */
  }
  fs.rmSync(p, { recursive: true, force: true });
  if (n < 1000) return;
  fs.mkdirSync(path.dirname(DELETED_AT), { recursive: true });
  fs.writeFileSync(DELETED_AT, String(Date.now()));
}

function noJournal(dir: string): boolean {
  try {
    const source = execFileSync('findmnt', ['-T', dir, '-no', 'SOURCE'], { encoding: 'utf8' }).trim();
    return fs.readFileSync(`/sys/fs/ext4/${path.basename(source)}/journal_task`, 'utf8').trim() === '<none>';
  } catch {
    return false;
  }
}

/** Waits until the last mass deletion is QUIET_S old (ext4 without a journal only; BENCH_NO_WAIT=1 skips). */
async function awaitQuietInodes(): Promise<void> {
  if (process.env.BENCH_NO_WAIT === '1' || !noJournal(SCRATCH)) return;
  let at = 0;
  try {
    at = Number(fs.readFileSync(DELETED_AT, 'utf8'));
  } catch {
    return;
  }
  const wait = at + QUIET_S * 1000 - Date.now();
  if (wait <= 0) return;
  process.stderr.write(`  waiting ${Math.ceil(wait / 1000)} s: many files were deleted ${((Date.now() - at) / 1000).toFixed(0)} s ago, and ext4 without a journal creates files slowly for a while after that (BENCH_NO_WAIT=1 skips)\n`);
  await new Promise((r) => setTimeout(r, wait));
}

async function writeArchive(file: string, layers: string[], tag: string, scratch: string): Promise<void> {
  await pipeline(imageArchive({ layers, tag, scratchDir: scratch, cmd: ['/bin/sh'] }), fs.createWriteStream(file));
}

async function buildFixtures(): Promise<void> {
  const t0 = Date.now();
  removeMany(CACHE);
  const work = `${CACHE}.building-${process.pid}`;
  removeMany(work);
  fs.mkdirSync(work, { recursive: true });
  try {
    const r = rng(SHAPE.seed);
    const c = new Content(SHAPE.seed);
    process.stderr.write('  generating the main image tree…\n');
    // The tree stays in the cache: deleting its 20,000 files would slow the runs that follow.
    const layers = mainLayers(work, r, c);
    await writeArchive(path.join(work, 'main.tar'), layers, MAIN_TAG, work);

    process.stderr.write('  generating the 1 GiB layer…\n');
    const big = path.join(work, 'big-tree');
    writeBig(path.join(big, 'data/blob.bin'), SHAPE.big, c);
    fixTimes(big);
    await writeArchive(path.join(work, 'big.tar'), [big], BIG_TAG, work);
    fs.rmSync(big, { recursive: true, force: true });

    fs.writeFileSync(path.join(work, 'shape.json'), JSON.stringify(SHAPE));
    fs.renameSync(work, CACHE);
  } finally {
    removeMany(work);
  }
  process.stderr.write(`  built ${MAIN_TAR} (${(fs.statSync(MAIN_TAR).size / 1e6).toFixed(0)} MB) and ${BIG_TAR} in ${((Date.now() - t0) / 1000).toFixed(0)} s\n`);
}

function fixturesBuilt(): boolean {
  try {
    return fs.readFileSync(MARKER, 'utf8') === JSON.stringify(SHAPE) && fs.existsSync(MAIN_TAR) && fs.existsSync(BIG_TAR);
  } catch {
    return false;
  }
}

/** An archive's size, layers and their entries (listed with tar once, then cached next to it). */
function describe(archive: string): string {
  const cached = `${archive}.about`;
  if (fs.existsSync(cached)) return fs.readFileSync(cached, 'utf8');
  const manifest = JSON.parse(execFileSync('tar', ['-xOf', archive, 'manifest.json'], { encoding: 'utf8' })) as { Layers: string[] }[];
  let files = 0;
  for (const l of manifest[0]!.Layers) {
    const list = execFileSync('bash', ['-c', `tar -xOf "$1" "$2" | tar -t | wc -l`, '-', archive, l], { encoding: 'utf8' });
    files += Number(list.trim());
  }
  const about = `${(fs.statSync(archive).size / 1e6).toFixed(0)} MB, ${manifest[0]!.Layers.length} layer(s), ${files} entries`;
  fs.writeFileSync(cached, about);
  return about;
}

// ---------------------------------------------------------------------------------------------
// Running the two command lines


interface Run {
  ms: number;
  /** Peak RSS, MB: of strata's process; for a docker command, dockerd's since the reset before it. */
  rssMB: number;
  stdout: string;
}

/** Spawns argv (stdin from `stdinFile`), under GNU time when `measure`; throws on a non-zero exit. */
function run(argv: string[], opts: { env?: NodeJS.ProcessEnv; stdinFile?: string; measure?: boolean } = {}): Promise<Run> {
  const timeFile = path.join(SCRATCH, 'time.out');
  const full = opts.measure ? ['/usr/bin/time', '-f', '%M', '-o', timeFile, ...argv] : argv;
  const stdin = opts.stdinFile ? fs.openSync(opts.stdinFile, 'r') : 'ignore';
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const child = spawn(full[0]!, full.slice(1), { cwd: REPO, env: opts.env ?? process.env, stdio: [stdin, 'pipe', 'pipe'] });
    if (typeof stdin === 'number') fs.closeSync(stdin);
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout!.on('data', (b: Buffer) => out.push(b));
    child.stderr!.on('data', (b: Buffer) => err.push(b));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      if (code !== 0) return reject(new Error(`${argv.join(' ')}: ${signal ?? `exit ${code}`}\n${Buffer.concat(err).toString()}`));
      const rssMB = opts.measure ? Number(fs.readFileSync(timeFile, 'utf8').trim().split('\n').pop()) / 1024 : 0;
      resolve({ ms, rssMB, stdout: Buffer.concat(out).toString() });
    });
  });
}

const strataArgv = (root: string, args: string[], nodeFlags: string[] = []) => [process.execPath, ...nodeFlags, path.join(REPO, 'bin/strata.js'), '--root', root, '-s', 'overlay2', ...args];

/** The filesystem the data roots are on; ext4 without a journal is worth knowing about (see the README). */
function fsNote(dir: string): string {
  const [source, fstype] = execFileSync('findmnt', ['-T', dir, '-no', 'SOURCE,FSTYPE'], { encoding: 'utf8' }).trim().split(/\s+/);
  let journal = '';
  if (fstype === 'ext4') {
    try {
      journal = fs.readFileSync(`/sys/fs/ext4/${path.basename(source!)}/journal_task`, 'utf8').trim() === '<none>' ? ' without a journal' : ' with a journal';
    } catch {
      /* unknown */
    }
  }
  return `data roots on ${fstype}${journal} (${source})`;
}

function sync(): void {
  execFileSync('sync');
}

let rootSeq = 0;
function freshRoot(): string {
  return path.join(SCRATCH, `root-${rootSeq++}`);
}

async function strataLoad(archive: string, tag: string, how: 'file' | 'stdin', root = freshRoot()): Promise<Run & { root: string }> {
  sync();
  const args = how === 'file' ? ['load', '-i', archive, '-q'] : ['load', '-q'];
  const r = await run(strataArgv(root, args), { measure: true, ...(how === 'stdin' ? { stdinFile: archive } : {}) });
  if (!r.stdout.includes(`Loaded image: ${tag}`)) throw new Error(`strata load printed ${JSON.stringify(r.stdout)}`);
  return { ...r, root };
}

async function strataSave(root: string, tag: string, out: string): Promise<Run> {
  sync();
  return run(strataArgv(root, ['save', tag, '-o', out, '-q']), { measure: true });
}

/** The docker client against the private daemon (nothing from this environment's DOCKER_*). */
function dockerEnv(d: Dockerd): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('DOCKER_')) env[k] = v;
  return { ...env, ...d.env };
}

/** dockerd's peak RSS since the last reset, MB; and the reset. */
const dockerdHWM = (d: Dockerd) => Number(/VmHWM:\s+(\d+)/.exec(fs.readFileSync(`/proc/${d.pid}/status`, 'utf8'))![1]) / 1024;
const resetHWM = (d: Dockerd) => fs.writeFileSync(`/proc/${d.pid}/clear_refs`, '5');

/** `docker load -i` into a daemon whose data root is new: every layer is registered. */
async function dockerLoad(d: Dockerd, archive: string, tag: string): Promise<Run> {
  sync();
  resetHWM(d);
  const r = await run([DOCKER_CLIENT, 'load', '-i', archive, '-q'], { env: dockerEnv(d) });
  if (!r.stdout.includes(`Loaded image: ${tag}`)) throw new Error(`docker load printed ${JSON.stringify(r.stdout)}`);
  return { ...r, rssMB: dockerdHWM(d) };
}

const daemons: Dockerd[] = [];
/** A private dockerd on a new data root in SCRATCH (kept after stop, removed with SCRATCH at the end). */
async function freshDockerd(): Promise<Dockerd> {
  const d = await startDockerd({ dataRoot: path.join(SCRATCH, `docker-${rootSeq++}`) });
  daemons.push(d);
  return d;
}

/** Loads `archive` into a fresh dockerd; stops it unless `keep`. */
async function dockerLoadFresh(archive: string, tag: string, keep = false): Promise<Run & { d: Dockerd }> {
  const d = await freshDockerd();
  const r = await dockerLoad(d, archive, tag);
  if (!keep) await d.stop();
  return { ...r, d };
}

async function dockerSave(d: Dockerd, tag: string, out: string): Promise<Run> {
  sync();
  resetHWM(d);
  const r = await run([DOCKER_CLIENT, 'save', tag, '-o', out], { env: dockerEnv(d) });
  return { ...r, rssMB: dockerdHWM(d) };
}

function sha256File(file: string): string {
  return execFileSync('sha256sum', [file], { encoding: 'utf8' }).split(' ')[0]!;
}

const ratioLine = (what: string, strata: number[], docker: number[]) => {
  const ratio = median(strata) / median(docker);
  return `${what.padEnd(24)} strata ${s(median(strata)).padStart(8)}   docker ${s(median(docker)).padStart(8)}   ratio ${ratio.toFixed(2)}x ${Number(ratio.toFixed(2)) <= TARGET_RATIO ? 'ok' : 'ABOVE'} (target ≤ ${TARGET_RATIO}x)`;
};

// ---------------------------------------------------------------------------------------------
// Profiles (BENCH_PROFILE=1)

interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; children?: number[] }[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

/** Self time per function (top `n`), from a .cpuprofile. */
function topSelf(file: string, n = 18): string {
  const p = JSON.parse(fs.readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(p.nodes.map((x) => [x.id, x]));
  const self = new Map<string, number>();
  for (let i = 0; i < p.samples.length; i++) {
    const f = byId.get(p.samples[i]!)!.callFrame;
    const where = f.url ? `${f.url.replace(/^file:\/\//, '').replace(REPO + '/', '')}:${f.lineNumber + 1}` : '';
    const key = `${f.functionName || '(anonymous)'} ${where}`.trim();
    self.set(key, (self.get(key) ?? 0) + (p.timeDeltas[i] ?? 0));
  }
  const total = (p.endTime - p.startTime) / 1000;
  return [...self]
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(([k, us]) => `    ${(us / 1000).toFixed(0).padStart(6)} ms ${((us / 1000 / total) * 100).toFixed(1).padStart(5)}%  ${k}`)
    .join('\n');
}

async function profile(what: string, argv: (flags: string[]) => string[], stdinFile?: string): Promise<void> {
  const dir = fs.mkdtempSync(path.join(SCRATCH, 'prof-'));
  sync();
  const r = await run(argv(['--cpu-prof', '--cpu-prof-dir', dir]), stdinFile ? { stdinFile } : {});
  const file = path.join(dir, fs.readdirSync(dir).find((f) => f.endsWith('.cpuprofile'))!);
  const cpuprofile = path.join(CACHE, `${what.replace(/\W+/g, '-')}.cpuprofile`);
  fs.copyFileSync(file, cpuprofile);
  console.log(`  profile of ${what} (${s(r.ms)}; ${cpuprofile}), self time:\n${topSelf(file)}`);
}

// ---------------------------------------------------------------------------------------------

if (process.getuid?.() !== 0) throw new Error('this benchmark needs root (overlay2, dockerd)');
if (!fixturesBuilt()) await buildFixtures();
ensureDist();
await awaitQuietInodes();
const out = path.join(SCRATCH, 'out.tar');
const outDocker = path.join(SCRATCH, 'out-docker.tar');
console.log(`main image: ${describe(MAIN_TAR)}; big image: ${describe(BIG_TAR)}`);
console.log(`${os.cpus().length} CPUs (${os.cpus()[0]?.model.trim()}), ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB RAM, kernel ${os.release()}, node ${process.version}; ${fsNote(SCRATCH)}; load average ${os.loadavg()[0]!.toFixed(2)}`);
console.log(`warm page cache, sync before each run, nothing deleted until the end; median of ${RUNS}`);
for (const f of [MAIN_TAR, BIG_TAR]) execFileSync('cat', [f], { stdio: ['ignore', 'ignore', 'inherit'] });

try {
  const startup: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const root = freshRoot();
    fs.mkdirSync(root);
    startup.push((await run(strataArgv(root, ['images', '-q']))).ms);
  }

  // Load, strata (-i and stdin) and docker alternating; a new data root for each, none deleted.
  const t = { strataFile: [] as Run[], strataStdin: [] as Run[], docker: [] as Run[] };
  let saveRoot = '';
  let saveDaemon: Dockerd | undefined;
  for (let i = 0; i < RUNS; i++) {
    const a = await strataLoad(MAIN_TAR, MAIN_TAG, 'file');
    t.strataFile.push(a);
    saveRoot ||= a.root;
    const last = i === RUNS - 1;
    const d = await dockerLoadFresh(MAIN_TAR, MAIN_TAG, last);
    t.docker.push(d);
    if (last) saveDaemon = d.d;
    t.strataStdin.push(await strataLoad(MAIN_TAR, MAIN_TAG, 'stdin'));
  }
  const dv = saveDaemon!.version;
  console.log(`dockerd ${dv.Server.Version} (overlay2, a new data root per load), client ${DOCKER_CLIENT} ${dv.Client.Version}; strata start-up (\`strata images\`, empty root): ${median(startup).toFixed(0)} ms`);
  const msOf = (rs: Run[]) => rs.map((r) => r.ms);
  console.log(ratioLine('load -i', msOf(t.strataFile), msOf(t.docker)));
  console.log(ratioLine('load < stdin', msOf(t.strataStdin), msOf(t.docker)));
  console.log(`  strata peak RSS: load -i ${max(t.strataFile.map((r) => r.rssMB)).toFixed(0)} MB, load < stdin ${max(t.strataStdin.map((r) => r.rssMB)).toFixed(0)} MB   [dockerd's peak ${max(t.docker.map((r) => r.rssMB)).toFixed(0)} MB]`);

  // Save: the image loaded above, strata and docker alternating.
  const sv = { strata: [] as Run[], docker: [] as Run[] };
  for (let i = 0; i < RUNS; i++) {
    sv.strata.push(await strataSave(saveRoot, MAIN_TAG, out));
    sv.docker.push(await dockerSave(saveDaemon!, MAIN_TAG, outDocker));
    if (i === 0) {
      const same = fs.statSync(out).size === fs.statSync(outDocker).size && sha256File(out) === sha256File(outDocker);
      console.log(`  strata save and docker save wrote ${same ? 'identical archives' : 'DIFFERENT archives'} (${(fs.statSync(out).size / 1e6).toFixed(0)} MB)`);
    }
    fs.rmSync(out, { force: true });
    fs.rmSync(outDocker, { force: true });
  }
  await saveDaemon!.stop();
  console.log(ratioLine('save -o', msOf(sv.strata), msOf(sv.docker)));
  console.log(`  strata peak RSS: save ${max(sv.strata.map((r) => r.rssMB)).toFixed(0)} MB   [dockerd's peak ${max(sv.docker.map((r) => r.rssMB)).toFixed(0)} MB]`);

  // The 1 GiB layer: peak RSS, and the times for what they are worth.
  const big = { load: [] as Run[], stdin: [] as Run[], save: [] as Run[], dLoad: [] as Run[], dSave: [] as Run[] };
  for (let i = 0; i < BIG_RUNS; i++) {
    const a = await strataLoad(BIG_TAR, BIG_TAG, 'file');
    big.load.push(a);
    const d = await dockerLoadFresh(BIG_TAR, BIG_TAG, true);
    big.dLoad.push(d);
    big.stdin.push(await strataLoad(BIG_TAR, BIG_TAG, 'stdin'));
    big.save.push(await strataSave(a.root, BIG_TAG, out));
    fs.rmSync(out, { force: true });
    big.dSave.push(await dockerSave(d.d, BIG_TAG, outDocker));
    fs.rmSync(outDocker, { force: true });
    await d.d.stop();
  }
  const rss = (rs: Run[]) => max(rs.map((r) => r.rssMB));
  const rssLine = (what: string, rs: Run[], d: Run[]) =>
    `${what.padEnd(24)} strata peak RSS ${rss(rs).toFixed(0).padStart(4)} MB ${rss(rs) < TARGET_RSS_MB ? 'ok' : 'ABOVE'} (target < ${TARGET_RSS_MB} MB)   [dockerd's peak ${rss(d).toFixed(0)} MB]`;
  console.log(`1 GiB layer (${BIG_RUNS === 1 ? 'one run each' : `median of ${BIG_RUNS}`}):`);
  console.log(rssLine('  load -i', big.load, big.dLoad));
  console.log(rssLine('  load < stdin', big.stdin, big.dLoad));
  console.log(rssLine('  save -o', big.save, big.dSave));
  console.log(ratioLine('  load -i', msOf(big.load), msOf(big.dLoad)));
  console.log(ratioLine('  load < stdin', msOf(big.stdin), msOf(big.dLoad)));
  console.log(ratioLine('  save -o', msOf(big.save), msOf(big.dSave)));

  if (PROFILE) {
    await profile('strata load -i main', (f) => strataArgv(freshRoot(), ['load', '-i', MAIN_TAR, '-q'], f));
    await profile('strata load stdin main', (f) => strataArgv(freshRoot(), ['load', '-q'], f), MAIN_TAR);
    await profile('strata save main', (f) => strataArgv(saveRoot, ['save', MAIN_TAG, '-o', out, '-q'], f));
  }
} finally {
  for (const d of daemons) await d.stop().catch((e: unknown) => console.error(String(e)));
  removeMany(SCRATCH);
}
