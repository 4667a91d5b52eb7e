/**
 * The data-root lock: how two strata processes share one data root without corrupting it.
 *
 * The model is one writer or many readers, per data root, for as long as a store is open:
 *
 * - A writable store holds an exclusive flock(2) on `<root>/strata.lock` from open to close. Its
 *   in-memory view (the layers, their parents and reference counts) is then the truth on disk,
 *   because nobody else may change the disk underneath it.
 * - A read-only store holds a shared flock on the same file: any number of them at once, none
 *   while a writer is open. A reader therefore never sees a layer vanish between listing it and
 *   reading it (which it would otherwise report as broken).
 * - A reader of a root that has no `strata.lock` (one strata never wrote: a live dockerd's) must
 *   not create anything in it, so it takes its shared flock on the root directory itself — and
 *   every writer, besides its lock on `strata.lock`, takes an exclusive flock on the root
 *   directory too. Either way a reader and a writer exclude each other: a writer that creates
 *   `strata.lock` after the reader looked still waits for the reader's directory lock.
 * - Opening waits for the lock by default (the CLI says so on stderr after a moment); `'fail'`
 *   gives `STORE_LOCKED` at once instead.
 *
 * - Readers that mount (overlay2's naive diff and changes mount both layers; a driver without a
 *   diff getter mounts to read a layer's files) also take an exclusive OFD lock on the lock
 *   file's first byte for as long as the mounts live: the driver counts mounts per process, so two
 *   readers sharing one `merged/` would unmount it under each other. A reader cannot mount or
 *   unmount for keeps (`STORE_READ_ONLY`): that is a change.
 *
 * flock locks belong to the open file, so a process killed with SIGKILL drops its lock with its
 * last fd; there is never a stale lock to clean up. The file itself is empty and never removed
 * (removing it would let two processes lock two different inodes). dockerd does not know this
 * lock: refusing to write under a running dockerd is a separate check (dockerd.ts), made by every
 * writable open (`STORE_OWNED_BY_DOCKERD` unless `ignoreDockerd`).
 */
import fs from 'node:fs';
import path from 'node:path';
import { F_WRLCK, LOCK_EX, LOCK_SH, LOCK_UN, flock, flockWait, ofdLockWait, ofdUnlock, tryFlock } from '../sys/index.js';
import { LayerStoreError } from './errors.js';

export const LOCK_FILE = 'strata.lock';

export interface LockOptions {
  /** `'wait'` (default) blocks until the lock is free; `'fail'` throws `STORE_LOCKED`. */
  lock?: 'wait' | 'fail';
  /** Called once when the lock is busy and opening starts to wait. */
  onWait?: () => void;
}

export class DataRootLock {
  private constructor(
    readonly file: string,
    readonly mode: 'exclusive' | 'shared',
    private fd: number | undefined,
    /** The root directory, flocked by writers (exclusive) and by readers without `strata.lock` (shared). */
    private dirFd: number | undefined,
  ) {}

  /**
   * Takes the lock (see the file comment): a writer creates the root and `strata.lock` when
   * needed and locks both the file and the root directory; a reader locks the file when it exists,
   * else the root directory, creating nothing. A shared lock on a root that cannot be opened (a
   * read-only file system, no permission) is taken as granted: nobody can write there either.
   */
  static async acquire(root: string, mode: 'exclusive' | 'shared', options: LockOptions = {}): Promise<DataRootLock> {
    const file = path.join(root, LOCK_FILE);
    let told = false; // a writer may wait twice (file, then directory): say so once
    const opts: LockOptions = { ...options, onWait: () => (told ? undefined : ((told = true), options.onWait?.())) };
    const busy = () => new LayerStoreError('STORE_LOCKED', `data root ${root} is in use by another strata process`);
    const granted = (e: unknown) => {
      const code = (e as NodeJS.ErrnoException).code;
      return mode === 'shared' && (code === 'EROFS' || code === 'EACCES' || code === 'ENOENT');
    };
    if (mode === 'shared' && !fs.existsSync(file)) {
      let dirFd: number;
      try {
        dirFd = fs.openSync(root, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
      } catch (e) {
        if (granted(e)) return new DataRootLock(file, mode, undefined, undefined);
        throw e;
      }
      await lockOrClose(dirFd, LOCK_SH, busy, opts);
      return new DataRootLock(file, mode, undefined, dirFd);
    }
    let fd: number;
    try {
      if (mode === 'exclusive') fs.mkdirSync(root, { recursive: true, mode: 0o711 });
      fd = fs.openSync(file, fs.constants.O_RDWR | fs.constants.O_CREAT, 0o600);
    } catch (e) {
      if (granted(e)) return new DataRootLock(file, mode, undefined, undefined);
      throw e;
    }
    await lockOrClose(fd, mode === 'exclusive' ? LOCK_EX : LOCK_SH, busy, opts);
    if (mode === 'shared') return new DataRootLock(file, mode, fd, undefined);
    let dirFd: number;
    try {
      dirFd = fs.openSync(root, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
      await lockOrClose(dirFd, LOCK_EX, busy, opts);
    } catch (e) {
      flock(fd, LOCK_UN);
      fs.closeSync(fd);
      throw e;
    }
    return new DataRootLock(file, mode, fd, dirFd);
  }

  private mountUsers = 0;
  private mountLock: Promise<void> | undefined;

  /**
   * Enters a stretch of mounting and unmounting as the only such reader of the data root (see the
   * file comment) and returns the function that leaves it; a writer already excludes everyone.
   * Stretches overlapping in one process share the lock.
   */
  async enterMounting(): Promise<() => void> {
    // A reader that locked the root directory creates `strata.lock` now: mounting writes into the root anyway.
    if (this.mode === 'shared' && this.fd === undefined && this.dirFd !== undefined) {
      this.fd = fs.openSync(this.file, fs.constants.O_RDWR | fs.constants.O_CREAT, 0o600);
    }
    const fd = this.fd;
    if (this.mode === 'exclusive' || fd === undefined) return () => undefined;
    if (this.mountUsers++ === 0) this.mountLock = ofdLockWait(fd, F_WRLCK, 0, 1);
    let left = false;
    const leave = () => {
      if (left) return;
      left = true;
      if (--this.mountUsers === 0 && this.fd === fd) ofdUnlock(fd, 0, 1);
    };
    try {
      await this.mountLock;
    } catch (e) {
      leave();
      throw e;
    }
    return leave;
  }

  /** Drops the lock (closing the file). Idempotent. */
  release(): void {
    for (const fd of [this.fd, this.dirFd]) {
      if (fd === undefined) continue;
      try {
        flock(fd, LOCK_UN);
      } finally {
        fs.closeSync(fd);
      }
    }
    this.fd = undefined;
    this.dirFd = undefined;
  }
}

/** Takes flock `op` on `fd` (waiting unless `lock: 'fail'`); closes `fd` if it cannot. */
async function lockOrClose(fd: number, op: number, busy: () => Error, opts: LockOptions): Promise<void> {
  try {
    if (tryFlock(fd, op)) return;
    if (opts.lock === 'fail') throw busy();
    opts.onWait?.();
    await flockWait(fd, op);
  } catch (e) {
    fs.closeSync(fd);
    throw e;
  }
}
