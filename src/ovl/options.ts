/**
 * Checking an overlay's options the way the kernel's mount does, and preparing the work dir.
 */
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import { StrataError } from '../errors/index.js';
import * as real from './realfs.js';
import { XATTR_IMPURE, kindOfMode } from './realfs.js';
import type { FsyncMode, OverlayOptions, RedirectMode } from './types.js';

/** The kernel's OVL_MAX_STACK. */
export const MAX_LAYERS = 500;

/** Options the overlay refuses (the kernel would refuse the mount); `code` is OVL_BAD_OPTIONS. */
export class OvlOptionsError extends StrataError {
  constructor(message: string) {
    super('OVL_BAD_OPTIONS', `overlay: ${message}`);
  }
}

/** The checked, absolute layer paths (byte strings, as every engine path). `work` is `workdir/work`, the kernel's scratch dir. */
export interface Layers {
  lowers: string[];
  upper: string | null;
  workdir: string | null;
  work: string | null;
  redirect: RedirectMode;
  fsync: FsyncMode;
}

const MODES: readonly RedirectMode[] = ['on', 'follow', 'nofollow', 'off'];
const FSYNC_MODES: readonly FsyncMode[] = ['auto', 'strict', 'volatile'];

/** The canonical path of a layer dir given as text, as a byte string (the engine's paths). */
function realDir(what: string, p: string): string {
  let canonical: string;
  try {
    canonical = fs.realpathSync(p, 'latin1');
  } catch {
    throw new OvlOptionsError(`${what} ${p} does not exist`);
  }
  if (kindOfMode(real.lstat(canonical).mode) !== 'dir') throw new OvlOptionsError(`${what} ${p} is not a directory`);
  return canonical;
}

/** `a` is `b` or lies inside it. */
function within(a: string, b: string): boolean {
  const rel = path.relative(b, a);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}

/**
 * Validates `opts` (1..500 existing lower dirs; upperdir and workdir together, on one filesystem,
 * neither inside the other; with index=off the kernel accepts lowers that overlap them, and so
 * does this; no incompatible feature left in the work dir) and creates `workdir/work` (mode 000,
 * emptied; with `volatile` holding the mark of it) as the kernel does at mount.
 */
export function prepareLayers(opts: OverlayOptions): Layers {
  const redirect = opts.redirectDir ?? 'follow';
  if (!MODES.includes(redirect)) throw new OvlOptionsError(`unknown redirectDir mode ${JSON.stringify(redirect)}`);
  const fsync = opts.fsync ?? 'auto';
  if (!FSYNC_MODES.includes(fsync)) throw new OvlOptionsError(`unknown fsync mode ${JSON.stringify(fsync)}`);
  if (!Array.isArray(opts.lowerdirs) || opts.lowerdirs.length === 0) throw new OvlOptionsError('at least one lowerdir is needed');
  if (opts.lowerdirs.length > MAX_LAYERS) throw new OvlOptionsError(`too many lower directories, limit is ${MAX_LAYERS}`);
  const lowers = opts.lowerdirs.map((l) => realDir('lowerdir', l));
  if ((opts.upperdir === undefined) !== (opts.workdir === undefined)) {
    throw new OvlOptionsError(opts.upperdir === undefined ? 'workdir is given without upperdir' : 'upperdir needs a workdir');
  }
  // the kernel ignores volatile without an upper: there is nothing to sync
  if (opts.upperdir === undefined || opts.workdir === undefined) return { lowers, upper: null, workdir: null, work: null, redirect, fsync: 'auto' };

  const upper = realDir('upperdir', opts.upperdir);
  const workdir = realDir('workdir', opts.workdir);
  if (real.lstat(upper).dev !== real.lstat(workdir).dev) throw new OvlOptionsError('workdir and upperdir must reside under the same mount');
  if (within(upper, workdir) || within(workdir, upper)) throw new OvlOptionsError('workdir and upperdir must be separate subtrees');
  const work = path.join(workdir, 'work');
  refuseIncompat(work);
  markFreshUpper(upper);
  real.removeTree(work);
  makeBareDir(work);
  if (fsync === 'volatile') markVolatile(work);
  return { lowers, upper, workdir, work, redirect, fsync };
}

/**
 * `work/incompat/<feature>` marks an upper dir that a mount with that feature may have left in a
 * state other mounts must not take (only `volatile` makes one: after a crash its upper may be
 * half-written). The kernel's mount empties the work dir, but fails on anything in `incompat` and
 * leaves it there; so does this, before it changes anything.
 */
function refuseIncompat(work: string): void {
  const incompat = path.join(work, 'incompat');
  const st = real.lstatMaybe(incompat);
  if (st === undefined || kindOfMode(st.mode) !== 'dir') return; // anything else there is removed with work
  const [feature] = real.readNames(incompat);
  if (feature !== undefined) throw new OvlOptionsError(`overlay with incompat feature '${real.textOf(feature)}' cannot be mounted`);
}

/** A directory of mode 000, as the kernel's in the work dir (the chmod drops a setgid bit mkdir inherits). */
function makeBareDir(p: string): void {
  real.mkdir(p, 0);
  real.chmod(p, 0);
}

/** What a volatile mount leaves for the next one to find: `work/incompat/volatile/dirty`, all mode 000, as the kernel's. */
function markVolatile(work: string): void {
  const volatile = path.join(work, 'incompat', 'volatile');
  makeBareDir(path.dirname(volatile));
  makeBareDir(volatile);
  fs.closeSync(real.open(path.join(volatile, 'dirty'), fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL, 0));
}

/**
 * The kernel (uuid=auto) gives a new overlay's upper root a `trusted.overlay.uuid` of 16 random
 * bytes at its first mount; an upper root already marked impure (used by an older overlay) stays
 * without.
 */
function markFreshUpper(upper: string): void {
  if (real.lgetxattr(upper, 'trusted.overlay.uuid') !== null || real.lgetxattr(upper, XATTR_IMPURE) !== null) return;
  real.lsetxattr(upper, 'trusted.overlay.uuid', crypto.randomBytes(16));
}
