/** Seeded randomness the benchmarks build their inputs from, so every run generates the same trees. */

/** mulberry32: the tree's shape (names, sizes, counts). */
export function rng(seed: number) {
  let st = seed >>> 0;
  const next = () => {
    st = (st + 0x6d2b79f5) >>> 0;
    let t = st;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (lo: number, hi: number) => lo + Math.floor(next() * (hi - lo));
  return {
    next,
    int,
    /** log-uniform in [lo, hi): many small, few large, as file sizes are. */
    logSize: (lo: number, hi: number) => Math.floor(Math.exp(Math.log(lo) + next() * (Math.log(hi) - Math.log(lo)))),
    name: (lo = 4, hi = 11) => Array.from({ length: int(lo, hi) }, () => 'abcdefghijklmnopqrstuvwxyz'[int(0, 26)]).join(''),
  };
}
export type Rng = ReturnType<typeof rng>;
