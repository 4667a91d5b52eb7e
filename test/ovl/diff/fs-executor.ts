/**
 * The executor for a mounted overlay — the kernel's, or any FUSE one (strata-overlay,
 * fuse-overlayfs): node:fs and src/sys calls on the mount point. Paths are resolved inside the
 * union first (resolve.ts) and the calls never follow a final symlink themselves, so nothing can
 * reach outside the mount whatever the fixture's symlinks say. Union paths are byte strings
 * (bytes.ts): every call gets its path (and a symlink's target) as a Buffer, and names and targets
 * are read back with `encoding: 'buffer'`, so names that are not UTF-8 go through unchanged.
 */
import fs from 'node:fs';
import {
  AT_FDCWD, AT_SYMLINK_NOFOLLOW, RENAME_EXCHANGE, RENAME_NOREPLACE, RENAME_WHITEOUT, S_IFCHR, S_IFIFO,
  XATTR_CREATE, XATTR_REPLACE, lgetxattr, llistxattr, lremovexattr, lsetxattr, mknod, renameat2, utimensat,
} from '../../../src/sys/index.js';
import { byteString, bytesOf, hostPath } from './bytes.js';
import { errOutcome, type Executor, type Observation } from './executor.js';
import type { LayerDirs } from './fixture.js';
import { InoLabels, digest, observeMerged, observeUpper, rawStatOf, showBytes, statFields, typeOfMode, type MergedReader } from './observe.js';
import type { Op, OpenFlag, RenameFlag, TimeArg } from './ops.js';
import { contentBytes } from './rng.js';
import { resolveUnionPath, type NameKind } from './resolve.js';

const OPEN_FLAGS: Record<OpenFlag, number> = {
  RDONLY: fs.constants.O_RDONLY,
  WRONLY: fs.constants.O_WRONLY,
  RDWR: fs.constants.O_RDWR,
  CREAT: fs.constants.O_CREAT,
  EXCL: fs.constants.O_EXCL,
  TRUNC: fs.constants.O_TRUNC,
  APPEND: fs.constants.O_APPEND,
  DIRECTORY: fs.constants.O_DIRECTORY,
  NOFOLLOW: fs.constants.O_NOFOLLOW,
};

export function openFlagsValue(flags: readonly OpenFlag[]): number {
  return flags.reduce((v, f) => v | OPEN_FLAGS[f], 0);
}

export function renameFlagsValue(flags: readonly RenameFlag[]): number {
  const values: Record<RenameFlag, number> = { NOREPLACE: RENAME_NOREPLACE, EXCHANGE: RENAME_EXCHANGE, WHITEOUT: RENAME_WHITEOUT };
  return flags.reduce((v, f) => v | values[f], 0);
}

export function timeArgValue(t: TimeArg): bigint | 'now' | 'omit' {
  return t === 'now' || t === 'omit' ? t : BigInt(t);
}

/** Whether an open with these flags follows a final symlink (O_CREAT|O_EXCL never does). */
export function openFollows(flags: readonly OpenFlag[]): boolean {
  return !flags.includes('NOFOLLOW') && !(flags.includes('CREAT') && flags.includes('EXCL'));
}

const FS_MAGIC: Record<number, string> = { 0x794c7630: 'overlay', 0x65735546: 'fuse' };

export function statfsName(type: number): string {
  return FS_MAGIC[type] ?? `0x${type.toString(16)}`;
}

export class FsExecutor implements Executor {
  private readonly labels = new InoLabels();
  /** The paths the last observation saw: the next one stats them first. */
  private observed: string[] = [];
  private readonly handles = new Map<number, number>();
  private closed = false;

  constructor(
    readonly name: string,
    readonly dirs: LayerDirs,
    private readonly unmount: () => void | Promise<void>,
  ) {}

  /** The host path (bytes) of the union object named by byte-string components. */
  private real(parts: readonly string[]): Buffer {
    return hostPath(this.dirs.mnt, parts.join('/'));
  }

  /** The host path of a byte-string union path read as it is (no symlinks on the way: observation only). */
  private realOf(upath: string): Buffer {
    return this.real(upath.split('/').filter(Boolean));
  }

  private readonly kindOf = (parts: readonly string[]): NameKind | null => {
    const p = this.real(parts);
    const st = fs.lstatSync(p, { throwIfNoEntry: false });
    if (!st) return null;
    if (st.isDirectory()) return { type: 'dir' };
    if (st.isSymbolicLink()) return { type: 'symlink', target: readlinkBytes(p) };
    return { type: 'other' };
  };

  /** The real path on the mount of union path `upath`. */
  private at(upath: string, followLast: boolean): Buffer {
    return this.real(resolveUnionPath(this.kindOf, upath, followLast));
  }

  private fd(h: number): number {
    const fd = this.handles.get(h);
    if (fd === undefined) throw Object.assign(new Error(`no handle ${h}`), { code: 'EBADF' });
    return fd;
  }

  async run(op: Op): Promise<string> {
    const old = process.umask(0);
    try {
      return this.runSync(op);
    } catch (e) {
      return errOutcome(e);
    } finally {
      process.umask(old);
    }
  }

  private runSync(op: Op): string {
    switch (op.op) {
      case 'open': {
        if (op.flags.includes('CREAT') && op.flags.includes('DIRECTORY')) {
          // open(2) judges this flag pair before it walks the path (EINVAL since Linux 6.4), so the
          // kernel is asked first with the mount's root, an existing dir: only the flags decide
          fs.closeSync(fs.openSync(this.dirs.mnt, openFlagsValue(op.flags) | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK, op.mode));
        }
        const p = this.at(op.path, openFollows(op.flags));
        // O_NOFOLLOW: the path is resolved already; O_NONBLOCK: never wait on a fifo.
        const fd = fs.openSync(p, openFlagsValue(op.flags) | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK, op.mode);
        this.handles.set(op.h, fd);
        return 'ok';
      }
      case 'read': {
        const buf = Buffer.alloc(op.len);
        const n = fs.readSync(this.fd(op.h), buf, 0, op.len, op.pos);
        return `ok ${digest(buf.subarray(0, n))}`;
      }
      case 'write':
        return `ok ${fs.writeSync(this.fd(op.h), contentBytes(op.seed, op.len), 0, op.len, op.pos)}`;
      case 'ftruncate':
        fs.ftruncateSync(this.fd(op.h), op.size);
        return 'ok';
      case 'fstat':
        return `ok ${JSON.stringify(statFields(rawStatOf(fs.fstatSync(this.fd(op.h), { bigint: true })), this.labels))}`;
      case 'close':
        fs.closeSync(this.fd(op.h));
        this.handles.delete(op.h);
        return 'ok';
      case 'truncate':
        fs.truncateSync(this.at(op.path, true), op.size);
        return 'ok';
      case 'stat':
        return `ok ${JSON.stringify(statFields(rawStatOf(fs.lstatSync(this.at(op.path, op.follow), { bigint: true })), this.labels))}`;
      case 'readdir': {
        const list = fs.readdirSync(this.at(op.path, true), { withFileTypes: true, encoding: 'buffer' });
        return `ok ${list.map((d) => `${byteString(d.name)}:${typeOfMode(direntMode(d))}`).sort().join(' ')}`;
      }
      case 'mkdir':
        fs.mkdirSync(this.at(op.path, false), op.mode);
        return 'ok';
      case 'rmdir':
        fs.rmdirSync(this.at(op.path, false));
        return 'ok';
      case 'unlink':
        fs.unlinkSync(this.at(op.path, false));
        return 'ok';
      case 'mknod': {
        const p = this.at(op.path, false);
        if (op.kind === 'fifo') mknod(p, S_IFIFO | op.mode);
        else mknod(p, S_IFCHR | op.mode, op.kind === 'chardev' ? 1 : 0, op.kind === 'chardev' ? 3 : 0);
        return 'ok';
      }
      case 'symlink':
        fs.symlinkSync(bytesOf(op.target), this.at(op.path, false));
        return 'ok';
      case 'readlink':
        return `ok ${readlinkBytes(this.at(op.path, false))}`;
      case 'link': {
        // link(2) looks the old name up completely (ENOENT first) before it walks to the new name's parent
        const from = this.at(op.from, false);
        fs.lstatSync(from);
        fs.linkSync(from, this.at(op.to, false));
        return 'ok';
      }
      case 'rename':
        renameat2(AT_FDCWD, this.at(op.from, false), AT_FDCWD, this.at(op.to, false), renameFlagsValue(op.flags));
        return 'ok';
      case 'chmod':
        fs.chmodSync(this.at(op.path, true), op.mode);
        return 'ok';
      case 'chown':
        fs.lchownSync(this.at(op.path, op.follow), op.uid, op.gid);
        return 'ok';
      case 'utimes':
        utimensat(AT_FDCWD, this.at(op.path, op.follow), timeArgValue(op.atime), timeArgValue(op.mtime), AT_SYMLINK_NOFOLLOW);
        return 'ok';
      case 'setxattr': {
        const flag = op.flag === 'create' ? XATTR_CREATE : op.flag === 'replace' ? XATTR_REPLACE : 0;
        lsetxattr(this.at(op.path, false), op.name, bytesOf(op.value), flag);
        return 'ok';
      }
      case 'getxattr': {
        const v = lgetxattr(this.at(op.path, false), op.name);
        if (v === null) return 'ERR ENODATA';
        return `ok ${showBytes(v)}`;
      }
      case 'listxattr':
        return `ok ${llistxattr(this.at(op.path, false)).filter((n) => !n.startsWith('security.')).sort().join(' ')}`;
      case 'removexattr':
        lremovexattr(this.at(op.path, false), op.name);
        return 'ok';
      case 'statfs':
        return `ok type=${statfsName(fs.statfsSync(this.dirs.mnt).type)}`;
    }
  }

  private readonly reader: MergedReader = {
    lstat: (u) => rawStatOf(fs.lstatSync(this.realOf(u), { bigint: true })),
    readdir: (u) =>
      fs.readdirSync(this.realOf(u), { withFileTypes: true, encoding: 'buffer' }).map((d) => ({ name: byteString(d.name), type: typeOfMode(direntMode(d)) })),
    readFile: (u) => readWhole(this.realOf(u)),
    readlink: (u) => readlinkBytes(this.realOf(u)),
    listxattr: (u) => llistxattr(this.realOf(u)),
    getxattr: (u, n) => {
      const v = lgetxattr(this.realOf(u), n);
      if (v === null) throw Object.assign(new Error('ENODATA'), { code: 'ENODATA' });
      return v;
    },
  };

  async observe(): Promise<Observation> {
    const merged = await observeMerged(this.reader, this.labels, this.observed);
    this.observed = [...merged.entries.keys()];
    return { merged, upper: observeUpper(this.dirs.upper) };
  }

  /** Closes the open handles and unmounts, even when closing a handle failed (that error is thrown after). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    let failure: unknown = null;
    for (const fd of this.handles.values()) {
      try {
        fs.closeSync(fd);
      } catch (e) {
        failure ??= e; // a FUSE server that died fails the FLUSH of every handle
      }
    }
    this.handles.clear();
    await this.unmount();
    if (failure !== null) throw failure;
  }
}

/** A Dirent's type as st_mode type bits (Node fills unknown d_types in with lstat). */
function direntMode(d: fs.Dirent<Buffer>): number {
  if (d.isDirectory()) return 0o040000;
  if (d.isFile()) return 0o100000;
  if (d.isSymbolicLink()) return 0o120000;
  if (d.isFIFO()) return 0o010000;
  if (d.isSocket()) return 0o140000;
  if (d.isCharacterDevice()) return 0o020000;
  return 0o060000;
}

/** A symlink's target as a byte string. */
function readlinkBytes(p: Buffer): string {
  return byteString(fs.readlinkSync(p, { encoding: 'buffer' }));
}

/** The whole content of a regular file, opened without following a symlink or waiting on a fifo. */
function readWhole(p: Buffer): Buffer {
  const fd = fs.openSync(p, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK);
  try {
    return fs.readFileSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}
