/**
 * Overlay: the fs/promises-like face of the engine. Paths are union paths resolved from the root
 * (a relative path is taken from the root too, `..` never leaves it); symlinks met on the way are
 * followed inside the union, as in a chroot. Every call runs the synchronous engine and settles a
 * Promise, so errors arrive as rejections with the kernel overlay's errno and the caller's path.
 */
import fs from 'node:fs';
import { OvlError } from './errors.js';
import {
  type Overlay,
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

  /** Runs `fn`, reporting failures against the caller's path (and destination). */
  private run<T>(syscall: string, path: string, fn: () => T, dest?: string): Promise<T> {
    try {
      return Promise.resolve(fn());
    } catch (e) {
      if (e instanceof OvlError) return Promise.reject(new OvlError(e.code, syscall, path, dest, { cause: e }));
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
    const fmt = this.core.getattr(node).mode & 0o170000;
    return fmt === 0o120000 ? 'symlink' : fmt === 0o040000 ? 'dir' : 'other';
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

  stat(path: string): Promise<OvlStat> {
    return this.run('stat', path, () => this.core.getattr(this.resolve(path, true)));
  }

  lstat(path: string): Promise<OvlStat> {
    return this.run('lstat', path, () => this.core.getattr(this.resolve(path, false)));
  }

  readdir(path: string): Promise<OvlDirent[]> {
    return this.run('scandir', path, () => {
      const d = this.core.opendir(this.resolve(path, true));
      try {
        return d
          .read(0)
          .map((x) => x.entry)
          .filter((e) => e.name !== '.' && e.name !== '..');
      } finally {
        d.close();
      }
    });
  }

  readFile(path: string): Promise<Buffer> {
    return this.run('open', path, () => {
      const f = this.core.open(this.resolve(path, true), O_RDONLY);
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

  writeFile(path: string, data: Buffer | string, opts?: { mode?: number }): Promise<void> {
    return this.run('open', path, () => {
      const f = this.openFile(path, O_WRONLY | O_CREAT | O_TRUNC, opts?.mode ?? 0o666, 0);
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
    if (existing !== null && this.kind(existing) === 'symlink') {
      if (flags & O_EXCL) throw new OvlError('EEXIST', 'open', path);
      if (flags & O_NOFOLLOW) throw new OvlError('ELOOP', 'open', path);
      if (depth >= MAX_SYMLINKS) throw new OvlError('ELOOP', 'open', path);
      const target = this.core.readlink(existing);
      const next = target.startsWith('/') ? target : dir.path.replace(/\/$/, '') + '/' + target;
      return this.openFile(next, flags, mode, depth + 1);
    }
    return this.core.create(dir, name, flags, mode, this.caller).file;
  }

  open(path: string, flags?: number | string, mode = 0o666): Promise<OverlayFileHandle> {
    return this.run('open', path, () => {
      const f = parseOpenFlags(flags);
      return new FileHandle(this.openFile(path, f, mode, 0), (f & O_APPEND) !== 0);
    });
  }

  truncate(path: string, size = 0): Promise<void> {
    return this.run('truncate', path, () => void this.core.setattr(this.resolve(path, true), { size }));
  }

  mkdir(path: string, mode = 0o777): Promise<void> {
    return this.run('mkdir', path, () => {
      const { dir, name } = this.parent(path);
      if (name === '.' || name === '..') throw new OvlError('EEXIST', 'mkdir', path);
      this.core.mkdir(dir, name, mode, this.caller);
    });
  }

  rmdir(path: string): Promise<void> {
    return this.run('rmdir', path, () => {
      const { dir, name } = this.parent(path);
      if (dir === this.core.root && name === '.' && components(path).length === 0) throw new OvlError('EBUSY', 'rmdir', path);
      this.core.rmdir(dir, name);
    });
  }

  unlink(path: string): Promise<void> {
    return this.run('unlink', path, () => {
      const { dir, name } = this.parent(path);
      if (name === '.' || name === '..') throw new OvlError('EISDIR', 'unlink', path);
      this.core.unlink(dir, name);
    });
  }

  rename(from: string, to: string, flags = 0): Promise<void> {
    return this.run(
      'rename',
      from,
      () => {
        const a = this.parent(from);
        const b = this.parent(to);
        this.core.rename(a.dir, a.name, b.dir, b.name, flags);
      },
      to,
    );
  }

  link(existing: string, newPath: string): Promise<void> {
    return this.run(
      'link',
      existing,
      () => {
        const node = this.resolve(existing, false);
        const { dir, name } = this.parent(newPath);
        this.core.link(node, dir, name);
      },
      newPath,
    );
  }

  symlink(target: string, path: string): Promise<void> {
    return this.run('symlink', path, () => {
      const { dir, name } = this.parent(path);
      this.core.symlink(dir, name, target, this.caller);
    });
  }

  readlink(path: string): Promise<string> {
    return this.run('readlink', path, () => this.core.readlink(this.resolve(path, false)));
  }

  mknod(path: string, mode: number, rdev = 0): Promise<void> {
    return this.run('mknod', path, () => {
      const { dir, name } = this.parent(path);
      this.core.mknod(dir, name, mode, rdev, this.caller);
    });
  }

  chmod(path: string, mode: number): Promise<void> {
    return this.run('chmod', path, () => void this.core.setattr(this.resolve(path, true), { mode }));
  }

  chown(path: string, uid: number, gid: number): Promise<void> {
    return this.run('chown', path, () => void this.core.setattr(this.resolve(path, true), { uid, gid }));
  }

  lchown(path: string, uid: number, gid: number): Promise<void> {
    return this.run('lchown', path, () => void this.core.setattr(this.resolve(path, false), { uid, gid }));
  }

  utimes(path: string, atimeNs: bigint | 'now', mtimeNs: bigint | 'now'): Promise<void> {
    return this.run('utime', path, () => void this.core.setattr(this.resolve(path, true), { atimeNs, mtimeNs }));
  }

  lutimes(path: string, atimeNs: bigint | 'now', mtimeNs: bigint | 'now'): Promise<void> {
    return this.run('lutime', path, () => void this.core.setattr(this.resolve(path, false), { atimeNs, mtimeNs }));
  }

  getxattr(path: string, name: string): Promise<Buffer> {
    return this.run('getxattr', path, () => this.core.getxattr(this.resolve(path, false), name));
  }

  setxattr(path: string, name: string, value: Buffer, flags = 0): Promise<void> {
    return this.run('setxattr', path, () => this.core.setxattr(this.resolve(path, false), name, value, flags));
  }

  listxattr(path: string): Promise<string[]> {
    return this.run('listxattr', path, () => this.core.listxattr(this.resolve(path, false)));
  }

  removexattr(path: string, name: string): Promise<void> {
    return this.run('removexattr', path, () => this.core.removexattr(this.resolve(path, false), name));
  }

  statfs(): Promise<OvlStatfs> {
    return this.run('statfs', '/', () => this.core.statfs());
  }

  close(): Promise<void> {
    return this.run('close', '/', () => this.core.close());
  }
}
