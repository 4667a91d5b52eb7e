/**
 * A pull-based byte reader over an async iterable of chunks.
 *
 * The tar reader needs two kinds of reads: exact-length reads for header blocks (which may span
 * source chunks and are then copied together), and "whatever is buffered, up to n" reads for file
 * bodies (which are handed out as zero-copy views of the source chunks). Chunks are not copied
 * unless a read spans two of them.
 */
const EMPTY = Buffer.alloc(0);

export type ChunkSource = AsyncIterable<Uint8Array> | Iterable<Uint8Array>;

export class ByteSource {
  private readonly it: AsyncIterator<Uint8Array> | Iterator<Uint8Array>;
  private buf: Buffer = EMPTY;
  private off = 0;
  private ended = false;
  /** Total bytes handed out so far. */
  position = 0;

  constructor(source: ChunkSource) {
    this.it =
      Symbol.asyncIterator in source
        ? (source as AsyncIterable<Uint8Array>)[Symbol.asyncIterator]()
        : (source as Iterable<Uint8Array>)[Symbol.iterator]();
  }

  /** Bytes buffered and not yet handed out. */
  get buffered(): number {
    return this.buf.length - this.off;
  }

  /** Loads the next non-empty chunk; false at end of input. Only call when nothing is buffered. */
  private async fill(): Promise<boolean> {
    while (!this.ended) {
      const r = await this.it.next();
      if (r.done) {
        this.ended = true;
        break;
      }
      const v = r.value;
      if (v.length === 0) continue;
      this.buf = Buffer.isBuffer(v) ? v : Buffer.from(v.buffer, v.byteOffset, v.length);
      this.off = 0;
      return true;
    }
    this.buf = EMPTY;
    this.off = 0;
    return false;
  }

  /** Takes exactly `n` bytes if they are already buffered (no await); otherwise undefined. */
  take(n: number): Buffer | undefined {
    if (this.buf.length - this.off < n) return undefined;
    const out = this.buf.subarray(this.off, this.off + n);
    this.off += n;
    this.position += n;
    return out;
  }

  /** Reads exactly `n` bytes, or fewer only when the input ends first. */
  async readExact(n: number): Promise<Buffer> {
    const fast = this.take(n);
    if (fast) return fast;
    const parts: Buffer[] = [];
    let need = n;
    while (need > 0) {
      if (this.buffered === 0 && !(await this.fill())) break;
      const got = this.buf.subarray(this.off, this.off + Math.min(need, this.buffered));
      this.off += got.length;
      this.position += got.length;
      parts.push(got);
      need -= got.length;
    }
    return parts.length === 1 ? parts[0]! : Buffer.concat(parts, n - need);
  }

  /** Returns between 1 and `max` bytes without copying, or null at end of input. */
  async readSome(max: number): Promise<Buffer | null> {
    if (this.buffered === 0 && !(await this.fill())) return null;
    const out = this.buf.subarray(this.off, this.off + Math.min(max, this.buffered));
    this.off += out.length;
    this.position += out.length;
    return out;
  }

  /** Discards up to `n` bytes; returns how many were discarded (fewer only at end of input). */
  async discard(n: number): Promise<number> {
    let left = n;
    while (left > 0) {
      const b = await this.readSome(left);
      if (!b) break;
      left -= b.length;
    }
    return n - left;
  }

  /** Stops reading the underlying iterator (e.g. closes a file stream) when abandoned early. */
  async close(): Promise<void> {
    if (!this.ended) {
      this.ended = true;
      await this.it.return?.();
    }
  }
}
