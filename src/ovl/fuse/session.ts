/**
 * The request loop: read one request from /dev/fuse, call the filesystem, write one reply.
 *
 * `run()` blocks its thread between requests (busy-polling a short, adaptive while first: see
 * busy-poll.ts), so it must run where blocking is fine: a worker thread (worker.ts) or a process
 * that does nothing else. Never access the mount from the thread that serves it: that thread
 * would wait for itself.
 *
 * Buffers: one request buffer of 1 MiB + 4 KiB (the kernel refuses reads into a buffer smaller than
 * header + write header + max_write) and one reply buffer of 16 bytes + 1 MiB. WRITE data is handed
 * to the filesystem as a view into the request buffer, READ data is read straight into the reply
 * buffer, and every reply leaves with one write(2).
 */
import os from 'node:os';
import { fuseReadRequest, fuseWrite } from '../../sys/index.js';
import { BusyPoll, DEFAULT_BUSY_POLL_US } from './busy-poll.js';
import { NO_STALE_NODES, type FuseAttr, type FuseContext, type FuseEntry, type FuseOpened, type FuseOps, type StaleNode } from './ops.js';
import type { OvlFileType } from '../types.js';
import {
  ArgReader,
  DT_BLK,
  DT_CHR,
  DT_DIR,
  DT_FIFO,
  DT_LNK,
  DT_REG,
  DT_SOCK,
  ENTRY_OUT_SIZE,
  FOPEN_DIRECT_IO,
  FOPEN_KEEP_CACHE,
  FOPEN_CACHE_DIR,
  FOPEN_PASSTHROUGH,
  encodeInvalInode,
  messageBuffer,
  NOTIFY_INVAL_INODE_SIZE,
  FUSE_FSYNC_FDATASYNC,
  FUSE_GETATTR_FH,
  FUSE_KERNEL_VERSION,
  FUSE_MIN_MINOR,
  FUSE_SERVER_MINOR,
  Fattr,
  IN_HEADER_SIZE,
  InitFlag,
  InitFlag2,
  PASSTHROUGH_STACK_DEPTH,
  OPCODE_NAMES,
  OUT_HEADER_SIZE,
  Opcode,
  decodeInHeader,
  decodeInitIn,
  direntSize,
  encodeAttrOut,
  encodeDirent,
  encodeEntryOut,
  encodeInitOut,
  encodeNegativeEntryOut,
  encodeOpenOut,
  encodeOutHeader,
  encodeSizeOut,
  encodeStatfsOut,
  toWireTimeout,
  type InHeader,
  type WireTimeout,
} from './protocol.js';
import { FuseError, NEG_EIO, errnoOf } from './errors.js';
import type { FuseSetattr } from './ops.js';
import { Passthrough } from './passthrough.js';
import { S_IFDIR, S_IFMT } from '../realfs.js';

/** The largest WRITE (and READ) the kernel may send: 1 MiB, i.e. 256 pages of 4 KiB. */
export const MAX_WRITE = 1 << 20;
const MAX_PAGES = MAX_WRITE / 4096;
const REQUEST_BUFFER_SIZE = MAX_WRITE + 4096;

const E = os.constants.errno;
const ENOENT = E.ENOENT ?? 2;
const ENOSYS = E.ENOSYS ?? 38;
const ERANGE = E.ERANGE ?? 34;
const EIO = E.EIO ?? 5;

/** A handler's result: the reply body's length, or NO_REPLY for FORGET/INTERRUPT. */
const NO_REPLY = -1;

export interface FuseSessionOptions {
  /**
   * How long (seconds, may be fractional or 0) the kernel may cache names, negative lookups and
   * attributes before asking again. 0 makes it ask on every access.
   */
  timeout: number;
  /**
   * Let the kernel cache symlink targets (FUSE_CACHE_SYMLINKS). Safe when nothing changes the
   * layers behind the mount, since a union symlink's target never changes in place. Default: on
   * when `timeout` > 0.
   */
  cacheSymlinks?: boolean;
  /**
   * Let the kernel read and write files the filesystem offers a backing fd for straight through
   * that fd (FUSE passthrough, Linux >= 6.9, needs CAP_SYS_ADMIN). Default: on where available.
   */
  passthrough?: boolean;
  /**
   * The longest the server busy-polls /dev/fuse for the next request before it sleeps, in µs
   * (adaptive up to this, see busy-poll.ts; needs `fd` opened O_NONBLOCK). 0: sleep at once.
   * Default: DEFAULT_BUSY_POLL_US.
   */
  busyPollUs?: number;
  /** Called once INIT has been answered: the mount now serves requests. */
  onReady?: (info: { minor: number; flags: number }) => void;
  /** Called for an error that carried no errno (a bug; the kernel got EIO). */
  onUnexpectedError?: (error: unknown, opcode: string) => void;
  /** When set, one line per request (opcode, node, result) — the `-d` output. */
  log?: (line: string) => void;
}

type Handler = (h: InHeader, args: ArgReader, ctx: FuseContext) => number;

const DT_BY_TYPE: Record<OvlFileType, number> = {
  file: DT_REG,
  dir: DT_DIR,
  symlink: DT_LNK,
  fifo: DT_FIFO,
  socket: DT_SOCK,
  char: DT_CHR,
  block: DT_BLK,
};

/** Nanoseconds from a (signed) u64 seconds field and a nanoseconds field. */
function wireTimeNs(sec: bigint, nsec: number): bigint {
  return BigInt.asIntN(64, sec) * 1_000_000_000n + BigInt(nsec);
}

/** One FUSE connection: the fd of /dev/fuse after mount(2), and the filesystem behind it. */
export class FuseSession {
  private readonly req = messageBuffer(REQUEST_BUFFER_SIZE);
  private readonly reply = messageBuffer(OUT_HEADER_SIZE + MAX_WRITE);
  private readonly notice = messageBuffer(NOTIFY_INVAL_INODE_SIZE);
  private readonly poll: BusyPoll;
  /** fuseReadRequest's report: µs the last request took to come. */
  private readonly waited = new Uint32Array(1);
  private readonly timeout: WireTimeout;
  /** timeout > 0: the kernel may also cache misses, and keep file pages across opens. */
  private readonly caching: boolean;
  /** By opcode: an array, not a Map, as a Map lookup costs until V8 has optimised the caller. */
  private readonly handlers: readonly (Handler | undefined)[];
  private initialized = false;
  private stopped = false;
  private destroyed = false;
  /** Why INIT failed (an old kernel): `run()` stops and throws it. */
  private initError: unknown = null;
  /** What INIT agreed; minor 0 until then. */
  private negotiated = { minor: 0, flags: 0 };
  /** Open files' I/O modes (passthrough or cached), per node; replaced at INIT. */
  private passthrough = new Passthrough(-1, false);
  /** A zero timeout: attributes the kernel must ask for every time. */
  private static readonly NO_CACHE = toWireTimeout(0);

  constructor(
    private readonly fd: number,
    private readonly ops: FuseOps,
    private readonly options: FuseSessionOptions,
  ) {
    this.timeout = toWireTimeout(options.timeout);
    this.caching = options.timeout > 0;
    this.poll = new BusyPoll(options.busyPollUs ?? DEFAULT_BUSY_POLL_US);
    this.handlers = this.buildHandlers();
  }

  /**
   * Serves requests until the mount goes away (read(2) fails with ENODEV after umount, or the
   * connection was aborted), then calls `ops.destroy()`. Blocks the calling thread throughout.
   * Throws when INIT could not be agreed (the mount is then dead: unmount it).
   */
  run(): void {
    try {
      while (!this.stopped) {
        let n: number;
        try {
          n = fuseReadRequest(this.fd, this.req, this.poll.windowUs, this.waited);
        } catch (e) {
          const code = (e as NodeJS.ErrnoException).code;
          if (code === 'ENODEV' || code === 'ECONNABORTED') break; // unmounted: the clean end
          throw e;
        }
        if (n === 0) break;
        this.poll.update(this.waited[0]!);
        this.dispatch(n);
      }
    } finally {
      this.destroyOps();
    }
    if (this.initError !== null) throw this.initError;
  }

  private destroyOps(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.ops.destroy();
  }

  private dispatch(n: number): void {
    const h = decodeInHeader(this.req);
    // read here for every request: a field that only a rare path read would, the first time it
    // came, send this function (optimised by then) back to the interpreter for a thousand requests
    const { opcode, nodeid } = h;
    const end = Math.max(IN_HEADER_SIZE, Math.min(n, h.len) - h.totalExtlen * 8);
    const args = new ArgReader(this.req, IN_HEADER_SIZE, end);
    const ctx: FuseContext = { uid: h.uid, gid: h.gid, pid: h.pid };
    let error = 0;
    let bodyLen = 0;
    const handler = this.initialized || opcode === Opcode.INIT ? this.handlers[opcode] : undefined;
    if (handler === undefined) {
      error = this.initialized ? -ENOSYS : -EIO;
    } else {
      try {
        bodyLen = handler(h, args, ctx);
      } catch (e) {
        const errno = errnoOf(e);
        if (opcode === Opcode.INIT) {
          this.initError = e;
          this.stopped = true;
        } else if (errno === null) this.options.onUnexpectedError?.(e, OPCODE_NAMES.get(opcode) ?? String(opcode));
        error = errno ?? NEG_EIO;
      }
    }
    const noReply = opcode === Opcode.FORGET || opcode === Opcode.BATCH_FORGET || opcode === Opcode.INTERRUPT;
    if (this.options.log) this.options.log(`${h.unique} ${OPCODE_NAMES.get(opcode) ?? opcode} node=${nodeid} -> ${noReply ? 'no reply' : error ? `error ${-error}` : `${bodyLen} bytes`}`);
    if (noReply) return;
    if (error !== 0) bodyLen = 0;
    // What went stale behind the kernel's back (ops.takeStaleNodes), told even with timeout 0 (the
    // kernel may keep listings, see FuseOps.opendir). A SETATTR reply carries the node's new
    // attributes and the kernel updates a file it wrote to itself: those need no notice.
    const fresh = opcode === Opcode.SETATTR || opcode === Opcode.WRITE ? nodeid : -1;
    const stale = this.ops.takeStaleNodes?.() ?? NO_STALE_NODES;
    // before the reply: once the caller has its answer, no other name may show old attributes
    this.notifyStale(stale, fresh);
    this.send(h.unique, error, bodyLen);
    if (opcode === Opcode.INIT && error === 0) this.afterInit();
  }

  /**
   * FUSE_NOTIFY_INVAL_INODE for the stale nodes but `fresh` (whose reply says it all): their
   * attributes, and a directory's listing with them. Dropping a listing cannot wait on us: the
   * kernel locks a directory's cache pages only while it copies entries in or out, never across
   * a request (fs/fuse/readdir.c), unlike a file's pages, which a READ holds locked until its
   * reply. One notice per node: a second, after the reply, would race the caller's next request
   * and make the kernel fetch the attributes twice.
   */
  private notifyStale(nodes: readonly StaleNode[], fresh: number): void {
    for (const s of nodes) {
      if (s.nodeid === fresh && !s.listing) continue;
      // ENOENT: the kernel has already dropped that inode
      if (!this.write(this.notice, encodeInvalInode(this.notice, s.nodeid, s.listing ? 0 : -1), 'notify')) return;
    }
  }

  private send(unique: bigint, error: number, bodyLen: number): void {
    const len = OUT_HEADER_SIZE + bodyLen;
    encodeOutHeader(this.reply, len, error, unique);
    this.write(this.reply, len, 'reply'); // ENOENT: the request was interrupted and is gone, nobody waits for this reply
  }

  /**
   * Writes one message (the first `len` bytes of `buf`) to the connection. ENOENT (what the message
   * was about is gone) is no error; ENODEV (unmounted) stops the session and returns false; anything
   * else is reported as an unexpected error of `what`.
   */
  private write(buf: Buffer, len: number, what: 'reply' | 'notify'): boolean {
    try {
      fuseWrite(this.fd, buf, len);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENODEV') {
        this.stopped = true;
        return false;
      }
      if (code !== 'ENOENT') this.options.onUnexpectedError?.(e, what);
    }
    return true;
  }

  private afterInit(): void {
    if (this.negotiated.minor === 0) return; // answered a newer major: the kernel sends INIT again
    this.initialized = true;
    this.options.onReady?.(this.negotiated);
  }

  private entryOut(off: number, e: FuseEntry): number {
    return encodeEntryOut(this.reply, off, e.nodeid, e.attr, this.timeout, this.attrTimeout(e.nodeid, e.attr));
  }

  private entryReply(e: FuseEntry): number {
    return this.entryOut(OUT_HEADER_SIZE, e) - OUT_HEADER_SIZE;
  }

  private buildHandlers(): (Handler | undefined)[] {
    const ops = this.ops;
    const reply = this.reply;
    const B = OUT_HEADER_SIZE;
    const byOpcode: (Handler | undefined)[] = [];
    const on = (opcode: number, handler: Handler): void => {
      byOpcode[opcode] = handler;
    };

    on(Opcode.INIT, (_h, args) => {
      const init = decodeInitIn(args);
      if (init.major > FUSE_KERNEL_VERSION) {
        // A newer major: answer with ours alone, the kernel then retries INIT with it.
        reply.fill(0, B, B + 8);
        reply.writeUInt32LE(FUSE_KERNEL_VERSION, B);
        return 8;
      }
      if (init.major < FUSE_KERNEL_VERSION || init.minor < FUSE_MIN_MINOR) {
        throw new FuseError('FUSE_PROTOCOL', `the kernel speaks FUSE ${init.major}.${init.minor}; strata needs ${FUSE_KERNEL_VERSION}.${FUSE_MIN_MINOR} or newer`);
      }
      const cacheSymlinks = this.options.cacheSymlinks ?? this.options.timeout > 0;
      // AUTO_INVAL_DATA: a file's data can change through another node (a hard link made after the
      // open, a truncate through it), so the kernel re-checks size and mtime before it trusts its
      // cached pages, instead of reading stale pages up to an old size
      const wanted =
        InitFlag.AUTO_INVAL_DATA |
        InitFlag.ASYNC_READ |
        InitFlag.ATOMIC_O_TRUNC |
        InitFlag.BIG_WRITES |
        InitFlag.MAX_PAGES |
        InitFlag.DO_READDIRPLUS |
        InitFlag.READDIRPLUS_AUTO |
        InitFlag.PARALLEL_DIROPS |
        (cacheSymlinks ? InitFlag.CACHE_SYMLINKS : 0);
      const flags2 = this.options.passthrough === false ? 0 : init.flags2 & InitFlag2.PASSTHROUGH;
      const flags = ((wanted & init.flags) | (flags2 ? InitFlag.INIT_EXT : 0)) >>> 0;
      const minor = Math.min(init.minor, FUSE_SERVER_MINOR);
      this.negotiated = { minor, flags };
      this.passthrough = new Passthrough(this.fd, flags2 !== 0);
      return encodeInitOut(reply, B, {
        major: FUSE_KERNEL_VERSION,
        minor,
        maxReadahead: init.maxReadahead,
        flags,
        maxWrite: MAX_WRITE,
        timeGran: 1,
        maxPages: MAX_PAGES,
        flags2,
        maxStackDepth: flags2 ? PASSTHROUGH_STACK_DEPTH : 0,
      }) - B;
    });

    on(Opcode.DESTROY, () => 0);
    on(Opcode.INTERRUPT, () => NO_REPLY); // every request gets its answer anyway; none blocks for long

    on(Opcode.LOOKUP, (h, args, ctx) => {
      const name = args.name();
      try {
        return this.entryReply(ops.lookup(ctx, h.nodeid, name));
      } catch (e) {
        if (!this.caching || errnoOf(e) !== -ENOENT) throw e;
        return this.negativeEntry();
      }
    });

    on(Opcode.FORGET, (h, args) => {
      ops.forget(h.nodeid, args.u64());
      return NO_REPLY;
    });

    on(Opcode.BATCH_FORGET, (_h, args) => {
      const count = args.u32();
      args.skip(4);
      for (let i = 0; i < count; i++) {
        const nodeid = args.u64();
        ops.forget(nodeid, args.u64());
      }
      return NO_REPLY;
    });

    on(Opcode.GETATTR, (h, args, ctx) => {
      const flags = args.u32();
      args.skip(4);
      const fh = args.u64();
      const attr = ops.getattr(ctx, h.nodeid, flags & FUSE_GETATTR_FH ? fh : undefined);
      return encodeAttrOut(reply, B, attr, this.attrTimeout(h.nodeid, attr)) - B;
    });

    on(Opcode.SETATTR, (h, args, ctx) => {
      const valid = args.u32();
      args.skip(4);
      const fh = args.u64();
      const size = args.u64();
      args.skip(8); // lock_owner
      const atime = args.u64n();
      const mtime = args.u64n();
      args.skip(8); // ctime
      const atimensec = args.u32();
      const mtimensec = args.u32();
      args.skip(4); // ctimensec
      const mode = args.u32();
      args.skip(4);
      const uid = args.u32();
      const gid = args.u32();
      const changes: FuseSetattr = {};
      if (valid & Fattr.MODE) changes.mode = mode & 0o7777;
      if (valid & Fattr.UID) changes.uid = uid;
      if (valid & Fattr.GID) changes.gid = gid;
      if (valid & Fattr.SIZE) changes.size = size;
      if (valid & Fattr.ATIME) changes.atimeNs = valid & Fattr.ATIME_NOW ? 'now' : wireTimeNs(atime, atimensec);
      if (valid & Fattr.MTIME) changes.mtimeNs = valid & Fattr.MTIME_NOW ? 'now' : wireTimeNs(mtime, mtimensec);
      const attr = ops.setattr(ctx, h.nodeid, changes, valid & Fattr.FH ? fh : undefined);
      return encodeAttrOut(reply, B, attr, this.attrTimeout(h.nodeid, attr)) - B;
    });

    on(Opcode.READLINK, (h, _args, ctx) => {
      const target = ops.readlink(ctx, h.nodeid);
      return reply.write(target, B, 'latin1');
    });

    on(Opcode.SYMLINK, (h, args, ctx) => {
      const name = args.name();
      const target = args.name();
      return this.entryReply(ops.symlink(ctx, h.nodeid, name, target));
    });

    on(Opcode.MKNOD, (h, args, ctx) => {
      const mode = args.u32();
      const rdev = args.u32();
      args.skip(8); // umask (already applied to mode), padding
      return this.entryReply(ops.mknod(ctx, h.nodeid, args.name(), mode, rdev));
    });

    on(Opcode.MKDIR, (h, args, ctx) => {
      const mode = args.u32();
      args.skip(4); // umask
      return this.entryReply(ops.mkdir(ctx, h.nodeid, args.name(), mode & 0o7777));
    });

    on(Opcode.UNLINK, (h, args, ctx) => {
      ops.unlink(ctx, h.nodeid, args.name());
      return 0;
    });

    on(Opcode.RMDIR, (h, args, ctx) => {
      ops.rmdir(ctx, h.nodeid, args.name());
      return 0;
    });

    on(Opcode.RENAME, (h, args, ctx) => {
      const newDir = args.u64();
      const name = args.name();
      ops.rename(ctx, h.nodeid, name, newDir, args.name(), 0);
      return 0;
    });

    on(Opcode.RENAME2, (h, args, ctx) => {
      const newDir = args.u64();
      const flags = args.u32();
      args.skip(4);
      const name = args.name();
      ops.rename(ctx, h.nodeid, name, newDir, args.name(), flags);
      return 0;
    });

    on(Opcode.LINK, (h, args, ctx) => {
      const oldNode = args.u64();
      return this.entryReply(ops.link(ctx, oldNode, h.nodeid, args.name()));
    });

    on(Opcode.OPEN, (h, args, ctx) => {
      const flags = args.u32();
      return this.openOut(B, h.nodeid, ops.open(ctx, h.nodeid, flags)) - B;
    });

    on(Opcode.CREATE, (h, args, ctx) => {
      const flags = args.u32();
      const mode = args.u32();
      args.skip(8); // umask, open_flags
      const { entry, opened } = ops.create(ctx, h.nodeid, args.name(), flags, mode);
      return this.openOut(this.entryOut(B, entry), entry.nodeid, opened) - B;
    });

    on(Opcode.READ, (h, args, ctx) => {
      const fh = args.u64();
      const offset = args.u64();
      const size = Math.min(args.u32(), MAX_WRITE);
      return ops.read(ctx, h.nodeid, fh, reply.subarray(B, B + size), offset);
    });

    on(Opcode.WRITE, (h, args, ctx) => {
      const fh = args.u64();
      const offset = args.u64();
      const size = args.u32();
      args.skip(20); // write_flags, lock_owner, flags, padding
      const written = ops.write(ctx, h.nodeid, fh, args.bytes(size), offset);
      return encodeSizeOut(reply, B, written) - B;
    });

    on(Opcode.STATFS, (h, _args, ctx) => encodeStatfsOut(reply, B, ops.statfs(ctx, h.nodeid)) - B);

    on(Opcode.RELEASE, (h, args, ctx) => {
      try {
        ops.release(ctx, h.nodeid, args.u64());
      } finally {
        this.passthrough.released(h.nodeid);
      }
      return 0;
    });

    const flush = ops.flush?.bind(ops);
    if (flush) {
      on(Opcode.FLUSH, (h, args, ctx) => {
        flush(ctx, h.nodeid, args.u64());
        return 0;
      });
    }

    on(Opcode.FSYNC, (h, args, ctx) => {
      const fh = args.u64();
      ops.fsync(ctx, h.nodeid, fh, (args.u32() & FUSE_FSYNC_FDATASYNC) !== 0);
      return 0;
    });

    on(Opcode.SETXATTR, (h, args, ctx) => {
      const size = args.u32();
      const flags = args.u32();
      const name = args.text();
      ops.setxattr(ctx, h.nodeid, name, args.bytes(size), flags);
      return 0;
    });

    on(Opcode.GETXATTR, (h, args, ctx) => {
      const size = args.u32();
      args.skip(4);
      return this.sizedReply(ops.getxattr(ctx, h.nodeid, args.text()), size);
    });

    on(Opcode.LISTXATTR, (h, args, ctx) => {
      const size = args.u32();
      const names = ops.listxattr(ctx, h.nodeid);
      return this.sizedReply(Buffer.from(names.map((n) => `${n}\0`).join(''), 'utf8'), size);
    });

    on(Opcode.REMOVEXATTR, (h, args, ctx) => {
      ops.removexattr(ctx, h.nodeid, args.text());
      return 0;
    });

    const opendir = ops.opendir?.bind(ops);
    if (opendir) {
      on(Opcode.OPENDIR, (h, args, ctx) => {
        const fh = opendir(ctx, h.nodeid, args.u32());
        // a caching mount lets the kernel keep listings: every change to a listing goes through it
        return encodeOpenOut(reply, B, fh, this.caching ? FOPEN_CACHE_DIR | FOPEN_KEEP_CACHE : 0) - B;
      });
    }

    on(Opcode.READDIR, (h, args, ctx) => this.readdir(h, args, ctx, false));
    on(Opcode.READDIRPLUS, (h, args, ctx) => this.readdir(h, args, ctx, true));

    const releasedir = ops.releasedir?.bind(ops);
    if (releasedir) {
      on(Opcode.RELEASEDIR, (h, args, ctx) => {
        releasedir(ctx, h.nodeid, args.u64());
        return 0;
      });
    }

    on(Opcode.FSYNCDIR, (h, args, ctx) => {
      const fh = args.u64();
      ops.fsyncdir(ctx, h.nodeid, fh, (args.u32() & FUSE_FSYNC_FDATASYNC) !== 0);
      return 0;
    });

    on(Opcode.ACCESS, (h, args, ctx) => {
      ops.access(ctx, h.nodeid, args.u32());
      return 0;
    });

    return byOpcode;
  }

  /**
   * Writes the fuse_open_out of a file of `nodeid` just opened: passthrough when it can be, else
   * cached as asked (KEEP_CACHE only where the kernel caches at all).
   */
  private openOut(off: number, nodeid: number, opened: FuseOpened): number {
    const backingId = this.passthrough.opened(nodeid, opened.backingFd);
    if (backingId !== 0) return encodeOpenOut(this.reply, off, opened.fh, FOPEN_PASSTHROUGH, backingId);
    return encodeOpenOut(this.reply, off, opened.fh, (opened.directIo ? FOPEN_DIRECT_IO : 0) | (opened.keepCache && this.caching ? FOPEN_KEEP_CACHE : 0));
  }

  /**
   * How long the kernel may keep `attr` of `nodeid`. With passthrough, a file that can change
   * through other nodes (ops.sharesFile) is never cached: its data may change through another
   * node's backing file, which the server never hears of.
   */
  private attrTimeout(nodeid: number, attr: FuseAttr): WireTimeout {
    if (!this.passthrough.active || (attr.mode & S_IFMT) === S_IFDIR) return this.timeout;
    const shared = this.ops.sharesFile ? this.ops.sharesFile(nodeid, attr) : attr.nlink > 1;
    return shared ? FuseSession.NO_CACHE : this.timeout;
  }

  /**
   * A negative LOOKUP reply: node ID 0 with an entry timeout, so the kernel remembers the name as
   * missing for that long (creating it through the mount replaces that memory at once).
   */
  private negativeEntry(): number {
    return encodeNegativeEntryOut(this.reply, OUT_HEADER_SIZE, this.timeout) - OUT_HEADER_SIZE;
  }

  /**
   * GETXATTR/LISTXATTR's two-step protocol: with `size` 0 the caller probes for the length
   * (fuse_getxattr_out), otherwise it gets the bytes, or ERANGE if they do not fit.
   */
  private sizedReply(value: Buffer, size: number): number {
    const B = OUT_HEADER_SIZE;
    if (size === 0) {
      return encodeSizeOut(this.reply, B, value.length) - B;
    }
    if (value.length > size) throw Object.assign(new Error('xattr value larger than the buffer'), { errno: -ERANGE });
    if (value.length > this.reply.length - B) throw Object.assign(new Error('xattr value larger than a reply'), { errno: -ERANGE });
    value.copy(this.reply, B);
    return value.length;
  }

  /**
   * READDIR and READDIRPLUS: packs entries from `offset` until the kernel's buffer is full.
   * READDIRPLUS adds each entry's fuse_entry_out, which is a lookup (counted, forgotten later)
   * except for `.` and `..`, which go out as node ID 0 ("no entry"), as the kernel expects.
   */
  private readdir(h: InHeader, args: ArgReader, ctx: FuseContext, plus: boolean): number {
    const fh = args.u64();
    const offset = args.u64();
    const size = Math.min(args.u32(), MAX_WRITE);
    const limit = OUT_HEADER_SIZE + size;
    let off = OUT_HEADER_SIZE;
    for (const d of this.ops.readdir(ctx, h.nodeid, fh, offset)) {
      const name = Buffer.from(d.name, 'latin1');
      const recordSize = (plus ? ENTRY_OUT_SIZE : 0) + direntSize(name.length);
      if (off + recordSize > limit) break;
      if (plus) {
        let entry: FuseEntry | null = null;
        if (d.name !== '.' && d.name !== '..') {
          try {
            entry = this.ops.lookup(ctx, h.nodeid, d.name);
          } catch {
            entry = null; // gone since the listing was built: list the name without an entry
          }
        }
        off = entry ? this.entryOut(off, entry) : encodeEntryOut(this.reply, off, 0, null, this.timeout, this.timeout);
      }
      off = encodeDirent(this.reply, off, d.ino, d.next, DT_BY_TYPE[d.type], name);
    }
    return off - OUT_HEADER_SIZE;
  }
}
