/**
 * tar-split: how Docker gives back a layer's exact tar after unpacking it.
 *
 * A layer is named by the SHA-256 of its tar (the DiffID), but Docker keeps a layer unpacked —
 * as files in `overlay2/<cache-id>/diff` — and throws the tar away. To `docker save` or push the
 * layer later it must produce the *same* bytes again, and a tar writer cannot: header fields,
 * PAX records, padding, the order of entries and any junk after the end are all choices of
 * whoever wrote the original. So while registering a layer Docker records everything in the tar
 * that is *not* file content — the "segments" — and, for each file, only its name, size and a
 * CRC-64 of its content. That record is `layerdb/sha256/<chain-id>/tar-split.json.gz`: gzip'd
 * JSON lines (spec 4). Putting the tar back together is then: write each segment, and in
 * between, each file's content read from disk.
 *
 * Worked example — register a one-file layer, then rebuild it:
 *
 *   // the tar: [header "data/a" 512 B][hello\n + 506 B padding][1024 zero bytes][8192 B record fill]
 *   let diffId!: Digest;
 *   const packer = createTarSplitWriter(`${writeSet}/tar-split.json.gz`);
 *   const reader = new TarReader(hashing(tarChunks, (d) => (diffId = d)));
 *   for await (const entry of recordTarSplit(reader, packer)) {
 *     await applyToDisk(entry, diffDir);   // reads entry.body(); the CRC is taken as it passes
 *   }
 *   await packer.close();                  // (on any error: packer.abort(), drop the write-set)
 *   // the recorder also read the bytes after the end-of-archive, so diffId covers them too
 *   // tar-split.json.gz now holds:
 *   //   {"type":2,"payload":"ZGF0YS9h…(512-byte header)","position":0}
 *   //   {"type":1,"name":"data/a","size":6,"payload":"YUw+7uLYEAA=","position":1}
 *   //   {"type":2,"payload":"AAAA…(506 B padding + 1024 B end marker)","position":2}
 *   //   {"type":2,"payload":"AAAA…(8192 B after the end marker)","position":3}
 *   //   {"type":2,"payload":"","position":4}        ← the final empty read, as Docker 20.10 writes
 *   // and diffDir holds data/a = "hello\n".
 *
 *   const tar = assembleTar(`${layerDir}/tar-split.json.gz`, rootFileGetter(diffDir));
 *   for await (const chunk of tar) out.write(chunk);   // the original bytes; sha256 = DiffID
 *
 * If `data/a` changed on disk, reassembly stops with
 * `file integrity checksum failed for "data/a"`. Two entries `a` and `./a` in one tar are refused
 * when recording (`duplicates of file paths not supported`), because a directory cannot hold both.
 *
 * Compatibility: the JSON lines are byte-identical to tar-split 0.11.2 (Docker 20.10, Debian's
 * `tar-split` CLI) for the same input; the gzip around them is not (zlib, not Go's deflate), which
 * no reader cares about. Any valid JSON is accepted when reading, as Go's decoder does. Two known
 * differences, neither of which changes a reassembled byte:
 *   - Trailing data after the end-of-archive is cut into Segments the way Go's reads of a regular
 *     file cut it (1 MiB each). Go's cut follows the read sizes of whatever it reads from, so
 *     Docker fed from a decompressor may have cut it finer.
 *   - A PAX 1.0 sparse file's map block is kept in the Segment before it; Go's reader loses it
 *     (tar-split cannot rebuild such archives either way; Docker never writes sparse entries).
 */

// The model: one entry per JSON line (spec 4.2).
//   EntryType, TarSplitEntry — File (1) and Segment (2); name vs name_raw; size; payload; position.
//   encodeEntry(e) — the exact line Go's json.Encoder writes for e (keys in order, Go escaping).
//   entryFromJson(v) — the entry Go's json.Decoder makes of any parsed JSON value, or
//     TARSPLIT_CORRUPT where Go would refuse it.
//   entryNameBytes(e) / nameFields(bytes) — raw name bytes out of / into name or name_raw.
export { EntryType, type TarSplitEntry, encodeEntry, entryFromJson, entryNameBytes, nameFields } from './entry.js';

// Go's string rules the format depends on: filepath.Clean (duplicate paths), encoding/json string
// escaping, strconv.Quote (error messages).
export { goCleanPath, goJsonString, goQuote } from '../gostrings.js';

// Writing.
//   TarSplitPacker — numbers entries, refuses duplicate File paths (TARSPLIT_DUPLICATE_PATH,
//     "duplicates of file paths not supported"), buffers Go JSON lines; flush() applies the
//     output's backpressure, close() finishes it, abort() drops it after a failure.
//   createTarSplitWriter(pathOrWritable, {level, fsync}) — a packer writing gzip (Go's header
//     bytes) to a file or a Writable. MemoryTarSplitOutput — lines kept in memory.
export {
  TarSplitPacker,
  GzipTarSplitOutput,
  MemoryTarSplitOutput,
  createTarSplitWriter,
  type TarSplitOutput,
  type GzipOutputOptions,
} from './packer.js';

// Reading.
//   readTarSplit(pathOrGzipChunks) — the entries in file order, duplicates refused as tar-split's
//     unpacker does, anything malformed (gzip or JSON) TARSPLIT_CORRUPT.
//   parseTarSplitJson(chunks) — the same over already-decompressed JSON.
export { readTarSplit, parseTarSplitJson, gunzipTarSplit, PathSet, type TarSplitSource } from './unpacker.js';

// Disassembly while applying.
//   recordTarSplit(reader, packer) — yields the TarReader's entries for the consumer to apply
//     while recording, exactly as tar-split 0.11.2 would, the Segments and each File's CRC-64
//     (over the whole content, whatever the consumer read), then the end-of-archive bytes, the
//     trailing data in ≤ 1 MiB Segments and the final empty Segment. Streaming, bounded memory.
export { recordTarSplit, TRAILING_SEGMENT } from './disassemble.js';

// Reassembly.
//   assembleTar(tarSplit, getFile, {chunkSize, blocking}) — the original tar as chunks: Segments
//     verbatim, each File (size > 0) read whole from getFile and checked against its CRC-64
//     (TARSPLIT_CHECKSUM, 'file integrity checksum failed for "<name>"'); a missing file is
//     TARSPLIT_FILE_MISSING. assembleEntries — the same from decoded entries.
//   rootFileGetter(root) — files under a directory, by raw name bytes, never outside it
//     (TARSPLIT_BREAKOUT for `..` climbing out, a symlinked dir leading out, or a symlink file).
export { assembleTar, assembleEntries, rootFileGetter, type FileGetter, type FileSource, type AssembleOptions, type RootGetterOptions } from './assemble.js';

// Sizing: tarSizeOf(tarSplit) — the length of the reassembled tar (Segment payloads + File sizes), from the tar-split alone.
export { tarSizeOf } from './size.js';
