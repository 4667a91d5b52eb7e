/**
 * The few file-system moves the layerdb is made of, each with Docker's exact modes (set
 * explicitly, so a process umask other than 022 cannot change them) and the fsyncs that make a
 * crash leave either the old state or the new one.
 */
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import { SysError, renameat2, constants as c } from '../../sys/index.js';
import { errCode, sys, toSysError } from './errors.js';

const { O_WRONLY, O_CREAT, O_TRUNC, O_RDONLY, O_DIRECTORY } = fs.constants;

/**
 * Writes `data` to `file` as moby's write-set does: `O_WRONLY|O_CREAT|O_TRUNC`, mode 0644,
 * written whole, fsync'd, closed. Throws SysError.
 */
export function writeFileSynced(file: string, data: string | Buffer): void {
  sys(() => {
    const fd = fs.openSync(file, O_WRONLY | O_CREAT | O_TRUNC, 0o644);
    try {
      fs.fchmodSync(fd, 0o644);
      const buf = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
      let done = 0;
      while (done < buf.length) done += fs.writeSync(fd, buf, done, buf.length - done);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  });
}

/** fsyncs a directory, making the names created, renamed or removed in it durable. */
export function fsyncDir(dir: string): void {
  sys(() => {
    const fd = fs.openSync(dir, O_RDONLY | O_DIRECTORY);
    try {
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  });
}

/**
 * Go's `os.MkdirAll(dir, mode)`: nothing to do if `dir` is a directory (its mode is left alone);
 * ENOTDIR if it (or a parent) exists as something else; otherwise the missing parents and `dir`
 * are created, each with exactly `mode`. Returns true when `dir` was created. Throws SysError.
 */
export function mkdirAll(dir: string, mode: number): boolean {
  let st: fs.Stats | undefined;
  try {
    st = fs.statSync(dir);
  } catch (e) {
    if (errCode(e) !== 'ENOENT') throw toSysError(e);
  }
  if (st) {
    if (st.isDirectory()) return false;
    throw new SysError('ENOTDIR', -20, 'mkdir', `ENOTDIR: not a directory, mkdir '${dir}'`, dir);
  }
  const parent = path.dirname(dir);
  if (parent !== dir) mkdirAll(parent, mode);
  try {
    fs.mkdirSync(dir, mode);
  } catch (e) {
    // Someone else made it meanwhile: fine if it is a directory (as Go's MkdirAll).
    if (errCode(e) === 'EEXIST' && sys(() => fs.lstatSync(dir)).isDirectory()) return false;
    throw toSysError(e);
  }
  sys(() => fs.chmodSync(dir, mode));
  return true;
}

/** A random uint32 in decimal, as Go's `os.MkdirTemp` puts in place of its `*`. */
function randomDecimal(): string {
  return String(crypto.randomBytes(4).readUInt32LE(0));
}

/**
 * Go's `os.MkdirTemp(parent, prefix)`: creates `<parent>/<prefix><random uint32>` with mode 0700,
 * drawing again on EEXIST. Returns its path. Throws SysError.
 */
export function mkdirTemp(parent: string, prefix: string): string {
  for (let tries = 0; ; tries++) {
    const p = path.join(parent, prefix + randomDecimal());
    try {
      fs.mkdirSync(p, 0o700);
    } catch (e) {
      if (errCode(e) === 'EEXIST' && tries < 10000) continue;
      throw toSysError(e);
    }
    sys(() => fs.chmodSync(p, 0o700));
    return p;
  }
}

/**
 * Renames `from` to `to` only if `to` does not exist (renameat2 RENAME_NOREPLACE), atomically.
 * Returns false when `to` exists. On a file system without RENAME_NOREPLACE (EINVAL) it falls
 * back to lstat + rename, which is only safe when no other writer races (the store's lock).
 */
export function renameNoReplace(from: string, to: string): boolean {
  try {
    renameat2(c.AT_FDCWD, from, c.AT_FDCWD, to, c.RENAME_NOREPLACE);
    return true;
  } catch (e) {
    if (errCode(e) === 'EEXIST') return false;
    if (errCode(e) !== 'EINVAL') throw e;
  }
  try {
    fs.lstatSync(to);
    return false;
  } catch (e) {
    if (errCode(e) !== 'ENOENT') throw toSysError(e);
  }
  sys(() => fs.renameSync(from, to));
  return true;
}

/** Swaps two existing names atomically (renameat2 RENAME_EXCHANGE). */
export function renameExchange(a: string, b: string): void {
  renameat2(c.AT_FDCWD, a, c.AT_FDCWD, b, c.RENAME_EXCHANGE);
}

/**
 * Reads a small file as text. Returns undefined for ENOENT when `optional`, else throws the fs
 * error (the caller wraps it with the layer and file name).
 */
export function readSmall(file: string, optional: boolean): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (e) {
    if (optional && errCode(e) === 'ENOENT') return undefined;
    throw e;
  }
}

/** `os.RemoveAll`: removes `p` and everything below; a missing `p` is fine. Throws SysError. */
export function removeAll(p: string): void {
  sys(() => fs.rmSync(p, { recursive: true, force: true }));
}
