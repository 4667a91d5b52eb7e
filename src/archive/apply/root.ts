/**
 * The target directory as a chroot: every path an archive names is resolved here, inside it.
 *
 * Docker applies a layer in a process chroot'ed into the target, so whatever the archive does with
 * symlinks, the kernel can only ever reach files below the target. Node cannot chroot, so `Root`
 * does the kernel's work in user space: a parent path is walked one component at a time with
 * lstat; a symlink is read and its target walked in turn (an absolute target restarts at the
 * target directory, `..` stops at it, more than 40 links is a loop), exactly as path resolution
 * inside a chroot would. What comes out is a path made only of real directories below the root,
 * which the kernel can then walk without meeting a symlink. The final component of an entry is
 * never resolved this way: callers create it with calls that do not follow it.
 *
 * Resolved directories are remembered (a layer names the same parents over and over); anything
 * that removes a path forgets them all, since a removal is the only way a remembered directory can
 * stop being one while the archive is applied.
 */
import fs from 'node:fs';
import { ApplyErrorCode, applyError, describe, quote, ioError } from './errors.js';
import { bytesOf, byteString, joinRel } from './paths.js';

/** Linux's MAXSYMLINKS: path resolution gives ELOOP after this many links. */
const MAX_SYMLINKS = 40;

/** How missing directories met while resolving are created. */
export interface CreateDirs {
  /** Mode of each created directory (exact: the umask does not apply). */
  mode: number;
  /** Owner given to each created directory, if any. */
  owner?: { uid: number; gid: number };
}

export class Root {
  /** The target as given (for messages). */
  readonly display: string;
  /** The target's real path, as a byte string without a trailing slash. */
  readonly base: string;
  private readonly dirs = new Map<string, string>();
  /** How many times removeAll ran (a removal invalidates the size computed while applying). */
  removals = 0;

  private constructor(display: string, base: string) {
    this.display = display;
    this.base = base;
  }

  /** Opens `dir`, which must exist and be a directory (symlinks in `dir` itself are resolved once). */
  static open(dir: string): Root {
    let real: Buffer;
    try {
      real = fs.realpathSync.native(dir, { encoding: 'buffer' });
      if (!fs.statSync(real).isDirectory()) throw Object.assign(new Error('not a directory'), { code: 'ENOTDIR', errno: -20 });
    } catch (e) {
      throw applyError(ApplyErrorCode.TargetInvalid, `cannot apply into ${quote(Buffer.from(dir))}: ${describe(e)}`, e);
    }
    let base = byteString(real);
    if (base.length > 1 && base.endsWith('/')) base = base.slice(0, -1);
    return new Root(dir, base === '/' ? '' : base);
  }

  /** True when the target directory has no entries. */
  isEmpty(): boolean {
    try {
      const d = fs.opendirSync(this.abs(''));
      try {
        return d.readSync() === null;
      } finally {
        d.closeSync();
      }
    } catch {
      return false;
    }
  }

  /** The absolute path of a resolved relative path ('' is the root itself). */
  abs(rel: string): Buffer {
    return bytesOf(rel === '' ? this.base || '/' : `${this.base}/${rel}`);
  }

  /** Remembers that the literal path `literal` is the real directory `resolved`. */
  remember(literal: string, resolved: string): void {
    this.dirs.set(literal, resolved);
  }

  /** Forgets every remembered resolution (after anything was removed). */
  forget(): void {
    this.dirs.clear();
  }

  /**
   * Resolves the literal, cleaned, relative directory path `dir` ('.' for the root) inside the
   * root, following symlinks chroot-style, and returns it as a path of real directories ('' for the
   * root). Missing components of `dir` itself are created when `create` is given; a missing
   * component of a symlink's target is an error, as it is for mkdir inside a chroot (the kernel
   * will not create through a dangling link). `name` is the entry the resolution is for (messages).
   */
  resolveDir(dir: string, name: string, create?: CreateDirs): string {
    if (dir === '.' || dir === '') return '';
    const hit = this.dirs.get(dir);
    if (hit !== undefined) return hit;
    const parts = dir.split('/');
    // Start from the longest remembered prefix.
    let start = 0;
    let cur = '';
    for (let i = parts.length - 1; i > 0; i--) {
      const h = this.dirs.get(parts.slice(0, i).join('/'));
      if (h !== undefined) {
        start = i;
        cur = h;
        break;
      }
    }
    const budget = { links: MAX_SYMLINKS };
    for (let i = start; i < parts.length; i++) {
      cur = this.step(cur, parts[i]!, name, budget, create);
      this.dirs.set(parts.slice(0, i + 1).join('/'), cur);
    }
    return cur;
  }

  /** Walks one literal component from the resolved directory `cur`, expanding symlinks. */
  private step(cur: string, comp: string, name: string, budget: { links: number }, create?: CreateDirs): string {
    // A stack of components still to walk; only the first (the literal one) may be created.
    const stack: { c: string; literal: boolean }[] = [{ c: comp, literal: true }];
    while (stack.length > 0) {
      const { c, literal } = stack.pop()!;
      if (c === '' || c === '.') continue;
      if (c === '..') {
        const i = cur.lastIndexOf('/');
        cur = i < 0 ? '' : cur.slice(0, i);
        continue;
      }
      const next = joinRel(cur, c);
      const p = this.abs(next);
      let st: fs.Stats | undefined;
      try {
        st = fs.lstatSync(p, { throwIfNoEntry: false });
      } catch (e) {
        throw ioError('resolve', name, e);
      }
      if (!st) {
        if (!literal || !create) throw ioError('resolve', name, enoent());
        this.mkdir(next, name, create);
        cur = next;
        continue;
      }
      if (st.isSymbolicLink()) {
        if (--budget.links < 0) {
          throw applyError(ApplyErrorCode.SymlinkLoop, `cannot resolve ${quote(name)}: too many levels of symbolic links`);
        }
        let target: string;
        try {
          target = byteString(fs.readlinkSync(p, { encoding: 'buffer' }));
        } catch (e) {
          throw ioError('resolve', name, e);
        }
        if (target.startsWith('/')) cur = '';
        const parts = target.split('/');
        for (let i = parts.length - 1; i >= 0; i--) stack.push({ c: parts[i]!, literal: false });
        continue;
      }
      if (!st.isDirectory()) throw ioError('resolve', name, Object.assign(new Error('not a directory'), { code: 'ENOTDIR', errno: -20 }));
      cur = next;
    }
    return cur;
  }

  private mkdir(rel: string, name: string, create: CreateDirs): void {
    const p = this.abs(rel);
    try {
      fs.mkdirSync(p, create.mode);
      const st = fs.lstatSync(p);
      // Exact mode whatever the umask; a setgid bit inherited from the parent stays, as with mkdir(2).
      const want = create.mode | (st.mode & 0o2000);
      if ((st.mode & 0o7777) !== want) fs.chmodSync(p, want);
      if (create.owner) fs.lchownSync(p, create.owner.uid, create.owner.gid);
    } catch (e) {
      throw ioError('create parent directory for', name, e);
    }
  }

  /**
   * Removes the resolved path `rel` and everything below it, never following a symlink (Go's
   * os.RemoveAll). A missing path is not an error. The root itself is never removed.
   */
  removeAll(rel: string, name: string): void {
    if (rel === '') throw applyError(ApplyErrorCode.InvalidName, `refusing to remove the root directory for ${quote(name)}`);
    this.forget();
    this.removals++;
    try {
      removeTree(this.abs(rel));
    } catch (e) {
      throw ioError('remove', name, e);
    }
  }
}

function enoent(): Error {
  return Object.assign(new Error('no such file or directory'), { code: 'ENOENT', errno: -2 });
}

/** rm -rf on a byte path, not following symlinks. */
export function removeTree(p: Buffer): void {
  const st = fs.lstatSync(p, { throwIfNoEntry: false });
  if (!st) return;
  if (!st.isDirectory()) {
    fs.unlinkSync(p);
    return;
  }
  const slash = Buffer.from('/');
  for (const child of fs.readdirSync(p, { encoding: 'buffer' })) removeTree(Buffer.concat([p, slash, child]));
  fs.rmdirSync(p);
}
