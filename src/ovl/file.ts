/**
 * An open union file. A handle opened for writing points at the upper copy (the open copied it
 * up). A read-only handle opened while the file was still lower follows it up: once the file is
 * copied up (through any handle or path), the next read reopens the upper copy, as the kernel has
 * done since 4.19, so old handles see new data.
 */
import fs from 'node:fs';
import type { Engine } from './engine.js';
import type { OvlEntry } from './entry.js';
import { OvlError, asUnion } from './errors.js';
import { setattrEntry, setattrFd } from './setattr.js';
import type { OvlFile, OvlSetattr, OvlStat } from './types.js';
import * as real from './realfs.js';
import { toOvlStat } from './realfs.js';
import { fstat } from '../sys/index.js';

export class OvlOpenFile implements OvlFile {
  private closed = false;

  constructor(
    private readonly engine: Engine,
    readonly entry: OvlEntry,
    private fd: number,
    private onUpper: boolean,
    private readonly flags: number,
    private readonly onClose: (f: OvlOpenFile) => void,
  ) {}

  /** The fd to use now: reopened on the upper copy if the file was copied up since the open. */
  private current(syscall: string): number {
    if (this.closed) throw new OvlError('EBADF', syscall, this.entry.path);
    if (!this.onUpper && this.entry.upper && !this.entry.removed) {
      const fd = real.open(this.engine.upperPath(this.entry), (this.flags & ~(fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_TRUNC)) | fs.constants.O_NOFOLLOW);
      fs.closeSync(this.fd);
      this.fd = fd;
      this.onUpper = true;
    }
    return this.fd;
  }

  /** Moves a handle opened on the lower file to the upper copy now (before the name goes away). */
  followCopyUp(): void {
    if (!this.closed) this.current('open');
  }

  read(buf: Buffer, offset: number, length: number, position: number): number {
    return asUnion('read', this.entry, () => fs.readSync(this.current('read'), buf, offset, length, position));
  }

  write(buf: Buffer, offset: number, length: number, position: number): number {
    const n = asUnion('write', this.entry, () => fs.writeSync(this.current('write'), buf, offset, length, position));
    this.engine.changed(this.entry);
    return n;
  }

  append(buf: Buffer, offset: number, length: number): number {
    const n = asUnion('write', this.entry, () => {
      const fd = this.current('write');
      if (this.flags & fs.constants.O_APPEND) return fs.writeSync(fd, buf, offset, length, null);
      return fs.writeSync(fd, buf, offset, length, fstat(fd).size);
    });
    this.engine.changed(this.entry);
    return n;
  }

  truncate(size: number): void {
    asUnion('ftruncate', this.entry, () => fs.ftruncateSync(this.current('ftruncate'), size));
    this.engine.changed(this.entry);
  }

  fsync(datasync: boolean): void {
    asUnion('fsync', this.entry, () => {
      const fd = this.current('fsync');
      // the kernel's ovl_fsync syncs only an upper file (a lower one may be on a read-only
      // filesystem), and nothing when the overlay is volatile
      if (!this.onUpper || !this.engine.syncs) return;
      if (datasync) fs.fdatasyncSync(fd);
      else fs.fsyncSync(fd);
    });
  }

  setattr(attr: OvlSetattr): OvlStat {
    if (this.closed) throw new OvlError('EBADF', 'setattr', this.entry.path);
    if (!this.entry.removed) return setattrEntry(this.engine, this.entry, attr);
    setattrFd(this.engine, this.current('setattr'), this.entry.path, attr);
    this.engine.changed(this.entry);
    return this.stat();
  }

  stat(): OvlStat {
    const fd = this.current('fstat');
    if (!this.entry.removed) return this.engine.getattr(this.entry, 'fstat');
    // unlinked while open: the real inode is all that is left, with the origin it had (the kernel's
    // overlay inode keeps its lower stack, so st_ino stays the origin's)
    const st = fstat(fd);
    if (this.entry.isDir) return this.engine.dirStat(this.entry, st);
    const origin = this.entry.upper ? this.entry.origin : null;
    return toOvlStat(st, this.engine.dev, origin && origin.nlink === 1 ? origin.ino : st.ino, st.nlink);
  }

  upperFd(): number | null {
    return this.onUpper && !this.closed ? this.fd : null;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    fs.closeSync(this.fd);
    this.onClose(this);
  }
}
