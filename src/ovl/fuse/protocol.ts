/**
 * The kernel's FUSE wire format (include/uapi/linux/fuse.h), as far as strata speaks it: opcodes,
 * flag bits, struct sizes, and little functions that decode a request and encode a reply in place.
 *
 * Every message on /dev/fuse is one read or one write. A request is a 40-byte `fuse_in_header`
 * followed by the opcode's argument struct and, for some opcodes, NUL-terminated names or data. A
 * reply is a 16-byte `fuse_out_header` (`error` = 0 or a negative errno) followed by the reply struct.
 * All integers are little-endian on the machines strata runs on (x86-64, arm64); the sizes below are
 * those of protocol minor 7.23+, where no struct changes size any more.
 */
import { MalformedRequestError } from './errors.js';

/** The protocol major version; the kernel refuses any other. */
export const FUSE_KERNEL_VERSION = 7;
/** The newest minor this server implements (the layouts of fuse.h 7.38). */
export const FUSE_SERVER_MINOR = 38;
/** The oldest kernel minor accepted: 7.31 (Linux 5.4) has everything the server relies on. */
export const FUSE_MIN_MINOR = 31;
/** The node ID of the root directory. */
export const FUSE_ROOT_ID = 1;

/** Request opcodes. */
export const Opcode = {
  LOOKUP: 1,
  FORGET: 2,
  GETATTR: 3,
  SETATTR: 4,
  READLINK: 5,
  SYMLINK: 6,
  MKNOD: 8,
  MKDIR: 9,
  UNLINK: 10,
  RMDIR: 11,
  RENAME: 12,
  LINK: 13,
  OPEN: 14,
  READ: 15,
  WRITE: 16,
  STATFS: 17,
  RELEASE: 18,
  FSYNC: 20,
  SETXATTR: 21,
  GETXATTR: 22,
  LISTXATTR: 23,
  REMOVEXATTR: 24,
  FLUSH: 25,
  INIT: 26,
  OPENDIR: 27,
  READDIR: 28,
  RELEASEDIR: 29,
  FSYNCDIR: 30,
  GETLK: 31,
  SETLK: 32,
  SETLKW: 33,
  ACCESS: 34,
  CREATE: 35,
  INTERRUPT: 36,
  BMAP: 37,
  DESTROY: 38,
  IOCTL: 39,
  POLL: 40,
  NOTIFY_REPLY: 41,
  BATCH_FORGET: 42,
  FALLOCATE: 43,
  READDIRPLUS: 44,
  RENAME2: 45,
  LSEEK: 46,
  COPY_FILE_RANGE: 47,
  SETUPMAPPING: 48,
  REMOVEMAPPING: 49,
  SYNCFS: 50,
  TMPFILE: 51,
  STATX: 52,
} as const;

/** Opcode number → name, for debug logs. */
export const OPCODE_NAMES: ReadonlyMap<number, string> = new Map(Object.entries(Opcode).map(([name, n]) => [n, name]));

/** FUSE_INIT flag bits (the low 32; the high word travels in `flags2`, which strata does not need). */
export const InitFlag = {
  ASYNC_READ: 1 << 0,
  POSIX_LOCKS: 1 << 1,
  ATOMIC_O_TRUNC: 1 << 3,
  EXPORT_SUPPORT: 1 << 4,
  BIG_WRITES: 1 << 5,
  DONT_MASK: 1 << 6,
  SPLICE_WRITE: 1 << 7,
  SPLICE_MOVE: 1 << 8,
  SPLICE_READ: 1 << 9,
  FLOCK_LOCKS: 1 << 10,
  AUTO_INVAL_DATA: 1 << 12,
  DO_READDIRPLUS: 1 << 13,
  READDIRPLUS_AUTO: 1 << 14,
  ASYNC_DIO: 1 << 15,
  WRITEBACK_CACHE: 1 << 16,
  PARALLEL_DIROPS: 1 << 18,
  HANDLE_KILLPRIV: 1 << 19,
  POSIX_ACL: 1 << 20,
  ABORT_ERROR: 1 << 21,
  MAX_PAGES: 1 << 22,
  CACHE_SYMLINKS: 1 << 23,
  INIT_EXT: 1 << 30,
} as const;

/** INIT flags above bit 31, as fuse_init_in/out.flags2 carry them (valid with INIT_EXT). */
export const InitFlag2 = {
  /** Bit 37: OPEN/CREATE replies may name a backing file the kernel reads and writes directly. */
  PASSTHROUGH: 1 << (37 - 32),
} as const;

/** How deep the filesystems under a passthrough backing file may stack (FILESYSTEM_MAX_STACK_DEPTH is 2). */
export const PASSTHROUGH_STACK_DEPTH = 1;

/** fuse_setattr_in.valid bits. */
export const Fattr = {
  MODE: 1 << 0,
  UID: 1 << 1,
  GID: 1 << 2,
  SIZE: 1 << 3,
  ATIME: 1 << 4,
  MTIME: 1 << 5,
  FH: 1 << 6,
  ATIME_NOW: 1 << 7,
  MTIME_NOW: 1 << 8,
  LOCKOWNER: 1 << 9,
  CTIME: 1 << 10,
  KILL_SUIDGID: 1 << 11,
} as const;

/** fuse_open_out.open_flags bits. */
export const FOPEN_DIRECT_IO = 1 << 0;
export const FOPEN_KEEP_CACHE = 1 << 1;
/** Opened directory: the kernel may cache its listing (with KEEP_CACHE, across opens). */
export const FOPEN_CACHE_DIR = 1 << 3;
/** Opened file: reads, writes and mmap go to the backing file named by `backing_id` (7.40). */
export const FOPEN_PASSTHROUGH = 1 << 7;
/** fuse_getattr_in.getattr_flags: `fh` is valid (fstat). */
export const FUSE_GETATTR_FH = 1 << 0;
/** fuse_fsync_in.fsync_flags: fdatasync. */
export const FUSE_FSYNC_FDATASYNC = 1 << 0;

export const IN_HEADER_SIZE = 40;
export const OUT_HEADER_SIZE = 16;
export const ATTR_SIZE = 88;
export const ENTRY_OUT_SIZE = 40 + ATTR_SIZE;
export const ATTR_OUT_SIZE = 16 + ATTR_SIZE;
export const OPEN_OUT_SIZE = 16;
export const WRITE_OUT_SIZE = 8;
export const STATFS_OUT_SIZE = 80;
export const INIT_OUT_SIZE = 64;
export const GETXATTR_OUT_SIZE = 8;
/** fuse_dirent without its name: ino, off, namelen, type. */
export const DIRENT_BASE_SIZE = 24;
/** fuse_setxattr_in as sent when FUSE_SETXATTR_EXT was not negotiated: size, flags. */
export const SETXATTR_IN_SIZE = 8;
/** fuse_read_in and fuse_write_in. */
export const READ_IN_SIZE = 40;
export const WRITE_IN_SIZE = 40;

/** d_type values of fuse_dirent.type (the S_IFMT bits shifted right by 12). */
export const DT_FIFO = 1;
export const DT_CHR = 2;
export const DT_DIR = 4;
export const DT_BLK = 6;
export const DT_REG = 8;
export const DT_LNK = 10;
export const DT_SOCK = 12;

/** The fixed part of every request. `nodeid` and `unique` fit a JS number: the kernel counts them up from 1. */
export interface InHeader {
  /** Length of the whole request, header included. */
  len: number;
  opcode: number;
  unique: bigint;
  nodeid: number;
  uid: number;
  gid: number;
  pid: number;
  /** Length of request extensions (security context, groups) at the end, in 8-byte units. */
  totalExtlen: number;
}

// ---- byte access ---------------------------------------------------------------------------------
//
// Through a DataView, not Buffer's read/write methods: DataView's accessors are V8 builtins, fast
// from the first call, while Buffer's are JavaScript that runs in the interpreter until V8 has
// optimised it — several µs per reply on a fresh mount (an attr reply: ~8 µs with Buffer methods
// over the first thousand calls, ~1 µs through a DataView).

const views = new WeakMap<ArrayBufferLike, DataView>();

/** A DataView over all of `buf`'s memory (offsets into it are `buf.byteOffset` + an offset in `buf`). */
function viewOf(buf: Buffer): DataView {
  let v = views.get(buf.buffer);
  if (v === undefined) views.set(buf.buffer, (v = new DataView(buf.buffer)));
  return v;
}

/**
 * A buffer for FUSE messages of up to `size` bytes, its DataView made now. Made on first use, the
 * view of a buffer first used long after the mount (the notice buffer, at the first invalidation)
 * would send the encoders, optimised by then, back to the interpreter for a thousand requests.
 */
export function messageBuffer(size: number): Buffer {
  const buf = Buffer.allocUnsafeSlow(size);
  viewOf(buf);
  return buf;
}

const TWO_32 = 2 ** 32;

/** A u64 below 2^53 (sizes, offsets, node IDs, handles) as two u32 halves: no BigInt. */
function setU64(v: DataView, at: number, n: number): void {
  v.setUint32(at, n % TWO_32, true);
  v.setUint32(at + 4, Math.floor(n / TWO_32), true);
}

function getU64(v: DataView, at: number): number {
  return v.getUint32(at, true) + v.getUint32(at + 4, true) * TWO_32;
}

/** Decodes the fuse_in_header at the start of `buf`. */
export function decodeInHeader(buf: Buffer): InHeader {
  const v = viewOf(buf);
  const at = buf.byteOffset;
  return {
    len: v.getUint32(at, true),
    opcode: v.getUint32(at + 4, true),
    unique: v.getBigUint64(at + 8, true),
    nodeid: getU64(v, at + 16),
    uid: v.getUint32(at + 24, true),
    gid: v.getUint32(at + 28, true),
    pid: v.getUint32(at + 32, true),
    totalExtlen: v.getUint16(at + 36, true),
  };
}

/** Writes a fuse_out_header: `error` is 0 or a negative errno; `len` counts the header too. */
export function encodeOutHeader(buf: Buffer, len: number, error: number, unique: bigint): void {
  const v = viewOf(buf);
  const at = buf.byteOffset;
  v.setUint32(at, len, true);
  v.setInt32(at + 4, error, true);
  v.setBigUint64(at + 8, unique, true);
}

/** fuse_notify_code: FUSE_NOTIFY_INVAL_INODE, sent in the out header's error field with unique 0. */
export const NOTIFY_INVAL_INODE = 2;
export const NOTIFY_INVAL_INODE_SIZE = OUT_HEADER_SIZE + 24;

/**
 * An unsolicited FUSE_NOTIFY_INVAL_INODE for `nodeid`: its cached attributes are stale; with
 * `offset` < 0 its cached pages are left alone (so the kernel takes no page lock, and the message
 * can go out while other requests of that inode wait for us). Returns the message length.
 */
export function encodeInvalInode(buf: Buffer, nodeid: number, offset = -1, length = 0): number {
  encodeOutHeader(buf, NOTIFY_INVAL_INODE_SIZE, NOTIFY_INVAL_INODE, 0n);
  const v = viewOf(buf);
  const at = buf.byteOffset + OUT_HEADER_SIZE;
  setU64(v, at, nodeid);
  v.setBigInt64(at + 8, BigInt(offset), true);
  v.setBigInt64(at + 16, BigInt(length), true);
  return NOTIFY_INVAL_INODE_SIZE;
}

/**
 * A cursor over a request's arguments: the bytes of `buf` from `start` to `end` (after the header,
 * extensions excluded). Reading past the end throws a MalformedRequestError, which the session
 * answers with EINVAL.
 */
export class ArgReader {
  private readonly view: DataView;
  private pos: number;

  constructor(
    private readonly buf: Buffer,
    start = 0,
    private readonly end = buf.length,
  ) {
    this.view = viewOf(buf);
    this.pos = start;
  }

  private need(n: number, what: string): void {
    if (this.pos + n > this.end) throw new MalformedRequestError(`FUSE request shorter than its ${what}`);
  }

  u32(): number {
    this.need(4, 'argument struct');
    const v = this.view.getUint32(this.buf.byteOffset + this.pos, true);
    this.pos += 4;
    return v;
  }

  /** A u64 that the server uses as a number (offsets, sizes, handles, node IDs: all below 2^53). */
  u64(): number {
    this.need(8, 'argument struct');
    const v = getU64(this.view, this.buf.byteOffset + this.pos);
    this.pos += 8;
    return v;
  }

  u64n(): bigint {
    this.need(8, 'argument struct');
    const v = this.view.getBigUint64(this.buf.byteOffset + this.pos, true);
    this.pos += 8;
    return v;
  }

  /** Bytes left to read. */
  get remaining(): number {
    return this.end - this.pos;
  }

  skip(n: number): void {
    this.need(n, 'argument struct');
    this.pos += n;
  }

  /**
   * A NUL-terminated file name or symlink target as a byte string (latin1: one char per byte), the
   * engine's form, so names that are not UTF-8 pass through unchanged.
   */
  name(): string {
    return this.cstring('latin1');
  }

  /** A NUL-terminated xattr name, as text. */
  text(): string {
    return this.cstring('utf8');
  }

  private cstring(encoding: 'latin1' | 'utf8'): string {
    const nul = this.buf.indexOf(0, this.pos);
    if (nul < 0 || nul >= this.end) throw new MalformedRequestError('FUSE request name without its NUL terminator');
    const s = this.buf.toString(encoding, this.pos, nul);
    this.pos = nul + 1;
    return s;
  }

  /** `n` raw bytes (a view into the request buffer: valid until the next request is read). */
  bytes(n: number): Buffer {
    this.need(n, 'data');
    const b = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return b;
  }
}

/** The attributes a reply carries (fuse_attr). Times are nanoseconds since the epoch. */
export interface WireAttr {
  ino: bigint;
  size: number;
  blocks: number;
  atimeNs: bigint;
  mtimeNs: bigint;
  ctimeNs: bigint;
  mode: number;
  nlink: number;
  uid: number;
  gid: number;
  rdev: number;
  blksize: number;
}

const NS_PER_SEC = 1_000_000_000n;

/**
 * Writes nanoseconds since the epoch as seconds (u64 two's complement) at `secAt` and nanoseconds
 * (0..999999999) at `nsecAt`.
 */
function setTime(v: DataView, secAt: number, nsecAt: number, ns: bigint): void {
  let sec = ns / NS_PER_SEC;
  let nsec = ns % NS_PER_SEC;
  if (nsec < 0n) {
    nsec += NS_PER_SEC;
    sec -= 1n;
  }
  v.setBigInt64(secAt, sec, true);
  v.setUint32(nsecAt, Number(nsec), true);
}

/** Writes a fuse_attr at `off`; returns the offset after it. */
export function encodeAttr(buf: Buffer, off: number, a: WireAttr): number {
  const v = viewOf(buf);
  const at = buf.byteOffset + off;
  v.setBigUint64(at, a.ino, true);
  setU64(v, at + 8, a.size);
  setU64(v, at + 16, a.blocks);
  setTime(v, at + 24, at + 48, a.atimeNs);
  setTime(v, at + 32, at + 52, a.mtimeNs);
  setTime(v, at + 40, at + 56, a.ctimeNs);
  v.setUint32(at + 60, a.mode >>> 0, true);
  v.setUint32(at + 64, a.nlink >>> 0, true);
  v.setUint32(at + 68, a.uid >>> 0, true);
  v.setUint32(at + 72, a.gid >>> 0, true);
  v.setUint32(at + 76, a.rdev >>> 0, true);
  v.setUint32(at + 80, a.blksize >>> 0, true);
  v.setUint32(at + 84, 0, true); // flags: no submount, no DAX
  return off + ATTR_SIZE;
}

/** A cache timeout as the protocol carries it: whole seconds plus nanoseconds. */
export interface WireTimeout {
  sec: bigint;
  nsec: number;
}

/** Converts a timeout in (possibly fractional) seconds; negative or NaN counts as 0. */
export function toWireTimeout(seconds: number): WireTimeout {
  if (!(seconds > 0)) return { sec: 0n, nsec: 0 };
  const whole = Math.floor(seconds);
  return { sec: BigInt(whole), nsec: Math.min(999_999_999, Math.round((seconds - whole) * 1e9)) };
}

/**
 * Writes a fuse_entry_out at `off` (node ID, generation 0: strata never reuses a node ID, cache
 * timeouts, attributes); returns the offset after it. Node ID 0 with zeroed attributes is the
 * "no entry" form READDIRPLUS uses for `.` and `..`.
 */
export function encodeEntryOut(buf: Buffer, off: number, nodeid: number, attr: WireAttr | null, entry: WireTimeout, attrTo: WireTimeout): number {
  if (attr === null) {
    buf.fill(0, off, off + ENTRY_OUT_SIZE);
    return off + ENTRY_OUT_SIZE;
  }
  const v = viewOf(buf);
  const at = buf.byteOffset + off;
  setU64(v, at, nodeid);
  setU64(v, at + 8, 0);
  v.setBigUint64(at + 16, entry.sec, true);
  v.setBigUint64(at + 24, attrTo.sec, true);
  v.setUint32(at + 32, entry.nsec, true);
  v.setUint32(at + 36, attrTo.nsec, true);
  return encodeAttr(buf, off + 40, attr);
}

/**
 * Writes a negative fuse_entry_out at `off`: node ID 0 and no attributes, with an entry timeout
 * (the kernel remembers the name as missing for that long); returns the offset after it.
 */
export function encodeNegativeEntryOut(buf: Buffer, off: number, entry: WireTimeout): number {
  encodeEntryOut(buf, off, 0, null, entry, entry);
  const v = viewOf(buf);
  const at = buf.byteOffset + off;
  v.setBigUint64(at + 16, entry.sec, true);
  v.setUint32(at + 32, entry.nsec, true);
  return off + ENTRY_OUT_SIZE;
}

/** Writes a fuse_write_out or fuse_getxattr_out (a u32 size, 4 bytes of padding); returns the offset after it. */
export function encodeSizeOut(buf: Buffer, off: number, size: number): number {
  const v = viewOf(buf);
  const at = buf.byteOffset + off;
  v.setUint32(at, size >>> 0, true);
  v.setUint32(at + 4, 0, true);
  return off + WRITE_OUT_SIZE; // = GETXATTR_OUT_SIZE
}

/** Writes a fuse_attr_out at `off`; returns the offset after it. */
export function encodeAttrOut(buf: Buffer, off: number, attr: WireAttr, attrTo: WireTimeout): number {
  const v = viewOf(buf);
  const at = buf.byteOffset + off;
  v.setBigUint64(at, attrTo.sec, true);
  v.setUint32(at + 8, attrTo.nsec, true);
  v.setUint32(at + 12, 0, true);
  return encodeAttr(buf, off + 16, attr);
}

/** Writes a fuse_open_out (`backingId` with FOPEN_PASSTHROUGH); returns the offset after it. */
export function encodeOpenOut(buf: Buffer, off: number, fh: number, openFlags: number, backingId = 0): number {
  const v = viewOf(buf);
  const at = buf.byteOffset + off;
  setU64(v, at, fh);
  v.setUint32(at + 8, openFlags >>> 0, true);
  v.setInt32(at + 12, backingId, true);
  return off + OPEN_OUT_SIZE;
}

/** statfs numbers as fuse_kstatfs carries them. */
export interface WireStatfs {
  blocks: number;
  bfree: number;
  bavail: number;
  files: number;
  ffree: number;
  bsize: number;
  namelen: number;
  frsize: number;
}

/** Writes a fuse_statfs_out; returns the offset after it. */
export function encodeStatfsOut(buf: Buffer, off: number, s: WireStatfs): number {
  buf.fill(0, off, off + STATFS_OUT_SIZE);
  const v = viewOf(buf);
  const at = buf.byteOffset + off;
  setU64(v, at, s.blocks);
  setU64(v, at + 8, s.bfree);
  setU64(v, at + 16, s.bavail);
  setU64(v, at + 24, s.files);
  setU64(v, at + 32, s.ffree);
  v.setUint32(at + 40, s.bsize >>> 0, true);
  v.setUint32(at + 44, s.namelen >>> 0, true);
  v.setUint32(at + 48, s.frsize >>> 0, true);
  return off + STATFS_OUT_SIZE;
}

/** The size of one fuse_dirent with a name of `nameLen` bytes, padded to 8 bytes. */
export function direntSize(nameLen: number): number {
  return (DIRENT_BASE_SIZE + nameLen + 7) & ~7;
}

/** Writes one fuse_dirent (padding zeroed); returns the offset after it. `next` is the offset of the following entry. */
export function encodeDirent(buf: Buffer, off: number, ino: bigint, next: number, type: number, name: Buffer): number {
  const size = direntSize(name.length);
  const v = viewOf(buf);
  const at = buf.byteOffset + off;
  v.setBigUint64(at, ino, true);
  setU64(v, at + 8, next);
  v.setUint32(at + 16, name.length, true);
  v.setUint32(at + 20, type, true);
  name.copy(buf, off + DIRENT_BASE_SIZE);
  buf.fill(0, off + DIRENT_BASE_SIZE + name.length, off + size);
  return off + size;
}

/** fuse_init_in as the kernel sends it (`flags2` is 0 unless `flags` has INIT_EXT). */
export interface InitIn {
  major: number;
  minor: number;
  maxReadahead: number;
  flags: number;
  flags2: number;
}

export function decodeInitIn(args: ArgReader): InitIn {
  const [major, minor, maxReadahead, flags] = [args.u32(), args.u32(), args.u32(), args.u32()];
  // kernels before 5.17 send the 16-byte struct of minor < 36: no flags2
  const flags2 = flags & InitFlag.INIT_EXT && args.remaining >= 4 ? args.u32() : 0;
  return { major, minor, maxReadahead, flags, flags2 };
}

/** fuse_init_out as strata answers. */
export interface InitOut {
  major: number;
  minor: number;
  maxReadahead: number;
  flags: number;
  maxWrite: number;
  /** Timestamp granularity in ns: 1, the layers keep nanoseconds. */
  timeGran: number;
  maxPages: number;
  /** INIT flags above bit 31 (sent with INIT_EXT in `flags`). */
  flags2: number;
  /** With PASSTHROUGH: how deep the backing files' filesystems may stack. */
  maxStackDepth: number;
}

/** Writes a fuse_init_out (64 bytes, the size for minor ≥ 23); returns the offset after it. */
export function encodeInitOut(buf: Buffer, off: number, o: InitOut): number {
  buf.fill(0, off, off + INIT_OUT_SIZE);
  const v = viewOf(buf);
  const at = buf.byteOffset + off;
  v.setUint32(at, o.major, true);
  v.setUint32(at + 4, o.minor, true);
  v.setUint32(at + 8, o.maxReadahead >>> 0, true);
  v.setUint32(at + 12, o.flags >>> 0, true);
  // max_background, congestion_threshold (u16 each): 0 keeps the kernel's defaults
  v.setUint32(at + 20, o.maxWrite >>> 0, true);
  v.setUint32(at + 24, o.timeGran, true);
  v.setUint16(at + 28, o.maxPages, true);
  // map_alignment: 0
  v.setUint32(at + 32, o.flags2 >>> 0, true);
  v.setUint32(at + 36, o.maxStackDepth, true);
  return off + INIT_OUT_SIZE;
}
