/**
 * The apply loop: moby's `Unpack` (+ overlay `ConvertRead`) and `UnpackLayer`, entry by entry, on
 * top of `Root`'s chroot-style resolution. See index.ts for the contract.
 */
import fs from 'node:fs';
import { StrataError } from '../../errors/index.js';
import * as sys from '../../sys/index.js';
import { TarReader, type TarEntry, type TarHeader, type Timespec } from '../tar/index.js';
import { OVERLAY_OPAQUE_XATTR, OVERLAY_OPAQUE_VALUE, WHITEOUT_LINK_DIR, WHITEOUT_META_PREFIX, WHITEOUT_OPAQUE_DIR, WHITEOUT_PREFIX, classifyWhiteout, type WhiteoutKind } from '../whiteout.js';
import { ApplyErrorCode, applyError, describe, errnoOf, quote, ioError, oneLine } from './errors.js';
import type { ApplyOptions, ApplyResult, WhiteoutMode } from './options.js';
import { goCleanPath } from '../gostrings.js';
import { baseOf, byteString, bytesOf, dirOf, escapes, joinRel, relativeToRoot } from './paths.js';
import { Root, type CreateDirs } from './root.js';
import { directorySize } from '../size.js';

const NS = 1_000_000_000n;
/** Go's maximum time for os.Chtimes on 64-bit: time.Unix(0, 1<<63-1). */
const MAX_CHTIMES_NS = (1n << 63n) - 1n;
/** Chunks at least this big are written as they are; smaller ones are gathered first. */
const DIRECT_WRITE = 64 << 10;
/** The gather buffer for small chunks. */
const STAGE_SIZE = 1 << 20;
const OPEN_NEW_FILE = fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW;

/** Typeflags createTarFile handles; '7' (contiguous) and 'S' (old GNU sparse) are regular files. */
function isRegular(t: string): boolean {
  return t === '0' || t === '7' || t === 'S';
}
function isKnown(t: string): boolean {
  return t.length === 1 && ((t >= '0' && t <= '7') || t === 'S');
}

const EMPTY = Buffer.alloc(0);
const NOT_WHITEOUT: WhiteoutKind = { kind: 'none' };

interface DirTimes {
  rel: string;
  name: string;
  atime: bigint;
  mtime: bigint;
}

type Body = AsyncIterable<Buffer> | Buffer;

function nsOf(t: Timespec): bigint {
  return BigInt(t.sec) * NS + BigInt(t.nsec);
}

/** moby's system.Chtimes: a time before the epoch or past Go's maximum becomes the epoch. */
function chtimesClamp(t: bigint | undefined): bigint {
  return t === undefined || t < 0n || t > MAX_CHTIMES_NS ? 0n : t;
}

/** createTarFile's times: atime is never before mtime (an absent atime is Go's zero time). */
function entryTimes(h: TarHeader): [bigint, bigint] {
  const m = nsOf(h.mtime);
  const a = h.atime ? nsOf(h.atime) : undefined;
  return [a === undefined || a < m ? m : a, m];
}

function currentUmask(): number | undefined {
  try {
    return process.umask();
  } catch {
    return undefined; // worker threads cannot read it: always chmod
  }
}

function readError(e: unknown): StrataError {
  if (e instanceof StrataError) return e;
  return applyError(ApplyErrorCode.Read, `cannot read the archive: ${oneLine(e instanceof Error ? e.message : String(e))}`, e);
}

function isEexist(e: unknown): boolean {
  return errnoOf(e) === 'EEXIST';
}

export class Applier {
  readonly warnings: string[] = [];
  /** UnpackLayer's size: the sum of header sizes. */
  headerSize = 0;
  private readonly mode: WhiteoutMode;
  private readonly allowDevices: boolean;
  private readonly rejectDuplicates: boolean;
  private readonly chown: boolean;
  private readonly onWarning?: (message: string) => void;
  private readonly parents: CreateDirs;
  private readonly seen = new Set<string>();
  private readonly dirTimes: DirTimes[] = [];
  /** 'delete' mode: resolved paths unpacked by this layer (an opaque marker keeps them). */
  private readonly unpacked = new Set<string>();
  /** 'delete' mode: regular files under `.wh..wh.plnk/`, by base name (AUFS hardlink sources). */
  private readonly plnk = new Map<string, { header: TarHeader; data: Buffer }>();
  private stage: Buffer | undefined;
  /**
   * directory.Size computed while applying: valid when the target started empty and nothing was
   * removed since, because then every non-directory inode in it was made by exactly one entry — a
   * regular file (its logical size) or a symlink (its target's length); hardlinks add no inode.
   */
  private sizeSum = 0;
  private sizeTracked: boolean;
  /**
   * To save two system calls per regular file (this is the hot path): a new file already has the
   * applying process's owner — unless its directory is setgid — and its open() mode minus the
   * umask, so fchown and fchmod are skipped when they could not change anything.
   */
  private readonly euid = process.geteuid?.() ?? -1;
  private readonly egid = process.getegid?.() ?? -1;
  private readonly umask = currentUmask();
  /** Whether a resolved directory is setgid (its new files inherit its group); reset on removals. */
  private readonly setgidDirs = new Map<string, boolean>();
  private setgidEpoch = 0;

  constructor(
    private readonly root: Root,
    opts: ApplyOptions,
  ) {
    this.mode = opts.whiteouts;
    const isRoot = process.getuid?.() === 0;
    this.allowDevices = opts.allowDevices ?? isRoot;
    this.rejectDuplicates = opts.rejectDuplicates ?? true;
    this.chown = !opts.noLchown;
    this.onWarning = opts.onWarning;
    this.sizeTracked = this.mode === 'overlay' && root.isEmpty();
    // Unpack: MkdirAllAndChownNew(parent, 0755, root); UnpackLayer: MkdirAll(parent, 0600).
    this.parents =
      this.mode === 'overlay'
        ? { mode: 0o755, owner: isRoot && this.chown ? { uid: 0, gid: 0 } : undefined }
        : { mode: 0o600 };
  }

  /** Applies one archive entry. */
  async entry(e: TarEntry): Promise<void> {
    const h = e.header;
    if (h.type === 'g') return; // PAX global headers carry no file.
    const cleaned = goCleanPath(byteString(h.nameBytes));
    if (this.rejectDuplicates) {
      if (this.seen.has(cleaned)) {
        throw applyError(ApplyErrorCode.Duplicate, `duplicates of file paths not supported: ${quote(cleaned)}`);
      }
      this.seen.add(cleaned);
    }
    if (this.mode === 'delete') this.headerSize += h.size;
    const rel = relativeToRoot(cleaned);
    if (rel === null) throw this.breakout(cleaned);
    const isRoot = rel === '.';
    const parentLit = isRoot ? '.' : dirOf(rel);
    const base = isRoot ? '.' : baseOf(rel);
    const wk: WhiteoutKind = isRoot || !base.startsWith(WHITEOUT_PREFIX) ? NOT_WHITEOUT : classifyWhiteout(bytesOf(base));
    const aufsMeta = this.mode === 'delete' && cleaned.startsWith(WHITEOUT_META_PREFIX);

    // Refuse what cannot be created before anything is changed.
    if (wk.kind === 'none' && !aufsMeta) this.checkType(h, cleaned);
    if (wk.kind === 'whiteout') this.checkWhiteout(parentLit, byteString(wk.target), cleaned);
    if (isRoot && h.type !== '5') {
      throw applyError(ApplyErrorCode.InvalidName, `${quote(cleaned)}: a non-directory entry cannot replace the root directory`);
    }

    // Every name but "/" gets its parent directory, created if missing.
    const parent = cleaned === '/' ? '' : this.root.resolveDir(parentLit, cleaned, this.parents);

    if (aufsMeta) {
      // UnpackLayer skips top-level AUFS metadata; plnk files are kept aside as hardlink sources.
      if (cleaned.startsWith(WHITEOUT_LINK_DIR) && h.type === '0') {
        this.plnk.set(baseOf(cleaned), { header: h, data: await this.readAll(e) });
      }
      if (cleaned !== WHITEOUT_OPAQUE_DIR) return;
    }

    if (wk.kind !== 'none') {
      if (this.mode === 'overlay') this.overlayWhiteout(wk, h, parent, base, cleaned);
      else this.deleteWhiteout(wk, parent, cleaned);
      return;
    }

    if (isRoot && this.mode === 'overlay' && cleaned === '.') return; // Unpack skips "." over an existing dir.
    const pathRel = isRoot ? '' : joinRel(parent, base);

    let src = h;
    let body: Body | undefined;
    if (this.mode === 'delete' && h.type === '1') {
      const link = goCleanPath(byteString(h.linknameBytes));
      if (link.startsWith(WHITEOUT_LINK_DIR)) {
        // Hardlinks into .wh..wh.plnk become copies of the file kept aside.
        const kept = this.plnk.get(baseOf(link));
        if (!kept) throw applyError(ApplyErrorCode.InvalidAufsHardlink, `invalid aufs hardlink ${quote(cleaned)} -> ${quote(h.linknameBytes)}`);
        src = kept.header;
        body = kept.data;
      }
    }
    await this.create(src, body ?? e, pathRel, rel, parent, parentLit, cleaned);
    if (h.type === '5') {
      const [a, m] = [chtimesClamp(h.atime ? nsOf(h.atime) : undefined), chtimesClamp(nsOf(h.mtime))];
      this.dirTimes.push({ rel, name: cleaned, atime: a, mtime: m });
    }
    if (this.mode === 'delete') this.unpacked.add(pathRel);
  }

  /** After the last entry: directory times, in archive order, so later entries cannot disturb them. */
  finish(): void {
    for (const d of this.dirTimes) {
      const p = this.root.abs(this.root.resolveDir(d.rel, d.name));
      try {
        sys.utimensat(sys.AT_FDCWD, p, d.atime, d.mtime, 0);
      } catch (e) {
        throw ioError('set the times of', d.name, e);
      }
    }
  }

  async result(): Promise<ApplyResult> {
    let size = this.headerSize;
    if (this.mode === 'overlay') {
      size = this.sizeTracked && this.root.removals === 0 ? this.sizeSum : await directorySize(this.root.abs(''));
    }
    return { size, warnings: this.warnings };
  }

  private breakout(cleaned: string): StrataError {
    return applyError(ApplyErrorCode.Breakout, `${quote(cleaned)} is outside of ${quote(Buffer.from(this.root.display))}`);
  }

  private checkType(h: TarHeader, cleaned: string): void {
    if (!isKnown(h.type)) {
      throw applyError(ApplyErrorCode.UnsupportedType, `unhandled tar header type ${h.type.charCodeAt(0)} for ${quote(cleaned)}`);
    }
    if ((h.type === '3' || h.type === '4') && !this.allowDevices && !(h.type === '3' && h.devmajor === 0 && h.devminor === 0)) {
      const kind = h.type === '3' ? 'character' : 'block';
      throw applyError(ApplyErrorCode.DeviceNotAllowed, `${kind} device ${quote(cleaned)} (${h.devmajor}:${h.devminor}) is not allowed`);
    }
  }

  /** A whiteout must name an entry of its own directory: not "", ".", or "..". */
  private checkWhiteout(parentLit: string, target: string, cleaned: string): void {
    if (escapes(goCleanPath(`${parentLit}/${target}`))) {
      throw applyError(ApplyErrorCode.Breakout, `whiteout ${quote(cleaned)} is outside of ${quote(Buffer.from(this.root.display))}`);
    }
    if (target === '' || target === '.' || target === '..') {
      throw applyError(ApplyErrorCode.InvalidWhiteout, `invalid whiteout ${quote(cleaned)}: it names a directory, not an entry in it`);
    }
  }

  /** Unpack + ConvertRead: whiteouts become 0:0 char devices, opaque markers an xattr. */
  private overlayWhiteout(wk: WhiteoutKind, h: TarHeader, parent: string, base: string, cleaned: string): void {
    // Unpack first clears whatever is at the marker's own path.
    const own = joinRel(parent, base);
    const st = fs.lstatSync(this.root.abs(own), { throwIfNoEntry: false });
    if (st && !(st.isDirectory() && h.type === '5')) this.root.removeAll(own, cleaned);
    if (wk.kind === 'opaque') {
      try {
        sys.lsetxattr(this.root.abs(parent), OVERLAY_OPAQUE_XATTR, OVERLAY_OPAQUE_VALUE, 0);
      } catch (e) {
        throw ioError(`set ${OVERLAY_OPAQUE_XATTR}=y for`, cleaned, e);
      }
      return;
    }
    if (wk.kind !== 'whiteout') return;
    const p = this.root.abs(joinRel(parent, byteString(wk.target)));
    try {
      sys.mknod(p, sys.S_IFCHR, 0, 0);
      if (this.chown) fs.lchownSync(p, h.uid, h.gid);
    } catch (e) {
      throw ioError('create the whiteout device for', cleaned, e);
    }
  }

  /** UnpackLayer: whiteouts delete, opaque markers delete what this layer did not unpack. */
  private deleteWhiteout(wk: WhiteoutKind, parent: string, cleaned: string): void {
    if (wk.kind === 'opaque') {
      this.clearOpaque(parent, cleaned);
      return;
    }
    if (wk.kind === 'whiteout') this.root.removeAll(joinRel(parent, byteString(wk.target)), cleaned);
  }

  private clearOpaque(dir: string, cleaned: string): void {
    let names: Buffer[];
    try {
      names = fs.readdirSync(this.root.abs(dir), { encoding: 'buffer' });
    } catch (e) {
      throw ioError('read', cleaned, e);
    }
    for (const n of names) {
      const child = joinRel(dir, byteString(n));
      if (!this.unpacked.has(child)) {
        this.root.removeAll(child, cleaned);
        continue;
      }
      const st = fs.lstatSync(this.root.abs(child), { throwIfNoEntry: false });
      if (st?.isDirectory()) this.clearOpaque(child, cleaned);
    }
  }

  /** createTarFile. `pathRel` is the entry's resolved path ('' for the root). */
  private async create(h: TarHeader, body: Body | TarEntry, pathRel: string, rel: string, parent: string, parentLit: string, cleaned: string): Promise<void> {
    const p = this.root.abs(pathRel);
    const perm = h.mode & 0o7777;
    if (isRegular(h.type)) {
      await this.file(h, body, p, pathRel, parent, perm, cleaned);
      return;
    }
    switch (h.type) {
      case '5':
        if (pathRel !== '') {
          this.make(pathRel, cleaned, 'create the directory', () => fs.mkdirSync(p, perm), true);
          this.root.remember(rel, pathRel);
        }
        this.owner(p, h, cleaned);
        this.xattrs(p, h, cleaned);
        this.chmod(p, perm, cleaned);
        this.knownSetgid(pathRel, (perm & 0o2000) !== 0);
        return; // times: after the whole archive
      case '2': {
        const link = byteString(h.linknameBytes);
        // moby: Join(Dir(path), linkname) must stay inside (with the name as the archive gave it).
        if (escapes(goCleanPath(`${parentLit}/${link}`))) {
          throw applyError(ApplyErrorCode.Breakout, `invalid symlink ${quote(cleaned)} -> ${quote(h.linknameBytes)}`);
        }
        this.make(pathRel, cleaned, 'create the symlink', () => fs.symlinkSync(bytesOf(link), p), false);
        this.sizeSum += h.linknameBytes.length;
        this.owner(p, h, cleaned);
        this.xattrs(p, h, cleaned);
        this.times(p, entryTimes(h), cleaned, true);
        return;
      }
      case '1': {
        const link = goCleanPath(byteString(h.linknameBytes));
        const lrel = relativeToRoot(link);
        if (lrel === null) {
          throw applyError(ApplyErrorCode.Breakout, `invalid hardlink ${quote(cleaned)} -> ${quote(h.linknameBytes)}`);
        }
        const target = lrel === '.' ? '' : joinRel(this.root.resolveDir(dirOf(lrel), cleaned), baseOf(lrel));
        const tp = this.root.abs(target);
        this.make(pathRel, cleaned, 'create the hardlink', () => fs.linkSync(tp, p), false);
        this.owner(p, h, cleaned);
        this.xattrs(p, h, cleaned);
        // moby sets mode and times through a hardlink only when its target is not a symlink.
        const st = fs.lstatSync(p, { throwIfNoEntry: false });
        if (st && !st.isSymbolicLink()) {
          this.chmod(p, perm, cleaned);
          this.times(p, entryTimes(h), cleaned, false);
        }
        return;
      }
      case '3':
      case '4':
      case '6': {
        const fmt = h.type === '3' ? sys.S_IFCHR : h.type === '4' ? sys.S_IFBLK : sys.S_IFIFO;
        this.make(pathRel, cleaned, 'create the node', () => sys.mknod(p, fmt | perm, h.devmajor, h.devminor), false);
        this.owner(p, h, cleaned);
        this.xattrs(p, h, cleaned);
        this.chmod(p, perm, cleaned);
        this.times(p, entryTimes(h), cleaned, false);
        return;
      }
      default:
        throw applyError(ApplyErrorCode.UnsupportedType, `unhandled tar header type ${h.type.charCodeAt(0)} for ${quote(cleaned)}`);
    }
  }

  /**
   * Creates the entry with a call that fails on an existing name and never follows one. An
   * existing path is replaced (removed, recursively), except a directory under a directory entry,
   * which is merged — moby's "remove and replace unless both are dirs".
   */
  private make(pathRel: string, cleaned: string, op: string, fn: () => void, isDir: boolean): void {
    try {
      fn();
      return;
    } catch (e) {
      if (!isEexist(e)) throw ioError(op, cleaned, e);
    }
    const st = fs.lstatSync(this.root.abs(pathRel), { throwIfNoEntry: false });
    if (isDir && st?.isDirectory()) return;
    this.root.removeAll(pathRel, cleaned);
    try {
      fn();
    } catch (e) {
      throw ioError(op, cleaned, e);
    }
  }

  private isSetgid(dir: string): boolean {
    if (this.setgidEpoch !== this.root.removals) {
      this.setgidDirs.clear();
      this.setgidEpoch = this.root.removals;
    }
    let v = this.setgidDirs.get(dir);
    if (v === undefined) {
      v = (fs.statSync(this.root.abs(dir)).mode & 0o2000) !== 0;
      this.setgidDirs.set(dir, v);
    }
    return v;
  }

  private knownSetgid(dir: string, v: boolean): void {
    if (this.setgidEpoch === this.root.removals) this.setgidDirs.set(dir, v);
  }

  private owner(p: Buffer, h: TarHeader, cleaned: string): void {
    if (!this.chown) return;
    try {
      fs.lchownSync(p, h.uid, h.gid);
    } catch (e) {
      throw ioError('change the owner of', cleaned, e);
    }
  }

  private chmod(p: Buffer, perm: number, cleaned: string): void {
    try {
      fs.chmodSync(p, perm);
    } catch (e) {
      throw ioError('change the mode of', cleaned, e);
    }
  }

  private times(p: Buffer, [a, m]: [bigint, bigint], cleaned: string, symlink: boolean): void {
    try {
      // Chtimes clamps; LUtimesNano (symlinks) does not.
      if (symlink) sys.utimensat(sys.AT_FDCWD, p, a, m, sys.AT_SYMLINK_NOFOLLOW);
      else sys.utimensat(sys.AT_FDCWD, p, chtimesClamp(a), chtimesClamp(m), sys.AT_SYMLINK_NOFOLLOW);
    } catch (e) {
      throw ioError('set the times of', cleaned, e);
    }
  }

  /** Every xattr of the entry; ENOTSUP/EPERM become warnings (as moby logs them), others fail. */
  private xattrs(p: Buffer, h: TarHeader, cleaned: string): void {
    for (const [k, v] of h.xattrs) {
      try {
        sys.lsetxattr(p, k, v, 0);
      } catch (e) {
        const code = errnoOf(e);
        if (code === 'ENOTSUP' || code === 'EOPNOTSUPP' || code === 'EPERM') {
          const w = `ignored xattr ${k} on ${quote(cleaned)}: ${describe(e)}`;
          this.warnings.push(w);
          this.onWarning?.(w);
          continue;
        }
        throw ioError(`set xattr ${k} on`, cleaned, e);
      }
    }
  }

  private async file(h: TarHeader, body: Body | TarEntry, p: Buffer, pathRel: string, parent: string, perm: number, cleaned: string): Promise<void> {
    let fd = -1;
    this.make(pathRel, cleaned, 'create', () => (fd = fs.openSync(p, OPEN_NEW_FILE, perm)), false);
    try {
      const data: Body = Buffer.isBuffer(body) ? body : 'body' in body ? (body.dataSize > 0 ? body.body() : EMPTY) : body;
      this.sizeSum += h.size;
      if (h.sparse) {
        const dataSize = Buffer.isBuffer(data) ? data.length : (body as TarEntry).dataSize;
        await this.writeSparse(fd, h, data, dataSize, cleaned);
      } else {
        await this.writeData(fd, data, cleaned);
      }
      try {
        if (this.chown && !(h.uid === this.euid && h.gid === this.egid && !this.isSetgid(parent))) fs.fchownSync(fd, h.uid, h.gid);
      } catch (e) {
        throw ioError('change the owner of', cleaned, e);
      }
      this.xattrs(p, h, cleaned);
      try {
        // chown clears setuid/setgid; the umask may have masked bits at open().
        if (this.umask === undefined || (perm & 0o6000) !== 0 || (perm & this.umask) !== 0) fs.fchmodSync(fd, perm);
      } catch (e) {
        throw ioError('change the mode of', cleaned, e);
      }
      const [a, m] = entryTimes(h);
      try {
        sys.utimensat(fd, null, chtimesClamp(a), chtimesClamp(m), 0);
      } catch (e) {
        throw ioError('set the times of', cleaned, e);
      }
    } finally {
      fs.closeSync(fd);
    }
  }

  /** Copies the content with few, large writes: big chunks go straight out, small ones are gathered. */
  private async writeData(fd: number, data: Body, cleaned: string): Promise<void> {
    if (Buffer.isBuffer(data)) {
      this.writeAll(fd, data, 0, data.length, null, cleaned);
      return;
    }
    const stage = (this.stage ??= Buffer.allocUnsafe(STAGE_SIZE));
    let fill = 0;
    for await (const chunk of readingErrors(data)) {
      if (chunk.length >= DIRECT_WRITE) {
        if (fill > 0) this.writeAll(fd, stage, 0, fill, null, cleaned);
        fill = 0;
        this.writeAll(fd, chunk, 0, chunk.length, null, cleaned);
        continue;
      }
      if (fill + chunk.length > stage.length) {
        this.writeAll(fd, stage, 0, fill, null, cleaned);
        fill = 0;
      }
      chunk.copy(stage, fill);
      fill += chunk.length;
    }
    if (fill > 0) this.writeAll(fd, stage, 0, fill, null, cleaned);
  }

  /** Sparse content: each data region is written at its offset; the file then gets its logical size. */
  private async writeSparse(fd: number, h: TarHeader, data: Body, dataSize: number, cleaned: string): Promise<void> {
    const regions = h.sparse!;
    const bad = (why: string) => applyError(ApplyErrorCode.BadSparse, `invalid sparse file ${quote(cleaned)}: ${why}`);
    // Go's validateSparseEntries, plus: the regions must account for exactly the stored data.
    let end = 0;
    let total = 0;
    for (const r of regions) {
      if (r.offset < 0 || r.length < 0 || !Number.isSafeInteger(r.offset + r.length)) throw bad('negative or overflowing region');
      if (r.offset + r.length > h.size) throw bad('region extends beyond the file size');
      if (r.offset < end) throw bad('regions overlap or are out of order');
      end = r.offset + r.length;
      total += r.length;
    }
    if (h.size < 0) throw bad('negative size');
    if (total !== dataSize) throw bad(`the sparse map covers ${total} bytes but the archive stores ${dataSize}`);
    let ri = 0;
    let done = 0;
    const put = (chunk: Buffer): void => {
      let off = 0;
      while (off < chunk.length) {
        while (ri < regions.length && done === regions[ri]!.length) {
          ri++;
          done = 0;
        }
        const r = regions[ri];
        if (!r) throw bad('more data than the sparse map describes');
        const n = Math.min(r.length - done, chunk.length - off);
        this.writeAll(fd, chunk, off, n, r.offset + done, cleaned);
        off += n;
        done += n;
      }
    };
    if (Buffer.isBuffer(data)) put(data);
    else for await (const chunk of readingErrors(data)) put(chunk);
    try {
      fs.ftruncateSync(fd, h.size);
    } catch (e) {
      throw ioError('write', cleaned, e);
    }
  }

  private writeAll(fd: number, buf: Buffer, off: number, len: number, pos: number | null, cleaned: string): void {
    try {
      while (len > 0) {
        const n = fs.writeSync(fd, buf, off, len, pos);
        off += n;
        len -= n;
        if (pos !== null) pos += n;
      }
    } catch (e) {
      throw ioError('write', cleaned, e);
    }
  }

  private async readAll(e: TarEntry): Promise<Buffer> {
    try {
      return await e.readAll();
    } catch (err) {
      throw readError(err);
    }
  }
}

/** Drives the loop over any async iterable of entries; see applyLayer in index.ts. */
export async function runApply(source: AsyncIterable<TarEntry>, dir: string, opts: ApplyOptions): Promise<ApplyResult> {
  if (!opts || (opts.whiteouts !== 'overlay' && opts.whiteouts !== 'delete')) {
    throw new TypeError(`applyLayer: options.whiteouts must be 'overlay' or 'delete'`);
  }
  const root = Root.open(dir);
  const applier = new Applier(root, opts);
  const it = source[Symbol.asyncIterator]();
  // A TarReader is driven through next() directly: one async layer less per entry.
  const next = source instanceof TarReader ? () => source.next() : async () => {
    const r = await it.next();
    return r.done ? null : r.value;
  };
  try {
    for (;;) {
      let e: TarEntry | null;
      try {
        e = await next();
      } catch (err) {
        throw readError(err);
      }
      if (!e) break;
      await applier.entry(e);
    }
    applier.finish();
  } catch (e) {
    await release(source, it);
    if (e instanceof StrataError) throw e;
    throw applyError(ApplyErrorCode.Io, `cannot apply the layer: ${describe(e)}`, e);
  }
  return applier.result();
}

/** Stops the input after a failure: TarReader.close() (closes its byte source) or iterator.return(). */
async function release(source: AsyncIterable<TarEntry>, it: AsyncIterator<TarEntry>): Promise<void> {
  try {
    const closable = source as { close?: () => Promise<void> };
    if (typeof closable.close === 'function') await closable.close();
    else await it.return?.();
  } catch {
    /* the first error is the one to report */
  }
}

/** The content chunks, with a failure to read the archive reported as a read error (not an I/O one). */
async function* readingErrors(data: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  const it = data[Symbol.asyncIterator]();
  for (;;) {
    let r: IteratorResult<Buffer>;
    try {
      r = await it.next();
    } catch (e) {
      throw readError(e);
    }
    if (r.done) return;
    yield r.value;
  }
}
