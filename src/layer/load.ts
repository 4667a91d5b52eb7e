/**
 * Loading at start (moby `newStoreFromGraphDriver`): every layer with its parents first, then
 * every mount, rebuilding the reference counts from what holds what on disk. A layer that cannot
 * be read — or whose parent cannot — is skipped with all its descendants, and so is a mount on a
 * skipped layer, exactly as moby does; unlike moby (a debug log line), each is reported.
 *
 * Nothing is read from the driver's side: loading is the layerdb's small files only, which is
 * what keeps opening 10,000 layers well under a second.
 */
import type { Digest } from '../digest/index.js';
import { isStrataError } from '../errors/index.js';
import type { LoadProblem } from './types.js';
import type { RoLayer, StoreState } from './state.js';

function reasonOf(e: unknown): string {
  return isStrataError(e) || e instanceof Error ? e.message : String(e);
}

/**
 * What loading needs of a layer, in moby's `loadLayer` order — without `descriptor.json`, which
 * Docker never writes on Linux and nothing here uses: at 10,000 layers each file read is ~10% of
 * the whole load.
 */
function readForLoad(s: StoreState, chainId: Digest) {
  const diffId = s.db.getDiffId(chainId);
  const size = s.db.getSize(chainId);
  const cacheId = s.db.getCacheId(chainId);
  return { chainId, diffId, size, cacheId, parent: s.db.getParent(chainId) };
}

export function loadAll(s: StoreState): void {
  const listing = s.db.list();
  const problems: LoadProblem[] = [];
  for (const sk of listing.skipped) {
    // `-removing` dirs are interrupted deletes: recovery finishes them; they are not damage.
    if (sk.reason !== 'removing') problems.push({ kind: 'entry', name: sk.path, reason: sk.reason });
  }

  const onDisk = new Set<Digest>(listing.layers);
  const failed = new Map<Digest, string>();
  const visiting = new Set<Digest>();

  // Iterative on the parent chain (a damaged store could hold a cycle or a very long chain).
  const load = (top: Digest): RoLayer | undefined => {
    const chain: Digest[] = [];
    let cur: Digest | undefined = top;
    let base: RoLayer | undefined;
    let baseFailed: string | undefined;
    const dependsOn = (id: Digest) => `depends on ${id}, which did not load`;
    const records = new Map<Digest, ReturnType<typeof readForLoad>>();
    while (cur !== undefined) {
      const have = s.layers.get(cur);
      if (have) {
        base = have;
        break;
      }
      if (failed.has(cur)) {
        if (cur === top) return undefined; // reported when it failed
        baseFailed = dependsOn(cur);
        break;
      }
      if (visiting.has(cur)) {
        baseFailed = `its parent chain loops through ${cur}`;
        break;
      }
      if (!onDisk.has(cur)) {
        baseFailed = `parent ${cur} does not exist`;
        break;
      }
      const id: Digest = cur;
      visiting.add(id);
      chain.push(id);
      try {
        const rec = readForLoad(s, id);
        records.set(id, rec);
        cur = rec.parent;
      } catch (e) {
        failed.set(id, reasonOf(e));
        problems.push({ kind: 'layer', name: id, reason: reasonOf(e) });
        chain.pop();
        visiting.delete(id);
        if (chain.length === 0) return undefined;
        baseFailed = dependsOn(id);
        break;
      }
    }
    for (const c of chain) visiting.delete(c);
    if (baseFailed !== undefined) {
      // Everything read on the way down depends on what failed: each names its own parent.
      chain.forEach((c, i) => {
        const reason = i === chain.length - 1 ? baseFailed! : dependsOn(chain[i + 1]!);
        failed.set(c, reason);
        problems.push({ kind: 'layer', name: c, reason });
      });
      return undefined;
    }
    // Build from the bottom of the chain up.
    let parent = base;
    for (let i = chain.length - 1; i >= 0; i--) {
      const rec = records.get(chain[i]!)!;
      const l: RoLayer = {
        chainId: rec.chainId,
        diffId: rec.diffId,
        cacheId: rec.cacheId,
        size: rec.size,
        parent,
        depth: parent ? parent.depth + 1 : 1,
        refCount: 0,
        children: 0,
        mounts: 0,
        handles: new Set(),
      };
      if (parent) {
        parent.refCount++;
        parent.children++;
      }
      s.layers.set(l.chainId, l);
      parent = l;
    }
    return s.layers.get(top);
  };

  for (const id of listing.layers) load(id);

  for (const name of listing.mounts) {
    let rec;
    try {
      rec = s.db.readMount(name);
    } catch (e) {
      problems.push({ kind: 'mount', name, reason: reasonOf(e) });
      continue;
    }
    let parent: RoLayer | undefined;
    if (rec.parent !== undefined) {
      parent = s.layers.get(rec.parent);
      if (!parent) {
        problems.push({ kind: 'mount', name, reason: failed.has(rec.parent) ? `depends on ${rec.parent}, which did not load` : `parent ${rec.parent} does not exist` });
        continue;
      }
      parent.refCount++;
      parent.mounts++;
    }
    s.mounts.set(name, { name, mountId: rec.mountId, initId: rec.initId, parent, handles: new Set() });
  }
  s.problems = problems;
}
