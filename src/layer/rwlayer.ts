/**
 * Read-write layers (moby `CreateRWLayer`, `ReleaseRWLayer`): a container's writable layer on an
 * image's top layer, usually over an init layer that holds what the container runtime needs to
 * exist (`/etc/hosts`, `/proc`, … see initlayer.ts) without it ever becoming part of a commit.
 *
 *   driver:   <mountId>            RW, the container's changes      ← diff/changes/tarStream
 *             <mountId>-init       RW, written once by the InitFunc
 *             <parent cache-id>    the image's top layer, and below it the rest of the image
 *
 * Creation stages `mounts/<name>/{mount-id,init-id,parent}` in a write-set first, then creates the
 * driver layers, then publishes the mount with one rename: a crash leaves only a write-set naming
 * the driver layers to remove. Deletion runs the other way: the mount is unlisted into `tmp/`
 * first, then its driver layers removed, then the record. moby writes the files last and deletes
 * them last, so a crash there leaks driver layers or leaves a mount whose layers are gone.
 */
import path from 'node:path';
import { randomCacheId, type Digest } from '../digest/index.js';
import { checkMountName } from './metadata/index.js';
import { LayerStoreError, errMountDoesNotExist } from './errors.js';
import { cacheIdOf, type MountedLayer, type StoreState } from './state.js';
import { holdParent } from './register.js';
import { dropHold, undoHold } from './release.js';
import type { CreateRWLayerOptions, LayerMetadata } from './types.js';

export async function createRWLayer(s: StoreState, name: string, parentId: Digest | undefined, opts: CreateRWLayerOptions = {}): Promise<MountedLayer> {
  checkMountName(name);
  if (s.mounts.has(name) || s.pendingMounts.has(name) || s.db.hasMount(name)) {
    throw new LayerStoreError('MOUNT_NAME_CONFLICT', `mount already exists with name: ${name}`);
  }
  const parent = holdParent(s, parentId);
  s.pendingMounts.add(name);
  const mountId = randomCacheId();
  const initId = opts.init ? `${mountId}-init` : undefined;
  const storage = opts.storageOpt ? { storageOpt: opts.storageOpt } : {};
  let tx;
  try {
    tx = s.db.startMount(name, { mountId, ...(initId ? { initId } : {}), ...(parent ? { parent: parent.chainId } : {}) });
  } catch (e) {
    s.pendingMounts.delete(name);
    if (parent) undoHold(parent);
    throw e;
  }
  const ws = path.basename(tx.dir);
  s.activeWriteSets.add(ws);
  const created: string[] = [];
  let mounted: MountedLayer | undefined;
  try {
    if (initId && opts.init) {
      await s.driver.createReadWrite(initId, cacheIdOf(parent), { ...storage, ...(opts.mountLabel ? { mountLabel: opts.mountLabel } : {}) });
      created.push(initId);
      const root = await s.driver.get(initId, '');
      try {
        await opts.init(root);
      } finally {
        await s.driver.put(initId);
      }
    }
    await s.driver.createReadWrite(mountId, initId ?? cacheIdOf(parent), storage);
    created.push(mountId);
    tx.commit();
    mounted = { name, mountId, initId, parent, handles: new Set() };
    if (parent) parent.mounts++;
    s.mounts.set(name, mounted);
    return mounted;
  } finally {
    s.pendingMounts.delete(name);
    if (!mounted) {
      let dataGone = true;
      for (const id of created.reverse()) dataGone = (await s.driver.remove(id).then(() => true, () => false)) && dataGone;
      if (dataGone) tx.cancel(); // else the write-set stays: it names what recovery must remove
      if (parent) undoHold(parent);
    }
    s.activeWriteSets.delete(ws);
  }
}

export function mountOf(s: StoreState, name: string): MountedLayer {
  const m = s.mounts.get(name);
  if (!m) throw errMountDoesNotExist(name);
  return m;
}

/**
 * Removes an RW layer once its last handle is released: unlist, remove the driver layers (RW,
 * then init), remove the record, then drop the hold on the parent (which may delete it and its
 * unheld ancestors, returned). If the driver fails, the mount is put back and the error thrown.
 */
export async function removeRWLayer(s: StoreState, m: MountedLayer): Promise<LayerMetadata[]> {
  if (s.mounts.get(m.name) !== m) return [];
  s.mounts.delete(m.name);
  const ws = s.db.unlistMount(m.name);
  if (ws !== undefined) s.activeWriteSets.add(ws);
  try {
    await s.driver.remove(m.mountId);
    if (m.initId) await s.driver.remove(m.initId);
  } catch (e) {
    if (ws !== undefined) s.db.relistMount(m.name, ws);
    s.mounts.set(m.name, m);
    throw e;
  } finally {
    if (ws !== undefined) s.activeWriteSets.delete(ws);
  }
  if (ws !== undefined) s.db.removeWriteSet(ws);
  if (!m.parent) return [];
  m.parent.mounts--;
  return dropHold(s, m.parent);
}
