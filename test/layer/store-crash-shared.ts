/** What store-crash-child.ts and store-crash.test.ts share: the seeded PRNG, the layer tars, the op names. */
import { TarType, encodeHeader, contentPadding, END_OF_ARCHIVE } from '../../src/archive/tar/index.js';

/** The operations the child runs; it prints `op <kind>` before each and `done` after it. */
export const OP_KINDS = ['register', 'createRWLayer', 'commit', 'releaseRWLayer', 'release', 'remove'] as const;
export type OpKind = (typeof OP_KINDS)[number];

/** A small seeded PRNG (mulberry32): the same seed gives the same choices. */
export class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0;
  }
  /** In [0, 1). */
  next(): number {
    this.s = (this.s + 0x6d2b79f5) >>> 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** An integer in [lo, hi). */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo));
  }
  pick<T>(a: readonly T[]): T | undefined {
    return a.length === 0 ? undefined : a[this.int(0, a.length)];
  }
  hex(bytes: number): string {
    let s = '';
    for (let i = 0; i < bytes; i++) s += this.int(0, 256).toString(16).padStart(2, '0');
    return s;
  }
}

/** A 32-bit seed for trial `i` of a run seeded with `seed`. */
export function trialSeed(seed: number, i: number): number {
  return new Rng((seed ^ Math.imul(i + 1, 0x9e3779b9)) >>> 0).int(0, 2 ** 32);
}

interface TarFile {
  name: string;
  kind: 'dir' | 'file' | 'symlink' | 'whiteout';
  content?: Buffer;
  target?: string;
}

/** A tar as Go's archive/tar writes it (USTAR headers, two zero blocks at the end). */
export function buildTar(files: TarFile[], mtime: number): Buffer {
  const parts: Buffer[] = [];
  for (const f of files) {
    if (f.kind === 'dir') {
      parts.push(encodeHeader({ name: `${f.name}/`, type: TarType.Dir, mode: 0o755, mtime, uname: 'root', gname: 'root' }));
    } else if (f.kind === 'symlink') {
      parts.push(encodeHeader({ name: f.name, type: TarType.Symlink, mode: 0o777, linkname: f.target!, mtime }));
    } else if (f.kind === 'whiteout') {
      parts.push(encodeHeader({ name: f.name, type: TarType.Reg, mode: 0o600, size: 0, mtime }));
    } else {
      const c = f.content!;
      parts.push(encodeHeader({ name: f.name, type: TarType.Reg, mode: 0o644, size: c.length, mtime, uname: 'root', gname: 'root' }));
      parts.push(c, contentPadding(c.length));
    }
  }
  parts.push(END_OF_ARCHIVE);
  return Buffer.concat(parts);
}

/**
 * A small layer: a directory, 2–5 files (about one in three of a few hundred KB, so that the
 * apply takes a moment), sometimes a symlink and, over a parent, a whiteout. `variant` selects
 * the content, so the same variant on the same parent is the same ChainID (a deduplicated
 * register).
 */
export function layerTar(variant: string, withParent: boolean): Buffer {
  let h = 2166136261;
  for (let i = 0; i < variant.length; i++) h = Math.imul(h ^ variant.charCodeAt(i), 16777619);
  const rng = new Rng(h);
  const dir = `d-${variant}`;
  const files: TarFile[] = [{ name: dir, kind: 'dir' }];
  const n = rng.int(2, 6);
  for (let i = 0; i < n; i++) {
    const size = rng.next() < 0.35 ? rng.int(100_000, 600_000) : rng.int(0, 4000);
    files.push({ name: `${dir}/f${i}`, kind: 'file', content: Buffer.alloc(size, `${variant}:${i}:`) });
  }
  if (rng.next() < 0.3) files.push({ name: `${dir}/link`, kind: 'symlink', target: 'f0' });
  if (withParent && rng.next() < 0.3) files.push({ name: `.wh.gone-${variant}`, kind: 'whiteout' });
  return buildTar(files, 1_700_000_000 + rng.int(0, 1_000_000));
}

/** Chunks, as a stream would deliver them. */
export async function* chunks(buf: Buffer, size = 64 * 1024): AsyncGenerator<Buffer> {
  for (let i = 0; i < buf.length; i += size) yield buf.subarray(i, Math.min(buf.length, i + size));
}

/** The operations store-crash-points.test.ts walks a kill through (see store-crash-points-child.ts). */
export const SCENARIOS = ['register-base', 'register-child', 'register-dedup', 'createRWLayer', 'releaseRWLayer', 'remove'] as const;
export type Scenario = (typeof SCENARIOS)[number];

/** A tar of one directory and two small files, named after `name`. */
export function tinyTar(name: string): AsyncGenerator<Buffer> {
  return chunks(
    buildTar(
      [
        { name, kind: 'dir' },
        { name: `${name}/a`, kind: 'file', content: Buffer.from(`a of ${name}\n`) },
        { name: `${name}/b`, kind: 'file', content: Buffer.alloc(3000, name) },
      ],
      1_700_000_000,
    ),
  );
}
