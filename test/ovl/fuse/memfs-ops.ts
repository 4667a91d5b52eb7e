/**
 * A small in-memory filesystem behind the `FuseOps` contract, to test the FUSE session and protocol
 * on their own (without the overlay engine). Node IDs are inode numbers; an inode lives while it has
 * a name, a lookup the kernel has not forgotten, or an open handle — so the kernel's FORGETs are
 * observable: statfs reports `ffree = files - live inodes`, and the virtual xattr
 * `user.memfs.lookups` on the root returns the sum of all outstanding lookup counts. Likewise
 * `user.memfs.maxread` / `user.memfs.maxwrite` give the largest READ / WRITE request seen, and
 * `user.memfs.lookupcalls` how many LOOKUPs (READDIRPLUS entries included) arrived.
 *
 * Loaded in the FUSE worker thread through `createMemFs` (see serveInWorker's `ops`).
 */
import os from 'node:os';
import type { FuseAttr, FuseContext, FuseDirent, FuseEntry, FuseOps, FuseOpened, FuseSetattr, FuseStatfs } from '../../../src/ovl/fuse/ops.js';
import { S_IFDIR, S_IFLNK, S_IFMT, S_IFREG, kindOfMode } from '../../../src/ovl/realfs.js';

const XATTR_CREATE = 1;
const XATTR_REPLACE = 2;
const RENAME_NOREPLACE = 1;
const RENAME_EXCHANGE = 2;
const O_ACCMODE = 3;
const O_TRUNC = 0o1000;
const O_APPEND = 0o2000;

/** statfs totals of the test filesystem (asserted by the tests). */
export const MEMFS_TOTAL_FILES = 1_000_000;
export const MEMFS_STATFS = { blocks: 262144, bfree: 131072, bavail: 65536, bsize: 4096, frsize: 4096, namelen: 255 };

interface Inode {
  ino: number;
  mode: number;
  uid: number;
  gid: number;
  rdev: number;
  nlink: number;
  atimeNs: bigint;
  mtimeNs: bigint;
  ctimeNs: bigint;
  data: Buffer;
  size: number;
  target: string;
  children: Map<string, number> | null;
  parent: number;
  xattrs: Map<string, Buffer>;
  lookups: number;
  opens: number;
}

function fail(code: string): never {
  throw Object.assign(new Error(`memfs: ${code}`), { code });
}

function nowNs(): bigint {
  return BigInt(Date.now()) * 1_000_000n;
}

class MemFs implements FuseOps {
  private readonly inodes = new Map<number, Inode>();
  private nextIno = 1;
  private nextFh = 1;
  private readonly files = new Map<number, { ino: number; flags: number }>();
  private readonly dirs = new Map<number, FuseDirent[]>();
  private maxRead = 0;
  private maxWrite = 0;
  private lookupCalls = 0;

  constructor() {
    const root = this.newInode(S_IFDIR | 0o755, { uid: 0, gid: 0, pid: 0 }, 0); // ino 1: FUSE_ROOT_ID
    root.parent = 1;
    root.nlink = 2;
  }

  private newInode(mode: number, ctx: FuseContext, rdev: number): Inode {
    const t = nowNs();
    const inode: Inode = {
      ino: this.nextIno++,
      mode,
      uid: ctx.uid,
      gid: ctx.gid,
      rdev,
      nlink: 1,
      atimeNs: t,
      mtimeNs: t,
      ctimeNs: t,
      data: Buffer.alloc(0),
      size: 0,
      target: '',
      children: (mode & S_IFMT) === S_IFDIR ? new Map() : null,
      parent: 0,
      xattrs: new Map(),
      lookups: 0,
      opens: 0,
    };
    this.inodes.set(inode.ino, inode);
    return inode;
  }

  private get(ino: number): Inode {
    return this.inodes.get(ino) ?? fail('ESTALE');
  }

  private dir(ino: number): Inode & { children: Map<string, number> } {
    const d = this.get(ino);
    if (!d.children) fail('ENOTDIR');
    return d as Inode & { children: Map<string, number> };
  }

  private attr(i: Inode): FuseAttr {
    return {
      ino: BigInt(i.ino),
      size: i.children ? 4096 : (i.mode & S_IFMT) === S_IFLNK ? Buffer.byteLength(i.target) : i.size,
      blocks: Math.ceil(i.size / 512),
      atimeNs: i.atimeNs,
      mtimeNs: i.mtimeNs,
      ctimeNs: i.ctimeNs,
      mode: i.mode,
      nlink: i.nlink,
      uid: i.uid,
      gid: i.gid,
      rdev: i.rdev,
      blksize: 4096,
    };
  }

  private entry(i: Inode): FuseEntry {
    i.lookups++;
    return { nodeid: i.ino, attr: this.attr(i) };
  }

  /** Drops an inode nobody can reach any more. */
  private maybeFree(i: Inode): void {
    if (i.ino !== 1 && i.nlink === 0 && i.lookups === 0 && i.opens === 0) this.inodes.delete(i.ino);
  }

  private touch(i: Inode): void {
    i.mtimeNs = i.ctimeNs = nowNs();
  }

  private addChild(parent: number, name: string, mode: number, ctx: FuseContext, rdev = 0): Inode {
    const d = this.dir(parent);
    if (d.children.has(name)) fail('EEXIST');
    if (Buffer.byteLength(name) > 255) fail('ENAMETOOLONG');
    const i = this.newInode(mode, ctx, rdev);
    i.parent = parent;
    if (i.children) {
      i.nlink = 2;
      d.nlink++;
    }
    d.children.set(name, i.ino);
    this.touch(d);
    return i;
  }

  private detach(parent: Inode & { children: Map<string, number> }, name: string): void {
    const i = this.get(parent.children.get(name) ?? fail('ENOENT'));
    parent.children.delete(name);
    if (i.children) {
      i.nlink = 0;
      parent.nlink--;
    } else i.nlink--;
    i.ctimeNs = nowNs();
    this.touch(parent);
    this.maybeFree(i);
  }

  private setSize(i: Inode, size: number): void {
    if (size > i.data.length) {
      const grown = Buffer.alloc(Math.max(size, i.data.length * 2));
      i.data.copy(grown, 0, 0, i.size);
      i.data = grown;
    } else if (size < i.size) i.data.fill(0, size, i.size);
    i.size = size;
  }

  lookup(_ctx: FuseContext, parent: number, name: string): FuseEntry {
    this.lookupCalls++;
    const d = this.dir(parent);
    const ino = d.children.get(name) ?? fail('ENOENT');
    return this.entry(this.get(ino));
  }

  forget(nodeid: number, nlookup: number): void {
    const i = this.inodes.get(nodeid);
    if (!i) return;
    i.lookups = Math.max(0, i.lookups - nlookup);
    this.maybeFree(i);
  }

  getattr(_ctx: FuseContext, nodeid: number): FuseAttr {
    return this.attr(this.get(nodeid));
  }

  setattr(_ctx: FuseContext, nodeid: number, c: FuseSetattr): FuseAttr {
    const i = this.get(nodeid);
    if (c.mode !== undefined) i.mode = (i.mode & S_IFMT) | (c.mode & 0o7777);
    if (c.uid !== undefined) i.uid = c.uid;
    if (c.gid !== undefined) i.gid = c.gid;
    if (c.size !== undefined) {
      if (i.children) fail('EISDIR');
      this.setSize(i, c.size);
      i.mtimeNs = nowNs();
    }
    if (c.atimeNs !== undefined) i.atimeNs = c.atimeNs === 'now' ? nowNs() : c.atimeNs;
    if (c.mtimeNs !== undefined) i.mtimeNs = c.mtimeNs === 'now' ? nowNs() : c.mtimeNs;
    i.ctimeNs = nowNs();
    return this.attr(i);
  }

  readlink(_ctx: FuseContext, nodeid: number): string {
    const i = this.get(nodeid);
    if ((i.mode & S_IFMT) !== S_IFLNK) fail('EINVAL');
    return i.target;
  }

  symlink(ctx: FuseContext, parent: number, name: string, target: string): FuseEntry {
    const i = this.addChild(parent, name, S_IFLNK | 0o777, ctx);
    i.target = target;
    return this.entry(i);
  }

  mknod(ctx: FuseContext, parent: number, name: string, mode: number, rdev: number): FuseEntry {
    return this.entry(this.addChild(parent, name, mode, ctx, rdev));
  }

  mkdir(ctx: FuseContext, parent: number, name: string, mode: number): FuseEntry {
    return this.entry(this.addChild(parent, name, S_IFDIR | mode, ctx));
  }

  unlink(_ctx: FuseContext, parent: number, name: string): void {
    const d = this.dir(parent);
    const i = this.get(d.children.get(name) ?? fail('ENOENT'));
    if (i.children) fail('EISDIR');
    this.detach(d, name);
  }

  rmdir(_ctx: FuseContext, parent: number, name: string): void {
    const d = this.dir(parent);
    const i = this.get(d.children.get(name) ?? fail('ENOENT'));
    if (!i.children) fail('ENOTDIR');
    if (i.children.size > 0) fail('ENOTEMPTY');
    this.detach(d, name);
  }

  rename(_ctx: FuseContext, parent: number, name: string, newParent: number, newName: string, flags: number): void {
    const from = this.dir(parent);
    const to = this.dir(newParent);
    const src = this.get(from.children.get(name) ?? fail('ENOENT'));
    const existing = to.children.get(newName);
    if (flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE)) fail('EINVAL');
    if (flags & RENAME_EXCHANGE) {
      if (existing === undefined) fail('ENOENT');
      const dst = this.get(existing);
      from.children.set(name, dst.ino);
      to.children.set(newName, src.ino);
      src.parent = to.ino;
      dst.parent = from.ino;
      this.touch(from);
      this.touch(to);
      return;
    }
    if (existing !== undefined) {
      if (flags & RENAME_NOREPLACE) fail('EEXIST');
      if (existing === src.ino) return;
      const dst = this.get(existing);
      if (src.children && !dst.children) fail('ENOTDIR');
      if (!src.children && dst.children) fail('EISDIR');
      if (dst.children && dst.children.size > 0) fail('ENOTEMPTY');
      this.detach(to, newName);
    }
    from.children.delete(name);
    to.children.set(newName, src.ino);
    if (src.children && from !== to) {
      from.nlink--;
      to.nlink++;
    }
    src.parent = to.ino;
    src.ctimeNs = nowNs();
    this.touch(from);
    this.touch(to);
  }

  link(_ctx: FuseContext, nodeid: number, newParent: number, newName: string): FuseEntry {
    const i = this.get(nodeid);
    if (i.children) fail('EPERM');
    const d = this.dir(newParent);
    if (d.children.has(newName)) fail('EEXIST');
    d.children.set(newName, i.ino);
    i.nlink++;
    i.ctimeNs = nowNs();
    this.touch(d);
    return this.entry(i);
  }

  private openHandle(i: Inode, flags: number): FuseOpened {
    if (i.children) fail('EISDIR');
    if (flags & O_TRUNC && (flags & O_ACCMODE) !== 0) {
      this.setSize(i, 0);
      this.touch(i);
    }
    i.opens++;
    const fh = this.nextFh++;
    this.files.set(fh, { ino: i.ino, flags });
    return { fh };
  }

  open(_ctx: FuseContext, nodeid: number, flags: number): FuseOpened {
    return this.openHandle(this.get(nodeid), flags);
  }

  create(ctx: FuseContext, parent: number, name: string, flags: number, mode: number): { entry: FuseEntry; opened: FuseOpened } {
    const i = this.addChild(parent, name, S_IFREG | (mode & 0o7777), ctx);
    return { entry: this.entry(i), opened: this.openHandle(i, flags & ~O_TRUNC) };
  }

  private handle(fh: number): { ino: number; flags: number } {
    return this.files.get(fh) ?? fail('EBADF');
  }

  read(_ctx: FuseContext, _nodeid: number, fh: number, into: Buffer, position: number): number {
    const i = this.get(this.handle(fh).ino);
    this.maxRead = Math.max(this.maxRead, into.length);
    if (position >= i.size) return 0;
    return i.data.copy(into, 0, position, Math.min(i.size, position + into.length));
  }

  write(_ctx: FuseContext, _nodeid: number, fh: number, data: Buffer, position: number): number {
    const h = this.handle(fh);
    const i = this.get(h.ino);
    this.maxWrite = Math.max(this.maxWrite, data.length);
    const at = h.flags & O_APPEND ? i.size : position;
    if (at + data.length > i.size) this.setSize(i, at + data.length);
    data.copy(i.data, at);
    this.touch(i);
    return data.length;
  }

  statfs(): FuseStatfs {
    const live = this.inodes.size;
    return { ...MEMFS_STATFS, files: MEMFS_TOTAL_FILES, ffree: MEMFS_TOTAL_FILES - live };
  }

  release(_ctx: FuseContext, _nodeid: number, fh: number): void {
    const h = this.handle(fh);
    this.files.delete(fh);
    const i = this.inodes.get(h.ino);
    if (i) {
      i.opens--;
      this.maybeFree(i);
    }
  }

  flush(): void {}

  fsync(_ctx: FuseContext, _nodeid: number, fh: number): void {
    this.handle(fh);
  }

  setxattr(_ctx: FuseContext, nodeid: number, name: string, value: Buffer, flags: number): void {
    const i = this.get(nodeid);
    const has = i.xattrs.has(name);
    if (flags & XATTR_CREATE && has) fail('EEXIST');
    if (flags & XATTR_REPLACE && !has) fail('ENODATA');
    i.xattrs.set(name, Buffer.from(value));
    i.ctimeNs = nowNs();
  }

  getxattr(_ctx: FuseContext, nodeid: number, name: string): Buffer {
    if (nodeid === 1 && name === 'user.memfs.lookups') {
      let total = 0;
      for (const i of this.inodes.values()) total += i.lookups;
      return Buffer.from(String(total));
    }
    if (nodeid === 1 && name === 'user.memfs.maxread') return Buffer.from(String(this.maxRead));
    if (nodeid === 1 && name === 'user.memfs.maxwrite') return Buffer.from(String(this.maxWrite));
    if (nodeid === 1 && name === 'user.memfs.lookupcalls') return Buffer.from(String(this.lookupCalls));
    return this.get(nodeid).xattrs.get(name) ?? fail('ENODATA');
  }

  listxattr(_ctx: FuseContext, nodeid: number): string[] {
    return [...this.get(nodeid).xattrs.keys()];
  }

  removexattr(_ctx: FuseContext, nodeid: number, name: string): void {
    const i = this.get(nodeid);
    if (!i.xattrs.delete(name)) fail('ENODATA');
  }

  opendir(_ctx: FuseContext, nodeid: number): number {
    const d = this.dir(nodeid);
    const list: FuseDirent[] = [
      { name: '.', ino: BigInt(d.ino), type: 'dir', next: 1 },
      { name: '..', ino: BigInt(d.parent), type: 'dir', next: 2 },
    ];
    for (const [name, ino] of d.children) list.push({ name, ino: BigInt(ino), type: kindOfMode(this.get(ino).mode), next: list.length + 1 });
    const fh = this.nextFh++;
    this.dirs.set(fh, list);
    return fh;
  }

  *readdir(_ctx: FuseContext, _nodeid: number, fh: number, offset: number): Iterable<FuseDirent> {
    const list = this.dirs.get(fh) ?? fail('EBADF');
    for (let k = offset; k < list.length; k++) yield list[k]!;
  }

  releasedir(_ctx: FuseContext, _nodeid: number, fh: number): void {
    this.dirs.delete(fh);
  }

  fsyncdir(): void {}

  access(_ctx: FuseContext, nodeid: number): void {
    this.get(nodeid);
  }

  destroy(): void {
    this.inodes.clear();
  }
}

/** The factory serveInWorker calls in the server thread. */
export function createMemFs(): FuseOps {
  return new MemFs();
}

/** Errno numbers, for tests that check an errno by number. */
export const errno = os.constants.errno;
