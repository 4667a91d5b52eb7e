/**
 * Child process for corrupt-metadata.test.ts: runs `fsck --repair`'s work (fsck, plan, execute)
 * on a damaged data root and SIGKILLs itself just before the n-th file-system step of the
 * execution — the synchronous fs calls that change something, and every open (the layerdb's
 * renames are native calls, each followed by an fsync of its directory, which opens it).
 *
 *   node --import tsx test/engine/corrupt-metadata-child.ts <root> <n>
 *
 * A repair that ends before step n prints `steps <count>` and exits 0; a kill prints the step.
 */
import fs from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import { openEngine } from '../../src/engine/engine.js';
import { fsck } from '../../src/engine/fsck.js';
import { executeRepair, planRepair } from '../../src/engine/repair.js';

const [root, nText] = process.argv.slice(2) as [string, string];
const killAt = Number(nText);

let counting = false;
let steps = 0;
const STEPS = ['openSync', 'writeSync', 'mkdirSync', 'rmdirSync', 'rmSync', 'unlinkSync', 'renameSync', 'symlinkSync', 'writeFileSync'] as const;
const fsAny = fs as unknown as Record<string, (...args: unknown[]) => unknown>;
for (const name of STEPS) {
  const real = fsAny[name]!;
  fsAny[name] = function (this: unknown, ...args: unknown[]) {
    if (counting && ++steps === killAt) {
      process.stdout.write(`killed before step ${steps}: fs.${name}(${JSON.stringify(typeof args[0] === 'number' ? `fd ${args[0]}` : args[0])})\n`);
      process.kill(process.pid, 'SIGKILL');
    }
    return real.apply(this, args);
  };
}
syncBuiltinESMExports();

const engine = await openEngine({ root, driver: 'overlay2' });
try {
  const plan = await planRepair(engine, await fsck(engine));
  counting = true;
  await executeRepair(engine, plan);
  counting = false;
} finally {
  await engine.close();
}
process.stdout.write(`steps ${steps}\n`);
