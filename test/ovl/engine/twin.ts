/**
 * Twin fixtures for the engine tests: the same layers built twice; one copy mounted by the kernel
 * overlay, the other opened by strata's engine. The same operations run on both (through one
 * fs-like interface), and their outcomes, merged trees and upper dirs are compared.
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import {
  AT_FDCWD,
  AT_SYMLINK_NOFOLLOW,
  MNT_DETACH,
  lgetxattr,
  llistxattr,
  lremovexattr,
  lsetxattr,
  major,
  minor,
  mknod,
  mountFs,
  readdirRaw,
  renameat2,
  umount2,
  utimensat,
} from '../../../src/sys/index.js';
import { openOverlay, type Overlay, type OvlFileType, type OvlStat, type OvlStatfs, type RedirectMode } from '../../../src/ovl/index.js';
import { toOvlStat } from '../../../src/ovl/realfs.js';
import { fileStatOf } from '../../sys/helpers.js';
import { tempDir } from '../../helpers/tmp.js';

/** Fixture times: every object starts with atime = mtime = T0; anything else compares as 'new'. */
export const T0 = 1_000_000_000_000_000_000n;

export type Spec =
  | string
  | { file: string; mode?: number; uid?: number; gid?: number; xattrs?: Record<string, string | Buffer>; links?: string[] }
  | { dir: true; mode?: number; xattrs?: Record<string, string> }
  | { symlink: string }
  | { whiteout: true }
  | { fifo: true }
  | { dev: [major: number, minor: number] }
  | { xwhiteout: true };

/** A layer: union path -> object; missing parents are made as plain dirs. */
export type LayerSpec = Record<string, Spec>;

export interface TwinSpec {
  lowers: LayerSpec[];
  /** Pre-populated upper (default empty); `null` for a read-only overlay. */
  upper?: LayerSpec | null;
  redirectDir?: RedirectMode;
}

function build(root: string, layer: LayerSpec): void {
  fs.mkdirSync(root, { recursive: true });
  for (const [p, spec] of Object.entries(layer).sort(([a], [b]) => a.localeCompare(b))) {
    const full = path.join(root, p);
    fs.mkdirSync(path.dirname(full), { recursive: true });
    if (typeof spec === 'string') fs.writeFileSync(full, spec);
    else if ('file' in spec) {
      fs.writeFileSync(full, spec.file);
      if (spec.mode !== undefined) fs.chmodSync(full, spec.mode);
      if (spec.uid !== undefined || spec.gid !== undefined) fs.chownSync(full, spec.uid ?? 0, spec.gid ?? 0);
      for (const [k, v] of Object.entries(spec.xattrs ?? {})) lsetxattr(full, k, v);
      for (const l of spec.links ?? []) {
        fs.mkdirSync(path.dirname(path.join(root, l)), { recursive: true });
        fs.linkSync(full, path.join(root, l));
      }
    } else if ('dir' in spec) {
      fs.mkdirSync(full, { recursive: true });
      if (spec.mode !== undefined) fs.chmodSync(full, spec.mode);
      for (const [k, v] of Object.entries(spec.xattrs ?? {})) lsetxattr(full, k, v);
    } else if ('symlink' in spec) fs.symlinkSync(spec.symlink, full);
    else if ('whiteout' in spec) mknod(full, fs.constants.S_IFCHR, 0, 0);
    else if ('fifo' in spec) mknod(full, fs.constants.S_IFIFO | 0o644, 0, 0);
    else if ('dev' in spec) mknod(full, fs.constants.S_IFCHR | 0o644, spec.dev[0], spec.dev[1]);
    else {
      fs.writeFileSync(full, '');
      lsetxattr(full, 'trusted.overlay.whiteout', '');
    }
  }
  // fixed times, children first
  const walk = (d: string) => {
    for (const n of fs.readdirSync(d)) {
      const p = path.join(d, n);
      if (fs.lstatSync(p).isDirectory()) walk(p);
      utimensat(AT_FDCWD, p, T0, T0, AT_SYMLINK_NOFOLLOW);
    }
  };
  walk(root);
  utimensat(AT_FDCWD, root, T0, T0, AT_SYMLINK_NOFOLLOW);
}

/** The operations both sides offer (a subset of Overlay, with the same signatures). */
/** One side's fs-like calls, on union paths given as text (the `Overlay` methods these tests use). */
export type Side = {
  lstat(p: string): Promise<OvlStat>;
  stat(p: string): Promise<OvlStat>;
  readFile(p: string): Promise<Buffer>;
  writeFile(p: string, data: Buffer | string, opts?: { mode?: number }): Promise<void>;
  mkdir(p: string, mode?: number): Promise<void>;
  rmdir(p: string): Promise<void>;
  unlink(p: string): Promise<void>;
  rename(from: string, to: string, flags?: number): Promise<void>;
  link(existing: string, newPath: string): Promise<void>;
  symlink(target: string, p: string): Promise<void>;
  readlink(p: string): Promise<string>;
  mknod(p: string, mode: number, rdev?: number): Promise<void>;
  chmod(p: string, mode: number): Promise<void>;
  chown(p: string, uid: number, gid: number): Promise<void>;
  lchown(p: string, uid: number, gid: number): Promise<void>;
  utimes(p: string, atimeNs: bigint | 'now', mtimeNs: bigint | 'now'): Promise<void>;
  truncate(p: string, size?: number): Promise<void>;
  getxattr(p: string, name: string): Promise<Buffer>;
  setxattr(p: string, name: string, value: Buffer, flags?: number): Promise<void>;
  listxattr(p: string): Promise<string[]>;
  removexattr(p: string, name: string): Promise<void>;
  statfs(): Promise<OvlStatfs>;
  /** Entries with d_ino, `.` and `..` included, in the order the side returns them. */
  list(p: string): Promise<{ name: string; type: OvlFileType; ino: bigint }[]>;
  /** open + optional write + close (open-for-write copies up even without a write). */
  touchOpen(p: string, flags: number, data?: string): Promise<void>;
};

const DT_NAMES: Record<number, OvlFileType> = { 1: 'fifo', 2: 'char', 4: 'dir', 6: 'block', 8: 'file', 10: 'symlink', 12: 'socket' };

function kstat(st: fs.BigIntStats) {
  const raw = fileStatOf(st);
  return toOvlStat(raw, raw.dev, raw.ino, raw.nlink);
}

/** The kernel side: the same calls on the mounted union. */
export function kernelSideFor(merged: string): Side {
  const m = (p: string) => merged + p;
  const a = async <T>(fn: () => T) => fn();
  return {
    lstat: (p) => a(() => kstat(fs.lstatSync(m(p), { bigint: true }))),
    stat: (p) => a(() => kstat(fs.statSync(m(p), { bigint: true }))),
    readFile: (p) => a(() => fs.readFileSync(m(p))),
    writeFile: (p, d, o) => a(() => fs.writeFileSync(m(p), d, { mode: o?.mode ?? 0o666 })),
    mkdir: (p, mode) => a(() => fs.mkdirSync(m(p), { mode: mode ?? 0o777 })),
    rmdir: (p) => a(() => fs.rmdirSync(m(p))),
    unlink: (p) => a(() => fs.unlinkSync(m(p))),
    rename: (f, t, flags) => a(() => renameat2(AT_FDCWD, m(f), AT_FDCWD, m(t), flags ?? 0)),
    link: (e, n) => a(() => fs.linkSync(m(e), m(n))),
    symlink: (t, p) => a(() => fs.symlinkSync(t, m(p))),
    readlink: (p) => a(() => fs.readlinkSync(m(p))),
    mknod: (p, mode, rdev) => a(() => mknod(m(p), mode, major(rdev ?? 0), minor(rdev ?? 0))),
    chmod: (p, mode) => a(() => fs.chmodSync(m(p), mode)),
    chown: (p, u, g) => a(() => fs.chownSync(m(p), u, g)),
    lchown: (p, u, g) => a(() => fs.lchownSync(m(p), u, g)),
    utimes: (p, at, mt) => a(() => utimensat(AT_FDCWD, m(p), at, mt, 0)),
    truncate: (p, size) => a(() => fs.truncateSync(m(p), size ?? 0)),
    getxattr: (p, n) =>
      a(() => {
        const v = lgetxattr(m(p), n);
        if (v === null) throw Object.assign(new Error('ENODATA'), { code: 'ENODATA' });
        return v;
      }),
    setxattr: (p, n, v, f) => a(() => lsetxattr(m(p), n, v, f ?? 0)),
    listxattr: (p) => a(() => llistxattr(m(p))),
    removexattr: (p, n) => a(() => lremovexattr(m(p), n)),
    statfs: () =>
      a(() => {
        const s = fs.statfsSync(merged);
        return { type: s.type, bsize: s.bsize, frsize: s.bsize, blocks: s.blocks, bfree: s.bfree, bavail: s.bavail, files: s.files, ffree: s.ffree, namelen: 255 };
      }),
    list: (p) =>
      a(() => {
        const r = readdirRaw(m(p));
        return r.names.map((name, i) => ({ name, type: DT_NAMES[r.types[i]!] ?? 'file', ino: r.inos[i]! }));
      }),
    touchOpen: (p, flags, data) =>
      a(() => {
        const fd = fs.openSync(m(p), flags, 0o644);
        if (data !== undefined) fs.writeSync(fd, data);
        fs.closeSync(fd);
      }),
  };
}

/** The engine side: the Overlay API, plus list/touchOpen through its core. */
export function engineSideFor(ovl: Overlay): Side {
  const side: Side = {
    lstat: (p) => ovl.lstat(p),
    stat: (p) => ovl.stat(p),
    readFile: (p) => ovl.readFile(p),
    writeFile: (p, d, o) => ovl.writeFile(p, d, o),
    mkdir: (p, mode) => ovl.mkdir(p, mode),
    rmdir: (p) => ovl.rmdir(p),
    unlink: (p) => ovl.unlink(p),
    rename: (f, t, flags) => ovl.rename(f, t, flags),
    link: (e, n) => ovl.link(e, n),
    symlink: (t, p) => ovl.symlink(t, p),
    readlink: (p) => ovl.readlink(p),
    mknod: (p, mode, rdev) => ovl.mknod(p, mode, rdev),
    chmod: (p, mode) => ovl.chmod(p, mode),
    chown: (p, u, g) => ovl.chown(p, u, g),
    lchown: (p, u, g) => ovl.lchown(p, u, g),
    utimes: (p, at, mt) => ovl.utimes(p, at, mt),
    truncate: (p, size) => ovl.truncate(p, size),
    getxattr: (p, n) => ovl.getxattr(p, n),
    setxattr: (p, n, v, f) => ovl.setxattr(p, n, v, f),
    listxattr: (p) => ovl.listxattr(p),
    removexattr: (p, n) => ovl.removexattr(p, n),
    statfs: () => ovl.statfs(),
    list: async (p) => {
      const core = ovl.core;
      let node = core.root;
      for (const c of p.split('/').filter(Boolean)) node = core.lookup(node, c);
      const d = core.opendir(node);
      try {
        return d.read(0).map((x) => x.entry);
      } finally {
        d.close();
      }
    },
    touchOpen: async (p, flags, data) => {
      const h = await ovl.open(p, flags, 0o644);
      if (data !== undefined) await h.write(Buffer.from(data));
      await h.close();
    },
  };
  return side;
}

export interface Copy {
  lowers: string[];
  upper: string | null;
  work: string | null;
}

export interface Twin {
  kernel: Side;
  engine: Side;
  kdirs: Copy;
  edirs: Copy;
  ovl: Overlay;
  /** The kernel's merged mount point. */
  kmerged: string;
  close(): Promise<void>;
}

function makeCopy(base: string, spec: TwinSpec): Copy {
  const lowers = spec.lowers.map((l, i) => {
    const d = path.join(base, `l${i}`);
    build(d, l);
    return d;
  });
  if (spec.upper === null) return { lowers, upper: null, work: null };
  const upper = path.join(base, 'upper');
  const work = path.join(base, 'work');
  if (spec.upper) build(upper, spec.upper);
  else fs.mkdirSync(upper);
  fs.mkdirSync(work);
  return { lowers, upper, work };
}

/** Builds the fixture twice, mounts one copy with the kernel and opens the other with the engine. */
export async function twin(spec: TwinSpec): Promise<Twin> {
  const base = fs.realpathSync(tempDir('strata-ovl-twin-'));
  const kdirs = makeCopy(path.join(base, 'k'), spec);
  const edirs = makeCopy(path.join(base, 'e'), spec);
  const merged = path.join(base, 'merged');
  fs.mkdirSync(merged);
  const params: [string, string][] = kdirs.lowers.map((l) => ['lowerdir+', l]);
  if (kdirs.upper) params.push(['upperdir', kdirs.upper], ['workdir', kdirs.work!]);
  if (spec.redirectDir) params.push(['redirect_dir', spec.redirectDir]);
  mountFs('overlay', merged, params);
  const ovl = await openOverlay({
    lowerdirs: edirs.lowers,
    ...(edirs.upper ? { upperdir: edirs.upper, workdir: edirs.work! } : {}),
    ...(spec.redirectDir ? { redirectDir: spec.redirectDir } : {}),
  }, { uid: process.geteuid!(), gid: process.getegid!(), umask: processUmask() });
  let closed = false;
  return {
    kernel: kernelSideFor(merged),
    engine: engineSideFor(ovl),
    kdirs,
    edirs,
    ovl,
    kmerged: merged,
    async close() {
      if (closed) return;
      closed = true;
      await ovl.close();
      umount2(merged, MNT_DETACH);
    },
  };
}

/** This process's umask (what the kernel side's creations get), read without changing it. */
function processUmask(): number {
  const m = /^Umask:\s+([0-7]+)/m.exec(fs.readFileSync('/proc/self/status', 'utf8'));
  return m ? parseInt(m[1]!, 8) : 0o022;
}

/** The outcome of one call: its value, or its errno name. */
export async function outcome<T>(p: Promise<T>): Promise<{ ok: unknown } | { err: string }> {
  try {
    const v = await p;
    return { ok: v instanceof Buffer ? v.toString('latin1') : v === undefined ? null : v };
  } catch (e) {
    const code = (e as { code?: unknown }).code;
    if (typeof code !== 'string') throw e;
    return { err: code };
  }
}

/** Runs `op` on both sides and asserts the same result or errno. */
export async function same<T>(t: Twin, what: string, op: (s: Side) => Promise<T>): Promise<{ ok: unknown } | { err: string }> {
  const k = await outcome(op(t.kernel));
  const e = await outcome(op(t.engine));
  assert.deepEqual(e, k, `${what}: engine ${JSON.stringify(e)} vs kernel ${JSON.stringify(k)}`);
  return k;
}

const timeClass = (t: bigint) => (t === T0 ? 'T0' : 'new');

/** ino -> the layer object it is (`U:/a`, `L0:/d`), over every object of a copy's layers. */
function inoLabels(c: Copy): Map<bigint, string> {
  const labels = new Map<bigint, string>();
  const walk = (root: string, name: string, rel: string) => {
    const st = fs.lstatSync(root + rel, { bigint: true });
    const label = `${name}:${rel || '/'}`;
    const old = labels.get(st.ino);
    if (old === undefined || label < old) labels.set(st.ino, label);
    if (st.isDirectory()) for (const n of fs.readdirSync(root + rel)) walk(root, name, rel + '/' + n);
  };
  c.lowers.forEach((l, i) => walk(l, `L${i}`, ''));
  if (c.upper) walk(c.upper, 'U', '');
  return labels;
}

/** A normalised dump of the union seen through a side: comparable between kernel and engine. */
export async function unionDump(s: Side, c: Copy, opts: { atime?: boolean } = {}): Promise<Record<string, unknown>> {
  const labels = inoLabels(c);
  const label = (ino: bigint) => labels.get(ino) ?? 'other';
  const out: Record<string, unknown> = {};
  const visit = async (p: string) => {
    const st = await s.lstat(p);
    const fmt = st.mode & 0o170000;
    const isDir = fmt === 0o040000;
    const xattrs: Record<string, string> = {};
    for (const n of (await s.listxattr(p)).sort()) if (compared(n)) xattrs[n] = (await s.getxattr(p, n)).toString('hex');
    const rec: Record<string, unknown> = {
      mode: st.mode.toString(8),
      uid: st.uid,
      gid: st.gid,
      nlink: st.nlink,
      ino: label(st.ino),
      rdev: st.rdev,
      mtime: timeClass(st.mtimeNs),
      xattrs,
    };
    if (!isDir) rec.size = st.size;
    if (fmt === 0o100000) {
      if (opts.atime !== false) rec.atime = timeClass(st.atimeNs);
      rec.sha = crypto.createHash('sha256').update(await s.readFile(p)).digest('hex').slice(0, 16);
    }
    if (fmt === 0o120000) rec.target = await s.readlink(p);
    if (isDir) {
      const entries = await s.list(p);
      rec.entries = entries.map((e) => `${e.name}:${e.type}:${label(e.ino)}`);
      out[p] = rec;
      for (const e of entries) {
        if (e.name === '.' || e.name === '..') continue;
        const child = (p === '/' ? '' : p) + '/' + e.name;
        try {
          await visit(child);
        } catch (err) {
          out[child] = { lookup: (err as { code?: string }).code };
        }
      }
    } else out[p] = rec;
  };
  await visit('/');
  return out;
}

/** The xattrs compared: not the security labels a host may add, but file capabilities, which copy-up must keep. */
function compared(name: string): boolean {
  return !name.startsWith('security.') || name === 'security.capability';
}

/** A normalised dump of a real upper dir (what is on disk). */
export function upperDump(upper: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const visit = (rel: string) => {
    const p = upper + rel;
    const st = fs.lstatSync(p, { bigint: true });
    const xattrs: Record<string, string> = {};
    for (const n of llistxattr(p).sort()) {
      if (!compared(n)) continue;
      const v = lgetxattr(p, n)!;
      xattrs[n] = n === 'trusted.overlay.origin' ? `len${v.length}` : n === 'trusted.overlay.uuid' ? `len${v.length}` : v.toString('latin1');
    }
    const rec: Record<string, unknown> = {
      mode: Number(st.mode).toString(8),
      uid: Number(st.uid),
      gid: Number(st.gid),
      nlink: Number(st.nlink),
      rdev: Number(st.rdev),
      mtime: timeClass(st.mtimeNs),
      xattrs,
    };
    if (st.isFile()) {
      rec.size = Number(st.size);
      rec.atime = timeClass(st.atimeNs);
      rec.sha = crypto.createHash('sha256').update(fs.readFileSync(p)).digest('hex').slice(0, 16);
    }
    if (st.isSymbolicLink()) rec.target = fs.readlinkSync(p);
    out[rel || '/'] = rec;
    if (st.isDirectory()) for (const n of fs.readdirSync(p).sort()) visit(rel + '/' + n);
  };
  visit('');
  return out;
}

/** Asserts that the union (through both sides) and the upper dirs on disk are the same. */
export async function assertSameState(t: Twin, what: string): Promise<void> {
  const k = await unionDump(t.kernel, t.kdirs);
  const e = await unionDump(t.engine, t.edirs);
  assert.deepEqual(e, k, `${what}: merged trees differ`);
  if (t.kdirs.upper && t.edirs.upper) assert.deepEqual(upperDump(t.edirs.upper), upperDump(t.kdirs.upper), `${what}: upper dirs differ`);
}
