/**
 * Full, comparable snapshots of a directory tree: every entry with its type, mode, owner, size,
 * content hash, symlink target, device numbers, nanosecond mtime, every xattr (binary, as hex)
 * and its hardlink class. Names are raw bytes shown as latin1 strings, so non-UTF-8 names
 * compare exactly.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import { llistxattr, lgetxattr, major, minor } from '../../src/sys/index.js';

export interface SnapEntry {
  type: 'dir' | 'file' | 'symlink' | 'char' | 'block' | 'fifo' | 'socket';
  mode: number; // permission + setuid/setgid/sticky
  uid: number;
  gid: number;
  size: number;
  nlink: number;
  sha?: string;
  target?: string;
  rdev?: string;
  mtimeNs: string;
  xattrs: Record<string, string>;
  /** For non-directories with nlink > 1: the first path (in sorted order) sharing the inode. */
  linkClass?: string;
}

export type Snapshot = Map<string, SnapEntry>;

export interface SnapshotOptions {
  /** Relative paths (byte strings) to leave out, with everything below them. */
  exclude?: (rel: string) => boolean;
  /** Include the root itself as '.' (default true). */
  root?: boolean;
}

function typeOf(st: fs.BigIntStats): SnapEntry['type'] {
  if (st.isDirectory()) return 'dir';
  if (st.isFile()) return 'file';
  if (st.isSymbolicLink()) return 'symlink';
  if (st.isCharacterDevice()) return 'char';
  if (st.isBlockDevice()) return 'block';
  if (st.isFIFO()) return 'fifo';
  return 'socket';
}

export function snapshotTree(dir: string, opts: SnapshotOptions = {}): Snapshot {
  const out: Snapshot = new Map();
  const inodes = new Map<bigint, string>();
  const base = Buffer.from(dir);
  const visit = (rel: string): void => {
    const p = rel === '.' ? base : Buffer.concat([base, Buffer.from('/' + rel, 'latin1')]);
    const st = fs.lstatSync(p, { bigint: true });
    const type = typeOf(st);
    const xattrs: Record<string, string> = {};
    for (const name of llistxattr(p).sort()) xattrs[name] = lgetxattr(p, name)?.toString('hex') ?? '';
    const e: SnapEntry = {
      type,
      mode: Number(st.mode & 0o7777n),
      uid: Number(st.uid),
      gid: Number(st.gid),
      size: type === 'dir' ? 0 : Number(st.size),
      nlink: type === 'dir' ? 0 : Number(st.nlink),
      mtimeNs: st.mtimeNs.toString(),
      xattrs,
    };
    if (type === 'file') e.sha = crypto.createHash('sha256').update(fs.readFileSync(p)).digest('hex');
    if (type === 'symlink') e.target = fs.readlinkSync(p, { encoding: 'buffer' }).toString('latin1');
    if (type === 'char' || type === 'block') e.rdev = `${major(st.rdev)}:${minor(st.rdev)}`;
    if (type !== 'dir' && st.nlink > 1n) {
      const first = inodes.get(st.ino);
      if (first === undefined) inodes.set(st.ino, rel);
      e.linkClass = first ?? rel;
    }
    if (rel !== '.' || opts.root !== false) out.set(rel, e);
    if (type === 'dir') {
      const names = fs.readdirSync(p, { encoding: 'buffer' }).map((n) => n.toString('latin1')).sort();
      for (const n of names) {
        const child = rel === '.' ? n : `${rel}/${n}`;
        if (opts.exclude?.(child)) continue;
        visit(child);
      }
    }
  };
  visit('.');
  return out;
}

/** Differences between two snapshots, one line each ('' when equal). `ignore` drops fields. */
export function diffSnapshots(a: Snapshot, b: Snapshot, ignore: (rel: string, field: keyof SnapEntry) => boolean = () => false): string[] {
  const out: string[] = [];
  const show = (rel: string) => JSON.stringify(Buffer.from(rel, 'latin1').toString('utf8'));
  for (const [rel, ea] of a) {
    const eb = b.get(rel);
    if (!eb) {
      out.push(`only in first: ${show(rel)} (${ea.type})`);
      continue;
    }
    for (const k of Object.keys({ ...ea, ...eb }) as (keyof SnapEntry)[]) {
      if (ignore(rel, k)) continue;
      const va = JSON.stringify(ea[k]);
      const vb = JSON.stringify(eb[k]);
      if (va !== vb) out.push(`${show(rel)} ${k}: ${va} != ${vb}`);
    }
  }
  for (const [rel, eb] of b) if (!a.has(rel)) out.push(`only in second: ${show(rel)} (${eb.type})`);
  return out;
}
