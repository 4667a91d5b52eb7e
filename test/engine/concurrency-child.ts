/**
 * One of the eight processes of concurrency.test.ts: a seeded mix of `ops` operations on one data
 * root, each as a `strata` command does it — the data root opened (waiting for its lock), one
 * verb, closed: load (of archives sharing base layers), create, rm, commit, rmi, prune, and
 * images (read-only, under the shared lock).
 *
 *   node concurrency-child.mjs <root> <seed> <ops> <archives.json> <log>
 *
 * While it holds the lock, each operation appends two lines to `log` — the store's state when it
 * got the lock and when it is about to let go (`<pid> <n> <op> begin|end <state hash>`) — so the
 * parent can check, in lock order, that no operation ever saw anything but what the last writer
 * left. What it picks it picks inside the lock, from what is there, so a failure is a real one;
 * only docker's own refusals (an image in use, a tag in several repositories) are expected.
 * Prints `loaded`, then waits for one line on stdin; ends with `done <counts> <CPU ms>` and status 0, or
 * prints the error and exits 1.
 */
import fs from 'node:fs';
import path from 'node:path';
import { withEngine, loadImages, createContainer, removeContainer, commitContainer, removeImage, pruneImages, type Engine } from '../../src/engine/index.js';
import { StrataError } from '../../src/errors/index.js';
import { Rng } from '../layer/store-crash-shared.js';
import { stateHash } from './crash-checks.js';

const [root, seedText, opsText, archivesFile, log] = process.argv.slice(2) as [string, string, string, string, string];
const archives = JSON.parse(fs.readFileSync(archivesFile, 'utf8')) as string[];
const rng = new Rng(Number(seedText));
const OPS = Number(opsText);

const WEIGHTS: [string, number][] = [
  ['load', 0.28],
  ['create', 0.16],
  ['rm', 0.12],
  ['commit', 0.1],
  ['rmi', 0.12],
  ['prune', 0.04],
  ['images', 0.18],
];
const EXPECTED = new Set(['IMAGE_DELETE_CONFLICT']);

async function op(n: number, kind: string, engine: Engine): Promise<string> {
  const tags = engine.images.images().flatMap((i) => engine.images.references.references(i.id).map((r) => r.familiarString()));
  const containers = engine.containers.list();
  switch (kind) {
    case 'load':
      return `${(await loadImages(engine, rng.pick(archives)!)).images.length} images`;
    case 'create': {
      const tag = rng.pick(tags);
      if (!tag) return 'no image';
      return (await createContainer(engine, tag, { name: `c${process.pid}-${n}` })).name;
    }
    case 'rm': {
      const c = rng.pick(containers);
      if (!c) return 'no container';
      return `${(await removeContainer(engine, c.name)).length} layers deleted`;
    }
    case 'commit': {
      const c = rng.pick(containers);
      if (!c || !engine.images.has(c.image)) return 'no container';
      const rw = engine.layers.getRWLayer(c.id);
      const rootfs = await rw.mount();
      try {
        fs.mkdirSync(path.join(rootfs, 'work'), { recursive: true });
        fs.writeFileSync(path.join(rootfs, 'work', `by-${process.pid}-${n}`), Buffer.alloc(rng.int(0, 20_000), n % 256));
      } finally {
        await rw.unmount();
      }
      return (await commitContainer(engine, c.name, { tag: `commit:p${process.pid}-${n}` })).id;
    }
    case 'rmi': {
      const tag = rng.pick(tags);
      if (!tag) return 'no image';
      return `${(await removeImage(engine, tag)).length} records`;
    }
    case 'prune':
      return `${(await pruneImages(engine, { all: rng.next() < 0.3 })).deleted.length} records`;
    default:
      return `${engine.images.images().length} images`;
  }
}

process.stdout.write('loaded\n');
await new Promise<void>((resolve) => process.stdin.once('data', () => resolve()));
process.stdin.destroy();

const counts = new Map<string, number>();
try {
  for (let n = 0; n < OPS; n++) {
    let r = rng.next() * WEIGHTS.reduce((a, [, w]) => a + w, 0);
    const kind = WEIGHTS.find(([, w]) => (r -= w) < 0)?.[0] ?? 'images';
    const readOnly = kind === 'images';
    await withEngine({ root, driver: 'overlay2', readOnly }, async (engine) => {
      fs.appendFileSync(log, `${process.pid} ${n} ${kind} begin ${stateHash(engine)}\n`);
      let outcome: string;
      try {
        outcome = await op(n, kind, engine);
      } catch (e) {
        if (!(e instanceof StrataError && EXPECTED.has(e.code))) throw e;
        outcome = e.code;
      }
      fs.appendFileSync(log, `${process.pid} ${n} ${kind} end ${stateHash(engine)} ${outcome.replace(/\s+/g, '_')}\n`);
    });
    counts.set(kind, (counts.get(kind) ?? 0) + 1);
  }
  const cpu = process.cpuUsage();
  process.stdout.write(`done ${JSON.stringify(Object.fromEntries(counts))} ${Math.round((cpu.user + cpu.system) / 1000)}\n`);
} catch (e) {
  process.stderr.write(`process ${process.pid}: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
}
