/**
 * Helpers of the layer-store tests (store-suite.ts, lock.test.ts, initlayer.test.ts): data roots
 * under /var/tmp, small layer tars (GNU tar or built in code), error matchers, listings.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { isStrataError } from '../../src/errors/index.js';
import { unmountUnder } from '../driver/overlay2-helpers.js';
import { diffSnapshots, snapshotTree, type Snapshot } from '../helpers/tree-snapshot.js';

const roots: string[] = [];
process.on('exit', () => {
  for (const r of roots) {
    try {
      unmountUnder(r);
      fs.rmSync(r, { recursive: true, force: true });
    } catch {
      /* best effort */
    }
  }
});

/** A fresh directory under /var/tmp (a real file system, as overlay2 needs), removed at exit. */
export function dataRoot(prefix = 'strata-store-'): string {
  const dir = fs.mkdtempSync(path.join('/var/tmp', prefix));
  roots.push(dir);
  return dir;
}

/** Unmounts everything below `dir` and removes it. */
export function disposeRoot(dir: string): void {
  unmountUnder(dir);
  fs.rmSync(dir, { recursive: true, force: true });
}

export type TreeSpec = Record<string, string | { content: string; mode?: number } | { dir: true; mode?: number } | { symlink: string }>;

/** Writes `spec` under `dir` (parents 0755; files 0644 unless a mode is given). */
export function writeTree(dir: string, spec: TreeSpec): void {
  for (const [rel, v] of Object.entries(spec)) {
    const p = path.join(dir, rel);
    fs.mkdirSync(path.dirname(p), { recursive: true, mode: 0o755 });
    if (typeof v === 'string') {
      fs.writeFileSync(p, v);
      fs.chmodSync(p, 0o644);
    } else if ('content' in v) {
      fs.writeFileSync(p, v.content);
      fs.chmodSync(p, v.mode ?? 0o644);
    } else if ('dir' in v) {
      fs.mkdirSync(p, { recursive: true });
      fs.chmodSync(p, v.mode ?? 0o755);
    } else {
      fs.symlinkSync(v.symlink, p);
    }
  }
}

/** A layer tar of the tree `spec` made by GNU tar (`tar -C dir -cf - .`), sorted, with a fixed mtime. */
export function tarOf(spec: TreeSpec): Buffer {
  const src = fs.mkdtempSync(path.join('/var/tmp', 'strata-tarsrc-'));
  try {
    writeTree(src, spec);
    return execFileSync('tar', ['--numeric-owner', '--sort=name', '--mtime=@1700000000', '-C', src, '-cf', '-', '.'], { maxBuffer: 1 << 30 });
  } finally {
    fs.rmSync(src, { recursive: true, force: true });
  }
}

/** A buffer as an async stream of `size`-byte chunks. */
export async function* stream(buf: Buffer, size = 4096): AsyncGenerator<Buffer> {
  for (let i = 0; i < buf.length; i += size) yield buf.subarray(i, Math.min(buf.length, i + size));
}

/** An `assert.rejects`/`assert.throws` matcher: a StrataError with `code`, message matching `msg`. */
export function errWith(code: string, msg?: RegExp | string) {
  return (e: unknown): boolean => {
    assert.ok(isStrataError(e), `not a StrataError: ${e instanceof Error ? e.stack : String(e)}`);
    assert.equal(e.code, code, `code of: ${e.message}`);
    if (typeof msg === 'string') assert.equal(e.message, msg);
    else if (msg) assert.match(e.message, msg);
    return true;
  };
}

/** Sorted names in `dir` ([] when it does not exist). */
export function names(dir: string): string[] {
  try {
    return fs.readdirSync(dir).sort();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
}

/** A snapshot of `dir` ('missing' when it does not exist). */
export function snap(dir: string): Snapshot | 'missing' {
  return fs.existsSync(dir) ? snapshotTree(dir) : 'missing';
}

/**
 * Asserts two snapshots hold the same entries with the same contents. Directory mtimes are
 * ignored (creating and removing an entry, a write-set or a driver dir, moves its parent's
 * mtime), and those of files `ignoreMtime` names.
 */
export function assertSameTree(
  before: Snapshot | 'missing',
  after: Snapshot | 'missing',
  what: string,
  ignoreMtime: (rel: string) => boolean = () => false,
): void {
  if (before === 'missing' || after === 'missing') {
    assert.equal(after, before, `${what}: existence`);
    return;
  }
  const d = diffSnapshots(
    before,
    after,
    (rel, field) => field === 'mtimeNs' && (before.get(rel)?.type === 'dir' || after.get(rel)?.type === 'dir' || ignoreMtime(rel)),
  );
  assert.deepEqual(d, [], `${what} changed`);
}
