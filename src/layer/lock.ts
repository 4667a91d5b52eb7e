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
  ) {}

  /**
   * Takes the lock on `<root>/strata.lock`, creating the file (and the root) when needed. A
   * shared lock on a root where the file cannot be created (a read-only file system, no write
   * permission) is taken as granted: nobody can write there either.
   */
  static async acquire(root: string, mode: 'exclusive' | 'shared', opts: LockOptions = {}): Promise<DataRootLock> {
    const file = path.join(root, LOCK_FILE);
    let fd: number;
    try {
      if (mode === 'exclusive') fs.mkdirSync(root, { recursive: true, mode: 0o711 });
      fd = fs.openSync(file, fs.constants.O_RDWR | fs.constants.O_CREAT, 0o600);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (mode === 'shared' && (code === 'EROFS' || code === 'EACCES' || code === 'ENOENT')) return new DataRootLock(file, mode, undefined);
      throw e;
    }
    const op = mode === 'exclusive' ? LOCK_EX : LOCK_SH;
    try {
      if (!tryFlock(fd, op)) {
        if (opts.lock === 'fail') throw new LayerStoreError('STORE_LOCKED', `data root ${root} is in use by another strata process`);
        opts.onWait?.();
        await flockWait(fd, op);
      }
    } catch (e) {
      fs.closeSync(fd);
      throw e;
    }
    return new DataRootLock(file, mode, fd);
  }

  private mountUsers = 0;
  private mountLock: Promise<void> | undefined;

  /**
   * Enters a stretch of mounting and unmounting as the only such reader of the data root (see the
   * file comment) and returns the function that leaves it; a writer already excludes everyone.
   * Stretches overlapping in one process share the lock.
   */
  async enterMounting(): Promise<() => void> {
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
    if (this.fd === undefined) return;
    const fd = this.fd;
    this.fd = undefined;
    try {
      flock(fd, LOCK_UN);
    } finally {
      fs.closeSync(fd);
    }
  }
}
