/**
 * Observations: what is compared after every operation, normalised so that two correct overlays
 * give equal values although their inode numbers, times of day and workdirs differ.
 *
 * - The merged tree, read through the executor (a mount, or strata's path API): per path the type,
 *   permission bits, owner, size (non-dirs), nlink, content hash, symlink target, rdev, xattrs
 *   (no security.*), an mtime class (the exact fixed time, or "fresh"), and an inode label:
 *   labels are handed out in order of first sighting and forgotten when an inode leaves the tree,
 *   so equal labels mean "same object" (hardlinks, stability across copy-up) without comparing
 *   numbers. Plus readdir of every dir as sorted (name, type) and "one st_dev for all"; and first,
 *   before any listing, the attributes of every path the previous observation saw.
 * - The upper dir on disk: types incl. 0:0 whiteouts (shared inode or not), modes, owners,
 *   contents, targets, exact `trusted.overlay.opaque`/`redirect`, presence only of
 *   `origin`/`impure`, no `uuid`, other xattrs exactly, hardlink classes.
 *
 * Paths, names and symlink targets in observations are byte strings (bytes.ts), read as bytes
 * (`encoding: 'buffer'`), so a name that is not UTF-8 is compared as what it is.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import { byteString, hostPath } from './bytes.js';
import { errnoName, lgetxattr, llistxattr, major, minor } from '../../../src/sys/index.js';
import { FRESH_TIME_NS } from './fixture.js';

export type FileType = 'file' | 'dir' | 'symlink' | 'fifo' | 'socket' | 'char' | 'block';

/** The stat fields the harness looks at, from any executor. */
export interface RawStat {
  type: FileType;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  nlink: number;
  ino: bigint;
  dev: bigint;
  rdev: bigint;
  mtimeNs: bigint;
}

/** Read access to the merged tree (byte-string paths from the union root, never through symlinks; names and targets as byte strings). */
export interface MergedReader {
  lstat(upath: string): RawStat | Promise<RawStat>;
  readdir(upath: string): { name: string; type: FileType }[] | Promise<{ name: string; type: FileType }[]>;
  readFile(upath: string): Buffer | Promise<Buffer>;
  readlink(upath: string): string | Promise<string>;
  listxattr(upath: string): string[] | Promise<string[]>;
  getxattr(upath: string, name: string): Buffer | Promise<Buffer>;
}

export function typeOfMode(mode: number | bigint): FileType {
  switch (Number(mode) & 0o170000) {
    case 0o040000: return 'dir';
    case 0o100000: return 'file';
    case 0o120000: return 'symlink';
    case 0o010000: return 'fifo';
    case 0o140000: return 'socket';
    case 0o020000: return 'char';
    default: return 'block';
  }
}

export function rawStatOf(st: fs.BigIntStats): RawStat {
  return {
    type: typeOfMode(st.mode),
    mode: Number(st.mode),
    uid: Number(st.uid),
    gid: Number(st.gid),
    size: Number(st.size),
    nlink: Number(st.nlink),
    ino: st.ino,
    dev: st.dev,
    rdev: st.rdev,
    mtimeNs: st.mtimeNs,
  };
}

/** "fixed <ns>" for a time set by a fixture or an operation, "fresh" for a time the overlay took from the clock. */
export function timeClass(ns: bigint): string {
  return ns < FRESH_TIME_NS ? `fixed ${ns}` : 'fresh';
}

/**
 * An xattr value as text: JSON of the UTF-8 text, in ASCII (non-ASCII chars as \uNNNN, so the
 * result sits in byte-string outcomes unchanged), or `hex:...` when the bytes are not such text.
 */
export function showBytes(b: Buffer): string {
  const s = b.toString('utf8');
  if (!Buffer.from(s, 'utf8').equals(b) || /[\x00-\x1f]/.test(s)) return `hex:${b.toString('hex')}`;
  return JSON.stringify(s).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

export function digest(b: Buffer): string {
  return `${b.length}:${crypto.createHash('sha1').update(b).digest('hex').slice(0, 16)}`;
}

/** Hands out "same object" labels for inode numbers; see the file comment. */
export class InoLabels {
  private readonly labels = new Map<bigint, string>();
  private next = 0;

  label(ino: bigint): string {
    let l = this.labels.get(ino);
    if (l === undefined) {
      l = `i${this.next++}`;
      this.labels.set(ino, l);
    }
    return l;
  }

  /** Forgets inodes no longer in the tree, so a reused inode number gets a new label. */
  retain(seen: ReadonlySet<bigint>): void {
    for (const ino of this.labels.keys()) if (!seen.has(ino)) this.labels.delete(ino);
  }
}

/** One path of the merged tree, normalised; every field is compared as a string. */
export type MergedEntry = Record<string, string>;

export interface MergedObservation {
  /**
   * The previous observation's paths, stat'ed first, before anything lists a directory: a FUSE
   * server's READDIRPLUS replies refresh the attributes the kernel caches for every entry, so only
   * this pass sees what the kernel kept for a name the operation did not touch (another name of a
   * hard link, a parent). Attribute fields only (no inode labels).
   */
  prestat: Map<string, MergedEntry>;
  entries: Map<string, MergedEntry>;
  /** Directory → sorted `name:type` lines. */
  readdirs: Map<string, string[]>;
  /** 'one' when every object reports the same st_dev, else the count of distinct devs. */
  devs: string;
}

/** Normalised stat fields shared by the tree dump and stat-like operations. */
export function statFields(st: RawStat, labels: InoLabels): MergedEntry {
  return { ...attrFields(st), ino: labels.label(st.ino) };
}

/** The stat fields but the inode label. */
function attrFields(st: RawStat): MergedEntry {
  const e: MergedEntry = {
    type: st.type,
    perm: (st.mode & 0o7777).toString(8),
    owner: `${st.uid}:${st.gid}`,
    nlink: String(st.nlink),
    mtime: timeClass(st.mtimeNs),
  };
  if (st.type !== 'dir') e.size = String(st.size);
  if (st.type === 'char' || st.type === 'block') e.rdev = `${major(st.rdev)}:${minor(st.rdev)}`;
  return e;
}

/**
 * The errno name of an error (`ENOENT`), or null when it is not an errno error. libuv has no name
 * for some errnos (ESTALE comes as "Unknown system error -116"): those are named from the number.
 */
export function errnoOf(e: unknown): string | null {
  const code = (e as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && /^E[A-Z0-9]+$/.test(code)) return code;
  const errno = (e as { errno?: unknown } | null)?.errno;
  if (typeof errno === 'number' && errno < 0) return errnoName(-errno);
  return null;
}

function errCode(e: unknown): string {
  return errnoOf(e) ?? `THROWN ${String(e)}`;
}

/**
 * Walks the merged tree through `reader` and normalises it, after stat'ing the paths `before` (the
 * previous observation's) first (see MergedObservation.prestat).
 */
export async function observeMerged(reader: MergedReader, labels: InoLabels, before: Iterable<string>): Promise<MergedObservation> {
  const prestat = new Map<string, MergedEntry>();
  for (const upath of before) {
    // Only below what is still a directory (parents come first): an old path may now pass through
    // a symlink, which a mount would follow out of the union (the walk never crosses one).
    const parent = upath === '/' ? null : prestat.get(upath.slice(0, Math.max(1, upath.lastIndexOf('/'))));
    if (parent !== null && parent?.type !== 'dir') {
      prestat.set(upath, { lstat: 'parent is no directory' });
      continue;
    }
    try {
      prestat.set(upath, attrFields(await reader.lstat(upath)));
    } catch (e) {
      prestat.set(upath, { lstat: errCode(e) });
    }
  }
  const entries = new Map<string, MergedEntry>();
  const readdirs = new Map<string, string[]>();
  const devs = new Set<bigint>();
  const seen = new Set<bigint>();
  const visit = async (upath: string): Promise<void> => {
    let st: RawStat;
    try {
      st = await reader.lstat(upath);
    } catch (e) {
      entries.set(upath, { lstat: errCode(e) });
      return;
    }
    devs.add(st.dev);
    seen.add(st.ino);
    const e = statFields(st, labels);
    try {
      const names = (await reader.listxattr(upath)).filter((n) => !n.startsWith('security.')).sort();
      const parts: string[] = [];
      for (const n of names) {
        try {
          parts.push(`${n}=${showBytes(await reader.getxattr(upath, n))}`);
        } catch (err) {
          parts.push(`${n}!${errCode(err)}`);
        }
      }
      e.xattrs = parts.join(' ');
    } catch (err) {
      e.xattrs = `!${errCode(err)}`;
    }
    if (st.type === 'file') {
      try {
        e.data = digest(await reader.readFile(upath));
      } catch (err) {
        e.data = `!${errCode(err)}`;
      }
    }
    if (st.type === 'symlink') {
      try {
        e.target = await reader.readlink(upath);
      } catch (err) {
        e.target = `!${errCode(err)}`;
      }
    }
    entries.set(upath, e);
    if (st.type === 'dir') {
      let list: { name: string; type: FileType }[];
      try {
        list = await reader.readdir(upath);
      } catch (err) {
        readdirs.set(upath, [`!${errCode(err)}`]);
        return;
      }
      readdirs.set(upath, list.map((d) => `${d.name}:${d.type}`).sort());
      // A listing that (wrongly) holds '.', '..' or a name with '/' is reported above, never walked.
      const walkable = list.filter((d) => d.name !== '.' && d.name !== '..' && d.name !== '' && !d.name.includes('/'));
      for (const d of walkable.sort((x, y) => (x.name < y.name ? -1 : x.name > y.name ? 1 : 0))) {
        await visit(upath === '/' ? `/${d.name}` : `${upath}/${d.name}`);
      }
    }
  };
  await visit('/');
  labels.retain(seen);
  return { prestat, entries, readdirs, devs: devs.size === 1 ? 'one' : String(devs.size) };
}

export type UpperEntry = Record<string, string>;

/** Overlay-private xattrs whose value is random or fs-specific: compared by presence only. */
const PRESENCE_ONLY = new Set(['trusted.overlay.origin', 'trusted.overlay.impure']);
/** Written by the kernel at mount time (uuid=auto); not an effect of the operations. */
const IGNORED = new Set(['trusted.overlay.uuid']);

/** Reads the upper dir on disk and normalises it; keys are byte-string paths (`/a/n\xe9`). */
export function observeUpper(upper: string): Map<string, UpperEntry> {
  const out = new Map<string, UpperEntry>();
  const firstPathOfIno = new Map<bigint, string>();
  const visit = (rel: string): void => {
    const p = hostPath(upper, rel);
    const st = fs.lstatSync(p, { bigint: true });
    const type = typeOfMode(st.mode);
    const whiteout = type === 'char' && st.rdev === 0n;
    const e: UpperEntry = {
      type: whiteout ? 'whiteout' : type,
      perm: (Number(st.mode) & 0o7777).toString(8),
      owner: `${st.uid}:${st.gid}`,
      mtime: timeClass(st.mtimeNs),
    };
    if (whiteout) e.nlink = st.nlink > 1n ? 'shared' : 'single';
    else if (type !== 'dir') {
      e.size = String(st.size);
      e.nlink = String(st.nlink);
      if (st.nlink > 1n) {
        const first = firstPathOfIno.get(st.ino);
        if (first === undefined) firstPathOfIno.set(st.ino, rel);
        e.linkClass = first ?? rel;
      }
    }
    if (type === 'file') e.data = digest(fs.readFileSync(p));
    if (type === 'symlink') e.target = byteString(fs.readlinkSync(p, { encoding: 'buffer' }));
    if ((type === 'char' || type === 'block') && !whiteout) e.rdev = `${major(st.rdev)}:${minor(st.rdev)}`;
    const xattrs: string[] = [];
    for (const n of llistxattr(p).sort()) {
      if (n.startsWith('security.') || IGNORED.has(n)) continue;
      xattrs.push(PRESENCE_ONLY.has(n) ? `${n}(present)` : `${n}=${showBytes(lgetxattr(p, n) ?? Buffer.alloc(0))}`);
    }
    e.xattrs = xattrs.join(' ');
    out.set(rel, e);
    if (type === 'dir') {
      const names = fs.readdirSync(p, { encoding: 'buffer' }).map(byteString).sort();
      for (const name of names) visit(rel === '/' ? `/${name}` : `${rel}/${name}`);
    }
  };
  visit('/');
  return out;
}
