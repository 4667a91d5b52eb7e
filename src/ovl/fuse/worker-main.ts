/**
 * The body of the FUSE server thread started by `serveInWorker` (worker.ts): build the filesystem,
 * mount, serve until unmounted. It reports each step to the parent thread, writes debug and
 * unexpected-error lines straight to fd 2 (the event loop is blocked while serving), and never
 * leaves /dev/fuse open behind it.
 */
import fs from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import type { FuseOps } from './ops.js';
import { mountFuse, openFuseDevice } from './mount.js';
import { FuseSession } from './session.js';
import type { FuseWorkerInput, FuseWorkerMessage } from './worker.js';

function post(m: FuseWorkerMessage): void {
  parentPort?.postMessage(m);
}

function stderrLine(line: string): void {
  try {
    fs.writeSync(2, `${line}\n`);
  } catch {
    /* stderr closed (a daemon): nothing to tell */
  }
}

async function buildOps(input: FuseWorkerInput): Promise<FuseOps> {
  const mod = (await import(input.ops.module)) as Record<string, unknown>;
  const factory = mod[input.ops.export];
  if (typeof factory !== 'function') throw new Error(`${input.ops.module} has no function ${input.ops.export}`);
  return (await (factory as (args: unknown) => FuseOps | Promise<FuseOps>)(input.ops.args)) as FuseOps;
}

async function serve(input: FuseWorkerInput): Promise<void> {
  const ops = await buildOps(input);
  let fd: number;
  try {
    fd = openFuseDevice();
  } catch (e) {
    ops.destroy();
    throw e;
  }
  try {
    try {
      mountFuse(fd, input.mountpoint, input.mount);
    } catch (e) {
      ops.destroy();
      throw e;
    }
    post({ type: 'mounted' });
    const session = new FuseSession(fd, ops, {
      timeout: input.timeout,
      ...(input.passthrough !== undefined ? { passthrough: input.passthrough } : {}),
      ...(input.busyPollUs !== undefined ? { busyPollUs: input.busyPollUs } : {}),
      ...(input.cacheSymlinks !== undefined ? { cacheSymlinks: input.cacheSymlinks } : {}),
      onReady: (info) => post({ type: 'ready', ...info }),
      onUnexpectedError: (e, opcode) => stderrLine(`strata-overlay: ${opcode}: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`),
      ...(input.debug ? { log: stderrLine } : {}),
    });
    session.run();
  } finally {
    fs.closeSync(fd);
  }
  post({ type: 'stopped' });
}

serve(workerData as FuseWorkerInput).catch((e: unknown) => {
  const err = e as { code?: unknown; message?: unknown };
  post({ type: 'error', code: typeof err.code === 'string' ? err.code : 'FUSE_SERVER', message: typeof err.message === 'string' ? err.message : String(e) });
});
