/**
 * A small seeded pseudo-random generator: the whole harness (fixtures, operations, file contents)
 * is a pure function of one integer seed, so a divergence is reproduced by its seed alone.
 * A Weyl sequence (step 0x9e3779b9) scrambled by a 32-bit integer hash: fast, stateless to copy.
 */
export class Rng {
  private state: number;

  constructor(seed: number) {
    this.state = (seed ^ 0x5bd1e995) >>> 0;
  }

  /** A uniform 32-bit unsigned integer. */
  u32(): number {
    this.state = (this.state + 0x9e3779b9) >>> 0;
    let z = this.state;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    return (z ^ (z >>> 16)) >>> 0;
  }

  /** An integer in [lo, hi] (both included). */
  int(lo: number, hi: number): number {
    return lo + (this.u32() % (hi - lo + 1));
  }

  /** True with probability p. */
  chance(p: number): boolean {
    return this.u32() / 0x1_0000_0000 < p;
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new RangeError('Rng.pick of an empty list');
    return items[this.u32() % items.length] as T;
  }

  /** One key of `weights`, chosen with probability proportional to its weight. */
  weighted<K extends string>(weights: Readonly<Record<K, number>>): K {
    const entries = Object.entries(weights) as [K, number][];
    const total = entries.reduce((s, [, w]) => s + w, 0);
    let r = (this.u32() / 0x1_0000_0000) * total;
    for (const [k, w] of entries) {
      if (r < w) return k;
      r -= w;
    }
    return entries[entries.length - 1]![0];
  }
}

/** `size` bytes of deterministic content for `seed` (the same bytes on every side of a comparison). */
export function contentBytes(seed: number, size: number): Buffer {
  const rng = new Rng(seed);
  const buf = Buffer.alloc(size);
  let i = 0;
  for (; i + 4 <= size; i += 4) buf.writeUInt32LE(rng.u32(), i);
  for (; i < size; i++) buf[i] = rng.u32() & 0xff;
  return buf;
}
