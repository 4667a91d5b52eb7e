/**
 * strata-overlay's `-o` options, read the way the kernel overlay and fuse-overlayfs read theirs:
 * comma-separated (a backslash escapes a comma), `lowerdir=A:B` top first with `\:` for a colon in
 * a path, plus the generic mount options that mount(8) and mount.fuse3 pass along.
 */
import path from 'node:path';
import { MS_DIRSYNC, MS_LAZYTIME, MS_NOATIME, MS_NODIRATIME, MS_NOEXEC, MS_RDONLY, MS_RELATIME, MS_STRICTATIME, MS_SYNCHRONOUS } from '../../sys/index.js';
import type { FsyncMode, OverlayOptions, RedirectMode } from '../types.js';
import { DEFAULT_BUSY_POLL_US } from './busy-poll.js';
import { FuseError } from './errors.js';

/**
 * Default entry/attribute cache timeout, in seconds: a day, in effect "cache until told" (as
 * fuse-overlayfs, which uses 1e9 s): nothing but the mount changes the layers, the kernel drops
 * what its own requests change, and the server invalidates the rest itself — nodes whose
 * attributes an operation changed on the side (a parent copied up, the other names of a hard
 * link) get FUSE_NOTIFY_INVAL_INODE. Directory listings are cached too (FOPEN_CACHE_DIR).
 */
export const DEFAULT_TIMEOUT = 86_400;

export interface StrataOverlayMountOptions {
  overlay: OverlayOptions;
  /** Seconds the kernel may cache names, negative lookups and attributes. */
  timeout: number;
  /** FUSE passthrough for copied-up files (`passthrough=off` turns it off). */
  passthrough: boolean;
  /** busy_poll=: the longest the server polls for the next request before sleeping, µs. */
  busyPollUs: number;
  /** MS_* flags from generic options (ro, noexec, noatime, ...). */
  flags: number;
  suid: boolean;
  dev: boolean;
  /** fsname=: the source shown in mount tables, overriding the SOURCE argument. */
  fsname?: string;
  /** `debug` (libfuse's spelling of -d): log every request, stay in the foreground. */
  debug: boolean;
}

/** Generic options that set or clear one MS_* flag. */
const FLAG_OPTIONS: Record<string, [flag: number, set: boolean]> = {
  ro: [MS_RDONLY, true],
  rw: [MS_RDONLY, false],
  noexec: [MS_NOEXEC, true],
  exec: [MS_NOEXEC, false],
  noatime: [MS_NOATIME, true],
  atime: [MS_NOATIME, false],
  nodiratime: [MS_NODIRATIME, true],
  diratime: [MS_NODIRATIME, false],
  relatime: [MS_RELATIME, true],
  norelatime: [MS_RELATIME, false],
  strictatime: [MS_STRICTATIME, true],
  lazytime: [MS_LAZYTIME, true],
  nolazytime: [MS_LAZYTIME, false],
  sync: [MS_SYNCHRONOUS, true],
  async: [MS_SYNCHRONOUS, false],
  dirsync: [MS_DIRSYNC, true],
};

/** Accepted and without effect: fstab and mount(8) bookkeeping, and what strata always does. */
const IGNORED_OPTIONS = new Set(['defaults', 'auto', 'noauto', 'user', 'nouser', 'users', '_netdev', 'nofail', 'allow_other', 'default_permissions']);

/** Kernel overlay features the engine has fixed: only their `off` value is accepted. */
const FIXED_OFF = new Set(['index', 'metacopy', 'xino', 'nfs_export']);

const REDIRECT_MODES: readonly RedirectMode[] = ['on', 'follow', 'nofollow', 'off'];
const FSYNC_MODES: readonly FsyncMode[] = ['auto', 'strict', 'volatile'];

function usage(message: string): FuseError {
  return new FuseError('FUSE_USAGE', message);
}

/** Splits `s` at every `sep` not preceded by a backslash; the escapes stay in the parts. */
export function splitEscaped(s: string, sep: string): string[] {
  const parts: string[] = [];
  let cur = '';
  for (let k = 0; k < s.length; k++) {
    const c = s[k]!;
    if (c === '\\' && k + 1 < s.length) {
      cur += c + s[k + 1];
      k++;
    } else if (c === sep) {
      parts.push(cur);
      cur = '';
    } else cur += c;
  }
  parts.push(cur);
  return parts;
}

/** Removes the escaping backslashes (`\:` → `:`, `\\` → `\`), as the kernel's ovl_unescape. */
export function unescape(s: string): string {
  return s.replace(/\\(.)/g, '$1');
}

/**
 * Reads every `-o` argument (in order; later options win) into the overlay's options and the
 * mount's flags. Relative layer paths are made absolute against `cwd`. Throws FuseError FUSE_USAGE
 * with a one-line message for a bad or unknown option.
 */
export function parseMountOptions(optionArgs: readonly string[], cwd = process.cwd()): StrataOverlayMountOptions {
  let lowerdirs: string[] | undefined;
  let upperdir: string | undefined;
  let workdir: string | undefined;
  let redirectDir: RedirectMode | undefined;
  let fsync: FsyncMode | undefined;
  let timeout = DEFAULT_TIMEOUT;
  let passthrough = true;
  let busyPollUs = DEFAULT_BUSY_POLL_US;
  let flags = 0;
  let suid = false;
  let dev = false;
  let fsname: string | undefined;
  let debug = false;

  for (const arg of optionArgs) {
    for (const opt of splitEscaped(arg, ',')) {
      if (opt === '') continue;
      const eq = opt.indexOf('=');
      const key = eq < 0 ? opt : opt.slice(0, eq);
      const value = eq < 0 ? undefined : opt.slice(eq + 1);
      const need = (): string => {
        if (value === undefined || value === '') throw usage(`option ${key} needs a value`);
        return value;
      };
      if (key === 'lowerdir') {
        const parts = splitEscaped(need(), ':');
        if (parts.some((p) => p === '')) throw usage('empty lowerdir entry (data-only lower layers "::" are not supported)');
        lowerdirs = parts.map((p) => path.resolve(cwd, unescape(p)));
      } else if (key === 'upperdir') upperdir = path.resolve(cwd, unescape(need()));
      else if (key === 'workdir') workdir = path.resolve(cwd, unescape(need()));
      else if (key === 'timeout') {
        const t = Number(need());
        if (!Number.isFinite(t) || t < 0) throw usage(`timeout=${value}: not a number of seconds >= 0`);
        timeout = t;
      } else if (key === 'passthrough') {
        const v = need();
        if (v !== 'on' && v !== 'off') throw usage(`passthrough=${v}: expected on or off`);
        passthrough = v === 'on';
      } else if (key === 'busy_poll') {
        const us = Number(need());
        if (!Number.isInteger(us) || us < 0 || us > 1_000_000) throw usage(`busy_poll=${value}: expected whole microseconds from 0 to 1000000`);
        busyPollUs = us;
      } else if (key === 'redirect_dir') {
        const mode = need() as RedirectMode;
        if (!REDIRECT_MODES.includes(mode)) throw usage(`redirect_dir=${value}: expected on, follow, nofollow or off`);
        redirectDir = mode;
      } else if (key === 'fsync') {
        const mode = need() as FsyncMode;
        if (!FSYNC_MODES.includes(mode)) throw usage(`fsync=${value}: expected auto, strict or volatile${value === '0' ? " (fuse-overlayfs's fsync=0 is volatile here)" : ''}`);
        fsync = mode;
      } else if (eq < 0 && key === 'volatile') fsync = 'volatile';
      else if (FIXED_OFF.has(key)) {
        if (value !== 'off') throw usage(`${opt}: strata-overlay supports only ${key}=off`);
      } else if (key === 'fsname') fsname = unescape(need());
      else if (eq < 0 && key in FLAG_OPTIONS) {
        const [flag, set] = FLAG_OPTIONS[key]!;
        flags = set ? flags | flag : flags & ~flag;
      } else if (eq < 0 && (key === 'suid' || key === 'nosuid')) suid = key === 'suid';
      else if (eq < 0 && (key === 'dev' || key === 'nodev')) dev = key === 'dev';
      else if (eq < 0 && key === 'debug') debug = true;
      else if (eq < 0 && IGNORED_OPTIONS.has(key)) continue;
      else if (key.startsWith('x-') || key === 'comment') continue; // fstab annotations for other programs
      else throw usage(`unknown option ${opt}`);
    }
  }

  if (lowerdirs === undefined) throw usage('no lowerdir= given');
  if ((upperdir === undefined) !== (workdir === undefined)) throw usage(upperdir === undefined ? 'workdir= needs an upperdir=' : 'upperdir= needs a workdir=');
  const overlay: OverlayOptions = { lowerdirs };
  if (upperdir !== undefined) overlay.upperdir = upperdir;
  if (workdir !== undefined) overlay.workdir = workdir;
  if (redirectDir !== undefined) overlay.redirectDir = redirectDir;
  if (fsync !== undefined) overlay.fsync = fsync;
  return { overlay, timeout, passthrough, busyPollUs, flags, suid, dev, debug, ...(fsname !== undefined ? { fsname } : {}) };
}
