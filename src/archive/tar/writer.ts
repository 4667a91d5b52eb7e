/**
 * Tar header encoding exactly as Go's archive/tar writes it — the writer behind every layer tar
 * dockerd produces, so strata's output has the same bytes and therefore the same DiffIDs.
 *
 * Go picks the first format able to represent a header, in the order USTAR, PAX (GNU never for
 * Docker's headers): USTAR when every string is ASCII and fits (names may use the 155-byte prefix
 * split), every number fits its octal field, and nothing needs a PAX record (xattrs, sub-second
 * times when the format is PAX). Otherwise a PAX extended header named
 * `<dir>/PaxHeaders.0/<base>` precedes a main header whose fields hold best-effort ASCII values.
 */
import { BLOCK, padding, tarError, type Timespec, type TarTypeFlag } from './header.js';
import { PAX_SCHILY_XATTR, formatPaxRecord, formatPaxTime } from './pax.js';
import { goCleanPath } from '../gostrings.js';

export interface TarWriteHeader {
  name: string | Buffer;
  type: TarTypeFlag;
  mode: number;
  uid?: number;
  gid?: number;
  size?: number;
  /** Seconds, or a Timespec. Undefined means the zero time (field 0). */
  mtime?: Timespec | number;
  atime?: Timespec;
  ctime?: Timespec;
  uname?: string;
  gname?: string;
  linkname?: string | Buffer;
  devmajor?: number;
  devminor?: number;
  xattrs?: ReadonlyMap<string, Buffer>;
  /**
   * 'pax' is Go's explicit FormatPAX (what moby's FileInfoHeader sets): times are kept as given.
   * Undefined is Go's FormatUnknown: mtime is rounded to the nearest second, atime/ctime dropped.
   */
  format?: 'pax';
}

/** Two zero blocks: Go's writer adds no further record padding. */
export const END_OF_ARCHIVE: Buffer = Buffer.alloc(2 * BLOCK);

const ZEROS = Buffer.alloc(BLOCK);

/** The zero bytes that pad `size` content bytes to a whole block. */
export function contentPadding(size: number): Buffer {
  return ZEROS.subarray(0, padding(size));
}

function bytesOf(s: string | Buffer | undefined): Buffer {
  if (s === undefined) return Buffer.alloc(0);
  return typeof s === 'string' ? Buffer.from(s, 'utf8') : s;
}

/** Go's isASCII: no byte >= 0x80 and no NUL. */
function isAscii(b: Buffer): boolean {
  for (let i = 0; i < b.length; i++) {
    const c = b[i]!;
    if (c >= 0x80 || c === 0) return false;
  }
  return true;
}

/** Go's toASCII for encoded bytes: drops every non-ASCII byte and NULs. */
function toAscii(b: Buffer): Buffer {
  return isAscii(b) ? b : Buffer.from(b.filter((c) => c < 0x80 && c !== 0));
}

function fitsInOctal(width: number, x: number): boolean {
  return x >= 0 && (width === 1 || x < 8 ** (width - 1));
}

/** Go's splitUSTARPath: a prefix of at most 155 bytes and a name of at most 100. */
function splitUstarPath(name: Buffer): [Buffer, Buffer] | undefined {
  let length = name.length;
  if (length <= 100 || !isAscii(name)) return undefined;
  if (length > 156) length = 156;
  else if (name[length - 1] === 0x2f) length--;
  const i = name.subarray(0, length).lastIndexOf(0x2f);
  const nlen = name.length - i - 1;
  if (i <= 0 || nlen > 100 || nlen === 0 || i > 155) return undefined;
  return [name.subarray(0, i), name.subarray(i + 1)];
}

/** Go's formatString: copy, NUL-terminate if room, and never leave a misleading trailing '/'. */
function putString(blk: Buffer, at: number, width: number, s: Buffer): void {
  s.copy(blk, at, 0, Math.min(s.length, width));
  if (s.length < width) blk[at + s.length] = 0;
  if (s.length > width && blk[at + width - 1] === 0x2f) {
    let n = width - 1;
    while (n > 0 && s[n - 1] === 0x2f) n--;
    blk[at + n] = 0;
  }
}

/** Go's formatOctal: zero-padded, NUL-terminated; a value that does not fit is written as 0. */
function putOctal(blk: Buffer, at: number, width: number, x: number): void {
  const s = (fitsInOctal(width, x) ? x : 0).toString(8).padStart(width - 1, '0');
  putString(blk, at, width, Buffer.from(s, 'latin1'));
}

function toTimespec(t: Timespec | number | undefined): Timespec | undefined {
  if (t === undefined) return undefined;
  return typeof t === 'number' ? { sec: Math.floor(t), nsec: Math.round((t % 1) * 1e9) } : t;
}

function roundToSecond(t: Timespec): Timespec {
  return { sec: t.nsec >= 5e8 ? t.sec + 1 : t.sec, nsec: 0 };
}

interface Prepared {
  name: Buffer;
  linkname: Buffer;
  uname: Buffer;
  gname: Buffer;
  h: TarWriteHeader;
  mtime?: Timespec;
  size: number;
}

/**
 * Encodes one entry's header: for PAX, the extended header block, its records and padding,
 * then the main header block. The caller writes `size` content bytes and `contentPadding(size)`.
 */
export function encodeHeader(h: TarWriteHeader): Buffer {
  let mtime = toTimespec(h.mtime);
  let atime = h.atime;
  let ctime = h.ctime;
  if (h.format !== 'pax') {
    if (mtime) mtime = roundToSecond(mtime);
    atime = undefined;
    ctime = undefined;
  }
  const p: Prepared = {
    name: bytesOf(h.name),
    linkname: bytesOf(h.linkname),
    uname: bytesOf(h.uname),
    gname: bytesOf(h.gname),
    h,
    mtime,
    size: h.size ?? 0,
  };
  const records = new Map<string, Buffer>();
  let ustarOk = true;
  let preferPax = false;

  const verifyString = (s: Buffer, width: number, key: string): void => {
    if (isAscii(s) && s.length <= width) return;
    if (key === 'path' && splitUstarPath(s)) {
      records.set(key, s);
      return;
    }
    ustarOk = false;
    records.set(key, s);
  };
  const verifyNumeric = (n: number, width: number, key: string | undefined): void => {
    if (fitsInOctal(width, n)) return;
    ustarOk = false;
    if (key === undefined) throw tarError('TAR_FIELD_TOO_LONG', `value ${n} does not fit a tar header field`);
    records.set(key, Buffer.from(String(n), 'latin1'));
  };
  const verifyTime = (t: Timespec | undefined, key: string): void => {
    if (!t) return;
    const isMtime = key === 'mtime';
    const fits = fitsInOctal(12, t.sec);
    if (!isMtime || !fits) ustarOk = false;
    if (!isMtime || !fits || t.nsec !== 0) {
      preferPax = true;
      records.set(key, Buffer.from(formatPaxTime(t), 'latin1'));
    }
  };

  verifyString(p.name, 100, 'path');
  verifyString(p.linkname, 100, 'linkpath');
  verifyString(p.uname, 32, 'uname');
  verifyString(p.gname, 32, 'gname');
  verifyNumeric(h.mode, 8, undefined);
  verifyNumeric(h.uid ?? 0, 8, 'uid');
  verifyNumeric(h.gid ?? 0, 8, 'gid');
  verifyNumeric(p.size, 12, 'size');
  verifyNumeric(h.devmajor ?? 0, 8, undefined);
  verifyNumeric(h.devminor ?? 0, 8, undefined);
  verifyTime(mtime, 'mtime');
  verifyTime(atime, 'atime');
  verifyTime(ctime, 'ctime');
  if (h.xattrs && h.xattrs.size > 0) {
    ustarOk = false;
    for (const [k, v] of h.xattrs) records.set(PAX_SCHILY_XATTR + k, v);
  }

  const useUstar = ustarOk && !(h.format === 'pax' && preferPax);
  return useUstar ? ustarHeader(p) : Buffer.concat([paxExtension(p, records), mainBlock(p, toAscii)]);
}

function ustarHeader(p: Prepared): Buffer {
  const split = splitUstarPath(p.name);
  return mainBlock({ ...p, name: split ? split[1] : p.name }, (b) => b, split?.[0]);
}

/** Go's templateV7Plus + setFormat + checksum. */
function mainBlock(p: Prepared, str: (b: Buffer) => Buffer, prefix?: Buffer): Buffer {
  const blk = Buffer.alloc(BLOCK);
  const h = p.h;
  blk[156] = h.type.charCodeAt(0);
  putString(blk, 0, 100, str(p.name));
  putString(blk, 157, 100, str(p.linkname));
  putOctal(blk, 100, 8, h.mode);
  putOctal(blk, 108, 8, h.uid ?? 0);
  putOctal(blk, 116, 8, h.gid ?? 0);
  putOctal(blk, 124, 12, p.size);
  putOctal(blk, 136, 12, p.mtime?.sec ?? 0);
  putString(blk, 265, 32, str(p.uname));
  putString(blk, 297, 32, str(p.gname));
  putOctal(blk, 329, 8, h.devmajor ?? 0);
  putOctal(blk, 337, 8, h.devminor ?? 0);
  if (prefix) putString(blk, 345, 155, prefix);
  blk.write('ustar\x0000', 257, 'latin1');
  setChecksum(blk);
  return blk;
}

function setChecksum(blk: Buffer): void {
  blk.fill(0x20, 148, 156);
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += blk[i]!;
  putOctal(blk, 148, 7, sum);
  blk[155] = 0x20;
}

/** The `x` header (Go's writeRawFile) with sorted records, padded to a block. */
function paxExtension(p: Prepared, records: Map<string, Buffer>): Buffer {
  const keys = [...records.keys()].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  const data = Buffer.concat(keys.map((k) => formatPaxRecord(k, records.get(k)!)));
  // path.Join(dir, "PaxHeaders.0", file) on the raw name, then ASCII-only, cut to 100, no trailing '/'.
  const raw = p.name.toString('latin1');
  const slash = raw.lastIndexOf('/');
  const joined = goCleanPath([raw.slice(0, slash + 1), 'PaxHeaders.0', raw.slice(slash + 1)].filter((p) => p !== '').join('/'));
  let name = toAscii(Buffer.from(joined, 'latin1')).subarray(0, 100);
  let end = name.length;
  while (end > 0 && name[end - 1] === 0x2f) end--;
  name = name.subarray(0, end);
  const blk = Buffer.alloc(BLOCK);
  blk[156] = 'x'.charCodeAt(0);
  putString(blk, 0, 100, name);
  putOctal(blk, 100, 8, 0);
  putOctal(blk, 108, 8, 0);
  putOctal(blk, 116, 8, 0);
  putOctal(blk, 124, 12, data.length);
  putOctal(blk, 136, 12, 0);
  blk.write('ustar\x0000', 257, 'latin1');
  setChecksum(blk);
  return Buffer.concat([blk, data, contentPadding(data.length)]);
}
