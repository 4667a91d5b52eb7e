/**
 * Overlay: the fs/promises-like face of the engine. Paths are union paths resolved from the root
 * (a relative path is taken from the root too, `..` never leaves it); symlinks met on the way are
 * followed inside the union, as in a chroot. Every call runs the synchronous engine and settles a
 * Promise, so errors arrive as rejections with the kernel overlay's errno and the caller's path.
 * Paths come in as text (UTF-8) or bytes and go to the engine as byte strings (realfs.ts).
 */
import fs from 'node:fs';
import { OvlError } from './errors.js';
import { S_IFDIR, S_IFIFO, S_IFLNK, S_IFMT, S_IFREG, S_ISVTX, byteString, textOf } from './realfs.js';
import {
  type Overlay,
  type OvlBufferDirent,
  type OvlPathLike,
  type OverlayCore,
  type OverlayFileHandle,
  type OvlCaller,
  type OvlDirent,
  type OvlFile,
  type OvlNode,
  type OvlStat,
  type OvlStatfs,
} from './types.js';

const { O_RDONLY, O_WRONLY, O_RDWR, O_CREAT, O_EXCL, O_TRUNC, O_APPEND, O_SYNC, O_NOFOLLOW, O_DIRECTORY } = fs.constants;
const MAX_SYMLINKS = 40;

const protectedLevels = new Map<string, number>();

/** This host's `fs.protected_<what>` sysctl (read once; 0 when it cannot be read). */
function protectedLevel(what: 'regular' | 'fifos' | 'symlinks'): number {
  let v = protectedLevels.get(what);
  if (v === undefined) {
    try {
      v = Number(fs.readFileSync(`/proc/sys/fs/protected_${what}`, 'utf8').trim()) || 0;
    } catch {
      v = 0;
    }
    protectedLevels.set(what, v);
  }
  return v;
}

/** fs.open's string flags as numbers. */
export function parseOpenFlags(flags: number | string | undefined): number {
  if (flags === undefined) return O_RDONLY;
  if (typeof flags === 'number') return flags;
  const table: Record<string, number> = {
    r: O_RDONLY,
    rs: O_RDONLY | O_SYNC,
    sr: O_RDONLY | O_SYNC,
    'r+': O_RDWR,
    'rs+': O_RDWR | O_SYNC,
    'sr+': O_RDWR | O_SYNC,
    w: O_TRUNC | O_CREAT | O_WRONLY,
    wx: O_TRUNC | O_CREAT | O_WRONLY | O_EXCL,
    xw: O_TRUNC | O_CREAT | O_WRONLY | O_EXCL,
    'w+': O_TRUNC | O_CREAT | O_RDWR,
    'wx+': O_TRUNC | O_CREAT | O_RDWR | O_EXCL,
    'xw+': O_TRUNC | O_CREAT | O_RDWR | O_EXCL,
    a: O_APPEND | O_CREAT | O_WRONLY,
    ax: O_APPEND | O_CREAT | O_WRONLY | O_EXCL,
    xa: O_APPEND | O_CREAT | O_WRONLY | O_EXCL,
    as: O_APPEND | O_CREAT | O_WRONLY | O_SYNC,
    sa: O_APPEND | O_CREAT | O_WRONLY | O_SYNC,
    'a+': O_APPEND | O_CREAT | O_RDWR,
    'ax+': O_APPEND | O_CREAT | O_RDWR | O_EXCL,
    'xa+': O_APPEND | O_CREAT | O_RDWR | O_EXCL,
    'as+': O_APPEND | O_CREAT | O_RDWR | O_SYNC,
    'sa+': O_APPEND | O_CREAT | O_RDWR | O_SYNC,
  };
  const n = table[flags];
  if (n === undefined) throw new OvlError('EINVAL', 'open', flags);
  return n;
}

/** Splits a union path into its components ('' and '.' dropped later by the walker). */
function components(p: string): string[] {
  return p.split('/').filter((c) => c !== '' && c !== '.');
}

class FileHandle implements OverlayFileHandle {
  private pos = 0;

  constructor(
    private readonly file: OvlFile,
    private readonly append: boolean,
  ) {}

  async read(buf: Buffer, offset = 0, length = buf.length - offset, position: number | null = null): Promise<{ bytesRead: number }> {
    const at = position ?? this.pos;
    const n = this.file.read(buf, offset, length, at);
    if (position === null) this.pos += n;
    return { bytesRead: n };
  }

  async write(buf: Buffer, offset = 0, length = buf.length - offset, position: number | null = null): Promise<{ bytesWritten: number }> {
    let n: number;
    if (this.append) {
      // O_APPEND writes at the end even when given a position; only a write(2) that wrote
      // something moves the offset (vfs_write keeps it for a 0-byte write)
      n = this.file.append(buf, offset, length);
      if (position === null && n > 0) this.pos = this.file.stat().size;
    } else {
      const at = position ?? this.pos;
      n = this.file.write(buf, offset, length, at);
      if (position === null) this.pos += n;
    }
    return { bytesWritten: n };
  }

  async truncate(size = 0): Promise<void> {
    this.file.truncate(size);
  }

  async sync(): Promise<void> {
    this.file.fsync(false);
  }

  async stat(): Promise<OvlStat> {
    return this.file.stat();
  }

  async close(): Promise<void> {
    this.file.close();
  }
}

export class PathOverlay implements Overlay {
  private readonly caller: OvlCaller;

  constructor(
    readonly core: OverlayCore,
    caller?: OvlCaller,
  ) {
    this.caller = caller ?? { uid: process.geteuid!(), gid: process.getegid!(), umask: 0 };
  }

  /**
   * Runs `fn` on the byte strings of `path` (and `dest`), reporting failures against them: the
   * caller's paths, not wherever a symlink led.
   */
  private run<T>(syscall: string, path: OvlPathLike, fn: (p: string, d: string) => T, dest?: OvlPathLike): Promise<T> {
    const p = byteString(path);
    const d = dest === undefined ? undefined : byteString(dest);
    try {
      return Promise.resolve(fn(p, d ?? ''));
    } catch (e) {
      if (e instanceof OvlError) return Promise.reject(new OvlError(e.code, syscall, p, d, { cause: e }));
      return Promise.reject(e);
    }
  }

  /** Resolves `path` to a node, following symlinks on the way (and the last one when `follow`). */
  private resolve(path: string, follow: boolean): OvlNode {
    let todo = components(path);
    let cur = this.core.root;
    let links = 0;
    const mustBeDir = path.endsWith('/');
    while (todo.length > 0) {
      const c = todo.shift()!;
      if (c === '..') {
        cur = this.core.lookup(cur, '..');
        continue;
      }
      const next = this.core.lookup(cur, c);
      const last = todo.length === 0;
      if ((!last || follow || mustBeDir) && this.kind(next) === 'symlink') {
        if (++links > MAX_SYMLINKS) throw new OvlError('ELOOP', 'lookup', path);
        this.mayFollow(cur, next, path);
        const target = this.core.readlink(next);
        if (target.startsWith('/')) cur = this.core.root;
        todo = components(target).concat(todo);
        continue;
      }
      cur = next;
    }
    if (mustBeDir && this.kind(cur) !== 'dir') throw new OvlError('ENOTDIR', 'lookup', path);
    return cur;
  }

  /** The node's file type: the engine's entries carry it; any other core is asked through getattr. */
  private kind(node: OvlNode): string {
    const k = (node as { kind?: unknown }).kind;
    if (typeof k === 'string') return k;
    const fmt = this.core.getattr(node).mode & S_IFMT;
    return fmt === S_IFLNK ? 'symlink' : fmt === S_IFDIR ? 'dir' : 'other';
  }

  /** The directory holding the last component of `path`, and that name. */
  private parent(path: string): { dir: OvlNode; name: string } {
    const comps = components(path);
    const name = comps.pop();
    if (name === undefined) return { dir: this.core.root, name: '.' };
    const dir = this.resolve('/' + comps.join('/'), true);
    // the kernel's parent walk fails on a non-directory before the last name is looked at
    if (this.kind(dir) !== 'dir') throw new OvlError('ENOTDIR', 'lookup', path);
    return { dir, name };
  }

  stat(path: OvlPathLike): Promise<OvlStat> {
    return this.run('stat', path, (p) => this.core.getattr(this.resolve(p, true)));
  }

  lstat(path: OvlPathLike): Promise<OvlStat> {
    return this.run('lstat', path, (p) => this.core.getattr(this.resolve(p, false)));
  }

  readdir(path: OvlPathLike): Promise<OvlDirent[]>;
  readdir(path: OvlPathLike, options: { encoding: 'buffer' }): Promise<OvlBufferDirent[]>;
  readdir(path: OvlPathLike, options?: { encoding: 'buffer' }): Promise<OvlDirent[] | OvlBufferDirent[]> {
    return this.run('scandir', path, (p) => {
      const d = this.core.opendir(this.resolve(p, true));
      try {
        const entries = d
          .read(0)
          .map((x) => x.entry)
          .filter((e) => e.name !== '.' && e.name !== '..');
        if (options?.encoding === 'buffer') return entries.map((e) => ({ ...e, name: Buffer.from(e.name, 'latin1') }));
        return entries.map((e) => ({ ...e, name: textOf(e.name) }));
      } finally {
        d.close();
      }
    });
  }

  readFile(path: OvlPathLike): Promise<Buffer> {
    return this.run('open', path, (p) => {
      const f = this.core.open(this.resolve(p, true), O_RDONLY);
      try {
        const chunks: Buffer[] = [];
        let pos = 0;
        for (;;) {
          const buf = Buffer.allocUnsafe(pos === 0 ? 64 * 1024 : 1024 * 1024);
          const n = f.read(buf, 0, buf.length, pos);
          if (n === 0) break;
          chunks.push(n === buf.length ? buf : buf.subarray(0, n));
          pos += n;
        }
        return Buffer.concat(chunks, pos);
      } finally {
        f.close();
      }
    });
  }

  writeFile(path: OvlPathLike, data: Buffer | string, opts?: { mode?: number }): Promise<void> {
    return this.run('open', path, (p) => {
      const f = this.openFile(p, O_WRONLY | O_CREAT | O_TRUNC, opts?.mode ?? 0o666, 0);
      try {
        const buf = typeof data === 'string' ? Buffer.from(data) : data;
        for (let done = 0; done < buf.length; ) done += f.write(buf, done, buf.length - done, done);
      } finally {
        f.close();
      }
    });
  }

  /** open(2) on a union path: O_CREAT creates at the end of a final symlink, as the kernel does. */
  private openFile(path: string, flags: number, mode: number, depth: number): OvlFile {
    if (flags & O_CREAT && flags & O_DIRECTORY) throw new OvlError('EINVAL', 'open', path);
    if (!(flags & O_CREAT)) return this.core.open(this.resolve(path, !(flags & O_NOFOLLOW)), flags);
    const { dir, name } = this.parent(path);
    let existing: OvlNode | null = null;
    try {
      existing = this.core.lookup(dir, name);
    } catch (e) {
      if (!(e instanceof OvlError) || e.code !== 'ENOENT') throw e;
    }
    if (existing === null) return this.core.create(dir, name, flags, mode, this.caller).file;
    const kind = this.kind(existing);
    // O_EXCL implies O_NOFOLLOW; a followed symlink creates at its target
    if (kind === 'symlink' && !(flags & (O_EXCL | O_NOFOLLOW))) {
      if (depth >= MAX_SYMLINKS) throw new OvlError('ELOOP', 'open', path);
      this.mayFollow(dir, existing, path);
      const target = this.core.readlink(existing);
      const next = target.startsWith('/') ? target : dir.path.replace(/\/$/, '') + '/' + target;
      return this.openFile(next, flags, mode, depth + 1);
    }
    // do_open's order: EEXIST, EISDIR, the sticky-directory rule, then may_open (ELOOP on a symlink)
    if (flags & O_EXCL) throw new OvlError('EEXIST', 'open', path);
    if (kind === 'dir') throw new OvlError('EISDIR', 'open', path);
    this.mayCreateInSticky(dir, existing, path);
    return this.core.open(existing, flags & ~O_CREAT);
  }

  /**
   * The VFS's may_create_in_sticky, which binds root too: O_CREAT on an existing object in a sticky
   * directory, owned neither by the caller nor by the directory's owner, is EACCES when the
   * directory is world-writable (group-writable too at level 2) — for regular files and FIFOs
   * only as `fs.protected_regular`/`fs.protected_fifos` say, for every other type always.
   */
  private mayCreateInSticky(dir: OvlNode, node: OvlNode, path: string): void {
    const d = this.core.getattr(dir);
    if (!(d.mode & S_ISVTX)) return;
    const st = this.core.getattr(node);
    const fmt = st.mode & S_IFMT;
    const level = fmt === S_IFREG ? protectedLevel('regular') : fmt === S_IFIFO ? protectedLevel('fifos') : undefined;
    if (level === 0) return;
    if (st.uid === d.uid || st.uid === this.caller.uid) return;
    if (d.mode & 0o002 || (d.mode & 0o020 && level !== undefined && level >= 2)) throw new OvlError('EACCES', 'open', path);
  }

  /**
   * The VFS's may_follow_link (`fs.protected_symlinks`, root included): a symlink in a sticky
   * world-writable directory is followed only by its owner or when the directory's owner owns it.
   */
  private mayFollow(dir: OvlNode, link: OvlNode, path: string): void {
    if (protectedLevel('symlinks') === 0) return;
    const st = this.core.getattr(link);
    if (st.uid === this.caller.uid) return;
    const d = this.core.getattr(dir);
    if ((d.mode & (S_ISVTX | 0o002)) !== (S_ISVTX | 0o002) || d.uid === st.uid) return;
    throw new OvlError('EACCES', 'open', path);
  }

  open(path: OvlPathLike, flags?: number | string, mode = 0o666): Promise<OverlayFileHandle> {
    return this.run('open', path, (p) => {
      const f = parseOpenFlags(flags);
      return new FileHandle(this.openFile(p, f, mode, 0), (f & O_APPEND) !== 0);
    });
  }

  truncate(path: OvlPathLike, size = 0): Promise<void> {
    return this.run('truncate', path, (p) => void this.core.setattr(this.resolve(p, true), { size }));
  }

  mkdir(path: OvlPathLike, mode = 0o777): Promise<void> {
    return this.run('mkdir', path, (p) => {
      const { dir, name } = this.parent(p);
      if (name === '.' || name === '..') throw new OvlError('EEXIST', 'mkdir', p);
      this.core.mkdir(dir, name, mode, this.caller);
    });
  }

  rmdir(path: OvlPathLike): Promise<void> {
    return this.run('rmdir', path, (p) => {
      const { dir, name } = this.parent(p);
      if (dir === this.core.root && name === '.' && components(p).length === 0) throw new OvlError('EBUSY', 'rmdir', p);
      this.core.rmdir(dir, name);
    });
  }

  unlink(path: OvlPathLike): Promise<void> {
    return this.run('unlink', path, (p) => {
      const { dir, name } = this.parent(p);
      if (name === '.' || name === '..') throw new OvlError('EISDIR', 'unlink', p);
      this.core.unlink(dir, name);
    });
  }

  rename(from: OvlPathLike, to: OvlPathLike, flags = 0): Promise<void> {
    return this.run(
      'rename',
      from,
      (f, t) => {
        const a = this.parent(f);
        const b = this.parent(t);
        this.core.rename(a.dir, a.name, b.dir, b.name, flags);
      },
      to,
    );
  }

  link(existing: OvlPathLike, newPath: OvlPathLike): Promise<void> {
    return this.run(
      'link',
      existing,
      (e, n) => {
        const node = this.resolve(e, false);
        const { dir, name } = this.parent(n);
        this.core.link(node, dir, name);
      },
      newPath,
    );
  }

  symlink(target: OvlPathLike, path: OvlPathLike): Promise<void> {
    return this.run('symlink', path, (p) => {
      const { dir, name } = this.parent(p);
      this.core.symlink(dir, name, byteString(target), this.caller);
    });
  }

  readlink(path: OvlPathLike): Promise<string>;
  readlink(path: OvlPathLike, options: { encoding: 'buffer' }): Promise<Buffer>;
  readlink(path: OvlPathLike, options?: { encoding: 'buffer' }): Promise<string | Buffer> {
    return this.run('readlink', path, (p) => {
      const target = this.core.readlink(this.resolve(p, false));
      return options?.encoding === 'buffer' ? Buffer.from(target, 'latin1') : textOf(target);
    });
  }

  mknod(path: OvlPathLike, mode: number, rdev = 0): Promise<void> {
    return this.run('mknod', path, (p) => {
      const { dir, name } = this.parent(p);
      this.core.mknod(dir, name, mode, rdev, this.caller);
    });
  }

  chmod(path: OvlPathLike, mode: number): Promise<void> {
    return this.run('chmod', path, (p) => void this.core.setattr(this.resolve(p, true), { mode }));
  }

  chown(path: OvlPathLike, uid: number, gid: number): Promise<void> {
    return this.run('chown', path, (p) => void this.core.setattr(this.resolve(p, true), { uid, gid }));
  }

  lchown(path: OvlPathLike, uid: number, gid: number): Promise<void> {
    return this.run('lchown', path, (p) => void this.core.setattr(this.resolve(p, false), { uid, gid }));
  }

  utimes(path: OvlPathLike, atimeNs: bigint | 'now', mtimeNs: bigint | 'now'): Promise<void> {
    return this.run('utime', path, (p) => void this.core.setattr(this.resolve(p, true), { atimeNs, mtimeNs }));
  }

  lutimes(path: OvlPathLike, atimeNs: bigint | 'now', mtimeNs: bigint | 'now'): Promise<void> {
    return this.run('lutime', path, (p) => void this.core.setattr(this.resolve(p, false), { atimeNs, mtimeNs }));
  }

  getxattr(path: OvlPathLike, name: string): Promise<Buffer> {
    return this.run('getxattr', path, (p) => this.core.getxattr(this.resolve(p, false), name));
  }

  setxattr(path: OvlPathLike, name: string, value: Buffer, flags = 0): Promise<void> {
    return this.run('setxattr', path, (p) => this.core.setxattr(this.resolve(p, false), name, value, flags));
  }

  listxattr(path: OvlPathLike): Promise<string[]> {
    return this.run('listxattr', path, (p) => this.core.listxattr(this.resolve(p, false)));
  }

  removexattr(path: OvlPathLike, name: string): Promise<void> {
    return this.run('removexattr', path, (p) => this.core.removexattr(this.resolve(p, false), name));
  }

  statfs(): Promise<OvlStatfs> {
    return this.run('statfs', '/', () => this.core.statfs());
  }

  syncfs(): Promise<void> {
    return this.run('syncfs', '/', () => this.core.syncfs());
  }

  close(): Promise<void> {
    return this.run('close', '/', () => this.core.close());
  }
}
