/**
 * The few pieces of Go's standard library whose exact output tar-split files and messages depend
 * on: `filepath.Clean` (the duplicate-path rule), `encoding/json`'s string escaping (the bytes of
 * every `name`), and `strconv.Quote` (the `%q` in "file integrity checksum failed for %q").
 *
 * Names in a tar need not be UTF-8, so path functions work on bytes. They take and return
 * "binary strings" (`buf.toString('latin1')`: one char per byte), which keeps every byte exact and
 * lets JavaScript's fast string operations do the work.
 */

/**
 * Go's `filepath.Clean` (Unix) over a binary string: collapses `//`, drops `.` elements, resolves
 * `..` lexically (never above `/` for rooted paths), removes a trailing slash; `''` becomes `'.'`.
 * `Clean('./a') === Clean('a') === 'a'`, which is why tar-split treats them as one path.
 */
export function goCleanPath(p: string): string {
  if (p === '') return '.';
  const rooted = p.charCodeAt(0) === 0x2f;
  const n = p.length;
  // Fast path: already clean (no empty, '.' or '..' elements, no trailing slash).
  if (isClean(p, rooted)) return p;
  const out: string[] = [];
  let i = rooted ? 1 : 0;
  while (i < n) {
    let j = p.indexOf('/', i);
    if (j === -1) j = n;
    const elem = p.slice(i, j);
    i = j + 1;
    if (elem === '' || elem === '.') continue;
    if (elem === '..') {
      if (out.length > 0 && out[out.length - 1] !== '..') out.pop();
      else if (!rooted) out.push('..');
      continue;
    }
    out.push(elem);
  }
  const body = out.join('/');
  if (rooted) return '/' + body;
  return body === '' ? '.' : body;
}

function isClean(p: string, rooted: boolean): boolean {
  const n = p.length;
  if (n > 1 && p.charCodeAt(n - 1) === 0x2f) return false;
  let start = rooted ? 1 : 0;
  if (rooted && n === 1) return true;
  for (let i = start; i <= n; i++) {
    if (i === n || p.charCodeAt(i) === 0x2f) {
      const len = i - start;
      if (len === 0) return false;
      if (p.charCodeAt(start) === 0x2e && (len === 1 || (len === 2 && p.charCodeAt(start + 1) === 0x2e))) return false;
      start = i + 1;
    }
  }
  return true;
}

const HEX = '0123456789abcdef';
/** Characters Go's HTML-escaping JSON encoder leaves alone: fast-path test for the common name. */
const NEEDS_ESCAPE = /[\u0000-\u001f"\\<>&\u2028\u2029\ud800-\udfff]/;

/**
 * A JSON string literal exactly as Go's `encoding/json` writes it with HTML escaping on (the
 * `json.Encoder` default), as in Go 1.19, which built Docker 20.10 and Debian's tar-split:
 * `"` and `\` get a backslash; `\n`, `\r`, `\t` use short forms; every other control character is
 * `\u00XX` (lower-case hex; no `\b`/`\f`, which only Go ≥ 1.22 writes); `<`, `>`, `&` become
 * `\u003c`, `\u003e`, `\u0026`; U+2028/U+2029 become `\u2028`/`\u2029`; everything else, DEL and
 * non-ASCII included, is written as is. A lone surrogate (Go: an invalid UTF-8 byte) becomes
 * `\ufffd`.
 */
export function goJsonString(s: string): string {
  if (!NEEDS_ESCAPE.test(s)) return '"' + s + '"';
  let out = '"';
  let start = 0;
  const n = s.length;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    let esc: string | undefined;
    if (c < 0x20) {
      esc = c === 0x0a ? '\\n' : c === 0x0d ? '\\r' : c === 0x09 ? '\\t' : '\\u00' + HEX[c >> 4]! + HEX[c & 15]!;
    } else if (c === 0x22) esc = '\\"';
    else if (c === 0x5c) esc = '\\\\';
    else if (c === 0x3c) esc = '\\u003c';
    else if (c === 0x3e) esc = '\\u003e';
    else if (c === 0x26) esc = '\\u0026';
    else if (c === 0x2028) esc = '\\u2028';
    else if (c === 0x2029) esc = '\\u2029';
    else if (c >= 0xd800 && c <= 0xdfff) {
      const next = i + 1 < n ? s.charCodeAt(i + 1) : 0;
      if (c <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
        i++; // a valid pair: written as is
        continue;
      }
      esc = '\\ufffd';
    }
    if (esc === undefined) continue;
    out += s.slice(start, i) + esc;
    start = i + 1;
  }
  return out + s.slice(start) + '"';
}

/**
 * Go's `strconv.Quote` over raw bytes (what `fmt`'s `%q` prints for a string): printable runes as
 * they are, `\a\b\f\n\r\t\v`, `\"` and `\\` short escapes, other runes below U+10000 as `\uXXXX`,
 * above as `\UXXXXXXXX`, control bytes and bytes that are not UTF-8 as `\xNN`.
 */
export function goQuote(bytes: Uint8Array): string {
  const s = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  let out = '"';
  let i = 0;
  while (i < s.length) {
    const [r, size] = decodeRune(s, i);
    if (size === 1 && r === -1) {
      out += '\\x' + HEX[s[i]! >> 4]! + HEX[s[i]! & 15]!;
      i++;
      continue;
    }
    i += size;
    if (r === 0x22) out += '\\"';
    else if (r === 0x5c) out += '\\\\';
    else if (r < 0x80 && r >= 0x20 && r !== 0x7f) out += String.fromCharCode(r);
    else if (r >= 0x80 && isGoPrint(r)) out += String.fromCodePoint(r);
    else if (r === 0x07) out += '\\a';
    else if (r === 0x08) out += '\\b';
    else if (r === 0x0c) out += '\\f';
    else if (r === 0x0a) out += '\\n';
    else if (r === 0x0d) out += '\\r';
    else if (r === 0x09) out += '\\t';
    else if (r === 0x0b) out += '\\v';
    else if (r < 0x20 || r === 0x7f) out += '\\x' + HEX[r >> 4]! + HEX[r & 15]!;
    else if (r < 0x10000) out += '\\u' + r.toString(16).padStart(4, '0');
    else out += '\\U' + r.toString(16).padStart(8, '0');
  }
  return out + '"';
}

/** Go's unicode.IsPrint: letters, marks, numbers, punctuation, symbols (and the ASCII space). */
const GO_PRINT = /^[\p{L}\p{M}\p{N}\p{P}\p{S}]$/u;
function isGoPrint(r: number): boolean {
  return GO_PRINT.test(String.fromCodePoint(r));
}

/** Decodes one UTF-8 rune at `i` as Go does: [rune, size], or [-1, 1] for an invalid byte. */
function decodeRune(s: Buffer, i: number): [number, number] {
  const b0 = s[i]!;
  if (b0 < 0x80) return [b0, 1];
  const need = b0 >= 0xf0 && b0 <= 0xf4 ? 4 : b0 >= 0xe0 && b0 <= 0xef ? 3 : b0 >= 0xc2 && b0 <= 0xdf ? 2 : 0;
  if (need === 0 || i + need > s.length) return [-1, 1];
  let r = b0 & (need === 2 ? 0x1f : need === 3 ? 0x0f : 0x07);
  for (let k = 1; k < need; k++) {
    const b = s[i + k]!;
    if ((b & 0xc0) !== 0x80) return [-1, 1];
    r = (r << 6) | (b & 0x3f);
  }
  if ((need === 3 && (r < 0x800 || (r >= 0xd800 && r <= 0xdfff))) || (need === 4 && (r < 0x10000 || r > 0x10ffff))) {
    return [-1, 1];
  }
  return [r, need];
}
