/**
 * File reads shared by the archive sources: a byte range streamed in 1 MiB positional reads, and
 * Node's file errors as one line.
 */
import type { FileHandle } from 'node:fs/promises';
import { archiveError } from './members.js';

/** open() reads at most this much at a time. */
export const READ_CHUNK = 1 << 20;

/**
 * `size` bytes of `fh` from `offset`, as fresh buffers of at most 1 MiB (the caller may keep
 * them). A file that ends early is ARCHIVE_TRUNCATED (`what` names it); the signal is checked
 * before every read.
 */
export async function* readRange(
  fh: FileHandle,
  offset: number,
  size: number,
  what: string,
  signal?: AbortSignal,
): AsyncGenerator<Buffer> {
  let pos = offset;
  const end = offset + size;
  while (pos < end) {
    signal?.throwIfAborted();
    const buf = Buffer.allocUnsafe(Math.min(READ_CHUNK, end - pos));
    const { bytesRead } = await fh.read(buf, 0, buf.length, pos);
    if (bytesRead === 0) {
      throw archiveError('ARCHIVE_TRUNCATED', `archive is truncated: ${what} ends ${end - pos} bytes early`);
    }
    pos += bytesRead;
    yield bytesRead === buf.length ? buf : buf.subarray(0, bytesRead);
  }
}

/** Reads exactly `length` bytes at `position` (fewer only at the end of the file). */
export async function readAt(fh: FileHandle, position: number, length: number): Promise<Buffer> {
  const buf = Buffer.alloc(length);
  let got = 0;
  while (got < length) {
    const { bytesRead } = await fh.read(buf, got, length - got, position + got);
    if (bytesRead === 0) break;
    got += bytesRead;
  }
  return got === length ? buf : buf.subarray(0, got);
}
