/**
 * `FuseOps` over strata's overlay engine (`OverlayCore`): the adapter that turns node IDs and
 * handles into union dentries and open union files.
 *
 * - Node IDs: a table of the engine's nodes, each with the kernel's lookup count. The engine hands
 *   out one node object per union dentry (its dcache), so a node keeps its ID across lookups and
 *   renames; an ID is dropped when the kernel forgets its last lookup, and never reused. Two
 *   hard-linked names are two nodes with the same `ino`, as in the kernel overlay with index=off.
 * - Handles: open files and directories in two tables; O_APPEND handles append on every write
 *   (the kernel's idea of the end of file may be stale).
 * - Creation: objects belong to the caller's uid/gid from the request header; the kernel has already
 *   applied the umask, so the engine gets umask 0.
 * - Errors: the engine's OvlErrors carry the kernel overlay's errno, which goes to the kernel as is.
 */
import fs from 'node:fs';
import { openOverlayCore } from '../index.js';
import { S_IFDIR, S_IFMT } from '../realfs.js';
import type { OverlayCore, OverlayOptions, OvlCaller, OvlDir, OvlFile, OvlNode, OvlStat } from '../types.js';
import { NO_STALE_NODES, type FuseAttr, type FuseContext, type FuseDirent, type FuseEntry, type FuseOpened, type FuseOps, type FuseSetattr, type FuseStatfs, type StaleNode } from './ops.js';
import { FUSE_ROOT_ID } from './protocol.js';

const { O_RDONLY, O_WRONLY, O_RDWR, O_APPEND, O_TRUNC, O_SYNC, O_DSYNC, O_CREAT, O_EXCL } = fs.constants;
const O_ACCMODE = O_RDONLY | O_WRONLY | O_RDWR;
/** open(2) flags passed on to the engine; the rest (O_DIRECT, O_NOATIME, O_LARGEFILE, ...) concern the FUSE file only. */
const OPEN_FLAGS_KEPT = O_ACCMODE | O_APPEND | O_TRUNC | O_SYNC | O_DSYNC;

function stale(): never {
  throw Object.assign(new Error('unknown FUSE node or handle'), { code: 'ESTALE' });
}

function badHandle(): never {
  throw Object.assign(new Error('unknown FUSE file handle'), { code: 'EBADF' });
}

/** The engine's attributes in the protocol's shape (st_ino is the engine's ino, never the node ID). */
export function toFuseAttr(s: OvlStat): FuseAttr {
  return {
    ino: s.ino,
    size: s.size,
    blocks: s.blocks,
    atimeNs: s.atimeNs,
    mtimeNs: s.mtimeNs,
    ctimeNs: s.ctimeNs,
    mode: s.mode,
    nlink: s.nlink,
    uid: s.uid,
    gid: s.gid,
    // FUSE carries a 32-bit dev_t in the kernel's new_encode_dev layout: the low half of glibc's
    rdev: s.rdev % 2 ** 32,
    blksize: s.blksize,
  };
}

/** Node ID ↔ engine node, with the kernel's lookup counts. */
class NodeTable {
  private readonly byId = new Map<number, { node: OvlNode; lookups: number }>();
  private readonly byNode = new Map<OvlNode, number>();
  private nextId = FUSE_ROOT_ID + 1;

  constructor(root: OvlNode) {
    // The root is never forgotten: the kernel holds it for the mount's lifetime.
    this.byId.set(FUSE_ROOT_ID, { node: root, lookups: Infinity });
    this.byNode.set(root, FUSE_ROOT_ID);
  }

  node(id: number): OvlNode {
    return this.byId.get(id)?.node ?? stale();
  }

  /** The ID the kernel holds `node` under, if it holds it. */
  idOf(node: OvlNode): number | undefined {
    return this.byNode.get(node);
  }

  /** Counts one lookup of `node` and returns its ID (a new one if the kernel had none). */
  remember(node: OvlNode): number {
    let id = this.byNode.get(node);
    if (id === undefined) {
      id = this.nextId++;
      this.byNode.set(node, id);
      this.byId.set(id, { node, lookups: 0 });
    }
    this.byId.get(id)!.lookups++;
    return id;
  }

  /** Gives back `n` lookups; true when that was the last and the ID is gone. */
  forget(id: number, n: number): boolean {
    const slot = this.byId.get(id);
    if (slot === undefined) return false;
    slot.lookups -= n;
    if (slot.lookups > 0) return false;
    this.byId.delete(id);
    this.byNode.delete(slot.node);
    return true;
  }

  get size(): number {
    return this.byId.size;
  }

  clear(): void {
    this.byId.clear();
    this.byNode.clear();
  }
}

/**
 * What the kernel must be told about its cached attributes: node IDs an operation changed, and
 * the node IDs that are other names of one upper inode (non-directories seen with more than one
 * link), so a change through one name reaches the others. A node stays one of them until the
 * kernel forgets it, even once the link count is back to 1: a name replaced while open lingers as
 * a node of the same file (and with passthrough, writes through another node never reach the
 * server). Names of a lower hard link are not recorded: a lower file never changes, and a copy-up
 * makes a new inode for the one name copied (index=off).
 */
class StaleNodes {
  /**
   * The changed nodes, each once. An operation changes a handful (a node, its parent, a rename's
   * two directories), so a list searched from the start: cheaper per request than a Map, whose
   * iteration allocates until V8 has optimised it.
   */
  private pending: StaleNode[] = [];
  private readonly inoOf = new Map<number, bigint>();
  private readonly namesOf = new Map<bigint, Set<number>>();

  /** `isUpper`: whether node `id` is in the upper layer now. */
  constructor(private readonly isUpper: (id: number) => boolean) {}

  changed(id: number, listing: boolean): void {
    const known = this.find(id);
    if (known === undefined) this.pending.push({ nodeid: id, listing });
    else if (listing) known.listing = true;
  }

  private find(id: number): StaleNode | undefined {
    for (let i = 0; i < this.pending.length; i++) if (this.pending[i]!.nodeid === id) return this.pending[i];
    return undefined;
  }

  /** Records what a reply told the kernel about node `id`. */
  seen(id: number, attr: FuseAttr): void {
    if ((attr.mode & S_IFMT) === S_IFDIR || attr.nlink < 2 || this.inoOf.get(id) === attr.ino || !this.isUpper(id)) return;
    this.drop(id);
    this.inoOf.set(id, attr.ino);
    let names = this.namesOf.get(attr.ino);
    if (!names) this.namesOf.set(attr.ino, (names = new Set()));
    names.add(id);
  }

  /** Whether node `id` was seen as one of several names of its inode (until it is dropped). */
  isShared(id: number): boolean {
    return this.inoOf.has(id);
  }

  drop(id: number): void {
    const ino = this.inoOf.get(id);
    if (ino === undefined) return;
    this.inoOf.delete(id);
    const names = this.namesOf.get(ino)!;
    names.delete(id);
    if (names.size === 0) this.namesOf.delete(ino);
  }

  /**
   * The changed nodes and their inodes' other names; empties the list. The other names' pages are
   * left to AUTO_INVAL_DATA (the kernel drops them when it sees the new size and mtime): dropping
   * a file's pages could wait on a page lock held by a request queued behind us.
   */
  take(): readonly StaleNode[] {
    if (this.pending.length === 0) return NO_STALE_NODES;
    // the nodes changed, not the other names this loop appends
    const changedCount = this.pending.length;
    for (let i = 0; i < changedCount; i++) {
      const ino = this.inoOf.get(this.pending[i]!.nodeid);
      if (ino === undefined) continue;
      for (const other of this.namesOf.get(ino)!) if (this.find(other) === undefined) this.pending.push({ nodeid: other, listing: false });
    }
    const out = this.pending;
    this.pending = [];
    return out;
  }
}

/** The FuseOps of one overlay mount. */
export class OverlayFuseOps implements FuseOps {
  private readonly nodes: NodeTable;
  private readonly stale: StaleNodes;
  private readonly files = new Map<number, { file: OvlFile; append: boolean; nodeid: number }>();
  /** Listings being read, by directory node: the kernel opens directories without asking (no OPENDIR). */
  private readonly listings = new Map<number, OvlDir>();
  private nextFh = 1;

  constructor(private readonly core: OverlayCore) {
    this.nodes = new NodeTable(core.root);
    this.stale = new StaleNodes((id) => this.isUpper(id));
    core.onAttrChange = (node, listing) => {
      const id = this.nodes.idOf(node);
      if (id !== undefined) this.stale.changed(id, listing);
    };
  }

  takeStaleNodes(): readonly StaleNode[] {
    return this.stale.take();
  }

  sharesFile(nodeid: number, attr: FuseAttr): boolean {
    return this.stale.isShared(nodeid) || (attr.nlink > 1 && this.isUpper(nodeid));
  }

  /** Whether node `nodeid` is in the upper layer now (a lower file never changes). */
  private isUpper(nodeid: number): boolean {
    return this.core.isUpper(this.nodes.node(nodeid));
  }

  /** How many node IDs the kernel holds (the root included): for tests of FORGET. */
  get liveNodes(): number {
    return this.nodes.size;
  }

  private caller(ctx: FuseContext): OvlCaller {
    return { uid: ctx.uid, gid: ctx.gid, umask: 0 };
  }

  private entry(node: OvlNode): FuseEntry {
    const attr = toFuseAttr(this.core.getattr(node));
    const nodeid = this.nodes.remember(node);
    this.stale.seen(nodeid, attr);
    return { nodeid, attr };
  }

  /** Attributes going to the kernel for `nodeid`. */
  private attrOf(nodeid: number, s: OvlStat): FuseAttr {
    const attr = toFuseAttr(s);
    this.stale.seen(nodeid, attr);
    return attr;
  }

  private file(fh: number): { file: OvlFile; append: boolean } {
    return this.files.get(fh) ?? badHandle();
  }

  /**
   * Registers an open file. Its cached pages may outlive the open (keepCache) when its data can
   * change only through this node: a file with one link, or a file still only in a lower layer.
   * Several union names of one upper inode are several nodes to the kernel, so a write through one
   * would not refresh another's pages; lower hardlinks, though, break on copy-up (index=off), so
   * a write through one name never changes what the others show. (A link made after the open is
   * caught by the kernel itself: the session asks for AUTO_INVAL_DATA.) `nlink`: the file's link
   * count when the caller has just read it.
   */
  private addFile(file: OvlFile, flags: number, nodeid: number, nlink?: number): FuseOpened {
    const fh = this.nextFh++;
    this.files.set(fh, { file, append: (flags & O_APPEND) !== 0, nodeid });
    const upperFd = file.upperFd();
    if (upperFd === null) return { fh, keepCache: true };
    // an upper file with one name changes only through this node: the kernel may do its I/O itself
    // (never a lower file: a copy-up must be able to move its handles, and the kernel's reads
    // through it would set the lower file's atime)
    const oneName = (nlink ?? file.stat().nlink) === 1;
    return { fh, keepCache: oneName, ...(oneName ? { backingFd: upperFd } : {}) };
  }

  /** An open file of `nodeid`, if any: what is left of a name removed while open. */
  private openFileOf(nodeid: number): OvlFile | undefined {
    for (const f of this.files.values()) if (f.nodeid === nodeid) return f.file;
    return undefined;
  }

  lookup(_ctx: FuseContext, parent: number, name: string): FuseEntry {
    return this.entry(this.core.lookup(this.nodes.node(parent), name));
  }

  forget(nodeid: number, nlookup: number): void {
    if (!this.nodes.forget(nodeid, nlookup)) return;
    this.stale.drop(nodeid);
    this.dropListing(nodeid);
  }

  private dropListing(nodeid: number): void {
    this.listings.get(nodeid)?.close();
    this.listings.delete(nodeid);
  }

  getattr(_ctx: FuseContext, nodeid: number, fh: number | undefined): FuseAttr {
    const open = fh === undefined ? undefined : this.files.get(fh);
    if (open) return this.attrOf(nodeid, open.file.stat());
    try {
      return this.attrOf(nodeid, this.core.getattr(this.nodes.node(nodeid)));
    } catch (e) {
      // fstat(2) arrives without a handle: a file unlinked while open still has attributes
      const file = (e as { code?: string }).code === 'ENOENT' ? this.openFileOf(nodeid) : undefined;
      if (file === undefined) throw e;
      return this.attrOf(nodeid, file.stat());
    }
  }

  setattr(_ctx: FuseContext, nodeid: number, changes: FuseSetattr, fh: number | undefined): FuseAttr {
    const node = this.nodes.node(nodeid);
    // ftruncate comes with its handle: the handle's file, even when unlinked
    const open = fh === undefined ? undefined : this.files.get(fh);
    if (open) return this.attrOf(nodeid, open.file.setattr(changes));
    try {
      return this.attrOf(nodeid, this.core.setattr(node, changes));
    } catch (e) {
      // fchmod/fchown/futimens arrive without a handle: a file unlinked while open still takes them
      const file = (e as { code?: string }).code === 'ENOENT' ? this.openFileOf(nodeid) : undefined;
      if (file === undefined) throw e;
      return this.attrOf(nodeid, file.setattr(changes));
    }
  }

  readlink(_ctx: FuseContext, nodeid: number): string {
    return this.core.readlink(this.nodes.node(nodeid));
  }

  symlink(ctx: FuseContext, parent: number, name: string, target: string): FuseEntry {
    return this.entry(this.core.symlink(this.nodes.node(parent), name, target, this.caller(ctx)));
  }

  mknod(ctx: FuseContext, parent: number, name: string, mode: number, rdev: number): FuseEntry {
    return this.entry(this.core.mknod(this.nodes.node(parent), name, mode, rdev, this.caller(ctx)));
  }

  mkdir(ctx: FuseContext, parent: number, name: string, mode: number): FuseEntry {
    return this.entry(this.core.mkdir(this.nodes.node(parent), name, mode, this.caller(ctx)));
  }

  unlink(_ctx: FuseContext, parent: number, name: string): void {
    this.core.unlink(this.nodes.node(parent), name);
  }

  rmdir(_ctx: FuseContext, parent: number, name: string): void {
    this.core.rmdir(this.nodes.node(parent), name);
  }

  rename(_ctx: FuseContext, parent: number, name: string, newParent: number, newName: string, flags: number): void {
    this.core.rename(this.nodes.node(parent), name, this.nodes.node(newParent), newName, flags);
  }

  link(_ctx: FuseContext, nodeid: number, newParent: number, newName: string): FuseEntry {
    const source = this.nodes.node(nodeid);
    const entry = this.entry(this.core.link(source, this.nodes.node(newParent), newName));
    // the source is now one of several names (the kernel is told its link count went stale)
    this.attrOf(nodeid, this.core.getattr(source));
    return entry;
  }

  open(_ctx: FuseContext, nodeid: number, flags: number): FuseOpened {
    const kept = flags & OPEN_FLAGS_KEPT;
    return this.addFile(this.core.open(this.nodes.node(nodeid), kept), kept, nodeid);
  }

  create(ctx: FuseContext, parent: number, name: string, flags: number, mode: number): { entry: FuseEntry; opened: FuseOpened } {
    const kept = (flags & (OPEN_FLAGS_KEPT | O_EXCL)) | O_CREAT;
    const { node, file } = this.core.create(this.nodes.node(parent), name, kept, mode & 0o7777, this.caller(ctx));
    let entry: FuseEntry;
    try {
      entry = this.entry(node);
    } catch (e) {
      file.close();
      throw e;
    }
    return { entry, opened: this.addFile(file, kept, entry.nodeid, entry.attr.nlink) };
  }

  read(_ctx: FuseContext, _nodeid: number, fh: number, into: Buffer, position: number): number {
    const { file } = this.file(fh);
    // A short reply means end of file to the kernel: fill the buffer unless the file really ends.
    let done = 0;
    while (done < into.length) {
      const n = file.read(into, done, into.length - done, position + done);
      if (n === 0) break;
      done += n;
    }
    return done;
  }

  write(_ctx: FuseContext, _nodeid: number, fh: number, data: Buffer, position: number): number {
    const { file, append } = this.file(fh);
    let done = 0;
    while (done < data.length) {
      const n = append ? file.append(data, done, data.length - done) : file.write(data, done, data.length - done, position + done);
      if (n === 0) break;
      done += n;
    }
    return done;
  }

  statfs(): FuseStatfs {
    return this.core.statfs();
  }

  release(_ctx: FuseContext, _nodeid: number, fh: number): void {
    const open = this.files.get(fh);
    this.files.delete(fh);
    open?.file.close();
  }

  fsync(_ctx: FuseContext, _nodeid: number, fh: number, datasync: boolean): void {
    this.file(fh).file.fsync(datasync);
  }

  setxattr(_ctx: FuseContext, nodeid: number, name: string, value: Buffer, flags: number): void {
    this.core.setxattr(this.nodes.node(nodeid), name, Buffer.from(value), flags);
  }

  getxattr(_ctx: FuseContext, nodeid: number, name: string): Buffer {
    return this.core.getxattr(this.nodes.node(nodeid), name);
  }

  listxattr(_ctx: FuseContext, nodeid: number): string[] {
    return this.core.listxattr(this.nodes.node(nodeid));
  }

  removexattr(_ctx: FuseContext, nodeid: number, name: string): void {
    this.core.removexattr(this.nodes.node(nodeid), name);
  }

  /**
   * The directory's merged listing from `offset`. Built at the first READDIR and kept until the
   * kernel has read to its end (a READDIR past the last entry) or forgets the node; offset 0 (a new
   * reader, or rewinddir) rebuilds it if the directory changed.
   */
  *readdir(_ctx: FuseContext, nodeid: number, _fh: number, offset: number): Iterable<FuseDirent> {
    let dir = this.listings.get(nodeid);
    if (dir === undefined) {
      dir = this.core.opendir(this.nodes.node(nodeid));
      this.listings.set(nodeid, dir);
    } else if (offset === 0) {
      dir.rewind();
    }
    const entries = dir.read(offset);
    if (entries.length === 0) this.dropListing(nodeid);
    for (const { entry, next } of entries) yield { name: entry.name, ino: entry.ino, type: entry.type, next };
  }

  fsyncdir(_ctx: FuseContext, nodeid: number, _fh: number, datasync: boolean): void {
    this.core.fsyncdir(this.nodes.node(nodeid), datasync);
  }

  access(_ctx: FuseContext, nodeid: number): void {
    // Only existence: with default_permissions the kernel checks the mode bits itself.
    this.core.getattr(this.nodes.node(nodeid));
  }

  destroy(): void {
    const closeQuietly = (h: { close(): void }) => {
      try {
        h.close();
      } catch {
        /* already closed with the engine's own handles */
      }
    };
    for (const { file } of this.files.values()) closeQuietly(file);
    for (const dir of this.listings.values()) closeQuietly(dir);
    this.files.clear();
    this.listings.clear();
    this.nodes.clear();
    this.core.close();
  }
}

/**
 * Opens the engine over `options`' layers and wraps it: the factory strata-overlay's server thread
 * calls (see serveInWorker). Throws the engine's OvlOptionsError for bad layers.
 */
export function createOverlayFuseOps(options: OverlayOptions): FuseOps {
  return new OverlayFuseOps(openOverlayCore(options));
}
