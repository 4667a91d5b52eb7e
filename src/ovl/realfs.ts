/**
 * The real layers as the engine sees them: typed lstat, file types, whiteout tests, the overlay's
 * private xattr names, and the raw directory listings. Everything here is synchronous and talks to
 * one real path at a time; nothing knows about the union.
 */
import fs from 'node:fs';
import { DT, lgetxattr, readdirRaw, type RawDirents } from '../sys/index.js';
import type { OvlFileType, OvlStat } from './types.js';

/** The overlay's xattr namespace (the kernel's default, `trusted.`; `userxattr` is not supported). */
export const OVL_PREFIX = 'trusted.overlay.';
/** A user's own `trusted.overlay.X`, stored one level down so the overlay above sees it as its own. */
export const OVL_ESCAPED_PREFIX = 'trusted.overlay.overlay.';
export const XATTR_OPAQUE = 'trusted.overlay.opaque';
export const XATTR_REDIRECT = 'trusted.overlay.redirect';
export const XATTR_ORIGIN = 'trusted.overlay.origin';
export const XATTR_IMPURE = 'trusted.overlay.impure';
export const XATTR_WHITEOUT = 'trusted.overlay.whiteout';

export const S_IFMT = 0o170000;
export const S_IFDIR = 0o040000;
export const S_IFREG = 0o100000;
export const S_IFLNK = 0o120000;
export const S_IFCHR = 0o020000;
export const S_IFBLK = 0o060000;
export const S_IFIFO = 0o010000;
export const S_IFSOCK = 0o140000;

export type Stat = fs.BigIntStats;

/** lstat without following, undefined when the path does not exist (ENOTDIR on the way counts as absent). */
export function lstatMaybe(p: string): Stat | undefined {
  try {
    return fs.lstatSync(p, { bigint: true, throwIfNoEntry: false });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOTDIR') return undefined;
    throw e;
  }
}

export function lstat(p: string): Stat {
  return fs.lstatSync(p, { bigint: true });
}

export function kindOfMode(mode: number): OvlFileType {
  switch (mode & S_IFMT) {
    case S_IFDIR:
      return 'dir';
    case S_IFREG:
      return 'file';
    case S_IFLNK:
      return 'symlink';
    case S_IFCHR:
      return 'char';
    case S_IFBLK:
      return 'block';
    case S_IFIFO:
      return 'fifo';
    default:
      return 'socket';
  }
}

export function kindOfDtype(t: number): OvlFileType | undefined {
  switch (t) {
    case DT.DIR:
      return 'dir';
    case DT.REG:
      return 'file';
    case DT.LNK:
      return 'symlink';
    case DT.CHR:
      return 'char';
    case DT.BLK:
      return 'block';
    case DT.FIFO:
      return 'fifo';
    case DT.SOCK:
      return 'socket';
    default:
      return undefined;
  }
}

/** A kernel whiteout: a character device 0:0. */
export function isWhiteoutStat(st: Stat): boolean {
  return (Number(st.mode) & S_IFMT) === S_IFCHR && st.rdev === 0n;
}

/** An xattr whiteout: an empty regular file carrying `trusted.overlay.whiteout`. */
export function isXattrWhiteout(p: string, st: Stat): boolean {
  return (Number(st.mode) & S_IFMT) === S_IFREG && st.size === 0n && lgetxattr(p, XATTR_WHITEOUT) !== null;
}

/** Either kind of whiteout. */
export function isAnyWhiteout(p: string, st: Stat): boolean {
  return isWhiteoutStat(st) || isXattrWhiteout(p, st);
}

/** The value of a `y`/`x`-style overlay flag xattr (first byte), or undefined. */
export function flagXattr(p: string, name: string): string | undefined {
  const v = lgetxattr(p, name);
  return v === null || v.length === 0 ? undefined : String.fromCharCode(v[0]!);
}

/** A directory is opaque when `trusted.overlay.opaque` is `y` (`x` only marks xattr whiteouts inside). */
export function isOpaqueDir(p: string): boolean {
  return flagXattr(p, XATTR_OPAQUE) === 'y';
}

/** A directory that may hold xattr whiteouts (`opaque=x`). */
export function hasXwhiteoutsMark(p: string): boolean {
  return flagXattr(p, XATTR_OPAQUE) === 'x';
}

/** The redirect of a directory if it is a valid one (kernel rules: absolute without empty components, or a single name). */
export function readRedirect(p: string): string | undefined {
  const v = lgetxattr(p, XATTR_REDIRECT);
  if (v === null || v.length === 0) return undefined;
  const s = v.toString('utf8');
  if (s.startsWith('/')) {
    if (s.slice(1).split('/').some((c) => c === '')) return undefined;
    return s;
  }
  return s.includes('/') ? undefined : s;
}

export function listRaw(p: string): RawDirents {
  return readdirRaw(p);
}

/** Nanoseconds of a bigint stat's times. */
export function statTimes(st: Stat): { atimeNs: bigint; mtimeNs: bigint } {
  return { atimeNs: st.atimeNs, mtimeNs: st.mtimeNs };
}

/** A real inode's attributes as the union reports them, with the union's own dev, ino and nlink. */
export function toOvlStat(st: fs.BigIntStats, dev: number, ino: bigint, nlink: number): OvlStat {
  return {
    dev,
    ino,
    mode: Number(st.mode),
    nlink,
    uid: Number(st.uid),
    gid: Number(st.gid),
    rdev: Number(st.rdev),
    size: Number(st.size),
    blksize: Number(st.blksize),
    blocks: Number(st.blocks),
    atimeNs: st.atimeNs,
    mtimeNs: st.mtimeNs,
    ctimeNs: st.ctimeNs,
  };
}
