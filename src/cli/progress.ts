/**
 * Progress bars on stderr for long work (load, save, fsck), drawn only when stderr is a terminal
 * and never more than 10 times a second; elsewhere (pipes, CI logs, `--json`) they print nothing.
 *
 *   const bar = progressBar('Loading', total, 'bytes');
 *   bar.update(done);        // "Loading  [=========>          ]  45.1MB/92.3MB"
 *   bar.finish();            // clears the line
 */
import { humanSize } from './store.js';

export interface ProgressBar {
  update(done: number, total?: number): void;
  finish(): void;
}

const WIDTH = 30;
const NONE: ProgressBar = { update: () => undefined, finish: () => undefined };

/** A bar for `total` units (`bytes` print as sizes, `items` as counts). A no-op off a TTY or when `quiet`. */
export function progressBar(label: string, total: number, unit: 'bytes' | 'items', quiet = false): ProgressBar {
  const out = process.stderr;
  if (quiet || !out.isTTY) return NONE;
  let last = 0;
  let drawn = false;
  let max = total;
  const fmt = (n: number) => (unit === 'bytes' ? humanSize(n) : String(n));
  return {
    update(done: number, newTotal?: number) {
      if (newTotal !== undefined) max = newTotal;
      const now = Date.now();
      if (now - last < 100 && done < max) return;
      last = now;
      const frac = max > 0 ? Math.min(1, done / max) : 1;
      const fill = Math.round(frac * WIDTH);
      const bar = '='.repeat(Math.max(0, fill - 1)) + (fill > 0 ? (fill === WIDTH ? '=' : '>') : '') + ' '.repeat(WIDTH - fill);
      out.write(`\r${label} [${bar}] ${fmt(done)}/${fmt(max)}\x1b[K`);
      drawn = true;
    },
    finish() {
      if (drawn) out.write('\r\x1b[K');
    },
  };
}
