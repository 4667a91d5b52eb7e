/**
 * Device numbers, encoded the glibc way (`makedev`/`major`/`minor` of <sys/sysmacros.h>):
 * bits 8..19 and 44..63 hold the major, bits 0..7 and 20..43 the minor. BigInt arithmetic keeps
 * it exact; JavaScript's 32-bit bit operators would not.
 */

const U32 = 0xffff_ffffn;

function u32(x: number | bigint, name: string): bigint {
  const v = typeof x === 'bigint' ? x : Number.isInteger(x) ? BigInt(x) : -1n;
  if (v < 0n || v > U32) throw new RangeError(`${name} must be an integer in 0..4294967295, got ${String(x)}`);
  return v;
}

function dev(rdev: number | bigint): bigint {
  const v = typeof rdev === 'bigint' ? rdev : Number.isInteger(rdev) ? BigInt(rdev) : -1n;
  if (v < 0n || v > 0xffff_ffff_ffff_ffffn) throw new RangeError(`rdev must be an integer in 0..2^64-1, got ${String(rdev)}`);
  return v;
}

/** The dev_t for major:minor (each 0..2^32-1), e.g. makedev(8, 1) === 2049n. */
export function makedev(major: number | bigint, minor: number | bigint): bigint {
  const ma = u32(major, 'major');
  const mi = u32(minor, 'minor');
  return ((ma & 0xfffn) << 8n) | ((ma & 0xffff_f000n) << 32n) | (mi & 0xffn) | ((mi & 0xffff_ff00n) << 12n);
}

/** The major number of a dev_t, such as `fs.statSync(p).rdev` (number or bigint). */
export function major(rdev: number | bigint): number {
  const r = dev(rdev);
  return Number(((r >> 8n) & 0xfffn) | ((r >> 32n) & 0xffff_f000n));
}

/** The minor number of a dev_t, such as `fs.statSync(p).rdev` (number or bigint). */
export function minor(rdev: number | bigint): number {
  const r = dev(rdev);
  return Number((r & 0xffn) | ((r >> 12n) & 0xffff_ff00n));
}
