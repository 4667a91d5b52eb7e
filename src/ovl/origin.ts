/**
 * Copy-up origins in the kernel's format. When the kernel copies a lower object up it stores, in
 * `trusted.overlay.origin` of the new upper object, the lower inode's file handle:
 *
 *   byte 0 version (0) | 1 magic 0xfb | 2 total length | 3 flags (0: little endian) | 4 handle type
 *   5..20  the lower filesystem's UUID | 21.. the handle bytes from name_to_handle_at
 *
 * (29 bytes on ext4: an ino32+generation handle). A zero-length value means "copied up, origin
 * unknown". The origin is how a copied-up file keeps its st_ino: the overlay decodes the handle
 * (open_by_handle_at) and reports the lower inode's number.
 */
import fs from 'node:fs';
import { O_PATH, fstat, fsUuid, openByHandleAt } from '../sys/index.js';
import type { OriginInfo } from './entry.js';
import * as real from './realfs.js';
import { S_IFMT, XATTR_ORIGIN } from './realfs.js';

const FH_VERSION = 0;
const FH_MAGIC = 0xfb;
const FH_FLAG_BIG_ENDIAN = 1;
const FH_FLAG_ANY_ENDIAN = 2;
const FH_FLAG_PATH_UPPER = 4;
const FH_HEADER = 5 + 16;

interface LayerFs {
  uuid: Buffer | null;
  fd: number;
  /** The head of its origin values (see header()), made once. */
  header?: Buffer;
}

/** Encodes and decodes origins against the lower layers' filesystems (one open fd per lower root, opened lazily). */
export class Origins {
  private readonly fsByLayer = new Map<number, LayerFs>();

  constructor(private readonly lowers: readonly string[]) {}

  private layerFs(i: number): LayerFs {
    let l = this.fsByLayer.get(i);
    if (!l) {
      const fd = real.open(this.lowers[i]!, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
      let uuid: Buffer | null = null;
      try {
        uuid = fsUuid(fd);
      } catch {
        uuid = null;
      }
      l = { uuid, fd };
      this.fsByLayer.set(i, l);
    }
    return l;
  }

  /**
   * The head of an origin value for an object of lower layer `layer`: version, magic, flags and
   * the filesystem's UUID, with the total length (byte 2) and the handle type (byte 4) left for
   * whoever appends the handle to fill; empty when the filesystem has no UUID (origin unknown).
   */
  header(layer: number): Buffer {
    const l = this.layerFs(layer);
    if (l.header === undefined) {
      l.header = l.uuid === null || l.uuid.length !== 16 ? Buffer.alloc(0) : Buffer.alloc(FH_HEADER);
      if (l.header.length > 0) {
        l.header[0] = FH_VERSION;
        l.header[1] = FH_MAGIC;
        l.header[3] = 0; // little-endian host, as the kernel writes on x86/arm64
        l.uuid!.copy(l.header, 5);
      }
    }
    return l.header;
  }

  /** The origin xattr value for the lower object at real path `p` of lower layer `layer`: a handle, or empty when the fs has none. */
  encode(layer: number, p: string): Buffer {
    const header = this.header(layer);
    if (header.length === 0) return header;
    let h;
    try {
      h = real.nameToHandle(p);
    } catch {
      return Buffer.alloc(0);
    }
    const out = Buffer.concat([header, h.handle]);
    out[2] = out.length;
    out[4] = h.type;
    return out;
  }

  /**
   * The origin of the upper object at `upperPath` (of file type bits `fmt`): the lower inode it was
   * copied from, or null when there is no origin, it is unknown, stale, of another type, or on a
   * filesystem that is not one of the lower layers.
   */
  decode(upperPath: string, fmt: number): OriginInfo | null {
    const v = real.lgetxattr(upperPath, XATTR_ORIGIN);
    if (v === null || v.length < FH_HEADER || v[1] !== FH_MAGIC || v[2]! > v.length || v[2]! < FH_HEADER) return null;
    const flags = v[3]!;
    if (v[0]! > FH_VERSION || flags & ~(FH_FLAG_BIG_ENDIAN | FH_FLAG_ANY_ENDIAN | FH_FLAG_PATH_UPPER)) return null;
    if (!(flags & FH_FLAG_ANY_ENDIAN) && flags & FH_FLAG_BIG_ENDIAN) return null;
    const uuid = v.subarray(5, 21);
    const handle = Buffer.from(v.subarray(FH_HEADER, v[2]!));
    for (let i = 0; i < this.lowers.length; i++) {
      const l = this.layerFs(i);
      if (l.uuid === null || !l.uuid.equals(uuid)) continue;
      let fd: number;
      try {
        fd = openByHandleAt(l.fd, v[4]!, handle, O_PATH);
      } catch {
        return null;
      }
      try {
        const st = fstat(fd);
        if ((st.mode & S_IFMT) !== fmt) return null;
        return { ino: st.ino, nlink: st.nlink };
      } finally {
        fs.closeSync(fd);
      }
    }
    return null;
  }

  close(): void {
    for (const l of this.fsByLayer.values()) fs.closeSync(l.fd);
    this.fsByLayer.clear();
  }
}
