/** What metadata-crash-child.ts writes for a DiffID or a mount name (shared with the test). */
import crypto from 'node:crypto';
import { EntryType, type TarSplitEntry } from '../../src/archive/tarsplit/index.js';

const hex = (s: string) => crypto.createHash('sha256').update(s).digest('hex');

export function expectedLayer(diffId: string): { cacheId: string; size: number; entries: TarSplitEntry[] } {
  const h = hex(diffId);
  // ~64 KiB of payload, so that killing the writer mid-gzip is likely
  const big = Buffer.alloc(64 * 1024, Buffer.from(diffId));
  return {
    cacheId: hex('cache ' + diffId),
    size: parseInt(h.slice(0, 8), 16),
    entries: [
      { type: EntryType.Segment, payload: Buffer.from(diffId), position: 0 },
      { type: EntryType.File, name: `f-${h.slice(0, 8)}`, size: 3, payload: Buffer.from(h.slice(0, 16), 'hex'), position: 1 },
      { type: EntryType.Segment, payload: big, position: 2 },
      { type: EntryType.Segment, payload: Buffer.alloc(0), position: 3 },
    ],
  };
}

export function expectedMountId(name: string): string {
  return hex('mount ' + name);
}
