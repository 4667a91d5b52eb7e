/**
 * Reassembly: tar-split + the files on disk → the original tar, byte for byte
 * (tar-split's `asm.WriteOutputTarStream`, spec 4.5).
 */
import fs from 'node:fs';
import path from 'node:path';
import type { FileHandle } from 'node:fs/promises';
import { Crc64 } from '../../digest/crc64.js';
import { StrataError } from '../../errors/index.js';
import { EntryType, entryNameBytes, type TarSplitEntry } from './entry.js';
import { goCleanPath, goQuote } from '../gostrings.js';
import { readTarSplit, type TarSplitSource } from './unpacker.js';

/**
 * A file's content for reassembly: a path (string, or a Buffer of raw path bytes), an open file
 * descriptor (number) or FileHandle — read from its current position and closed here — or the
 * content itself as chunks.
 */
export type FileSource = string | Buffer | number | FileHandle | AsyncIterable<Uint8Array> | Iterable<Uint8Array>;

/** Finds the content of the File entry named `nameBytes` (raw bytes, as in the tar). */
export type FileGetter = (nameBytes: Buffer, entry: TarSplitEntry) => FileSource | Promise<FileSource>;

export interface AssembleOptions {
  /** Size of the output chunks (segments and file contents are packed into them). Default 1 MiB. */
  chunkSize?: number;
  /**
   * Read paths and descriptors with blocking calls on the main thread (default true). Files are
   * read straight into the output chunk either way; blocking reads are ~5–10× faster for the
   * many small files of a typical layer, because each async call is a thread-pool round trip.
   * Set false where the event loop must not stall on a slow disk.
   */
  blocking?: boolean;
}

/**
 * The tar described by the tar-split at `tarSplit`, as chunks. Segments are written verbatim; a
 * File with size > 0 is read whole from `getFile` while its CRC-64 is computed, and a mismatch
 * fails with `TARSPLIT_CHECKSUM` (`file integrity checksum failed for "<name>"`, as Docker says);
 * Files of size 0 are not looked up. A file longer than recorded fails the same way as soon as
 * the extra byte is read (Go reads to the end first); a shorter one fails its CRC. A path that does not exist fails with `TARSPLIT_FILE_MISSING`. Duplicate
 * paths fail with `TARSPLIT_DUPLICATE_PATH`, bad input with `TARSPLIT_CORRUPT`. Chunks are fresh
 * buffers the consumer may keep.
 */
export function assembleTar(tarSplit: TarSplitSource, getFile: FileGetter, opts: AssembleOptions = {}): AsyncGenerator<Buffer> {
  return assembleEntries(readTarSplit(tarSplit), getFile, opts);
}

/** `assembleTar` over entries already decoded (e.g. from `readTarSplit`). */
export async function* assembleEntries(
  entries: AsyncIterable<TarSplitEntry> | Iterable<TarSplitEntry>,
  getFile: FileGetter,
  opts: AssembleOptions = {},
): AsyncGenerator<Buffer> {
  const size = opts.chunkSize ?? 1 << 20;
  const blocking = opts.blocking ?? true;
  let out = Buffer.allocUnsafe(size);
  let pos = 0;
  const crc = new Crc64();
  /** Copies bytes into the output chunk, handing each chunk on as soon as it is full. */
  function* copyOut(bytes: Uint8Array): Generator<Buffer> {
    let off = 0;
    while (off < bytes.length) {
      const n = Math.min(bytes.length - off, size - pos);
      out.set(bytes.subarray(off, off + n), pos);
      off += n;
      pos += n;
      if (pos === size) {
        yield out;
        out = Buffer.allocUnsafe(size);
        pos = 0;
      }
    }
  }
  for await (const e of entries as AsyncIterable<TarSplitEntry>) {
    if (e.type === EntryType.Segment) {
      const p = e.payload;
      if (!p || p.length === 0) continue;
      if (p.length >= size && pos === 0) {
        yield p; // a big trailing-data segment: hand it on as it is
        continue;
      }
      yield* copyOut(p);
      continue;
    }
    if (e.type !== EntryType.File || !e.size) continue;
    const name = entryNameBytes(e);
    crc.reset();
    let src = getFile(name, e);
    if (src instanceof Promise) src = await src;
    // At most one byte more than recorded is read: a longer file fails its checksum either way
    // (Go reads it to the end first), and a device that never ends cannot stall us.
    const limit = e.size + 1;
    let total = 0;
    if (typeof src === 'number' || typeof src === 'string' || Buffer.isBuffer(src) || isFileHandle(src)) {
      // Read straight into the output chunk, blocking or not.
      let fd: number | undefined;
      let fh: FileHandle | undefined;
      if (typeof src === 'number') fd = src;
      else if (isFileHandle(src)) fh = src;
      else {
        try {
          if (blocking) fd = fs.openSync(src, OPEN_FLAGS);
          else fh = await fs.promises.open(src, OPEN_FLAGS);
        } catch (err) {
          throw openError(err, name, src);
        }
      }
      try {
        for (;;) {
          if (pos === size) {
            yield out;
            out = Buffer.allocUnsafe(size);
            pos = 0;
          }
          const want = Math.min(size - pos, limit - total);
          let n: number;
          try {
            n = fd !== undefined ? fs.readSync(fd, out, pos, want, null) : (await fh!.read(out, pos, want, null)).bytesRead;
          } catch (err) {
            throw readError(err, name);
          }
          if (n === 0) break;
          crc.update(out.subarray(pos, pos + n));
          pos += n;
          total += n;
          if (total > e.size) throw checksumError(name);
          // A short read that reaches the recorded size is the end of a regular file.
          if (n < want && total === e.size) break;
        }
      } finally {
        if (fd !== undefined) fs.closeSync(fd);
        else await fh!.close();
      }
    } else {
      for await (const chunk of src as AsyncIterable<Uint8Array>) {
        total += chunk.length;
        if (total > e.size) throw checksumError(name);
        crc.update(chunk);
        yield* copyOut(chunk);
      }
    }
    if (!e.payload || !crc.digest().equals(e.payload)) throw checksumError(name);
  }
  if (pos > 0) yield out.subarray(0, pos);
}

/** Read-only; non-blocking so that a FIFO where a file should be fails instead of hanging. */
const OPEN_FLAGS = fs.constants.O_RDONLY | fs.constants.O_NONBLOCK;

/** A directory or a FIFO where a file should be (EISDIR, EAGAIN) gets a clear error. */
function readError(err: unknown, name: Buffer): unknown {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'EISDIR' || code === 'EAGAIN' || code === 'EWOULDBLOCK') {
    return new StrataError('TARSPLIT_NOT_A_FILE', `tar-split: ${goQuote(name)} is not a regular file on disk`, { cause: err });
  }
  return err;
}

function checksumError(name: Buffer): StrataError {
  return new StrataError('TARSPLIT_CHECKSUM', `file integrity checksum failed for ${goQuote(name)}`);
}

function isFileHandle(x: unknown): x is FileHandle {
  return (
    typeof x === 'object' &&
    x !== null &&
    typeof (x as FileHandle).fd === 'number' &&
    typeof (x as FileHandle).read === 'function' &&
    typeof (x as FileHandle).close === 'function'
  );
}

function openError(err: unknown, name: Buffer, where: string | Buffer): unknown {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOENT' || code === 'ENOTDIR') {
    return new StrataError(
      'TARSPLIT_FILE_MISSING',
      `tar-split: file ${goQuote(name)} is missing (${Buffer.isBuffer(where) ? where.toString('utf8') : where})`,
      { cause: err },
    );
  }
  return err;
}

export interface RootGetterOptions {
  /** Open files and resolve directories with blocking calls (default true; see AssembleOptions). */
  blocking?: boolean;
}

/**
 * The usual getter: File entries are read from under `root` (a layer's diff directory or a
 * mounted view of it). The name's raw bytes are cleaned as a tar applier does: an absolute name is
 * taken relative to the root, and a name whose `..` would climb above the root fails with
 * `TARSPLIT_BREAKOUT`. Directories on the way may be symlinks only if they resolve inside the
 * root (checked once per directory), and the file itself is opened without following a symlink —
 * so no byte from outside the root can end up in the stream. Returns an open descriptor (or a
 * FileHandle when not blocking) that the assembler reads and closes.
 */
export function rootFileGetter(root: string, opts: RootGetterOptions = {}): FileGetter {
  const blocking = opts.blocking ?? true;
  const rootBytes = Buffer.from(path.resolve(root) + '/');
  const display = path.resolve(root);
  let realRoot: string | undefined; // latin1 view of the root's real path, with a trailing '/'
  const checked = new Map<string, true | Promise<void>>();

  const breakout = (name: Buffer, why = `leads outside ${display}`): StrataError =>
    new StrataError('TARSPLIT_BREAKOUT', `tar-split: ${goQuote(name)} ${why}`);

  const verify = (real: Buffer, name: Buffer): void => {
    const r = real.toString('latin1') + '/';
    if (!r.startsWith(realRoot!)) throw breakout(name);
  };

  const resolve = (name: Buffer): Buffer => {
    const clean = goCleanPath(name.toString('latin1'));
    if (clean === '..' || clean.startsWith('../')) throw breakout(name);
    const r = clean.charCodeAt(0) === 0x2f ? clean.slice(1) : clean;
    if (r === '' || r === '.') throw new StrataError('TARSPLIT_CORRUPT', `tar-split: file entry ${goQuote(name)} names the root directory`);
    return Buffer.from(r, 'latin1');
  };

  const dirOf = (rel: Buffer): string | undefined => {
    const slash = rel.lastIndexOf(0x2f);
    return slash === -1 ? undefined : rel.toString('latin1', 0, slash);
  };

  const onOpenError = (err: unknown, name: Buffer, full: Buffer): unknown => {
    if ((err as NodeJS.ErrnoException).code === 'ELOOP') {
      return new StrataError('TARSPLIT_BREAKOUT', `tar-split: ${goQuote(name)} is a symlink on disk, not a file`, { cause: err });
    }
    return openError(err, name, full);
  };

  if (blocking) {
    return (name: Buffer): FileSource => {
      const rel = resolve(name);
      const dir = dirOf(rel);
      if (dir !== undefined && !checked.has(dir)) {
        realRoot ??= Buffer.from(fs.realpathSync.native(display)).toString('latin1').replace(/\/?$/, '/');
        let real: Buffer;
        try {
          real = fs.realpathSync.native(Buffer.concat([rootBytes, Buffer.from(dir, 'latin1')]), { encoding: 'buffer' });
        } catch (err) {
          throw openError(err, name, rootBytes);
        }
        verify(real, name);
        checked.set(dir, true);
      }
      const full = Buffer.concat([rootBytes, rel]);
      try {
        return fs.openSync(full, OPEN_FLAGS | fs.constants.O_NOFOLLOW);
      } catch (err) {
        throw onOpenError(err, name, full);
      }
    };
  }

  return async (name: Buffer): Promise<FileSource> => {
    const rel = resolve(name);
    const dir = dirOf(rel);
    if (dir !== undefined) {
      let p = checked.get(dir);
      if (p === undefined) {
        p = (async () => {
          realRoot ??= Buffer.from(await fs.promises.realpath(display)).toString('latin1').replace(/\/?$/, '/');
          let real: Buffer;
          try {
            real = await fs.promises.realpath(Buffer.concat([rootBytes, Buffer.from(dir, 'latin1')]), { encoding: 'buffer' });
          } catch (err) {
            throw openError(err, name, rootBytes);
          }
          verify(real, name);
        })();
        checked.set(dir, p);
      }
      if (p !== true) await p;
    }
    const full = Buffer.concat([rootBytes, rel]);
    try {
      return await fs.promises.open(full, OPEN_FLAGS | fs.constants.O_NOFOLLOW);
    } catch (err) {
      throw onOpenError(err, name, full);
    }
  };
}
