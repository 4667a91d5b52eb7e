/** Shared helpers of the overlay2 tests: a scratch root, tars from trees, mount bookkeeping. */
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { TarReader, type TarEntry } from '../../src/archive/index.js';
import { mountTable } from '../../src/sys/index.js';
import * as sys from '../../src/sys/index.js';
import { tempDir } from '../helpers/tmp.js';

/** A fresh data root for one test file; `dispose` unmounts anything left below it. */
export function scratchRoot(prefix: string): { root: string; dispose: () => void } {
  const root = tempDir(prefix);
  return { root, dispose: () => unmountUnder(root) };
}

/** Unmounts (MNT_DETACH) everything mounted at or below `dir`, deepest first. */
export function unmountUnder(dir: string): void {
  for (const m of mountsUnder(dir).sort((a, b) => b.length - a.length)) {
    try {
      sys.umount2(m, sys.constants.MNT_DETACH);
    } catch {
      /* already gone */
    }
  }
}

export function mountsUnder(dir: string): string[] {
  return mountTable()
    .map((m) => m.mountPoint)
    .filter((mp) => mp === dir || mp.startsWith(dir + '/'));
}

/** The mountinfo entry mounted exactly at `p`. */
export function mountAt(p: string) {
  return mountTable().filter((m) => m.mountPoint === p).pop();
}

/** Tar entries (GNU tar, posix format) of the tree made by `build` in a temp dir. */
export function tarOf(build: (dir: string) => void): AsyncIterable<TarEntry> {
  const src = tempDir('strata-ov2-src-');
  build(src);
  const buf = execFileSync('tar', ['--format=posix', '--xattrs', '--numeric-owner', '-C', src, '-cf', '-', '.'], { maxBuffer: 1 << 30 });
  fs.rmSync(src, { recursive: true, force: true });
  return new TarReader([buf]);
}

export function put(dir: string, rel: string, content: string, mode = 0o644): void {
  const p = path.join(dir, rel);
  fs.mkdirSync(path.dirname(p), { recursive: true });
  fs.writeFileSync(p, content);
  fs.chmodSync(p, mode);
}

/** Sorted relative paths of every entry under `dir` (excluding `dir`). */
export function listTree(dir: string): string[] {
  const out: string[] = [];
  const walk = (rel: string): void => {
    for (const n of fs.readdirSync(path.join(dir, rel))) {
      const r = rel ? `${rel}/${n}` : n;
      out.push(r);
      if (fs.lstatSync(path.join(dir, r)).isDirectory()) walk(r);
    }
  };
  walk('');
  return out.sort();
}
