/**
 * fuseReadRequest, on a FIFO (it is not /dev/fuse-specific: read(2) and poll(2) on any fd), whose
 * read end is opened O_RDWR so that it never sees end-of-file. A FUSE mount exercises it in every
 * FUSE test; here: what it reports, that it busy-polls only as long as asked (counted in read(2)
 * calls, which unlike CPU time do not depend on how busy the machine is), and its errors.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { S_IFIFO, SysError, fuseReadRequest, fuseWrite, mknod } from '../../src/sys/index.js';
import { scratch } from './helpers.js';

describe('fuseReadRequest: the next request, busy-polling before it sleeps', () => {
  let dir = '';
  let cleanup = () => {};
  let fifo = '';
  before(() => {
    ({ dir, cleanup } = scratch());
    fifo = path.join(dir, 'fifo');
    mknod(fifo, S_IFIFO | 0o600, 0, 0);
  });
  after(() => cleanup());
  const buf = Buffer.alloc(64);
  const waited = new Uint32Array(1);

  /** Writes `data` to the FIFO from another process after `ms`, while this thread is blocked. */
  const writeLater = (ms: number, data: string) => spawn('sh', ['-c', `sleep ${ms / 1000}; printf ${data} > ${fifo}`], { stdio: 'ignore' });

  /** read(2) calls made by this thread (/proc/thread-self/io: syscr counts failed ones too; the process total would include reaped children). */
  const readCalls = () => Number(/syscr: (\d+)/.exec(fs.readFileSync('/proc/thread-self/io', 'utf8'))![1]);

  /** Reads one message that arrives `ms` from now, polling up to `spinUs`: its text, wait and read(2) count. */
  function readLate(fd: number, ms: number, spinUs: number): { text: string; waitedMs: number; reads: number } {
    const writer = writeLater(ms, 'late');
    const before = readCalls();
    const n = fuseReadRequest(fd, buf, spinUs, waited);
    const reads = readCalls() - before - 1; // less the reads of the io file itself
    writer.unref();
    return { text: buf.toString('latin1', 0, n), waitedMs: waited[0]! / 1000, reads };
  }

  /** Runs `fn` on the FIFO opened read-write with `flags` (non-blocking by default), then closes it. */
  function onFifo(fn: (fd: number) => void, flags = fs.constants.O_NONBLOCK): void {
    const fd = fs.openSync(fifo, fs.constants.O_RDWR | flags);
    try {
      fn(fd);
    } finally {
      fs.closeSync(fd);
    }
  }

  it('returns a queued message at once, with no wait', () => {
    onFifo((fd) => {
      fs.writeSync(fd, 'queued');
      waited[0] = 12345;
      assert.equal(fuseReadRequest(fd, buf, 1000, waited), 6);
      assert.equal(buf.toString('latin1', 0, 6), 'queued');
      assert.equal(waited[0], 0);
    });
  });

  it('sleeps in poll(2) without spinning, and reports how long the message took', () => {
    onFifo((fd) => {
      const r = readLate(fd, 150, 0);
      assert.equal(r.text, 'late');
      assert.ok(r.waitedMs >= 100, `waited ${r.waitedMs} ms`);
      assert.ok(r.reads <= 8, `slept: ${r.reads} read(2) calls over ${r.waitedMs} ms`); // EAGAIN, poll, the message
    });
  });

  it('busy-polls up to spinUs first: read(2) after read(2) while the message is late, then sleeps', () => {
    onFifo((fd) => {
      // the whole wait spent polling (it yields between tries: on a busy machine, far fewer tries)
      const spinning = readLate(fd, 300, 5_000_000);
      assert.equal(spinning.text, 'late');
      assert.ok(spinning.reads >= 30, `polled: ${spinning.reads} read(2) calls over ${spinning.waitedMs} ms`);
      const brief = readLate(fd, 300, 10_000); // polls 10 ms, then sleeps
      assert.ok(brief.waitedMs >= 250, `waited ${brief.waitedMs} ms`);
      assert.ok(brief.reads < spinning.reads / 4, `${brief.reads} read(2) calls against ${spinning.reads}: it stopped polling after 10 ms`);
    });
  });

  it('is a plain read(2) on a blocking fd', () => {
    onFifo((fd) => {
      fs.writeSync(fd, 'blocking');
      assert.equal(fuseReadRequest(fd, buf, 1000, waited), 8);
      assert.equal(waited[0], 0);
    }, 0);
  });

  it('throws the read error, and a TypeError for a bad report array', () => {
    const fd = fs.openSync(fifo, fs.constants.O_RDWR | fs.constants.O_NONBLOCK);
    fs.closeSync(fd);
    assert.throws(() => fuseReadRequest(fd, buf, 0, waited), (e: unknown) => e instanceof SysError && e.code === 'EBADF' && e.syscall === 'read');
    onFifo((open) => {
      assert.throws(() => fuseReadRequest(open, buf, 0, new Int32Array(1) as unknown as Uint32Array), TypeError);
      assert.throws(() => fuseReadRequest(open, buf, 0, new Uint32Array(0)), TypeError);
    });
  });
});

describe('fuseWrite: one reply in one write(2)', () => {
  let dir = '';
  let cleanup = () => {};
  before(() => ({ dir, cleanup } = scratch()));
  after(() => cleanup());

  it('writes the first len bytes of the buffer as one message, and throws the write error', () => {
    const fifo = path.join(dir, 'replies');
    mknod(fifo, S_IFIFO | 0o600, 0, 0);
    const fd = fs.openSync(fifo, fs.constants.O_RDWR | fs.constants.O_NONBLOCK);
    try {
      const reply = Buffer.from('reply+unsent tail');
      fuseWrite(fd, reply, 5);
      fuseWrite(fd, reply, 0);
      const got = Buffer.alloc(64);
      assert.equal(fs.readSync(fd, got), 5);
      assert.equal(got.toString('latin1', 0, 5), 'reply');
      assert.throws(() => fuseWrite(fd, reply, reply.length + 1), (e: NodeJS.ErrnoException) => e.code === 'ERR_OUT_OF_RANGE');
      assert.throws(() => fuseWrite(fd, 'reply' as unknown as Buffer, 5), TypeError);
    } finally {
      fs.closeSync(fd);
    }
    const ro = fs.openSync(fifo, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
    fs.closeSync(ro);
    assert.throws(() => fuseWrite(ro, Buffer.from('x'), 1), (e: unknown) => e instanceof SysError && e.code === 'EBADF' && e.syscall === 'write');
  });
});
