/**
 * The outer tar of a saved image archive, written as dockerd's `archive.Tar(tempDir)` writes the
 * directory `docker save` builds — but streamed, without the directory.
 *
 * dockerd walks its temp dir with `filepath.Walk` (names sorted byte-wise within each directory,
 * a directory's entries right after it) and gives every entry moby's `FileInfoHeader`: the mode
 * with its file-type bits (`0100644`, `040755`, `0120777`), uid/gid 0 with the names
 * `root`/`root` (Go's user lookup of uid 0), the mtime truncated to whole seconds, no
 * atime/ctime, a directory's name ending in `/`, and Go's writer picking USTAR when every field
 * fits. The archive ends with two zero blocks and no record padding. Worked example:
 *
 *   const members: TarOutMember[] = [
 *     { name: 'manifest.json', kind: 'file', mtime: 0, data: manifestBytes },
 *     { name: 'abc', kind: 'dir', mtime: 1795429337 },
 *     { name: 'abc/layer.tar', kind: 'layer', mtime: 1795429337, layer },
 *     { name: 'abc/json', kind: 'file', mtime: 1795429337, data: json },
 *   ];
 *   for await (const chunk of writeTarMembers(sortWalkOrder(members), opts)) out.write(chunk);
 *   // abc/  abc/json  abc/layer.tar  manifest.json  <1024 zero bytes>
 *
 * Small members are gathered into chunks of up to 1 MiB; a layer's chunks are passed through as
 * they come (no copy, nothing held), after a header that carries `layer.tarSize`. A layer stream
 * that yields more or fewer bytes than that fails with `LAYER_SIZE_MISMATCH` (the archive would
 * be corrupt), before the first byte too many is handed out. An aborted `signal` stops the
 * output with the signal's reason and closes the layer stream.
 */
import { END_OF_ARCHIVE, TarType, contentPadding, encodeHeader, type TarTypeFlag } from '../../archive/tar/index.js';
import { StrataError } from '../../errors/index.js';
import type { SaveLayer, SaveOptions } from './save-types.js';

/** One entry of the archive. `name` has no trailing `/` (directories get it in the header). */
export type TarOutMember =
  | { name: string; kind: 'dir'; mtime: number }
  | { name: string; kind: 'file'; mtime: number; data: Buffer }
  | { name: string; kind: 'symlink'; mtime: number; target: string }
  | { name: string; kind: 'layer'; mtime: number; layer: SaveLayer };

/** Small members are gathered up to this many bytes before being handed out. */
const GATHER = 1 << 20;

/**
 * `filepath.Walk` order over relative paths: compared element by element, byte-wise, so a
 * directory's contents follow it directly (`a`, `a/z`, `a.json` — not `a.json` before `a/z`).
 */
export function walkCompare(a: string, b: string): number {
  const x = a.split('/');
  const y = b.split('/');
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    const c = Buffer.compare(Buffer.from(x[i]!, 'utf8'), Buffer.from(y[i]!, 'utf8'));
    if (c !== 0) return c;
  }
  return x.length - y.length;
}

/** The members in `filepath.Walk` order (a new array). */
export function sortWalkOrder(members: readonly TarOutMember[]): TarOutMember[] {
  return [...members].sort((a, b) => walkCompare(a.name, b.name));
}

const MODES: Record<TarOutMember['kind'], [TarTypeFlag, number]> = {
  dir: [TarType.Dir, 0o40755],
  file: [TarType.Reg, 0o100644],
  layer: [TarType.Reg, 0o100644],
  symlink: [TarType.Symlink, 0o120777],
};

function contentSize(m: TarOutMember): number {
  if (m.kind === 'file') return m.data.length;
  if (m.kind === 'layer') return m.layer.tarSize;
  return 0;
}

/** The header block(s) moby's `FileInfoHeader` + Go's tar writer give this member. */
export function memberHeader(m: TarOutMember): Buffer {
  const [type, mode] = MODES[m.kind];
  return encodeHeader({
    name: m.kind === 'dir' ? m.name + '/' : m.name,
    type,
    mode,
    uid: 0,
    gid: 0,
    size: contentSize(m),
    mtime: m.mtime,
    uname: 'root',
    gname: 'root',
    linkname: m.kind === 'symlink' ? m.target : undefined,
    format: 'pax',
  });
}

function sizeMismatch(layer: SaveLayer, what: string): StrataError {
  return new StrataError('LAYER_SIZE_MISMATCH', `layer ${layer.diffId}: its tar stream ${what}, but its size is ${layer.tarSize} bytes`);
}

function asBuffer(chunk: Uint8Array): Buffer {
  return Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length);
}

/** A layer's content, checked against `tarSize` chunk by chunk. */
async function* layerContent(layer: SaveLayer, signal: AbortSignal | undefined): AsyncGenerator<Buffer> {
  let n = 0;
  for await (const chunk of layer.tarStream({ signal })) {
    signal?.throwIfAborted();
    if (chunk.length === 0) continue;
    n += chunk.length;
    if (n > layer.tarSize) throw sizeMismatch(layer, `has more than ${layer.tarSize} bytes`);
    yield asBuffer(chunk);
  }
  if (n < layer.tarSize) throw sizeMismatch(layer, `ended after ${n} bytes`);
}

/** Gathers small buffers into chunks; counts and reports what is handed out. */
class Output {
  private parts: Buffer[] = [];
  private gathered = 0;
  written = 0;
  constructor(private readonly onProgress?: (bytes: number) => void) {}

  add(b: Buffer): void {
    if (b.length === 0) return;
    this.parts.push(b);
    this.gathered += b.length;
  }
  get full(): boolean {
    return this.gathered >= GATHER;
  }
  /** The gathered bytes as one chunk (counted), or undefined when there are none. */
  take(): Buffer | undefined {
    if (this.gathered === 0) return undefined;
    const out = this.parts.length === 1 ? this.parts[0]! : Buffer.concat(this.parts, this.gathered);
    this.parts = [];
    this.gathered = 0;
    return this.count(out);
  }
  count(b: Buffer): Buffer {
    this.written += b.length;
    return b;
  }
  progress(): void {
    this.onProgress?.(this.written);
  }
}

/**
 * The tar of `members`, in the given order (see `sortWalkOrder`), ending with the
 * end-of-archive blocks. Streams layers; holds at most ~1 MiB of small members.
 */
export async function* writeTarMembers(members: readonly TarOutMember[], opts: SaveOptions = {}): AsyncGenerator<Buffer> {
  const { signal } = opts;
  const out = new Output(opts.onProgress);
  const flush = function* (): Generator<Buffer> {
    const b = out.take();
    if (b) {
      yield b;
      out.progress();
    }
  };
  signal?.throwIfAborted();
  for (const m of members) {
    signal?.throwIfAborted();
    out.add(memberHeader(m));
    if (m.kind === 'file') out.add(m.data);
    if (m.kind === 'layer') {
      yield* flush();
      for await (const chunk of layerContent(m.layer, signal)) {
        yield out.count(chunk);
        out.progress();
      }
    }
    out.add(contentPadding(contentSize(m)));
    if (out.full) yield* flush();
  }
  out.add(END_OF_ARCHIVE);
  yield* flush();
}
