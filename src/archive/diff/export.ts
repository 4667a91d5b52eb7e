/**
 * moby's `ExportChanges`: the naive Diff, a tar of a list of changes read from a mounted tree.
 *
 * The changes are sorted by path first (so the first name of a hardlinked inode in path order
 * carries the data, whatever order the caller passed). A Delete becomes a bare header
 * `<dir>/.wh.<base>` with every field at its zero value except the mtime, which is "now"; it has
 * no explicit format, so Go's writer rounds that mtime to the nearest second and emits USTAR
 * with typeflag '0'. Every other change is the file at that path, added exactly as the layer
 * tar writer adds it, but without any whiteout conversion and without opaque markers.
 */
import fs from 'node:fs';
import { TarType } from '../tar/index.js';
import { TarAppender, vanished, type AppenderOptions } from './appender.js';
import { changePathBytes, sortChanges, type Change } from './changes.js';
import { nameResolver, type NamesOption } from './names.js';

export interface ExportChangesOptions {
  /** uname/gname: `'lookup'` (dockerd 20.10, default) or `'empty'` (Docker ≥ 23.0). */
  names?: NamesOption;
  /** The clock for Delete entries' mtime, in milliseconds since the epoch. Default Date.now. */
  now?: () => number;
  /** Output chunk size; default 1 MiB. */
  chunkSize?: number;
  /** Told about entries left out: sockets, and paths that no longer exist. */
  onSkip?: AppenderOptions['onSkip'];
}

const WH = Buffer.from('.wh.');

/** Sync core of exportChanges. */
export function* exportChangesChunks(dir: string | Buffer, list: readonly Change[], opts: ExportChangesOptions = {}): Generator<Buffer> {
  const root = typeof dir === 'string' ? Buffer.from(dir) : dir;
  const app = new TarAppender({ names: nameResolver(opts.names), overlay: false, chunkSize: opts.chunkSize, onSkip: opts.onSkip });
  const now = opts.now ?? Date.now;
  for (const c of sortChanges([...list])) {
    const p = changePathBytes(c);
    if (c.kind === 'D') {
      const slash = p.lastIndexOf(0x2f);
      const name = Buffer.concat([p.subarray(1, slash + 1), WH, p.subarray(slash + 1)]);
      const ms = now();
      const sec = Math.floor(ms / 1000);
      yield* app.addHeader({ name, type: TarType.Reg, mode: 0, mtime: { sec, nsec: Math.round((ms - sec * 1000) * 1e6) } });
      continue;
    }
    const full = Buffer.concat([root, p]);
    let st: fs.BigIntStats;
    try {
      st = fs.lstatSync(full, { bigint: true });
    } catch (e) {
      if (vanished(e)) {
        opts.onSkip?.(full, 'vanished');
        continue;
      }
      throw e;
    }
    yield* app.addFile(full, p.subarray(1), st);
  }
  yield* app.close();
}

/**
 * Streams the tar of `changes` read from the tree at `dir` (moby's ExportChanges, the naive
 * Diff of drivers without a native one). See export.ts for the exact entries.
 */
export async function* exportChanges(dir: string | Buffer, list: readonly Change[], opts: ExportChangesOptions = {}): AsyncGenerator<Buffer> {
  yield* exportChangesChunks(dir, list, opts);
}
