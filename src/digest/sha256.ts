/**
 * Streaming SHA-256 over `node:crypto` (OpenSSL, SHA-NI where the CPU has it: ~1.8 GB/s in
 * memory on the reference machine, so hashing is never the bottleneck of a layer pipeline).
 */
import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import type { Digest } from './digest.js';

/** Read size for `sha256File`: 1 MiB reads are twice as fast as the 64 KiB stream default. */
const FILE_CHUNK = 1 << 20;

/** An incremental SHA-256 hasher that yields a `Digest`. */
export class Sha256 {
  private readonly hash = crypto.createHash('sha256');
  private bytes = 0;

  /** Feeds `data`. The bytes are consumed at once, so the caller may reuse the buffer after. */
  update(data: Uint8Array): this {
    this.hash.update(data);
    this.bytes += data.length;
    return this;
  }

  /** Number of bytes fed so far. */
  get size(): number {
    return this.bytes;
  }

  /** Finishes the hash and returns `sha256:<hex>`. The hasher cannot be used afterwards. */
  digest(): Digest {
    return ('sha256:' + this.hash.digest('hex')) as Digest;
  }
}

/** The digest of `data` (one call, no streaming). */
export function sha256Of(data: Uint8Array | string): Digest {
  return ('sha256:' + crypto.createHash('sha256').update(data).digest('hex')) as Digest;
}

/**
 * The digest of the file at `path`, read in 1 MiB pieces through one reused buffer (so memory
 * stays flat whatever the file size). Rejects with the fs error (ENOENT, EISDIR, …) as is.
 */
export async function sha256File(path: string): Promise<Digest> {
  const fh = await fs.open(path, 'r');
  try {
    const hash = crypto.createHash('sha256');
    const buf = Buffer.allocUnsafe(FILE_CHUNK);
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, FILE_CHUNK, null);
      if (bytesRead === 0) break;
      hash.update(bytesRead === FILE_CHUNK ? buf : buf.subarray(0, bytesRead));
    }
    return ('sha256:' + hash.digest('hex')) as Digest;
  } finally {
    await fh.close();
  }
}

/**
 * A pass-through that hashes a byte pipeline: yields every chunk of `source` unchanged (same
 * Buffer objects, no copies) and, once `source` has ended, calls `onDigest(digest, size)` with
 * the SHA-256 and length of everything that went through — before the consumer's loop sees the
 * end. If the consumer stops early or the source fails, `onDigest` is never called (a partial
 * hash would be a wrong DiffID).
 *
 *   let diffId: Digest | undefined;
 *   for await (const chunk of hashing(decompress(blob), (d) => (diffId = d))) tar.push(chunk);
 *
 * It is an async generator rather than a `Transform` stream: it composes with `for await`, with
 * the tar reader (which pulls from any async iterable) and with `stream.pipeline` (which accepts
 * async generators), and at 1 MiB chunks the two measured the same (≈1.0–1.1 GB/s from a
 * page-cached file, best of five; the hash itself is the cost).
 */
export async function* hashing(
  source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  onDigest: (digest: Digest, size: number) => void,
): AsyncGenerator<Buffer, void, undefined> {
  const hash = crypto.createHash('sha256');
  let size = 0;
  for await (const chunk of source) {
    hash.update(chunk);
    size += chunk.length;
    yield Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length);
  }
  onDigest(('sha256:' + hash.digest('hex')) as Digest, size);
}
