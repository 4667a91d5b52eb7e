/**
 * Reading tar-split: gzip → JSON values → entries, as tar-split's `jsonUnpacker` does.
 *
 * Docker's files hold one compact object per line, and that is the fast path (one `JSON.parse`
 * per line). Go's decoder accepts any stream of JSON values separated by whitespace, so a line
 * that does not parse on its own (a pretty-printed object, two objects on one line) switches to a
 * small scanner that finds where each value ends.
 */
import fs from 'node:fs';
import zlib from 'node:zlib';
import { Readable } from 'node:stream';
import { StrataError } from '../../errors/index.js';
import { EntryType, corrupt, entryFromJson, entryNameBytes, type TarSplitEntry } from './entry.js';
import { goCleanPath } from '../gostrings.js';

const CHUNK = 1 << 20;

/** Where a tar-split comes from: a file path, or the gzip bytes as a stream or iterable. */
export type TarSplitSource = string | AsyncIterable<Uint8Array> | Iterable<Uint8Array>;

/** The error tar-split gives for a repeated path (`a` and `./a` count as one). */
export function duplicatePathError(nameBytes: Buffer): StrataError {
  return new StrataError(
    'TARSPLIT_DUPLICATE_PATH',
    `duplicates of file paths not supported: ${JSON.stringify(nameBytes.toString('utf8'))}`,
  );
}

/**
 * Tracks `filepath.Clean(name)` of File entries, as both tar-split's packer and unpacker do.
 * `add` returns false for a name seen before.
 */
export class PathSet {
  private readonly seen = new Set<string>();
  add(nameBytes: Buffer): boolean {
    const key = goCleanPath(nameBytes.toString('latin1'));
    if (this.seen.has(key)) return false;
    this.seen.add(key);
    return true;
  }
}

/** The decompressed bytes of a tar-split (multi-member gzip accepted, as Go's gzip reader does). */
export function gunzipTarSplit(source: TarSplitSource): AsyncIterable<Buffer> {
  const input =
    typeof source === 'string'
      ? fs.createReadStream(source, { highWaterMark: CHUNK })
      : Readable.from(source as AsyncIterable<Uint8Array>, { objectMode: false });
  const gunzip = zlib.createGunzip({ chunkSize: CHUNK });
  input.on('error', (err: Error) => gunzip.destroy(err));
  input.pipe(gunzip);
  return wrapZlibErrors(gunzip);
}

async function* wrapZlibErrors(stream: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  try {
    yield* stream;
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (typeof code === 'string' && code.startsWith('Z_')) {
      throw new StrataError('TARSPLIT_CORRUPT', `tar-split: bad gzip data (${(err as Error).message})`, { cause: err });
    }
    throw err;
  }
}

/**
 * The entries of a tar-split file (gzip'd JSON), in file order. File entries are checked for
 * duplicate paths as they come (`TARSPLIT_DUPLICATE_PATH`); malformed data fails with
 * `TARSPLIT_CORRUPT`.
 */
export function readTarSplit(source: TarSplitSource): AsyncGenerator<TarSplitEntry> {
  return parseTarSplitJson(gunzipTarSplit(source));
}

/** The entries of already-decompressed tar-split JSON, with the same checks as `readTarSplit`. */
export async function* parseTarSplitJson(chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>): AsyncGenerator<TarSplitEntry> {
  const seen = new PathSet();
  const check = (e: TarSplitEntry): TarSplitEntry => {
    if (e.type === EntryType.File) {
      const name = entryNameBytes(e);
      if (!seen.add(name)) throw duplicatePathError(name);
    }
    return e;
  };
  let carry: Buffer[] = []; // the start of a line that continues in a later chunk
  let pending = ''; // text of values being scanned in the slow path
  for await (const chunk of chunks as AsyncIterable<Uint8Array>) {
    let buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length);
    if (buf.lastIndexOf(0x0a) === -1) {
      carry.push(buf);
      continue;
    }
    if (carry.length > 0) {
      buf = Buffer.concat([...carry, buf]);
      carry = [];
    }
    // Whole lines are decoded together; the unfinished last line waits for the next chunk.
    const cut = buf.lastIndexOf(0x0a);
    if (cut + 1 < buf.length) carry.push(buf.subarray(cut + 1));
    const text = buf.toString('utf8', 0, cut);
    let start = 0;
    for (;;) {
      const nl = text.indexOf('\n', start);
      const line = nl === -1 ? text.slice(start) : text.slice(start, nl);
      start = nl + 1;
      if (pending !== '') {
        pending += line + '\n';
        const r = scanValues(pending);
        pending = pending.slice(r.consumed);
        for (const v of r.values) yield check(entryFromJson(v));
      } else {
        let value: unknown;
        let ok = true;
        try {
          value = JSON.parse(line);
        } catch {
          ok = false;
        }
        if (ok) yield check(entryFromJson(value));
        else if (!isBlank(line)) {
          const r = scanValues(line + '\n');
          pending = (line + '\n').slice(r.consumed);
          for (const v of r.values) yield check(entryFromJson(v));
        }
      }
      if (nl === -1) break;
    }
  }
  if (carry.length > 0) pending += Buffer.concat(carry).toString('utf8');
  if (pending !== '') {
    for (const v of scanValues(pending, true).values) yield check(entryFromJson(v));
  }
}

/**
 * The complete top-level JSON values at the start of `text` (separated by JSON whitespace) and
 * where the last one ends; an incomplete value at the end is left for more text unless `final`.
 * Syntax errors surface from JSON.parse as `TARSPLIT_CORRUPT`.
 */
function scanValues(text: string, final = false): { values: unknown[]; consumed: number } {
  const values: unknown[] = [];
  let consumed = 0;
  let i = 0;
  const n = text.length;
  for (;;) {
    while (i < n && isSpace(text.charCodeAt(i))) i++;
    if (i >= n) return { values, consumed: n };
    const begin = i;
    const c = text.charCodeAt(i);
    let end = -1;
    if (c === 0x7b || c === 0x5b) {
      let depth = 0;
      let inString = false;
      for (; i < n; i++) {
        const d = text.charCodeAt(i);
        if (inString) {
          if (d === 0x5c) i++;
          else if (d === 0x22) inString = false;
        } else if (d === 0x22) inString = true;
        else if (d === 0x7b || d === 0x5b) depth++;
        else if (d === 0x7d || d === 0x5d) {
          if (--depth === 0) {
            end = i + 1;
            break;
          }
        }
      }
    } else {
      // A scalar at the top level: only `null` decodes into an entry; JSON.parse judges the rest.
      let j = i;
      while (j < n && !isSpace(text.charCodeAt(j)) && text.charCodeAt(j) !== 0x7b && text.charCodeAt(j) !== 0x5b) j++;
      if (j < n || final) end = j;
    }
    if (end === -1) {
      if (final) throw corrupt('unexpected end of JSON input');
      return { values, consumed };
    }
    try {
      values.push(JSON.parse(text.slice(begin, end)));
    } catch (err) {
      throw corrupt(`invalid JSON (${(err as Error).message})`);
    }
    consumed = i = end;
  }
}

function isBlank(line: string): boolean {
  for (let i = 0; i < line.length; i++) if (!isSpace(line.charCodeAt(i))) return false;
  return true;
}

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}
