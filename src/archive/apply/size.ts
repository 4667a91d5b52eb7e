/**
 * moby's `directory.Size` (pkg/directory/directory_unix.go): the number a native-overlay layer
 * records in its layerdb `size` file.
 */
import fs from 'node:fs';
import { ApplyErrorCode, applyError, describe, goQuote } from './errors.js';

/**
 * The size of the tree at `dir` as dockerd computes it for a layer: a walk that never follows
 * symlinks, skips directories and zero-size entries, counts each inode once (keyed by inode
 * number alone, as moby does, so hardlinks count once), and sums `lstat` sizes — so a symlink
 * counts the length of its target and a sparse file its full logical size. Entries that vanish
 * during the walk are ignored; a missing `dir` is an error. A Buffer `dir` is taken as raw bytes.
 */
export async function directorySize(dir: string | Buffer): Promise<number> {
  const seen = new Set<bigint>();
  let total = 0n;
  const walk = (p: Buffer, isRoot: boolean): void => {
    let st: fs.BigIntStats | undefined;
    try {
      st = fs.lstatSync(p, { bigint: true, throwIfNoEntry: !isRoot ? false : true });
    } catch (e) {
      throw applyError(ApplyErrorCode.Io, `cannot measure ${goQuote(p)}: ${describe(e)}`, e);
    }
    if (!st) return;
    if (st.isDirectory()) {
      let names: Buffer[];
      try {
        names = fs.readdirSync(p, { encoding: 'buffer' });
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT' && !isRoot) return;
        throw applyError(ApplyErrorCode.Io, `cannot measure ${goQuote(p)}: ${describe(e)}`, e);
      }
      const prefix = p[p.length - 1] === 0x2f ? p : Buffer.concat([p, SLASH]);
      for (const n of names) walk(Buffer.concat([prefix, n]), false);
      return;
    }
    if (st.size === 0n || seen.has(st.ino)) return;
    seen.add(st.ino);
    total += st.size;
  };
  walk(Buffer.isBuffer(dir) ? dir : Buffer.from(dir), true);
  return Number(total);
}

const SLASH = Buffer.from('/');
