/**
 * How long the FUSE server busy-polls /dev/fuse for the next request before it sleeps.
 *
 * Each request a sleeping server gets costs a wake-up: the kernel wakes the thread, and on a VM an
 * idle vCPU first has to come back from the hypervisor (~50 µs on the machines strata is measured
 * on, for each of the two wake-ups of a round trip). A program making one syscall after another
 * sends its next request within tens of µs of our reply, so polling that long instead of sleeping
 * takes one wake-up out of each round trip. Polling longer than requests take to come only burns
 * CPU, so the window adapts, as QEMU's event loop adapts its `poll-max-ns` polling
 * (util/aio-posix.c): it doubles while requests come soon after it ran out, halves when they come
 * later than the longest window allowed, and stays while they come within it. An idle mount
 * therefore spins at most one window (≤ maxUs) per request it gets, and not at all once requests
 * keep coming late; the poll loop yields the CPU between tries, so a client waiting for the CPU
 * runs first.
 */

/** The first window when polling starts to pay, in µs. */
const FIRST_WINDOW_US = 8;

/** The default longest window (`busy_poll=`), in µs: a sequential client's turnaround here is 50–100. */
export const DEFAULT_BUSY_POLL_US = 200;

export class BusyPoll {
  /** The current window, in µs: 0 sleeps at once. */
  windowUs = 0;

  /** `maxUs` 0 never polls. */
  constructor(readonly maxUs: number) {}

  /** Tunes the window after a request that came `waitedUs` after the read began (0: it was queued). */
  update(waitedUs: number): void {
    if (waitedUs <= this.windowUs) return; // caught while polling: the window fits
    if (waitedUs > this.maxUs) this.windowUs >>= 1; // no allowed window would have caught it
    else this.windowUs = Math.min(this.maxUs, this.windowUs === 0 ? FIRST_WINDOW_US : this.windowUs * 2); // it came just after: poll longer
  }
}
