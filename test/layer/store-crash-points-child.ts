/**
 * Child process for store-crash-points.test.ts: runs one layer-store operation on a data root the
 * parent prepared, and SIGKILLs itself just before its n-th file-system step — so the parent can
 * walk a kill through every step of the operation, deterministically.
 *
 *   node --import tsx test/layer/store-crash-points-child.ts <root>
 *
 * Says `loaded`; reads `go <scenario> <n>` on stdin; opens the store and prepares (a mount, for
 * releaseRWLayer); then counts the steps of the operation — the synchronous fs calls that change
 * something, and every open (the store's renames are native calls, each followed by an fsync of
 * its directory, which opens it) — and kills itself before step n, saying which step that was.
 * An operation that ends before step n prints `steps <count>` and exits 0. Steps inside a layer's
 * `diff/` (the applied tar's files, the init layer's files) and inside a recursive remove (Node's
 * rmSync walks with Buffer paths) are not counted: they change one directory's contents, not what
 * names it.
 */
import fs from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import { openLayerStore, dockerInit } from '../../src/layer/index.js';
import { SCENARIOS, tinyTar, type Scenario } from './store-crash-shared.js';

const root = process.argv[2]!;
process.stdout.write('loaded\n');
const go = await new Promise<string>((resolve) => {
  let buf = '';
  process.stdin.on('data', (b: Buffer) => {
    buf += b.toString();
    if (buf.includes('\n')) resolve(buf.slice(0, buf.indexOf('\n')));
  });
});
process.stdin.destroy(); // one line is all it reads; an open stdin would keep the process alive
const [, scenario, nText] = go.split(' ') as [string, Scenario, string];
if (!SCENARIOS.includes(scenario)) throw new Error(`unknown scenario ${scenario}`);
const killAt = Number(nText);

let counting = false;
let steps = 0;
const notAStep = (p: unknown) => typeof p !== 'string' || /\/(diff|merged)\//.test(p);
const STEPS = ['openSync', 'writeSync', 'mkdirSync', 'rmdirSync', 'rmSync', 'unlinkSync', 'renameSync', 'symlinkSync', 'writeFileSync'] as const;
const fsAny = fs as unknown as Record<string, (...args: unknown[]) => unknown>;
const fds = new Map<number, string>();
for (const name of STEPS) {
  const real = fsAny[name]!;
  fsAny[name] = function (this: unknown, ...args: unknown[]) {
    const subject = name === 'writeSync' ? fds.get(args[0] as number) : args[0];
    if (counting && !notAStep(subject) && ++steps === killAt) {
      process.stdout.write(`killed before step ${steps}: fs.${name}(${JSON.stringify(subject)})\n`);
      process.kill(process.pid, 'SIGKILL');
    }
    const r = real.apply(this, args);
    if (name === 'openSync' && typeof args[0] === 'string') fds.set(r as number, args[0]);
    return r;
  };
}
syncBuiltinESMExports();

const store = await openLayerStore({ root, driver: 'overlay2' });
const top = [...store.layers()].sort((a, b) => b.depth - a.depth)[0];
let op: () => Promise<unknown>;
switch (scenario) {
  case 'register-base':
    op = () => store.register(tinyTar('new-base'));
    break;
  case 'register-child':
    op = () => store.register(tinyTar('new-child'), top!.chainId);
    break;
  case 'register-dedup':
    op = () => store.register(tinyTar('base')); // the tar of the existing base layer
    break;
  case 'createRWLayer':
    op = () => store.createRWLayer('new-rw', top!.chainId, { init: dockerInit() });
    break;
  case 'releaseRWLayer': {
    const rw = store.getRWLayer('rw');
    await rw.mount(); // still mounted: the driver's remove unmounts
    op = () => store.releaseRWLayer(rw); // and with it the two layers under it, which nothing else holds
    break;
  }
  case 'remove':
    op = () => store.remove(top!.chainId); // the top layer, then its parent
    break;
}
counting = true;
await op();
counting = false;
process.stdout.write(`steps ${steps}\n`);
await store.cleanup();
await store.close();
