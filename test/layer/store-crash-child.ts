/**
 * Child process for store-crash.test.ts: opens the layer store of an overlay2 data root and runs
 * a seeded random mix of operations — register (sometimes a deduplicated one), createRWLayer with
 * Docker's init layer, commit (a file written into the mounted RW layer, its tar registered),
 * releaseRWLayer, release, remove — as fast as it can, until it is SIGKILLed. With `workers` > 1,
 * that many loops run at once on the one store (calls may overlap: see src/layer/index.ts). What
 * it registers needs no bookkeeping in the parent: every layer's tar must hash to its DiffID.
 *
 *   node --import tsx test/layer/store-crash-child.ts <root>
 *
 * Protocol on stdout (synchronous writes on a pipe, so nothing said is lost to the kill):
 * `loaded` once its modules are imported; then it waits for `go <seed> <workers>` on stdin, opens
 * the store (which recovers what earlier kills left, if the parent did not) and says `ready`;
 * then `op <n> <kind>` before each operation and `done <n>` after it. Any error is printed on
 * stderr and ends the process with status 1 (the parent expects death by SIGKILL).
 */
import fs from 'node:fs';
import path from 'node:path';
import { openLayerStore, dockerInit, LayerStoreError, type Layer, type RWLayer } from '../../src/layer/index.js';
import { Rng, chunks, layerTar, type OpKind } from './store-crash-shared.js';

const root = process.argv[2]!;
const say = (line: string) => process.stdout.write(line + '\n');

say('loaded');
const go = await new Promise<string>((resolve) => {
  let buf = '';
  process.stdin.on('data', (b: Buffer) => {
    buf += b.toString();
    if (buf.includes('\n')) resolve(buf.slice(0, buf.indexOf('\n')));
  });
});
const m = /^go (\d+) (\d+)$/.exec(go);
if (!m) throw new Error(`bad go line ${JSON.stringify(go)}`);
const seed = Number(m[1]);
const workers = Number(m[2]);
const rng = new Rng(seed);

try {
  const store = await openLayerStore({ root, driver: 'overlay2' });
  say('ready');

  const held: Layer[] = [];
  /** RW layers this process holds a handle on, by name, and how often it mounted each. */
  const rws = new Map<string, { rw: RWLayer; mounted: number }>();
  /** RW layers an operation is using (another worker leaves them alone). */
  const busy = new Set<string>();
  let n = 0;
  let opNo = 0;

  const run = async <T>(kind: OpKind, f: () => Promise<T>): Promise<T> => {
    const no = opNo++;
    say(`op ${no} ${kind}`);
    try {
      return await f();
    } finally {
      say(`done ${no}`);
    }
  };
  /** A handle on RW layer `name`: the one held, else a new one (an RW layer a previous child made). */
  const rwOf = (name: string) => {
    let e = rws.get(name);
    if (!e) rws.set(name, (e = { rw: store.getRWLayer(name), mounted: 0 }));
    return e;
  };
  const keepOrRelease = async (l: Layer) => {
    if (rng.next() < 0.7) held.push(l);
    else await run('release', () => store.release(l));
  };

  // Each step reads the store and makes its first call with no await in between, so what it
  // picked is still there when the call starts, whatever the other workers do.
  const step = async (): Promise<void> => {
    const layers = store.layers();
    const mounts = store.mounts().filter((x) => !busy.has(x.name));
    const crowded = layers.length > 30;
    const parentable = layers.filter((l) => l.depth < 100);
    const unheld = layers.filter((l) => l.references.children + l.references.mounts + l.references.handles === 0);
    const weights: [OpKind, number][] = [
      ['register', crowded ? 0.02 : 0.25],
      ['createRWLayer', mounts.length > 8 ? 0 : 0.12],
      ['commit', mounts.length === 0 ? 0 : crowded ? 0.02 : 0.15],
      ['releaseRWLayer', mounts.length === 0 ? 0 : mounts.length > 8 ? 0.3 : 0.14],
      ['release', held.length === 0 ? 0 : crowded ? 0.3 : 0.08],
      ['remove', unheld.length === 0 ? 0 : crowded ? 0.4 : 0.06],
    ];
    let r = rng.next() * weights.reduce((a, [, w]) => a + w, 0);
    const kind = weights.find(([, w]) => (r -= w) < 0)?.[0] ?? 'register';

    switch (kind) {
      case 'register': {
        // One in four from a small pool: the same tar on the same parent dedupes.
        const pooled = rng.next() < 0.25;
        const parent = (pooled && rng.next() < 0.6) || rng.next() < 0.2 ? undefined : rng.pick(parentable)?.chainId;
        const tar = layerTar(pooled ? `pool${rng.int(0, 4)}` : `s${seed}-${n++}`, parent !== undefined);
        await keepOrRelease(await run('register', () => store.register(chunks(tar), parent)));
        break;
      }
      case 'createRWLayer': {
        const parent = rng.next() < 0.1 ? undefined : rng.pick(parentable)?.chainId;
        const name = `c-${rng.hex(8)}`;
        busy.add(name);
        try {
          const rw = await run('createRWLayer', () => store.createRWLayer(name, parent, { init: dockerInit() }));
          rws.set(name, { rw, mounted: 0 });
        } finally {
          busy.delete(name);
        }
        break;
      }
      case 'commit': {
        const name = rng.pick(mounts)!.name;
        const e = rwOf(name);
        busy.add(name);
        try {
          const committed = await run('commit', async () => {
            const rootfs = await e.rw.mount();
            e.mounted++;
            const size = rng.next() < 0.4 ? rng.int(100_000, 500_000) : rng.int(0, 3000);
            fs.mkdirSync(path.join(rootfs, 'work'), { recursive: true });
            fs.writeFileSync(path.join(rootfs, 'work', `f-${seed}-${n++}`), Buffer.alloc(size, `${seed}:${n}`));
            const l = await store.register(e.rw.tarStream(), e.rw.parent);
            if (rng.next() < 0.7) {
              await e.rw.unmount();
              e.mounted--;
            }
            return l;
          });
          await keepOrRelease(committed);
        } finally {
          busy.delete(name);
        }
        break;
      }
      case 'releaseRWLayer': {
        const name = rng.pick(mounts)!.name;
        const e = rwOf(name);
        busy.add(name);
        await run('releaseRWLayer', async () => {
          // Sometimes still mounted: the driver's remove unmounts.
          while (e.mounted > 0 && rng.next() < 0.7) {
            await e.rw.unmount();
            e.mounted--;
          }
          await store.releaseRWLayer(e.rw);
        });
        rws.delete(name);
        busy.delete(name);
        break;
      }
      case 'release': {
        const l = held.splice(rng.int(0, held.length), 1)[0]!;
        await run('release', () => store.release(l));
        break;
      }
      case 'remove': {
        const l = rng.pick(unheld)!;
        try {
          await run('remove', () => store.remove(l.chainId));
        } catch (e) {
          // Another worker's register or createRWLayer may hold it (a hold without a handle).
          if (!(workers > 1 && e instanceof LayerStoreError && e.code === 'LAYER_IN_USE')) throw e;
        }
        break;
      }
    }
  };

  await Promise.all(
    Array.from({ length: workers }, async () => {
      for (;;) await step();
    }),
  );
} catch (e) {
  process.stderr.write(`store-crash child (seed ${seed}, ${workers} workers) failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
}
