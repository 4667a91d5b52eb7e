/**
 * The contract of strata's userspace OverlayFS: the types every part of `src/ovl` (the engine, the
 * fs-like API, the FUSE adapter) and its tests agree on. The engine follows the kernel's overlay
 * rules (shared/spec/overlayfs.md, as verified on Linux 6.18) with all layers on one filesystem
 * ("samefs"), the `trusted.overlay.*` xattr namespace, `index=off`, `metacopy=off`, `xino=off`.
 *
 * Two levels, one engine:
 * - `OverlayCore` works on union dentries (`OvlNode`), the way the kernel's VFS and a FUSE server
 *   do: look a name up in a directory node, then act on the node. Every method is synchronous (the
 *   layers are local files; a FUSE server answers one request at a time) and throws `OvlError`.
 * - `Overlay` (api.ts) is the fs/promises-like facade over paths inside the union, for programs that
 *   want to read and change a layer stack without mounting anything.
 */
import type { FileStat } from '../sys/index.js';

/** Whether a lower/merged directory may be renamed (kernel `redirect_dir=`). */
export type RedirectMode =
  /** create redirect xattrs on rename of a lower/merged dir, and follow them */
  | 'on'
  /** follow redirects found in layers, never create them: such a rename is EXDEV (the kernel default here) */
  | 'follow'
  /** ignore redirects in layers; renames are EXDEV */
  | 'nofollow'
  /** same as 'follow' (the kernel's redirect_always_follow=Y) */
  | 'off';

export interface OverlayOptions {
  /** Lower directories, **top first** (as in `lowerdir=A:B`: A is above B). 1 to 500 of them. */
  lowerdirs: string[];
  /** The writable layer. Without it the overlay is read-only and every change fails with EROFS. */
  upperdir?: string;
  /** Scratch dir on the same filesystem as `upperdir` (required with it); `work/work` is created as the kernel does. */
  workdir?: string;
  /** Default `'follow'`. */
  redirectDir?: RedirectMode;
  /** What reaches the disk when (kernel `fsync=`, `volatile` being `fsync=volatile`); default `'auto'`. */
  fsync?: FsyncMode;
}

/**
 * The kernel's `fsync=` modes: what the overlay syncs to the upper filesystem. Without an upper
 * there is nothing to sync, and the mode is `'auto'`.
 */
export type FsyncMode =
  /** a copied-up regular file's data before the copy gets its name; fsync(2) of an upper file or directory */
  | 'auto'
  /** as 'auto', but a copied-up regular file or directory is synced whole, metadata included */
  | 'strict'
  /**
   * nothing: copy-ups, fsync(2) and syncfs(2) sync nothing. The work dir gets
   * `work/incompat/volatile/dirty`, which stays, so that no later mount (the kernel's or strata's)
   * takes an upper dir a crash may have left half-written until the user removes it.
   */
  | 'volatile';

/** File types as in `fs.Dirent`/d_type, named. */
export type OvlFileType = 'file' | 'dir' | 'symlink' | 'fifo' | 'socket' | 'char' | 'block';

/**
 * Attributes of a union object as the kernel overlay reports them (samefs rules): `dev` is the
 * overlay's own device number (one per overlay instance, the same for every object); `ino` is the
 * real inode's number for non-directories, kept across copy-up through the origin; for directories
 * the topmost lower dir's (merged) or the real dir's (pure upper, pure lower), the upper root's for
 * the root. `nlink` is 1 for a merged directory, the real inode's otherwise. The fields are a real
 * file's (src/sys FileStat: `mode` holds the file type and permission bits, as `st_mode`).
 */
export type OvlStat = FileStat;

/**
 * A path or name given to the path API, as Node's fs takes them: a string is UTF-8 text, a Buffer
 * the name's raw bytes (file names need not be UTF-8).
 */
export type OvlPathLike = string | Buffer;

/**
 * One merged directory entry. `OvlDir.read` includes `.` and `..` (the kernel's listing) and gives
 * `name` as a byte string (see `OverlayCore`); `Overlay.readdir` leaves them out, as fs.readdir
 * does, and decodes `name` as UTF-8.
 */
export interface OvlDirent {
  name: string;
  type: OvlFileType;
  /** d_ino: equal to the entry's `OvlStat.ino`. */
  ino: bigint;
}

/** A merged directory entry from `Overlay.readdir(path, { encoding: 'buffer' })`: the name's bytes. */
export interface OvlBufferDirent {
  name: Buffer;
  type: OvlFileType;
  ino: bigint;
}

/** statfs of the union: the upper fs's numbers (the top lower's without upper), `type` 0x794c7630. */
export interface OvlStatfs {
  type: number;
  bsize: number;
  frsize: number;
  blocks: number;
  bfree: number;
  bavail: number;
  files: number;
  ffree: number;
  namelen: number;
}

/** Attribute changes of `setattr` (chmod, chown, truncate, utimes in one call, as FUSE SETATTR). */
export interface OvlSetattr {
  /** Permission bits (and setuid/setgid/sticky); the type bits are ignored. */
  mode?: number;
  uid?: number;
  gid?: number;
  size?: number;
  /** Nanoseconds since the epoch, or 'now'. */
  atimeNs?: bigint | 'now';
  mtimeNs?: bigint | 'now';
}

/** Who creates a new object: it is owned by this uid/gid (the caller's, as the kernel's fsuid/fsgid). */
export interface OvlCaller {
  uid: number;
  gid: number;
  /** Applied to the mode of created objects (the FUSE server passes 0: the kernel already applied it). */
  umask?: number;
}

/** renameat2 flags the union accepts; RENAME_WHITEOUT is EINVAL, as in the kernel overlay. */
export const RENAME_NOREPLACE = 1;
export const RENAME_EXCHANGE = 2;
export const RENAME_WHITEOUT = 4;

/** The overlay's statfs magic (OVERLAYFS_SUPER_MAGIC). */
export const OVERLAYFS_SUPER_MAGIC = 0x794c7630;

/**
 * A failed union operation, shaped like Node's fs errors: `code` is the errno name the kernel
 * overlay would return (`EXDEV`), `errno` the negative number (-18), `syscall` the operation, `path`
 * the union path when known (UTF-8, for display). Message: `EXDEV: cross-device link not permitted, rename '/a' -> '/b'`.
 */
export interface OvlErrorShape extends Error {
  code: string;
  errno: number;
  syscall: string;
  path?: string;
  dest?: string;
}

/**
 * A union dentry: one name in the merged tree. Nodes are handed out by `lookup`/`create`-like calls
 * and stay valid until the object is removed (then operations on it fail with ENOENT, except on
 * files already open, and `getattr` of a directory, which answers what it was, as the kernel's
 * open directory does). A node that was renamed keeps working at its new name. Nodes are the FUSE
 * server's node IDs; two hard-linked names are two nodes with the same `ino`.
 */
export interface OvlNode {
  /** The node's current union path as a byte string, `/` for the root (for messages and the path API). */
  readonly path: string;
}

/** An open regular file. Reads follow the kernel: a read-only handle opened before a copy-up sees the copied-up data. */
export interface OvlFile {
  read(buf: Buffer, offset: number, length: number, position: number): number;
  write(buf: Buffer, offset: number, length: number, position: number): number;
  /** Writes at the end (O_APPEND handles do this for every write). */
  append(buf: Buffer, offset: number, length: number): number;
  truncate(size: number): void;
  /** fsync(2): syncs the file if it is upper now (never a lower one); nothing when the overlay is volatile (the kernel's ovl_fsync). */
  fsync(datasync: boolean): void;
  stat(): OvlStat;
  /**
   * fchmod/fchown/ftruncate/futimens: changes the open file's attributes. While its name exists
   * this is `OverlayCore.setattr` on its node (copy-up included); once the name was removed it
   * changes the real inode the handle holds, as the kernel does for an unlinked open file.
   */
  setattr(attr: OvlSetattr): OvlStat;
  /**
   * The fd of the upper file this handle is open on (null while it still reads a lower file), for a
   * caller that lets the kernel do the I/O itself (FUSE passthrough). Valid until `close`.
   */
  upperFd(): number | null;
  close(): void;
}

/**
 * An open directory: the merged listing is built at the first read (the kernel's rule: lowest
 * layer's entries first, then upper, then middle layers; whiteouts hidden; de-duplicated by the
 * topmost) and cached in the handle; `rewind` rebuilds it if the directory changed since (a
 * per-directory version, as the kernel's readdir cache). Offsets are positions 1..N.
 */
export interface OvlDir {
  /** Entries from position `offset` (0 = start), each with the offset of the entry after it. `.` and `..` included. */
  read(offset: number): { entry: OvlDirent; next: number }[];
  rewind(): void;
  close(): void;
}

/** open(2) flags: the `fs.constants.O_*` values. */
export type OpenFlags = number;

/**
 * The engine, node-level and synchronous (see the file comment). Names, symlink targets and node
 * paths are **byte strings**: one char per byte, as Node's `latin1` encoding gives them
 * (`Buffer.from(name, 'latin1')` is the name's bytes), so names that are not UTF-8 pass through
 * unchanged, as they do through the kernel and FUSE. Xattr names are plain strings.
 */
export interface OverlayCore {
  readonly options: Readonly<OverlayOptions>;
  readonly readOnly: boolean;
  readonly root: OvlNode;

  lookup(dir: OvlNode, name: string): OvlNode;
  getattr(node: OvlNode): OvlStat;
  setattr(node: OvlNode, attr: OvlSetattr): OvlStat;
  readlink(node: OvlNode): string;
  /** Creates a regular file, fifo, socket or device (`mode` carries the type); a char 0:0 is EPERM. */
  mknod(dir: OvlNode, name: string, mode: number, rdev: number, caller: OvlCaller): OvlNode;
  mkdir(dir: OvlNode, name: string, mode: number, caller: OvlCaller): OvlNode;
  symlink(dir: OvlNode, name: string, target: string, caller: OvlCaller): OvlNode;
  unlink(dir: OvlNode, name: string): void;
  rmdir(dir: OvlNode, name: string): void;
  rename(dir: OvlNode, name: string, newDir: OvlNode, newName: string, flags: number): void;
  link(node: OvlNode, newDir: OvlNode, newName: string): OvlNode;
  open(node: OvlNode, flags: OpenFlags): OvlFile;
  /** open(O_CREAT) of a name: creates it (or opens the existing one unless O_EXCL). */
  create(dir: OvlNode, name: string, flags: OpenFlags, mode: number, caller: OvlCaller): { node: OvlNode; file: OvlFile };
  opendir(node: OvlNode): OvlDir;
  getxattr(node: OvlNode, name: string): Buffer;
  listxattr(node: OvlNode): string[];
  setxattr(node: OvlNode, name: string, value: Buffer, flags: number): void;
  removexattr(node: OvlNode, name: string): void;
  statfs(): OvlStatfs;
  /**
   * fsync(2) (`datasync`: fdatasync) of an open directory: syncs its upper dir, if it has one now;
   * a lower one is never synced. Nothing when the overlay is volatile (the kernel's ovl_dir_fsync).
   */
  fsyncdir(node: OvlNode, datasync: boolean): void;
  /** syncfs(2): flushes the upper filesystem to disk; nothing when volatile or read-only (the kernel's ovl_sync_fs). */
  syncfs(): void;
  /**
   * Whether the object is in the upper layer already (created there, or copied up), as opposed to
   * still being only a lower layer's. For an open file: where its data now comes from (a read-only
   * handle opened on a lower file follows the copy-up). A removed node answers for what it was.
   */
  isUpper(target: OvlNode | OvlFile): boolean;
  /**
   * Called with every node whose attributes (`getattr`) an operation changed: its own target, a
   * parent copied up on the way, the source of a link, a name losing a link, a file written
   * through an open handle. `listing` is true when a directory's listing may have changed too
   * (a directory copied up: whiteouts in a lone lower dir stop showing once it merges). For
   * callers that cache per node (the FUSE server tells the kernel which of its cached nodes went
   * stale). Other names of the same inode are not listed: the engine does not track them.
   * Default null.
   */
  onAttrChange: ((node: OvlNode, listing: boolean) => void) | null;
  /** Drops the engine's caches and closes every open handle's fd. */
  close(): void;
}

/** An open file of the path API (fs/promises' FileHandle, reduced). `position` null = the handle's own offset. */
export interface OverlayFileHandle {
  read(buf: Buffer, offset?: number, length?: number, position?: number | null): Promise<{ bytesRead: number }>;
  write(buf: Buffer, offset?: number, length?: number, position?: number | null): Promise<{ bytesWritten: number }>;
  truncate(size?: number): Promise<void>;
  sync(): Promise<void>;
  stat(): Promise<OvlStat>;
  close(): Promise<void>;
}

/**
 * The fs/promises-like API over union paths (`/a/b`, always from the union's root; `..` never
 * leaves it; strings are UTF-8, Buffers raw bytes). Intermediate symlinks are followed inside the union, as if it were chroot'ed; `stat`
 * and `chown`/`chmod`/`utimes` follow a final symlink, `lstat`/`lchown`/`lutimes`, `readlink` and
 * the xattr calls do not. Errors are `OvlErrorShape`s with the kernel overlay's errno. Created
 * objects belong to `caller` (default: this process's uid/gid, umask 0). No permission checks:
 * callers act as root, as strata's tools do.
 */
export interface Overlay {
  readonly core: OverlayCore;
  stat(path: OvlPathLike): Promise<OvlStat>;
  lstat(path: OvlPathLike): Promise<OvlStat>;
  /** Names decoded as UTF-8 (bytes that are not become U+FFFD, as with fs.readdir); `{ encoding: 'buffer' }` gives the bytes. */
  readdir(path: OvlPathLike): Promise<OvlDirent[]>;
  readdir(path: OvlPathLike, options: { encoding: 'buffer' }): Promise<OvlBufferDirent[]>;
  readFile(path: OvlPathLike): Promise<Buffer>;
  writeFile(path: OvlPathLike, data: Buffer | string, opts?: { mode?: number }): Promise<void>;
  /** `flags` as fs.open's: a number (O_*) or a string ('r', 'r+', 'w', 'wx', 'a', ...). */
  open(path: OvlPathLike, flags?: number | string, mode?: number): Promise<OverlayFileHandle>;
  truncate(path: OvlPathLike, size?: number): Promise<void>;
  mkdir(path: OvlPathLike, mode?: number): Promise<void>;
  rmdir(path: OvlPathLike): Promise<void>;
  unlink(path: OvlPathLike): Promise<void>;
  /** renameat2 flags: RENAME_NOREPLACE, RENAME_EXCHANGE (RENAME_WHITEOUT is EINVAL). */
  rename(from: OvlPathLike, to: OvlPathLike, flags?: number): Promise<void>;
  link(existing: OvlPathLike, newPath: OvlPathLike): Promise<void>;
  symlink(target: OvlPathLike, path: OvlPathLike): Promise<void>;
  readlink(path: OvlPathLike): Promise<string>;
  readlink(path: OvlPathLike, options: { encoding: 'buffer' }): Promise<Buffer>;
  mknod(path: OvlPathLike, mode: number, rdev?: number): Promise<void>;
  chmod(path: OvlPathLike, mode: number): Promise<void>;
  chown(path: OvlPathLike, uid: number, gid: number): Promise<void>;
  lchown(path: OvlPathLike, uid: number, gid: number): Promise<void>;
  utimes(path: OvlPathLike, atimeNs: bigint | 'now', mtimeNs: bigint | 'now'): Promise<void>;
  lutimes(path: OvlPathLike, atimeNs: bigint | 'now', mtimeNs: bigint | 'now'): Promise<void>;
  getxattr(path: OvlPathLike, name: string): Promise<Buffer>;
  setxattr(path: OvlPathLike, name: string, value: Buffer, flags?: number): Promise<void>;
  listxattr(path: OvlPathLike): Promise<string[]>;
  removexattr(path: OvlPathLike, name: string): Promise<void>;
  statfs(): Promise<OvlStatfs>;
  /** syncfs(2) of the union: flushes the upper filesystem to disk (OverlayCore.syncfs). */
  syncfs(): Promise<void>;
  close(): Promise<void>;
}
