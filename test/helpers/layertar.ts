/**
 * Helpers for tests of layer tars: collect a stream, list its entries, mount a kernel overlay.
 */
import fs from 'node:fs';
import path from 'node:path';
import { TarReader, type TarHeader } from '../../src/archive/tar/index.js';
import { mount, umount2 } from '../../src/sys/index.js';

/** Concatenates every chunk of a stream. */
export async function collect(gen: AsyncIterable<Buffer>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of gen) parts.push(c);
  return Buffer.concat(parts);
}

export interface ListedEntry {
  header: TarHeader;
  /** The raw bytes before the content: PAX header and its records, then the header block. */
  raw: Buffer;
  data: Buffer;
}

/** Decodes every entry of a tar held in memory. */
export async function listTar(tar: Buffer): Promise<ListedEntry[]> {
  const r = new TarReader([tar]);
  const out: ListedEntry[] = [];
  for await (const e of r) out.push({ header: e.header, raw: e.raw, data: await e.readAll() });
  return out;
}

/** The last 512-byte block of an entry's raw bytes: its main header block. */
export function headerBlock(e: ListedEntry): Buffer {
  return e.raw.subarray(e.raw.length - 512);
}

/** The entry's own blocks (its raw bytes without the previous entry's content padding). */
export function ownBlocks(e: ListedEntry): Buffer {
  return e.raw.subarray(e.raw.length % 512);
}

/** True when the entry is a single USTAR block (no PAX extended header). */
export function isPlainUstar(e: ListedEntry): boolean {
  return ownBlocks(e).length === 512;
}

/** The name field of the PAX `x` header before the entry, or undefined. */
export function paxHeaderName(e: ListedEntry): string | undefined {
  const b = ownBlocks(e);
  if (b.length === 512 || b[156] !== 0x78) return undefined;
  return b.toString('latin1', 0, 100).replace(/\0+$/, '');
}

/** A header field as the bytes of the block (e.g. mode: offset 100, width 8). */
export function field(e: ListedEntry, offset: number, width: number): string {
  return headerBlock(e).toString('latin1', offset, offset + width);
}

export interface OverlayMount {
  lower: string;
  upper: string;
  work: string;
  merged: string;
  unmount(): void;
}

/** Mounts a kernel overlay with fresh upper/work dirs over `lowers` (top first) under `base`. */
export function mountOverlay(base: string, lowers: string[], opts: { upper?: string; readOnly?: boolean } = {}): OverlayMount {
  const upper = opts.upper ?? path.join(base, 'upper');
  const work = path.join(base, 'work');
  const merged = path.join(base, 'merged');
  for (const d of [upper, work, merged]) fs.mkdirSync(d, { recursive: true });
  const data = opts.readOnly ? `lowerdir=${lowers.join(':')}` : `lowerdir=${lowers.join(':')},upperdir=${upper},workdir=${work}`;
  mount('overlay', merged, 'overlay', opts.readOnly ? 1 /* MS_RDONLY */ : 0, data);
  const onExit = (): void => {
    try {
      umount2(merged, 2 /* MNT_DETACH */);
    } catch {
      /* best effort */
    }
  };
  process.on('exit', onExit);
  let mounted = true;
  const unmount = (): void => {
    if (!mounted) return;
    mounted = false;
    process.off('exit', onExit);
    umount2(merged, 0);
  };
  return { lower: lowers[0]!, upper, work, merged, unmount };
}
