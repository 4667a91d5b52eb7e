/**
 * OverlayCore: the node-level engine. Each method checks what the VFS would check, then does what
 * the kernel overlay does, in the same order, so the errno of a failing call is the kernel's.
 */
import fs from 'node:fs';
import { fstat, major, minor } from '../sys/index.js';
import { openLowerForRead } from './copyup.js';
import { Engine, storedXattr, visibleXattr } from './engine.js';
import { OvlEntry } from './entry.js';
import { OvlError, asUnion } from './errors.js';
import { OvlOpenFile } from './file.js';
import { prepareLayers } from './options.js';
import { OvlOpenDir } from './readdir.js';
import * as real from './realfs.js';
import { EGID, EUID, S_IFBLK, S_IFCHR, S_IFDIR, S_IFIFO, S_IFMT, S_IFREG, S_IFSOCK, S_ISGID, XATTR_OPAQUE, kindOfMode, lstat } from './realfs.js';
import { removeEntry } from './remove.js';
import { renameEntries } from './rename.js';
import { setattrEntry } from './setattr.js';
import { OVERLAYFS_SUPER_MAGIC, type OpenFlags, type OverlayCore, type OverlayOptions, type OvlCaller, type OvlDir, type OvlFile, type OvlNode, type OvlSetattr, type OvlStat, type OvlStatfs } from './types.js';

const { O_RDONLY, O_CREAT, O_EXCL, O_TRUNC, O_NOFOLLOW, O_DIRECTORY } = fs.constants;
const O_ACCMODE = 3;
const NAME_MAX = 255;

function entryOf(node: OvlNode): OvlEntry {
  return node as OvlEntry;
}

/** The engine behind `openOverlayCore`. */
export class Core implements OverlayCore {
  readonly options: Readonly<OverlayOptions>;
  private readonly engine: Engine;
  private readonly files = new Set<OvlOpenFile>();
  private readonly dirs = new Set<OvlOpenDir>();

  constructor(options: OverlayOptions) {
    this.options = Object.freeze({ ...options, lowerdirs: [...options.lowerdirs] });
    this.engine = new Engine(prepareLayers(options));
    this.engine.onRemove = (e) => {
      for (const f of this.files) if (f.entry === e) f.followCopyUp();
    };
    this.engine.onAttrChange = (e, listing) => this.onAttrChange?.(e, listing);
  }

  get readOnly(): boolean {
    return this.engine.readOnly;
  }

  get root(): OvlNode {
    return this.engine.root;
  }

  onAttrChange: ((node: OvlNode, listing: boolean) => void) | null = null;

  // ---- reading ------------------------------------------------------------------------------

  lookup(dirNode: OvlNode, name: string): OvlNode {
    const dir = entryOf(dirNode);
    const path = dir.rel + '/' + name;
    this.engine.alive(dir, 'lookup');
    if (!dir.isDir) throw new OvlError('ENOTDIR', 'lookup', path);
    if (name === '.' || name === '') return dir;
    if (name === '..') return dir.parent ?? dir;
    if (name.length > NAME_MAX) throw new OvlError('ENAMETOOLONG', 'lookup', path);
    const e = asUnion('lookup', path, () => this.engine.child(dir, name));
    if (e === null) throw new OvlError('ENOENT', 'lookup', path);
    return e;
  }

  getattr(node: OvlNode): OvlStat {
    return this.engine.getattr(entryOf(node));
  }

  readlink(node: OvlNode): string {
    const e = entryOf(node);
    this.engine.alive(e, 'readlink');
    if (e.kind !== 'symlink') throw new OvlError('EINVAL', 'readlink', e.path);
    return asUnion('readlink', e, () => real.readlink(this.engine.realPath(e)));
  }

  opendir(node: OvlNode): OvlDir {
    const e = entryOf(node);
    this.engine.alive(e, 'opendir');
    if (!e.isDir) throw new OvlError('ENOTDIR', 'opendir', e.path);
    const d = new OvlOpenDir(this.engine, e, (x) => this.dirs.delete(x));
    this.dirs.add(d);
    return d;
  }

  getxattr(node: OvlNode, name: string): Buffer {
    const e = entryOf(node);
    this.engine.alive(e, 'getxattr');
    if (name.startsWith('user.') && e.kind !== 'file' && e.kind !== 'dir') throw new OvlError('ENODATA', 'getxattr', e.path);
    const v = asUnion('getxattr', e, () => real.lgetxattr(this.engine.realPath(e), storedXattr(name)));
    if (v === null) throw new OvlError('ENODATA', 'getxattr', e.path);
    return v;
  }

  listxattr(node: OvlNode): string[] {
    const e = entryOf(node);
    this.engine.alive(e, 'listxattr');
    const names = asUnion('listxattr', e, () => real.llistxattr(this.engine.realPath(e)));
    const out: string[] = [];
    for (const n of names) {
      const v = visibleXattr(n);
      if (v !== null) out.push(v);
    }
    return out;
  }

  fsyncdir(node: OvlNode, datasync: boolean): void {
    const e = entryOf(node);
    this.engine.alive(e, 'fsync');
    if (!this.engine.syncs || !e.isDir || !e.upper) return;
    asUnion('fsync', e, () => real.syncFile(this.engine.upperPath(e), datasync));
  }

  syncfs(): void {
    if (!this.engine.syncs || this.engine.upper === null) return;
    asUnion('syncfs', '/', () => real.syncFs(this.engine.upper!));
  }

  statfs(): OvlStatfs {
    const s = real.statfs(this.engine.upper ?? this.engine.lowers[0]!);
    return {
      type: OVERLAYFS_SUPER_MAGIC,
      bsize: s.bsize,
      frsize: s.bsize,
      blocks: s.blocks,
      bfree: s.bfree,
      bavail: s.bavail,
      files: s.files,
      ffree: s.ffree,
      namelen: NAME_MAX,
    };
  }

  // ---- opening ------------------------------------------------------------------------------

  open(node: OvlNode, flags: OpenFlags): OvlFile {
    const e = entryOf(node);
    this.engine.alive(e, 'open');
    const writes = (flags & O_ACCMODE) !== O_RDONLY || (flags & O_TRUNC) !== 0;
    // the VFS's order: O_DIRECTORY on a non-dir, then a symlink (O_NOFOLLOW), then a dir for writing
    if (!e.isDir && flags & O_DIRECTORY) throw new OvlError('ENOTDIR', 'open', e.path);
    if (e.kind === 'symlink') throw new OvlError('ELOOP', 'open', e.path);
    if (e.isDir && writes) throw new OvlError('EISDIR', 'open', e.path);
    if (writes && e.kind === 'file') {
      this.engine.writable('open', e);
      this.engine.copyUp(e, 'open', { data: (flags & O_TRUNC) === 0 });
    } else if (writes && e.kind !== 'dir' && this.engine.readOnly) {
      throw new OvlError('EROFS', 'open', e.path);
    }
    const realFlags = (flags & ~(O_CREAT | O_EXCL)) | O_NOFOLLOW;
    const fd = asUnion('open', e, () => (e.upper ? real.open(this.engine.upperPath(e), realFlags) : openLowerForRead(this.engine.lowerPath(e), realFlags)));
    if (flags & O_TRUNC && e.kind === 'file') this.engine.changed(e);
    return this.openFile(e, fd, flags);
  }

  /** Registers `fd`, open on `e`'s real file with `flags`, as an open union file. */
  private openFile(e: OvlEntry, fd: number, flags: OpenFlags): OvlFile {
    const f = new OvlOpenFile(this.engine, e, fd, e.upper, flags, (x) => this.files.delete(x));
    this.files.add(f);
    return f;
  }

  create(dirNode: OvlNode, name: string, flags: OpenFlags, mode: number, caller: OvlCaller): { node: OvlNode; file: OvlFile } {
    const dir = entryOf(dirNode);
    const path = dir.rel + '/' + name;
    this.engine.alive(dir, 'open');
    if (!dir.isDir) throw new OvlError('ENOTDIR', 'open', path);
    if (name.length > NAME_MAX) throw new OvlError('ENAMETOOLONG', 'open', path);
    // open(2) refuses O_CREAT|O_DIRECTORY before anything else (Linux >= 6.4)
    if (flags & O_DIRECTORY) throw new OvlError('EINVAL', 'open', path);
    const existing = asUnion('open', path, () => this.engine.child(dir, name));
    if (existing !== null) {
      if (flags & O_EXCL) throw new OvlError('EEXIST', 'open', path);
      if (existing.isDir) throw new OvlError('EISDIR', 'open', path);
      return { node: existing, file: this.open(existing, flags & ~O_CREAT) };
    }
    // the new file is made with the caller's flags, and that open is the caller's open file
    const fileFlags = flags & ~(O_CREAT | O_EXCL | O_TRUNC);
    let fd: number | undefined;
    try {
      const node = this.createObject(dir, name, 'open', 'file', (p) => (fd = real.open(p, fileFlags | O_CREAT | O_EXCL | O_NOFOLLOW, 0)), mode, caller);
      return { node, file: this.openFile(node, fd!, fileFlags) };
    } catch (err) {
      if (fd !== undefined) fs.closeSync(fd);
      throw err;
    }
  }

  // ---- creating -----------------------------------------------------------------------------

  /**
   * Creates a new object at `dir/name` in the upper layer, owned by the caller (the group of a
   * setgid parent), with `mode` less the umask (a directory never keeps setuid/setgid from it, but
   * inherits setgid from a setgid parent). Over an upper whiteout it is built in work/work and
   * renamed in; a directory made there is opaque, so the deleted lower one stays hidden. With
   * redirectDir 'on' a new directory in a merge dir is made opaque too (the kernel's
   * ovl_create_upper, when offline lower changes are not allowed). `check` runs once the name is
   * known to be free (the VFS's EEXIST comes first). A regular file's `make` returns the fd it
   * created the file with (mode 0): the file is then finished through it.
   */
  private createObject(
    dir: OvlEntry,
    name: string,
    syscall: string,
    kind: 'file' | 'dir' | 'symlink' | 'node',
    make: (p: string) => number | void,
    mode: number | null,
    caller: OvlCaller,
    check?: () => void,
  ): OvlEntry {
    const path = dir.rel + '/' + name;
    this.engine.writable(syscall, path);
    this.engine.alive(dir, syscall);
    if (!dir.isDir) throw new OvlError('ENOTDIR', syscall, path);
    if (name.length > NAME_MAX) throw new OvlError('ENAMETOOLONG', syscall, path);
    if (asUnion(syscall, path, () => this.engine.child(dir, name)) !== null) throw new OvlError('EEXIST', syscall, path);
    check?.();
    this.engine.copyUp(dir, syscall);
    const e = asUnion(syscall, path, () => {
      const parentUpper = this.engine.upperPath(dir);
      const target = parentUpper + '/' + name;
      const overWhiteout = this.engine.upperWhiteout(dir, name);
      const pst = lstat(parentUpper);
      const sgidParent = (pst.mode & S_ISGID) !== 0;
      const uid = caller.uid;
      const gid = sgidParent ? pst.gid : caller.gid;
      let perm = mode === null ? null : mode & (kind === 'dir' ? 0o1777 : 0o7777) & ~(caller.umask ?? 0);
      if (perm !== null && kind === 'dir' && sgidParent) perm |= S_ISGID;
      const opaque = kind === 'dir' && (overWhiteout || (this.engine.createRedirects && dir.isMerge));
      const at = overWhiteout ? this.engine.tempPath() : target;
      const fd = make(at);
      try {
        if (typeof fd === 'number') {
          // made by this process with mode 0: owned by us, in a setgid parent's group (work/work's
          // when made there, over a whiteout)
          const madeGid = overWhiteout ? fstat(fd).gid : sgidParent ? pst.gid : EGID;
          if (uid !== EUID || gid !== madeGid) fs.fchownSync(fd, uid, gid);
          if (perm) fs.fchmodSync(fd, perm);
        } else {
          const st = lstat(at);
          if (st.uid !== uid || st.gid !== gid) real.lchown(at, uid, gid);
          if (perm !== null && (st.mode & 0o7777) !== perm) real.chmod(at, perm);
        }
        if (opaque) real.lsetxattr(at, XATTR_OPAQUE, 'y');
        if (overWhiteout) {
          if (kind === 'dir') {
            real.exchange(at, target);
            real.unlink(at);
          } else {
            real.rename(at, target);
          }
        }
      } catch (err) {
        if (overWhiteout) real.removeTree(at);
        throw err;
      }
      const created = new OvlEntry(dir, name, kind === 'node' ? kindOfMode(lstat(target).mode) : kind, true, []);
      created.opaque = opaque;
      created.origin = null;
      created.impure = false;
      return created;
    });
    dir.children!.set(name, e);
    dir.version++;
    return e;
  }

  mknod(dirNode: OvlNode, name: string, mode: number, rdev: number, caller: OvlCaller): OvlNode {
    const dir = entryOf(dirNode);
    const fmt = mode & S_IFMT;
    const path = dir.rel + '/' + name;
    if (fmt === S_IFDIR) throw new OvlError('EPERM', 'mknod', path);
    if (fmt !== 0 && fmt !== S_IFREG && fmt !== S_IFCHR && fmt !== S_IFBLK && fmt !== S_IFIFO && fmt !== S_IFSOCK) throw new OvlError('EINVAL', 'mknod', path);
    const type = fmt === 0 ? S_IFREG : fmt;
    // a whiteout cannot be made through the union; an existing name is EEXIST first, as in the VFS
    const noWhiteout = () => {
      if (fmt === S_IFCHR && rdev === 0) throw new OvlError('EPERM', 'mknod', path);
    };
    return this.createObject(dir, name, 'mknod', 'node', (p) => real.mknod(p, type, major(rdev), minor(rdev)), mode, caller, noWhiteout);
  }

  mkdir(dirNode: OvlNode, name: string, mode: number, caller: OvlCaller): OvlNode {
    return this.createObject(entryOf(dirNode), name, 'mkdir', 'dir', (p) => real.mkdir(p, 0), mode, caller);
  }

  symlink(dirNode: OvlNode, name: string, target: string, caller: OvlCaller): OvlNode {
    return this.createObject(entryOf(dirNode), name, 'symlink', 'symlink', (p) => real.symlink(target, p), null, caller);
  }

  link(node: OvlNode, newDirNode: OvlNode, newName: string): OvlNode {
    const e = entryOf(node);
    const dir = entryOf(newDirNode);
    const path = dir.rel + '/' + newName;
    this.engine.writable('link', e);
    this.engine.alive(e, 'link');
    this.engine.alive(dir, 'link');
    if (!dir.isDir) throw new OvlError('ENOTDIR', 'link', e.path, path);
    if (newName.length > NAME_MAX) throw new OvlError('ENAMETOOLONG', 'link', e.path, path);
    if (asUnion('link', path, () => this.engine.child(dir, newName)) !== null) throw new OvlError('EEXIST', 'link', e.path, path);
    if (e.isDir) throw new OvlError('EPERM', 'link', e.path, path);
    this.engine.copyUp(e, 'link');
    this.engine.copyUp(dir, 'link');
    const created = asUnion(
      'link',
      e.path,
      () => {
        const src = this.engine.upperPath(e);
        const target = this.engine.upperPath(dir) + '/' + newName;
        if (this.engine.upperWhiteout(dir, newName)) {
          const tmp = this.engine.tempPath();
          real.link(src, tmp);
          real.rename(tmp, target);
        } else {
          real.link(src, target);
        }
        const n = new OvlEntry(dir, newName, e.kind, true, e.lower);
        n.origin = e.origin;
        // a file with an origin linked into a dir makes that dir impure (ovl_create_or_link)
        if (this.engine.hasOrigin(e)) this.engine.setImpure(dir);
        return n;
      },
      path,
    );
    dir.children!.set(newName, created);
    dir.version++;
    this.engine.changed(e);
    return created;
  }

  // ---- removing and moving ------------------------------------------------------------------

  unlink(dir: OvlNode, name: string): void {
    this.reportingFailure([dir], () => removeEntry(this.engine, entryOf(dir), name, false));
  }

  rmdir(dir: OvlNode, name: string): void {
    this.reportingFailure([dir], () => removeEntry(this.engine, entryOf(dir), name, true));
  }

  rename(dir: OvlNode, name: string, newDir: OvlNode, newName: string, flags: number): void {
    this.reportingFailure([dir, newDir], () => renameEntries(this.engine, entryOf(dir), name, entryOf(newDir), newName, flags));
  }

  /**
   * Runs a removal or rename; when it fails, its directories are reported changed: the kernel's
   * own order of checks lets such a call copy things up (and touch their parents) before it
   * fails, and a failed call is one whose directories a caching caller does not refresh itself.
   */
  private reportingFailure(dirs: OvlNode[], fn: () => void): void {
    try {
      fn();
    } catch (e) {
      for (const d of dirs) this.engine.changed(entryOf(d));
      throw e;
    }
  }

  // ---- changing -----------------------------------------------------------------------------

  setattr(node: OvlNode, attr: OvlSetattr): OvlStat {
    return setattrEntry(this.engine, entryOf(node), attr);
  }

  isUpper(target: OvlNode | OvlFile): boolean {
    if (target instanceof OvlOpenFile) return target.entry.upper;
    return entryOf(target as OvlNode).upper;
  }

  setxattr(node: OvlNode, name: string, value: Buffer, flags: number): void {
    const e = entryOf(node);
    this.engine.writable('setxattr', e);
    this.engine.alive(e, 'setxattr');
    if (name.startsWith('user.') && e.kind !== 'file' && e.kind !== 'dir') throw new OvlError('EPERM', 'setxattr', e.path);
    this.engine.copyUp(e, 'setxattr');
    asUnion('setxattr', e, () => real.lsetxattr(this.engine.upperPath(e), storedXattr(name), value, flags));
    this.engine.changed(e);
  }

  removexattr(node: OvlNode, name: string): void {
    const e = entryOf(node);
    this.engine.writable('removexattr', e);
    this.engine.alive(e, 'removexattr');
    if (name.startsWith('user.') && e.kind !== 'file' && e.kind !== 'dir') throw new OvlError('EPERM', 'removexattr', e.path);
    const stored = storedXattr(name);
    if (!e.upper && asUnion('removexattr', e, () => real.lgetxattr(this.engine.lowerPath(e), stored)) === null) {
      throw new OvlError('ENODATA', 'removexattr', e.path);
    }
    this.engine.copyUp(e, 'removexattr');
    asUnion('removexattr', e, () => real.lremovexattr(this.engine.upperPath(e), stored));
    this.engine.changed(e);
  }

  close(): void {
    for (const f of [...this.files]) f.close();
    for (const d of [...this.dirs]) d.close();
    this.engine.close();
  }
}
