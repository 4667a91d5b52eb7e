/**
 * Concurrency (issue 7): eight processes × 50 operations on one data root — loads of archives
 * whose images share base layers, containers created, committed and removed, rmi, prune, and
 * read-only listings — each operation opening the data root as a `strata` command does (see
 * concurrency-child.ts). Waiting for the lock is expected; then:
 *
 * - every process finished within the time limit (a hang is a deadlock) with status 0;
 * - in lock order, each operation found the state the previous writer left, and a reader found
 *   it unchanged when it let go (no write ever happened under another process's lock);
 * - the data root reopens with the last writer's state, loads cleanly, `fsck` is clean;
 * - each layer's reference counts are what the disk implies — children: the layers on it; RW
 *   layers: the mounts on it; handles: the images whose top layer it is — and no layer is held by
 *   nothing; one layer per ChainID, one driver dir per layer (nothing orphaned); RW layers and
 *   container records one to one; no intent, spool or temp file left.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { openEngine, imageArchive, fsck } from '../../src/engine/index.js';
import { intentsDir } from '../../src/engine/intent.js';
import * as sys from '../../src/sys/index.js';
import { tempDir } from '../helpers/tmp.js';
import { checkNothingOrphaned, checkWhole, unmountUnder } from '../layer/store-crash-checks.js';
import { bundleScript } from '../helpers/bundle.js';
import { killAllLoaded, spawnLoaded } from './crash-bundle.js';
import { stateHash } from './crash-checks.js';

const PROCESSES = 8;
const OPS = 50;
const DEADLINE_MS = 240_000;

function tree(dir: string, files: Record<string, string | number>): string {
  for (const [rel, content] of Object.entries(files)) {
    const p = path.join(dir, rel);
    fs.mkdirSync(path.dirname(p), { recursive: true });
    fs.writeFileSync(p, typeof content === 'number' ? Buffer.alloc(content, rel) : content);
  }
  return dir;
}

/** Archives of images that share layers: s:a and s:b share base and mid, s:c shares base, s:d shares nothing. */
async function buildArchives(work: string): Promise<string[]> {
  const src = path.join(work, 'src');
  const base = tree(path.join(src, 'base'), { 'etc/os-release': 'ID=conc\n', 'usr/lib/base': 40_000 });
  const mid = tree(path.join(src, 'mid'), { 'usr/lib/mid': 20_000 });
  const dirs = {
    a: tree(path.join(src, 'a'), { 'srv/a': 'a\n' }),
    b: tree(path.join(src, 'b'), { 'srv/b': 10_000 }),
    c: tree(path.join(src, 'c'), { 'srv/c': 'c\n' }),
    d0: tree(path.join(src, 'd0'), { 'etc/d': 'd\n' }),
    d1: tree(path.join(src, 'd1'), { 'srv/d': 5_000 }),
  };
  const out: string[] = [];
  const build = async (name: string, layers: string[], tag: string) => {
    const file = path.join(work, `${name}.tar`);
    await pipeline(imageArchive({ layers, tag, scratchDir: work }), fs.createWriteStream(file));
    out.push(file);
  };
  await build('a', [base, mid, dirs.a], 's:a');
  await build('b', [base, mid, dirs.b], 's:b');
  await build('c', [base, dirs.c], 's:c');
  await build('d', [dirs.d0, dirs.d1], 's:d');
  await build('a2', [base, mid, dirs.a], 'other/s:a'); // the same image under a second name
  return out;
}

test(`${PROCESSES} processes × ${OPS} operations on one data root: no corruption, counts and dedupe right, no deadlock`, { timeout: DEADLINE_MS + 120_000 }, async (t) => {
  const work = tempDir('strata-concurrency-');
  // A tmpfs: what is tested is the locking, and a disk's fsyncs (hundreds per operation) would
  // only make the run long. overlay2 works on it (d_type, trusted.* xattrs).
  sys.mount('tmpfs', work, 'tmpfs', 0, 'size=1g,mode=0700');
  const root = path.join(work, 'root');
  const log = path.join(work, 'ops.log');
  const t0 = Date.now();
  try {
    const archivesFile = path.join(work, 'archives.json');
    fs.writeFileSync(archivesFile, JSON.stringify(await buildArchives(work)));
    const child = await bundleScript(new URL('./concurrency-child.ts', import.meta.url), path.join(work, 'concurrency-child.mjs'));
    await (await openEngine({ root, driver: 'overlay2' })).close();
    fs.writeFileSync(log, '');

    const children = await Promise.all(
      Array.from({ length: PROCESSES }, (_, i) => spawnLoaded(child, [root, String(1000 + i), String(OPS), archivesFile, log])),
    );
    for (const c of children) c.start('go');
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`not every process finished within ${DEADLINE_MS / 1000} s: a deadlock, or a process stuck waiting for the lock; log tail:\n${fs.readFileSync(log, 'utf8').split('\n').slice(-10).join('\n')}`)), DEADLINE_MS);
    });
    const results = await Promise.race([Promise.all(children.map((c) => c.closed)), deadline]).finally(() => clearTimeout(timer));
    const failed = results.filter((r) => r.code !== 0);
    assert.deepEqual(failed.map((r) => r.stderr.trim()), [], 'processes that failed');
    const counts: Record<string, number> = {};
    let cpuMs = 0;
    for (const r of results) {
      const done = /^done (\{.*\}) (\d+)$/m.exec(r.stdout);
      assert.ok(done, `a process did not report its operations: ${r.stdout}`);
      for (const [k, v] of Object.entries(JSON.parse(done[1]!) as Record<string, number>)) counts[k] = (counts[k] ?? 0) + v;
      cpuMs += Number(done[2]);
    }
    assert.equal(Object.values(counts).reduce((a, b) => a + b, 0), PROCESSES * OPS, 'operations run');

    // Lock order: every begin sees the last writer's end; a reader ends where it began.
    const lines = fs.readFileSync(log, 'utf8').trim().split('\n').map((l) => l.split(' '));
    assert.equal(lines.length, 2 * PROCESSES * OPS, 'two log lines per operation');
    let current: string | undefined;
    const readers = new Map<string, string>();
    const outcomes = new Map<string, number>();
    for (const [pid, n, kind, phase, hash, outcome] of lines) {
      const who = `${pid}#${n} ${kind}`;
      if (phase === 'begin') {
        if (current !== undefined) assert.equal(hash, current, `${who} began on a state the last writer did not leave`);
        if (kind === 'images') readers.set(`${pid}#${n}`, hash!);
      } else if (kind === 'images') {
        assert.equal(hash, readers.get(`${pid}#${n}`), `the state changed under ${who}, a reader`);
        assert.equal(hash, current ?? hash, `${who} ended on a state the last writer did not leave`);
      } else {
        current = hash;
        const key = `${kind}:${/^[A-Z_]+$/.test(outcome ?? '') ? outcome : 'ok'}`;
        outcomes.set(key, (outcomes.get(key) ?? 0) + 1);
      }
    }

    // The data root after: what the last writer left, whole, every count as the disk implies.
    const engine = await openEngine({ root, driver: 'overlay2', lock: 'fail' });
    try {
      assert.equal(stateHash(engine), current, 'the reopened store is not what the last writer left');
      assert.deepEqual(engine.layers.problems, [], 'the layer store did not load cleanly');
      assert.deepEqual(engine.images.problems, [], 'an image did not load');
      assert.deepEqual(engine.layers.recovered, { removedLayers: [], writeSets: [], driverIds: [] }, 'the reopen found interrupted work');
      assert.deepEqual(engine.recovered.intents, [], 'intents were left');
      const whole = await checkWhole(engine.layers);
      checkNothingOrphaned(engine.layers, whole);
      const layers = engine.layers.layers();
      assert.equal(new Set(layers.map((l) => l.chainId)).size, layers.length, 'a ChainID twice');
      const tops = engine.images.images().flatMap((i) => (i.topChainId ? [i.topChainId] : []));
      for (const l of layers) {
        const want = {
          children: layers.filter((c) => c.parent === l.chainId).length,
          mounts: engine.layers.mounts().filter((m) => m.parent === l.chainId).length,
          handles: tops.filter((c) => c === l.chainId).length,
        };
        assert.deepEqual(l.references, want, `reference counts of ${l.chainId}`);
        assert.ok(want.children + want.mounts + want.handles > 0, `layer ${l.chainId} is held by nothing`);
      }
      assert.deepEqual(engine.layers.mounts().map((m) => m.name).sort(), engine.containers.list().map((c) => c.id).sort(), 'RW layers and container records differ');
      assert.deepEqual(fs.readdirSync(engine.tmpDir), [], 'spool left in tmp/');
      assert.deepEqual(fs.existsSync(intentsDir(root)) ? fs.readdirSync(intentsDir(root)) : [], [], 'intent files left');
      t.diagnostic(`${PROCESSES} × ${OPS} operations in ${((Date.now() - t0) / 1000).toFixed(0)} s (the processes' CPU: ${(cpuMs / 1000).toFixed(0)} s): ${JSON.stringify(counts)}; writers' outcomes ${JSON.stringify(Object.fromEntries(outcomes))}; at the end ${layers.length} layers, ${engine.images.images().length} images, ${engine.containers.list().length} containers`);
    } finally {
      await engine.close();
    }
    const ro = await openEngine({ root, driver: 'overlay2', readOnly: true });
    try {
      assert.deepEqual((await fsck(ro)).damaged, [], 'fsck found damage');
    } finally {
      await ro.close();
    }
  } finally {
    await killAllLoaded();
    unmountUnder(work);
  }
});
