/**
 * `strata rw …`: read-write layers (a container's writable layer, named by its creator).
 *
 *   strata rw create NAME [PARENT] [--no-init]   prints the mount-id (--json: MountInfo)
 *   strata rw ls                                 NAME, MOUNT ID, PARENT, INIT (--json: MountInfo[])
 *   strata rw mount NAME                         prints the root path; stays mounted after exit
 *   strata rw umount NAME                        balances `rw mount`
 *   strata rw diff NAME                          `docker diff`: `C /etc`, `A /etc/motd` (--json: [{kind, path}])
 *                                                (takes the exclusive lock: see the command)
 *   strata rw rm NAME                            deletes it (unmounting it first); never its image layers
 *
 * Mounts outlive the process: overlay2 finds an existing mount of the layer (its reference
 * counter starts at 1 for a path that is already an overlay mount), so `rw mount` twice mounts
 * once and one `rw umount` unmounts.
 */
import type { Command } from 'commander';
import { StrataError } from '../../errors/index.js';
import { isOverlayMount } from '../../driver/overlay2/system.js';
import { dockerInit, type LayerMetadata, type LayerStore, type MountInfo } from '../../layer/index.js';
import { emit, table } from '../output.js';
import { resolveLayerId, shortId, warnProblems, withLayerStore } from '../store.js';
import type { Globals } from '../engine.js';

function mountInfo(store: LayerStore, name: string): MountInfo {
  const m = store.mounts().find((x) => x.name === name);
  if (!m) throw new StrataError('MOUNT_DOES_NOT_EXIST', `mount does not exist: ${name}`);
  return m;
}

function renderLs(mounts: MountInfo[]): string {
  return table(
    ['NAME', 'MOUNT ID', 'PARENT', 'INIT'],
    mounts.map((m) => [m.name, shortId(m.mountId), m.parent ? shortId(m.parent) : '', m.initId ? 'yes' : 'no']),
  );
}

async function create(store: LayerStore, name: string, parentRef: string | undefined, init: boolean): Promise<MountInfo> {
  const parent = parentRef === undefined ? undefined : resolveLayerId(store, parentRef);
  // Held for this process, never released: a failed creation drops the hold it took on the
  // parent, which would otherwise delete a parent that nothing else holds.
  if (parent) store.get(parent);
  await store.createRWLayer(name, parent, init ? { init: dockerInit() } : {});
  return mountInfo(store, name);
}

/**
 * Whether the RW layer's root is mounted now (overlay2). Where nothing is ever mounted — vfs, or
 * an overlay2 layer with no lower layers, whose root is its own `diff/` — the answer is yes.
 */
async function isMounted(store: LayerStore, mountId: string): Promise<boolean> {
  const md = await store.driver.metadata(mountId);
  return md.MergedDir === undefined || md.LowerDir === undefined || isOverlayMount(md.MergedDir);
}

async function remove(store: LayerStore, name: string): Promise<LayerMetadata[]> {
  const rw = store.getRWLayer(name);
  // The layer under it stays: the CLI deletes read-only layers only with `layer rm`. (In a fresh
  // process an image's top layer is held only by its RW layers; releasing the last would delete
  // the image with it.) The driver's remove unmounts the RW layer if it is mounted.
  if (rw.parent) store.get(rw.parent);
  return store.releaseRWLayer(rw);
}

export function register(program: Command, globals: () => Globals): void {
  const store = (readOnly: boolean) => {
    const g = globals();
    return { root: g.root, driver: g.driver, readOnly, ignoreDockerd: g.ignoreDockerd };
  };
  const rw = program.command('rw').description('read-write layers: create, mount, diff, remove');

  rw.command('create')
    .description('create a read-write layer on PARENT (or on nothing), over a Docker init layer')
    .argument('<NAME>', 'its name (e.g. a container ID)')
    .argument('[PARENT]', 'the layer it sits on: ChainID or unique prefix')
    .option('--no-init', 'without the init layer (/etc/hosts, /dev/console, …)')
    .action((name: string, parent: string | undefined, opts: { init: boolean }) =>
      withLayerStore(store(false), async (s) => {
        const info = await create(s, name, parent, opts.init);
        emit(globals(), info, (m) => `${m.mountId}\n`);
      }),
    );

  rw.command('ls')
    .description('list the read-write layers')
    .action(() =>
      withLayerStore(store(true), (s) => {
        warnProblems(s);
        emit(globals(), s.mounts(), renderLs);
      }),
    );

  rw.command('mount')
    .description('mount a read-write layer and print its root (it stays mounted)')
    .argument('<NAME>')
    .action((name: string) =>
      withLayerStore(store(false), async (s) => {
        const root = await s.getRWLayer(name).mount();
        emit(globals(), { name, path: root }, (r) => `${r.path}\n`);
      }),
    );

  rw.command('umount')
    .description('unmount a read-write layer mounted by `rw mount`')
    .argument('<NAME>')
    .action((name: string) =>
      withLayerStore(store(false), async (s) => {
        const layer = s.getRWLayer(name);
        if (!(await isMounted(s, layer.mountId))) throw new StrataError('NOT_MOUNTED', `read-write layer ${name} is not mounted`);
        await layer.unmount();
      }),
    );

  rw.command('diff')
    .description("what a read-write layer changed, as `docker diff` shows it")
    .argument('<NAME>')
    .action((name: string) =>
      // Under the exclusive lock although it changes nothing: overlay2 mounts the RW and init
      // layers to compare them, and its mount counts are per process — two `rw diff`s at once
      // under the shared lock unmount each other's trees mid-walk and print wrong diffs.
      withLayerStore(store(false), async (s) => {
        const changes = (await s.getRWLayer(name).changes()).map((c) => ({ kind: c.kind, path: c.path }));
        emit(globals(), changes, (list) => list.map((c) => `${c.kind} ${c.path}\n`).join(''));
      }),
    );

  rw.command('rm')
    .description('delete a read-write layer (and its init layer), unmounting it first')
    .argument('<NAME>')
    .action((name: string) =>
      withLayerStore(store(false), async (s) => {
        const deleted = await remove(s, name);
        emit(globals(), deleted, (list) => list.map((d) => `Deleted: ${d.chainId}\n`).join(''));
      }),
    );
}
