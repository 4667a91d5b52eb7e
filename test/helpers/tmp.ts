import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';

/** A fresh temp directory, removed (after unmounting anything below it) when the process exits. */
export function tempDir(prefix = 'strata-test-'): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  cleanups.push(dir);
  return dir;
}

const cleanups: string[] = [];
process.on('exit', () => {
  for (const dir of cleanups) {
    try {
      fs.rmSync(dir, { recursive: true, force: true });
    } catch {
      /* best effort: a test may have left a mount */
    }
  }
});

/** Runs a command synchronously and returns stdout; throws with stderr on failure. */
export function sh(cmd: string, args: string[], opts: { cwd?: string; input?: Buffer | string } = {}): Buffer {
  return execFileSync(cmd, args, { cwd: opts.cwd, input: opts.input, stdio: ['pipe', 'pipe', 'pipe'], maxBuffer: 1 << 30 });
}

/** Chunks a buffer into pieces of `size` bytes (to exercise reads that span chunks). */
export function* chunked(buf: Buffer, size: number): Generator<Buffer> {
  for (let i = 0; i < buf.length; i += size) yield buf.subarray(i, Math.min(buf.length, i + size));
}

/** A tar of `files` (path → content; a path ending in `/` is a directory) made by GNU tar, deterministic. */
export function makeTar(files: Record<string, string | Buffer>): Buffer {
  const dir = tempDir('strata-tar-');
  for (const [rel, content] of Object.entries(files)) {
    const p = path.join(dir, rel);
    if (rel.endsWith('/')) fs.mkdirSync(p, { recursive: true });
    else {
      fs.mkdirSync(path.dirname(p), { recursive: true });
      fs.writeFileSync(p, content);
    }
  }
  return sh('tar', ['-C', dir, '--sort=name', '--owner=0', '--group=0', '--numeric-owner', '--mtime=@1700000000', '-cf', '-', '.']);
}
