/**
 * Tar, byte-exact.
 *
 * A layer is a tar stream, and a layer's DiffID is the SHA-256 of that stream's exact bytes, so
 * strata reads tar without losing a byte and writes it the way Go's archive/tar (inside dockerd)
 * does. Reading:
 *
 *   const reader = new TarReader(fs.createReadStream('layer.tar', { highWaterMark: 1 << 20 }));
 *   for await (const entry of reader) {
 *     entry.header.name;          // 'usr/bin/env', after PAX / GNU long-name records
 *     entry.raw;                  // every archive byte before the content: padding, extension
 *                                 // blocks, the header block
 *     for await (const chunk of entry.body()) use(chunk);   // or ignore it: it is skipped
 *   }
 *   reader.endBytes;              // the end-of-archive blocks as they were
 *   for await (const junk of reader.rest()) keep(junk);   // anything after them
 *
 * Writing (what dockerd's Diff produces for a file):
 *
 *   out.write(encodeHeader({ name: 'etc/hosts', type: TarType.Reg, mode: 0o100644, size: 12,
 *                            mtime: 1700000000, uname: 'root', gname: 'root', format: 'pax' }));
 *   out.write(content); out.write(contentPadding(12));
 *   out.write(END_OF_ARCHIVE);
 */
export {
  BLOCK,
  TarType,
  isHeaderOnlyType,
  type TarHeader,
  type TarFormat,
  type TarTypeFlag,
  type Timespec,
  type SparseRegion,
} from './header.js';
export { TarReader, decodeBlock, type TarEntry } from './reader.js';
export { encodeHeader, contentPadding, END_OF_ARCHIVE, type TarWriteHeader } from './writer.js';
export { ByteSource, type ChunkSource } from './source.js';
