/**
 * The layer tar writer: moby's `TarWithOptions(dir, {Compression: none, WhiteoutFormat})` as
 * dockerd 20.10's overlay2 `Diff` runs it on a layer's `diff/` directory.
 *
 * The walk is Go's `filepath.Walk`: lstat-based (symlinks are archived, never followed), each
 * directory's names read as raw bytes and sorted byte-wise, a directory's entry before its
 * contents, the root itself left out. Because the sort is on the on-disk name, the whiteout for
 * `fifo` (a char device named `fifo`) sorts as `fifo`, although its entry is named `.wh.fifo`.
 */
import fs from 'node:fs';
import { StrataError } from '../../errors/index.js';
import { TarAppender, vanished, type AppenderOptions } from './appender.js';
import { nameResolver, type NamesOption } from './names.js';

export interface LayerTarOptions {
  /**
   * `'overlay'` (default): the directory is an overlay upper/diff dir; char 0/0 whiteouts and
   * opaque dirs become `.wh.` entries (overlay2's native Diff). `'none'`: a plain tar of the
   * tree (a naive driver's `Diff(id, "")`, e.g. vfs).
   */
  whiteouts?: 'overlay' | 'none';
  /** uname/gname: `'lookup'` (dockerd 20.10, default) or `'empty'` (Docker ≥ 23.0). */
  names?: NamesOption;
  /** Output chunk size; default 1 MiB. */
  chunkSize?: number;
  /** Told about entries left out: sockets, and files that vanished during the walk. */
  onSkip?: AppenderOptions['onSkip'];
}

const SLASH = Buffer.from('/');
const join = (a: Buffer, b: Buffer): Buffer => Buffer.concat([a, SLASH, b]);

function readNames(dir: Buffer): Buffer[] {
  const names = fs.readdirSync(dir, { encoding: 'buffer' });
  return names.sort(Buffer.compare);
}

/** The walk below `dir` (whose own entry is already written): children in byte order. */
function* walkDir(app: TarAppender, dir: Buffer, rel: Buffer | undefined, names: Buffer[], onSkip: LayerTarOptions['onSkip']): Generator<Buffer> {
  for (const n of names) {
    const p = join(dir, n);
    const r = rel ? join(rel, n) : n;
    let st: fs.BigIntStats;
    let children: Buffer[] | undefined;
    try {
      st = fs.lstatSync(p, { bigint: true });
      // Go's walk reads a directory's names before it reports the directory itself.
      if (st.isDirectory()) children = readNames(p);
    } catch (e) {
      if (vanished(e)) {
        onSkip?.(p, 'vanished');
        continue;
      }
      throw e;
    }
    yield* app.addFile(p, r, st);
    if (children) yield* walkDir(app, p, r, children, onSkip);
  }
}

/** Sync core of writeLayerTar (exported for callers that hash or write synchronously). */
export function* layerTarChunks(dir: string | Buffer, opts: LayerTarOptions = {}): Generator<Buffer> {
  const root = typeof dir === 'string' ? Buffer.from(dir) : dir;
  let st: fs.Stats;
  try {
    // moby walks "<dir>/.", so a symlink to a directory is followed at the root only.
    st = fs.statSync(root);
  } catch (e) {
    throw new StrataError('DIFF_NO_SUCH_DIR', `cannot archive ${root.toString()}: ${(e as Error).message}`, { cause: e });
  }
  if (!st.isDirectory()) throw new StrataError('DIFF_NOT_A_DIR', `cannot archive ${root.toString()}: not a directory`);
  const app = new TarAppender({
    names: nameResolver(opts.names),
    overlay: (opts.whiteouts ?? 'overlay') === 'overlay',
    chunkSize: opts.chunkSize,
    onSkip: opts.onSkip,
  });
  yield* walkDir(app, root, undefined, readNames(root), opts.onSkip);
  yield* app.close();
}

/**
 * Streams the tar of a directory tree exactly as dockerd 20.10 writes it for a layer (see
 * index.ts). Memory stays at about one chunk; file contents are read straight into the chunks.
 * The work is synchronous file-system calls between yields (about one chunk's worth), so do not
 * point it at a FUSE file system served by this same thread.
 */
export async function* writeLayerTar(dir: string | Buffer, opts: LayerTarOptions = {}): AsyncGenerator<Buffer> {
  yield* layerTarChunks(dir, opts);
}
