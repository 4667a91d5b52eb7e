/**
 * The vfs driver's ProtoDriver half (moby daemon/graphdriver/vfs/driver.go); index.ts tells the
 * story and wraps it in the naive diff.
 */
import fs from 'node:fs';
import path from 'node:path';
import { StrataError } from '../../errors/index.js';
import type { CreateOptions } from '../driver.js';
import type { ProtoDriver } from '../naive.js';
import { parseVfsOptions } from '../options.js';
import { dirCopy } from './copy.js';

/** moby's `quota.ErrQuotaNotSupported`, which vfs returns for any size it cannot enforce. */
export function errQuotaNotSupported(): StrataError {
  return new StrataError('QUOTA_NOT_SUPPORTED', 'Filesystem does not support, or has not enabled quotas');
}

/** The vfs driver without its diff half; `initVfs` wraps it in `withNaiveDiff`. */
export class VfsProtoDriver implements ProtoDriver {
  readonly name = 'vfs';

  /** Use `openVfs` (or `initVfs`): it validates options and creates `home`. */
  constructor(readonly home: string) {}

  /** `<home>/dir/<id>`: the whole tree of layer `id`. */
  dir(id: string): string {
    if (id === '' || id === '.' || id === '..' || id.includes('/') || id.includes('\0')) {
      throw new StrataError('DRIVER_BAD_ID', `invalid layer id ${JSON.stringify(id)}`);
    }
    return path.join(this.home, 'dir', id);
  }

  async create(id: string, parent: string, opts?: CreateOptions): Promise<void> {
    if (opts?.storageOpt && Object.keys(opts.storageOpt).length !== 0) {
      throw new StrataError('DRIVER_STORAGE_OPT', '--storage-opt is not supported for vfs on read-only layers');
    }
    this.createLayer(id, parent);
  }

  async createReadWrite(id: string, parent: string, opts?: CreateOptions): Promise<void> {
    for (const key of Object.keys(opts?.storageOpt ?? {})) {
      // moby checks quota support before it even parses the size: here there is none.
      if (key === 'size') throw errQuotaNotSupported();
      throw new StrataError('DRIVER_STORAGE_OPT', `Storage opt ${key} not supported`);
    }
    this.createLayer(id, parent);
  }

  private createLayer(id: string, parent: string): void {
    const dir = this.dir(id);
    const parentDir = parent === '' ? undefined : this.getSync(parent, (e) => `${parent}: ${e.message}`);
    ensureDir(path.dirname(dir), 0o710);
    try {
      fs.mkdirSync(dir, 0o755);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST') {
        throw new StrataError('DRIVER_LAYER_EXISTS', `layer ${id} already exists in ${this.home}`);
      }
      throw e;
    }
    try {
      fs.chmodSync(dir, 0o755); // whatever the umask
      fs.chownSync(dir, 0, 0);
      if (parentDir !== undefined) dirCopy(parentDir, dir);
    } catch (e) {
      fs.rmSync(dir, { recursive: true, force: true });
      throw e;
    }
  }

  async remove(id: string): Promise<void> {
    fs.rmSync(this.dir(id), { recursive: true, force: true });
  }

  private getSync(id: string, wrap?: (e: StrataError) => string): string {
    const dir = this.dir(id);
    let err: StrataError | undefined;
    try {
      if (!fs.statSync(dir).isDirectory()) err = new StrataError('DRIVER_NOT_A_DIRECTORY', `${dir}: not a directory`);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      err =
        code === 'ENOENT'
          ? new StrataError('DRIVER_NO_SUCH_LAYER', `stat ${dir}: no such file or directory`, { cause: e })
          : new StrataError('DRIVER_IO', `stat ${dir}: ${(e as Error).message}`, { cause: e });
    }
    if (err) throw wrap ? new StrataError(err.code, wrap(err), { cause: err }) : err;
    return dir;
  }

  async get(id: string, _mountLabel?: string): Promise<string> {
    return this.getSync(id);
  }

  async put(_id: string): Promise<void> {
    // vfs holds nothing between get and put.
  }

  async exists(id: string): Promise<boolean> {
    return fs.existsSync(this.dir(id)); // moby: stat succeeds
  }

  status(): [string, string][] {
    return [];
  }

  async metadata(_id: string): Promise<Record<string, string>> {
    return {};
  }

  async cleanup(): Promise<void> {
    // Nothing is mounted or held.
  }
}

/**
 * Validates vfs's start `options` (`size=<n>` only; see parseVfsOptions) and creates `home`
 * (0710). A non-zero `size` fails with `Filesystem does not support, or has not enabled quotas`
 * (code `QUOTA_NOT_SUPPORTED`) before anything is created, since strata's vfs has no quota support.
 */
export function openVfsProto(home: string, options: readonly string[]): VfsProtoDriver {
  const opts = parseVfsOptions(options);
  if (opts.size !== undefined && opts.size > 0) throw errQuotaNotSupported();
  ensureDir(home, 0o710);
  return new VfsProtoDriver(home);
}

/** Creates `dir` (and missing parents) with exactly `mode` unless it exists; an existing one is left as it is (moby's MkdirAllAndChown). */
function ensureDir(dir: string, mode: number): void {
  if (fs.existsSync(dir)) {
    if (!fs.statSync(dir).isDirectory()) throw new StrataError('DRIVER_NOT_A_DIRECTORY', `mkdir ${dir}: not a directory`);
    return;
  }
  fs.mkdirSync(dir, { recursive: true, mode });
  fs.chmodSync(dir, mode);
}
