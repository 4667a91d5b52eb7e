/**
 * How Go reads the layerdb files, to the character: `strings.TrimSpace` and
 * `strconv.ParseInt(s, 10, 64)`. JavaScript's `trim()` and `Number()` differ at the edges
 * (U+FEFF, U+0085, "1e3", " 12", "0x10"), and at those edges strata must accept and refuse exactly
 * what dockerd accepts and refuses.
 */

/** Go's `unicode.IsSpace`. */
function isGoSpace(ch: number): boolean {
  if (ch <= 0xff) return ch === 0x20 || (ch >= 0x09 && ch <= 0x0d) || ch === 0x85 || ch === 0xa0;
  return ch === 0x1680 || (ch >= 0x2000 && ch <= 0x200a) || ch === 0x2028 || ch === 0x2029 || ch === 0x202f || ch === 0x205f || ch === 0x3000;
}

/** Go's `strings.TrimSpace`: leading and trailing Unicode white space removed (not U+FEFF). */
export function goTrimSpace(s: string): string {
  let a = 0;
  let b = s.length;
  while (a < b && isGoSpace(s.charCodeAt(a))) a++;
  while (b > a && isGoSpace(s.charCodeAt(b - 1))) b--;
  return s.slice(a, b);
}

const INT_RE = /^[+-]?[0-9]+$/;
const INT64_MAX = (1n << 63n) - 1n;
const INT64_MIN = -(1n << 63n);

/**
 * Go's `strconv.ParseInt(s, 10, 64)`: an optional sign and decimal digits, nothing else — no
 * white space, no underscores, no `0x` — within int64. Returns the value as a bigint, or a reason
 * string (Go's wording: `invalid syntax`, `value out of range`).
 */
export function goParseInt64(s: string): bigint | 'invalid syntax' | 'value out of range' {
  if (!INT_RE.test(s)) return 'invalid syntax';
  const v = BigInt(s);
  if (v > INT64_MAX || v < INT64_MIN) return 'value out of range';
  return v;
}
