/**
 * Serving a FUSE mount from a worker thread, so that the thread that started it stays free — to
 * handle signals, or (in tests) to use the mount itself without waiting on its own server.
 *
 * The worker builds the filesystem itself (objects cannot cross threads): it imports `ops.module`,
 * calls its export `ops.export` with `ops.args`, opens /dev/fuse, mounts, and runs a FuseSession
 * until the mount goes away. The promise of `serveInWorker` settles once the kernel's INIT has been
 * answered (the mount is live) or the worker failed (nothing stays mounted).
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { FuseError } from './errors.js';
import { isMountPoint } from '../../sys/index.js';
import { unmountFuse, type FuseMountOptions } from './mount.js';

/** Where the worker finds the function that builds its `FuseOps` (called with `args`, may be async). */
export interface FuseOpsFactoryRef {
  /** A file: URL of an ES module. */
  module: string;
  /** The export to call. */
  export: string;
  /** Its one argument; must survive structured cloning. */
  args: unknown;
}

export interface FuseServeOptions {
  mountpoint: string;
  mount: FuseMountOptions;
  ops: FuseOpsFactoryRef;
  /** Entry/attribute cache timeout in seconds (see FuseSessionOptions.timeout). */
  timeout: number;
  /** FUSE passthrough where the kernel supports it (see FuseSessionOptions.passthrough; default on). */
  passthrough?: boolean;
  /** Longest busy-poll for the next request, µs (see FuseSessionOptions.busyPollUs). */
  busyPollUs?: number;
  cacheSymlinks?: boolean;
  /** Log every request to stderr. */
  debug?: boolean;
}

/** What the worker receives. */
export type FuseWorkerInput = FuseServeOptions;

/** What the worker reports. */
export type FuseWorkerMessage =
  | { type: 'mounted' }
  | { type: 'ready'; minor: number; flags: number }
  | { type: 'stopped' }
  | { type: 'error'; code: string; message: string };

/** A live mount served by a worker thread. */
export interface FuseServer {
  readonly mountpoint: string;
  /** The protocol minor and INIT flags agreed with the kernel. */
  readonly negotiated: { minor: number; flags: number };
  /** Settles when the server thread has ended (after an unmount). */
  readonly stopped: Promise<void>;
  /** Unmounts (lazily with `lazy`) and waits for the server thread to end. */
  unmount(options?: { lazy?: boolean }): Promise<void>;
}

/** The worker's entry module next to this one: worker-main.ts under tsx, worker-main.js in dist. */
function workerEntry(): URL {
  const ext = path.extname(fileURLToPath(import.meta.url));
  return new URL(`./worker-main${ext}`, import.meta.url);
}

/**
 * Starts a worker on the entry module. Node 20 does not carry `--import tsx` loader hooks into
 * workers, so when strata runs from its TypeScript sources the worker registers tsx itself first.
 */
function startWorker(entry: URL, workerData: FuseWorkerInput): Worker {
  if (!entry.pathname.endsWith('.ts')) return new Worker(entry, { workerData });
  const tsxApi = import.meta.resolve('tsx/esm/api');
  const boot = `import(${JSON.stringify(tsxApi)}).then((api) => { api.register(); return import(${JSON.stringify(entry.href)}); })`;
  return new Worker(boot, { eval: true, workerData });
}

/** Mounts and serves `options.mountpoint` from a new worker thread; resolves once the mount is live. */
export function serveInWorker(options: FuseServeOptions): Promise<FuseServer> {
  const worker = startWorker(workerEntry(), options);
  let mounted = false;
  let ready = false;
  let failure: FuseError | null = null;
  let resolveStopped: () => void = () => {};
  const stopped = new Promise<void>((resolve) => (resolveStopped = resolve));

  return new Promise<FuseServer>((resolve, reject) => {
    worker.on('message', (m: FuseWorkerMessage) => {
      if (m.type === 'mounted') mounted = true;
      else if (m.type === 'error') failure = new FuseError(m.code, m.message);
      else if (m.type === 'ready') {
        ready = true;
        const negotiated = { minor: m.minor, flags: m.flags };
        resolve({
          mountpoint: options.mountpoint,
          negotiated,
          stopped,
          async unmount(u: { lazy?: boolean } = {}) {
            if (isMountPoint(options.mountpoint)) unmountFuse(options.mountpoint, u);
            await stopped;
          },
        });
      }
    });
    worker.on('error', (e) => {
      failure ??= new FuseError('FUSE_SERVER', `the FUSE server thread failed: ${e.message}`, { cause: e });
    });
    worker.on('exit', () => {
      // A server that died while mounted leaves a dead mount ("transport endpoint is not connected").
      if (mounted && (failure || !ready) && isMountPoint(options.mountpoint)) {
        try {
          unmountFuse(options.mountpoint, { lazy: true });
        } catch {
          /* someone else unmounted it meanwhile */
        }
      }
      resolveStopped();
      if (!ready) reject(failure ?? new FuseError('FUSE_SERVER', `the FUSE server for ${options.mountpoint} exited before the mount was ready`));
    });
  });
}
