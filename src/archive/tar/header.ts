/**
 * The tar header model and the field codecs of the 512-byte header block.
 *
 * Field layouts and number rules follow POSIX ustar/pax, GNU tar, and Go's archive/tar (which is
 * what dockerd reads and writes with, so its choices are the ones strata must match byte for byte).
 */
import { StrataError } from '../../errors/index.js';

export const BLOCK = 512;

/** Typeflag characters. `Reg` is '0'; the old V7 NUL typeflag is normalised to it on read. */
export const TarType = {
  Reg: '0',
  Link: '1',
  Symlink: '2',
  Char: '3',
  Block: '4',
  Dir: '5',
  Fifo: '6',
  Cont: '7',
  PaxHeader: 'x',
  PaxGlobal: 'g',
  GnuLongName: 'L',
  GnuLongLink: 'K',
  GnuSparse: 'S',
} as const;
export type TarTypeFlag = string;

/** Header-only types carry no content even when their size field says otherwise (as in Go). */
export function isHeaderOnlyType(t: TarTypeFlag): boolean {
  return t === '1' || t === '2' || t === '3' || t === '4' || t === '5' || t === '6';
}

export interface Timespec {
  sec: number;
  nsec: number;
}

export type TarFormat = 'v7' | 'ustar' | 'pax' | 'gnu' | 'star';

/** One region of a sparse file: `length` bytes of data at `offset` of the logical file. */
export interface SparseRegion {
  offset: number;
  length: number;
}

/**
 * A decoded tar header, after PAX records and GNU long names were applied. Names are kept as
 * raw bytes (`nameBytes`) because layer file names need not be UTF-8; `name` is their UTF-8 view.
 */
export interface TarHeader {
  type: TarTypeFlag;
  name: string;
  nameBytes: Buffer;
  linkname: string;
  linknameBytes: Buffer;
  /** Permission, setuid/setgid/sticky bits, and the S_IF* type bits when the archive has them. */
  mode: number;
  uid: number;
  gid: number;
  /** Logical size: for regular files the content length, for sparse files the expanded length. */
  size: number;
  mtime: Timespec;
  atime?: Timespec;
  ctime?: Timespec;
  uname: string;
  gname: string;
  devmajor: number;
  devminor: number;
  /** SCHILY.xattr.* records, binary-safe. */
  xattrs: Map<string, Buffer>;
  /** Every PAX record that applied to this entry (local and global), values as raw bytes. */
  pax: Map<string, Buffer>;
  format: TarFormat;
  /** Present for sparse entries: the data regions; content bytes are these regions back to back. */
  sparse?: SparseRegion[];
}

export function tarError(code: string, message: string): StrataError {
  return new StrataError(code, `tar: ${message}`);
}

/** Bytes up to the first NUL (Go's parseString). */
export function cString(b: Buffer): Buffer {
  const i = b.indexOf(0);
  return i < 0 ? b : b.subarray(0, i);
}

function isSpaceOrNul(c: number): boolean {
  return c === 0x20 || c === 0x00;
}

/** Octal field: spaces and NULs trimmed at both ends, then digits up to the first NUL. */
export function parseOctal(b: Buffer, what: string): number {
  let s = 0;
  let e = b.length;
  while (s < e && isSpaceOrNul(b[s]!)) s++;
  while (e > s && isSpaceOrNul(b[e - 1]!)) e--;
  if (s === e) return 0;
  let x = 0;
  for (let i = s; i < e; i++) {
    const c = b[i]!;
    if (c === 0) break;
    if (c < 0x30 || c > 0x37) throw tarError('TAR_BAD_HEADER', `invalid octal number in ${what} field`);
    x = x * 8 + (c - 0x30);
  }
  if (!Number.isSafeInteger(x)) throw tarError('TAR_BAD_HEADER', `${what} field is too large`);
  return x;
}

/** Numeric field: base-256 (two's complement, high bit set) or octal, as Go reads them. */
export function parseNumeric(b: Buffer, what: string): number {
  if (b.length > 0 && b[0]! & 0x80) {
    const inv = b[0]! & 0x40 ? 0xff : 0;
    let x = 0n;
    for (let i = 0; i < b.length; i++) {
      let c = b[i]! ^ inv;
      if (i === 0) c &= 0x7f;
      x = (x << 8n) | BigInt(c);
    }
    const v = inv ? -x - 1n : x;
    if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER)) {
      throw tarError('TAR_BAD_HEADER', `${what} field is too large`);
    }
    return Number(v);
  }
  return parseOctal(b, what);
}

/** Checksum check accepting both the unsigned and the historic signed byte sum. */
export function checksumOk(block: Buffer): boolean {
  const stored = parseOctal(block.subarray(148, 156), 'checksum');
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const c = i >= 148 && i < 156 ? 0x20 : block[i]!;
    unsigned += c;
    signed += c < 128 ? c : c - 256;
  }
  return stored === unsigned || stored === signed;
}

export function isZeroBlock(block: Buffer): boolean {
  for (let i = 0; i < block.length; i += 8) {
    if (block.readBigUInt64LE(i) !== 0n) return false;
  }
  return true;
}

export function detectFormat(block: Buffer): TarFormat {
  const magic = block.toString('latin1', 257, 263);
  const version = block.toString('latin1', 263, 265);
  if (magic === 'ustar\0' && version === '00') {
    return block.toString('latin1', 508, 512) === 'tar\0' ? 'star' : 'ustar';
  }
  if (magic === 'ustar ' && version === ' \0') return 'gnu';
  return 'v7';
}

export function padding(size: number): number {
  return (BLOCK - (size % BLOCK)) % BLOCK;
}

/** Decodes UTF-8 for display and string logic; raw bytes stay authoritative. */
export function utf8(b: Buffer): string {
  return b.toString('utf8');
}
