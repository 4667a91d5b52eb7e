/**
 * What the `layer` and `rw` verbs share: opening the layer store of `--root` with `--driver`,
 * naming layers the way a user types them (full ChainID, bare hex, or a unique prefix, as
 * docker does for image IDs), short IDs and sizes as docker prints them, and writing large
 * outputs with backpressure.
 *
 *   await withLayerStore({ root, driver, readOnly: true }, async (store) => {
 *     const id = resolveLayerId(store, 'sha256:5f70');   // → the full ChainID, or a one-line error
 *     ...
 *   });                                                  // closed (lock dropped) in every case
 *
 * Handles and the CLI: every verb runs in its own process, where a layer is held only by its
 * child layers and the RW layers on it (loading rebuilds the counts from disk). Releasing a
 * handle the CLI took would therefore delete a layer nothing else holds, so the CLI never
 * releases what it took (closing the store is enough; handles are per process) except the RW
 * layer handle of `rw rm`. It also takes a handle on the parent of what it adds, creates or
 * removes (`layer add --parent`, `rw create`, `rw rm`): a failed add or create drops the hold it
 * took on the parent, and removing the last RW layer on a layer releases it — either would
 * otherwise delete a parent that nothing else holds. Only `layer rm` deletes read-only layers.
 *
 * Locks: reading verbs open the store read-only (shared lock), the others writable (exclusive);
 * `rw diff` takes the exclusive lock too, because overlay2 mounts to compare (see rw.ts).
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Writable } from 'node:stream';
import { StrataError, fileError } from '../errors/index.js';
import { openLayerStore as openStore, type LayerStore } from '../layer/index.js';
import type { Digest } from '../digest/index.js';

export interface StoreOptions {
  root: string;
  /** `--driver`/`-s`; absent: chosen as dockerd would. */
  driver?: string | undefined;
  /** Shared lock, no changes: ls, inspect, tree, export, rw ls. */
  readOnly: boolean;
  /** `--ignore-dockerd`. */
  ignoreDockerd?: boolean | undefined;
  /** Called once if another strata process holds the lock; default: one line on stderr. */
  onWait?: () => void;
}

/** Opens the layer store for one command (waiting for the data-root lock, saying so once). */
export async function openLayerStore(opts: StoreOptions): Promise<LayerStore> {
  return openStore({
    root: opts.root,
    ...(opts.driver ? { driver: opts.driver } : {}),
    readOnly: opts.readOnly,
    ignoreDockerd: opts.ignoreDockerd ?? false,
    onWait: opts.onWait ?? (() => process.stderr.write(`strata: waiting for the lock on ${opts.root}…\n`)),
  });
}

/** Runs `fn` with the store open and closes it afterwards, whatever happens. */
export async function withLayerStore<T>(opts: StoreOptions, fn: (store: LayerStore) => Promise<T> | T): Promise<T> {
  const store = await openLayerStore(opts);
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}

/**
 * A failure already reported on stderr (one line per problem, e.g. `layer rm A B` where B is
 * unknown): `main` exits with `code` and prints nothing more.
 */
export class ExitCode extends Error {
  constructor(readonly code: number) {
    super(`exit ${code}`);
  }
}

/** The full ChainID a user's layer reference names: `sha256:<hex>`, bare hex, or a unique hex prefix of either. */
export function resolveLayerId(store: LayerStore, ref: string): Digest {
  const m = /^(?:sha256:)?([0-9a-f]{1,64})$/.exec(ref);
  if (m) {
    const prefix = `sha256:${m[1]!}`;
    const found = store.layers().filter((l) => l.chainId.startsWith(prefix));
    if (found.length === 1) return found[0]!.chainId;
    if (found.length > 1) throw new StrataError('AMBIGUOUS_LAYER_PREFIX', `ambiguous layer prefix ${ref}`);
    const broken = store.problems.find((p) => p.kind === 'layer' && p.name.startsWith(prefix));
    if (broken) throw new StrataError('LAYER_BROKEN', `layer ${broken.name} exists on disk but did not load: ${broken.reason}`);
  }
  throw new StrataError('NO_SUCH_LAYER', `no such layer: ${ref}`);
}

/** docker's short ID: 12 hex digits, without `sha256:`. */
export function shortId(id: string): string {
  return id.replace(/^sha256:/, '').slice(0, 12);
}

/** Go's `%.3g` of a non-negative number (what docker's `HumanSizeWithPrecision(x, 3)` prints). */
function goG3(x: number): string {
  const trim = (s: string) => (s.includes('.') ? s.replace(/0+$/, '').replace(/\.$/, '') : s);
  const s = x.toPrecision(3);
  const e = s.indexOf('e');
  if (e < 0) return trim(s);
  const exp = s.slice(e + 1);
  const sign = exp.startsWith('-') ? '-' : '+';
  const digits = exp.replace(/^[+-]/, '').padStart(2, '0');
  return `${trim(s.slice(0, e))}e${sign}${digits}`;
}

const UNITS = ['B', 'kB', 'MB', 'GB', 'TB', 'PB', 'EB', 'ZB', 'YB'];

/** A size as `docker images` shows it: base 1000, 3 significant digits (`1.98MB`, `512B`). */
export function humanSize(bytes: number): string {
  let v = bytes;
  let i = 0;
  while (v >= 1000 && i < UNITS.length - 1) {
    v /= 1000;
    i++;
  }
  return `${goG3(v)}${UNITS[i]!}`;
}

/** Prints `strata: warning: …` for each entry loading skipped. */
export function warnProblems(store: LayerStore): void {
  for (const p of store.problems) {
    const what = p.kind === 'layer' ? 'layer' : p.kind === 'mount' ? 'read-write layer' : 'entry';
    process.stderr.write(`strata: warning: skipped ${what} ${p.name}: ${p.reason}\n`);
  }
}

/** Writes every chunk to `out`, waiting for 'drain' when it is full; rejects if `out` fails or closes early. */
export async function writeAll(out: Writable, chunks: AsyncIterable<Uint8Array>): Promise<void> {
  let failure: Error | undefined;
  let wake: (() => void) | undefined;
  const onError = (e: Error) => {
    const closed = (e as NodeJS.ErrnoException).code === 'EPIPE';
    failure ??= closed ? new StrataError('OUTPUT_CLOSED', 'the output was closed before the end (broken pipe)', { cause: e }) : e;
    wake?.();
  };
  const onClose = () => {
    failure ??= new StrataError('OUTPUT_CLOSED', 'the output was closed before the end');
    wake?.();
  };
  const onDrain = () => wake?.();
  out.on('error', onError);
  out.on('close', onClose);
  out.on('drain', onDrain);
  try {
    for await (const chunk of chunks) {
      if (failure) throw failure;
      if (!out.write(chunk)) {
        await new Promise<void>((resolve) => {
          wake = resolve;
          if (failure || !out.writableNeedDrain) resolve();
        });
        wake = undefined;
      }
      if (failure) throw failure;
    }
  } finally {
    out.off('error', onError);
    out.off('close', onClose);
    out.off('drain', onDrain);
  }
}

/**
 * Writes `chunks` to `file` atomically: into `<file>.tmp-<pid>`, fsync'd, then renamed over
 * `file` (and the directory fsync'd). On any failure the temp file is removed and `file` is left
 * as it was.
 */
export async function writeFileAtomic(file: string, chunks: AsyncIterable<Uint8Array>): Promise<void> {
  const tmp = `${file}.tmp-${process.pid}`;
  let fh: fs.promises.FileHandle;
  try {
    fh = await fs.promises.open(tmp, 'wx', 0o666);
  } catch (e) {
    throw fileError('open', file, e);
  }
  let ok = false;
  try {
    for await (const chunk of chunks) {
      let off = 0;
      while (off < chunk.length) off += (await fh.write(chunk, off, chunk.length - off)).bytesWritten;
    }
    await fh.sync();
    await fh.close();
    await fs.promises.rename(tmp, file);
    ok = true;
  } finally {
    if (!ok) {
      await fh.close().catch(() => undefined);
      await fs.promises.rm(tmp, { force: true }).catch(() => undefined);
    }
  }
  try {
    const dir = await fs.promises.open(path.dirname(file), 'r');
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
  } catch {
    /* the rename is done; a directory that cannot be fsync'd is not an error */
  }
}

/** Refuses to write `what` (binary) to a terminal: when `output` is stdout and stdout is a TTY. */
export function refuseTerminal(output: string | undefined, what: string): void {
  if ((output === undefined || output === '-') && process.stdout.isTTY) {
    throw new StrataError('OUTPUT_IS_TERMINAL', `refusing to write ${what} to a terminal: redirect stdout or use -o FILE`);
  }
}

/** Writes `chunks` to stdout (`output` absent or `-`) or atomically to the file `output`. */
export async function writeOutput(output: string | undefined, chunks: AsyncIterable<Uint8Array>): Promise<void> {
  if (output === undefined || output === '-') await writeAll(process.stdout, chunks);
  else await writeFileAtomic(output, chunks);
}

/**
 * Runs `fn` with a signal that SIGINT/SIGTERM abort; an interrupted run prints one line and exits
 * 130, as a shell reports a SIGINT, after `fn` has cleaned up.
 */
export async function interruptible<T>(fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const ac = new AbortController();
  const onSignal = (sig: NodeJS.Signals) => ac.abort(new StrataError('INTERRUPTED', `interrupted by ${sig}`));
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    return await fn(ac.signal);
  } catch (e) {
    if (!ac.signal.aborted) throw e;
    process.stderr.write(`strata: ${(ac.signal.reason as Error).message}\n`);
    throw new ExitCode(130);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
