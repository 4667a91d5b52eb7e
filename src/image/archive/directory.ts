/**
 * An OCI image layout directory as an archive: members are the regular files below it.
 *
 * Nothing outside the directory is ever read: a name is resolved with realpath and must land
 * inside the (resolved) root, and the file is then opened with O_NOFOLLOW. A symlink inside the
 * directory is followed only when it resolves inside it; it is not listed by names().
 */
import fs from 'node:fs';
import path from 'node:path';
import { readRange } from './io.js';
import { fileError } from '../../errors/index.js';
import { normalizeName } from './members.js';
import type { Backend } from './source.js';

/** The backend for directory `dir` (which exists and is a directory). */
export async function directoryBackend(dir: string): Promise<Backend> {
  let root: string;
  try {
    root = await fs.promises.realpath(dir);
  } catch (e) {
    throw fileError('open', dir, e);
  }
  const list = (await walk(root, '')).sort();
  const inside = root === '/' ? '/' : `${root}/`;
  return {
    kind: 'directory',
    names: () => list,
    locate(name) {
      const n = normalizeName(name);
      if (n === undefined || n === '.') return undefined;
      let real: string;
      try {
        real = fs.realpathSync(path.join(root, n));
      } catch {
        return undefined; // absent, dangling, a loop…
      }
      if (!real.startsWith(inside)) return undefined;
      const st = fs.statSync(real, { throwIfNoEntry: false });
      if (!st?.isFile()) return undefined;
      return { size: st.size, read: (signal) => readFileAt(real, st.size, name, signal) };
    },
    close: async () => {},
  };
}

async function* readFileAt(real: string, size: number, name: string, signal?: AbortSignal): AsyncGenerator<Buffer> {
  const fh = await fs.promises.open(real, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
  try {
    yield* readRange(fh, 0, size, name, signal);
  } finally {
    await fh.close();
  }
}

/** Relative paths of the regular files below `root/rel`, not following symlinks. */
async function walk(root: string, rel: string): Promise<string[]> {
  const out: string[] = [];
  const dir = rel === '' ? root : path.join(root, rel);
  let entries: fs.Dirent[];
  try {
    entries = await fs.promises.readdir(dir, { withFileTypes: true });
  } catch (e) {
    throw fileError('open', dir, e);
  }
  for (const d of entries) {
    const child = rel === '' ? d.name : `${rel}/${d.name}`;
    if (d.isFile()) out.push(child);
    else if (d.isDirectory()) out.push(...(await walk(root, child)));
  }
  return out;
}
