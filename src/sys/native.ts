/**
 * Loading the addon (`build/Release/strata_native.node`) and its raw, untyped-at-runtime surface.
 * Other files in this folder wrap it; nothing outside src/sys should import this file.
 */
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { StrataError } from '../errors/index.js';
import type { Constants } from './constants.js';
import { SysError } from './error.js';

/** A path as text (encoded as UTF-8) or as raw bytes (passed to the kernel unchanged). */
export type PathLike = string | Buffer;

/** A conflicting lock reported by F_OFD_GETLK. `pid` is -1 for OFD locks. */
export interface LockInfo {
  type: number;
  whence: number;
  start: number;
  len: number;
  pid: number;
}

/** What `{sec, nsec}` time values look like at the addon boundary. */
export interface RawTimespec {
  sec: number | bigint;
  nsec: number;
}

interface Native {
  mount(source: PathLike | null, target: PathLike, fstype: string | null, flags: number, data: string | Buffer | null): void;
  umount2(target: PathLike, flags: number): void;
  fsopen(fsname: string, flags: number): number;
  fsconfig(fd: number, cmd: number, key: string | null, value: PathLike | null, aux: number): void;
  fsmount(fsfd: number, flags: number, attrFlags: number): number;
  moveMount(fromDirFd: number, fromPath: PathLike, toDirFd: number, toPath: PathLike, flags: number): void;
  openTree(dirFd: number, path: PathLike, flags: number): number;
  mknod(path: PathLike, mode: number, major: number, minor: number): void;
  mknodat(dirFd: number, path: PathLike, mode: number, major: number, minor: number): void;
  lgetxattr(path: PathLike, name: string): Buffer | null;
  lsetxattr(path: PathLike, name: string, value: Buffer | string, flags: number): void;
  llistxattr(path: PathLike): string[];
  lremovexattr(path: PathLike, name: string): void;
  copyUp(
    src: string | Buffer,
    tmp: string | Buffer,
    dst: string | Buffer,
    data: boolean,
    rules: Buffer,
    change: Float64Array | null,
    atime: bigint | RawTimespec | null,
    mtime: bigint | RawTimespec | null,
    nums: Float64Array,
    bigs: BigInt64Array,
    sync: number,
    isFile: boolean,
  ): boolean;
  fuseBackingOpen(devFd: number, fd: number): number;
  fuseBackingClose(devFd: number, id: number): void;
  fuseReadRequest(devFd: number, buffer: Buffer, spinUs: number, waited: Uint32Array): number;
  fuseWrite(devFd: number, buffer: Buffer, len: number): void;
  renameat2(oldDirFd: number, oldPath: PathLike, newDirFd: number, newPath: PathLike, flags: number): void;
  linkat(oldDirFd: number, oldPath: PathLike, newDirFd: number, newPath: PathLike, flags: number): void;
  utimensat(dirFd: number, path: PathLike | null, atime: bigint | RawTimespec | null, mtime: bigint | RawTimespec | null, flags: number): void;
  syncfs(fd: number): void;
  fstatat(dirFd: number, path: PathLike | null, flags: number, maybe: boolean, nums: Float64Array, bigs: BigInt64Array): boolean;
  direntTypes(path: PathLike): { entries: number; unknown: number };
  readdirRaw(path: PathLike): { names: string[]; types: Uint8Array; inos: BigUint64Array };
  nameToHandleAt(dirFd: number, path: PathLike, flags: number): { type: number; handle: Buffer; mountId: number };
  openByHandleAt(mountFd: number, type: number, handle: Buffer, flags: number): number;
  fsUuid(fd: number): Buffer;
  flock(fd: number, op: number): void;
  flockWait(fd: number, op: number): Promise<void>;
  ofdLock(fd: number, cmd: number, type: number, start: number | bigint, len: number | bigint): LockInfo | null | undefined;
  ofdLockWait(fd: number, type: number, start: number | bigint, len: number | bigint): Promise<void>;
  setErrorFactory(factory: ((...args: ErrorFactoryArgs) => Error) | null): void;
  errnoName(errno: number): string;
  constants: Constants;
}

type ErrorFactoryArgs = [code: string, errno: number, syscall: string, message: string, path?: string, dest?: string, detail?: string];

/** The directory holding package.json above this file: `src/sys/` under tsx, `dist/sys/` after tsc. */
function packageRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (fs.existsSync(path.join(dir, 'package.json'))) return dir;
    const up = path.dirname(dir);
    if (up === dir) throw new StrataError('NATIVE_ADDON_MISSING', `cannot find strata's package.json above ${fileURLToPath(import.meta.url)}`);
    dir = up;
  }
}

function load(): Native {
  const file = path.join(packageRoot(), 'build', 'Release', 'strata_native.node');
  let addon: Native;
  try {
    addon = createRequire(import.meta.url)(file) as Native;
  } catch (cause) {
    throw new StrataError('NATIVE_ADDON_MISSING', `cannot load strata's native addon ${file} (build it with \`npm run build:native\`)`, { cause });
  }
  const factory = (...args: ErrorFactoryArgs): Error => {
    const e = new SysError(...args);
    Error.captureStackTrace(e, factory); // the stack starts at the wrapper that made the call
    return e;
  };
  addon.setErrorFactory(factory);
  return addon;
}

/** The loaded addon; its errors are already SysError instances. */
export const native: Native = load();
