/**
 * CRC-64/GO-ISO: Go's `hash/crc64` with `crc64.MakeTable(crc64.ISO)`, the checksum tar-split
 * stores (big-endian, base64) for the content of every file in a layer.
 *
 * Parameters: polynomial x⁶⁴ + x⁴ + x³ + x + 1 (0x1B; reflected 0xD800000000000000), reflected
 * input and output, initial value and final XOR all ones. Vectors: "123456789" →
 * 0xb90956c775a41001, "hello\n" → 61 4c 3e ee e2 d8 10 00.
 *
 * This runs over every content byte of every layer, so it is written for speed: no BigInt, the
 * 64-bit register kept as two 32-bit halves, and — the main trick — no tables in the hot loop.
 * Most CRCs need tables because their polynomial is dense. The ISO polynomial is not: in the
 * field GF(2)[x]/P, x⁶⁴ ≡ x⁴ + x³ + x + 1 = (1 + x)(1 + x³). Feeding 8 bytes to a reflected CRC
 * means v = crc ⊕ data, crc' = v·x⁶⁴ mod P, and in the reflected bit order multiplying by x is a
 * right shift by one. So
 *
 *   t    = v ⊕ (v >> 3)            ·(1 + x³)
 *   crc' = t ⊕ (t >> 1)            ·(1 + x)
 *
 * plus a fold of the few bits shifted out past x⁶³ (v's low 3 bits from the first step, t's
 * low bit from the second): they stand for terms x⁶⁴…x⁶⁷, which reduce again through
 * (1 + x)(1 + x³) into the register's top byte and cannot overflow a second time. That is about
 * 25 integer operations per 8 bytes with no memory lookups, ≈2.4 GB/s in V8 on the reference
 * machine (slicing-by-8/-16 with Uint32Array tables reached 0.9–1.4 GB/s). Bytes that do not
 * fill a whole 8-byte step use the classic one-table byte loop, whose table for this polynomial
 * is only 16 bits wide (`crc' = (crc >> 8) ⊕ (S[(crc ⊕ b) & 0xff] << 48)`).
 */

/** Top 16 bits of the byte-wise table entry T[i] (all other bits of T[i] are zero for ISO). */
const S = new Int32Array(256);
for (let i = 0; i < 256; i++) {
  // T[i] is i·x⁶⁴ mod P for an 8-bit i: shifting i right 8 times, xoring the reflected
  // polynomial 0xD8 into the top byte whenever a 1 falls off, leaves only the top 16 bits set.
  let lo = i;
  let hi = 0;
  for (let k = 0; k < 8; k++) {
    const carry = lo & 1;
    lo = (lo >>> 1) | ((hi & 1) << 31);
    hi >>>= 1;
    if (carry) hi ^= 0xd8000000;
  }
  S[i] = hi >>> 16;
}

/** Below this many bytes the per-call cost of a 32-bit view outweighs its speed. */
const WORD_PATH_MIN = 256;
const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** Incremental CRC-64/GO-ISO. `update` as often as needed; `digest` any time. */
export class Crc64 {
  // The register, held inverted as Go does (crc = ^crc before and after), as two int32 halves.
  private hi = -1;
  private lo = -1;

  /** Feeds `data` (any length, any alignment). Returns `this` for chaining. */
  update(data: Uint8Array): this {
    let hi = this.hi;
    let lo = this.lo;
    const n = data.length;
    let p = 0;
    if (LITTLE_ENDIAN && n >= WORD_PATH_MIN) {
      // Byte-wise up to a 4-byte boundary, so the rest can be read as aligned int32 words.
      const misalign = (4 - (data.byteOffset & 3)) & 3;
      for (; p < misalign; p++) {
        const idx = (lo ^ data[p]!) & 0xff;
        lo = (lo >>> 8) | (hi << 24);
        hi = (hi >>> 8) ^ (S[idx]! << 16);
      }
      const w = new Int32Array(data.buffer, data.byteOffset + p, ((n - p) >>> 3) << 1);
      const words = w.length;
      for (let j = 0; j < words; j += 2) {
        const vl = lo ^ w[j]!;
        const vh = hi ^ w[j + 1]!;
        // t = v·(1 + x³); the 3 bits shifted out of the low end are (vl << 29).
        const th = vh ^ (vh >>> 3);
        const tl = vl ^ (vl >>> 3) ^ (vh << 29);
        // Overflow x⁶⁴…x⁶⁷ after both steps: t's bit shifted out by ·(1+x), plus the first
        // step's overflow carried through ·(1+x). It lives in the top nibble of the high word.
        const c = vl << 29;
        const o = (tl << 31) ^ c ^ (c >>> 1);
        // Reduce the overflow: o·x⁶⁴ ≡ o·(1 + x³)(1 + x), which stays inside the high word.
        const u = o ^ (o >>> 3);
        lo = tl ^ (tl >>> 1) ^ (th << 31);
        hi = th ^ (th >>> 1) ^ u ^ (u >>> 1);
      }
      p += words << 2;
    } else {
      // Same step, the 8 bytes assembled from byte loads (short inputs, big-endian hosts).
      for (const end = n - 7; p < end; p += 8) {
        const vl = lo ^ (data[p]! | (data[p + 1]! << 8) | (data[p + 2]! << 16) | (data[p + 3]! << 24));
        const vh = hi ^ (data[p + 4]! | (data[p + 5]! << 8) | (data[p + 6]! << 16) | (data[p + 7]! << 24));
        const th = vh ^ (vh >>> 3);
        const tl = vl ^ (vl >>> 3) ^ (vh << 29);
        const c = vl << 29;
        const o = (tl << 31) ^ c ^ (c >>> 1);
        const u = o ^ (o >>> 3);
        lo = tl ^ (tl >>> 1) ^ (th << 31);
        hi = th ^ (th >>> 1) ^ u ^ (u >>> 1);
      }
    }
    for (; p < n; p++) {
      const idx = (lo ^ data[p]!) & 0xff;
      lo = (lo >>> 8) | (hi << 24);
      hi = (hi >>> 8) ^ (S[idx]! << 16);
    }
    this.hi = hi;
    this.lo = lo;
    return this;
  }

  /** The CRC of everything fed so far as 8 big-endian bytes (tar-split's payload). Does not reset. */
  digest(): Buffer {
    const out = Buffer.allocUnsafe(8);
    out.writeUInt32BE(~this.hi >>> 0, 0);
    out.writeUInt32BE(~this.lo >>> 0, 4);
    return out;
  }

  /** The CRC as 16 lowercase hex digits (for logs and tests). */
  hex(): string {
    return this.digest().toString('hex');
  }

  /** Starts over, as if newly constructed. */
  reset(): this {
    this.hi = -1;
    this.lo = -1;
    return this;
  }
}

/** CRC-64/GO-ISO of `data` in one call: 8 big-endian bytes. */
export function crc64(data: Uint8Array): Buffer {
  return new Crc64().update(data).digest();
}
