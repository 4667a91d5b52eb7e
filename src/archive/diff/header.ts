/**
 * One file's tar header, as moby's `FileInfoHeader` (pkg/archive, v20.10) builds it on top of Go's
 * `tar.FileInfoHeader`, from an lstat result.
 *
 *   | field            | value                                                                   |
 *   |------------------|-------------------------------------------------------------------------|
 *   | typeflag         | reg 0, symlink 2, char 3, block 4, dir 5, fifo 6 (sockets: no header)   |
 *   | mode             | permission + setuid/setgid/sticky + the S_IF* type bits (= st_mode)     |
 *   | uid/gid          | from lstat; uname/gname from the name resolver                          |
 *   | size             | regular files only                                                      |
 *   | mtime            | truncated to whole seconds; atime and ctime dropped; format PAX         |
 *   | linkname         | the symlink target, raw bytes                                           |
 *   | devmajor/minor   | from rdev (glibc's major/minor split)                                   |
 *   | xattrs           | only security.capability, v3 rewritten to v2                            |
 */
import type { BigIntStats } from 'node:fs';
import { TarType, type TarWriteHeader } from '../tar/index.js';
import { S_IFBLK, S_IFCHR, S_IFDIR, S_IFIFO, S_IFLNK, S_IFMT, S_IFREG } from '../../sys/index.js';
import type { NameResolver } from './names.js';

export const SECURITY_CAPABILITY = 'security.capability';

/** A header being built: the writer's fields with the name and linkname as raw bytes. */
export interface DiffHeader extends TarWriteHeader {
  name: Buffer;
  linkname: Buffer;
  size: number;
  uid: number;
  gid: number;
  uname: string;
  gname: string;
  devmajor: number;
  devminor: number;
}

/** glibc's major()/minor() on a 64-bit dev_t. */
export function devMajor(rdev: bigint): number {
  return Number(((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn));
}
export function devMinor(rdev: bigint): number {
  return Number((rdev & 0xffn) | ((rdev >> 12n) & ~0xffn));
}

/** Whole seconds of a nanosecond timestamp, rounded down (Go's `Time.Truncate(time.Second)`). */
export function floorSeconds(ns: bigint): number {
  const s = ns / 1_000_000_000n;
  return Number(ns < 0n && s * 1_000_000_000n !== ns ? s - 1n : s);
}

const TYPE_OF: Record<number, string> = {
  [S_IFREG]: TarType.Reg,
  [S_IFDIR]: TarType.Dir,
  [S_IFLNK]: TarType.Symlink,
  [S_IFCHR]: TarType.Char,
  [S_IFBLK]: TarType.Block,
  [S_IFIFO]: TarType.Fifo,
};

/**
 * The header moby writes for `name` (relative, raw bytes, no trailing slash) with lstat `st`.
 * `link` is the symlink target for symlinks. Returns undefined for sockets (Go's
 * "archive/tar: sockets not supported", which moby logs and skips) and unknown file types.
 */
export function fileInfoHeader(name: Buffer, st: BigIntStats, link: Buffer | undefined, names: NameResolver): DiffHeader | undefined {
  const mode = Number(st.mode);
  const fmt = mode & S_IFMT;
  const type = TYPE_OF[fmt];
  if (type === undefined) return undefined;
  const uid = Number(st.uid);
  const gid = Number(st.gid);
  const rdev = st.rdev;
  const h: DiffHeader = {
    // canonicalTarName: directories end in '/'
    name: fmt === S_IFDIR ? Buffer.concat([name, SLASH]) : name,
    type,
    // Go: Perm() | setuid/setgid/sticky; moby re-adds the type bits (fillGo18FileTypeBits).
    mode: (mode & 0o7777) | fmt,
    uid,
    gid,
    uname: names.uname(uid),
    gname: names.gname(gid),
    size: fmt === S_IFREG ? Number(st.size) : 0,
    mtime: { sec: floorSeconds(st.mtimeNs), nsec: 0 },
    linkname: fmt === S_IFLNK && link ? link : EMPTY,
    devmajor: 0,
    devminor: 0,
    format: 'pax',
  };
  // Go's statUnix fills the device numbers for char and block devices; moby's
  // setHeaderForSpecialDevice then sets them whenever `mode & S_IFBLK` or `mode & S_IFCHR` is
  // non-zero, which also matches directories, symlinks and sockets (whose rdev is 0 in practice).
  if (mode & S_IFBLK || mode & S_IFCHR) {
    h.devmajor = devMajor(rdev);
    h.devminor = devMinor(rdev);
  }
  return h;
}

/**
 * The `security.capability` value as moby exports it: a VFS_CAP_REVISION_3 blob (which names a
 * namespace root uid, meaningless outside the user namespace) becomes revision 2, first 20 bytes.
 * Values too short to carry a revision byte are exported unchanged.
 */
export function exportCapability(value: Buffer): Buffer {
  if (value.length > 3 && value[3] === 3) {
    const v2 = Buffer.from(value.subarray(0, Math.min(20, value.length)));
    v2[3] = 2;
    return v2;
  }
  return value;
}

const SLASH = Buffer.from('/');
const EMPTY = Buffer.alloc(0);
