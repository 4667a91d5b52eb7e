/**
 * A layer's storage options (moby overlay2 `parseStorageOpt`). The driver's start options
 * (`overlay2.size`, …) and size strings are parsed by the shared `../options.js`.
 */
import { StrataError } from '../../errors/index.js';
import { parseSize } from '../options.js';

/** A layer's storage options: only `size` (`Unknown option <key>` otherwise); returns bytes (0: none). */
export function parseStorageOpt(opts: Record<string, string>): number {
  let size = 0;
  for (const [k, v] of Object.entries(opts)) {
    const key = k.toLowerCase();
    if (key !== 'size') throw new StrataError('DRIVER_BAD_OPTION', `Unknown option ${key}`);
    size = parseSize(v);
  }
  return size;
}
