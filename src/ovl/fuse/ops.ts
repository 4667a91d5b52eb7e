/**
 * `FuseOps`: the contract between the FUSE session (which speaks the wire protocol) and a
 * filesystem (strata's overlay, or a test's in-memory tree). It is the kernel's low-level, node-ID
 * based view, reduced to what strata needs, with plain values instead of structs:
 *
 * - Objects are named by **node IDs**, numbers the filesystem chooses. `FUSE_ROOT_ID` (1) is the
 *   root. Each reply that hands out a node ID (`lookup`, `mknod`, `mkdir`, `symlink`, `link`,
 *   `create`, and READDIRPLUS, which calls `lookup`) adds one to that node's **lookup count**; the
 *   kernel gives them back with `forget`. A node ID must stay valid until its count drops to 0 and
 *   must never be reused for another object while the mount lives (generation numbers are 0).
 * - Open files and directories are **handles** (`fh`), numbers the filesystem chooses in `open`,
 *   `create` and `opendir` and forgets in `release`/`releasedir` (directories may do without).
 * - After each request the session asks `takeStaleNodes` what the kernel must forget it cached.
 * - Every method is synchronous: the session answers one request at a time. A method fails by
 *   throwing an error with a negative `errno` (Node's and strata's fs errors have one) or an errno
 *   name in `code` (`'ENOENT'`); the session sends that errno to the kernel. Anything else becomes EIO.
 * - File names and symlink targets are byte strings (latin1: one char per byte), the bytes the
 *   kernel sent, whatever they are; xattr names are text.
 * - The kernel checks permissions itself (the mount has `default_permissions`); `ctx` says who asks,
 *   so that created objects get the caller's uid/gid. Modes arrive with the caller's umask already
 *   applied.
 *
 * Methods marked optional answer ENOSYS when absent; the kernel then stops sending most of them.
 */
import type { OvlFileType, OvlSetattr } from '../types.js';
import type { WireAttr, WireStatfs } from './protocol.js';

/** Who sent a request (from fuse_in_header). */
export interface FuseContext {
  uid: number;
  gid: number;
  pid: number;
}

/** An object's attributes. `ino` is what stat(2) shows as st_ino, independent of the node ID. */
export type FuseAttr = WireAttr;

/** statfs(2) numbers. */
export type FuseStatfs = WireStatfs;

/** A name resolved to a node: one more lookup of `nodeid` for the kernel to forget later. */
export interface FuseEntry {
  nodeid: number;
  attr: FuseAttr;
}

/** SETATTR's changes, the engine's shape: absent fields stay as they are; times are ns since the epoch, or 'now'. */
export type FuseSetattr = OvlSetattr;

/** One directory entry; `next` is the offset a later READDIR passes to continue after it. */
export interface FuseDirent {
  name: string;
  ino: bigint;
  type: OvlFileType;
  next: number;
}

/** A node the kernel must forget what it cached of: its attributes, and with `listing` its listing. */
export interface StaleNode {
  nodeid: number;
  /** A directory whose cached listing is stale too. */
  listing: boolean;
}

/** Nothing went stale: what takeStaleNodes returns on most requests (one shared array, no allocation). */
export const NO_STALE_NODES: readonly StaleNode[] = Object.freeze([]);

/** What `open` returns: a handle, and how the kernel may cache the file's data. */
export interface FuseOpened {
  fh: number;
  /** Reads and writes bypass the page cache. */
  directIo?: boolean;
  /**
   * The data cannot have changed except through this node, so pages cached from an earlier open
   * stay valid (FOPEN_KEEP_CACHE). Honoured only when the mount caches (timeout > 0).
   */
  keepCache?: boolean;
  /**
   * An open fd of the real file behind this one, which the kernel may read and write directly
   * (FUSE passthrough: no READ or WRITE requests) — offered only when every change of the data can
   * come through this node alone (no other names). The fd must stay open until `release`. The
   * session decides whether to use it (the kernel supports it, nothing else has the node open
   * without it); the data then changes behind the filesystem's back, but only through this fd.
   */
  backingFd?: number;
}

export interface FuseOps {
  /** Resolves `name` in directory `parent` (ENOENT if missing). One lookup of the returned node. */
  lookup(ctx: FuseContext, parent: number, name: string): FuseEntry;
  /** The kernel drops `nlookup` lookups of `nodeid` (no reply; must not throw). */
  forget(nodeid: number, nlookup: number): void;
  /** stat. `fh` is set for fstat on an open file. */
  getattr(ctx: FuseContext, nodeid: number, fh: number | undefined): FuseAttr;
  /** chmod/chown/truncate/utimes in one call; `fh` is set for the f* variants. Returns the new attributes. */
  setattr(ctx: FuseContext, nodeid: number, changes: FuseSetattr, fh: number | undefined): FuseAttr;
  /** A symlink's target. */
  readlink(ctx: FuseContext, nodeid: number): string;
  symlink(ctx: FuseContext, parent: number, name: string, target: string): FuseEntry;
  /** Creates a regular file, device, fifo or socket; `mode` carries the type bits. */
  mknod(ctx: FuseContext, parent: number, name: string, mode: number, rdev: number): FuseEntry;
  mkdir(ctx: FuseContext, parent: number, name: string, mode: number): FuseEntry;
  unlink(ctx: FuseContext, parent: number, name: string): void;
  rmdir(ctx: FuseContext, parent: number, name: string): void;
  /** renameat2; `flags` = RENAME_NOREPLACE / RENAME_EXCHANGE / RENAME_WHITEOUT bits (0 for plain rename). */
  rename(ctx: FuseContext, parent: number, name: string, newParent: number, newName: string, flags: number): void;
  /** A new name `newName` in `newParent` for `nodeid`. */
  link(ctx: FuseContext, nodeid: number, newParent: number, newName: string): FuseEntry;
  /** Opens a regular file; `flags` are open(2)'s, without O_CREAT/O_EXCL/O_NOCTTY, with O_TRUNC (atomic truncate). */
  open(ctx: FuseContext, nodeid: number, flags: number): FuseOpened;
  /** open(O_CREAT): creates `name` (the kernel has looked it up and found nothing) and opens it. */
  create(ctx: FuseContext, parent: number, name: string, flags: number, mode: number): { entry: FuseEntry; opened: FuseOpened };
  /** Reads up to `into.length` bytes at `position` into `into` (the reply buffer); returns the count (0 at EOF). */
  read(ctx: FuseContext, nodeid: number, fh: number, into: Buffer, position: number): number;
  /** Writes `data` at `position` (ignored for O_APPEND handles, which append); returns the count written. */
  write(ctx: FuseContext, nodeid: number, fh: number, data: Buffer, position: number): number;
  statfs(ctx: FuseContext, nodeid: number): FuseStatfs;
  /** Last close of an open file (no more requests with this fh). */
  release(ctx: FuseContext, nodeid: number, fh: number): void;
  /**
   * close(2) of one descriptor of the file (may happen several times per handle). Optional: when
   * absent the session answers ENOSYS and the kernel stops sending FLUSH, one round trip less
   * per close (a filesystem that writes through has nothing to flush).
   */
  flush?(ctx: FuseContext, nodeid: number, fh: number): void;
  fsync(ctx: FuseContext, nodeid: number, fh: number, datasync: boolean): void;
  /** `flags`: XATTR_CREATE / XATTR_REPLACE. */
  setxattr(ctx: FuseContext, nodeid: number, name: string, value: Buffer, flags: number): void;
  /** The attribute's value (ENODATA when unset); the session handles size probes and ERANGE. */
  getxattr(ctx: FuseContext, nodeid: number, name: string): Buffer;
  listxattr(ctx: FuseContext, nodeid: number): string[];
  removexattr(ctx: FuseContext, nodeid: number, name: string): void;
  /**
   * A handle for reading the directory. Optional, with releasedir: when absent the session answers
   * ENOSYS and the kernel opens directories without asking from then on (no OPENDIR/RELEASEDIR;
   * READDIR comes with fh 0) and keeps their listings cached until a change it makes or sees.
   */
  opendir?(ctx: FuseContext, nodeid: number, flags: number): number;
  /**
   * Entries of the directory from `offset` (0 = start, otherwise a `next` handed out before),
   * `.` and `..` included; `fh` is opendir's handle, or 0 without opendir. The session stops
   * iterating once the reply is full.
   */
  readdir(ctx: FuseContext, nodeid: number, fh: number, offset: number): Iterable<FuseDirent>;
  releasedir?(ctx: FuseContext, nodeid: number, fh: number): void;
  fsyncdir(ctx: FuseContext, nodeid: number, fh: number, datasync: boolean): void;
  /** access(2) with F_OK/R_OK/W_OK/X_OK `mask` (sent only without default_permissions). */
  access(ctx: FuseContext, nodeid: number, mask: number): void;
  /** The mount is gone (or the server stops): close everything. Called exactly once. */
  destroy(): void;
  /**
   * Nodes whose cached attributes the last request made stale behind the kernel's back (a parent
   * copied up, another name of a written file), with `listing` for a directory whose cached listing
   * is stale too; taking them empties the list. The session tells the kernel with
   * FUSE_NOTIFY_INVAL_INODE before the reply. Optional: a filesystem without such side effects
   * leaves it out.
   */
  takeStaleNodes?(): readonly StaleNode[];
  /**
   * Whether the file of `nodeid` (attributes `attr`, just read) can change through other nodes:
   * it has several names, or had (a name replaced while it stayed open), and is not read-only.
   * With passthrough, the session then never lets the kernel cache its attributes. Optional:
   * without it, a link count above 1 says so.
   */
  sharesFile?(nodeid: number, attr: FuseAttr): boolean;
}
