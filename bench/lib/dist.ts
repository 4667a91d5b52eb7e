/** What the benches that run the real `strata` command need first: a dist/ that matches src/. */
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';

const REPO = path.resolve(import.meta.dirname, '..', '..');

/** dist/ must hold what src/ says: rebuilt when any source is newer than the CLI's entry point. */
export function ensureDist(): void {
  const entry = path.join(REPO, 'dist/cli/main.js');
  const built = fs.existsSync(entry) ? fs.statSync(entry).mtimeMs : 0;
  const newer = (dir: string): boolean =>
    fs.readdirSync(dir, { withFileTypes: true }).some((e) => {
      const p = path.join(dir, e.name);
      return e.isDirectory() ? newer(p) : e.name.endsWith('.ts') && fs.statSync(p).mtimeMs > built;
    });
  if (newer(path.join(REPO, 'src'))) {
    process.stderr.write('  dist/ is older than src/: npm run build\n');
    execFileSync('npm', ['run', 'build', '--silent'], { cwd: REPO, stdio: 'inherit' });
  }
}
