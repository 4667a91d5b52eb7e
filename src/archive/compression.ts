/**
 * Layer compression: sniff it, undo it as a stream, apply it for push/save.
 *
 * A layer blob is a tar, usually gzip-compressed, sometimes zstd; Docker never trusts the media
 * type for this and looks at the first bytes instead (`archive.DetectCompression`), and so does
 * strata:
 *
 *   for await (const chunk of decompress(fs.createReadStream(blob, { highWaterMark: 1 << 20 }),
 *                                        { maxOutputBytes: 64 * 1024 ** 3, signal })) {
 *     tar.push(chunk);               // the uncompressed layer, 1 MiB at a time
 *   }
 *   for await (const chunk of compress(tarChunks, 'gzip')) out.write(chunk);
 *
 * Shape: `decompress` and `compress` are async generators (`AsyncIterable<Buffer>` in,
 * `AsyncGenerator<Buffer>` out). That is the form every stage of strata's layer pipeline speaks
 * (the tar reader, `hashing`, tar-split) and it composes with `for await` and `stream.pipeline`
 * alike; it is pull-driven, so nothing is decompressed ahead of the consumer (at most one 1 MiB
 * chunk), which is what makes the `maxOutputBytes` bomb guard effective. Breaking out of the
 * loop, an error, or the abort signal stops the work at once and releases everything: the zlib
 * stream is destroyed, a helper process is killed, and the source's iterator is closed (`return()`,
 * which destroys a Node stream).
 *
 * Formats:
 * - gzip: `node:zlib` with 1 MiB output chunks (4× faster than the 16 KiB default). Multi-member
 *   streams are decoded to the end, as Go's `gzip.Reader` does; any byte after the last member
 *   (zlib would silently ignore trailing zeros) is an error, also as in Go.
 * - zstd: zstd-napi's native binding (`DCtx.decompressStream`/`CCtx.compressStream2`) driven
 *   directly rather than through its `DecompressStream` Transform, because that Transform
 *   decompresses a whole input chunk in one synchronous burst regardless of backpressure (a 1 MiB
 *   zstd bomb chunk would expand to gigabytes before anyone could count them). Skippable frames
 *   and concatenated frames work; trailing garbage is an error.
 * - xz and bzip2: decoded by the `xz -d -c -q` / `bzip2 -d -c` commands in a child process, as
 *   dockerd itself does for xz. Rare in practice; without the command the error says so
 *   (`UNSUPPORTED_COMPRESSION`).
 * - anything else is taken as uncompressed and passed through untouched.
 *
 * Bomb guard. A layer is untrusted, and a small compressed one can expand without end (zeros
 * compress 1000:1 with gzip and 30 000:1 and more with zstd, so 4 MiB of gzip or 100 KiB of zstd
 * can claim many GiB — written to disk as file content, or hashed and recorded as trailing data).
 * So unless told otherwise, `decompress` stops compressed input whose output passes both a floor
 * (1 GiB) and 100 times the compressed bytes read so far: `DECOMPRESSION_LIMIT`, "gzip data
 * decompresses to more than 100 times its size (1073741824 bytes from 2097152)". Why these numbers:
 * nothing in a layer's manifest says how large it is uncompressed (OCI descriptors give the
 * compressed size, docker-save archives nothing), so the bound can only be relative to what the
 * sender actually sent — which makes damage cost the attacker in proportion. Real layers expand 2–10
 * times; beyond that only long runs of one byte do, and the 1 GiB floor lets those through up to a
 * size no ordinary image reaches (a 300 MB `lastlog` of zeros from a large-UID `useradd` loads).
 * The ratio is Apache POI's zip-bomb default. Uncompressed input is never limited by it (its size
 * is what the sender sent), and `expansion: false` or other numbers change it per call.
 *
 * Errors are `StrataError`s with one-line messages: `CORRUPT_COMPRESSED_DATA` ("gzip data is
 * corrupt: incorrect header check", "zstd data is truncated"), `DECOMPRESSION_LIMIT`
 * ("decompressed data exceeds N bytes", or the bomb guard's message), `UNSUPPORTED_COMPRESSION`. An
 * error thrown by the source itself, and the abort reason, pass through unchanged.
 */
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import type { Readable, Writable } from 'node:stream';
import zlib from 'node:zlib';
import { StrataError } from '../errors/index.js';

/** What `sniffCompression` can recognise. */
export type Compression = 'gzip' | 'zstd' | 'bzip2' | 'xz' | 'none';

/**
 * A stream of bytes: any (async) iterable of Buffers/Uint8Arrays, a Node readable stream, or a
 * single Uint8Array (one chunk). Empty chunks are skipped.
 */
export type ByteInput = AsyncIterable<Uint8Array> | Iterable<Uint8Array> | NodeJS.ReadableStream | Uint8Array;

/** How far compressed data may expand: past `floor` output bytes, at most `ratio` times the input read. */
export interface ExpansionLimit {
  ratio: number;
  floor: number;
}

/** The bomb guard `decompress` applies unless told otherwise (see the module comment). */
export const DEFAULT_EXPANSION_LIMIT: Readonly<ExpansionLimit> = Object.freeze({ ratio: 100, floor: 1024 ** 3 });

export interface DecompressOptions {
  /** Fail with `DECOMPRESSION_LIMIT` once the output exceeds this many bytes. Default: no limit. */
  maxOutputBytes?: number;
  /**
   * The bomb guard for compressed input: fail with `DECOMPRESSION_LIMIT` once the output is past
   * `floor` bytes and more than `ratio` times the compressed bytes read so far. Default
   * `DEFAULT_EXPANSION_LIMIT` (100 times, past 1 GiB); `false` turns it off.
   */
  expansion?: ExpansionLimit | false;
  /** Abort: the generator rejects with `signal.reason` and releases everything. */
  signal?: AbortSignal;
  /** Told the detected format once, after sniffing and before the first chunk. */
  onCompression?: (compression: Compression) => void;
}

export interface CompressOptions {
  /** Abort: the generator rejects with `signal.reason` and releases everything. */
  signal?: AbortSignal;
}

/** Output chunk size: 1 MiB (zlib's `chunkSize`, zstd output buffers). */
const CHUNK = 1 << 20;
/** Bytes looked at by sniffing: Docker peeks 10 (the zstd skippable-frame check needs 8). */
const SNIFF_BYTES = 10;
const EMPTY = Buffer.alloc(0);

const GZIP_MAGIC = [0x1f, 0x8b, 0x08];
const BZIP2_MAGIC = [0x42, 0x5a, 0x68]; // "BZh"
const XZ_MAGIC = [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00];
const ZSTD_MAGIC = [0x28, 0xb5, 0x2f, 0xfd];
const ZSTD_SKIPPABLE_START = 0x184d2a50;
const ZSTD_SKIPPABLE_MASK = 0xfffffff0;

function hasPrefix(head: Uint8Array, magic: readonly number[]): boolean {
  if (head.length < magic.length) return false;
  for (let i = 0; i < magic.length; i++) if (head[i] !== magic[i]) return false;
  return true;
}

/**
 * The compression of a stream whose first bytes are `head` (pass at least 10 when the stream has
 * them), by Docker's `DetectCompression` rules: gzip `1f 8b 08`, bzip2 `BZh`, xz
 * `fd 37 7a 58 5a 00`, zstd `28 b5 2f fd` or — given 8 bytes or more — a zstd skippable frame
 * (little-endian magic `0x184D2A50`…`0x184D2A5F`). Anything else, including too few bytes, is
 * `'none'`.
 */
export function sniffCompression(head: Uint8Array): Compression {
  if (hasPrefix(head, GZIP_MAGIC)) return 'gzip';
  if (hasPrefix(head, BZIP2_MAGIC)) return 'bzip2';
  if (hasPrefix(head, XZ_MAGIC)) return 'xz';
  if (hasPrefix(head, ZSTD_MAGIC)) return 'zstd';
  if (head.length >= 8) {
    const magic = (head[0]! | (head[1]! << 8) | (head[2]! << 16) | (head[3]! << 24)) >>> 0;
    if (((magic & ZSTD_SKIPPABLE_MASK) >>> 0) === ZSTD_SKIPPABLE_START) return 'zstd';
  }
  return 'none';
}

/**
 * The uncompressed bytes of `source`, whatever its compression (see the module comment), as
 * chunks of up to 1 MiB. The format is chosen from the first 10 bytes (`sniffCompression`); an
 * empty source yields nothing. Corrupt or truncated data rejects with `CORRUPT_COMPRESSED_DATA`,
 * output beyond `maxOutputBytes` with `DECOMPRESSION_LIMIT` (before the offending chunk is
 * yielded), and nothing is left running when the generator finishes, fails, is abandoned with
 * `break`/`return()`, or is aborted.
 */
export async function* decompress(source: ByteInput, opts: DecompressOptions = {}): AsyncGenerator<Buffer, void, undefined> {
  const limit = opts.maxOutputBytes ?? Infinity;
  if (!(limit >= 0)) throw new RangeError(`maxOutputBytes must be a non-negative number, got ${opts.maxOutputBytes}`);
  const expansion = opts.expansion ?? DEFAULT_EXPANSION_LIMIT;
  if (expansion && !(expansion.ratio > 0 && expansion.floor >= 0)) {
    throw new RangeError(`expansion needs a positive ratio and a non-negative floor, got ${JSON.stringify(expansion)}`);
  }
  const signal = opts.signal;
  const input = new Input(source, signal);
  try {
    const format = sniffCompression(await input.peek(SNIFF_BYTES));
    opts.onCompression?.(format);
    let body: AsyncGenerator<Buffer, void, undefined>;
    switch (format) {
      case 'none':
        body = input.chunks();
        break;
      case 'gzip':
        body = throughZlib(zlib.createGunzip({ chunkSize: CHUNK }), input, signal, 'gzip', true);
        break;
      case 'zstd':
        body = unzstd(input, signal);
        break;
      case 'xz':
      case 'bzip2':
        body = throughCommand(format, input, signal);
        break;
    }
    const guard = format === 'none' ? false : expansion;
    let total = 0;
    for await (const chunk of body) {
      total += chunk.length;
      if (total > limit) throw new StrataError('DECOMPRESSION_LIMIT', `decompressed data exceeds ${limit} bytes`);
      if (guard && total > guard.floor && total > guard.ratio * input.bytesRead) throw bomb(format, guard, total, input.bytesRead);
      signal?.throwIfAborted();
      yield chunk;
    }
  } finally {
    await input.close();
  }
}

/**
 * `source` compressed as one gzip member (zlib, `level` 0–9, default 6) or one zstd frame
 * (`level` from zstd's minimum, negative, up to 22; default 3; with a content checksum), streamed
 * as chunks of up to 1 MiB. A bad level rejects with `INVALID_COMPRESSION_LEVEL`. The bytes
 * will not equal what Go or the CLIs write for the same input (different encoders); only the
 * decompressed content is meant to round-trip. Errors from `source` and the abort reason pass
 * through; nothing is left running afterwards.
 */
export async function* compress(
  source: ByteInput,
  format: 'gzip' | 'zstd',
  level?: number,
  opts: CompressOptions = {},
): AsyncGenerator<Buffer, void, undefined> {
  const input = new Input(source, opts.signal);
  try {
    if (format === 'gzip') {
      const lvl = level ?? 6;
      if (!Number.isInteger(lvl) || lvl < 0 || lvl > 9) {
        throw new StrataError('INVALID_COMPRESSION_LEVEL', `gzip level must be an integer from 0 to 9, got ${level}`);
      }
      yield* throughZlib(zlib.createGzip({ level: lvl, chunkSize: CHUNK }), input, opts.signal, 'gzip', false);
    } else if (format === 'zstd') {
      yield* zstdCompress(input, level ?? 3, opts.signal);
    } else {
      throw new StrataError('UNSUPPORTED_COMPRESSION', `cannot compress with ${String(format)}: only gzip and zstd are supported`);
    }
  } finally {
    await input.close();
  }
}

function bomb(format: Compression, guard: ExpansionLimit, out: number, read: number): StrataError {
  return new StrataError(
    'DECOMPRESSION_LIMIT',
    `${format} data decompresses to more than ${guard.ratio} times its size (${out} bytes from ${read}): refused as a decompression bomb`,
  );
}

// ---------------------------------------------------------------------------------------------
// Input: one pull-based reader over any ByteInput, with push-back (for sniffing) and abort.

function toBuffer(v: unknown): Buffer {
  if (Buffer.isBuffer(v)) return v;
  if (v instanceof Uint8Array) return Buffer.from(v.buffer, v.byteOffset, v.length);
  throw new TypeError(`byte stream yielded ${typeof v === 'string' ? 'a string' : typeof v}; expected Buffer/Uint8Array chunks`);
}

class Input {
  private readonly it: AsyncIterator<unknown> | Iterator<unknown>;
  private readonly stream: { destroy(): unknown } | undefined;
  private readonly pushedBack: Buffer[] = [];
  private inFlight = false;
  private closed = false;
  /** Bytes taken from the source so far (a chunk pushed back and taken again counts once). */
  bytesRead = 0;

  constructor(
    source: ByteInput,
    private readonly signal?: AbortSignal,
  ) {
    if (source instanceof Uint8Array) this.it = [source][Symbol.iterator]();
    else if (Symbol.asyncIterator in source) this.it = (source as AsyncIterable<unknown>)[Symbol.asyncIterator]();
    else this.it = (source as Iterable<unknown>)[Symbol.iterator]();
    const destroy = (source as { destroy?: unknown }).destroy;
    if (typeof destroy === 'function') this.stream = source as unknown as { destroy(): unknown };
  }

  /**
   * `p`, or the abort reason if the signal fires first. One listener per call, removed when `p`
   * settles — racing every chunk against one long-lived promise would leave a reaction on it per
   * chunk, each holding its chunk: the whole stream would stay in memory.
   */
  private untilAborted<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const onAbort = () => reject(signal.reason);
      signal.addEventListener('abort', onAbort, { once: true });
      p.then(
        (v) => {
          signal.removeEventListener('abort', onAbort);
          resolve(v);
        },
        (e: unknown) => {
          signal.removeEventListener('abort', onAbort);
          reject(e);
        },
      );
    });
  }

  /** The next non-empty chunk, or null at the end. Rejects with the abort reason when aborted. */
  async next(): Promise<Buffer | null> {
    const back = this.pushedBack.pop();
    if (back) return back;
    for (;;) {
      this.signal?.throwIfAborted();
      if (this.closed) return null;
      let r: IteratorResult<unknown>;
      this.inFlight = true;
      try {
        const p = Promise.resolve(this.it.next());
        r = this.signal ? await this.untilAborted(p, this.signal) : await p;
      } finally {
        this.inFlight = false;
      }
      if (r.done) return null;
      const buf = toBuffer(r.value);
      this.bytesRead += buf.length;
      if (buf.length > 0) return buf;
    }
  }

  /** Returns up to `n` leading bytes without consuming them (fewer only at the end of input). */
  async peek(n: number): Promise<Buffer> {
    const parts: Buffer[] = [];
    let len = 0;
    while (len < n) {
      const c = await this.next();
      if (!c) break;
      parts.push(c);
      len += c.length;
    }
    for (let i = parts.length - 1; i >= 0; i--) this.pushedBack.push(parts[i]!);
    return parts.length === 1 ? parts[0]!.subarray(0, n) : Buffer.concat(parts, len).subarray(0, n);
  }

  /** The remaining chunks, unchanged. */
  async *chunks(): AsyncGenerator<Buffer, void, undefined> {
    for (let c = await this.next(); c; c = await this.next()) yield c;
  }

  /**
   * Stops reading and closes the source: its iterator's `return()`, and for a Node stream also
   * `destroy()` right away (its iterator would wait for a pending read first). Idempotent, never
   * throws.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      this.stream?.destroy();
    } catch {
      /* already failing; nothing more to release */
    }
    try {
      const r = this.it.return?.();
      if (r && typeof (r as PromiseLike<unknown>).then === 'function') {
        const settled = Promise.resolve(r).catch(() => {});
        // An async generator queues return() behind a pending next(); don't wait on a stalled source.
        if (!this.inFlight) await settled;
      }
    } catch {
      /* the source's own cleanup failed; nothing more to release here */
    }
  }
}

/** Resolves when `w` can take more data ('drain') or is gone ('close'). */
function writable(w: Writable): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      w.off('drain', done);
      w.off('close', done);
      resolve();
    };
    w.on('drain', done);
    w.on('close', done);
  });
}

/**
 * Feeds `input` into `sink` with backpressure, then ends it; returns the bytes written. A source
 * error destroys `sink` with that error (so the reading side sees it). Never rejects.
 */
async function feed(input: Input, sink: Writable, onError: (e: unknown) => void): Promise<number> {
  let fed = 0;
  try {
    for (;;) {
      const c = await input.next();
      if (sink.destroyed || sink.writableEnded) return fed;
      if (!c) break;
      fed += c.length;
      if (!sink.write(c)) await writable(sink);
    }
    sink.end();
  } catch (e) {
    onError(e);
  }
  return fed;
}

// ---------------------------------------------------------------------------------------------
// gzip (node:zlib)

function isZlibError(e: unknown): e is Error & { code: string; errno: number } {
  const code: unknown = e instanceof Error ? (e as Error & { code?: unknown }).code : undefined;
  return typeof code === 'string' && code.startsWith('Z_');
}

function corrupt(format: string, detail: string): StrataError {
  return new StrataError('CORRUPT_COMPRESSED_DATA', `${format} data is corrupt: ${detail}`);
}

function truncated(format: string): StrataError {
  return new StrataError('CORRUPT_COMPRESSED_DATA', `${format} data is truncated`);
}

function lowerFirst(s: string): string {
  return s.length > 0 ? s[0]!.toLowerCase() + s.slice(1) : s;
}

async function* throughZlib(
  z: zlib.Gunzip | zlib.Gzip,
  input: Input,
  signal: AbortSignal | undefined,
  format: string,
  decoding: boolean,
): AsyncGenerator<Buffer, void, undefined> {
  const onAbort = () => z.destroy(signal!.reason);
  signal?.addEventListener('abort', onAbort, { once: true });
  const fed = feed(input, z, (e) => z.destroy(e as Error));
  try {
    for await (const chunk of z as AsyncIterable<Buffer>) yield chunk;
    // zlib stops at a member end followed by zero bytes and ignores the rest; Go reads the next
    // member header there and fails. Whatever zlib did not consume is trailing data.
    if (decoding && z.bytesWritten < (await fed)) {
      throw corrupt(format, 'unexpected data after the end of the compressed stream');
    }
  } catch (e) {
    if (!isZlibError(e)) throw e;
    if (e.code === 'Z_BUF_ERROR') throw truncated(format);
    throw corrupt(format, e.message);
  } finally {
    signal?.removeEventListener('abort', onAbort);
    z.destroy();
  }
}

// ---------------------------------------------------------------------------------------------
// zstd (zstd-napi's binding, driven directly)

type ZstdBinding = typeof import('zstd-napi/binding.js');
let zstdLoaded: ZstdBinding | undefined;

function zstdBinding(): ZstdBinding {
  if (!zstdLoaded) {
    try {
      zstdLoaded = createRequire(import.meta.url)('zstd-napi/binding.js') as ZstdBinding;
    } catch (e) {
      throw new StrataError(
        'UNSUPPORTED_COMPRESSION',
        'zstd support is unavailable: the zstd-napi native module is not built (run `npm rebuild zstd-napi`)',
        { cause: e },
      );
    }
  }
  return zstdLoaded;
}

async function* unzstd(input: Input, signal: AbortSignal | undefined): AsyncGenerator<Buffer, void, undefined> {
  const dctx = new (zstdBinding().DCtx)();
  let out = Buffer.allocUnsafe(CHUNK);
  let pos = 0;
  let inFrame = false;
  for (let chunk = await input.next(); chunk; chunk = await input.next()) {
    let src: Buffer = chunk;
    let stalls = 0;
    for (;;) {
      let ret: number, produced: number, consumed: number;
      try {
        [ret, produced, consumed] = dctx.decompressStream(out.subarray(pos), src);
      } catch (e) {
        throw corrupt('zstd', lowerFirst(e instanceof Error ? e.message : String(e)));
      }
      pos += produced;
      src = src.subarray(consumed);
      // A call that moved nothing (e.g. flushing at a frame boundary) reports the next frame's
      // header size, which says nothing about whether we are inside a frame.
      if (produced > 0 || consumed > 0) {
        inFrame = ret !== 0;
        stalls = 0;
      } else if (src.length > 0 && ++stalls > 2) {
        throw corrupt('zstd', 'decoder made no progress');
      }
      if (pos === out.length) {
        yield out;
        signal?.throwIfAborted();
        out = Buffer.allocUnsafe(CHUNK);
        pos = 0;
        continue; // more may be buffered inside the decoder even with no input left
      }
      if (src.length === 0) break;
    }
  }
  if (pos > 0) yield out.subarray(0, pos);
  if (inFrame) throw truncated('zstd');
}

async function* zstdCompress(input: Input, level: number, signal: AbortSignal | undefined): AsyncGenerator<Buffer, void, undefined> {
  const z = zstdBinding();
  if (!Number.isInteger(level) || level < z.minCLevel() || level > z.maxCLevel()) {
    throw new StrataError(
      'INVALID_COMPRESSION_LEVEL',
      `zstd level must be an integer from ${z.minCLevel()} to ${z.maxCLevel()}, got ${level}`,
    );
  }
  const cctx = new z.CCtx();
  cctx.setParameter(z.CParameter.compressionLevel, level);
  cctx.setParameter(z.CParameter.checksumFlag, 1);
  let out = Buffer.allocUnsafe(CHUNK);
  let pos = 0;
  let src: Buffer | null = await input.next();
  let end = false;
  for (;;) {
    if (!src) {
      src = EMPTY;
      end = true;
    }
    const [ret, produced, consumed] = cctx.compressStream2(out.subarray(pos), src, end ? z.EndDirective.end : z.EndDirective.continue);
    pos += produced;
    src = src.subarray(consumed);
    if (pos === out.length) {
      yield out;
      signal?.throwIfAborted();
      out = Buffer.allocUnsafe(CHUNK);
      pos = 0;
      continue;
    }
    if (end) {
      if (ret === 0) break; // frame complete and flushed
      continue;
    }
    if (src.length === 0) src = await input.next();
  }
  if (pos > 0) yield out.subarray(0, pos);
}

// ---------------------------------------------------------------------------------------------
// xz, bzip2 (through their commands, as dockerd does for xz)

async function* throughCommand(format: 'xz' | 'bzip2', input: Input, signal: AbortSignal | undefined): AsyncGenerator<Buffer, void, undefined> {
  // bzip2 -q would also hide the reason for a failure; xz -q only hides warnings.
  const args = format === 'xz' ? ['-d', '-c', '-q'] : ['-d', '-c'];
  const child = spawn(format, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  let spawnError: (Error & { code?: string }) | undefined;
  const exited = new Promise<void>((resolve) => {
    child.once('close', () => resolve());
    child.once('error', (e) => {
      spawnError = e;
      resolve();
    });
  });
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d: string) => {
    if (stderr.length < 4096) stderr += d;
  });
  // EPIPE when the command stops reading (it failed, or was killed): its exit status says why.
  child.stdin.on('error', () => {});
  const kill = () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  };
  const onAbort = () => {
    kill();
    (child.stdout as Readable).destroy(signal!.reason);
  };
  signal?.addEventListener('abort', onAbort, { once: true });
  void feed(input, child.stdin, (e) => {
    kill();
    (child.stdout as Readable).destroy(e as Error);
  });
  try {
    for await (const chunk of child.stdout as AsyncIterable<Buffer>) yield chunk;
    await exited;
    if (spawnError) {
      if (spawnError.code === 'ENOENT') {
        throw new StrataError(
          'UNSUPPORTED_COMPRESSION',
          `data is compressed with ${format}, which strata decodes with the ${format} command, and it is not installed`,
        );
      }
      throw new StrataError('UNSUPPORTED_COMPRESSION', `cannot run ${format} to decompress: ${spawnError.message}`);
    }
    if (child.exitCode !== 0) {
      const first = stderr.split('\n').find((l) => l.trim() !== '') ?? `${format} exited with status ${child.exitCode ?? child.signalCode}`;
      if (/unexpected end of input|ends unexpectedly/i.test(first)) throw truncated(format);
      const detail = first.replace(/^(xz|bzip2): (\(stdin\): )?/, '').replace(/\.$/, '').trim();
      throw corrupt(format, lowerFirst(detail));
    }
  } finally {
    signal?.removeEventListener('abort', onAbort);
    kill();
    child.stdin.destroy();
    (child.stdout as Readable).destroy();
    child.stderr.destroy();
  }
}
