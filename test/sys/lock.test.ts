import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { after, before, describe, it } from 'node:test';
import {
  F_RDLCK,
  F_UNLCK,
  F_WRLCK,
  LOCK_EX,
  LOCK_NB,
  LOCK_SH,
  LOCK_UN,
  SysError,
  flock,
  flockWait,
  ofdGetLock,
  ofdLock,
  ofdLockWait,
  ofdUnlock,
  tryFlock,
  tryOfdLock,
} from '../../src/sys/index.js';
import { ADDON, Child, scratch } from './helpers.js';

/** Counts event-loop turns while `p` is pending: proof that the wait did not block the loop. */
async function ticksWhile<T>(p: Promise<T>): Promise<{ value: T; ticks: number }> {
  let ticks = 0;
  const timer = setInterval(() => ticks++, 10);
  try {
    return { value: await p, ticks };
  } finally {
    clearInterval(timer);
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The child side: raw addon (plain Error objects carry the same code/errno fields). */
const CHILD = `
const n = require(process.argv[1]);
const c = n.constants;
const fd = require('fs').openSync(process.argv[2], 'r+');
const say = (s) => console.log(typeof s === 'string' ? s : JSON.stringify(s));
const tryIt = (f) => { try { f(); return 'ok'; } catch (e) { return e.code; } };
const lines = require('readline').createInterface({ input: process.stdin });
const next = () => new Promise((r) => lines.once('line', r));
(async () => {
  if (process.argv[3] === 'flock') {
    say(tryIt(() => n.flock(fd, c.LOCK_EX | c.LOCK_NB)));
    await n.flockWait(fd, c.LOCK_EX);
    say('locked');
    await next();
    n.flock(fd, c.LOCK_UN);
    say('released');
    process.exit(0); // stdin would keep the child alive
  } else {
    say(tryIt(() => n.ofdLock(fd, c.F_OFD_SETLK, c.F_WRLCK, 0, 100)));
    say(tryIt(() => n.ofdLock(fd, c.F_OFD_SETLK, c.F_WRLCK, 100, 10)));
    say(n.ofdLock(fd, c.F_OFD_GETLK, c.F_RDLCK, 50, 1));
    await n.ofdLockWait(fd, c.F_WRLCK, 0, 100);
    say('locked');
    await next();
    say('exiting'); // exit drops the lock: OFD locks die with their last fd
    process.exit(0);
  }
})().catch((e) => { console.error(e); process.exit(1); });
`;

describe('locks', () => {
  let dir = '';
  let cleanup = () => {};
  let file = '';
  const fds: number[] = [];
  const open = () => {
    const fd = fs.openSync(file, 'r+');
    fds.push(fd);
    return fd;
  };
  before(() => {
    ({ dir, cleanup } = scratch());
    file = path.join(dir, 'lockfile');
    fs.writeFileSync(file, '');
  });
  after(() => {
    Child.killAll();
    for (const fd of fds) fs.closeSync(fd);
    cleanup();
  });

  it('flock: two fds of one process conflict; sync calls never wait', () => {
    const a = open();
    const b = open();
    flock(a, LOCK_EX | LOCK_NB);
    assert.equal(tryFlock(b, LOCK_EX), false);
    assert.equal(tryFlock(b, LOCK_SH), false);
    assert.throws(() => flock(b, LOCK_EX | LOCK_NB), (e: unknown) => e instanceof SysError && e.code === 'EAGAIN' && e.syscall === 'flock' && e.errno === -11);
    assert.throws(() => flock(b, LOCK_EX), TypeError, 'a blocking sync flock is refused');
    flock(a, LOCK_UN);
    assert.equal(tryFlock(b, LOCK_SH), true);
    assert.equal(tryFlock(a, LOCK_SH), true, 'shared locks coexist');
    assert.equal(tryFlock(a, LOCK_EX), false, 'no upgrade while another holds it shared');
    flock(a, LOCK_UN);
    flock(b, LOCK_UN);
  });

  it('flockWait resolves once the other fd unlocks, while the event loop keeps running', { timeout: 15_000 }, async () => {
    const a = open();
    const b = open();
    flock(a, LOCK_EX | LOCK_NB);
    let settled = false;
    const wait = flockWait(b, LOCK_EX).then(() => (settled = true));
    await sleep(150);
    assert.equal(settled, false, 'still waiting while a holds the lock');
    const start = Date.now();
    setTimeout(() => flock(a, LOCK_UN), 100);
    const { ticks } = await ticksWhile(wait);
    assert.ok(Date.now() - start >= 90);
    assert.ok(ticks >= 3, `event loop ran ${ticks} times during the wait`);
    assert.equal(tryFlock(a, LOCK_EX), false, 'b holds it now');
    flock(b, LOCK_UN);
  });

  it('many pending waits do not starve libuv’s thread pool', { timeout: 15_000 }, async () => {
    const holder = open();
    flock(holder, LOCK_EX | LOCK_NB);
    const waiters = Array.from({ length: 8 }, () => open());
    const waits = waiters.map((fd) => flockWait(fd, LOCK_SH));
    // fs.promises runs on the thread pool (4 threads): it must still make progress
    const t0 = Date.now();
    await Promise.all(Array.from({ length: 8 }, (_, i) => fs.promises.writeFile(path.join(dir, `pool-${i}`), 'x')));
    assert.ok(Date.now() - t0 < 5_000);
    flock(holder, LOCK_UN);
    await Promise.all(waits);
    assert.equal(tryFlock(holder, LOCK_EX), false, 'the waiters hold it shared');
    for (const fd of waiters) flock(fd, LOCK_UN);
  });

  it('flockWait rejects with a SysError (EBADF) for a bad fd', { timeout: 15_000 }, async () => {
    await assert.rejects(flockWait(-1, LOCK_EX), (e: unknown) => e instanceof SysError && e.code === 'EBADF' && e.syscall === 'flock');
  });

  it('a Worker terminated during a wait leaves the process healthy (the waiting thread is orphaned safely)', { timeout: 15_000 }, async () => {
    const holder = open();
    flock(holder, LOCK_EX | LOCK_NB);
    const code = `
      const n = require(${JSON.stringify(ADDON)});
      const fd = require('fs').openSync(${JSON.stringify(file)}, 'r+');
      n.flockWait(fd, n.constants.LOCK_EX).then(() => console.log('unexpected'));
      require('worker_threads').parentPort.postMessage('waiting');`;
    const worker = new Worker(code, { eval: true });
    await new Promise((resolve) => worker.once('message', resolve));
    await sleep(50);
    await worker.terminate();
    flock(holder, LOCK_UN); // wakes the orphaned thread, whose environment is gone
    await sleep(200);
    // Node closed the worker's fd on termination, so the lock the thread took died with it
    assert.equal(tryFlock(holder, LOCK_EX), true);
    flock(holder, LOCK_UN);
  });

  it('flock conflicts across processes, and the wait works in both directions', { timeout: 15_000 }, async () => {
    const fd = open();
    flock(fd, LOCK_EX | LOCK_NB);
    const child = new Child(CHILD, [ADDON, file, 'flock']);
    try {
      assert.equal(await child.next(), 'EAGAIN', 'the child sees our lock');
      await sleep(100); // the child is now parked in flockWait
      flock(fd, LOCK_UN);
      assert.equal(await child.next(), 'locked');
      assert.equal(tryFlock(fd, LOCK_EX), false, 'the child holds it');
      setTimeout(() => child.send('release'), 150);
      const { ticks } = await ticksWhile(flockWait(fd, LOCK_EX));
      assert.ok(ticks >= 3, `event loop ran ${ticks} times during the wait`);
      assert.equal(await child.next(), 'released');
      assert.equal(await child.exit(), 0);
      flock(fd, LOCK_UN);
    } finally {
      child.kill();
    }
  });

  it('OFD locks: ranges, read/write conflicts between two fds, F_OFD_GETLK', () => {
    const a = open();
    const b = open();
    ofdLock(a, F_WRLCK, 0, 10);
    assert.equal(tryOfdLock(b, F_WRLCK, 10, 10), true, 'adjacent range is free');
    assert.equal(tryOfdLock(b, F_RDLCK, 5, 10), false, 'overlap conflicts');
    assert.throws(() => ofdLock(b, F_WRLCK, 0, 1), (e: unknown) => e instanceof SysError && e.code === 'EAGAIN' && e.syscall === 'fcntl');
    assert.deepEqual(ofdGetLock(b, F_RDLCK, 0, 0), { type: F_WRLCK, whence: 0, start: 0, len: 10, pid: -1 });
    assert.equal(ofdGetLock(a, F_WRLCK, 0, 10), null, 'own locks never conflict');
    ofdUnlock(a);
    ofdUnlock(b);
    // read locks share, a write lock then conflicts with them; whole file = len 0
    ofdLock(a, F_RDLCK);
    assert.equal(tryOfdLock(b, F_RDLCK), true);
    assert.equal(tryOfdLock(b, F_WRLCK), false);
    ofdLock(a, F_UNLCK);
    assert.equal(tryOfdLock(b, F_WRLCK), true, 'upgrade once alone');
    assert.equal(ofdGetLock(a, F_RDLCK, 1_000_000n, 1n)?.type, F_WRLCK, 'BigInt offsets work');
    ofdUnlock(b);
    assert.equal(ofdGetLock(a, F_WRLCK), null);
  });

  it('ofdLockWait resolves after unlock without blocking the loop; EBADF for a read-only fd', { timeout: 15_000 }, async () => {
    const a = open();
    const b = open();
    ofdLock(a, F_WRLCK);
    setTimeout(() => ofdUnlock(a), 120);
    const { ticks } = await ticksWhile(ofdLockWait(b, F_WRLCK));
    assert.ok(ticks >= 3, `event loop ran ${ticks} times during the wait`);
    assert.equal(tryOfdLock(a, F_RDLCK), false);
    ofdUnlock(b);
    const ro = fs.openSync(file, 'r');
    fds.push(ro);
    await assert.rejects(ofdLockWait(ro, F_WRLCK), (e: unknown) => e instanceof SysError && e.code === 'EBADF');
  });

  it('OFD locks conflict across processes and are released when the holder exits', { timeout: 15_000 }, async () => {
    const fd = open();
    ofdLock(fd, F_WRLCK, 0, 100);
    const child = new Child(CHILD, [ADDON, file, 'ofd']);
    try {
      assert.equal(await child.next(), 'EAGAIN');
      assert.equal(await child.next(), 'ok', 'bytes 100..110 are free');
      assert.deepEqual(JSON.parse(await child.next()), { type: F_WRLCK, whence: 0, start: 0, len: 100, pid: -1 });
      await sleep(100);
      ofdUnlock(fd, 0, 100);
      assert.equal(await child.next(), 'locked');
      assert.equal(tryOfdLock(fd, F_RDLCK, 50, 1), false, 'the child holds 0..100');
      assert.equal(tryOfdLock(fd, F_RDLCK, 105, 1), false, 'and 100..110');
      const wait = ticksWhile(ofdLockWait(fd, F_WRLCK, 0, 110));
      child.send('go');
      assert.equal(await child.next(), 'exiting');
      const { ticks } = await wait;
      assert.ok(ticks >= 0);
      assert.equal(await child.exit(), 0);
      ofdUnlock(fd);
    } finally {
      child.kill();
    }
  });
});
