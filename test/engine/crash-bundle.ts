/**
 * Child scripts as one bundled file, for tests that start many children (the crash trials, the
 * concurrency test). Under tsx a child spends about a second of CPU compiling and resolving the
 * sources before it does anything; the same child bundled once by esbuild (which tsx itself uses)
 * starts in a quarter of that.
 *
 *   const file = await bundleScript(new URL('./crash-child.ts', import.meta.url), `${work}/child.mjs`);
 *   spawn(process.execPath, [file, ...args]);
 *
 * The bundle may live anywhere: `import.meta.url` is defined as the URL of src/sys/native.ts, so
 * what finds files next to the sources (the native addon above package.json, zstd's binding, the
 * version) finds them as under tsx; npm packages are bundled in.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath, pathToFileURL } from 'node:url';
import * as esbuild from 'esbuild';

const ANCHOR = new URL('../../src/sys/native.ts', import.meta.url);

/** Bundles `entry` (a TypeScript script) into the ES module `outfile` and returns its path. */
export async function bundleScript(entry: URL, outfile: string): Promise<string> {
  await esbuild.build({
    entryPoints: [fileURLToPath(entry)],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    outfile,
    logLevel: 'error',
    define: { 'import.meta.url': JSON.stringify(pathToFileURL(fileURLToPath(ANCHOR)).href) },
    // CommonJS packages (commander) call require for Node's built-ins.
    banner: { js: "import { createRequire as __strataCreateRequire } from 'node:module'; const require = __strataCreateRequire(import.meta.url);" },
  });
  return outfile;
}

export interface LoadedChild {
  /** Writes `line` to its stdin (the go line: until then it waits, loaded). */
  start(line: string): void;
  kill(): void;
  /** Resolves when it has exited and its output is read to the end. */
  closed: Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>;
}

const alive = new Set<ChildProcess>();

/**
 * Starts `node <file> ...args` and resolves once its stdout says `loaded` (so that the next
 * children load while one runs). Rejects if it exits first or takes over `ms`.
 */
export function spawnLoaded(file: string, args: string[] = [], ms = 60_000): Promise<LoadedChild> {
  const child = spawn(process.execPath, [file, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  alive.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
  child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
  child.stdin.on('error', () => undefined); // a child killed before it read its line
  const closed = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>((resolve) =>
    child.on('close', (code, signal) => {
      alive.delete(child);
      resolve({ code, signal, stdout, stderr });
    }),
  );
  const handle: LoadedChild = { start: (line) => child.stdin.write(line + '\n'), kill: () => child.kill('SIGKILL'), closed };
  return new Promise<LoadedChild>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${file} did not load within ${ms / 1000} s: ${stderr}`));
    }, ms);
    const check = () => {
      if (!stdout.startsWith('loaded\n')) return;
      clearTimeout(timer);
      child.stdout.off('data', check);
      resolve(handle);
    };
    child.stdout.on('data', check);
    void closed.then((r) => {
      clearTimeout(timer);
      reject(new Error(`${file} exited before it loaded (code ${r.code}, signal ${r.signal}): ${r.stderr}`));
    });
  });
}

/** Kills every child `spawnLoaded` started that is still running, and waits for them. */
export async function killAllLoaded(): Promise<void> {
  const all = [...alive];
  for (const c of all) c.kill('SIGKILL');
  await Promise.all(all.map((c) => new Promise((r) => (c.exitCode !== null || c.signalCode !== null ? r(undefined) : c.once('close', r)))));
}
