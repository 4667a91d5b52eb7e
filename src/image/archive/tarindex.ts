/**
 * The index of an uncompressed tar file, built from its headers alone.
 *
 * Headers are read with positional reads and content is skipped by offset arithmetic, so a 1 GiB
 * `docker save` tar with a few dozen members is indexed in a few dozen 512-byte reads. Each regular
 * file is recorded as the offset of its first content byte; `open()` later reads that range.
 *
 * Parsing follows TarReader (and so Go's archive/tar), so that an archive indexed here and the
 * same archive spooled from a stream agree member for member: PAX local records (`path`,
 * `linkpath`, `size`) and GNU long names/link names apply to the next header; PAX global headers
 * do not alter later entries (Go ignores them, and so does dockerd); header-only types (links,
 * devices, directories, FIFOs) have no content whatever their size field says; the archive may
 * end without its two zero blocks. Sparse members are refused: image archives have none, and
 * their stored bytes are not the file's content.
 */
import type { FileHandle } from 'node:fs/promises';
import { BLOCK, TarType, decodeBlock, isHeaderOnlyType, type TarHeader } from '../../archive/tar/index.js';
import { cString, isZeroBlock, padding } from '../../archive/tar/header.js';
import { MAX_SPECIAL_FILE_SIZE, parsePaxInt, parsePaxRecords } from '../../archive/tar/pax.js';
import { isStrataError } from '../../errors/index.js';
import { readAt } from './io.js';
import { MemberTable, archiveError, shownName } from './members.js';

/** Extension records waiting for the header they apply to. */
interface Pending {
  pax?: Map<string, Buffer>;
  longName?: Buffer;
  longLink?: Buffer;
}

/**
 * Indexes the tar file open as `fh` (`fileSize` bytes; `file` names it in messages). Throws
 * ARCHIVE_INVALID (not a tar, a corrupt header, a sparse member), ARCHIVE_TRUNCATED (a header or
 * some content runs past the end), ARCHIVE_UNSAFE_PATH (a member name climbs out).
 */
export async function indexTarFile(fh: FileHandle, fileSize: number, file: string, signal?: AbortSignal): Promise<MemberTable<number>> {
  const table = new MemberTable<number>();
  let pending: Pending = {};
  let pos = 0;
  for (;;) {
    signal?.throwIfAborted();
    // Past the end (possibly inside the last content's padding): Go's quiet end of archive.
    if (pos >= fileSize) {
      if (hasPending(pending)) throw truncated(`${file} ends after an extended header at offset ${pos - BLOCK}`);
      return table;
    }
    const block = await readAt(fh, pos, BLOCK);
    if (block.length < BLOCK) {
      if (pos === 0) throw notTar(file);
      throw truncated(`${file} ends inside the header at offset ${pos}`);
    }
    if (isZeroBlock(block)) {
      await checkEnd(fh, pos + BLOCK, file);
      return table;
    }
    const h = decode(block, pos, file);
    pos += BLOCK;
    checkSize(h, pos - BLOCK, file);
    if (isExtension(h.type)) {
      const data = await readSpecial(fh, pos, h.size, fileSize, file);
      applyExtension(h.type, data, pending, pos - BLOCK, file);
      pos += h.size + padding(h.size);
      continue;
    }
    completeHeader(h, pending, file);
    pending = {};
    checkSize(h, pos - BLOCK, file); // a PAX size record may say anything
    const dataSize = isHeaderOnlyType(h.type) ? 0 : h.size;
    if (pos + dataSize > fileSize) {
      throw truncated(`${shownName(h.nameBytes)} needs ${pos + dataSize - fileSize} bytes past the end of ${file}`);
    }
    record(table, h, pos);
    pos += dataSize + padding(dataSize);
  }
}

function record(table: MemberTable<number>, h: TarHeader, offset: number): void {
  if (h.type === TarType.Reg) table.addFile(h.nameBytes, h.size, offset);
  else table.addNonFile(h);
}

function checkSize(h: TarHeader, at: number, file: string): void {
  if (h.size < 0) throw archiveError('ARCHIVE_INVALID', `${file} has a negative size in the header at offset ${at}`);
}

function isExtension(type: string): boolean {
  return type === TarType.PaxHeader || type === TarType.PaxGlobal || type === TarType.GnuLongName || type === TarType.GnuLongLink;
}

function hasPending(p: Pending): boolean {
  return p.pax !== undefined || p.longName !== undefined || p.longLink !== undefined;
}

/** The block as a header; a bad first block means the file is no tar at all. */
function decode(block: Buffer, pos: number, file: string): TarHeader {
  try {
    return decodeBlock(block, pos);
  } catch (e) {
    if (!isStrataError(e)) throw e;
    if (pos === 0) throw notTar(file, e);
    throw invalid(file, e);
  }
}

/** The data of a PAX or GNU long-name header. */
async function readSpecial(fh: FileHandle, pos: number, size: number, fileSize: number, file: string): Promise<Buffer> {
  if (size > MAX_SPECIAL_FILE_SIZE) {
    throw archiveError('ARCHIVE_INVALID', `${file} has an extended header of ${size} bytes at offset ${pos - BLOCK}, which is too large`);
  }
  if (pos + size > fileSize) throw truncated(`${file} ends inside the extended header at offset ${pos - BLOCK}`);
  return readAt(fh, pos, size);
}

function applyExtension(type: string, data: Buffer, pending: Pending, at: number, file: string): void {
  if (type === TarType.GnuLongName) pending.longName = Buffer.from(cString(data));
  else if (type === TarType.GnuLongLink) pending.longLink = Buffer.from(cString(data));
  else {
    let records: Map<string, Buffer>;
    try {
      records = parsePaxRecords(data);
    } catch (e) {
      if (!isStrataError(e)) throw e;
      throw archiveError('ARCHIVE_INVALID', `${file} has a corrupt PAX header at offset ${at}: ${detail(e.message)}`, e);
    }
    if (type === TarType.PaxHeader) pending.pax = records;
  }
}

/** Applies the pending extensions to `h` as TarReader does: PAX first, then GNU long names. */
function completeHeader(h: TarHeader, pending: Pending, file: string): void {
  if (h.type === TarType.GnuSparse || [...(pending.pax?.keys() ?? [])].some((k) => k.startsWith('GNU.sparse.'))) {
    throw archiveError('ARCHIVE_INVALID', `${file} holds a sparse file (${shownName(pending.longName ?? h.nameBytes)}), which image archives do not use`);
  }
  const pax = pending.pax;
  const path = pax?.get('path');
  const linkpath = pax?.get('linkpath');
  const size = pax?.get('size');
  if (path && path.length > 0) setName(h, path);
  if (linkpath && linkpath.length > 0) setLinkname(h, linkpath);
  if (size && size.length > 0) h.size = paxInt(size, file);
  if (pending.longName && pending.longName.length > 0) setName(h, pending.longName);
  if (pending.longLink && pending.longLink.length > 0) setLinkname(h, pending.longLink);
  if (h.type === '\0') h.type = h.name.endsWith('/') ? TarType.Dir : TarType.Reg;
}

/** Names are kept as bytes (the member table works on them) and as their UTF-8 view. */
function setName(h: TarHeader, b: Buffer): void {
  h.nameBytes = b;
  h.name = b.toString('utf8');
}

function setLinkname(h: TarHeader, b: Buffer): void {
  h.linknameBytes = b;
  h.linkname = b.toString('utf8');
}

function paxInt(v: Buffer, file: string): number {
  try {
    return parsePaxInt(v, 'size');
  } catch (e) {
    if (!isStrataError(e)) throw e;
    throw invalid(file, e);
  }
}

/** After one zero block: the end, unless a non-zero block follows (then the archive is corrupt). */
async function checkEnd(fh: FileHandle, pos: number, file: string): Promise<void> {
  const second = await readAt(fh, pos, BLOCK);
  if (second.length === 0 || (second.length === BLOCK && isZeroBlock(second))) return;
  if (second.length < BLOCK) throw truncated(`${file} ends inside the end-of-archive marker at offset ${pos}`);
  throw archiveError('ARCHIVE_INVALID', `${file} is not a valid tar archive: non-zero block after a zero block at offset ${pos}`);
}

function detail(message: string): string {
  return message.replace(/^tar: /, '');
}

function notTar(file: string, cause?: unknown): Error {
  return archiveError('ARCHIVE_INVALID', `${file} is not a tar archive`, cause);
}

function invalid(file: string, e: Error): Error {
  return archiveError('ARCHIVE_INVALID', `${file} is not a valid tar archive: ${detail(e.message)}`, e);
}

function truncated(what: string): Error {
  return archiveError('ARCHIVE_TRUNCATED', `archive is truncated: ${what}`);
}
