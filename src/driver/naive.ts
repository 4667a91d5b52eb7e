/**
 * The naive diff: how a driver that can only *show* a layer (mount it, or hand out a directory)
 * still answers every question of the diff half of the contract — moby's `NaiveDiffDriver`
 * (daemon/graphdriver/fsdiff.go).
 *
 * A driver like vfs keeps every layer as a complete tree: layer `L2` made on `L1` starts as a full
 * copy of `L1`. Nothing on disk says which files `L2` itself changed, so the only way to know is to
 * look at both trees side by side and compare them:
 *
 *   - diff(L2, L1)      mount both, `changes(L2, L1)` (Add / Modify / Delete, moby's ChangesDirs),
 *                       then `exportChanges`: the added and modified paths archived from L2, each
 *                       deletion a bare `.wh.<name>` header. `diff(L, '')` is the whole tree.
 *   - applyDiff(L2, …)  mount L2 (already a copy of L1) and apply the tar on top, whiteouts
 *                       *deleting* (moby's UnpackLayer, `whiteouts: 'delete'`); the size is the sum
 *                       of the tar's header sizes, as dockerd records it.
 *   - changes, diffSize the same comparison, as a list or as the bytes of the Added/Modified files.
 *
 * Every operation goes through the driver's own `get`/`put`, so it works for any driver that can
 * produce a directory for a layer: vfs (a plain directory), overlay2 when the kernel's overlay
 * cannot give a trustworthy native diff (a merged mount), strata's FUSE overlay.
 *
 * The one-second sleep. A naive diff compares mtimes, and files that came out of a tar carry only
 * whole seconds. If a layer were diffed, then changed and diffed again within the same second, a
 * rewritten file of the same size could have an mtime indistinguishable from its parent's copy
 * and the change would be lost. moby therefore makes the closing of a `diff(id, parent)` stream
 * sleep until the next whole second after the diff started; strata keeps that (it is part of
 * what makes naive diffs correct, not an optimisation to remove). Tests may turn it off.
 *
 * Worked example (a vfs-like driver whose `get` returns `/d/<id>`):
 *
 *   const nd = naiveDiff({ get: async (id) => `/d/${id}`, put: async () => {} });
 *   // /d/base holds etc/motd and bin/sh; /d/app is a copy of it where etc/motd was deleted
 *   // and app/run.sh was added
 *   await nd.changes('app', 'base');
 *   //   [ { path: '/app', kind: 'A' }, { path: '/app/run.sh', kind: 'A' },
 *   //     { path: '/etc', kind: 'C' }, { path: '/etc/motd', kind: 'D' } ]
 *   for await (const chunk of nd.diff('app', 'base')) out.write(chunk);
 *   //   tar: app/  app/run.sh  etc/  etc/.wh.motd  (then ~1 s later the stream ends)
 *   const size = await nd.applyDiff('copy', 'base', new TarReader(fs.createReadStream('app.tar')));
 *   //   /d/copy, a copy of base, now equals /d/app; size = length of run.sh
 *
 * A whole driver from its "proto" half: `withNaiveDiff(proto)` adds the four methods and
 * `capabilities()` (`nativeDiff: false`) to an object with create/remove/get/put/… .
 */
import { applyLayer } from '../archive/apply/index.js';
import { changes as changesDirs, changesSize, exportChanges, writeLayerTar, type Change, type NamesOption } from '../archive/diff/index.js';
import type { TarEntry } from '../archive/tar/index.js';
import type { Driver, DriverCapabilities } from './driver.js';

/** The two calls the naive diff needs from a driver: a directory for a layer, and its release. */
export interface LayerMounter {
  /** Returns the path of layer `id`'s full tree (mounting it if needed). */
  get(id: string, mountLabel?: string): Promise<string>;
  /** Releases one `get`. */
  put(id: string): Promise<void>;
}

/** The Driver minus its diff half: what a driver implements itself before `withNaiveDiff`. */
export type ProtoDriver = Omit<Driver, 'diff' | 'changes' | 'applyDiff' | 'diffSize' | 'capabilities'>;

/** The diff half of the Driver contract, as the naive diff implements it. */
export type DiffOperations = Pick<Driver, 'diff' | 'changes' | 'applyDiff' | 'diffSize'>;

export interface NaiveDiffOptions {
  /** uname/gname in diff tars: `'lookup'` (dockerd 20.10, default) or `'empty'` (Docker ≥ 23.0). */
  names?: NamesOption;
  /**
   * Sleep at the close of a `diff(id, parent)` stream until the next whole second after its start
   * (moby's behaviour, default true). Only tests that diff many layers should turn it off.
   */
  sleepToNextSecond?: boolean;
  /** The clock in ms since the epoch (default Date.now): the sleep's start and whiteout mtimes. */
  now?: () => number;
  /** Create devices from applied tars (default: when running as root), as `applyLayer`. */
  allowDevices?: boolean;
  /** Told about xattrs the filesystem refused while applying. */
  onWarning?: (message: string) => void;
}

/**
 * Resolves after the next whole second following `startMs` (moby's
 * `time.Sleep(time.Until(start.Truncate(time.Second).Add(time.Second)))`); at once if that moment
 * has already passed.
 */
export function sleepUntilNextSecond(startMs: number, now: () => number = Date.now): Promise<void> {
  const wait = Math.floor(startMs / 1000) * 1000 + 1000 - now();
  return wait > 0 ? new Promise((resolve) => setTimeout(resolve, wait)) : Promise.resolve();
}

/**
 * The naive implementations of `diff`, `changes`, `applyDiff` and `diffSize` over `mounter`'s
 * get/put, each balancing every get with a put, also on failure:
 *
 * - `diff(id, '')`: the whole tree of `id` as `writeLayerTar(dir, {whiteouts: 'none'})` (moby's
 *   `archive.Tar`); `id` is held from the first read until the stream ends or is abandoned.
 * - `diff(id, parent)`: `changes(get(id), get(parent))`, `parent` released as soon as the list is
 *   made, then `exportChanges` streamed from `id`, which is released when the stream ends — and
 *   the end waits until the next whole second after the start (see the module comment).
 * - `changes(id, parent)`: moby's ChangesDirs of the two trees (`parent` `''`: everything is an Add),
 *   sorted by path.
 * - `applyDiff(id, parent, entries)`: `applyLayer(entries, get(id), {whiteouts: 'delete'})`; resolves
 *   to the sum of the entries' header sizes. `parent` is not consulted: `id` already holds its copy.
 * - `diffSize(id, parent)`: `changesSize(get(id), changes(id, parent))`.
 *
 * The work starts on the first read of a diff stream (a stream never read gets nothing), not at
 * the call.
 */
export function naiveDiff(mounter: LayerMounter, opts: NaiveDiffOptions = {}): DiffOperations {
  const now = opts.now ?? Date.now;
  const sleep = opts.sleepToNextSecond ?? true;

  async function changes(id: string, parent: string): Promise<Change[]> {
    const layerFs = await mounter.get(id);
    try {
      if (parent === '') return await changesDirs(layerFs);
      const parentFs = await mounter.get(parent);
      try {
        return await changesDirs(layerFs, parentFs);
      } finally {
        await mounter.put(parent);
      }
    } finally {
      await mounter.put(id);
    }
  }

  async function* diff(id: string, parent: string): AsyncGenerator<Buffer> {
    const start = now();
    const layerFs = await mounter.get(id);
    let opened = false; // moby's Diff returned its stream: closing it sleeps
    try {
      if (parent === '') {
        yield* writeLayerTar(layerFs, { whiteouts: 'none', names: opts.names });
        return;
      }
      let list: Change[];
      const parentFs = await mounter.get(parent);
      try {
        list = await changesDirs(layerFs, parentFs);
      } finally {
        await mounter.put(parent);
      }
      opened = true;
      yield* exportChanges(layerFs, list, { names: opts.names, now });
    } finally {
      await mounter.put(id);
      // moby: on Close, after Put(id), also when the stream is abandoned or failed.
      if (opened && sleep) await sleepUntilNextSecond(start, now);
    }
  }

  async function applyDiff(id: string, _parent: string, entries: AsyncIterable<TarEntry>): Promise<number> {
    const layerFs = await mounter.get(id);
    try {
      const { size } = await applyLayer(entries, layerFs, {
        whiteouts: 'delete',
        allowDevices: opts.allowDevices,
        onWarning: opts.onWarning,
      });
      return size;
    } finally {
      await mounter.put(id);
    }
  }

  async function diffSize(id: string, parent: string): Promise<number> {
    const list = await changes(id, parent);
    const layerFs = await mounter.get(id);
    try {
      return changesSize(layerFs, list);
    } finally {
      await mounter.put(id);
    }
  }

  return { diff, changes, applyDiff, diffSize };
}

/** What a naively diffed driver reports: no exact diffs, no native diff. */
export const NAIVE_CAPABILITIES: Readonly<DriverCapabilities> = Object.freeze({ reproducesExactDiffs: false, nativeDiff: false });

/**
 * A complete Driver from `proto` (moby's `NewNaiveDiffDriver`): every ProtoDriver method is
 * `proto`'s own (called on `proto`), and the diff half is `naiveDiff(proto, opts)`. `capabilities()`
 * reports `{ reproducesExactDiffs: false, nativeDiff: false }`.
 */
export function withNaiveDiff(proto: ProtoDriver, opts: NaiveDiffOptions = {}): Driver {
  const ops = naiveDiff(proto, opts);
  return {
    get name() {
      return proto.name;
    },
    get home() {
      return proto.home;
    },
    create: (id, parent, o) => proto.create(id, parent, o),
    createReadWrite: (id, parent, o) => proto.createReadWrite(id, parent, o),
    remove: (id) => proto.remove(id),
    get: (id, mountLabel) => proto.get(id, mountLabel),
    put: (id) => proto.put(id),
    exists: (id) => proto.exists(id),
    status: () => proto.status(),
    metadata: (id) => proto.metadata(id),
    cleanup: () => proto.cleanup(),
    ...ops,
    capabilities: () => ({ ...NAIVE_CAPABILITIES }),
  };
}
