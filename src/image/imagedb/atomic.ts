/**
 * moby's `ioutils.AtomicWriteFile`, the way every imagedb file (and `repositories.json`) is
 * written: the bytes go to a temp file next to the target, which only takes the target's name
 * once it is complete and on disk. A reader sees the old file or the new one, never a part.
 */
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import { fsyncDir } from '../../layer/metadata/fsutil.js';
import { SysError } from '../../sys/index.js';
import { errCode, sys, toSysError } from '../../layer/metadata/errors.js';

const { O_RDWR, O_CREAT, O_EXCL } = fs.constants;

/** Runs an fd operation on `file`; its error (Node gives none for write/fsync/close) names `file`. */
function onFile(file: string, f: () => void): void {
  try {
    f();
  } catch (e) {
    const s = toSysError(e);
    if (s instanceof SysError && s.path === undefined) throw new SysError(s.code, s.errno, s.syscall, `${s.message}, '${file}'`, file);
    throw s;
  }
}

/**
 * Writes `data` to `file` with permission bits `mode`, as dockerd does:
 * 1. create `<dir>/.tmp-<name><digits>` exclusively, mode 0600 (Go's `os.CreateTemp`, whose
 *    digits are a random uint32 in decimal; drawn again while the name exists);
 * 2. write all of `data`, fsync, close;
 * 3. chmod to `mode` (explicitly, so the process umask has no say);
 * 4. rename over `file` — the one step that makes the new content visible;
 * 5. fsync `<dir>` so that the rename itself survives a crash (dockerd stops after 4).
 *
 * On a failure in 1–4 the temp file is removed and `file` is untouched; the error (a `SysError`
 * carrying the errno name and path) is rethrown. A failure in 5 leaves the new file in place.
 * Returns the temp name that was used (for tests and logs).
 */
export function atomicWriteFile(file: string, data: Uint8Array | string, mode: number): string {
  const dir = path.dirname(file);
  const prefix = '.tmp-' + path.basename(file);
  const buf = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  let tmp = '';
  let fd = -1;
  for (let tries = 0; ; tries++) {
    tmp = path.join(dir, prefix + String(crypto.randomBytes(4).readUInt32LE(0)));
    try {
      fd = fs.openSync(tmp, O_RDWR | O_CREAT | O_EXCL, 0o600);
      break;
    } catch (e) {
      if (errCode(e) === 'EEXIST' && tries < 10000) continue;
      throw toSysError(e);
    }
  }
  let renamed = false;
  try {
    onFile(tmp, () => {
      let done = 0;
      while (done < buf.length) done += fs.writeSync(fd, buf, done, buf.length - done);
      fs.fsyncSync(fd);
    });
    const f = fd;
    fd = -1;
    onFile(tmp, () => fs.closeSync(f));
    sys(() => fs.chmodSync(tmp, mode));
    sys(() => fs.renameSync(tmp, file));
    renamed = true;
  } finally {
    if (!renamed) {
      if (fd >= 0) {
        try {
          fs.closeSync(fd);
        } catch {
          /* already failing */
        }
      }
      try {
        fs.unlinkSync(tmp);
      } catch {
        /* already failing; a leftover temp name is never read (walk skips it) */
      }
    }
  }
  fsyncDir(dir);
  return tmp;
}
