/**
 * `strata pull` of a ~200 MB image from a loopback registry, against `docker pull` (dockerd 20.10)
 * and `skopeo copy` of the same image from the same registry, in the same run, as ratios
 * (target ≤ 0.8×).
 *
 * The registry is Debian's docker-registry 2.8 (test/registry/registry.ts), plain HTTP on
 * 127.0.0.1, its storage cached in /var/tmp/strata-bench/pull/registry (BENCH_CACHE): the image
 * is generated once from a fixed seed (four layers: a rootfs-like tree of small files, a runtime
 * with a few MB-sized libraries, thousands of tiny dependency files, two big incompressible
 * assets), written as a `docker save` archive with the engine's imageArchive, and pushed once
 * with `skopeo copy docker-archive:… docker://…` (gzip layers, as any registry holds them).
 *
 * The target is against docker pull, which does the same work; the skopeo ratio is for context.
 *
 * Each side is the real command line, timed from spawn to exit, and each starts empty:
 * - strata: `node bin/strata.js --root NEW -s overlay2 pull HOST/bench/pull:1 -q` (dist/ is
 *   rebuilt first when a file in src/ is newer): download, verify, decompress, register.
 * - docker: `/usr/bin/docker pull HOST/bench/pull:1` against a private dockerd (overlay2)
 *   started for each run on a new data root (start-up not timed): the same work.
 * - skopeo: `skopeo copy docker://HOST/bench/pull:1 dir:NEW`: download and verify only (it keeps
 *   the compressed blobs, extracts nothing), so it is the floor a pull cannot go below.
 * Median of BENCH_RUNS (default 3), the three alternating; `sync` before each run; the
 * registry's blobs are read once first, so the page cache is warm for every side. Nothing is
 * deleted until the end (mass deletions slow file creation on ext4 without a journal for minutes
 * after, see README). Each strata pull's image ID is checked against docker's.
 *
 *   npm run bench -- pull        (or: node --import tsx bench/pull.ts)
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import crypto from 'node:crypto';
import { spawn, execFileSync } from 'node:child_process';
import { pipeline } from 'node:stream/promises';
import { imageArchive } from '../src/engine/build.js';
import { DOCKER_CLIENT, startDockerd, type Dockerd } from '../test/oracle/dockerd.js';
import { startRegistry } from '../test/registry/registry.js';
import { rng, type Rng } from './lib/seeded.js';
import { ensureDist } from './lib/dist.js';
import { createCostUs } from './lib/create-cost.js';

const REPO = path.resolve(import.meta.dirname, '..');
const CACHE = path.join(process.env.BENCH_CACHE ?? '/var/tmp/strata-bench', 'pull');
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const TARGET_RATIO = 0.8;
const SCRATCH = fs.mkdtempSync('/var/tmp/strata-bench-pull-');
const REF_PATH = 'bench/pull:1';

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

// ---------------------------------------------------------------------------------------------
// The image, generated from a seed

/** What the cached registry holds; a change here rebuilds it. */
const SHAPE = { version: 1, seed: 8_200_301 };
const MARKER = path.join(CACHE, 'shape.json');
const REGISTRY_DATA = path.join(CACHE, 'registry');
const MTIME = 1_704_067_200;


/** AES-256-CTR keyed by the seed: fast, deterministic bytes; `text` maps them to a small alphabet. */
function contentSource(seed: number) {
  const cipher = crypto.createCipheriv('aes-256-ctr', crypto.createHash('sha256').update(`strata-bench-pull:${seed}`).digest(), Buffer.alloc(16));
  const ALPHABET = Buffer.from('etaoinshrdlucmfwypvbgkjqxz ETAOIN0123456789      \n\n.,;:(){}="_-/');
  const random = (n: number) => cipher.update(Buffer.alloc(n));
  return {
    random,
    text: (n: number) => {
      const b = random(n);
      for (let i = 0; i < n; i++) b[i] = ALPHABET[b[i]! % ALPHABET.length]!;
      return b;
    },
    /** Like an ELF file: random with about a quarter of its 4 KiB pages zero. */
    binary: (n: number) => {
      const b = random(n);
      for (let off = 0; off < n; off += 4096) if (b[off]! < 64) b.fill(0, off, Math.min(n, off + 4096));
      return b;
    },
  };
}
type Content = ReturnType<typeof contentSource>;

const KB = 1024;
const MB = 1024 * 1024;

/** `count` files of `kind` under `base`, spread over nested directories. */
function files(root: string, base: string, count: number, min: number, max: number, kind: 'text' | 'binary', r: Rng, c: Content, perDir = 20): void {
  const dirs = Array.from({ length: Math.max(1, Math.ceil(count / perDir)) }, () => path.join(base, ...Array.from({ length: r.int(0, 3) }, () => r.name())));
  for (let i = 0; i < count; i++) {
    const dir = path.join(root, dirs[r.int(0, dirs.length)]!);
    fs.mkdirSync(dir, { recursive: true });
    const size = r.logSize(min, max);
    fs.writeFileSync(path.join(dir, `${r.name()}${i}`), kind === 'text' ? c.text(size) : c.binary(size));
  }
}

function fixTimes(dir: string): void {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) fixTimes(p);
    fs.lutimesSync(p, MTIME, MTIME);
  }
  fs.lutimesSync(dir, MTIME, MTIME);
}

/** The four layer directories (~200 MB, ~9,000 files). */
function layerTrees(work: string): string[] {
  const r = rng(SHAPE.seed);
  const c = contentSource(SHAPE.seed);
  const dirs = ['base', 'runtime', 'deps', 'assets'].map((n) => path.join(work, n));
  const [base, runtime, deps, assets] = dirs as [string, string, string, string];
  files(base, 'etc', 200, 100, 8 * KB, 'text', r, c);
  files(base, 'usr/bin', 250, 8 * KB, 500 * KB, 'binary', r, c, 250);
  files(base, 'usr/lib/x86_64-linux-gnu', 400, 4 * KB, 700 * KB, 'binary', r, c, 100);
  files(base, 'usr/share/doc', 1200, 300, 30 * KB, 'text', r, c, 4);
  files(runtime, 'usr/local/lib/python3.11', 2500, 200, 40 * KB, 'text', r, c, 15);
  files(runtime, 'usr/local/lib', 5, 2 * MB, 8 * MB, 'binary', r, c, 5);
  files(deps, 'app/node_modules', 4500, 100, 8 * KB, 'text', r, c, 12);
  for (const [i, size] of [48 * MB, 24 * MB].entries()) {
    fs.mkdirSync(path.join(assets, 'srv/assets'), { recursive: true });
    fs.writeFileSync(path.join(assets, 'srv/assets', `blob${i}.bin`), c.random(size));
  }
  for (const d of dirs) fixTimes(d);
  return dirs;
}

function cached(): boolean {
  try {
    return fs.readFileSync(MARKER, 'utf8') === JSON.stringify(SHAPE);
  } catch {
    return false;
  }
}

/** Generates the image and pushes it into the cached registry storage (once). */
async function buildCache(): Promise<void> {
  const t0 = Date.now();
  fs.rmSync(CACHE, { recursive: true, force: true });
  const work = fs.mkdtempSync(path.join(SCRATCH, 'build-'));
  process.stderr.write('  generating the image…\n');
  const archive = path.join(work, 'image.tar');
  await pipeline(imageArchive({ layers: layerTrees(work), tag: REF_PATH, scratchDir: work, cmd: ['/bin/sh'] }), fs.createWriteStream(archive));
  process.stderr.write(`  ${(fs.statSync(archive).size / 1e6).toFixed(0)} MB archive; pushing it with skopeo…\n`);
  fs.mkdirSync(REGISTRY_DATA, { recursive: true });
  const reg = await startRegistry({ dataDir: REGISTRY_DATA });
  try {
    execFileSync('skopeo', ['copy', '-q', '--dest-tls-verify=false', `docker-archive:${archive}`, `docker://${reg.host}/${REF_PATH}`], { stdio: ['ignore', 'ignore', 'inherit'] });
  } finally {
    await reg.stop();
  }
  fs.writeFileSync(MARKER, JSON.stringify(SHAPE));
  process.stderr.write(`  cached in ${CACHE} in ${((Date.now() - t0) / 1000).toFixed(0)} s\n`);
}

// ---------------------------------------------------------------------------------------------
// Running the command lines


/** Spawns argv and times it from spawn to exit; throws on a non-zero exit. */
function timed(argv: string[], env: NodeJS.ProcessEnv): Promise<{ ms: number; stdout: string }> {
  execFileSync('sync');
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const child = spawn(argv[0]!, argv.slice(1), { cwd: REPO, env, stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      if (code !== 0) reject(new Error(`${argv.join(' ')}: ${signal ?? `exit ${code}`}\n${Buffer.concat(err).toString()}`));
      else resolve({ ms, stdout: Buffer.concat(out).toString() });
    });
  });
}

/** The environment without anything that could point a client elsewhere. */
function cleanEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!/^(DOCKER_|STRATA_)/.test(k)) env[k] = v;
  return { ...env, ...extra };
}

function fsNote(dir: string): string {
  const [source, fstype] = execFileSync('findmnt', ['-T', dir, '-no', 'SOURCE,FSTYPE'], { encoding: 'utf8' }).trim().split(/\s+/);
  return `data roots on ${fstype} (${source})`;
}

/** Sizes of the image the registry holds: compressed blobs and layers. */
function describeImage(host: string): string {
  const raw = execFileSync('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${host}/${REF_PATH}`], { encoding: 'utf8' });
  const m = JSON.parse(raw) as { layers: { size: number }[] };
  const total = m.layers.reduce((a, l) => a + l.size, 0);
  return `${m.layers.length} layers, ${(total / 1e6).toFixed(0)} MB compressed (${m.layers.map((l) => (l.size / 1e6).toFixed(0)).join(' + ')} MB)`;
}

// ---------------------------------------------------------------------------------------------

if (process.getuid?.() !== 0) throw new Error('this benchmark needs root (overlay2, dockerd)');
let seq = 0;
const fresh = (what: string) => path.join(SCRATCH, `${what}-${seq++}`);
const daemons: Dockerd[] = [];
try {
  if (!cached()) await buildCache();
  ensureDist();
  const reg = await startRegistry({ dataDir: REGISTRY_DATA });
  try {
    const ref = `${reg.host}/${REF_PATH}`;
    execFileSync('bash', ['-c', 'find "$1" -type f -exec cat {} + > /dev/null', '-', REGISTRY_DATA]);
    console.log(`image: ${describeImage(reg.host)}; registry: docker-registry 2.8 on ${reg.host} (plain HTTP)`);
    console.log(`${os.cpus().length} CPUs (${os.cpus()[0]?.model.trim()}), ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB RAM, kernel ${os.release()}, node ${process.version}; ${fsNote(SCRATCH)}; load average ${os.loadavg()[0]!.toFixed(2)}`);
    const createUs = createCostUs(SCRATCH);
    console.log(`creating a small file: ${createUs.toFixed(0)} µs${createUs > 100 ? ' — SLOW: files were deleted on this disk recently (see README); the times below pay for it' : ''}`);

    const t = { strata: [] as number[], docker: [] as number[], skopeo: [] as number[] };
    let dockerVersion = '';
    const strataEnv = cleanEnv({ DOCKER_CONFIG: path.join(SCRATCH, 'docker-config') });
    for (let i = 0; i < RUNS; i++) {
      const root = fresh('strata');
      const st = await timed([process.execPath, path.join(REPO, 'bin/strata.js'), '--root', root, '-s', 'overlay2', 'pull', ref, '-q'], strataEnv);
      if (st.stdout.trim() !== ref) throw new Error(`strata pull printed ${JSON.stringify(st.stdout)}`);
      t.strata.push(st.ms);

      const d = await startDockerd({ dataRoot: fresh('docker') });
      daemons.push(d);
      dockerVersion = d.version.Server.Version;
      t.docker.push((await timed([DOCKER_CLIENT, 'pull', ref], cleanEnv(d.env))).ms);
      const dockerId = (await d.docker(['image', 'inspect', '--format', '{{.Id}}', ref])).stdout.toString().trim();
      await d.stop();
      const images = JSON.parse(execFileSync(process.execPath, [path.join(REPO, 'bin/strata.js'), '--root', root, '--json', 'images'], { env: strataEnv, encoding: 'utf8' })) as { id: string }[];
      if (images.length !== 1 || images[0]!.id !== dockerId) throw new Error(`strata pulled ${JSON.stringify(images.map((x) => x.id))}, docker ${dockerId}`);

      t.skopeo.push((await timed(['skopeo', 'copy', '-q', '--src-tls-verify=false', `docker://${ref}`, `dir:${fresh('skopeo')}`], cleanEnv({}))).ms);
    }
    const ratio = (a: number[], b: number[]) => median(a) / median(b);
    const line = (anchor: string, ms: number[], verdict: (r: number) => string) => {
      const r = ratio(t.strata, ms);
      return `pull vs ${anchor.padEnd(18)} strata ${s(median(t.strata)).padStart(8)}   ${anchor.split(' ')[0]!.padEnd(6)} ${s(median(ms)).padStart(8)}   ratio ${r.toFixed(2)}x ${verdict(r)}`;
    };
    console.log(`median of ${RUNS}, a new data root (and dockerd ${dockerVersion}) for every pull, sync before each`);
    console.log(line('docker pull', t.docker, (r) => `${Number(r.toFixed(2)) <= TARGET_RATIO ? 'ok' : 'ABOVE'} (target ≤ ${TARGET_RATIO}x)`));
    console.log(line('skopeo copy dir:', t.skopeo, () => '(download and verify only: the floor)'));
    console.log(`  all runs (s): strata ${t.strata.map((x) => (x / 1000).toFixed(2)).join(' ')}; docker ${t.docker.map((x) => (x / 1000).toFixed(2)).join(' ')}; skopeo ${t.skopeo.map((x) => (x / 1000).toFixed(2)).join(' ')}`);
  } finally {
    await reg.stop();
  }
} finally {
  for (const d of daemons) await d.stop().catch((e: unknown) => console.error(String(e)));
  fs.rmSync(SCRATCH, { recursive: true, force: true });
}
