/**
 * Shared bits for the sys tests: a scratch directory per test file that is unmounted and removed
 * afterwards (even when a test failed half-way), and a tiny child-process driver.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { MNT_DETACH, mountsBelow, umount2, type FileStat } from '../../src/sys/index.js';

export const ADDON = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../build/Release/strata_native.node');

/**
 * Removes `dir` and everything in it, first detaching any mount left at or below it: a recursive
 * remove would otherwise go through a live mount and delete what it shows (a lower layer's files).
 */
export function removeWithMounts(dir: string): void {
  for (const mp of mountsBelow(dir)) {
    try {
      umount2(mp, MNT_DETACH);
    } catch {
      /* already gone */
    }
  }
  fs.rmSync(dir, { recursive: true, force: true });
}

/** A fresh scratch dir; `cleanup()` detaches any mount left below it, then removes it. */
export function scratch(prefix = 'strata-sys-'): { dir: string; cleanup: () => void } {
  const dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), prefix)));
  return { dir, cleanup: () => removeWithMounts(dir) };
}

/** Creates `dir/name` files (and parent dirs) from a {relative path: content} map. */
export function writeTree(dir: string, files: Record<string, string>): void {
  for (const [rel, content] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    fs.writeFileSync(path.join(dir, rel), content);
  }
}

/** A child `node` running CommonJS `script` (argv after it = args), read line by line. */
export class Child {
  readonly proc: ChildProcessWithoutNullStreams;
  private readonly lines: string[] = [];
  private waiting: ((line: string) => void) | null = null;
  private stderr = '';

  private static readonly all = new Set<Child>();

  /** Kills every child still running (for an `after` hook, so a failed test cannot hang the run). */
  static killAll(): void {
    for (const c of Child.all) c.kill();
  }

  constructor(script: string, args: string[]) {
    this.proc = spawn(process.execPath, ['-e', script, '--', ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    Child.all.add(this);
    this.proc.on('exit', () => Child.all.delete(this));
    createInterface({ input: this.proc.stdout }).on('line', (line) => {
      if (this.waiting) {
        const w = this.waiting;
        this.waiting = null;
        w(line);
      } else this.lines.push(line);
    });
    this.proc.stderr.on('data', (d: Buffer) => (this.stderr += d.toString()));
  }

  /** The next line the child prints (fails after `ms`). */
  next(ms = 10_000): Promise<string> {
    const queued = this.lines.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`child said nothing for ${ms} ms; stderr: ${this.stderr}`)), ms);
      this.waiting = (line) => {
        clearTimeout(t);
        resolve(line);
      };
    });
  }

  send(line: string): void {
    this.proc.stdin.write(line + '\n');
  }

  /** Resolves with the exit code. */
  exit(): Promise<number | null> {
    if (this.proc.exitCode !== null) return Promise.resolve(this.proc.exitCode);
    return new Promise((resolve) => this.proc.on('exit', (code) => resolve(code)));
  }

  kill(): void {
    if (this.proc.exitCode === null) this.proc.kill('SIGKILL');
  }
}

/** What node:fs's own lstat/fstat say (`{ bigint: true }`), in src/sys FileStat's shape. */
export function fileStatOf(st: fs.BigIntStats): FileStat {
  const n = Number;
  return {
    dev: n(st.dev),
    ino: st.ino,
    mode: n(st.mode),
    nlink: n(st.nlink),
    uid: n(st.uid),
    gid: n(st.gid),
    rdev: n(st.rdev),
    size: n(st.size),
    blksize: n(st.blksize),
    blocks: n(st.blocks),
    atimeNs: st.atimeNs,
    mtimeNs: st.mtimeNs,
    ctimeNs: st.ctimeNs,
  };
}
