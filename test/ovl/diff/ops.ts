/**
 * Operations: plain JSON values (printable, replayable, shrinkable) and their random generator.
 * Every path is a union path (`/a/h`) and, like symlink targets and xattr values, a byte string
 * (bytes.ts: one char per byte, names need not be UTF-8); every executor maps an operation to its
 * own calls and returns a normalised outcome string, so equal strings mean equal behaviour.
 *
 * The generator looks at the reference side's latest observation to choose paths: existing ones
 * (most often), names that some layer has but the union hides (whiteouts, opaque dirs), fresh
 * names in existing dirs, missing parents and paths through symlinks.
 */
import { showByteString } from './bytes.js';
import { NAME_FF_FE, NAME_UTF8 } from './fixture.js';
import { Rng } from './rng.js';
import type { MergedObservation } from './observe.js';
import { resolveUnionPath, type NameKind } from './resolve.js';

export type OpenFlag = 'RDONLY' | 'WRONLY' | 'RDWR' | 'CREAT' | 'EXCL' | 'TRUNC' | 'APPEND' | 'DIRECTORY' | 'NOFOLLOW';
export type RenameFlag = 'NOREPLACE' | 'EXCHANGE' | 'WHITEOUT';
/** A time for utimes: nanoseconds as a decimal string, or the UTIME_NOW / UTIME_OMIT specials. */
export type TimeArg = string | 'now' | 'omit';

export type Op =
  | { op: 'open'; path: string; flags: OpenFlag[]; mode: number; h: number }
  | { op: 'read'; h: number; len: number; pos: number | null }
  | { op: 'write'; h: number; len: number; pos: number | null; seed: number }
  | { op: 'ftruncate'; h: number; size: number }
  | { op: 'fstat'; h: number }
  | { op: 'close'; h: number }
  | { op: 'truncate'; path: string; size: number }
  | { op: 'stat'; path: string; follow: boolean }
  | { op: 'readdir'; path: string }
  | { op: 'mkdir'; path: string; mode: number }
  | { op: 'rmdir'; path: string }
  | { op: 'unlink'; path: string }
  | { op: 'mknod'; path: string; kind: 'fifo' | 'whiteout' | 'chardev'; mode: number }
  | { op: 'symlink'; target: string; path: string }
  | { op: 'readlink'; path: string }
  | { op: 'link'; from: string; to: string }
  | { op: 'rename'; from: string; to: string; flags: RenameFlag[] }
  | { op: 'chmod'; path: string; mode: number }
  | { op: 'chown'; path: string; uid: number; gid: number; follow: boolean }
  | { op: 'utimes'; path: string; atime: TimeArg; mtime: TimeArg; follow: boolean }
  | { op: 'setxattr'; path: string; name: string; value: string; flag: 'create' | 'replace' | null }
  | { op: 'getxattr'; path: string; name: string }
  | { op: 'listxattr'; path: string }
  | { op: 'removexattr'; path: string; name: string }
  | { op: 'statfs' };

export type OpName = Op['op'];

/** One line for people: `rename {"from":"/a","to":"/n\xe9","flags":["NOREPLACE"]}` (strings by showByteString). */
export function showOp(op: Op): string {
  const { op: name, ...rest } = op;
  const show = (v: unknown): string => {
    if (typeof v === 'string') return showByteString(v);
    if (Array.isArray(v)) return `[${v.map(show).join(',')}]`;
    return JSON.stringify(v);
  };
  return `${name} {${Object.entries(rest).map(([k, v]) => `${JSON.stringify(k)}:${show(v)}`).join(',')}}`;
}

const WEIGHTS: Record<OpName, number> = {
  open: 12, read: 6, write: 7, ftruncate: 2, fstat: 2, close: 4,
  truncate: 3, stat: 3, readdir: 2, mkdir: 6, rmdir: 5, unlink: 6, mknod: 3, symlink: 3, readlink: 2,
  link: 4, rename: 14, chmod: 4, chown: 3, utimes: 4, setxattr: 5, getxattr: 3, listxattr: 2, removexattr: 3,
  statfs: 1,
};

/** Names to create (byte strings): some that no layer has, some that fixtures use, two non-ASCII ones. */
const FRESH_NAMES = ['n1', 'n2', 'n3', 'a', 'b', 'h', 'i', 'l', NAME_UTF8, NAME_FF_FE];
const XATTR_NAMES = [
  'user.color', 'user.n', 'user.new', 'trusted.t', 'trusted.new',
  'trusted.overlay.foo', 'trusted.overlay.opaque', 'trusted.overlay.redirect', 'trusted.overlay.overlay.esc',
  'trusted.overlay.esc', 'user.overlay.x',
];
const MODES = [0o644, 0o600, 0o755, 0o4755, 0o2711, 0o1777, 0o000, 0o777, 0o444];

/** Which type a path names in an observation (following symlinks unless told not to), or null. */
export function typeInObservation(obs: MergedObservation, upath: string, followLast: boolean): string | null {
  const kindOf = (parts: readonly string[]): NameKind | null => {
    const e = obs.entries.get('/' + parts.join('/'));
    if (!e || e.type === undefined) return null;
    if (e.type === 'dir') return { type: 'dir' };
    if (e.type === 'symlink') return { type: 'symlink', target: e.target ?? '' };
    return { type: 'other' };
  };
  try {
    const parts = resolveUnionPath(kindOf, upath, followLast);
    return obs.entries.get('/' + parts.join('/'))?.type ?? null;
  } catch {
    return null;
  }
}

/** Produces operations one at a time; `observe` feeds it the reference's outcome of the last one. */
export class OpGenerator {
  private readonly rng: Rng;
  private readonly openHandles: number[] = [];
  private nextHandle = 1;

  constructor(seed: number, private readonly layerPaths: readonly string[]) {
    this.rng = new Rng(seed ^ 0x2545f491);
  }

  /** Records the reference's outcome of `op` (handles opened and closed). */
  observe(op: Op, outcome: string): void {
    if (op.op === 'open' && outcome.startsWith('ok')) this.openHandles.push(op.h);
    if (op.op === 'close') {
      const i = this.openHandles.indexOf(op.h);
      if (i >= 0) this.openHandles.splice(i, 1);
    }
  }

  next(obs: MergedObservation): Op {
    for (;;) {
      const op = this.tryNext(obs);
      if (op) return op;
    }
  }

  private tryNext(obs: MergedObservation): Op | null {
    const r = this.rng;
    const all = [...obs.entries.keys()];
    const nonRoot = all.filter((p) => p !== '/');
    const dirs = all.filter((p) => obs.entries.get(p)?.type === 'dir');
    const symlinks = all.filter((p) => obs.entries.get(p)?.type === 'symlink');
    const join = (d: string, n: string) => (d === '/' ? `/${n}` : `${d}/${n}`);
    const hidden = this.layerPaths.filter((p) => !obs.entries.has(p));
    const files = nonRoot.filter((p) => obs.entries.get(p)?.type === 'file');
    /**
     * A path for an operation that wants an existing object ('existing'), a name to create
     * ('new'), or a regular file ('file'); each also gets the other kinds now and then.
     */
    const pathOf = (want: 'existing' | 'new' | 'file' = 'existing', allowRoot = false): string => {
      const weights = {
        existing: { files: 0, existing: 66, hidden: 10, fresh: 8, missing: 4, viaSymlink: 8 },
        new: { files: 0, existing: 18, hidden: 32, fresh: 40, missing: 5, viaSymlink: 5 },
        file: { files: 62, existing: 12, hidden: 8, fresh: 8, missing: 4, viaSymlink: 6 },
      }[want];
      const kind = r.weighted({
        ...weights,
        files: files.length ? weights.files : 0,
        hidden: hidden.length ? weights.hidden : 0,
        viaSymlink: symlinks.length ? weights.viaSymlink : 0,
      });
      switch (kind) {
        case 'files':
          return r.pick(files);
        case 'existing': {
          const pool = allowRoot ? all : nonRoot;
          return pool.length ? r.pick(pool) : join('/', r.pick(FRESH_NAMES));
        }
        case 'hidden':
          return r.pick(hidden);
        case 'fresh':
          return join(r.pick(dirs), r.pick(FRESH_NAMES));
        case 'missing':
          return r.chance(0.5) || nonRoot.length === 0 ? `/zz-missing/${r.pick(FRESH_NAMES)}` : join(r.pick(nonRoot), 'x');
        case 'viaSymlink': {
          const s = r.pick(symlinks);
          return r.chance(0.5) ? s : join(s, r.pick(FRESH_NAMES));
        }
      }
    };
    const handle = (): number => (this.openHandles.length && r.chance(0.93) ? r.pick(this.openHandles) : r.int(1, this.nextHandle));
    const time = (): TimeArg => {
      const k = r.weighted({ fixed: 60, now: 25, omit: 15 });
      if (k === 'fixed') return (1_000_000_000n * 1_000_000_000n + BigInt(r.int(0, 1e9)) * 1000n + BigInt(r.int(0, 999))).toString();
      return k;
    };
    const name = r.weighted(WEIGHTS);
    const usesHandle = name === 'read' || name === 'write' || name === 'ftruncate' || name === 'fstat' || name === 'close';
    if (usesHandle && this.openHandles.length === 0 && r.chance(0.9)) return null;
    switch (name) {
      case 'open': {
        const flags: OpenFlag[] = [r.weighted({ RDONLY: 40, WRONLY: 20, RDWR: 40 })];
        for (const [f, p] of [['CREAT', 0.35], ['EXCL', 0.1], ['TRUNC', 0.15], ['APPEND', 0.15], ['DIRECTORY', 0.07], ['NOFOLLOW', 0.08]] as const) {
          if (r.chance(p)) flags.push(f);
        }
        const p = pathOf(flags.includes('CREAT') && r.chance(0.5) ? 'new' : 'file');
        // Opening a fifo would block (and a device is not ours to open): stay with files and dirs.
        const t = typeInObservation(obs, p, !flags.includes('NOFOLLOW') && !(flags.includes('CREAT') && flags.includes('EXCL')));
        if (t !== null && t !== 'file' && t !== 'dir' && t !== 'symlink') return null;
        return { op: 'open', path: p, flags, mode: r.pick(MODES), h: this.nextHandle++ };
      }
      case 'read':
        return { op: 'read', h: handle(), len: r.pick([1, 10, 100, 4096, 70_000]), pos: r.chance(0.5) ? null : r.int(0, 300) };
      case 'write':
        return { op: 'write', h: handle(), len: r.pick([0, 1, 7, 100, 5000, 70_000]), pos: r.chance(0.5) ? null : r.int(0, 500), seed: r.u32() };
      case 'ftruncate':
        return { op: 'ftruncate', h: handle(), size: r.pick([0, 1, 50, 5000, 100_000]) };
      case 'fstat':
        return { op: 'fstat', h: handle() };
      case 'close':
        return { op: 'close', h: handle() };
      case 'truncate': {
        const p = pathOf('file');
        const t = typeInObservation(obs, p, true);
        if (t === 'fifo' || t === 'char') return null;
        return { op: 'truncate', path: p, size: r.pick([0, 3, 100, 70_000]) };
      }
      case 'stat':
        return { op: 'stat', path: pathOf('existing', true), follow: r.chance(0.6) };
      case 'readdir':
        return { op: 'readdir', path: r.chance(0.8) && dirs.length ? r.pick(dirs) : pathOf('existing', true) };
      case 'mkdir':
        return { op: 'mkdir', path: pathOf('new'), mode: r.pick(MODES) };
      case 'rmdir':
        return { op: 'rmdir', path: r.chance(0.6) && dirs.length > 1 ? r.pick(dirs.filter((d) => d !== '/')) : pathOf() };
      case 'unlink':
        return { op: 'unlink', path: pathOf() };
      case 'mknod':
        return { op: 'mknod', path: pathOf('new'), kind: r.weighted({ fifo: 70, whiteout: 20, chardev: 10 }), mode: r.pick([0o644, 0o600, 0o000]) };
      case 'symlink': {
        const target = r.weighted({ rel: 40, abs: 30, dangling: 20, dots: 10 });
        const t = {
          rel: (r.pick(nonRoot.length ? nonRoot : ['/x']).split('/').pop() ?? 'x'),
          abs: r.pick(all),
          dangling: `dangling-${r.chance(0.3) ? NAME_FF_FE : r.int(0, 5)}`,
          dots: '../..',
        }[target];
        return { op: 'symlink', target: t, path: pathOf('new') };
      }
      case 'readlink':
        return { op: 'readlink', path: symlinks.length && r.chance(0.7) ? r.pick(symlinks) : pathOf() };
      case 'link':
        return { op: 'link', from: pathOf('file'), to: pathOf('new') };
      case 'rename': {
        const flags: RenameFlag[] = [];
        const f = r.weighted({ none: 68, NOREPLACE: 12, EXCHANGE: 14, WHITEOUT: 6 });
        if (f !== 'none') flags.push(f);
        const from = r.chance(0.35) && dirs.length > 1 ? r.pick(dirs.filter((d) => d !== '/')) : pathOf();
        const toKind = r.weighted({ any: 70, sibling: 15, intoSelf: 7, parent: 8 });
        const parent = from.slice(0, from.lastIndexOf('/')) || '/';
        const to = {
          any: pathOf(r.chance(0.5) ? 'new' : 'existing'),
          sibling: join(parent, r.pick(FRESH_NAMES)),
          intoSelf: join(from, r.pick(FRESH_NAMES)),
          parent: join(parent === '/' ? '/' : parent.slice(0, parent.lastIndexOf('/')) || '/', from.split('/').pop() ?? 'x'),
        }[toKind];
        return { op: 'rename', from, to, flags };
      }
      case 'chmod':
        return { op: 'chmod', path: pathOf('existing', true), mode: r.pick(MODES) };
      case 'chown': {
        const [uid, gid] = r.pick([[0, 0], [1000, 1000], [7, 8], [65534, 0]] as const);
        return { op: 'chown', path: pathOf('existing', true), uid, gid, follow: r.chance(0.6) };
      }
      case 'utimes': {
        // Both UTIME_OMIT is a no-op that utimensat(2) answers before any lookup: nothing to compare.
        const atime = time();
        const mtime = atime === 'omit' ? r.pick(['now', time()]) : time();
        return { op: 'utimes', path: pathOf('existing', true), atime, mtime: mtime === 'omit' ? 'now' : mtime, follow: r.chance(0.6) };
      }
      case 'setxattr': {
        const p = pathOf('existing', true);
        const xname = r.pick(XATTR_NAMES);
        const value = r.pick(['y', 'v1', '', 'some longer value', '/a']);
        const flag = r.weighted({ none: 70, create: 15, replace: 15 });
        return { op: 'setxattr', path: p, name: xname, value, flag: flag === 'none' ? null : flag };
      }
      case 'getxattr':
        return { op: 'getxattr', path: pathOf('existing', true), name: r.pick(XATTR_NAMES) };
      case 'listxattr':
        return { op: 'listxattr', path: pathOf('existing', true) };
      case 'removexattr':
        return { op: 'removexattr', path: pathOf('existing', true), name: r.pick(XATTR_NAMES) };
      case 'statfs':
        return { op: 'statfs' };
    }
  }
}
