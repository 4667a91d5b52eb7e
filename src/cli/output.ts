/**
 * How every command talks to the user: `--json` gives one JSON document on stdout; otherwise
 * plain text. Failures print exactly one line, `strata: <message>`, on stderr and exit non-zero.
 */
import { isStrataError } from '../errors/index.js';

export interface OutputOptions {
  json?: boolean;
}

/** Prints `value` as JSON, or prints the text `render` makes of it. */
export function emit<T>(opts: OutputOptions, value: T, render: (v: T) => string): void {
  process.stdout.write(opts.json ? `${JSON.stringify(value, null, 2)}\n` : render(value));
}

/** The one line a failure prints; unexpected errors still get one line, not a stack trace. */
export function errorLine(e: unknown): string {
  if (isStrataError(e)) return `strata: ${e.message}`;
  if (e instanceof Error) {
    const code = (e as NodeJS.ErrnoException).code;
    return `strata: ${code && !e.message.startsWith(code) ? `${code}: ` : ''}${e.message.split('\n')[0]}`;
  }
  return `strata: ${String(e)}`;
}

/** Renders rows as left-aligned columns with a header, like `docker images`. */
export function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]! + 3)))
      .join('')
      .trimEnd();
  return [line(headers), ...rows.map(line)].join('\n') + '\n';
}
