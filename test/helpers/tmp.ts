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
