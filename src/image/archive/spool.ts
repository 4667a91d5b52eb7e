/**
 * An archive that cannot be read in place (a stream, or a compressed file) unpacked into a spool
 * directory: every regular file's content goes to a numbered file (`1`, `2`, …; never the
 * member's own name, which is untrusted), and the member table maps names to those files.
 *
 * The input is decompressed (any format `decompress` knows) and read with TarReader; each chunk
 * is written before the next one is pulled, so memory stays at about one 1 MiB chunk whatever the
 * archive's size. The bomb guard counts decompressed bytes of a compressed input only (an
 * uncompressed stream is as large as its sender makes it anyway).
 */
import fs from 'node:fs';
import path from 'node:path';
import { decompress, type ByteInput, type Compression } from '../../archive/compression.js';
import { TarType, TarReader, type TarEntry } from '../../archive/tar/index.js';
import { StrataError, isStrataError } from '../../errors/index.js';
import { MemberTable, archiveError, memberName, shownName } from './members.js';

export interface SpoolOptions {
  signal?: AbortSignal | undefined;
  /** Maximum decompressed bytes of a compressed input. */
  maxBytes: number;
}

/**
 * Unpacks the tar in `input` into `dir` (which must exist and be empty). `label` names the input
 * in messages (`input` for a stream, the path for a file). Throws ARCHIVE_INVALID,
 * ARCHIVE_TRUNCATED, ARCHIVE_UNSAFE_PATH, and decompression errors unchanged; the caller removes
 * `dir` on failure.
 */
export async function spoolTar(input: ByteInput, dir: string, label: string, opts: SpoolOptions): Promise<MemberTable<string>> {
  let compression: Compression = 'none';
  const bytes = decompress(input, { signal: opts.signal, onCompression: (c) => (compression = c) });
  const reader = new TarReader(limited(bytes, opts.maxBytes, () => compression !== 'none'));
  const table = new MemberTable<string>();
  let entries = 0;
  try {
    for (;;) {
      const entry = await nextEntry(reader, label, entries);
      if (!entry) break;
      entries++;
      opts.signal?.throwIfAborted();
      await spoolEntry(entry, table, dir, entries, label);
    }
    if (entries === 0 && reader.position === 0) throw archiveError('ARCHIVE_INVALID', `${label} is empty`);
    await drain(reader, opts.signal);
    return table;
  } finally {
    await reader.close();
  }
}

async function spoolEntry(entry: TarEntry, table: MemberTable<string>, dir: string, seq: number, label: string): Promise<void> {
  const h = entry.header;
  if (h.type === TarType.PaxGlobal) return; // not a member; Go ignores its records
  memberName(h.nameBytes); // refuse an escaping name before writing anything
  if (h.sparse) throw archiveError('ARCHIVE_INVALID', `${label} holds a sparse file (${shownName(h.nameBytes)}), which image archives do not use`);
  if (h.type === TarType.Reg) {
    const file = path.join(dir, String(seq));
    await writeContent(entry, file, label);
    table.addFile(h.nameBytes, entry.dataSize, file);
  } else {
    table.addNonFile(h); // content, if any, is skipped by the reader
  }
}

/**
 * Reads what follows the end-of-archive marker to the end of the input and drops it. A writer
 * piping into strata (`docker save | strata load`) would otherwise die of EPIPE on the record
 * padding GNU tar and others add, and the decompressor would never reach the end of the stream,
 * where gzip's CRC and zstd's checksum are verified.
 */
async function drain(reader: TarReader, signal: AbortSignal | undefined): Promise<void> {
  for await (const chunk of reader.rest()) {
    void chunk;
    signal?.throwIfAborted();
  }
}

/** The next entry; TarReader's errors as archive errors. */
async function nextEntry(reader: TarReader, label: string, entries: number): Promise<TarEntry | null> {
  try {
    return await reader.next();
  } catch (e) {
    if (!isStrataError(e) || !e.code.startsWith('TAR_')) throw e;
    // Nothing tar-like in the first block: not a tar at all (a text file, a short file).
    if (entries === 0 && reader.position <= 512) throw archiveError('ARCHIVE_INVALID', `${label} is not a tar archive`, e);
    if (e.code === 'TAR_TRUNCATED') {
      throw archiveError('ARCHIVE_TRUNCATED', `archive is truncated: ${label} ends inside a header at offset ${reader.position}`, e);
    }
    throw archiveError('ARCHIVE_INVALID', `${label} is not a valid tar archive: ${e.message.replace(/^tar: /, '')}`, e);
  }
}

/** Bytes gathered before one write: a pipe gives 64 KiB chunks, and a write per chunk is a thread-pool round trip each (6× slower per GiB). */
const WRITE_BATCH = 1 << 20;

/** Writes the entry's content to a new private file, in batches of about 1 MiB. */
async function writeContent(entry: TarEntry, file: string, label: string): Promise<void> {
  const fh = await fs.promises.open(file, 'wx', 0o600);
  let written = 0;
  let batch: Buffer[] = [];
  let batched = 0;
  const flush = async () => {
    let data = batch.length === 1 ? batch[0]! : Buffer.concat(batch, batched);
    while (data.length > 0) data = data.subarray((await fh.write(data)).bytesWritten);
    batch = [];
    batched = 0;
  };
  try {
    for await (const chunk of entry.body()) {
      batch.push(chunk);
      batched += chunk.length;
      written += chunk.length;
      if (batched >= WRITE_BATCH) await flush();
    }
    await flush();
  } catch (e) {
    if (!isStrataError(e, 'TAR_TRUNCATED')) throw e;
    const missing = entry.dataSize - written;
    throw archiveError('ARCHIVE_TRUNCATED', `archive is truncated: ${shownName(entry.header.nameBytes)} needs ${missing} bytes past the end of ${label}`, e);
  } finally {
    await fh.close();
  }
}

/** `src`, failing once more than `max` bytes went through while `active()` holds. */
async function* limited(src: AsyncIterable<Buffer>, max: number, active: () => boolean): AsyncGenerator<Buffer> {
  let total = 0;
  for await (const chunk of src) {
    total += chunk.length;
    if (total > max && active()) throw new StrataError('DECOMPRESSION_LIMIT', `decompressed data exceeds ${max} bytes`);
    yield chunk;
  }
}
