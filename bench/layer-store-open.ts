/**
 * Opening a big layer store: 10,000 layers and 1,000 RW layers, real files on disk, shaped like a
 * busy host (400 images of ~25 layers over 30 shared base chains; each RW layer on an image's top
 * layer, with an init layer). Measured: `openLayerStore({ readOnly: true })` + `close()` — once
 * cold (page cache dropped) and warm (median of BENCH_RUNS, default 5) — and the same open given
 * an already started driver (the layerdb load alone, without overlay2's start-up checks).
 *
 * Anchor, in the same run: the least any loader must do — a plain loop that lists `sha256/` and
 * `mounts/` and reads each layer's `diff`, `size`, `cache-id`, `parent` and each mount's
 * `mount-id`, `init-id`, `parent` with readFileSync. Target: open < 1 s.
 *
 * The store is generated once with the layerdb API (write-set transactions, a tiny tar-split per
 * layer, saveMount) plus an empty `overlay2/<id>/diff` per layer, RW layer and init layer, and
 * cached in /var/tmp/strata-bench/layer-store-10k (BENCH_STORE_ROOT); it is rebuilt when missing
 * or of another shape.
 *
 *   node --import tsx bench/layer-store-open.ts
 */
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { chainId as chainIdOf, type Digest } from '../src/digest/index.js';
import { openDriver } from '../src/driver/index.js';
import { EntryType } from '../src/archive/tarsplit/index.js';
import { openLayerStore, metadata } from '../src/layer/index.js';

const ROOT = process.env.BENCH_STORE_ROOT ?? '/var/tmp/strata-bench/layer-store-10k';
const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const SHAPE = { version: 1, layers: 10_000, mounts: 1_000, bases: 30, seed: 20_201 };
const MARKER = 'bench-shape.json';

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const ms = (t0: bigint) => Number(process.hrtime.bigint() - t0) / 1e6;

/** mulberry32: the same store every time it is generated. */
function rng(seed: number): { int(lo: number, hi: number): number; hex(bytes: number): string } {
  let s = seed >>> 0;
  const next = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (lo: number, hi: number) => lo + Math.floor(next() * (hi - lo));
  return { int, hex: (bytes) => Array.from({ length: bytes }, () => int(0, 256).toString(16).padStart(2, '0')).join('') };
}

function isBuilt(root: string): boolean {
  try {
    return fs.readFileSync(path.join(root, MARKER), 'utf8') === JSON.stringify(SHAPE);
  } catch {
    return false;
  }
}

/** Builds the store in a scratch dir next to `root`, then renames it into place. */
async function build(root: string): Promise<void> {
  const t0 = process.hrtime.bigint();
  fs.rmSync(root, { recursive: true, force: true });
  const work = `${root}.building-${process.pid}`;
  fs.rmSync(work, { recursive: true, force: true });
  const db = new metadata.MetadataStore(path.join(work, 'image', 'overlay2', 'layerdb'));
  const home = path.join(work, 'overlay2');
  fs.mkdirSync(path.join(home, 'l'), { recursive: true, mode: 0o700 });
  const r = rng(SHAPE.seed);
  const driverDir = (id: string) => fs.mkdirSync(path.join(home, id, 'diff'), { recursive: true });

  let count = 0;
  const addLayer = async (parent: Digest | undefined): Promise<Digest> => {
    const diffId = `sha256:${r.hex(32)}` as Digest;
    const cacheId = r.hex(32);
    const chain = chainIdOf(parent, diffId);
    const tx = db.startTransaction();
    try {
      const packer = tx.tarSplitWriter();
      packer.add({ type: EntryType.Segment, payload: Buffer.alloc(1024), position: 0 }); // an empty tar: its end blocks
      await packer.close();
      tx.setLayer({ diffId, size: r.int(0, 50_000_000), cacheId, ...(parent ? { parent } : {}) });
      tx.commit(chain);
    } finally {
      await tx.cancel();
    }
    driverDir(cacheId);
    if (++count % 1000 === 0) process.stderr.write(`  generating: ${count} layers\n`);
    return chain;
  };
  const chainOf = async (base: Digest | undefined, n: number): Promise<Digest> => {
    let top = base;
    for (let i = 0; i < n; i++) top = await addLayer(top);
    return top!;
  };

  // 30 shared base chains (a distro and its runtime layers: 3–8 deep), then images over them
  // (one in ten from scratch), each adding 10–38 layers of its own, until there are 10,000.
  const bases: Digest[] = [];
  for (let i = 0; i < SHAPE.bases; i++) bases.push(await chainOf(undefined, r.int(3, 9)));
  const tops: Digest[] = [];
  while (count < SHAPE.layers) {
    const base = r.int(0, 10) === 0 ? undefined : bases[r.int(0, bases.length)];
    tops.push(await chainOf(base, Math.min(r.int(10, 39), SHAPE.layers - count)));
  }
  for (let i = 0; i < SHAPE.mounts; i++) {
    const mountId = r.hex(32);
    db.saveMount(r.hex(32), { mountId, initId: `${mountId}-init`, parent: tops[r.int(0, tops.length)]! });
    driverDir(mountId);
    driverDir(`${mountId}-init`);
  }
  fs.writeFileSync(path.join(work, MARKER), JSON.stringify(SHAPE));
  fs.renameSync(work, root);
  process.stderr.write(`  generated ${count} layers (${tops.length} images over ${bases.length} bases) and ${SHAPE.mounts} RW layers in ${(ms(t0) / 1000).toFixed(0)} s: ${root}\n`);
}

/** The anchor: the files any loader has to read, read as plainly as Node can. */
function rawReads(root: string): { layers: number; mounts: number } {
  const db = `${root}/image/overlay2/layerdb`;
  const optional = (f: string) => {
    try {
      return fs.readFileSync(f, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      return undefined;
    }
  };
  let layers = 0;
  let mounts = 0;
  let bytes = 0;
  for (const name of fs.readdirSync(`${db}/sha256`)) {
    const dir = `${db}/sha256/${name}`;
    bytes += fs.readFileSync(`${dir}/diff`, 'utf8').length + fs.readFileSync(`${dir}/size`, 'utf8').length;
    bytes += fs.readFileSync(`${dir}/cache-id`, 'utf8').length + (optional(`${dir}/parent`)?.length ?? 0);
    layers++;
  }
  for (const name of fs.readdirSync(`${db}/mounts`)) {
    const dir = `${db}/mounts/${name}`;
    bytes += fs.readFileSync(`${dir}/mount-id`, 'utf8').length + (optional(`${dir}/init-id`)?.length ?? 0) + (optional(`${dir}/parent`)?.length ?? 0);
    mounts++;
  }
  if (bytes === 0) throw new Error('nothing read');
  return { layers, mounts };
}

async function strataOpen(driver?: Awaited<ReturnType<typeof openDriver>>['driver']): Promise<{ layers: number; mounts: number; problems: number }> {
  const store = await openLayerStore({ root: ROOT, driver: driver ?? 'overlay2', readOnly: true });
  try {
    return { layers: store.layers().length, mounts: store.mounts().length, problems: store.problems.length };
  } finally {
    await store.close();
  }
}

function dropCaches(): boolean {
  try {
    execFileSync('sync');
    fs.writeFileSync('/proc/sys/vm/drop_caches', '3');
    return true;
  } catch {
    return false;
  }
}

if (!isBuilt(ROOT)) await build(ROOT);

const line = (what: string, open: number, raw: number) =>
  `${what}strata open ${open.toFixed(0)} ms   raw reads ${raw.toFixed(0)} ms   ratio ${(open / raw).toFixed(2)}x   (target: open < 1000 ms)`;

// Cold: the page cache dropped before each (this is also the process's first open).
if (dropCaches()) {
  let t0 = process.hrtime.bigint();
  const got = await strataOpen();
  const open = ms(t0);
  if (got.layers !== SHAPE.layers || got.mounts !== SHAPE.mounts || got.problems !== 0) throw new Error(`strata loaded ${JSON.stringify(got)}`);
  dropCaches();
  t0 = process.hrtime.bigint();
  rawReads(ROOT);
  console.log(line('cold (page cache dropped):   ', open, ms(t0)));
} else {
  console.log('cold: skipped (dropping the page cache needs root)');
}

// Warm: alternating, median of RUNS.
const opens: number[] = [];
const raws: number[] = [];
for (let i = 0; i < RUNS; i++) {
  let t0 = process.hrtime.bigint();
  const got = await strataOpen();
  opens.push(ms(t0));
  if (got.layers !== SHAPE.layers || got.mounts !== SHAPE.mounts || got.problems !== 0) throw new Error(`strata loaded ${JSON.stringify(got)}`);
  t0 = process.hrtime.bigint();
  const raw = rawReads(ROOT);
  raws.push(ms(t0));
  if (raw.layers !== SHAPE.layers || raw.mounts !== SHAPE.mounts) throw new Error(`raw reads found ${JSON.stringify(raw)}`);
}
console.log(line(`warm (median of ${RUNS}):          `, median(opens), median(raws)));

// Where an open's time goes: starting overlay2 (its support checks mount three test overlays and
// read the driver home's dirents) and, with a started driver, the layerdb load alone.
const starts: number[] = [];
const loads: number[] = [];
for (let i = 0; i < RUNS; i++) {
  let t0 = process.hrtime.bigint();
  const { driver } = await openDriver({ root: ROOT, name: 'overlay2' });
  starts.push(ms(t0));
  t0 = process.hrtime.bigint();
  await strataOpen(driver);
  loads.push(ms(t0));
}
console.log(`  of which: starting overlay2 ${median(starts).toFixed(0)} ms, the layerdb load (driver started) ${median(loads).toFixed(0)} ms`);
