/**
 * Path resolution inside the union, as if the process were chroot'ed to its root: absolute symlink
 * targets start again at the union's root and `..` never leaves it. The fs executor resolves every
 * path this way before it calls the kernel with no-follow calls, so a fixture symlink such as
 * `/a/h` or `../../..` can never reach the host's files, and both kinds of executors (a mount and
 * strata's path API, which promises the same chroot rule) follow symlinks identically.
 */

/** What resolution needs to know about one existing name. */
export type NameKind = { type: 'dir' } | { type: 'symlink'; target: string } | { type: 'other' };

/** Looks up the union path given as components; returns null when the name does not exist. May throw errno errors. */
export type KindOf = (parts: readonly string[]) => NameKind | null;

/** An errno outcome of resolution, shaped like Node's errors (`code`). */
export class ResolveError extends Error {
  constructor(readonly code: 'ENOENT' | 'ENOTDIR' | 'ELOOP', upath: string) {
    super(`${code}: resolving '${upath}'`);
  }
}

const MAX_SYMLINKS = 40;

export function splitPath(p: string): string[] {
  return p.split('/').filter((c) => c !== '' && c !== '.');
}

/**
 * The components of the object `upath` names. Intermediate symlinks are always followed, the last
 * one only with `followLast`; a missing last component is fine (it may be about to be created).
 */
export function resolveUnionPath(kindOf: KindOf, upath: string, followLast: boolean): string[] {
  const cur: string[] = [];
  let queue = splitPath(upath);
  let hops = 0;
  while (queue.length > 0) {
    const name = queue[0]!;
    queue = queue.slice(1);
    if (name === '..') {
      cur.pop();
      continue;
    }
    const last = queue.length === 0;
    if (last && !followLast) {
      cur.push(name);
      break;
    }
    const kind = kindOf([...cur, name]);
    if (kind === null) {
      if (last) {
        cur.push(name);
        break;
      }
      throw new ResolveError('ENOENT', upath);
    }
    if (kind.type === 'symlink') {
      if (++hops > MAX_SYMLINKS) throw new ResolveError('ELOOP', upath);
      if (kind.target === '') throw new ResolveError('ENOENT', upath);
      if (kind.target.startsWith('/')) cur.length = 0;
      queue = [...splitPath(kind.target), ...queue];
      // A target ending in '/' or '.' must name a directory; the following lookups check it.
      continue;
    }
    if (!last && kind.type !== 'dir') throw new ResolveError('ENOTDIR', upath);
    cur.push(name);
  }
  return cur;
}
