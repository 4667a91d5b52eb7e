/**
 * Writing tar-split: entries → JSON lines (positions, duplicate check) → gzip → file.
 */
import fs from 'node:fs';
import zlib from 'node:zlib';
import { once } from 'node:events';
import type { Writable } from 'node:stream';
import { EntryType, encodeEntry, encodeSegment, nameFields, type TarSplitEntry } from './entry.js';
import { PathSet, duplicatePathError } from './unpacker.js';

/** Where JSON-line text goes. `write` may return a promise to apply backpressure. */
export interface TarSplitOutput {
  write(text: string): void | Promise<void>;
  close(): void | Promise<void>;
  /** Stops without finishing (after a failure); releases what `close` would. Optional. */
  abort?(): void | Promise<void>;
}

/** How much text may wait for zlib before `write` waits for it. */
const GZIP_SLACK = 4 << 20;

/** Buffered text is handed to the output once it passes this size. */
const FLUSH_AT = 256 * 1024;

/**
 * tar-split's `jsonPacker`: numbers entries 0, 1, 2, … in the order they are added, refuses a
 * File whose `filepath.Clean`ed name was seen before, and writes each as its Go JSON line.
 * Adding is synchronous and buffers text; `flush` hands it to the output and waits for it.
 */
export class TarSplitPacker {
  private readonly out: TarSplitOutput;
  private readonly seen = new PathSet();
  private text = '';
  private pos = 0;
  private pendingFile: { nameBytes: Buffer; size: number; position: number } | undefined;

  constructor(out: TarSplitOutput) {
    this.out = out;
  }

  /** Number of entries added so far (the next entry's position). */
  get position(): number {
    return this.pos;
  }

  /** True when enough text is buffered that the caller should `await flush()`. */
  get wantsFlush(): boolean {
    return this.text.length >= FLUSH_AT;
  }

  /** Adds a Segment of raw archive bytes (may be empty: the 0.11.2 end marker). */
  addSegment(payload: Buffer): number {
    this.assertNoPendingFile();
    this.text += encodeSegment(payload, this.pos);
    return this.pos++;
  }

  /** Adds a File entry: raw name bytes, header size, CRC-64 (8 bytes) or null when size is 0. */
  addFile(nameBytes: Buffer, size: number, crc: Buffer | null): number {
    this.beginFile(nameBytes, size);
    return this.endFile(crc);
  }

  /**
   * Claims the next position for a File whose CRC is not known yet (its content is still
   * streaming), checking the duplicate-path rule now, before anything acts on the entry.
   * `endFile` must follow before any other entry is added.
   */
  beginFile(nameBytes: Buffer, size: number): number {
    this.assertNoPendingFile();
    if (!this.seen.add(nameBytes)) throw duplicatePathError(nameBytes);
    this.pendingFile = { nameBytes, size, position: this.pos };
    return this.pos;
  }

  /** Writes the File entry begun by `beginFile`. */
  endFile(crc: Buffer | null): number {
    const f = this.pendingFile;
    if (!f) throw new Error('TarSplitPacker.endFile without beginFile');
    this.pendingFile = undefined;
    this.text += encodeEntry({ type: EntryType.File, ...nameFields(f.nameBytes), size: f.size, payload: crc, position: f.position });
    return this.pos++;
  }

  /**
   * Adds any entry (as decoded from another tar-split); its `position` is replaced by the next
   * one, and a File goes through the duplicate check. A `name` that is not a valid name string
   * is written as given.
   */
  add(e: TarSplitEntry): number {
    this.assertNoPendingFile();
    if (e.type === EntryType.File) {
      const nameBytes = e.nameRaw && e.nameRaw.length > 0 ? e.nameRaw : Buffer.from(e.name ?? '', 'utf8');
      if (!this.seen.add(nameBytes)) throw duplicatePathError(nameBytes);
    }
    this.text += encodeEntry({ ...e, position: this.pos });
    return this.pos++;
  }

  /** Hands buffered text to the output, waiting for its backpressure. */
  async flush(): Promise<void> {
    if (this.text === '') return;
    const t = this.text;
    this.text = '';
    await this.out.write(t);
  }

  /** Flushes and closes the output (for a file: gzip trailer written, file closed). */
  async close(): Promise<void> {
    this.assertNoPendingFile();
    await this.flush();
    await this.out.close();
  }

  /**
   * Gives up after a failure: buffered text is dropped and the output released unfinished (a
   * file target is closed, left truncated for the caller to remove with its write-set).
   */
  async abort(): Promise<void> {
    this.text = '';
    this.pendingFile = undefined;
    await this.out.abort?.();
  }

  private assertNoPendingFile(): void {
    if (this.pendingFile) throw new Error('TarSplitPacker: a File entry was begun and not ended');
  }
}

/** Collects the JSON lines in memory (tests, small tools). */
export class MemoryTarSplitOutput implements TarSplitOutput {
  private readonly parts: string[] = [];
  write(text: string): void {
    this.parts.push(text);
  }
  close(): void {}
  /** Everything written, as one string of JSON lines. */
  get text(): string {
    return this.parts.join('');
  }
}

export interface GzipOutputOptions {
  /** gzip level, 1–9. Default 6, Go's `compress/gzip` default. */
  level?: number;
  /** For a path target: fsync the file before `close` resolves. Default false. */
  fsync?: boolean;
}

/**
 * gzip'd JSON lines into a file (created or truncated, mode 0644) or into a Writable (which is
 * ended on close). The gzip header is Go's — `1f 8b 08 00 00 00 00 00 00 ff` (no name, mtime 0,
 * OS 255) — though readers accept any; the deflate bytes are zlib's, not Go's, which nothing
 * depends on (spec 4.1).
 */
export class GzipTarSplitOutput implements TarSplitOutput {
  private readonly gzip: zlib.Gzip;
  private readonly pump: Promise<void>;
  private failure: unknown;

  constructor(target: string | Writable, opts: GzipOutputOptions = {}) {
    this.gzip = zlib.createGzip({ level: opts.level ?? 6, chunkSize: 64 * 1024 });
    this.pump = this.run(target, opts.fsync ?? false).catch((err: unknown) => {
      this.failure ??= err;
      this.gzip.destroy();
    });
  }

  async write(text: string): Promise<void> {
    if (this.failure) throw this.failure;
    this.gzip.write(text);
    // A few MiB of slack (not the stream's 16 KiB) lets the main thread go on encoding while
    // zlib compresses on its own thread; past that, wait until zlib has caught up.
    if (this.gzip.writableLength > GZIP_SLACK) {
      await Promise.race([once(this.gzip, 'drain'), this.pump]);
      if (this.failure) throw this.failure;
    }
  }

  async close(): Promise<void> {
    if (!this.failure) this.gzip.end();
    await this.pump;
    if (this.failure) throw this.failure;
  }

  async abort(): Promise<void> {
    this.failure ??= new Error('tar-split output aborted');
    this.gzip.destroy();
    await this.pump;
  }

  private async run(target: string | Writable, fsync: boolean): Promise<void> {
    let offset = 0;
    const fixHeader = (chunk: Buffer): Buffer => {
      // Byte 9 of the gzip header is the OS field: zlib writes 3 (Unix), Go writes 255.
      if (offset <= 9 && offset + chunk.length > 9) chunk[9 - offset] = 0xff;
      offset += chunk.length;
      return chunk;
    };
    if (typeof target === 'string') {
      const fh = await fs.promises.open(target, 'w', 0o644);
      try {
        for await (const chunk of this.gzip as AsyncIterable<Buffer>) {
          const c = fixHeader(chunk);
          let done = 0;
          while (done < c.length) done += (await fh.write(c, done, c.length - done)).bytesWritten;
        }
        if (fsync) await fh.sync();
      } finally {
        await fh.close();
      }
      return;
    }
    // The target's errors end the pump (and reach the next write or close), never the process.
    const onError = (err: Error) => {
      this.failure ??= err;
      this.gzip.destroy();
    };
    target.on('error', onError);
    try {
      for await (const chunk of this.gzip as AsyncIterable<Buffer>) {
        if (!target.write(fixHeader(chunk))) await once(target, 'drain');
      }
      target.end();
      await once(target, 'finish');
    } catch (err) {
      target.destroy(); // without the error: an 'error' event nobody listens to would crash
      throw err;
    } finally {
      target.off('error', onError);
    }
  }
}

/** A packer writing gzip'd tar-split to `target` (a path or a Writable). */
export function createTarSplitWriter(target: string | Writable, opts: GzipOutputOptions = {}): TarSplitPacker {
  return new TarSplitPacker(new GzipTarSplitOutput(target, opts));
}
