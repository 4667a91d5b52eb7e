/** extractLayer: apply into a hidden sibling, then one rename that never replaces. */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { StrataError } from '../../errors/index.js';
import * as sys from '../../sys/index.js';
import type { TarEntry } from '../tar/index.js';
import { runApply } from './apply.js';
import { ApplyErrorCode, applyError, describe, errnoOf, quote } from './errors.js';
import type { ApplyOptions, ApplyResult } from './options.js';
import { removeTree } from './root.js';

export async function runExtract(source: AsyncIterable<TarEntry>, newDir: string, opts: ApplyOptions): Promise<ApplyResult> {
  const target = path.resolve(newDir);
  const exists = () => applyError(ApplyErrorCode.TargetExists, `cannot extract into ${quote(Buffer.from(newDir))}: it already exists`);
  if (fs.lstatSync(target, { throwIfNoEntry: false })) throw exists();
  const tmp = path.join(path.dirname(target), `.${path.basename(target)}.strata-tmp-${crypto.randomBytes(6).toString('hex')}`);
  try {
    fs.mkdirSync(tmp, 0o755);
    fs.chmodSync(tmp, 0o755);
  } catch (e) {
    throw applyError(ApplyErrorCode.TargetInvalid, `cannot extract into ${quote(Buffer.from(newDir))}: ${describe(e)}`, e);
  }
  try {
    const result = await runApply(source, tmp, opts);
    try {
      sys.renameat2(sys.AT_FDCWD, tmp, sys.AT_FDCWD, target, sys.RENAME_NOREPLACE);
    } catch (e) {
      if (errnoOf(e) === 'EEXIST') throw exists();
      throw applyError(ApplyErrorCode.Io, `cannot move the extracted layer to ${quote(Buffer.from(newDir))}: ${describe(e)}`, e);
    }
    return result;
  } catch (e) {
    try {
      removeTree(Buffer.from(tmp));
    } catch {
      /* best effort; the original failure is what matters */
    }
    if (e instanceof StrataError) throw e;
    throw applyError(ApplyErrorCode.Io, `cannot extract into ${quote(Buffer.from(newDir))}: ${describe(e)}`, e);
  }
}
