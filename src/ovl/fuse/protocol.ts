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

/** Decodes the fuse_in_header at the start of `buf`. */
export function decodeInHeader(buf: Buffer): InHeader {
  return {
    len: buf.readUInt32LE(0),
    opcode: buf.readUInt32LE(4),
    unique: buf.readBigUInt64LE(8),
    nodeid: Number(buf.readBigUInt64LE(16)),
    uid: buf.readUInt32LE(24),
    gid: buf.readUInt32LE(28),
    pid: buf.readUInt32LE(32),
    totalExtlen: buf.readUInt16LE(36),
  };
}

/** Writes a fuse_out_header: `error` is 0 or a negative errno; `len` counts the header too. */
export function encodeOutHeader(buf: Buffer, len: number, error: number, unique: bigint): void {
  buf.writeUInt32LE(len, 0);
  buf.writeInt32LE(error, 4);
  buf.writeBigUInt64LE(unique, 8);
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
  buf.writeBigUInt64LE(BigInt(nodeid), OUT_HEADER_SIZE);
  buf.writeBigInt64LE(BigInt(offset), OUT_HEADER_SIZE + 8);
  buf.writeBigInt64LE(BigInt(length), OUT_HEADER_SIZE + 16);
  return NOTIFY_INVAL_INODE_SIZE;
}

/**
 * A cursor over a request's arguments (the bytes after the header, extensions excluded).
 * Reading past the end throws a MalformedRequestError, which the session answers with EINVAL.
 */
export class ArgReader {
  private pos = 0;
  constructor(private readonly buf: Buffer) {}

  private need(n: number, what: string): void {
    if (this.pos + n > this.buf.length) throw new MalformedRequestError(`FUSE request shorter than its ${what}`);
  }

  u32(): number {
    this.need(4, 'argument struct');
    const v = this.buf.readUInt32LE(this.pos);
    this.pos += 4;
    return v;
  }

  /** A u64 that the server uses as a number (offsets, sizes, handles, node IDs: all below 2^53). */
  u64(): number {
    return Number(this.u64n());
  }

  u64n(): bigint {
    this.need(8, 'argument struct');
    const v = this.buf.readBigUInt64LE(this.pos);
    this.pos += 8;
    return v;
  }

  /** Bytes left to read. */
  get remaining(): number {
    return this.buf.length - this.pos;
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
    const end = this.buf.indexOf(0, this.pos);
    if (end < 0) throw new MalformedRequestError('FUSE request name without its NUL terminator');
    const s = this.buf.toString(encoding, this.pos, end);
    this.pos = end + 1;
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

/** Splits nanoseconds since the epoch into (seconds as u64 two's complement, nanoseconds 0..999999999). */
function splitNs(ns: bigint): [bigint, number] {
  let sec = ns / 1_000_000_000n;
  let nsec = ns % 1_000_000_000n;
  if (nsec < 0n) {
    nsec += 1_000_000_000n;
    sec -= 1n;
  }
  return [BigInt.asUintN(64, sec), Number(nsec)];
}

/** Writes a fuse_attr at `off`; returns the offset after it. */
export function encodeAttr(buf: Buffer, off: number, a: WireAttr): number {
  const [as, an] = splitNs(a.atimeNs);
  const [ms, mn] = splitNs(a.mtimeNs);
  const [cs, cn] = splitNs(a.ctimeNs);
  buf.writeBigUInt64LE(BigInt.asUintN(64, a.ino), off);
  buf.writeBigUInt64LE(BigInt(a.size), off + 8);
  buf.writeBigUInt64LE(BigInt(a.blocks), off + 16);
  buf.writeBigUInt64LE(as, off + 24);
  buf.writeBigUInt64LE(ms, off + 32);
  buf.writeBigUInt64LE(cs, off + 40);
  buf.writeUInt32LE(an, off + 48);
  buf.writeUInt32LE(mn, off + 52);
  buf.writeUInt32LE(cn, off + 56);
  buf.writeUInt32LE(a.mode >>> 0, off + 60);
  buf.writeUInt32LE(a.nlink >>> 0, off + 64);
  buf.writeUInt32LE(a.uid >>> 0, off + 68);
  buf.writeUInt32LE(a.gid >>> 0, off + 72);
  buf.writeUInt32LE(a.rdev >>> 0, off + 76);
  buf.writeUInt32LE(a.blksize >>> 0, off + 80);
  buf.writeUInt32LE(0, off + 84); // flags: no submount, no DAX
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
  buf.writeBigUInt64LE(BigInt(nodeid), off);
  buf.writeBigUInt64LE(0n, off + 8);
  buf.writeBigUInt64LE(entry.sec, off + 16);
  buf.writeBigUInt64LE(attrTo.sec, off + 24);
  buf.writeUInt32LE(entry.nsec, off + 32);
  buf.writeUInt32LE(attrTo.nsec, off + 36);
  return encodeAttr(buf, off + 40, attr);
}

/** Writes a fuse_attr_out at `off`; returns the offset after it. */
export function encodeAttrOut(buf: Buffer, off: number, attr: WireAttr, attrTo: WireTimeout): number {
  buf.writeBigUInt64LE(attrTo.sec, off);
  buf.writeUInt32LE(attrTo.nsec, off + 8);
  buf.writeUInt32LE(0, off + 12);
  return encodeAttr(buf, off + 16, attr);
}

/** Writes a fuse_open_out (`backingId` with FOPEN_PASSTHROUGH); returns the offset after it. */
export function encodeOpenOut(buf: Buffer, off: number, fh: number, openFlags: number, backingId = 0): number {
  buf.writeBigUInt64LE(BigInt(fh), off);
  buf.writeUInt32LE(openFlags >>> 0, off + 8);
  buf.writeInt32LE(backingId, off + 12);
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
  buf.writeBigUInt64LE(BigInt(s.blocks), off);
  buf.writeBigUInt64LE(BigInt(s.bfree), off + 8);
  buf.writeBigUInt64LE(BigInt(s.bavail), off + 16);
  buf.writeBigUInt64LE(BigInt(s.files), off + 24);
  buf.writeBigUInt64LE(BigInt(s.ffree), off + 32);
  buf.writeUInt32LE(s.bsize >>> 0, off + 40);
  buf.writeUInt32LE(s.namelen >>> 0, off + 44);
  buf.writeUInt32LE(s.frsize >>> 0, off + 48);
  return off + STATFS_OUT_SIZE;
}

/** The size of one fuse_dirent with a name of `nameLen` bytes, padded to 8 bytes. */
export function direntSize(nameLen: number): number {
  return (DIRENT_BASE_SIZE + nameLen + 7) & ~7;
}

/** Writes one fuse_dirent (padding zeroed); returns the offset after it. `next` is the offset of the following entry. */
export function encodeDirent(buf: Buffer, off: number, ino: bigint, next: number, type: number, name: Buffer): number {
  const size = direntSize(name.length);
  buf.writeBigUInt64LE(BigInt.asUintN(64, ino), off);
  buf.writeBigUInt64LE(BigInt(next), off + 8);
  buf.writeUInt32LE(name.length, off + 16);
  buf.writeUInt32LE(type, off + 20);
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
  buf.writeUInt32LE(o.major, off);
  buf.writeUInt32LE(o.minor, off + 4);
  buf.writeUInt32LE(o.maxReadahead >>> 0, off + 8);
  buf.writeUInt32LE(o.flags >>> 0, off + 12);
  // max_background, congestion_threshold (u16 each): 0 keeps the kernel's defaults
  buf.writeUInt32LE(o.maxWrite >>> 0, off + 20);
  buf.writeUInt32LE(o.timeGran, off + 24);
  buf.writeUInt16LE(o.maxPages, off + 28);
  // map_alignment: 0
  buf.writeUInt32LE(o.flags2 >>> 0, off + 32);
  buf.writeUInt32LE(o.maxStackDepth, off + 36);
  return off + INIT_OUT_SIZE;
}
