/**
 * Member names and the member table shared by the 'tar' and 'spooled' archive sources.
 *
 * Names are untrusted archive data. A member name is normalized once, when it is recorded
 * (`./a//b/` → `a/b`), and one that climbs out of the archive (`../x`, `a/../../x`) makes the
 * whole archive unsafe. Lookups normalize the same way; a lookup that climbs out finds nothing.
 *
 * The table keeps what extraction would leave behind: a later member replaces an earlier one of
 * the same name, symlinks are kept as links and resolved at lookup time (lexically, component by
 * component, at most 16 hops), and a hardlink is resolved when it is recorded — `link()` binds
 * to whatever the target name holds at that moment, so the link keeps that content even if a
 * later member replaces the target.
 *
 * Names are kept as their exact bytes, as extraction writes them to disk: a member named with
 * bytes that are not UTF-8 (`conf\xff.json`) is a different file from every name a JSON document
 * can spell — manifest.json's `"conf\ufffd.json"` does not find it, as it does not on the disk
 * dockerd unpacks to — and two such names never collide. Lookups take the caller's (Unicode)
 * name as its UTF-8 bytes. Internally a name is a "byte string" (one char per byte, latin1).
 */
import { TarType } from '../../archive/tar/index.js';
import path from 'node:path';
import { goQuote } from '../../archive/gostrings.js';
import { StrataError } from '../../errors/index.js';

/** The StrataError codes archive sources throw (besides Node's errno codes for the input path). */
export type ArchiveErrorCode =
  | 'ARCHIVE_INVALID'
  | 'ARCHIVE_TRUNCATED'
  | 'ARCHIVE_MISSING_MEMBER'
  | 'ARCHIVE_MEMBER_TOO_LARGE'
  | 'ARCHIVE_UNSAFE_PATH';

export function archiveError(code: ArchiveErrorCode, message: string, cause?: unknown): StrataError {
  return new StrataError(code, message, cause === undefined ? undefined : { cause });
}

export function missingMember(name: string): StrataError {
  return archiveError('ARCHIVE_MISSING_MEMBER', `file ${shownName(name)} not found in archive`);
}

/**
 * A name for a one-line message: as it is when it is printable UTF-8 (`a/layer.tar`), else quoted
 * as Go's %q does (`"a\nb"`, `"conf\xff.json"`), so that no name can break a message in two.
 */
export function shownName(name: string | Buffer): string {
  const bytes = typeof name === 'string' ? Buffer.from(name, 'utf8') : name;
  const quoted = goQuote(bytes);
  return quoted.slice(1, -1) === bytes.toString('utf8') ? bytes.toString('utf8') : quoted;
}

/** The byte string of a raw member name (tar header bytes). */
function byteString(raw: Buffer): string {
  return raw.toString('latin1');
}

/** The byte string of a caller's (Unicode) name: its UTF-8 bytes. */
function keyOf(name: string): string {
  return Buffer.from(name, 'utf8').toString('latin1');
}

/** Maximum number of links followed for one lookup. */
export const MAX_LINK_HOPS = 16;

/**
 * `name` without leading `/` and `./`, `//` collapsed, `.`/`..` resolved lexically, no trailing
 * `/`; `.` for the root itself. Undefined when it climbs out of the root.
 */
export function normalizeName(name: string): string | undefined {
  const stripped = name.replace(/^(?:\.?\/)+/, '');
  const n = path.posix.normalize(stripped === '' ? '.' : stripped).replace(/\/+$/, '');
  if (n === '..' || n.startsWith('../')) return undefined;
  return n === '' ? '.' : n;
}

/** normalizeName for a member being recorded (its raw bytes): climbing out is an error, not a miss. */
export function memberName(raw: Buffer): string {
  const n = normalizeName(byteString(raw));
  if (n === undefined) throw archiveError('ARCHIVE_UNSAFE_PATH', `archive member ${shownName(raw)} escapes the archive root`);
  return n;
}

/** A regular file's content, wherever the source keeps it (`L`: an offset, a spool path). */
export interface FileRecord<L> {
  readonly type: 'file';
  readonly size: number;
  readonly loc: L;
  /** False when the record was reached through a hardlink member (names() lists files only). */
  readonly listed: boolean;
}

interface SymlinkRecord {
  readonly type: 'symlink';
  /** The link's text as stored; resolved relative to the directory of the name it sits at. */
  readonly target: string;
}

type MemberRecord<L> = FileRecord<L> | SymlinkRecord;

export class MemberTable<L> {
  private readonly members = new Map<string, MemberRecord<L>>();

  /** A regular file member (`raw`: the name's bytes, as in the tar header). */
  addFile(raw: Buffer, size: number, loc: L): void {
    this.set(fileName(raw), { type: 'file', size, loc, listed: true });
  }

  addSymlink(raw: Buffer, target: Buffer): void {
    this.set(fileName(raw), { type: 'symlink', target: byteString(target) });
  }

  /** A hardlink: takes what `target` (an archive name) holds now; nothing if that is not a file or symlink. */
  addHardlink(raw: Buffer, target: Buffer): void {
    const name = fileName(raw);
    const t = normalizeName(byteString(target));
    const found = t === undefined ? undefined : this.resolve(t, false);
    if (!found) {
      this.members.delete(name);
      return;
    }
    this.set(name, found.type === 'file' ? { ...found, listed: false } : found);
  }

  /** Any other member (directory, device, FIFO…): replaces an earlier member of the same name. */
  addOther(raw: Buffer): void {
    this.members.delete(memberName(raw));
  }

  /** A member that is not a regular file, by its header: a symlink, a hardlink, or anything else. */
  addNonFile(h: { type: string; nameBytes: Buffer; linknameBytes: Buffer }): void {
    if (h.type === TarType.Symlink) this.addSymlink(h.nameBytes, h.linknameBytes);
    else if (h.type === TarType.Link) this.addHardlink(h.nameBytes, h.linknameBytes);
    else this.addOther(h.nameBytes);
  }

  /** Regular-file member names (as UTF-8; a name that is not UTF-8 shows U+FFFD), in the order of the members that won. */
  names(): string[] {
    const out: string[] = [];
    for (const [name, m] of this.members) if (m.type === 'file' && m.listed) out.push(Buffer.from(name, 'latin1').toString('utf8'));
    return out;
  }

  /** The file `name` (caller's spelling, as its UTF-8 bytes) leads to, following links; undefined if none. */
  lookup(name: string): FileRecord<L> | undefined {
    const n = normalizeName(keyOf(name));
    if (n === undefined) return undefined;
    const found = this.resolve(n, true);
    return found?.type === 'file' ? found : undefined;
  }

  /** Every distinct location a file record points at (e.g. spool files to keep). */
  locations(): Set<L> {
    const out = new Set<L>();
    for (const m of this.members.values()) if (m.type === 'file') out.add(m.loc);
    return out;
  }

  /** Re-inserts so that iteration order is the order of the winning members. */
  private set(name: string, record: MemberRecord<L>): void {
    this.members.delete(name);
    this.members.set(name, record);
  }

  /**
   * Walks a normalized name: a symlink met as a leading component is replaced by its target;
   * the final component's symlink is followed only if `followFinal`.
   */
  private resolve(start: string, followFinal: boolean): MemberRecord<L> | undefined {
    let name = start;
    for (let hops = 0; hops <= MAX_LINK_HOPS; hops++) {
      const next = this.expandPrefix(name);
      if (next === null) return undefined;
      if (next !== undefined) {
        name = next;
        continue;
      }
      const m = this.members.get(name);
      if (!m || m.type === 'file' || !followFinal) return m;
      const t = linkTarget(name, m.target);
      if (t === undefined) return undefined;
      name = t;
    }
    return undefined; // too many links: a loop, most likely
  }

  /**
   * Replaces the first leading component of `name` that is a symlink by its target. Undefined:
   * no leading component is a link; null: the name cannot exist (a leading component is a
   * regular file, or a link climbs out).
   */
  private expandPrefix(name: string): string | undefined | null {
    let slash = name.indexOf('/');
    while (slash >= 0) {
      const m = this.members.get(name.slice(0, slash));
      if (m?.type === 'file') return null;
      if (m?.type === 'symlink') {
        const t = linkTarget(name.slice(0, slash), m.target);
        return t === undefined ? null : (normalizeName(`${t}/${name.slice(slash + 1)}`) ?? null);
      }
      slash = name.indexOf('/', slash + 1);
    }
    return undefined;
  }
}

/** A normalized member name that can hold a file or link (not the root itself). */
function fileName(raw: Buffer): string {
  const name = memberName(raw);
  if (name === '.') throw archiveError('ARCHIVE_INVALID', `archive member ${goQuote(raw)} is not a file name`);
  return name;
}

/** The archive name a symlink at `at` points to: relative to its directory, absolute from the root. */
function linkTarget(at: string, target: string): string | undefined {
  if (target === '') return undefined;
  if (target.startsWith('/')) return normalizeName(target);
  return normalizeName(path.posix.join(path.posix.dirname(at), target));
}
