/**
 * A streaming tar reader that keeps every byte.
 *
 * Each entry comes with `raw`: every archive byte consumed since the end of the previous entry's
 * content — that entry's padding, PAX and GNU extension blocks with their data and padding, old-GNU
 * sparse extension blocks, and the entry's own header block. After the last entry, `endBytes` holds
 * what the end-of-archive detection consumed, and `rest()` streams whatever follows. So
 * `raw₁ + body₁ + raw₂ + body₂ + … + endBytes + rest` is the input, byte for byte: that is the
 * property tar-split and exact re-serialisation stand on.
 *
 * Parsing follows Go's archive/tar (what dockerd uses), including its leniencies: an archive may
 * end without its two zero blocks, header-only types (links, devices, dirs, FIFOs) carry no
 * content whatever their size field says, and PAX global headers are returned as entries of their
 * own and do not alter later entries.
 */
import {
  BLOCK,
  TarType,
  checksumOk,
  cString,
  detectFormat,
  isHeaderOnlyType,
  isZeroBlock,
  padding,
  parseNumeric,
  tarError,
  utf8,
  type SparseRegion,
  type TarFormat,
  type TarHeader,
} from './header.js';
import { MAX_SPECIAL_FILE_SIZE, PAX_SCHILY_XATTR, parsePaxInt, parsePaxRecords, parsePaxTime } from './pax.js';
import { ByteSource, type ChunkSource } from './source.js';

const BODY_CHUNK = 1 << 20;

export interface TarEntry {
  readonly header: TarHeader;
  /** Archive bytes consumed before this entry's content (see the module comment). */
  readonly raw: Buffer;
  /** Content bytes stored in the archive for this entry (for sparse files: the data regions). */
  readonly dataSize: number;
  /** Archive offset of the first content byte. */
  readonly dataOffset: number;
  /** The content as zero-copy chunks; consume it fully or not at all (the reader skips the rest). */
  body(): AsyncGenerator<Buffer>;
  /** The whole content in one buffer. For small entries. */
  readAll(): Promise<Buffer>;
}

export class TarReader implements AsyncIterable<TarEntry> {
  private readonly src: ByteSource;
  private remaining = 0;
  private pad = 0;
  private done = false;
  /** Counts calls to next(): an entry's body is readable only until the next call. */
  private generation = 0;
  /** Bytes consumed while detecting the end of the archive (padding and zero blocks). */
  endBytes: Buffer = Buffer.alloc(0);

  constructor(source: ChunkSource) {
    this.src = new ByteSource(source);
  }

  /** Bytes consumed from the input so far. */
  get position(): number {
    return this.src.position;
  }

  async *[Symbol.asyncIterator](): AsyncIterator<TarEntry> {
    for (let e = await this.next(); e; e = await this.next()) yield e;
  }

  /** The next entry, or null at the end of the archive. */
  async next(): Promise<TarEntry | null> {
    this.generation++;
    if (this.done) return null;
    const raw: Buffer[] = [];
    let pax: Map<string, Buffer> | undefined;
    let longName: Buffer | undefined;
    let longLink: Buffer | undefined;
    for (;;) {
      await this.skipRemaining();
      const pendingExtension = pax !== undefined || longName !== undefined || longLink !== undefined;
      // Go ends quietly here; strata refuses to drop an extension header that has no entry.
      const paddingComplete = await this.readPadding(raw);
      const block = paddingComplete ? await this.src.readExact(BLOCK) : Buffer.alloc(0);
      if (block.length === 0) {
        if (pendingExtension) throw truncated(this.src.position);
        return this.finish(raw);
      }
      if (block.length < BLOCK) throw truncated(this.src.position);
      raw.push(block);
      if (isZeroBlock(block)) {
        const second = await this.src.readExact(BLOCK);
        if (second.length > 0 && second.length < BLOCK) throw truncated(this.src.position);
        raw.push(second);
        if (second.length === 0 || isZeroBlock(second)) return this.finish(raw);
        throw tarError('TAR_BAD_HEADER', `non-zero block after a zero block at offset ${this.src.position - BLOCK}`);
      }
      const header = decodeBlock(block, this.src.position - BLOCK);
      const dataSize = isHeaderOnlyType(header.type) ? 0 : header.size;
      if (header.type === TarType.PaxHeader || header.type === TarType.PaxGlobal) {
        const data = await this.readSpecial(dataSize, raw);
        pax = parsePaxRecords(data);
        if (header.type === TarType.PaxGlobal) {
          mergePax(header, pax);
          header.size = 0;
          return this.entry(header, Buffer.concat(raw), 0);
        }
        continue;
      }
      if (header.type === TarType.GnuLongName || header.type === TarType.GnuLongLink) {
        const data = cString(await this.readSpecial(dataSize, raw));
        if (header.type === TarType.GnuLongName) longName = Buffer.from(data);
        else longLink = Buffer.from(data);
        continue;
      }
      if (pax) mergePax(header, pax);
      if (longName && longName.length > 0) setName(header, longName);
      if (longLink && longLink.length > 0) setLinkname(header, longLink);
      if (header.type === '\0') header.type = header.name.endsWith('/') ? TarType.Dir : TarType.Reg;
      const physical = isHeaderOnlyType(header.type) ? 0 : header.size;
      if (physical < 0) throw tarError('TAR_BAD_HEADER', `negative size for ${JSON.stringify(header.name)}`);
      const consumed = await this.readSparse(header, block, pax, physical, raw);
      return this.entry(header, Buffer.concat(raw), physical - consumed);
    }
  }

  /** Streams the bytes that follow the end-of-archive marker, in chunks of at most `chunk` bytes. */
  async *rest(chunk = BODY_CHUNK): AsyncGenerator<Buffer> {
    if (!this.done) throw new Error('TarReader.rest() called before the end of the archive');
    for (let b = await this.src.readSome(chunk); b; b = await this.src.readSome(chunk)) yield b;
  }

  /** Releases the input early (e.g. after an error). */
  close(): Promise<void> {
    return this.src.close();
  }

  private finish(raw: Buffer[]): null {
    this.done = true;
    this.endBytes = Buffer.concat(raw);
    return null;
  }

  /** Reads the previous entry's padding; false when the input ended inside it (Go's EOF case). */
  private async readPadding(raw: Buffer[]): Promise<boolean> {
    if (this.pad === 0) return true;
    const want = this.pad;
    this.pad = 0;
    const b = await this.src.readExact(want);
    raw.push(b);
    return b.length === want;
  }

  /** The content of entry number `seq`; only valid while that entry is the current one. */
  private async *content(seq: number): AsyncGenerator<Buffer> {
    if (seq !== this.generation) throw new Error('tar entry body read after the reader moved on');
    while (this.remaining > 0) {
      const b = await this.src.readSome(Math.min(this.remaining, BODY_CHUNK));
      if (!b) throw truncated(this.src.position);
      this.remaining -= b.length;
      yield b;
    }
  }

  private async skipRemaining(): Promise<void> {
    if (this.remaining > 0) {
      const n = this.remaining;
      this.remaining = 0;
      if ((await this.src.discard(n)) < n) throw truncated(this.src.position);
    }
  }

  /** Reads the data of a PAX or GNU long-name block, which counts as raw (metadata) bytes. */
  private async readSpecial(size: number, raw: Buffer[]): Promise<Buffer> {
    if (size > MAX_SPECIAL_FILE_SIZE) throw tarError('TAR_FIELD_TOO_LONG', `extended header of ${size} bytes is too large`);
    const data = await this.src.readExact(size);
    if (data.length < size) throw truncated(this.src.position);
    raw.push(data);
    this.pad = padding(size);
    return data;
  }

  /**
   * Decodes the sparse map of GNU old-format ('S') and PAX 0.x/1.0 sparse entries. Returns the
   * number of content bytes the map itself occupied (PAX 1.0 keeps it at the start of the data).
   */
  private async readSparse(
    h: TarHeader,
    block: Buffer,
    pax: Map<string, Buffer> | undefined,
    physical: number,
    raw: Buffer[],
  ): Promise<number> {
    if (h.type === TarType.GnuSparse) {
      if (h.format !== 'gnu') throw tarError('TAR_BAD_HEADER', 'sparse entry in a non-GNU header');
      const regions: SparseRegion[] = [];
      readSparseEntries(block, 386, 4, regions);
      let extended = block[482]! !== 0;
      while (extended) {
        const ext = await this.src.readExact(BLOCK);
        if (ext.length < BLOCK) throw truncated(this.src.position);
        raw.push(ext);
        readSparseEntries(ext, 0, 21, regions);
        extended = ext[504]! !== 0;
      }
      h.size = parseNumeric(block.subarray(483, 495), 'sparse real size');
      h.sparse = regions;
      return 0;
    }
    if (!pax) return 0;
    const major = pax.get('GNU.sparse.major')?.toString('latin1');
    const minor = pax.get('GNU.sparse.minor')?.toString('latin1');
    const map = pax.get('GNU.sparse.map');
    let is1x0: boolean;
    if (major === '0' && (minor === '0' || minor === '1')) is1x0 = false;
    else if (major === '1' && minor === '0') is1x0 = true;
    else if (major !== undefined || minor !== undefined) return 0;
    else if (map && map.length > 0) is1x0 = false;
    else return 0;
    const name = pax.get('GNU.sparse.name');
    if (name && name.length > 0) setName(h, name);
    const size = pax.get('GNU.sparse.size') ?? pax.get('GNU.sparse.realsize');
    if (size) h.size = parsePaxInt(size, 'GNU.sparse.size');
    if (!is1x0) {
      h.sparse = parseSparseList((map ?? Buffer.alloc(0)).toString('latin1').split(',').filter((s) => s !== ''));
      return 0;
    }
    // PAX 1.0: decimal numbers, one per line, in whole blocks at the start of the data.
    const tokens: string[] = [];
    let text = '';
    let used = 0;
    let need = 1;
    while (tokens.length < need) {
      if (used + BLOCK > physical) throw tarError('TAR_BAD_HEADER', 'GNU sparse map runs past the entry data');
      const b = await this.src.readExact(BLOCK);
      if (b.length < BLOCK) throw truncated(this.src.position);
      raw.push(b);
      used += BLOCK;
      text += b.toString('latin1');
      const lines = text.split('\n');
      text = lines.pop()!;
      for (const l of lines) {
        tokens.push(l);
        if (tokens.length === 1) need = 1 + 2 * parseDecimal(l);
      }
    }
    h.sparse = parseSparseList(tokens.slice(1, need));
    return used;
  }

  private entry(header: TarHeader, raw: Buffer, dataSize: number): TarEntry {
    this.remaining = dataSize;
    // A global header's data padding is already pending; content padding is added to it.
    // (For PAX 1.0 sparse files the map occupies whole blocks, so the padding is unchanged.)
    this.pad += padding(dataSize);
    const dataOffset = this.src.position;
    const seq = this.generation;
    let started = false;
    const body = (): AsyncGenerator<Buffer> => {
      if (started) throw new Error('tar entry body read twice');
      started = true;
      return this.content(seq);
    };
    return {
      header,
      raw,
      dataSize,
      dataOffset,
      body,
      async readAll() {
        const parts: Buffer[] = [];
        for await (const b of body()) parts.push(b);
        return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
      },
    };
  }
}

function truncated(offset: number): Error {
  return tarError('TAR_TRUNCATED', `archive is truncated (unexpected end of data at offset ${offset})`);
}

function parseDecimal(s: string): number {
  if (!/^[0-9]+$/.test(s)) throw tarError('TAR_BAD_HEADER', 'malformed GNU sparse map');
  const n = Number(s);
  if (!Number.isSafeInteger(n)) throw tarError('TAR_BAD_HEADER', 'GNU sparse map value out of range');
  return n;
}

function parseSparseList(tokens: string[]): SparseRegion[] {
  if (tokens.length % 2 !== 0) throw tarError('TAR_BAD_HEADER', 'malformed GNU sparse map');
  const out: SparseRegion[] = [];
  for (let i = 0; i < tokens.length; i += 2) {
    out.push({ offset: parseDecimal(tokens[i]!), length: parseDecimal(tokens[i + 1]!) });
  }
  return out;
}

function readSparseEntries(b: Buffer, at: number, count: number, out: SparseRegion[]): void {
  for (let i = 0; i < count; i++) {
    const o = at + i * 24;
    if (b[o] === 0) break;
    out.push({
      offset: parseNumeric(b.subarray(o, o + 12), 'sparse offset'),
      length: parseNumeric(b.subarray(o + 12, o + 24), 'sparse length'),
    });
  }
}

function setName(h: TarHeader, b: Buffer): void {
  h.nameBytes = b;
  h.name = utf8(b);
}

function setLinkname(h: TarHeader, b: Buffer): void {
  h.linknameBytes = b;
  h.linkname = utf8(b);
}

/** Decodes one header block (checksum verified) into a TarHeader, without extensions applied. */
export function decodeBlock(block: Buffer, offset: number): TarHeader {
  if (!checksumOk(block)) throw tarError('TAR_BAD_CHECKSUM', `invalid header checksum at offset ${offset}`);
  const format: TarFormat = detectFormat(block);
  let nameBytes = Buffer.from(cString(block.subarray(0, 100)));
  const linknameBytes = Buffer.from(cString(block.subarray(157, 257)));
  const typeByte = block[156]!;
  const h: TarHeader = {
    type: String.fromCharCode(typeByte),
    name: '',
    nameBytes,
    linkname: utf8(linknameBytes),
    linknameBytes,
    mode: parseNumeric(block.subarray(100, 108), 'mode'),
    uid: parseNumeric(block.subarray(108, 116), 'uid'),
    gid: parseNumeric(block.subarray(116, 124), 'gid'),
    size: parseNumeric(block.subarray(124, 136), 'size'),
    mtime: { sec: parseNumeric(block.subarray(136, 148), 'mtime'), nsec: 0 },
    uname: '',
    gname: '',
    devmajor: 0,
    devminor: 0,
    xattrs: new Map(),
    pax: new Map(),
    format,
  };
  if (format !== 'v7') {
    h.uname = utf8(cString(block.subarray(265, 297)));
    h.gname = utf8(cString(block.subarray(297, 329)));
    h.devmajor = parseNumeric(block.subarray(329, 337), 'devmajor');
    h.devminor = parseNumeric(block.subarray(337, 345), 'devminor');
    if (format === 'ustar' || format === 'star') {
      const prefix = cString(block.subarray(345, format === 'star' ? 476 : 500));
      if (prefix.length > 0) nameBytes = Buffer.concat([prefix, Buffer.from('/'), nameBytes]);
    } else if (format === 'gnu') {
      if (block[345] !== 0) h.atime = { sec: parseNumeric(block.subarray(345, 357), 'atime'), nsec: 0 };
      if (block[357] !== 0) h.ctime = { sec: parseNumeric(block.subarray(357, 369), 'ctime'), nsec: 0 };
    }
  }
  setName(h, nameBytes);
  return h;
}

/** Applies local PAX records to a header, as Go's mergePAX does (empty values are ignored). */
function mergePax(h: TarHeader, pax: Map<string, Buffer>): void {
  h.pax = pax;
  h.format = 'pax';
  for (const [k, v] of pax) {
    if (v.length === 0) continue;
    switch (k) {
      case 'path':
        setName(h, v);
        break;
      case 'linkpath':
        setLinkname(h, v);
        break;
      case 'uname':
        h.uname = utf8(v);
        break;
      case 'gname':
        h.gname = utf8(v);
        break;
      case 'uid':
        h.uid = parsePaxInt(v, 'uid');
        break;
      case 'gid':
        h.gid = parsePaxInt(v, 'gid');
        break;
      case 'size':
        h.size = parsePaxInt(v, 'size');
        break;
      case 'mtime':
        h.mtime = parsePaxTime(v, 'mtime');
        break;
      case 'atime':
        h.atime = parsePaxTime(v, 'atime');
        break;
      case 'ctime':
        h.ctime = parsePaxTime(v, 'ctime');
        break;
      default:
        if (k.startsWith(PAX_SCHILY_XATTR)) h.xattrs.set(k.slice(PAX_SCHILY_XATTR.length), v);
    }
  }
}
