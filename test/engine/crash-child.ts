/**
 * Child process of the engine crash trials (crash-harness.ts): runs one `strata` verb on a data
 * root and SIGKILLs itself just before a chosen file-system step of it.
 *
 *   node crash-child.mjs      (bundled by crash-bundle.ts; or: node --import tsx test/engine/crash-child.ts)
 *
 * Says `loaded` once its modules are in; reads one line from stdin,
 * `go {"args":["load","-i","x.tar"],"full":"<root A>","target":"<root B>","seed":123}`:
 *
 * 1. runs `strata --root A <args>` to the end, counting its steps: `full <steps> <exit code>`;
 * 2. picks step k in 1..steps from the seed (`kill-at <k>`) and runs the same on root B (a copy
 *    of the same template), killing itself before step k: `killed before step k: fs.renameSync(…)`.
 *    A run that ends first (counts vary by a step or two: gzip output comes in chunks that depend
 *    on timing) says `finished <steps> <exit code>`.
 *
 * `args` of `["recover"]` is no verb but a writable open and close of the engine: what a crashed
 * root's recovery does, to kill that too.
 *
 * A step is any call that changes the file system or opens a file — synchronous (the stores' own
 * writes, write-set renames go through src/sys and are each followed by an fsync of the directory,
 * which opens it), promise-based (the spool of a compressed archive) and FileHandle writes —
 * except inside a layer's `diff/` or `merged/` (the layer's files: one directory's contents, not
 * what names it) and Buffer paths (recursive removes).
 */
import fs from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import { main } from '../../src/cli/main.js';
import { openEngine } from '../../src/engine/index.js';
import { Rng } from '../layer/store-crash-shared.js';

const say = (line: string) => process.stdout.write(line + '\n'); // a pipe: synchronous, so nothing said is lost to the kill

let counting = false;
let steps = 0;
let killAt = Infinity;

function step(name: string, subject: unknown): void {
  if (!counting || typeof subject !== 'string' || /\/(diff|merged)\//.test(subject)) return;
  if (++steps === killAt) {
    say(`killed before step ${steps}: fs.${name}(${JSON.stringify(subject)})`);
    process.kill(process.pid, 'SIGKILL');
  }
}

const fsAny = fs as unknown as Record<string, (...args: unknown[]) => unknown>;
const fdPaths = new Map<number, string>();
const SYNC = ['openSync', 'writeSync', 'writevSync', 'mkdirSync', 'mkdtempSync', 'rmdirSync', 'rmSync', 'unlinkSync', 'renameSync', 'symlinkSync', 'linkSync', 'writeFileSync', 'copyFileSync', 'ftruncateSync', 'truncateSync'];
for (const name of SYNC) {
  const real = fsAny[name]!;
  fsAny[name] = function (this: unknown, ...args: unknown[]) {
    step(name, name === 'writeSync' || name === 'writevSync' || name === 'ftruncateSync' ? fdPaths.get(args[0] as number) : args[0]);
    const r = real.apply(this, args);
    if (name === 'openSync' && typeof args[0] === 'string') fdPaths.set(r as number, args[0]);
    return r;
  };
}
const fhPaths = new WeakMap<object, string>();
const promises = fs.promises as unknown as Record<string, (...args: unknown[]) => Promise<unknown>>;
for (const name of ['open', 'writeFile', 'mkdir', 'mkdtemp', 'rm', 'rmdir', 'unlink', 'rename', 'symlink', 'link', 'copyFile', 'truncate']) {
  const real = promises[name]!;
  promises[name] = async function (this: unknown, ...args: unknown[]) {
    step(`promises.${name}`, args[0]);
    const r = await real.apply(this, args);
    if (name === 'open' && typeof args[0] === 'string') fhPaths.set(r as object, args[0]);
    return r;
  };
}
{
  const fh = await fs.promises.open('/dev/null', 'r');
  const proto = Object.getPrototypeOf(fh) as Record<string, (...args: unknown[]) => Promise<unknown>>;
  await fh.close();
  for (const name of ['write', 'writev', 'writeFile', 'truncate']) {
    const real = proto[name]!;
    proto[name] = function (this: object, ...args: unknown[]) {
      step(`FileHandle.${name}`, fhPaths.get(this));
      return real.apply(this, args);
    };
  }
}
syncBuiltinESMExports();

/** One run of the verb on `root`; its exit code. */
async function run(args: string[], root: string): Promise<number> {
  if (args[0] === 'recover') {
    const engine = await openEngine({ root, driver: 'overlay2' });
    await engine.close();
    return 0;
  }
  return main(['--root', root, '--driver', 'overlay2', ...args]);
}

say('loaded');
const line = await new Promise<string>((resolve) => {
  let buf = '';
  process.stdin.on('data', (b: Buffer) => {
    buf += b.toString();
    if (buf.includes('\n')) resolve(buf.slice(0, buf.indexOf('\n')));
  });
});
process.stdin.destroy(); // one line is all it reads; an open stdin would keep the process alive
if (!line.startsWith('go ')) throw new Error(`bad go line ${JSON.stringify(line)}`);
const go = JSON.parse(line.slice(3)) as { args: string[]; full: string; target: string; seed: number };

counting = true;
const fullCode = await run(go.args, go.full);
counting = false;
say(`full ${steps} ${fullCode}`);
if (fullCode !== 0 || steps === 0) process.exit(0); // the parent reports it

killAt = 1 + new Rng(go.seed).int(0, steps);
say(`kill-at ${killAt}`);
steps = 0;
counting = true;
const code = await run(go.args, go.target);
counting = false;
say(`finished ${steps} ${code}`);
