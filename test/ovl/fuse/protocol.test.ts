/**
 * The wire format and the option parser, byte by byte, without a kernel: struct sizes and offsets
 * as in include/uapi/linux/fuse.h, time splitting, dirent padding, errno mapping, `-o` parsing.
 */
import assert from 'node:assert/strict';
import os from 'node:os';
import { describe, it } from 'node:test';
import { MalformedRequestError, errnoOf } from '../../../src/ovl/fuse/errors.js';
import { parseMountOptions, splitEscaped, unescape, DEFAULT_TIMEOUT } from '../../../src/ovl/fuse/mount-options.js';
import { BusyPoll, DEFAULT_BUSY_POLL_US } from '../../../src/ovl/fuse/busy-poll.js';
import {
  ArgReader,
  ATTR_OUT_SIZE,
  ENTRY_OUT_SIZE,
  INIT_OUT_SIZE,
  STATFS_OUT_SIZE,
  decodeInHeader,
  direntSize,
  encodeAttr,
  encodeDirent,
  encodeEntryOut,
  encodeInitOut,
  encodeAttrOut,
  encodeNegativeEntryOut,
  encodeOutHeader,
  encodeSizeOut,
  encodeStatfsOut,
  toWireTimeout,
  type WireAttr,
} from '../../../src/ovl/fuse/protocol.js';
import { MS_NOATIME, MS_NOEXEC, MS_RDONLY } from '../../../src/sys/index.js';

const attr: WireAttr = {
  ino: 0xfedcba9876543210n,
  size: 2 ** 40 + 5,
  blocks: 8,
  atimeNs: 1_700_000_000_123_456_789n,
  mtimeNs: -1_500_000_000n, // 1.5 s before the epoch
  ctimeNs: 0n,
  mode: 0o100644,
  nlink: 3,
  uid: 1000,
  gid: 2000,
  rdev: 0x10305,
  blksize: 4096,
};

describe('FUSE wire format', () => {
  it('has the struct sizes of fuse.h', () => {
    assert.equal(ENTRY_OUT_SIZE, 128);
    assert.equal(ATTR_OUT_SIZE, 104);
    assert.equal(STATFS_OUT_SIZE, 80);
    assert.equal(INIT_OUT_SIZE, 64);
  });

  it('decodes fuse_in_header', () => {
    const b = Buffer.alloc(40);
    b.writeUInt32LE(57, 0);
    b.writeUInt32LE(1, 4);
    b.writeBigUInt64LE(99n, 8);
    b.writeBigUInt64LE(7n, 16);
    b.writeUInt32LE(1000, 24);
    b.writeUInt32LE(100, 28);
    b.writeUInt32LE(4242, 32);
    b.writeUInt16LE(2, 36);
    assert.deepEqual(decodeInHeader(b), { len: 57, opcode: 1, unique: 99n, nodeid: 7, uid: 1000, gid: 100, pid: 4242, totalExtlen: 2 });
  });

  it('encodes fuse_attr with seconds and nanoseconds split, negative times included', () => {
    const b = Buffer.alloc(88);
    assert.equal(encodeAttr(b, 0, attr), 88);
    assert.equal(b.readBigUInt64LE(0), 0xfedcba9876543210n);
    assert.equal(b.readBigUInt64LE(8), BigInt(2 ** 40 + 5));
    assert.equal(b.readBigUInt64LE(24), 1_700_000_000n);
    assert.equal(b.readUInt32LE(48), 123_456_789);
    assert.equal(b.readBigInt64LE(32), -2n, 'mtime seconds round down');
    assert.equal(b.readUInt32LE(52), 500_000_000, 'mtime nanoseconds stay positive');
    assert.equal(b.readUInt32LE(60), 0o100644);
    assert.equal(b.readUInt32LE(64), 3);
    assert.equal(b.readUInt32LE(68), 1000);
    assert.equal(b.readUInt32LE(72), 2000);
    assert.equal(b.readUInt32LE(76), 0x10305);
    assert.equal(b.readUInt32LE(80), 4096);
  });

  it('encodes fuse_entry_out with timeouts, and the all-zero "no entry" form', () => {
    const b = Buffer.alloc(ENTRY_OUT_SIZE).fill(0xff);
    const to = toWireTimeout(1.25);
    assert.deepEqual(to, { sec: 1n, nsec: 250_000_000 });
    assert.equal(encodeEntryOut(b, 0, 42, attr, to, toWireTimeout(0)), ENTRY_OUT_SIZE);
    assert.equal(b.readBigUInt64LE(0), 42n);
    assert.equal(b.readBigUInt64LE(8), 0n, 'generation');
    assert.equal(b.readBigUInt64LE(16), 1n);
    assert.equal(b.readBigUInt64LE(24), 0n);
    assert.equal(b.readUInt32LE(32), 250_000_000);
    assert.equal(b.readBigUInt64LE(40), attr.ino);
    encodeEntryOut(b, 0, 42, null, to, to);
    assert.ok(b.every((x) => x === 0), 'zeroed');
    assert.deepEqual(toWireTimeout(-3), { sec: 0n, nsec: 0 });
  });

  it('pads dirents to 8 bytes with zeros', () => {
    assert.equal(direntSize(1), 32);
    assert.equal(direntSize(8), 32);
    assert.equal(direntSize(9), 40);
    const b = Buffer.alloc(48).fill(0xee);
    const end = encodeDirent(b, 0, 5n, 3, 8, Buffer.from('abcdefghi'));
    assert.equal(end, 40);
    assert.equal(b.readBigUInt64LE(0), 5n);
    assert.equal(b.readBigUInt64LE(8), 3n);
    assert.equal(b.readUInt32LE(16), 9);
    assert.equal(b.readUInt32LE(20), 8);
    assert.equal(b.toString('latin1', 24, 33), 'abcdefghi');
    assert.deepEqual([...b.subarray(33, 40)], [0, 0, 0, 0, 0, 0, 0]);
    assert.equal(b[40], 0xee, 'nothing written past the record');
  });

  it('encodes fuse_init_out and fuse_kstatfs at their offsets', () => {
    const b = Buffer.alloc(INIT_OUT_SIZE).fill(0xff);
    encodeInitOut(b, 0, { major: 7, minor: 38, maxReadahead: 131072, flags: 0x12345678, maxWrite: 1 << 20, timeGran: 1, maxPages: 256, flags2: 0x20, maxStackDepth: 1 });
    assert.deepEqual([b.readUInt32LE(0), b.readUInt32LE(4), b.readUInt32LE(8), b.readUInt32LE(12)], [7, 38, 131072, 0x12345678]);
    assert.equal(b.readUInt16LE(16), 0, 'max_background: kernel default');
    assert.equal(b.readUInt32LE(20), 1 << 20);
    assert.equal(b.readUInt32LE(24), 1);
    assert.equal(b.readUInt16LE(28), 256);
    assert.equal(b.readUInt16LE(30), 0, 'map_alignment');
    assert.deepEqual([b.readUInt32LE(32), b.readUInt32LE(36)], [0x20, 1], 'flags2 (PASSTHROUGH) and max_stack_depth');
    assert.ok(b.subarray(40).every((x) => x === 0), 'request_timeout and unused are zero');
    const s = Buffer.alloc(STATFS_OUT_SIZE).fill(0xff);
    encodeStatfsOut(s, 0, { blocks: 10, bfree: 9, bavail: 8, files: 7, ffree: 6, bsize: 4096, namelen: 255, frsize: 1024 });
    assert.deepEqual([0, 8, 16, 24, 32].map((o) => Number(s.readBigUInt64LE(o))), [10, 9, 8, 7, 6]);
    assert.deepEqual([40, 44, 48].map((o) => s.readUInt32LE(o)), [4096, 255, 1024]);
    assert.ok(s.subarray(52).every((x) => x === 0), 'padding and spare are zero');
    const h = Buffer.alloc(16);
    encodeOutHeader(h, 16, -2, 77n);
    assert.deepEqual([h.readUInt32LE(0), h.readInt32LE(4), h.readBigUInt64LE(8)], [16, -2, 77n]);
  });

  it('reads arguments and answers EINVAL for a short request', () => {
    const b = Buffer.concat([Buffer.from([1, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0]), Buffer.from('name\0target\0')]);
    const r = new ArgReader(b);
    assert.equal(r.u32(), 1);
    assert.equal(r.u64(), 2);
    assert.equal(r.name(), 'name');
    assert.equal(r.name(), 'target');
    assert.throws(() => r.u32(), MalformedRequestError);
    assert.throws(() => new ArgReader(Buffer.from('no-nul')).name(), MalformedRequestError);
    assert.equal(errnoOf(new MalformedRequestError('x')), -os.constants.errno.EINVAL);
  });

  it('reads only its own span of a request buffer', () => {
    const b = Buffer.from('HDR\u0001\u0000\u0000\u0000nm\u0000tail\u0000', 'latin1');
    const r = new ArgReader(b, 3, 11);
    assert.equal(r.u32(), 1);
    assert.equal(r.remaining, 4);
    assert.throws(() => r.u64(), MalformedRequestError, 'an argument running past the end');
    assert.equal(r.name(), 'nm');
    assert.throws(() => new ArgReader(b, 10, 14).name(), MalformedRequestError, 'a NUL only after the end');
  });

  it('encodes into buffers that start inside a larger memory block', () => {
    // Buffer.allocUnsafe hands out small buffers from a shared pool, at an offset into its memory
    const pool = Buffer.alloc(512, 0xee);
    const b = pool.subarray(40, 40 + 16 + 104);
    encodeOutHeader(b, 120, 0, 0x1122334455667788n);
    const end = encodeAttrOut(b, 16, attr, { sec: 3n, nsec: 7 });
    assert.equal(end, 120);
    const whole = Buffer.alloc(120);
    encodeOutHeader(whole, 120, 0, 0x1122334455667788n);
    encodeAttrOut(whole, 16, attr, { sec: 3n, nsec: 7 });
    assert.deepEqual(b, whole);
    assert.ok(pool.subarray(0, 40).every((x) => x === 0xee) && pool.subarray(160).every((x) => x === 0xee), 'nothing written outside');
    assert.deepEqual(decodeInHeader(pool.subarray(40)).unique, 0x1122334455667788n);
  });

  it('encodes negative entries and size replies', () => {
    const n = Buffer.alloc(ENTRY_OUT_SIZE, 0xff);
    assert.equal(encodeNegativeEntryOut(n, 0, { sec: 86400n, nsec: 5 }), ENTRY_OUT_SIZE);
    assert.equal(n.readBigUInt64LE(0), 0n, 'node ID 0');
    assert.deepEqual([n.readBigUInt64LE(16), n.readUInt32LE(32)], [86400n, 5], 'the entry timeout');
    assert.deepEqual([n.readBigUInt64LE(24), n.readUInt32LE(36)], [0n, 0], 'no attribute timeout');
    assert.ok(n.subarray(40).every((x) => x === 0), 'no attributes');
    const w = Buffer.alloc(8, 0xff);
    assert.equal(encodeSizeOut(w, 0, 4096), 8);
    assert.deepEqual([w.readUInt32LE(0), w.readUInt32LE(4)], [4096, 0]);
  });

  it('maps errors to negative errnos', () => {
    assert.equal(errnoOf(Object.assign(new Error('x'), { errno: -2, code: 'ENOENT' })), -2);
    assert.equal(errnoOf({ code: 'EXDEV' }), -os.constants.errno.EXDEV);
    assert.equal(errnoOf({ code: 'ENOTEMPTY' }), -os.constants.errno.ENOTEMPTY);
    assert.equal(errnoOf(new Error('plain')), null);
    assert.equal(errnoOf({ code: 'FUSE_USAGE' }), null);
    assert.equal(errnoOf('ENOENT'), null);
  });
});

describe('strata-overlay -o options', () => {
  it('splits at unescaped separators and unescapes like the kernel', () => {
    assert.deepEqual(splitEscaped('a\\:b:c', ':'), ['a\\:b', 'c']);
    assert.deepEqual(splitEscaped('x=1\\,2,y', ','), ['x=1\\,2', 'y']);
    assert.equal(unescape('a\\:b\\\\c'), 'a:b\\c');
  });

  it('reads layers top first, later options winning, generic options as flags', () => {
    const o = parseMountOptions(['rw,lowerdir=/l/a\\:1:rel', 'upperdir=/u,workdir=/w,timeout=0.5', 'ro,noexec,noatime,suid,lazytime,nolazytime,redirect_dir=on', 'index=off,xino=off,x-systemd.automount,defaults,allow_other'], '/cwd');
    assert.deepEqual(o.overlay, { lowerdirs: ['/l/a:1', '/cwd/rel'], upperdir: '/u', workdir: '/w', redirectDir: 'on' });
    assert.equal(o.timeout, 0.5);
    assert.equal(o.flags, MS_RDONLY | MS_NOEXEC | MS_NOATIME);
    assert.equal(o.suid, true);
    assert.equal(o.dev, false);
    const d = parseMountOptions(['lowerdir=/a', 'lowerdir=/b,fsname=my\\,src'], '/');
    assert.deepEqual(d.overlay, { lowerdirs: ['/b'] });
    assert.equal(d.timeout, DEFAULT_TIMEOUT);
    assert.equal(d.fsname, 'my,src');
    assert.equal(d.passthrough, true, 'passthrough by default');
    assert.equal(parseMountOptions(['lowerdir=/a,passthrough=off'], '/').passthrough, false);
    assert.equal(d.busyPollUs, DEFAULT_BUSY_POLL_US);
    assert.equal(parseMountOptions(['lowerdir=/a,busy_poll=0'], '/').busyPollUs, 0);
    assert.equal(parseMountOptions(['lowerdir=/a,busy_poll=50'], '/').busyPollUs, 50);
    // volatile is fsync=volatile, as in the kernel; the last one given wins
    assert.equal(parseMountOptions(['lowerdir=/a,volatile'], '/').overlay.fsync, 'volatile');
    assert.equal(parseMountOptions(['lowerdir=/a,volatile,fsync=strict'], '/').overlay.fsync, 'strict');
    assert.equal(parseMountOptions(['lowerdir=/a,fsync=auto', 'volatile'], '/').overlay.fsync, 'volatile');
    assert.equal(d.overlay.fsync, undefined);
  });

  it('refuses what it cannot honour, naming the option', () => {
    for (const [opts, message] of [
      [['upperdir=/u,workdir=/w'], /no lowerdir/],
      [['lowerdir=/a,workdir=/w'], /workdir= needs an upperdir=/],
      [['lowerdir=/a:'], /empty lowerdir entry/],
      [['lowerdir='], /lowerdir needs a value/],
      [['lowerdir=/a,metacopy=on'], /only metacopy=off/],
      [['lowerdir=/a,redirect_dir=maybe'], /redirect_dir=maybe/],
      [['lowerdir=/a,timeout=soon'], /timeout=soon/],
      [['lowerdir=/a,passthrough=maybe'], /passthrough=maybe: expected on or off/],
      [['lowerdir=/a,fsync=always'], /fsync=always: expected auto, strict or volatile$/],
      [['lowerdir=/a,fsync=0'], /fsync=0: expected auto, strict or volatile \(fuse-overlayfs's fsync=0 is volatile here\)/],
      [['lowerdir=/a,volatile=1'], /unknown option volatile=1/],
      [['lowerdir=/a,busy_poll=-1'], /busy_poll=-1: expected whole microseconds/],
      [['lowerdir=/a,busy_poll=1.5'], /busy_poll=1.5: expected whole microseconds/],
      [['lowerdir=/a,userxattr'], /unknown option userxattr/],
      [['lowerdir=/a,ro=1'], /unknown option ro=1/],
    ] as const) {
      assert.throws(() => parseMountOptions([...opts]), (e: Error & { code?: string }) => e.code === 'FUSE_USAGE' && message.test(e.message), opts.join());
    }
  });
});

describe('busy polling for the next request', () => {
  it('grows the window while requests come just after it, up to the limit', () => {
    const p = new BusyPoll(200);
    assert.equal(p.windowUs, 0, 'starts sleeping at once');
    const windows: number[] = [];
    for (let i = 0; i < 8; i++) {
      p.update(90); // each request ~90 µs after the read began
      windows.push(p.windowUs);
    }
    assert.deepEqual(windows, [8, 16, 32, 64, 128, 128, 128, 128], 'doubles until 90 µs fits, then stays');
    p.update(0);
    assert.equal(p.windowUs, 128, 'a request already queued changes nothing');
    p.update(150);
    assert.equal(p.windowUs, 200, 'capped at the limit');
  });

  it('halves the window when requests come later than any allowed window', () => {
    const p = new BusyPoll(200);
    for (let i = 0; i < 6; i++) p.update(150);
    assert.equal(p.windowUs, 200);
    const windows: number[] = [];
    for (let i = 0; i < 9; i++) {
      p.update(5000); // an idle mount: requests ms apart
      windows.push(p.windowUs);
    }
    assert.deepEqual(windows, [100, 50, 25, 12, 6, 3, 1, 0, 0]);
  });

  it('never polls with a limit of 0, and a limit below the first window caps it', () => {
    const off = new BusyPoll(0);
    for (const w of [1, 50, 0, 5000]) off.update(w);
    assert.equal(off.windowUs, 0);
    const small = new BusyPoll(5);
    small.update(4);
    assert.equal(small.windowUs, 5);
  });
});
