/**
 * PAX extended-header records (`"<len> <key>=<value>\n"`), read and written binary-safe.
 *
 * Keys are ASCII/UTF-8 text; values stay raw bytes, because SCHILY.xattr values are binary
 * (a security.capability blob contains NULs and bytes >= 0x80).
 */
import { tarError, type Timespec } from './header.js';

export const PAX_SCHILY_XATTR = 'SCHILY.xattr.';

/** Go's limit on the size of a PAX or GNU long-name data block. */
export const MAX_SPECIAL_FILE_SIZE = 1 << 20;

const NUL_VALUE_FORBIDDEN = new Set(['path', 'linkpath', 'uname', 'gname']);

/**
 * Parses the data of a PAX header into records, in archive order (later duplicates win when
 * turned into a map). GNU sparse 0.0 offset/numbytes pairs are folded into `GNU.sparse.map`.
 */
export function parsePaxRecords(data: Buffer): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  const sparse: string[] = [];
  let pos = 0;
  while (pos < data.length) {
    const sp = data.indexOf(0x20, pos);
    if (sp < 0) throw tarError('TAR_BAD_PAX', 'malformed PAX record (no length)');
    const lenText = data.toString('latin1', pos, sp);
    if (!/^[0-9]+$/.test(lenText)) throw tarError('TAR_BAD_PAX', 'malformed PAX record length');
    const len = Number(lenText);
    const end = pos + len;
    if (len < 5 || end > data.length || end <= sp + 1) {
      throw tarError('TAR_BAD_PAX', 'PAX record length out of range');
    }
    if (data[end - 1] !== 0x0a) throw tarError('TAR_BAD_PAX', 'PAX record is not newline-terminated');
    const rec = data.subarray(sp + 1, end - 1);
    const eq = rec.indexOf(0x3d);
    if (eq <= 0) throw tarError('TAR_BAD_PAX', 'malformed PAX record (no key)');
    const key = rec.toString('utf8', 0, eq);
    const value = rec.subarray(eq + 1);
    if (key.includes('\0') || (NUL_VALUE_FORBIDDEN.has(key) && value.includes(0))) {
      throw tarError('TAR_BAD_PAX', `invalid PAX record ${JSON.stringify(key)}`);
    }
    if (key === 'GNU.sparse.offset' || key === 'GNU.sparse.numbytes') {
      const wantOffset = sparse.length % 2 === 0;
      if ((key === 'GNU.sparse.offset') !== wantOffset || value.includes(0x2c)) {
        throw tarError('TAR_BAD_PAX', 'malformed GNU sparse 0.0 records');
      }
      sparse.push(value.toString('latin1'));
    } else {
      out.set(key, Buffer.from(value));
    }
    pos = end;
  }
  if (sparse.length > 0) out.set('GNU.sparse.map', Buffer.from(sparse.join(','), 'latin1'));
  return out;
}

/** One record, with the self-referential length computed as Go's formatPAXRecord does. */
export function formatPaxRecord(key: string, value: Buffer): Buffer {
  const k = Buffer.from(key, 'utf8');
  let size = k.length + value.length + 3;
  size += String(size).length;
  const recordLength = String(size).length + 1 + k.length + 1 + value.length + 1;
  if (recordLength !== size) size = recordLength; // Go adjusts once, it does not iterate
  const head = `${size} `;
  return Buffer.concat([Buffer.from(head, 'latin1'), k, Buffer.from('='), value, Buffer.from('\n')]);
}

/** `sec[.frac]` with an optional sign, as in PAX mtime/atime/ctime records. */
export function parsePaxTime(v: Buffer, what: string): Timespec {
  const s = v.toString('latin1');
  const m = /^(-?)([0-9]+)(?:\.([0-9]*))?$/.exec(s);
  if (!m) throw tarError('TAR_BAD_PAX', `invalid PAX ${what} value ${JSON.stringify(s)}`);
  const secs = Number(m[2]);
  const frac = (m[3] ?? '').padEnd(9, '0').slice(0, 9);
  let nsec = Number(frac);
  let sec = secs;
  if (m[1] === '-') {
    sec = -secs;
    if (nsec !== 0) {
      sec -= 1;
      nsec = 1e9 - nsec;
    }
  }
  if (!Number.isSafeInteger(sec)) throw tarError('TAR_BAD_PAX', `PAX ${what} value out of range`);
  return { sec, nsec };
}

/** Inverse of parsePaxTime, as Go's formatPAXTime (trailing fractional zeros trimmed). */
export function formatPaxTime(t: Timespec): string {
  if (t.nsec === 0) return String(t.sec);
  let sec = t.sec;
  let nsec = t.nsec;
  let sign = '';
  if (sec < 0) {
    sign = '-';
    sec = -(sec + 1);
    nsec = 1e9 - nsec;
  }
  return `${sign}${sec}.${String(nsec).padStart(9, '0')}`.replace(/0+$/, '');
}

/** Parses a decimal integer PAX value (uid, gid, size). */
export function parsePaxInt(v: Buffer, what: string): number {
  const s = v.toString('latin1');
  if (!/^-?[0-9]+$/.test(s)) throw tarError('TAR_BAD_PAX', `invalid PAX ${what} value ${JSON.stringify(s)}`);
  const n = Number(s);
  if (!Number.isSafeInteger(n)) throw tarError('TAR_BAD_PAX', `PAX ${what} value out of range`);
  return n;
}
