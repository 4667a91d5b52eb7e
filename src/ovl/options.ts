/**
 * Checking an overlay's options the way the kernel's mount does, and preparing the work dir.
 */
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import { StrataError } from '../errors/index.js';
import * as real from './realfs.js';
import { XATTR_IMPURE, kindOfMode } from './realfs.js';
import type { OverlayOptions, RedirectMode } from './types.js';

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
}

const MODES: readonly RedirectMode[] = ['on', 'follow', 'nofollow', 'off'];

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
 * neither inside the other; with index=off the kernel accepts lowers that overlap them, and so does this) and creates `workdir/work`
 * (mode 000, emptied) as the kernel does at mount.
 */
export function prepareLayers(opts: OverlayOptions): Layers {
  const redirect = opts.redirectDir ?? 'follow';
  if (!MODES.includes(redirect)) throw new OvlOptionsError(`unknown redirectDir mode ${JSON.stringify(redirect)}`);
  if (!Array.isArray(opts.lowerdirs) || opts.lowerdirs.length === 0) throw new OvlOptionsError('at least one lowerdir is needed');
  if (opts.lowerdirs.length > MAX_LAYERS) throw new OvlOptionsError(`too many lower directories, limit is ${MAX_LAYERS}`);
  const lowers = opts.lowerdirs.map((l) => realDir('lowerdir', l));
  if ((opts.upperdir === undefined) !== (opts.workdir === undefined)) {
    throw new OvlOptionsError(opts.upperdir === undefined ? 'workdir is given without upperdir' : 'upperdir needs a workdir');
  }
  if (opts.upperdir === undefined || opts.workdir === undefined) return { lowers, upper: null, workdir: null, work: null, redirect };

  const upper = realDir('upperdir', opts.upperdir);
  const workdir = realDir('workdir', opts.workdir);
  if (real.lstat(upper).dev !== real.lstat(workdir).dev) throw new OvlOptionsError('workdir and upperdir must reside under the same mount');
  if (within(upper, workdir) || within(workdir, upper)) throw new OvlOptionsError('workdir and upperdir must be separate subtrees');
  markFreshUpper(upper);
  const work = path.join(workdir, 'work');
  real.removeTree(work);
  real.mkdir(work, 0);
  real.chmod(work, 0);
  return { lowers, upper, workdir, work, redirect };
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
