import os from 'node:os';
import path from 'node:path';

/** The default data root: /var/lib/strata for root, $XDG_DATA_HOME/strata (or ~/.local/share/strata) otherwise. */
export function defaultRoot(): string {
  if (process.getuid?.() === 0) return '/var/lib/strata';
  const xdg = process.env.XDG_DATA_HOME || path.join(os.homedir(), '.local', 'share');
  return path.join(xdg, 'strata');
}
