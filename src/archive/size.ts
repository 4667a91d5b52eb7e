/**
 * moby's `directory.Size` (pkg/directory, v20.10): what overlay2's ApplyDiff and native DiffSize
 * report, and so what a layer's layerdb `size` file holds. Used by apply (after an overlay apply)
 * and by diff (DiffSize).
 *
 * A filepath.Walk that adds up lstat sizes, skipping directories and zero-size entries and
 * counting each inode number once (hardlinks), so a symlink counts the length of its target.
 * Entries that vanish during the walk are ignored; a missing root is an error.
 */
import fs from 'node:fs';
import { StrataError } from '../errors/index.js';

/** The entry went away during the walk (moby's Walk ignores such entries). */
function vanished(e: unknown): boolean {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

const SLASH = Buffer.from('/');

export function directorySize(dir: string | Buffer): number {
  const root = typeof dir === 'string' ? Buffer.from(dir) : dir;
  let st: fs.BigIntStats;
  try {
    st = fs.lstatSync(root, { bigint: true });
  } catch (e) {
    throw new StrataError('NO_SUCH_DIRECTORY', `cannot size ${root.toString()}: ${(e as Error).message}`, { cause: e });
  }
  const seen = new Set<bigint>();
  let size = 0;
  const visit = (p: Buffer, s: fs.BigIntStats): void => {
    if (s.isDirectory()) {
      let names: Buffer[];
      try {
        names = fs.readdirSync(p, { encoding: 'buffer' });
      } catch (e) {
        if (vanished(e) && p !== root) return;
        throw e;
      }
      for (const n of names) {
        const c = Buffer.concat([p, SLASH, n]);
        let cs: fs.BigIntStats;
        try {
          cs = fs.lstatSync(c, { bigint: true });
        } catch (e) {
          if (vanished(e)) continue;
          throw e;
        }
        visit(c, cs);
      }
      return;
    }
    if (s.size === 0n || seen.has(s.ino)) return;
    seen.add(s.ino);
    size += Number(s.size);
  };
  visit(root, st);
  return size;
}
