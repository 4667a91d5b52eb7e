/**
 * Applying a layer: strata's full register path against GNU `tar -x` of the same tar.
 *
 * strata's side does everything dockerd's layer store does while applying a layer to overlay2:
 * SHA-256 of the raw stream (the DiffID), tar-split recorded to a gzip file with a CRC-64 per
 * file, whiteouts converted to overlay form, owners/modes/times/xattrs restored, then the layer
 * size measured (directory.Size). GNU tar only extracts. Both read the same page-cached file.
 *
 *   npx tsx bench/apply-layer.ts [TAR]     (default: a debootstrap minbase rootfs, built once)
 *
 * Prints, for a disk-backed directory (where a data root lives: /var/tmp) and for a tmpfs (where
 * nothing but CPU counts), the median of the runs of each and the ratio strata / tar (target
 * ≤ 1.2), then the parse-only throughput of the tar reader (target ≥ 1 GB/s).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { TarReader } from '../src/archive/tar/index.js';
import { recordTarSplit, createTarSplitWriter } from '../src/archive/tarsplit/index.js';
import { applyLayer } from '../src/archive/apply/index.js';
import { hashing } from '../src/digest/index.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const tarPath = process.argv[2] ?? execFileSync('bash', [path.join(import.meta.dirname, 'rootfs.sh')], { encoding: 'utf8' }).trim();
const size = fs.statSync(tarPath).size;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function time(scratch: string, fn: (dir: string) => Promise<void> | void): Promise<number> {
  const dir = fs.mkdtempSync(path.join(scratch, 'run-'));
  execFileSync('sync');
  const t0 = process.hrtime.bigint();
  await fn(dir);
  const dt = Number(process.hrtime.bigint() - t0) / 1e9;
  fs.rmSync(dir, { recursive: true, force: true });
  return dt;
}

async function strataApply(dir: string): Promise<void> {
  const diff = path.join(dir, 'diff');
  fs.mkdirSync(diff);
  const packer = createTarSplitWriter(path.join(dir, 'tar-split.json.gz'));
  let diffId = '';
  const source = hashing(fs.createReadStream(tarPath, { highWaterMark: 1 << 20 }), (d) => (diffId = d));
  const reader = new TarReader(source);
  await applyLayer(recordTarSplit(reader, packer), diff, { whiteouts: 'overlay' });
  await packer.close();
  if (!diffId.startsWith('sha256:')) throw new Error('DiffID was not computed');
}

function gnuTar(dir: string): void {
  execFileSync('tar', ['--xattrs', '--xattrs-include=*', '--numeric-owner', '-xpf', tarPath, '-C', dir]);
}

async function parseOnly(): Promise<number> {
  const t0 = process.hrtime.bigint();
  const reader = new TarReader(fs.createReadStream(tarPath, { highWaterMark: 1 << 20 }));
  for await (const _ of reader) void _;
  for await (const _ of reader.rest()) void _;
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

/** Runs both sides alternately in `scratch` and prints their medians and ratio. */
async function compare(label: string, scratch: string): Promise<void> {
  const tar: number[] = [];
  const ours: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    tar.push(await time(scratch, gnuTar));
    ours.push(await time(scratch, strataApply));
  }
  const ratio = median(ours) / median(tar);
  console.log(`${label.padEnd(22)} GNU tar -x ${median(tar).toFixed(3)} s   strata ${median(ours).toFixed(3)} s   ratio ${ratio.toFixed(2)}x (target <= 1.2x)`);
}

const disk = fs.mkdtempSync('/var/tmp/strata-bench-');
const tmpfs = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-bench-tmpfs-'));
execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4g', 'strata-bench', tmpfs]);
try {
  fs.readFileSync(tarPath); // warm the page cache
  console.log(`layer: ${tarPath} (${(size / 1e6).toFixed(0)} MB), ${RUNS} runs each, medians`);
  await compare(`disk (${path.dirname(disk)})`, disk);
  await compare('tmpfs', tmpfs);
  const parse: number[] = [];
  for (let i = 0; i < RUNS; i++) parse.push(await parseOnly());
  console.log(`tar reader, parse only: ${(size / 1e6 / median(parse)).toFixed(0)} MB/s (target >= 1000 MB/s)`);
} finally {
  execFileSync('umount', [tmpfs]);
  fs.rmSync(tmpfs, { recursive: true, force: true });
  fs.rmSync(disk, { recursive: true, force: true });
}
