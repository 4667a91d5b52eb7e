/**
 * The tar appender shared by the layer tar writer and ExportChanges: moby's `tarAppender`
 * (`addTarFile`), writing into an output of fixed-size chunks.
 *
 * For each file, in this order (the order matters for the bytes):
 *   1. header from lstat (header.ts), plus `security.capability`;
 *   2. hardlinks: a non-directory with nlink > 1 is remembered by inode number under its
 *      (pre-conversion) name; a later path to the same inode becomes typeflag '1' with that name
 *      as linkname and size 0;
 *   3. the overlay converter, if on: a char device 0/0 becomes `<dir>/.wh.<base>`, typeflag '0',
 *      mode 0600, size 0 (a second name of a shared whiteout inode keeps the linkname step 2 gave
 *      it, exactly as moby's converter does); an opaque directory's entry is followed by a
 *      `<dir>/.wh..wh..opq` entry with the directory's rwx bits, owner and names, mtime 0 and no
 *      explicit format;
 *   4. the header(s), then the content of a non-empty regular file, then its padding.
 */
import fs from 'node:fs';
import { StrataError } from '../../errors/index.js';
import { encodeHeader, END_OF_ARCHIVE, TarType } from '../tar/index.js';
import { whiteoutEntryName, opaqueMarkerName } from '../whiteout.js';
import { S_IFCHR, S_IFDIR, S_IFLNK, S_IFMT, S_IFSOCK } from '../../sys/index.js';
import { exportCapability, fileInfoHeader, SECURITY_CAPABILITY, type DiffHeader } from './header.js';
import type { NameResolver } from './names.js';
import { isOpaqueDir, readCapability } from './xattr.js';

export const DEFAULT_CHUNK = 1 << 20;
const ZEROS = Buffer.alloc(512);
const OPEN_FLAGS = fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW;

function errnoCode(e: unknown): string | undefined {
  return typeof e === 'object' && e !== null && 'code' in e ? String((e as { code: unknown }).code) : undefined;
}

/** A path that disappeared between readdir and use: moby logs and skips it. */
export function vanished(e: unknown): boolean {
  const c = errnoCode(e);
  return c === 'ENOENT' || c === 'ENOTDIR';
}

export interface AppenderOptions {
  names: NameResolver;
  /** Convert overlay whiteouts and opaque dirs (moby's OverlayWhiteoutFormat). */
  overlay: boolean;
  /** Output chunk size in bytes. */
  chunkSize?: number;
  /** Told about every entry left out (sockets, files that vanished mid-walk). */
  onSkip?: (path: Buffer, reason: string) => void;
}

export class TarAppender {
  private readonly seen = new Map<bigint, Buffer>();
  private readonly chunkSize: number;
  private buf: Buffer;
  private off = 0;

  constructor(private readonly opts: AppenderOptions) {
    this.chunkSize = Math.max(512, opts.chunkSize ?? DEFAULT_CHUNK);
    this.buf = Buffer.allocUnsafe(this.chunkSize);
  }

  /** Copies bytes into the output, yielding every chunk that fills up. */
  *write(b: Buffer): Generator<Buffer> {
    let i = 0;
    while (i < b.length) {
      const n = Math.min(b.length - i, this.chunkSize - this.off);
      b.copy(this.buf, this.off, i, i + n);
      this.off += n;
      i += n;
      if (this.off === this.chunkSize) yield this.rotate();
    }
  }

  private rotate(): Buffer {
    const full = this.buf;
    this.buf = Buffer.allocUnsafe(this.chunkSize);
    this.off = 0;
    return full;
  }

  /** Reads exactly `size` bytes of `fd` straight into the output chunks. */
  private *copy(fd: number, size: number, path: Buffer): Generator<Buffer> {
    let left = size;
    while (left > 0) {
      const want = Math.min(left, this.chunkSize - this.off);
      const n = fs.readSync(fd, this.buf, this.off, want, null);
      if (n === 0) {
        throw new StrataError('DIFF_FILE_CHANGED', `${path.toString()} shrank while it was being archived (${size - left} of ${size} bytes read)`);
      }
      this.off += n;
      left -= n;
      if (this.off === this.chunkSize) yield this.rotate();
    }
    const pad = (512 - (size % 512)) % 512;
    if (pad) yield* this.write(ZEROS.subarray(0, pad));
  }

  /**
   * Appends `path` (already lstat'ed as `st`) under the archive name `name` (relative, raw bytes,
   * no trailing slash). Yields the output chunks that fill up meanwhile.
   */
  *addFile(path: Buffer, name: Buffer, st: fs.BigIntStats): Generator<Buffer> {
    const fmt = Number(st.mode) & S_IFMT;
    let link: Buffer | undefined;
    if (fmt === S_IFLNK) {
      try {
        link = fs.readlinkSync(path, { encoding: 'buffer' });
      } catch (e) {
        if (vanished(e)) return this.opts.onSkip?.(path, 'vanished');
        throw e;
      }
    }
    const hdr = fileInfoHeader(name, st, link, this.opts.names);
    if (!hdr) return this.opts.onSkip?.(path, fmt === S_IFSOCK ? 'sockets not supported' : 'unknown file mode');
    const cap = readCapability(path);
    if (cap !== null) hdr.xattrs = new Map([[SECURITY_CAPABILITY, exportCapability(cap)]]);

    if (fmt !== S_IFDIR && st.nlink > 1n) {
      // moby keys hardlinks by st_ino alone (getInodeFromStat), and remembers the header name.
      const first = this.seen.get(st.ino);
      if (first !== undefined) {
        hdr.type = TarType.Link;
        hdr.linkname = first;
        hdr.size = 0;
      } else {
        this.seen.set(st.ino, hdr.name);
      }
    }

    let marker: DiffHeader | undefined;
    if (this.opts.overlay) {
      if (fmt === S_IFCHR && hdr.devmajor === 0 && hdr.devminor === 0) {
        hdr.name = whiteoutEntryName(hdr.name);
        hdr.mode = 0o600;
        hdr.type = TarType.Reg;
        hdr.size = 0;
      } else if (fmt === S_IFDIR) {
        const opaque = isOpaqueDir(path);
        if (opaque === undefined) return this.opts.onSkip?.(path, 'vanished');
        if (opaque) {
          marker = {
            name: opaqueMarkerName(hdr.name),
            type: TarType.Reg,
            mode: hdr.mode & 0o777,
            size: 0,
            uid: hdr.uid,
            gid: hdr.gid,
            uname: hdr.uname,
            gname: hdr.gname,
            linkname: Buffer.alloc(0),
            devmajor: 0,
            devminor: 0,
            // no mtime (Go's zero time) and no format: Go's writer emits plain USTAR
          };
        }
      }
    }

    // Open before writing anything, so a file that vanished leaves no half entry behind.
    let fd: number | undefined;
    if (hdr.type === TarType.Reg && hdr.size > 0) {
      try {
        fd = fs.openSync(path, OPEN_FLAGS);
      } catch (e) {
        if (vanished(e)) return this.opts.onSkip?.(path, 'vanished');
        throw e;
      }
    }
    try {
      yield* this.write(encodeHeader(hdr));
      if (marker) yield* this.write(encodeHeader(marker));
      if (fd !== undefined) yield* this.copy(fd, hdr.size, path);
    } finally {
      if (fd !== undefined) fs.closeSync(fd);
    }
  }

  /** Writes a header that has no file behind it (ExportChanges' whiteouts). */
  *addHeader(h: Parameters<typeof encodeHeader>[0]): Generator<Buffer> {
    yield* this.write(encodeHeader(h));
  }

  /** The end-of-archive blocks and the last, partial chunk. */
  *close(): Generator<Buffer> {
    yield* this.write(END_OF_ARCHIVE);
    if (this.off > 0) {
      const last = this.buf.subarray(0, this.off);
      this.buf = Buffer.alloc(0);
      this.off = 0;
      yield last;
    }
  }
}
