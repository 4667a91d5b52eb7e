/**
 * strata's OverlayFS side by side with the kernel's overlay and fuse-overlayfs, on the same layers
 * in the same run: strata through FUSE (`strata-overlay`), strata in-process (the `Overlay` API,
 * no mount), the kernel overlay, and fuse-overlayfs 1.10 (Debian's, the C userspace peer).
 *
 * Nothing is deleted until the end on a disk: on this VM's ext4, files created within minutes of a
 * mass deletion are several times slower to create (see bench/README.md), which would skew
 * `create` against whichever target runs after another's cleanup. On a tmpfs each round's
 * instances are deleted with it (dropInstance). A run needs ~1 GB of /var/tmp, or of
 * BENCH_DIR: on a tmpfs there, create and copy-up compare the overlays' own work without ext4's
 * allocator state, which otherwise decides most of their cost (printed as the create probe).
 *
 * Layers: the debootstrap minbase rootfs (bench/rootfs.sh; the entry count is printed) as
 * the bottom lower, and a small second lower on top that replaces, deletes (whiteouts) and adds
 * entries in /etc and /usr/share/doc, so directories really merge. Each run gets a fresh empty upper.
 *
 * - stat-walk: readdir every directory and lstat every entry, from the root down;
 * - read-all: read every regular file to the end;
 * - create: 5,000 new 100-byte files in 50 new directories;
 * - copy-up: chmod 1,000 lower files (each copied up with its data);
 * - copy-up more: chmod the next 1,000 on the same instance: a copy-up once strata's JavaScript is
 *   warm (V8 optimises it over the first thousand or so), as in a mount that has been in use.
 *
 * Mounts are walked with node:fs (sync calls: the cheapest Node has, so the kernel anchor is at
 * its best), the in-process API with its own promise-returning calls; the kernel mount is also
 * walked with fs.promises, the fair anchor for the API. Medians of BENCH_RUNS (default 5) rounds;
 * a round opens a fresh instance of every target (warmed by one walk) and runs each operation on
 * all of them back to back (measureRound). Targets (issue 6): strata FUSE ≤ 1.0× fuse-overlayfs;
 * API stat-walk faster than the kernel mount's.
 *
 *   [BENCH_DIR=/mnt/tmpfs] node --import tsx bench/ovl.ts [ROOTFS.tar]
 */
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { execFileSync, spawnSync } from 'node:child_process';
import * as sys from '../src/sys/index.js';
import { openOverlay } from '../src/ovl/index.js';
import type { Overlay } from '../src/ovl/types.js';
import { strataOverlayCommand } from '../src/driver/fuse-overlay/index.js';
import { createCostUs } from './lib/create-cost.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const tarPath = process.argv[2] ?? execFileSync('bash', [path.join(import.meta.dirname, 'rootfs.sh')], { encoding: 'utf8' }).trim();
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const now = () => process.hrtime.bigint();
const ms = (t0: bigint) => Number(now() - t0) / 1e6;

const work = fs.mkdtempSync(path.join(process.env.BENCH_DIR ?? '/var/tmp', 'strata-bench-ovl-'));
const base = path.join(work, 'base');
const top = path.join(work, 'top');
fs.mkdirSync(base);
execFileSync('tar', ['--numeric-owner', '--xattrs', '--xattrs-include=*', '-xpf', tarPath, '-C', base]);
buildTopLayer(base, top);

/** The second lower: replaced, deleted and added entries over the rootfs. */
function buildTopLayer(under: string, dir: string): void {
  fs.mkdirSync(path.join(dir, 'etc'), { recursive: true });
  const etc = fs.readdirSync(path.join(under, 'etc'), { withFileTypes: true }).filter((d) => d.isFile());
  etc.slice(0, 20).forEach((d) => fs.writeFileSync(path.join(dir, 'etc', d.name), `replaced ${d.name}\n`));
  etc.slice(20, 30).forEach((d) => sys.mknod(path.join(dir, 'etc', d.name), sys.constants.S_IFCHR, 0, 0));
  for (let i = 0; i < 50; i++) fs.writeFileSync(path.join(dir, 'etc', `added-${i}.conf`), `${i}\n`);
  fs.mkdirSync(path.join(dir, 'usr', 'share', 'doc', 'strata-bench'), { recursive: true });
  for (let i = 0; i < 100; i++) fs.writeFileSync(path.join(dir, 'usr', 'share', 'doc', 'strata-bench', `f${i}`), 'x'.repeat(i * 10));
}

/** Lower regular files to copy up: the first 2,000 found under /usr (not replaced by `top`). */
function copyUpTargets(): string[] {
  const out: string[] = [];
  const walk = (rel: string) => {
    for (const d of fs.readdirSync(path.join(base, rel), { withFileTypes: true })) {
      if (out.length >= 2000) return;
      const r = `${rel}/${d.name}`;
      if (d.isDirectory()) walk(r);
      else if (d.isFile()) out.push(r);
    }
  };
  walk('usr');
  return out;
}
const allTargets = copyUpTargets();
/** The copy-up's files, and copy-up more's (the next ones, on the same instance). */
const [targets, moreTargets] = [allTargets.slice(0, 1000), allTargets.slice(1000)];

/** One file-system surface the four operations run against. */
interface Surface {
  walk(): Promise<number>;
  readAll(): Promise<number>;
  create(): Promise<void>;
  copyUp(): Promise<void>;
  copyUpMore(): Promise<void>;
}

function syncSurface(root: string): Surface {
  const walk = (dir: string, onFile?: (p: string) => void): number => {
    let n = 0;
    for (const d of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = `${dir}/${d.name}`;
      const st = fs.lstatSync(p);
      n++;
      if (st.isDirectory()) n += walk(p, onFile);
      else if (st.isFile() && onFile) onFile(p);
    }
    return n;
  };
  const buf = Buffer.allocUnsafe(1 << 20);
  /** chmod of lower files: each is copied up with its data. */
  const chmodAll = async (files: string[]) => {
    for (const t of files) fs.chmodSync(`${root}/${t}`, 0o600);
  };
  return {
    walk: async () => walk(root),
    readAll: async () => {
      let bytes = 0;
      walk(root, (p) => {
        const fd = fs.openSync(p, 'r');
        try {
          for (let r; (r = fs.readSync(fd, buf, 0, buf.length, null)) > 0; ) bytes += r;
        } finally {
          fs.closeSync(fd);
        }
      });
      return bytes;
    },
    create: async () => {
      const data = Buffer.alloc(100, 'x');
      for (let d = 0; d < 50; d++) {
        fs.mkdirSync(`${root}/bench-new-${d}`);
        for (let i = 0; i < 100; i++) fs.writeFileSync(`${root}/bench-new-${d}/f${i}`, data);
      }
    },
    copyUp: () => chmodAll(targets),
    copyUpMore: () => chmodAll(moreTargets),
  };
}

/** The kernel mount walked with fs.promises: the fair anchor for the in-process API's walk. */
async function promisesWalk(dir: string): Promise<number> {
  let n = 0;
  for (const d of await fsp.readdir(dir, { withFileTypes: true })) {
    const p = `${dir}/${d.name}`;
    const st = await fsp.lstat(p);
    n++;
    if (st.isDirectory()) n += await promisesWalk(p);
  }
  return n;
}

function apiSurface(ovl: Overlay): Surface {
  const S_IFMT = 0o170000;
  const walk = async (dir: string, onFile?: (p: string) => Promise<void>): Promise<number> => {
    let n = 0;
    for (const d of await ovl.readdir(dir)) {
      const p = dir === '/' ? `/${d.name}` : `${dir}/${d.name}`;
      const st = await ovl.lstat(p);
      n++;
      if ((st.mode & S_IFMT) === 0o040000) n += await walk(p, onFile);
      else if ((st.mode & S_IFMT) === 0o100000 && onFile) await onFile(p);
    }
    return n;
  };
  /** chmod of lower files: each is copied up with its data. */
  const chmodAll = async (files: string[]) => {
    for (const t of files) await ovl.chmod(`/${t}`, 0o600);
  };
  return {
    walk: () => walk('/'),
    readAll: async () => {
      let bytes = 0;
      await walk('/', async (p) => {
        bytes += (await ovl.readFile(p)).length;
      });
      return bytes;
    },
    create: async () => {
      const data = Buffer.alloc(100, 'x');
      for (let d = 0; d < 50; d++) {
        await ovl.mkdir(`/bench-new-${d}`);
        for (let i = 0; i < 100; i++) await ovl.writeFile(`/bench-new-${d}/f${i}`, data);
      }
    },
    copyUp: () => chmodAll(targets),
    copyUpMore: () => chmodAll(moreTargets),
  };
}

/**
 * On a tmpfs, nothing keeps the ext4 reason to delete only at the end, and what the rounds leave
 * would pile up in memory: with 20,000 new files and 8,000 copies a round, by the third round
 * every target's copy-up (the kernel's too) took 2–4× as long as in the first two.
 */
const TMPFS_MAGIC = 0x01021994;
const deleteEachRound = fs.statfsSync(work).type === TMPFS_MAGIC;

/** Deletes an instance's dirs once closed, where that is harmless (deleteEachRound). */
function dropInstance(d: { upper: string }): void {
  if (deleteEachRound) fs.rmSync(path.dirname(d.upper), { recursive: true, force: true });
}

/** A fresh upper+work (and mount point) for one run. */
function freshDirs(name: string): { upper: string; workdir: string; merged: string } {
  const d = fs.mkdtempSync(path.join(work, `${name}-`));
  const dirs = { upper: path.join(d, 'upper'), workdir: path.join(d, 'work'), merged: path.join(d, 'merged') };
  Object.values(dirs).forEach((p) => fs.mkdirSync(p));
  return dirs;
}

interface Target {
  name: string;
  /** Sets up a fresh instance; returns the surface and its teardown. */
  open(): Promise<{ surface: Surface; close(): Promise<void> }>;
}

const lowerdir = `${top}:${base}`;
function mounted(name: string, mount: (d: ReturnType<typeof freshDirs>) => void): Target {
  return {
    name,
    open: async () => {
      const d = freshDirs(name);
      mount(d);
      return {
        surface: syncSurface(d.merged),
        close: async () => {
          sys.umount2(d.merged, sys.constants.MNT_DETACH);
          dropInstance(d);
        },
      };
    },
  };
}
const run = (cmd: string, args: string[]) => {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} failed: ${r.stderr || r.error?.message}`);
};
const opts = (d: ReturnType<typeof freshDirs>) => `lowerdir=${lowerdir},upperdir=${d.upper},workdir=${d.workdir}`;

const kernel = mounted('kernel', (d) => sys.mount('overlay', d.merged, 'overlay', 0, `${opts(d)},index=off,redirect_dir=off`));
const fuseOverlayfs = mounted('fuse-overlayfs', (d) => run('fuse-overlayfs', ['-o', opts(d), d.merged]));
const strataFuse = mounted('strata-overlay', (d) => {
  const { file, args } = strataOverlayCommand();
  run(file, [...args, '-o', opts(d), d.merged]);
});
const strataApi: Target = {
  name: 'strata API',
  open: async () => {
    const d = freshDirs('api');
    const ovl = await openOverlay({ lowerdirs: [top, base], upperdir: d.upper, workdir: d.workdir });
    return {
      surface: apiSurface(ovl),
      close: async () => {
        await ovl.close();
        dropInstance(d);
      },
    };
  },
};

type Op = keyof Surface;
const OPS: Op[] = ['walk', 'readAll', 'create', 'copyUp', 'copyUpMore'];
const results = new Map<string, Map<Op, number>>();
/** Every round's time, per target and operation (round i of each target ran back to back). */
const rounds = new Map<string, Map<Op, number[]>>();

/**
 * Round `r`: a fresh instance of every target, each warmed by one walk; then each operation on
 * every target in turn, from target r on (each target goes first in some rounds). The targets of
 * one operation run back to back, within a second or so, so that a slow moment of the machine
 * falls on all of them rather than on one, and each round's ratio compares neighbours.
 */
async function measureRound(targets: Target[], r: number, times: Map<string, Map<Op, number[]>>): Promise<void> {
  const open: { t: Target; surface: Surface; close(): Promise<void> }[] = [];
  try {
    for (const t of targets) {
      const inst = await t.open();
      open.push({ t, ...inst });
      await inst.surface.walk(); // warm: the page cache and the FUSE server's caches
    }
    for (const op of OPS) {
      for (let i = 0; i < open.length; i++) {
        const { t, surface } = open[(i + r) % open.length]!;
        const t0 = now();
        await surface[op]();
        times.get(t.name)!.get(op)!.push(ms(t0));
      }
    }
  } finally {
    for (const inst of open) await inst.close();
  }
}

/** RUNS rounds of every target. */
async function measureAll(targets: Target[]): Promise<void> {
  const times = new Map(targets.map((t) => [t.name, new Map<Op, number[]>(OPS.map((o) => [o, []]))]));
  for (let r = 0; r < RUNS; r++) await measureRound(targets, r, times);
  for (const t of targets) results.set(t.name, new Map(OPS.map((o) => [o, median(times.get(t.name)!.get(o)!)])));
  for (const [name, m] of times) rounds.set(name, m);
}

try {
  const probe = await kernel.open();
  const entries = await probe.surface.walk();
  await probe.close();
  console.log(`layers: rootfs (${path.basename(tarPath)}) + a merging top layer: ${entries} entries in the merged tree; copy-up targets: ${targets.length} + ${moreTargets.length} more`);
  // create and copy-up make new inodes: after mass deletions on ext4 they cost many times more for minutes
  console.log(`creating a small file here costs ${createCostUs(work).toFixed(0)} µs now (compare create and copy-up only when this is low, ~10–20 µs)`);
  await measureAll([kernel, fuseOverlayfs, strataFuse, strataApi]);
  // The fs.promises walk of the kernel mount: the API's fair anchor.
  const promiseWalks: number[] = [];
  for (let r = 0; r < RUNS; r++) {
    const d = freshDirs('kernel-promises');
    sys.mount('overlay', d.merged, 'overlay', 0, `${opts(d)},index=off,redirect_dir=off`);
    try {
      await promisesWalk(d.merged);
      const t0 = now();
      await promisesWalk(d.merged);
      promiseWalks.push(ms(t0));
    } finally {
      sys.umount2(d.merged, sys.constants.MNT_DETACH);
    }
  }

  const pad = (s: string, n: number) => s.padEnd(n);
  console.log(`\n${pad('ms (median of ' + RUNS + ')', 24)}${OPS.map((o) => pad(o, 12)).join('')}`);
  for (const [name, m] of results) console.log(`${pad(name, 24)}${OPS.map((o) => pad(m.get(o)!.toFixed(1), 12)).join('')}`);
  console.log(`${pad('kernel (fs.promises)', 24)}${pad(median(promiseWalks).toFixed(1), 12)}`);
  // every round's ms: how far a median can be trusted, and whether a slow phase hit one target or all
  console.log('\nms each round');
  for (const [name, m] of rounds) for (const op of OPS) console.log(`  ${pad(name, 22)}${pad(op, 12)}${m.get(op)!.map((x) => x.toFixed(0)).join(' ')}`);
  const s = results.get('strata-overlay')!;
  const f = results.get('fuse-overlayfs')!;
  const k = results.get('kernel')!;
  const a = results.get('strata API')!;
  console.log('\nratios');
  // Each round's own ratio too: the two ran back to back, so a slow phase of the machine falls
  // on both; the spread shows how far one run's ratio can be trusted.
  const perRound = (op: Op) => rounds.get('strata-overlay')!.get(op)!.map((x, i) => (x / rounds.get('fuse-overlayfs')!.get(op)![i]!).toFixed(2));
  for (const op of OPS) console.log(`  strata FUSE / fuse-overlayfs  ${pad(op, 10)} ${(s.get(op)! / f.get(op)!).toFixed(2)}×   (target ≤ 1.0×; each round: ${perRound(op).join(' ')})`);
  for (const op of OPS) console.log(`  strata FUSE / kernel          ${pad(op, 10)} ${(s.get(op)! / k.get(op)!).toFixed(2)}×`);
  console.log(`  API stat-walk / kernel mount, fs.promises walk  ${(a.get('walk')! / median(promiseWalks)).toFixed(2)}×   (target < 1×)`);
  console.log(`  API stat-walk / kernel mount, sync walk         ${(a.get('walk')! / k.get('walk')!).toFixed(2)}×`);
} finally {
  fs.rmSync(work, { recursive: true, force: true });
}
