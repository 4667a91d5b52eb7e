/**
 * Disassembly: recording a tar's tar-split while its entries are applied, in one pass.
 *
 * This follows tar-split 0.11.2's `asm.NewInputTarStream`, which Docker 20.10 wraps around every
 * layer it registers: for each entry a Segment of the raw bytes before the content (when there
 * are any) and a File with the content's CRC-64; at the end a Segment of the end-of-archive bytes,
 * the trailing data in Segments of at most 1 MiB, and one empty Segment for the final read.
 */
import { Crc64 } from '../../digest/crc64.js';
import type { TarEntry, TarReader } from '../tar/index.js';
import type { SparseRegion } from '../tar/index.js';
import type { TarSplitPacker } from './packer.js';

/** Trailing data is recorded in Segments of this size (the last one shorter). */
export const TRAILING_SEGMENT = 1 << 20;

/**
 * Yields the reader's entries unchanged in shape while `packer` records the tar-split.
 *
 * The consumer may read an entry's `body()` (fully, partly, or not at all) or `readAll()`; when it
 * asks for the next entry, whatever it left unread is read here, so the CRC always covers the whole
 * content. A File whose cleaned path repeats an earlier one fails with `TARSPLIT_DUPLICATE_PATH`
 * before it is handed out. After the last entry, the end-of-archive bytes and the trailing data
 * (read here, 1 MiB at a time) are recorded and the packer is flushed — but not closed: the
 * caller closes it (and discards the output if anything failed). Memory stays bounded: content
 * chunks pass through, trailing data is held at most 1 MiB at a time.
 */
export async function* recordTarSplit(reader: TarReader, packer: TarSplitPacker): AsyncGenerator<TarEntry, void, undefined> {
  const crc = new Crc64();
  for (;;) {
    const e = await reader.next();
    if (!e) break;
    if (e.raw.length > 0) packer.addSegment(e.raw);
    const size = e.header.size;
    packer.beginFile(e.header.nameBytes, size);
    if (e.dataSize === 0 && !e.header.sparse) {
      // No content (dirs, links, devices, empty files): nothing to watch. Go still checksums
      // the empty read when the header's size field is not 0 (e.g. a hard link with a size).
      yield e;
      packer.endFile(size > 0 ? EMPTY_CRC : null);
    } else {
      crc.reset();
      const tracked = new TrackedEntry(e, size > 0 ? crc : undefined);
      yield tracked.entry;
      await tracked.finish();
      packer.endFile(size > 0 ? crc.digest() : null);
    }
    if (packer.wantsFlush) await packer.flush();
  }
  if (reader.endBytes.length > 0) packer.addSegment(reader.endBytes);
  await recordTrailing(reader.rest(TRAILING_SEGMENT), packer);
  await packer.flush();
}

/** CRC-64 of no bytes (all zero), what tar-split stores for a size > 0 entry without content. */
const EMPTY_CRC = Buffer.alloc(8);

/**
 * Records trailing data as Go does when reading a regular file: full 1 MiB Segments, then the
 * remainder, then the empty Segment of the read that hit EOF.
 */
async function recordTrailing(rest: AsyncIterable<Buffer>, packer: TarSplitPacker): Promise<void> {
  let acc: Buffer | undefined;
  let fill = 0;
  for await (const chunk of rest) {
    let b = chunk;
    while (b.length > 0) {
      if (fill === 0 && b.length >= TRAILING_SEGMENT) {
        packer.addSegment(b.subarray(0, TRAILING_SEGMENT));
        b = b.subarray(TRAILING_SEGMENT);
      } else {
        acc ??= Buffer.allocUnsafe(TRAILING_SEGMENT);
        const n = Math.min(b.length, TRAILING_SEGMENT - fill);
        b.copy(acc, fill, 0, n);
        fill += n;
        b = b.subarray(n);
        if (fill === TRAILING_SEGMENT) {
          packer.addSegment(acc); // encoded at once, so the buffer can be reused
          fill = 0;
        }
      }
      if (packer.wantsFlush) await packer.flush();
    }
  }
  if (fill > 0) packer.addSegment(acc!.subarray(0, fill));
  packer.addSegment(Buffer.alloc(0));
}

/** An entry whose content is checksummed as it passes, and drained by `finish` if left unread. */
class TrackedEntry {
  readonly entry: TarEntry;
  private inner: AsyncGenerator<Buffer> | undefined;
  private exhausted = false;
  private started = false;
  private readonly feed: ((b: Buffer) => void) | undefined;
  private readonly sparse: SparseCrc | undefined;

  constructor(
    private readonly source: TarEntry,
    crc: Crc64 | undefined,
  ) {
    if (crc && source.header.sparse) this.sparse = new SparseCrc(crc, source.header.sparse);
    this.feed = this.sparse ? (b) => this.sparse!.data(b) : crc ? (b) => crc.update(b) : undefined;
    const body = (): AsyncGenerator<Buffer> => {
      if (this.started) throw new Error('tar entry body read twice');
      this.started = true;
      return this.iterator();
    };
    this.entry = {
      header: source.header,
      raw: source.raw,
      dataSize: source.dataSize,
      dataOffset: source.dataOffset,
      body,
      async readAll() {
        const parts: Buffer[] = [];
        for await (const b of body()) parts.push(b);
        return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
      },
    };
  }

  /**
   * The consumer's view of the content: a plain iterator (one promise per chunk, not a generator
   * around a generator) whose `return` — a `break` in `for await` — leaves the rest for `finish`.
   */
  private iterator(): AsyncGenerator<Buffer> {
    const done: IteratorReturnResult<undefined> = { value: undefined, done: true };
    const it: AsyncGenerator<Buffer> = {
      next: () => this.pull(),
      return: async () => done,
      throw: async (err: unknown) => {
        throw err;
      },
      [Symbol.asyncIterator]: () => it,
    } as AsyncGenerator<Buffer>;
    return it;
  }

  private readonly onResult = (r: IteratorResult<Buffer>): IteratorResult<Buffer> => {
    if (r.done) this.exhausted = true;
    else this.feed?.(r.value);
    return r;
  };

  /** Next content chunk (checksummed). Never closes the inner generator. */
  private pull(): Promise<IteratorResult<Buffer>> {
    if (this.exhausted) return Promise.resolve({ value: undefined, done: true });
    this.inner ??= this.source.body();
    return this.inner.next().then(this.onResult);
  }

  /** Reads and checksums whatever the consumer did not. */
  async finish(): Promise<void> {
    if (this.feed === undefined) return; // size 0: nothing to checksum; the reader skips
    while (!(await this.pull()).done) {
      /* drained */
    }
    this.sparse?.end(this.source.header.size);
  }
}

const ZEROS = Buffer.alloc(1 << 16);

/**
 * CRC of a sparse file's logical content: Go's reader expands holes to zeros, and tar-split
 * checksums what it reads. The data chunks arrive as the regions back to back.
 */
class SparseCrc {
  private region = 0;
  private inRegion = 0; // bytes of the current region already fed
  private logical = 0; // logical offset reached

  constructor(
    private readonly crc: Crc64,
    private readonly regions: readonly SparseRegion[],
  ) {}

  data(b: Buffer): void {
    let p = 0;
    while (p < b.length) {
      const r = this.regions[this.region];
      if (!r) {
        // More data than the map describes; checksum it as is (the tar reader judges validity).
        this.crc.update(b.subarray(p));
        this.logical += b.length - p;
        return;
      }
      if (this.inRegion === 0) this.zeros(r.offset - this.logical);
      const n = Math.min(b.length - p, r.length - this.inRegion);
      this.crc.update(b.subarray(p, p + n));
      p += n;
      this.inRegion += n;
      this.logical += n;
      if (this.inRegion === r.length) {
        this.region++;
        this.inRegion = 0;
      }
    }
  }

  end(size: number): void {
    // Zero-length regions still move the offset; then the hole up to the logical size.
    for (; this.region < this.regions.length; this.region++) {
      const r = this.regions[this.region]!;
      if (r.length > 0) break;
      this.zeros(r.offset - this.logical);
    }
    this.zeros(size - this.logical);
  }

  private zeros(n: number): void {
    for (; n > 0; n -= ZEROS.length) {
      const k = Math.min(n, ZEROS.length);
      this.crc.update(ZEROS.subarray(0, k));
      this.logical += k;
    }
  }
}
