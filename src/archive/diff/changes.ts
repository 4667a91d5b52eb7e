/**
 * Changes between two directory trees: moby's `ChangesDirs` (changes_linux.go), `ChangesSize`
 * and the `docker diff` formatting.
 *
 * Both trees are walked in parallel. A name present in both with the same device and inode
 * number is pruned (it is the very same file or subtree). For every other node:
 *   - present only in the new tree: Add, and every descendant is an Add too;
 *   - present only in the old tree: Delete, for the top path only;
 *   - present in both: Modify when the lstat results differ (statDifferent) or the
 *     `security.capability` values differ;
 *   - a directory that is not itself changed but has changes below it gets a Modify as well.
 * statDifferent compares mode, uid, gid and rdev; and, unless the *old* entry's mode has all
 * the S_IFDIR bits (directories, but also block devices and sockets), the size and the mtime,
 * where two mtimes are "the same" if equal, or equal in whole seconds with one of them having
 * no nanoseconds (a tar round trip loses them).
 */
import fs from 'node:fs';
import { StrataError } from '../../errors/index.js';
import { S_IFDIR } from '../../sys/index.js';
import { vanished } from './appender.js';
import { readCapability } from './xattr.js';

/** One change: `C` Modify, `A` Add, `D` Delete, with an absolute path (`/etc/hosts`). */
export interface Change {
  /** Path from the tree's root, starting with `/`; a UTF-8 view when the name is not UTF-8. */
  path: string;
  kind: 'C' | 'A' | 'D';
  /** The path's raw bytes, when they differ from `Buffer.from(path)` or when set by changes(). */
  pathBytes?: Buffer;
}

/** The raw bytes of a change's path. */
export function changePathBytes(c: Change): Buffer {
  return c.pathBytes ?? Buffer.from(c.path);
}

/** `docker diff`'s line for a change: `C /bin`. */
export function formatChange(c: Change): string {
  return `${c.kind} ${c.path}`;
}

/** Sorts changes by the byte order of their paths (Go's string order), in place. */
export function sortChanges(changes: Change[]): Change[] {
  const keyed = changes.map((c) => [changePathBytes(c), c] as const);
  keyed.sort((a, b) => Buffer.compare(a[0], b[0]));
  for (let i = 0; i < keyed.length; i++) changes[i] = keyed[i]![1];
  return changes;
}

interface Node {
  name: Buffer;
  parent?: Node;
  children: Map<string, Node>;
  st?: fs.BigIntStats;
  capability: Buffer | null;
  added: boolean;
}

const SLASH = Buffer.from('/');
const DOT = Buffer.from('/.');
const key = (b: Buffer): string => b.toString('latin1');

function newRoot(): Node {
  return { name: SLASH, children: new Map(), capability: null, added: false };
}

function nodePath(n: Node): Buffer {
  const parts: Buffer[] = [];
  for (let x: Node | undefined = n; x && x.parent; x = x.parent) parts.push(x.name);
  if (parts.length === 0) return SLASH;
  const out: Buffer[] = [];
  for (let i = parts.length - 1; i >= 0; i--) out.push(SLASH, parts[i]!);
  return Buffer.concat(out);
}

/** FileInfo.isDir: the root, or a mode with the S_IFDIR bit. */
function isDir(n: Node): boolean {
  return n.parent === undefined || (Number(n.st!.mode) & S_IFDIR) !== 0;
}

function lstatOrNull(p: Buffer): fs.BigIntStats | null {
  try {
    return fs.lstatSync(p, { bigint: true });
  } catch (e) {
    if (vanished(e)) return null;
    throw e;
  }
}

function readNames(dir: Buffer): Buffer[] {
  return fs.readdirSync(dir, { encoding: 'buffer' }).sort(Buffer.compare);
}

class Walker {
  readonly root1 = newRoot();
  readonly root2 = newRoot();
  constructor(
    private readonly dir1: Buffer,
    private readonly dir2: Buffer,
  ) {}

  private register(parent: Node | undefined, name: Buffer, st: fs.BigIntStats | null, path: Buffer): Node | undefined {
    if (!st || !parent) return undefined;
    const n: Node = { name, parent, children: new Map(), st, capability: readCapability(path), added: false };
    parent.children.set(key(name), n);
    return n;
  }

  /** Walks the pair (n1, n2) at relative path `rel` (empty for the roots). */
  walk(rel: Buffer, st1: fs.BigIntStats | null, st2: fs.BigIntStats | null, n1: Node | undefined, n2: Node | undefined): void {
    const is1Dir = st1 !== null && st1.isDirectory();
    const is2Dir = st2 !== null && st2.isDirectory();
    if (!is1Dir && !is2Dir) return;
    const sameDevice = st1 !== null && st2 !== null && st1.dev === st2.dev;
    const p1 = Buffer.concat([this.dir1, rel]);
    const p2 = Buffer.concat([this.dir2, rel]);
    const names1 = is1Dir ? readNames(p1) : [];
    const names2 = is2Dir ? readNames(p2) : [];

    // Merge the two sorted lists; lstat each name on each side that is a directory.
    let i = 0;
    let j = 0;
    while (i < names1.length || j < names2.length) {
      let name: Buffer;
      const c = i >= names1.length ? 1 : j >= names2.length ? -1 : Buffer.compare(names1[i]!, names2[j]!);
      if (c < 0) name = names1[i++]!;
      else if (c > 0) name = names2[j++]!;
      else {
        name = names1[i++]!;
        j++;
      }
      const childRel = Buffer.concat([rel, SLASH, name]);
      const c1 = is1Dir ? lstatOrNull(Buffer.concat([p1, SLASH, name])) : null;
      const c2 = is2Dir ? lstatOrNull(Buffer.concat([p2, SLASH, name])) : null;
      // moby prunes on equal getdents inode numbers within directories on the same device.
      if (c === 0 && sameDevice && c1 && c2 && c1.ino === c2.ino) continue;
      const k1 = c1 ? this.register(n1, name, c1, Buffer.concat([p1, SLASH, name])) : undefined;
      const k2 = c2 ? this.register(n2, name, c2, Buffer.concat([p2, SLASH, name])) : undefined;
      this.walk(childRel, c1, c2, k1, k2);
    }
  }
}

function sameTime(a: bigint, b: bigint): boolean {
  if (a === b) return true;
  const sa = a / 1_000_000_000n - (a < 0n && a % 1_000_000_000n !== 0n ? 1n : 0n);
  const sb = b / 1_000_000_000n - (b < 0n && b % 1_000_000_000n !== 0n ? 1n : 0n);
  const na = a - sa * 1_000_000_000n;
  const nb = b - sb * 1_000_000_000n;
  return sa === sb && (na === 0n || nb === 0n);
}

function statDifferent(o: fs.BigIntStats, n: fs.BigIntStats): boolean {
  if (o.mode !== n.mode || o.uid !== n.uid || o.gid !== n.gid || o.rdev !== n.rdev) return true;
  if ((Number(o.mode) & S_IFDIR) !== S_IFDIR) return !sameTime(o.mtimeNs, n.mtimeNs) || o.size !== n.size;
  return false;
}

function capEqual(a: Buffer | null, b: Buffer | null): boolean {
  // Go's bytes.Equal: nil equals empty.
  return Buffer.compare(a ?? Buffer.alloc(0), b ?? Buffer.alloc(0)) === 0;
}

function addChanges(info: Node, old: Node | undefined, out: Change[]): void {
  const sizeAtEntry = out.length;
  const push = (n: Node, kind: Change['kind']): Change => {
    const b = nodePath(n);
    return { path: b.toString('utf8'), kind, pathBytes: b };
  };
  if (!old) {
    out.push(push(info, 'A'));
    info.added = true;
  }
  const oldChildren = new Map<string, Node>(old && isDir(info) ? old.children : []);
  for (const [k, child] of info.children) {
    const oldChild = oldChildren.get(k);
    if (oldChild) {
      if (statDifferent(oldChild.st!, child.st!) || !capEqual(oldChild.capability, child.capability)) {
        out.push(push(child, 'C'));
        child.added = true;
      }
      oldChildren.delete(k);
    }
    addChanges(child, oldChild, out);
  }
  for (const oldChild of oldChildren.values()) out.push(push(oldChild, 'D'));
  if (out.length > sizeAtEntry && isDir(info) && !info.added && info.parent !== undefined) {
    out.splice(sizeAtEntry, 0, push(info, 'C'));
  }
}

/**
 * The changes that turn `oldDir` into `newDir` (moby's ChangesDirs), sorted by path bytes.
 * Without `oldDir`, everything in `newDir` is an Add.
 */
export async function changes(newDir: string | Buffer, oldDir?: string | Buffer): Promise<Change[]> {
  return changesSync(newDir, oldDir);
}

/** Synchronous changes(). */
export function changesSync(newDir: string | Buffer, oldDir?: string | Buffer): Change[] {
  const buf = (d: string | Buffer): Buffer => (typeof d === 'string' ? Buffer.from(d) : d);
  const d2 = buf(newDir);
  const d1 = oldDir === undefined ? undefined : buf(oldDir);
  const w = new Walker(d1 ?? Buffer.alloc(0), d2);
  const rootStat = (d: Buffer): fs.BigIntStats => {
    try {
      return fs.lstatSync(Buffer.concat([d, DOT]), { bigint: true });
    } catch (e) {
      throw new StrataError('DIFF_NO_SUCH_DIR', `cannot compare ${d.toString()}: ${(e as Error).message}`, { cause: e });
    }
  };
  const st2 = rootStat(d2);
  // An absent old tree is an empty directory (moby makes a temp dir): nothing to read there.
  const st1 = d1 === undefined ? null : rootStat(d1);
  w.walk(Buffer.alloc(0), st1, st2, w.root1, w.root2);
  const out: Change[] = [];
  addChanges(w.root2, w.root1, out);
  return sortChanges(out);
}

/**
 * moby's ChangesSize: the lstat sizes of the Add and Modify entries that are not directories,
 * counting an inode with several links once. (Symlinks count their target's length.)
 */
export function changesSize(dir: string | Buffer, list: readonly Change[]): number {
  const root = typeof dir === 'string' ? Buffer.from(dir) : dir;
  const seen = new Set<bigint>();
  let size = 0;
  for (const c of list) {
    if (c.kind !== 'A' && c.kind !== 'C') continue;
    const st = lstatOrNull(Buffer.concat([root, changePathBytes(c)]));
    if (!st || st.isDirectory()) continue;
    if (st.nlink > 1n) {
      if (seen.has(st.ino)) continue;
      seen.add(st.ino);
    }
    size += Number(st.size);
  }
  return size;
}
