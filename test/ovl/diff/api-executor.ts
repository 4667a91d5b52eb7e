/**
 * The executor for strata's path API (`openOverlay` from src/ovl): the same operations as the
 * mount executors, through `Overlay` calls; errors carry the errno name in `code`. The API resolves
 * symlinks inside the union itself (its chroot rule), so union paths are passed through as they
 * are. utimes with UTIME_OMIT has no path-API form: it goes to `core.setattr` with only the other
 * time, on the node found by the same chroot resolution. Union paths are byte strings (bytes.ts):
 * the API gets them as Buffers (raw bytes) and gives names and targets back as Buffers
 * (`encoding: 'buffer'`); the core (`core.lookup`, `core.readlink`) speaks byte strings itself.
 */
import { makedev } from '../../../src/sys/index.js';
import { openOverlay, type Overlay, type OverlayFileHandle, type OvlNode, type OvlSetattr, type OvlStat } from '../../../src/ovl/index.js';
import { byteString, bytesOf } from './bytes.js';
import { errOutcome, type Executor, type Observation, type RedirectConfig, type SideSpec } from './executor.js';
import type { LayerDirs } from './fixture.js';
import { openFlagsValue, openFollows, renameFlagsValue, statfsName, timeArgValue } from './fs-executor.js';
import { InoLabels, digest, observeMerged, observeUpper, showBytes, statFields, typeOfMode, type MergedReader, type RawStat } from './observe.js';
import type { Op } from './ops.js';
import { contentBytes } from './rng.js';
import { resolveUnionPath, type NameKind } from './resolve.js';

const S_IFIFO = 0o010000;
const O_NONBLOCK = 0o4000;
const S_IFCHR = 0o020000;

export function rawStatOfOvl(st: OvlStat): RawStat {
  return {
    type: typeOfMode(st.mode),
    mode: st.mode,
    uid: st.uid,
    gid: st.gid,
    size: st.size,
    nlink: st.nlink,
    ino: st.ino,
    dev: BigInt(st.dev),
    rdev: BigInt(st.rdev),
    mtimeNs: st.mtimeNs,
  };
}

/** A byte-string union path as the path API takes it: its raw bytes. */
const B = bytesOf;

export class ApiExecutor implements Executor {
  readonly name: string;
  private readonly labels = new InoLabels();
  /** The paths the last observation saw: the next one stats them first. */
  private observed: string[] = [];
  private readonly handles = new Map<number, OverlayFileHandle>();
  private closed = false;

  constructor(name: string, readonly dirs: LayerDirs, private readonly ovl: Overlay) {
    this.name = name;
  }

  private handle(h: number): OverlayFileHandle {
    const fh = this.handles.get(h);
    if (!fh) throw Object.assign(new Error(`no handle ${h}`), { code: 'EBADF' });
    return fh;
  }

  /** The node of `upath` by chroot resolution over the core (for setattr-only cases). */
  private node(upath: string, followLast: boolean): OvlNode {
    const core = this.ovl.core;
    const walk = (parts: readonly string[]): OvlNode => parts.reduce((dir, name) => core.lookup(dir, name), core.root);
    const kindOf = (parts: readonly string[]): NameKind | null => {
      let node: OvlNode;
      try {
        node = walk(parts);
      } catch (e) {
        if ((e as { code?: string }).code === 'ENOENT') return null;
        throw e;
      }
      const type = typeOfMode(core.getattr(node).mode);
      if (type === 'dir') return { type: 'dir' };
      if (type === 'symlink') return { type: 'symlink', target: core.readlink(node) };
      return { type: 'other' };
    };
    return walk(resolveUnionPath(kindOf, upath, followLast));
  }

  async run(op: Op): Promise<string> {
    try {
      return await this.runOp(op);
    } catch (e) {
      return errOutcome(e);
    }
  }

  private async runOp(op: Op): Promise<string> {
    const o = this.ovl;
    switch (op.op) {
      case 'open': {
        // O_NONBLOCK as the mount executors: an open that reaches a fifo must never wait for a partner
        let flags = openFlagsValue(op.flags) | O_NONBLOCK;
        if (!openFollows(op.flags)) flags |= openFlagsValue(['NOFOLLOW']);
        this.handles.set(op.h, await o.open(B(op.path), flags, op.mode));
        return 'ok';
      }
      case 'read': {
        const buf = Buffer.alloc(op.len);
        const { bytesRead } = await this.handle(op.h).read(buf, 0, op.len, op.pos);
        return `ok ${digest(buf.subarray(0, bytesRead))}`;
      }
      case 'write': {
        const { bytesWritten } = await this.handle(op.h).write(contentBytes(op.seed, op.len), 0, op.len, op.pos);
        return `ok ${bytesWritten}`;
      }
      case 'ftruncate':
        await this.handle(op.h).truncate(op.size);
        return 'ok';
      case 'fstat':
        return `ok ${JSON.stringify(statFields(rawStatOfOvl(await this.handle(op.h).stat()), this.labels))}`;
      case 'close': {
        const fh = this.handle(op.h);
        this.handles.delete(op.h);
        await fh.close();
        return 'ok';
      }
      case 'truncate':
        await o.truncate(B(op.path), op.size);
        return 'ok';
      case 'stat':
        return `ok ${JSON.stringify(statFields(rawStatOfOvl(op.follow ? await o.stat(B(op.path)) : await o.lstat(B(op.path))), this.labels))}`;
      case 'readdir':
        return `ok ${(await o.readdir(B(op.path), { encoding: 'buffer' })).map((d) => `${byteString(d.name)}:${d.type}`).sort().join(' ')}`;
      case 'mkdir':
        await o.mkdir(B(op.path), op.mode);
        return 'ok';
      case 'rmdir':
        await o.rmdir(B(op.path));
        return 'ok';
      case 'unlink':
        await o.unlink(B(op.path));
        return 'ok';
      case 'mknod':
        if (op.kind === 'fifo') await o.mknod(B(op.path), S_IFIFO | op.mode, 0);
        else await o.mknod(B(op.path), S_IFCHR | op.mode, op.kind === 'chardev' ? Number(makedev(1, 3)) : 0);
        return 'ok';
      case 'symlink':
        await o.symlink(B(op.target), B(op.path));
        return 'ok';
      case 'readlink':
        return `ok ${byteString(await o.readlink(B(op.path), { encoding: 'buffer' }))}`;
      case 'link':
        await o.link(B(op.from), B(op.to));
        return 'ok';
      case 'rename':
        await o.rename(B(op.from), B(op.to), renameFlagsValue(op.flags));
        return 'ok';
      case 'chmod':
        await o.chmod(B(op.path), op.mode);
        return 'ok';
      case 'chown':
        await (op.follow ? o.chown(B(op.path), op.uid, op.gid) : o.lchown(B(op.path), op.uid, op.gid));
        return 'ok';
      case 'utimes': {
        const a = timeArgValue(op.atime);
        const m = timeArgValue(op.mtime);
        if (a === 'omit' || m === 'omit') {
          const attr: OvlSetattr = {};
          if (a !== 'omit') attr.atimeNs = a;
          if (m !== 'omit') attr.mtimeNs = m;
          o.core.setattr(this.node(op.path, op.follow), attr);
        } else await (op.follow ? o.utimes(B(op.path), a, m) : o.lutimes(B(op.path), a, m));
        return 'ok';
      }
      case 'setxattr':
        await o.setxattr(B(op.path), op.name, bytesOf(op.value), op.flag === 'create' ? 1 : op.flag === 'replace' ? 2 : 0);
        return 'ok';
      case 'getxattr':
        return `ok ${showBytes(await o.getxattr(B(op.path), op.name))}`;
      case 'listxattr':
        return `ok ${(await o.listxattr(B(op.path))).filter((n) => !n.startsWith('security.')).sort().join(' ')}`;
      case 'removexattr':
        await o.removexattr(B(op.path), op.name);
        return 'ok';
      case 'statfs':
        return `ok type=${statfsName((await o.statfs()).type)}`;
    }
  }

  private readonly reader: MergedReader = {
    lstat: async (u) => rawStatOfOvl(await this.ovl.lstat(B(u))),
    readdir: async (u) => (await this.ovl.readdir(B(u), { encoding: 'buffer' })).map((d) => ({ name: byteString(d.name), type: d.type })),
    readFile: (u) => this.ovl.readFile(B(u)),
    readlink: async (u) => byteString(await this.ovl.readlink(B(u), { encoding: 'buffer' })),
    listxattr: (u) => this.ovl.listxattr(B(u)),
    getxattr: (u, n) => this.ovl.getxattr(B(u), n),
  };

  async observe(): Promise<Observation> {
    const merged = await observeMerged(this.reader, this.labels, this.observed);
    this.observed = [...merged.entries.keys()];
    return { merged, upper: observeUpper(this.dirs.upper) };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const fh of this.handles.values()) await fh.close().catch(() => undefined);
    this.handles.clear();
    await this.ovl.close();
  }
}

/** strata's path API over the fixture, with the comparison's redirect_dir. */
export function apiSide(name = 'strata-api'): SideSpec {
  return {
    name,
    async open(dirs: LayerDirs, config: RedirectConfig): Promise<Executor> {
      const ovl = await openOverlay({ lowerdirs: dirs.lowers, upperdir: dirs.upper, workdir: dirs.work, redirectDir: config });
      return new ApiExecutor(name, dirs, ovl);
    },
  };
}
