/** The overlay2 driver itself (moby `daemon/graphdriver/overlay2/overlay.go`). See index.ts. */
import fs from 'node:fs';
import path from 'node:path';
import { StrataError } from '../../errors/index.js';
import * as sys from '../../sys/index.js';
import { applyLayer, directorySize, writeLayerTar, type Change, type TarEntry } from '../../archive/index.js';
import type { CreateOptions, Driver, DriverCapabilities } from '../driver.js';
import {
  COMMITTED_FILE, DIFF_DIR, LINK_DIR, LINK_FILE, LOWER_FILE, MERGED_DIR, WORK_DIR,
  computeLower, generateLinkId, readLower, resolveLowerDirs,
} from './layout.js';
import { kernelMounter, RefCounter, type MergedMounter, type MountMethod } from './mount.js';
import { naiveDiff, type DiffOperations } from '../naive.js';
import { parseStorageOpt } from './options.js';
import type { QuotaControl } from './quota.js';
import { ensureRemoveAll, recursiveUnmount } from './system.js';

export interface Overlay2Config {
  home: string;
  backingFs: string;
  supportsDType: boolean;
  /** Why native diff is off, or undefined when it is on. */
  naiveDiffReason: string | undefined;
  indexOff: string;
  userxattr: string;
  lowerdirPlus: boolean;
  /** Entries a `lower` file may hold: 128 as Docker, or 499 with `lowerdir+`. */
  maxDepth: number;
  quotaSize: number;
  quota: QuotaControl | undefined;
}

/** Go's `path.Base`: the last element; `.` for ''. moby names layer dirs `path.Join(home, path.Base(id))`. */
function goBase(p: string): string {
  if (p === '') return '.';
  const s = p.replace(/\/+$/, '');
  if (s === '') return '/';
  return s.slice(s.lastIndexOf('/') + 1);
}

function exists(p: string): boolean {
  try {
    fs.statSync(p);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw e;
  }
}

/**
 * Docker's overlay2 layout and rules; the mounter decides who serves `merged/` (the kernel for
 * overlay2, strata-overlay for fuse-overlay), and gives the driver its name.
 */
export class Overlay2Driver implements Driver {
  readonly name: string;
  readonly home: string;
  private readonly ctr: RefCounter;
  /** moby's NaiveDiffDriver over this driver's own get/put: the fallback diff family. */
  private readonly naive: DiffOperations = naiveDiff(this);
  /** How each currently mounted merged dir was mounted (for tests and the bench). */
  readonly mountMethods = new Map<string, MountMethod>();

  constructor(
    readonly config: Overlay2Config,
    private readonly mounter: MergedMounter = kernelMounter,
  ) {
    this.home = config.home;
    this.name = mounter.driver;
    this.ctr = new RefCounter(mounter.isMounted);
  }

  private dir(id: string): string {
    return path.join(this.home, goBase(id));
  }

  get useNaiveDiff(): boolean {
    return this.config.naiveDiffReason !== undefined;
  }

  async create(id: string, parent: string, opts?: CreateOptions): Promise<void> {
    if (opts?.storageOpt && Object.keys(opts.storageOpt).length > 0 && 'size' in opts.storageOpt) {
      throw new StrataError('DRIVER_BAD_OPTION', '--storage-opt size is only supported for ReadWrite Layers');
    }
    this.createLayer(id, parent, opts?.storageOpt);
  }

  async createReadWrite(id: string, parent: string, opts?: CreateOptions): Promise<void> {
    const storageOpt = { ...(opts?.storageOpt ?? {}) };
    if (!('size' in storageOpt) && this.config.quotaSize !== 0) storageOpt.size = String(this.config.quotaSize);
    if ('size' in storageOpt && !this.config.quota) {
      throw new StrataError('DRIVER_BAD_OPTION', "--storage-opt is supported only for overlay over xfs with 'pquota' mount option");
    }
    this.createLayer(id, parent, storageOpt);
  }

  /** moby's `create`: the layer dir, diff/, link + l/ symlink, then work/, committed, lower. */
  private createLayer(id: string, parent: string, storageOpt: Record<string, string> | undefined): void {
    const dir = this.dir(id);
    fs.mkdirSync(path.dirname(dir), { recursive: true, mode: 0o710 });
    fs.mkdirSync(dir, { mode: 0o710 });
    fs.chmodSync(dir, 0o710);
    let lid: string | undefined;
    try {
      if (storageOpt && Object.keys(storageOpt).length > 0) {
        const size = parseStorageOpt(storageOpt);
        if (size > 0) {
          if (!this.config.quota) throw new StrataError('QUOTA_NOT_SUPPORTED', 'Filesystem does not support, or has not enabled quotas');
          this.config.quota.setQuota(dir, size);
        }
      }
      fs.mkdirSync(path.join(dir, DIFF_DIR), { mode: 0o755 });
      fs.chmodSync(path.join(dir, DIFF_DIR), 0o755);
      // `link` before the symlink (moby: after), so a crash in between never leaves an `l/`
      // entry that no layer names: `remove` finds the symlink through `link`.
      lid = generateLinkId();
      writeFileMode(path.join(dir, LINK_FILE), lid, 0o644);
      fs.symlinkSync(path.join('..', goBase(id), DIFF_DIR), path.join(this.home, LINK_DIR, lid));
      if (parent === '') return;
      fs.mkdirSync(path.join(dir, WORK_DIR), { mode: 0o700 });
      fs.chmodSync(path.join(dir, WORK_DIR), 0o700);
      writeFileMode(path.join(this.dir(parent), COMMITTED_FILE), '', 0o600);
      const lower = computeLower(this.home, goBase(parent), this.config.maxDepth);
      if (lower !== '') writeFileMode(path.join(dir, LOWER_FILE), lower, 0o644);
    } catch (e) {
      // moby removes the whole dir on failure (and leaves its l/ symlink behind).
      if (lid) fs.rmSync(path.join(this.home, LINK_DIR, lid), { force: true });
      fs.rmSync(dir, { recursive: true, force: true });
      throw e;
    }
  }

  async remove(id: string): Promise<void> {
    if (id === '') throw new StrataError('DRIVER_BAD_ID', 'refusing to remove the directories: id is empty');
    const dir = this.dir(id);
    let lid: string | undefined;
    try {
      lid = fs.readFileSync(path.join(dir, LINK_FILE), 'utf8');
    } catch {
      /* no link: nothing to unlink */
    }
    if (lid) fs.rmSync(path.join(this.home, LINK_DIR, lid), { recursive: true, force: true });
    ensureRemoveAll(dir);
    this.ctr.forget(path.join(dir, MERGED_DIR));
    this.mountMethods.delete(path.join(dir, MERGED_DIR));
  }

  async get(id: string, mountLabel?: string): Promise<string> {
    return this.getSync(id, mountLabel);
  }

  /** Synchronous, so that no other get/put of the same id interleaves (moby's per-id lock). */
  private getSync(id: string, mountLabel?: string): string {
    const dir = this.dir(id);
    fs.statSync(dir);
    const lowers = readLower(this.home, goBase(id));
    if (lowers === undefined) return path.join(dir, DIFF_DIR);
    const merged = path.join(dir, MERGED_DIR);
    if (this.ctr.increment(merged) > 1) return merged;
    let ok = false;
    try {
      const readOnly = exists(path.join(dir, COMMITTED_FILE));
      fs.mkdirSync(merged, { recursive: true, mode: 0o700 });
      const req = {
        home: this.home, id: goBase(id), lowers: lowers.length ? lowers : [''], readOnly,
        indexOff: this.config.indexOff, userxattr: this.config.userxattr, lowerdirPlus: this.config.lowerdirPlus,
        ...(mountLabel ? { mountLabel } : {}),
      };
      this.mountMethods.set(merged, this.mounter.mount(req));
      ok = true;
      return merged;
    } finally {
      if (!ok && this.ctr.decrement(merged) <= 0) {
        try {
          sys.umount2(merged, 0);
        } catch {
          /* not mounted */
        }
        try {
          fs.rmdirSync(merged);
        } catch {
          /* gone or busy */
        }
      }
    }
  }

  async put(id: string): Promise<void> {
    const dir = this.dir(id);
    if (readLower(this.home, goBase(id)) === undefined) return;
    const merged = path.join(dir, MERGED_DIR);
    if (this.ctr.decrement(merged) > 0) return;
    try {
      sys.umount2(merged, sys.constants.MNT_DETACH);
    } catch {
      /* moby only logs */
    }
    this.mountMethods.delete(merged);
    try {
      fs.rmdirSync(merged);
    } catch {
      /* moby ignores this too */
    }
  }

  async exists(id: string): Promise<boolean> {
    return fs.existsSync(this.dir(id)); // moby: stat succeeds
  }

  status(): [string, string][] {
    return [
      ['Backing Filesystem', this.config.backingFs],
      ['Supports d_type', String(this.config.supportsDType)],
      ['Native Overlay Diff', String(!this.useNaiveDiff)],
      ['userxattr', String(this.config.userxattr !== '')],
    ];
  }

  async metadata(id: string): Promise<Record<string, string>> {
    const dir = this.dir(id);
    fs.statSync(dir);
    const md: Record<string, string> = {};
    const lowers = resolveLowerDirs(this.home, goBase(id));
    if (lowers.length > 0) md.LowerDir = lowers.join(':');
    md.MergedDir = path.join(dir, MERGED_DIR);
    md.UpperDir = path.join(dir, DIFF_DIR);
    md.WorkDir = path.join(dir, WORK_DIR);
    return md;
  }

  async cleanup(): Promise<void> {
    recursiveUnmount(this.home);
  }

  /** moby's `isParent`: `parent` is the layer `id` was created on (both '' for a base layer). */
  isParent(id: string, parent: string): boolean {
    const lowers = resolveLowerDirs(this.home, goBase(id));
    if (parent === '' && lowers.length > 0) return false;
    const ld = lowers.length > 0 ? path.dirname(lowers[0]!) : '';
    if (ld === '' && parent === '') return true;
    return ld === this.dir(parent);
  }

  private native(id: string, parent: string): boolean {
    return !this.useNaiveDiff && this.isParent(id, parent);
  }

  async *diff(id: string, parent: string): AsyncGenerator<Buffer> {
    if (this.native(id, parent)) yield* writeLayerTar(path.join(this.dir(id), DIFF_DIR));
    else yield* this.naive.diff(id, parent);
  }

  changes(id: string, parent: string): Promise<Change[]> {
    return this.naive.changes(id, parent);
  }

  async applyDiff(id: string, parent: string, entries: AsyncIterable<TarEntry>): Promise<number> {
    if (!this.isParent(id, parent)) return this.naive.applyDiff(id, parent, entries);
    const applyDir = path.join(this.dir(id), DIFF_DIR);
    return (await applyLayer(entries, applyDir, { whiteouts: 'overlay' })).size;
  }

  async diffSize(id: string, parent: string): Promise<number> {
    if (this.native(id, parent)) return directorySize(path.join(this.dir(id), DIFF_DIR));
    return this.naive.diffSize(id, parent);
  }

  capabilities(): DriverCapabilities {
    return { reproducesExactDiffs: false, nativeDiff: !this.useNaiveDiff };
  }

  /**
   * The layer's own `diff/`: every file its tar held was unpacked there (copied-up files too), so
   * a layer's tar is reassembled without the overlay mount moby makes for it — and two readers
   * never race to mount the same `merged/`.
   */
  async diffGetter(id: string): Promise<{ root: string; release(): Promise<void> }> {
    const root = path.join(this.dir(id), DIFF_DIR);
    fs.statSync(root);
    return { root, release: async () => undefined };
  }
}

/** ioutil.WriteFile with the mode dockerd ends up with (umask 022), whatever our umask is. */
function writeFileMode(p: string, data: string, mode: number): void {
  fs.writeFileSync(p, data, { mode });
  fs.chmodSync(p, mode);
}
