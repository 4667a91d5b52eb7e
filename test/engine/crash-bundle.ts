/**
 * Children that load first and start on a line from the test (the crash trials, the concurrency
 * test): `spawnLoaded` runs a bundled script (test/helpers/bundle.ts) and resolves once it says
 * `loaded`, so the next children load while one runs.
 */
import { spawn, type ChildProcess } from 'node:child_process';

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
