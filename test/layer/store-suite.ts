/**
 * The layer-store suite: moby's `layer/` tests (spec 10.1: layer_test.go, mount_test.go,
 * layer_unix_test.go) ported to strata's LayerStore, plus strata's own promises (index.ts):
 * depth limit, error codes, bad input leaving nothing behind, load problems, crash recovery,
 * read-only stores, Docker's init layer through an RW layer, commits that leave the init files out.
 *
 * One function, run by store-overlay2.test.ts and store-vfs.test.ts with a way to start the driver
 * and to find its directories:
 *
 *   runStoreSuite({ name: 'vfs', open: (root) => openVfs(`${root}/vfs`, [], …), … });
 *
 * Every test opens its own store on a fresh data root under /var/tmp; `afterEach` closes what is
 * still open, unmounts anything left below the root and removes it.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, it } from 'node:test';
import type { Driver } from '../../src/driver/index.js';
import { chainId as makeChainId, randomCacheId, sha256Of, type Digest } from '../../src/digest/index.js';
import {
  MAX_LAYER_DEPTH,
  dockerInit,
  openLayerStore,
  type Layer,
  type LayerInfo,
  type LayerMetadata,
  type LayerStore,
  type OpenLayerStoreOptions,
} from '../../src/layer/index.js';
import { collect, listTar } from '../helpers/layertar.js';
import { mountsUnder } from '../driver/overlay2-helpers.js';
import { file as tarFile, tar as tarOfEntries } from '../archive/hostile-tars.js';
import { assertSameTree, dataRoot, disposeRoot, errWith, names, snap, stream, tarOf, writeTree, type TreeSpec } from './store-helpers.js';

export interface StoreSuiteDriver {
  name: 'overlay2' | 'vfs';
  /** Starts the driver on data root `root` (a new instance per call, as a restart makes). */
  open(root: string): Promise<Driver>;
  /** `<root>/<driver>`: everything the driver keeps. */
  home(root: string): string;
  /** The directory whose entries are the driver's layer IDs (overlay2's also holds `l`). */
  idsDir(root: string): string;
  /** The directory of layer `id`. */
  layerDir(root: string, id: string): string;
  /** Where layer `id`'s own files are (overlay2 `diff/`, vfs the whole tree). */
  filesDir(root: string, id: string): string;
}

const mode = (p: string) => fs.lstatSync(p).mode & 0o7777;

function metaOf(l: LayerInfo): LayerMetadata {
  return { chainId: l.chainId, diffId: l.diffId, size: l.size, totalSize: l.totalSize };
}

/** The layer info without the handle count (which is per process). */
function persistent(l: LayerInfo): Omit<LayerInfo, 'references'> & { children: number; mounts: number } {
  const { references, ...rest } = l;
  return { ...rest, children: references.children, mounts: references.mounts };
}

export function runStoreSuite(d: StoreSuiteDriver): void {
  describe(`layer store on ${d.name}`, () => {
    const envs: Env[] = [];

    class Env {
      readonly root = dataRoot(`strata-store-${d.name}-`);
      private readonly stores: LayerStore[] = [];
      constructor() {
        envs.push(this);
      }
      async open(extra: Partial<OpenLayerStoreOptions> = {}): Promise<LayerStore> {
        const store = await openLayerStore({ root: this.root, driver: await d.open(this.root), ...extra });
        this.stores.push(store);
        return store;
      }
      get db(): string {
        return path.join(this.root, 'image', d.name, 'layerdb');
      }
      dbDir(sub: 'sha256' | 'mounts' | 'tmp'): string {
        return path.join(this.db, sub);
      }
      layerDbDir(chainId: Digest): string {
        return path.join(this.db, 'sha256', chainId.slice('sha256:'.length));
      }
      /** The driver's layer IDs on disk, sorted. */
      driverIds(): string[] {
        return names(d.idsDir(this.root)).filter((n) => !(d.name === 'overlay2' && n === 'l'));
      }
      snapshot() {
        return { db: snap(this.db), home: snap(d.home(this.root)) };
      }
      assertUnchanged(before: ReturnType<Env['snapshot']>, what: string): void {
        const now = this.snapshot();
        assertSameTree(before.db, now.db, `${what}: layerdb`);
        // overlay2 rewrites a parent's empty `committed` marker at every create on it (as moby).
        assertSameTree(before.home, now.home, `${what}: ${d.name} home`, (rel) => d.name === 'overlay2' && rel.endsWith('/committed'));
      }
      /** Everything is gone: no layers, mounts, write-sets or driver layers. */
      assertEmpty(store: LayerStore): void {
        assert.deepEqual(store.layers(), []);
        assert.deepEqual(store.mounts(), []);
        assert.deepEqual(names(this.dbDir('sha256')), []);
        assert.deepEqual(names(this.dbDir('mounts')), []);
        assert.deepEqual(names(this.dbDir('tmp')), []);
        assert.deepEqual(this.driverIds(), []);
        if (d.name === 'overlay2') assert.deepEqual(names(path.join(d.home(this.root), 'l')), []);
      }
      async dispose(): Promise<void> {
        for (const s of this.stores) await s.close();
        disposeRoot(this.root);
      }
    }

    afterEach(async () => {
      for (const e of envs.splice(0)) await e.dispose();
    });

    /** moby's createLayer: an RW layer on `parent`, `spec` written into its mount, committed. */
    async function createLayer(store: LayerStore, parent: Digest | undefined, spec: TreeSpec): Promise<Layer> {
      const rw = await store.createRWLayer(crypto.randomBytes(32).toString('hex'), parent);
      const root = await rw.mount();
      writeTree(root, spec);
      const layer = await store.register(rw.tarStream(), parent);
      await rw.unmount();
      assert.deepEqual(await store.releaseRWLayer(rw), []);
      return layer;
    }

    const register = (store: LayerStore, spec: TreeSpec, parent?: Digest) => store.register(stream(tarOf(spec)), parent);

    // ---- moby layer_test.go ---------------------------------------------------------------

    it('TestMountAndRegister: a committed RW layer is seen by a new RW layer on it', async () => {
      const env = new Env();
      const store = await env.open();
      const layer = await createLayer(store, undefined, { 'testfile.txt': 'some test data' });
      assert.equal(layer.size, 'some test data'.length);
      assert.equal(layer.depth, 1);
      assert.equal(layer.parent, undefined);
      const mount2 = await store.createRWLayer('new-test-mount', layer.chainId);
      const p = await mount2.mount();
      assert.equal(fs.readFileSync(path.join(p, 'testfile.txt'), 'utf8'), 'some test data');
      await mount2.unmount();
      assert.deepEqual(await store.releaseRWLayer(mount2), []);
      const info = store.layer(layer.chainId);
      assert.deepEqual(await store.release(layer), [metaOf(info)]);
      env.assertEmpty(store);
    });

    it('register: DiffID is the tar\'s SHA-256, ChainID H(parent + " " + DiffID), Docker\'s layerdb files', async () => {
      const env = new Env();
      const store = await env.open();
      const tar1 = tarOf({ 'a.txt': 'aaa' });
      const tar2 = tarOf({ 'b.txt': 'bbbb' });
      const l1 = await store.register(stream(tar1, 100));
      const l2 = await store.register(stream(tar2, 1000), l1.chainId);
      assert.equal(l1.diffId, sha256Of(tar1));
      assert.equal(l1.chainId, l1.diffId);
      assert.equal(l2.diffId, sha256Of(tar2));
      assert.equal(l2.chainId, makeChainId(l1.chainId, l2.diffId));
      assert.equal(l2.parent, l1.chainId);
      assert.equal(l2.depth, 2);
      const dir = env.layerDbDir(l2.chainId);
      assert.deepEqual(names(dir), ['cache-id', 'diff', 'parent', 'size', 'tar-split.json.gz']);
      assert.equal(fs.readFileSync(path.join(dir, 'diff'), 'utf8'), l2.diffId);
      assert.equal(fs.readFileSync(path.join(dir, 'size'), 'utf8'), '4');
      assert.equal(fs.readFileSync(path.join(dir, 'cache-id'), 'utf8'), l2.cacheId);
      assert.equal(fs.readFileSync(path.join(dir, 'parent'), 'utf8'), l1.chainId);
      assert.match(l2.cacheId, /^[0-9a-f]{64}$/);
      assert.deepEqual(names(env.layerDbDir(l1.chainId)), ['cache-id', 'diff', 'size', 'tar-split.json.gz']);
      assert.deepEqual(env.driverIds(), [l1.cacheId, l2.cacheId].sort());
      assert.deepEqual(names(env.dbDir('tmp')), []);
      assert.ok((await collect(l2.tarStream())).equals(tar2));
      assert.ok((await collect(l1.tarStream())).equals(tar1));
      await store.release(l2);
      await store.release(l1);
      env.assertEmpty(store);
    });

    it('TestLayerRelease: L1 ← L2 ← {L3a, L3b}; deletes cascade child first', async () => {
      const env = new Env();
      const store = await env.open();
      const l1 = await register(store, { 'layer1.txt': 'layer 1 file' });
      const l2 = await register(store, { 'layer2.txt': 'layer 2 file' }, l1.chainId);
      assert.deepEqual(await store.release(l1), []);
      const l3a = await register(store, { 'layer3.txt': 'layer 3a file' }, l2.chainId);
      const l3b = await register(store, { 'layer3.txt': 'layer 3b file' }, l2.chainId);
      assert.deepEqual(await store.release(l2), []);
      assert.equal(store.layers().length, 4);
      const [i1, i2, i3a, i3b] = [l1, l2, l3a, l3b].map((l) => store.layer(l.chainId)) as [LayerInfo, LayerInfo, LayerInfo, LayerInfo];
      assert.deepEqual(i1.references, { children: 1, mounts: 0, handles: 0 });
      assert.deepEqual(i2.references, { children: 2, mounts: 0, handles: 0 });
      assert.deepEqual(i3a.references, { children: 0, mounts: 0, handles: 1 });
      assert.equal(i3a.depth, 3);
      assert.equal(i3a.totalSize, 'layer 1 file'.length + 'layer 2 file'.length + 'layer 3a file'.length);

      assert.deepEqual(await store.release(l3b), [metaOf(i3b)]);
      assert.equal(store.has(l3b.chainId), false);
      assert.equal(store.layers().length, 3);
      assert.deepEqual(store.layer(l2.chainId).references, { children: 1, mounts: 0, handles: 0 });
      assert.deepEqual(await store.release(l3a), [metaOf(i3a), metaOf(i2), metaOf(i1)]);
      assert.equal(l3a.held, false);
      await assert.rejects(async () => collect(l3a.tarStream()), errWith('LAYER_NOT_RETAINED', 'layer not retained'));
      env.assertEmpty(store);
    });

    it('TestStoreRestore: reopening rebuilds layers, references and mounts', async () => {
      const env = new Env();
      const store = await env.open();
      const l1 = await createLayer(store, undefined, { 'layer1.txt': 'layer 1 file' });
      const l2 = await createLayer(store, l1.chainId, { 'layer2.txt': 'layer 2 file' });
      assert.deepEqual(await store.release(l1), []);
      const l3 = await createLayer(store, l2.chainId, { 'layer3.txt': 'layer 3 file' });
      assert.deepEqual(await store.release(l2), []);
      const m = await store.createRWLayer('some-mount_name', l3.chainId);
      const mountPath = await m.mount();
      writeTree(mountPath, { 'testfile.txt': 'nothing here' });
      await m.unmount();
      const layersBefore = store.layers();
      const mountsBefore = store.mounts();
      await store.close();
      await store.close(); // idempotent
      assert.throws(() => store.layers(), errWith('STORE_CLOSED', 'layer store is closed'));
      await assert.rejects(async () => collect(l3.tarStream()), errWith('STORE_CLOSED'));

      const ls2 = await env.open();
      assert.deepEqual(ls2.problems, []);
      assert.deepEqual(ls2.recovered, { removedLayers: [], writeSets: [], driverIds: [] });
      assert.deepEqual(ls2.layers().map(persistent), layersBefore.map(persistent));
      assert.deepEqual(
        ls2.layers().map((l) => [l.chainId, l.references]),
        [
          [l1.chainId, { children: 1, mounts: 0, handles: 0 }],
          [l2.chainId, { children: 1, mounts: 0, handles: 0 }],
          [l3.chainId, { children: 0, mounts: 1, handles: 0 }],
        ].sort((a, b) => ((a[0] as string) < (b[0] as string) ? -1 : 1)),
      );
      assert.deepEqual(ls2.mounts(), mountsBefore.map((x) => ({ ...x, handles: 0 })));

      const l3b = ls2.get(l3.chainId);
      assert.notEqual(l3b, l3);
      for (const k of ['chainId', 'diffId', 'size', 'totalSize', 'cacheId', 'parent', 'depth'] as const) assert.equal(l3b[k], l3[k], k);
      assert.equal(ls2.layer(l2.chainId).parent, l1.chainId);

      await assert.rejects(ls2.createRWLayer('some-mount_name', l3b.chainId), errWith('MOUNT_NAME_CONFLICT', /^mount already exists with name/));
      assert.deepEqual(ls2.layer(l3.chainId).references, { children: 0, mounts: 1, handles: 1 });

      const m2 = ls2.getRWLayer('some-mount_name');
      assert.equal(m2.mountId, m.mountId);
      assert.equal(ls2.getMountId('some-mount_name'), m.mountId);
      assert.equal(m2.parent, l3.chainId);
      assert.equal(await m2.mount(), mountPath);
      assert.equal(await m2.mount(), mountPath);
      await m2.unmount();
      assert.equal(fs.readFileSync(path.join(mountPath, 'testfile.txt'), 'utf8'), 'nothing here');
      await m2.unmount();
      assert.deepEqual(mountsUnder(env.root), []);

      assert.deepEqual(await ls2.releaseRWLayer(m2), []);
      // The mount is gone: a second release of the same handle is moby's empty answer.
      assert.deepEqual(await ls2.releaseRWLayer(m2), []);
      assert.deepEqual(ls2.mounts(), []);
      assert.throws(() => ls2.getRWLayer('some-mount_name'), errWith('MOUNT_DOES_NOT_EXIST', /^mount does not exist/));
      const metaBefore = new Map(layersBefore.map((l) => [l.chainId, metaOf(l)]));
      assert.deepEqual(await ls2.release(l3b), [l3, l2, l1].map((l) => metaBefore.get(l.chainId)));
      env.assertEmpty(ls2);
    });

    it('a handle from a closed store is not retained by the reopened store (moby Release: ErrLayerNotRetained)', async () => {
      const env = new Env();
      const store = await env.open();
      const l1 = await register(store, { a: 'a' });
      const rw = await store.createRWLayer('rw', l1.chainId);
      await store.close();
      const ls2 = await env.open();
      const outcomes: string[] = [];
      const attempts: [string, () => Promise<unknown>][] = [
        ['release', () => ls2.release(l1)],
        ['releaseRWLayer', () => ls2.releaseRWLayer(rw)],
      ];
      for (const [what, attempt] of attempts) {
        try {
          outcomes.push(`${what}: resolved ${JSON.stringify(await attempt())}`);
        } catch (e) {
          outcomes.push(`${what}: ${(e as { code?: string }).code}: ${(e as Error).message}`);
        }
      }
      // Either way the new store's counts are untouched...
      assert.deepEqual(ls2.layer(l1.chainId).references, { children: 0, mounts: 1, handles: 0 });
      assert.equal(ls2.mounts().length, 1);
      // ...but moby (and errors.ts: "a handle released twice, or from another store") says so.
      assert.deepEqual(outcomes, ['release: LAYER_NOT_RETAINED: layer not retained', 'releaseRWLayer: LAYER_NOT_RETAINED: layer not retained']);
    });

    it('TestTarStreamStability: tar streams come from tar-split, not from the layer\'s directory', async () => {
      const env = new Env();
      const store = await env.open();
      const tar1 = tarOf({ 'etc/hosts': 'mydomain 10.0.0.1', 'etc/profile': 'PATH=/usr/bin' });
      const tar2 = tarOf({
        'etc/hosts': 'mydomain 10.0.0.2',
        'etc/profile': { content: 'PATH=/usr/bin', mode: 0o664 },
        'root/.bashrc': 'PATH=/usr/sbin:/usr/bin',
      });
      const layer1 = await store.register(stream(tar1));
      // Hack the layer: add a file through the driver, as moby's test does.
      const p = await store.driver.get(layer1.cacheId, '');
      writeTree(p, { 'etc/shadow': 'root:::::::' });
      await store.driver.put(layer1.cacheId);
      assert.ok(fs.existsSync(path.join(d.filesDir(env.root, layer1.cacheId), 'etc/shadow')));

      const layer2 = await store.register(stream(tar2), layer1.chainId);
      const id1 = layer1.chainId;
      assert.deepEqual(await store.release(layer1), []);
      assert.ok((await collect(layer2.tarStream())).equals(tar2), 'layer 2 tar');
      const layer1b = store.get(id1);
      const i2 = store.layer(layer2.chainId);
      assert.deepEqual(await store.release(layer2), [metaOf(i2)]);
      assert.ok((await collect(layer1b.tarStream())).equals(tar1), 'layer 1 tar');
      assert.equal((await store.release(layer1b)).length, 1);
      env.assertEmpty(store);
    });

    it('a file changed behind the store\'s back fails the tar stream (file integrity checksum)', async () => {
      const env = new Env();
      const store = await env.open();
      const tar1 = tarOf({ 'etc/hosts': 'mydomain 10.0.0.1' });
      const layer = await store.register(stream(tar1));
      fs.writeFileSync(path.join(d.filesDir(env.root, layer.cacheId), 'etc/hosts'), 'mydomain 10.0.0.9');
      await assert.rejects(collect(layer.tarStream()), errWith('TARSPLIT_CHECKSUM', 'file integrity checksum failed for "./etc/hosts"'));
      await store.release(layer);
      env.assertEmpty(store);
    });

    it('TestRegisterExistingLayer: the same tar twice gives two handles on one layer, one driver dir', async () => {
      const env = new Env();
      const store = await env.open();
      const layer1 = await createLayer(store, undefined, { 'etc/profile': '# Base configuration' });
      const tar1 = tarOf({ 'root/.bashrc': '# Root configuration' });
      const layer2a = await store.register(stream(tar1), layer1.chainId);
      const layer2b = await store.register(stream(tar1), layer1.chainId);
      assert.notEqual(layer2a, layer2b);
      assert.equal(layer2a.chainId, layer2b.chainId);
      assert.equal(layer2a.cacheId, layer2b.cacheId);
      assert.ok(layer2a.held && layer2b.held);
      assert.deepEqual(store.layer(layer2a.chainId).references, { children: 0, mounts: 0, handles: 2 });
      assert.deepEqual(store.layer(layer1.chainId).references, { children: 1, mounts: 0, handles: 1 });
      assert.equal(store.layers().length, 2);
      assert.deepEqual(env.driverIds(), [layer1.cacheId, layer2a.cacheId].sort());
      assert.deepEqual(names(env.dbDir('sha256')).length, 2);
      assert.deepEqual(names(env.dbDir('tmp')), []);

      assert.deepEqual(await store.release(layer2a), []);
      assert.equal(layer2a.held, false);
      assert.ok((await collect(layer2b.tarStream())).equals(tar1));
      const i2 = store.layer(layer2b.chainId);
      assert.deepEqual(await store.release(layer2b), [metaOf(i2)]);
      assert.equal((await store.release(layer1)).length, 1);
      env.assertEmpty(store);
    });

    it('two concurrent registers of the same tar: one layer, two handles, one driver dir', async () => {
      const env = new Env();
      const store = await env.open();
      const base = await register(store, { base: 'base' });
      const tar = tarOf({ big: 'y'.repeat(200_000), small: 's' });
      const [a, b] = await Promise.all([store.register(stream(tar, 1000), base.chainId), store.register(stream(tar, 777), base.chainId)]);
      assert.equal(a.chainId, b.chainId);
      assert.deepEqual(store.layer(a.chainId).references, { children: 0, mounts: 0, handles: 2 });
      assert.deepEqual(store.layer(base.chainId).references, { children: 1, mounts: 0, handles: 1 });
      assert.deepEqual(env.driverIds(), [base.cacheId, a.cacheId].sort());
      assert.deepEqual(names(env.dbDir('tmp')), []);
      await store.release(a);
      await store.release(b);
      await store.release(base);
      env.assertEmpty(store);
    });

    it('TestTarStreamVerification: a tar-split that does not hash to the DiffID fails the stream', async () => {
      const env = new Env();
      const store = await env.open();
      const tar1 = tarOf({ foo: 'abc', bar: 'def' });
      const tar2 = tarOf({ foo: 'abc', bar: { content: 'def', mode: 0o600 } });
      const layer1 = await store.register(stream(tar1));
      const layer2 = await store.register(stream(tar2));
      assert.notEqual(layer1.diffId, layer2.diffId);
      fs.copyFileSync(path.join(env.layerDbDir(layer1.chainId), 'tar-split.json.gz'), path.join(env.layerDbDir(layer2.chainId), 'tar-split.json.gz'));
      await assert.rejects(
        collect(layer2.tarStream()),
        errWith(
          'LAYER_VERIFY',
          `could not verify layer data for: ${layer2.diffId}. This may be because internal files in the layer store were modified. Re-pulling or rebuilding this image may resolve the issue`,
        ),
      );
      assert.ok((await collect(layer1.tarStream())).equals(tar1));
      await store.release(layer1);
      await store.release(layer2);
      env.assertEmpty(store);
    });

    it('TestEmptyLayer: 1024 zero bytes are moby\'s empty layer, and come back as they went in', async () => {
      const env = new Env();
      const store = await env.open();
      const empty = Buffer.alloc(1024);
      const l = await store.register(stream(empty));
      assert.equal(l.chainId, 'sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef');
      assert.equal(l.diffId, l.chainId);
      assert.equal(l.size, 0);
      assert.equal(l.parent, undefined);
      assert.ok((await collect(l.tarStream())).equals(empty));
      await store.release(l);
      env.assertEmpty(store);
    });

    it('bytes after the end of the archive are hashed into the DiffID and come back (moby drains the input)', async () => {
      const env = new Env();
      const store = await env.open();
      const tar = Buffer.concat([tarOf({ a: 'a' }), Buffer.from('trailing bytes that are not tar')]);
      const l = await store.register(stream(tar, 333));
      assert.equal(l.diffId, sha256Of(tar));
      assert.ok((await collect(l.tarStream())).equals(tar));
      await store.release(l);
      env.assertEmpty(store);
    });

    it('an abandoned or aborted tar stream holds nothing', async () => {
      const env = new Env();
      const store = await env.open();
      const l = await register(store, { big: 'b'.repeat(3 << 20) });
      for await (const chunk of l.tarStream()) {
        assert.ok(chunk.length > 0);
        break;
      }
      const ac = new AbortController();
      await assert.rejects(
        (async () => {
          for await (const _ of l.tarStream({ signal: ac.signal })) ac.abort();
        })(),
        (e: Error) => e.name === 'AbortError',
      );
      assert.deepEqual(mountsUnder(env.root), []);
      assert.equal((await store.release(l)).length, 1);
      env.assertEmpty(store);
    });

    // ---- moby mount_test.go, layer_unix_test.go ---------------------------------------------

    it('TestMountInit: the init layer\'s file, content and mode, shows in the RW mount', async () => {
      const env = new Env();
      const store = await env.open();
      const layer = await createLayer(store, undefined, { 'testfile.txt': 'base data!' });
      const init = (root: string) => writeTree(root, { 'testfile.txt': { content: 'init data!', mode: 0o777 } });
      const m = await store.createRWLayer('fun-mount', layer.chainId, { init });
      assert.equal(m.initId, `${m.mountId}-init`);
      assert.deepEqual(store.mounts(), [{ name: 'fun-mount', mountId: m.mountId, initId: `${m.mountId}-init`, parent: layer.chainId, handles: 1 }]);
      assert.deepEqual(env.driverIds(), [layer.cacheId, m.mountId, `${m.mountId}-init`].sort());
      const p = await m.mount();
      assert.equal(fs.readFileSync(path.join(p, 'testfile.txt'), 'utf8'), 'init data!');
      assert.equal(mode(path.join(p, 'testfile.txt')), 0o777);
      await m.unmount();
      assert.deepEqual(await store.releaseRWLayer(m), []);
      assert.deepEqual(env.driverIds(), [layer.cacheId]);
      await store.release(layer);
      env.assertEmpty(store);
    });

    it('TestMountSize: an RW layer\'s size counts its own files, not the init layer\'s', async () => {
      const env = new Env();
      const store = await env.open();
      const layer = await createLayer(store, undefined, { file1: 'Base contents' });
      const init = (root: string) => writeTree(root, { 'file-init': { content: 'why am I excluded from the size ☹', mode: 0o777 } });
      const m = await store.createRWLayer('mount-size', layer.chainId, { init });
      const p = await m.mount();
      writeTree(p, { file2: { content: 'Mutable contents', mode: 0o755 } });
      assert.equal(await m.size(), 'Mutable contents'.length);
      await m.unmount();
      await store.releaseRWLayer(m);
      await store.release(layer);
      env.assertEmpty(store);
    });

    it('TestMountChanges: exactly the four changes against the init layer', async () => {
      const env = new Env();
      const store = await env.open();
      const layer = await createLayer(store, undefined, {
        'testfile1.txt': 'base data!',
        'testfile2.txt': 'base data!',
        'testfile3.txt': 'base data!',
      });
      const init = (root: string) => writeTree(root, { 'testfile1.txt': { content: 'init data!', mode: 0o777 } });
      const m = await store.createRWLayer('mount-changes', layer.chainId, { init });
      const p = await m.mount();
      fs.chmodSync(path.join(p, 'testfile1.txt'), 0o755);
      fs.writeFileSync(path.join(p, 'testfile1.txt'), 'mount data!');
      fs.rmSync(path.join(p, 'testfile2.txt'));
      fs.chmodSync(path.join(p, 'testfile3.txt'), 0o755);
      fs.writeFileSync(path.join(p, 'testfile4.txt'), 'mount data!', { mode: 0o644 });
      const changes = (await m.changes()).map((c) => ({ kind: c.kind, path: c.path }));
      assert.deepEqual(changes, [
        { kind: 'C', path: '/testfile1.txt' },
        { kind: 'D', path: '/testfile2.txt' },
        { kind: 'C', path: '/testfile3.txt' },
        { kind: 'A', path: '/testfile4.txt' },
      ]);
      await m.unmount();
      await store.releaseRWLayer(m);
      await store.release(layer);
      env.assertEmpty(store);
    });

    it('TestMountApply: applying another layer\'s tar into an RW layer', async () => {
      const env = new Env();
      const store = await env.open();
      const layer = await createLayer(store, undefined, { 'testfile.txt': 'base data!' });
      const layer2 = await createLayer(store, undefined, { 'newfile.txt': { content: 'new data!', mode: 0o755 } });
      const m = await store.createRWLayer('fun-mount', layer.chainId);
      const size = await m.applyDiff(layer2.tarStream());
      assert.equal(size, 'new data!'.length);
      const p = await m.mount();
      assert.equal(fs.readFileSync(path.join(p, 'newfile.txt'), 'utf8'), 'new data!');
      assert.equal(mode(path.join(p, 'newfile.txt')), 0o755);
      assert.equal(fs.readFileSync(path.join(p, 'testfile.txt'), 'utf8'), 'base data!');
      await m.unmount();
      await store.releaseRWLayer(m);
      await store.release(layer);
      await store.release(layer2);
      env.assertEmpty(store);
    });

    it('TestLayerSize: size is the layer\'s own, totalSize includes its ancestors', async () => {
      const env = new Env();
      const store = await env.open();
      const layer1 = await createLayer(store, undefined, { file1: 'Base contents' });
      const layer2 = await createLayer(store, layer1.chainId, { file2: 'Added contents' });
      assert.equal(await store.driver.diffSize(layer1.cacheId, ''), 'Base contents'.length);
      assert.equal(layer1.size, 'Base contents'.length);
      assert.equal(layer1.totalSize, 'Base contents'.length);
      assert.equal(await store.driver.diffSize(layer2.cacheId, layer1.cacheId), 'Added contents'.length);
      assert.equal(layer2.size, 'Added contents'.length);
      assert.equal(layer2.totalSize, 'Base contents'.length + 'Added contents'.length);
      assert.equal(store.layer(layer2.chainId).totalSize, layer2.totalSize);
      assert.equal(fs.readFileSync(path.join(env.layerDbDir(layer2.chainId), 'size'), 'utf8'), String('Added contents'.length));
      await store.release(layer1);
      await store.release(layer2);
      env.assertEmpty(store);
    });

    it('a failing createRWLayer leaves nothing: bad name, init that throws, unsupported storage option', async () => {
      const env = new Env();
      const store = await env.open();
      const base = await register(store, { base: 'base' });
      // overlay2 marks a layer `committed` when something is first created on it (moby too): once.
      await store.releaseRWLayer(await store.createRWLayer('warm-up', base.chainId));
      const before = env.snapshot();
      const refs = store.layer(base.chainId).references;
      await assert.rejects(store.createRWLayer('../x', base.chainId), errWith('LAYERDB_BAD_NAME'));
      await assert.rejects(store.createRWLayer('', base.chainId), errWith('LAYERDB_BAD_NAME'));
      await assert.rejects(
        store.createRWLayer('c', base.chainId, {
          init: (root) => {
            fs.writeFileSync(path.join(root, 'half'), 'half');
            throw new Error('init failed');
          },
        }),
        /init failed/,
      );
      await assert.rejects(store.createRWLayer('c', base.chainId, { init: dockerInit(), storageOpt: { size: '10G' } }));
      await assert.rejects(store.createRWLayer('c', base.chainId, { storageOpt: { nonsense: '1' } }));
      env.assertUnchanged(before, 'after failed RW-layer creations');
      assert.deepEqual(store.layer(base.chainId).references, refs);
      assert.deepEqual(store.mounts(), []);
      const rw = await store.createRWLayer('c', base.chainId, { init: dockerInit() });
      assert.equal(rw.name, 'c');
      await store.releaseRWLayer(rw);
      await store.release(base);
      env.assertEmpty(store);
    });

    it('concurrent createRWLayer with one name: one is created, the other is MOUNT_NAME_CONFLICT', async () => {
      const env = new Env();
      const store = await env.open();
      const base = await register(store, { base: 'base' });
      const results = await Promise.allSettled([
        store.createRWLayer('same', base.chainId, { init: dockerInit() }),
        store.createRWLayer('same', base.chainId, { init: dockerInit() }),
      ]);
      const ok = results.filter((r) => r.status === 'fulfilled');
      const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
      assert.equal(ok.length, 1);
      assert.equal(failed.length, 1);
      errWith('MOUNT_NAME_CONFLICT', 'mount already exists with name: same')(failed[0]!.reason);
      assert.deepEqual(store.layer(base.chainId).references, { children: 0, mounts: 1, handles: 1 });
      const rw = (ok[0] as PromiseFulfilledResult<Awaited<ReturnType<LayerStore['createRWLayer']>>>).value;
      assert.deepEqual(env.driverIds(), [base.cacheId, rw.mountId, `${rw.mountId}-init`].sort());
      await store.releaseRWLayer(rw);
      await store.release(base);
      env.assertEmpty(store);
    });

    it('releasing the last handle of a mounted RW layer unmounts and removes it (moby does not check)', async () => {
      const env = new Env();
      const store = await env.open();
      const base = await register(store, { base: 'base' });
      const rw = await store.createRWLayer('ctr', base.chainId, { init: dockerInit() });
      const p = await rw.mount();
      await rw.mount();
      fs.writeFileSync(path.join(p, 'new'), 'new');
      assert.deepEqual(await store.releaseRWLayer(rw), []);
      assert.deepEqual(mountsUnder(env.root), []);
      assert.deepEqual(env.driverIds(), [base.cacheId]);
      assert.deepEqual(names(env.dbDir('mounts')), []);
      assert.deepEqual(store.layer(base.chainId).references, { children: 0, mounts: 0, handles: 1 });
      await store.release(base);
      env.assertEmpty(store);
    });

    // ---- depth -------------------------------------------------------------------------------

    it(`a chain of ${MAX_LAYER_DEPTH} layers registers; the next is "max depth exceeded" and leaves nothing`, async () => {
      assert.equal(MAX_LAYER_DEPTH, 125);
      const env = new Env();
      const store = await env.open();
      let top: Layer | undefined;
      for (let i = 1; i <= 125; i++) {
        // One file `f` rewritten by every layer (vfs copies each parent whole), `base` in the first.
        const entries = i === 1 ? [tarFile('base', 'base'), tarFile('f', `${i}`)] : [tarFile('f', `${i}`)];
        const l = await store.register(stream(tarOfEntries(...entries)), top?.chainId);
        if (top) assert.deepEqual(await store.release(top), []);
        top = l;
      }
      assert.ok(top);
      assert.equal(top.depth, 125);
      assert.equal(store.layers().length, 125);
      const before = env.snapshot();
      const idsBefore = env.driverIds();
      const tiny = tarOfEntries(tarFile('f', '126'));
      await assert.rejects(store.register(stream(tiny), top.chainId), errWith('MAX_DEPTH_EXCEEDED', 'max depth exceeded'));
      env.assertUnchanged(before, 'after max depth exceeded');
      assert.deepEqual(env.driverIds(), idsBefore);
      assert.deepEqual(store.layer(top.chainId).references, { children: 0, mounts: 0, handles: 1 });

      // 125 image layers + init + RW: the RW layer on top still mounts and sees every layer.
      const rw = await store.createRWLayer('deepest', top.chainId, { init: dockerInit() });
      const p = await rw.mount();
      assert.equal(fs.readFileSync(path.join(p, 'base'), 'utf8'), 'base');
      assert.equal(fs.readFileSync(path.join(p, 'f'), 'utf8'), '125');
      assert.ok(fs.existsSync(path.join(p, 'etc/hosts')));
      await rw.unmount();
      assert.deepEqual(await store.releaseRWLayer(rw), []);

      const deleted = await store.release(top);
      assert.equal(deleted.length, 125);
      assert.equal(deleted[0]!.chainId, top.chainId);
      const sizeOf = (depth: number) => String(depth).length + (depth === 1 ? 'base'.length : 0);
      assert.deepEqual(
        deleted.map((m) => [m.size, m.totalSize]),
        Array.from({ length: 125 }, (_, i) => 125 - i).map((n) => [sizeOf(n), Array.from({ length: n }, (_, j) => sizeOf(j + 1)).reduce((a, b) => a + b, 0)]),
      );
      env.assertEmpty(store);
    });

    // ---- errors ------------------------------------------------------------------------------

    it('errors: unknown parents, unknown mounts, double releases, layers in use', async () => {
      const env = new Env();
      const store = await env.open();
      const bogus = sha256Of('no such layer');
      const before = env.snapshot();
      await assert.rejects(register(store, { a: 'a' }, bogus), errWith('LAYER_DOES_NOT_EXIST', `layer does not exist: ${bogus}`));
      await assert.rejects(store.createRWLayer('c1', bogus), errWith('LAYER_DOES_NOT_EXIST', /^layer does not exist/));
      env.assertUnchanged(before, 'after unknown parents');
      assert.throws(() => store.get(bogus), errWith('LAYER_DOES_NOT_EXIST', /^layer does not exist/));
      assert.throws(() => store.layer(bogus), errWith('LAYER_DOES_NOT_EXIST'));
      await assert.rejects(store.remove(bogus), errWith('LAYER_DOES_NOT_EXIST'));
      assert.throws(() => store.getRWLayer('nope'), errWith('MOUNT_DOES_NOT_EXIST', /^mount does not exist/));
      assert.throws(() => store.getMountId('nope'), errWith('MOUNT_DOES_NOT_EXIST'));

      const base = await register(store, { base: 'base' });
      const child = await register(store, { child: 'child' }, base.chainId);
      // The failed createRWLayer reserved nothing: the name is free.
      const c1 = await store.createRWLayer('c1', child.chainId);
      const c1b = store.getRWLayer('c1');
      assert.notEqual(c1, c1b);
      assert.deepEqual(store.mounts(), [{ name: 'c1', mountId: c1.mountId, parent: child.chainId, handles: 2 }]);
      await assert.rejects(store.createRWLayer('c1', base.chainId), errWith('MOUNT_NAME_CONFLICT', 'mount already exists with name: c1'));
      assert.deepEqual(store.layer(base.chainId).references, { children: 1, mounts: 0, handles: 1 });

      // Layers in use.
      await assert.rejects(store.remove(base.chainId), errWith('LAYER_IN_USE', new RegExp(`^layer ${base.chainId} is in use: held by 1 child layer, 1 open handle$`)));
      await assert.rejects(store.remove(child.chainId), errWith('LAYER_IN_USE', /held by 1 read-write layer, 1 open handle$/));

      // Double releases.
      assert.deepEqual(await store.releaseRWLayer(c1), []);
      await assert.rejects(store.releaseRWLayer(c1), errWith('LAYER_NOT_RETAINED', 'layer not retained'));
      assert.equal(c1.held, false);
      await assert.rejects(async () => c1.mount(), errWith('LAYER_NOT_RETAINED'));
      assert.deepEqual(await store.releaseRWLayer(c1b), []);
      assert.deepEqual(store.mounts(), []);
      assert.deepEqual(await store.release(base), []);
      await assert.rejects(store.release(base), errWith('LAYER_NOT_RETAINED', 'layer not retained'));
      assert.deepEqual(store.layer(base.chainId).references, { children: 1, mounts: 0, handles: 0 });

      // Not a parent.
      const other = await register(store, { other: 'other' });
      assert.throws(() => child.tarStreamFrom(other.chainId), errWith('NOT_A_PARENT', `layer ID '${other.chainId}' is not a parent of the specified layer: cannot provide diff to non-parent`));
      const fromBase = await listTar(await collect(child.tarStreamFrom(base.chainId)));
      assert.ok(fromBase.some((e) => e.header.name.replace(/^\.?\//, '') === 'child'));
      await store.release(other);

      // An unheld layer is removed (with its unheld ancestors) by remove().
      const ci = store.layer(child.chainId);
      const bi = store.layer(base.chainId);
      assert.deepEqual(await store.release(child), [metaOf(ci), metaOf(bi)]);
      env.assertEmpty(store);
    });

    it('remove() deletes an unheld layer after a reopen; LAYER_IN_USE while it has a child', async () => {
      const env = new Env();
      let store = await env.open();
      const base = await register(store, { base: 'base' });
      const mid = await register(store, { mid: 'mid' }, base.chainId);
      const top = await register(store, { top: 'top' }, mid.chainId);
      const other = await register(store, { other: 'other' }, base.chainId);
      await store.close();
      store = await env.open();
      await assert.rejects(store.remove(mid.chainId), errWith('LAYER_IN_USE', new RegExp(`^layer ${mid.chainId} is in use: held by 1 child layer$`)));
      await assert.rejects(store.remove(base.chainId), errWith('LAYER_IN_USE', /held by 2 child layers$/));
      const [ti, mi] = [store.layer(top.chainId), store.layer(mid.chainId)];
      assert.deepEqual(await store.remove(top.chainId), [metaOf(ti), metaOf(mi)]);
      assert.deepEqual(store.layer(base.chainId).references, { children: 1, mounts: 0, handles: 0 });
      assert.equal((await store.remove(other.chainId)).length, 2);
      env.assertEmpty(store);
    });

    it('a failed register or createRWLayer on an unheld parent leaves the parent (it undoes its hold, deletes nothing)', async () => {
      const env = new Env();
      let store = await env.open();
      const base = await register(store, { base: 'base' });
      await store.close();
      store = await env.open(); // now nothing holds base: no handle, no child, no RW layer
      assert.deepEqual(store.layer(base.chainId).references, { children: 0, mounts: 0, handles: 0 });
      await assert.rejects(store.register(stream(Buffer.from('not a tar at all')), base.chainId));
      await assert.rejects(
        store.createRWLayer('c', base.chainId, {
          init: () => {
            throw new Error('init failed');
          },
        }),
        /init failed/,
      );
      const dup = await register(store, { base: 'base' }); // deduplicated: its hold is undone too
      assert.equal(dup.chainId, base.chainId);
      assert.deepEqual(store.layers().map((l) => [l.chainId, l.references]), [[base.chainId, { children: 0, mounts: 0, handles: 1 }]]);
      assert.deepEqual(env.driverIds(), [base.cacheId]);
    });

    it('read-only stores in two processes diffing one RW layer at once both get the right changes', async () => {
      const env = new Env();
      const store = await env.open();
      const base = await register(store, { 'etc/os': 'strata' });
      const rw = await store.createRWLayer('c1', base.chainId, { init: dockerInit() });
      const root = await rw.mount();
      for (let i = 0; i < 300; i++) fs.writeFileSync(path.join(root, `f${i}`), `${i}`);
      await rw.unmount();
      await store.close();
      const script = `
        import { openLayerStore } from ${JSON.stringify(path.resolve('src/layer/index.ts'))};
        const s = await openLayerStore({ root: ${JSON.stringify(env.root)}, driver: ${JSON.stringify(d.name)}, readOnly: true });
        let n = 0;
        for (let i = 0; i < 3; i++) n += (await s.getRWLayer('c1').changes()).length;
        await s.close();
        console.log(n);`;
      const run = () =>
        new Promise<string>((resolve, reject) => {
          const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
          let out = '';
          child.stdout.on('data', (b) => (out += b));
          child.on('error', reject);
          child.on('close', (code) => (code === 0 ? resolve(out.trim()) : reject(new Error(`child exited ${code}`))));
        });
      assert.deepEqual(await Promise.all([run(), run(), run()]), ['900', '900', '900']);
    });

    it('a closed store refuses everything with STORE_CLOSED', async () => {
      const env = new Env();
      const store = await env.open();
      const l = await register(store, { a: 'a' });
      const rw = await store.createRWLayer('rw', l.chainId);
      await store.close();
      const closed = errWith('STORE_CLOSED', 'layer store is closed');
      await assert.rejects(register(store, { b: 'b' }), closed);
      await assert.rejects(store.release(l), closed);
      await assert.rejects(store.remove(l.chainId), closed);
      await assert.rejects(store.createRWLayer('rw2', l.chainId), closed);
      await assert.rejects(store.releaseRWLayer(rw), closed);
      await assert.rejects(store.cleanup(), closed);
      assert.throws(() => store.get(l.chainId), closed);
      assert.throws(() => store.layers(), closed);
      assert.throws(() => store.has(l.chainId), closed);
      assert.throws(() => store.mounts(), closed);
      assert.throws(() => store.getRWLayer('rw'), closed);
      await assert.rejects(async () => collect(l.tarStream()), closed);
      await assert.rejects(async () => rw.mount(), closed);
      await assert.rejects(async () => rw.changes(), closed);
    });

    it('a read-only store lists and streams layers, refuses changes with STORE_READ_ONLY, releases handles without deleting', async () => {
      const env = new Env();
      const writer = await env.open();
      const tar1 = tarOf({ 'etc/a': 'a' });
      const l = await writer.register(stream(tar1));
      await writer.createRWLayer('rw', l.chainId, { init: dockerInit() });
      await writer.close();
      const before = env.snapshot();

      const ro = await env.open({ readOnly: true });
      const ro2 = await env.open({ readOnly: true, lock: 'fail' }); // shared: both at once
      assert.equal(ro.readOnly, true);
      assert.deepEqual(ro.layers().map((x) => x.chainId), [l.chainId]);
      assert.deepEqual(ro.mounts().map((m) => m.name), ['rw']);
      assert.deepEqual(ro2.layers().map((x) => x.chainId), [l.chainId]);
      const h = ro.get(l.chainId);
      assert.ok((await collect(h.tarStream())).equals(tar1));
      const readOnly = (op: string) => errWith('STORE_READ_ONLY', `layer store opened read-only: cannot ${op}`);
      await assert.rejects(register(ro, { b: 'b' }), readOnly('register a layer'));
      await assert.rejects(register(ro, { b: 'b' }, l.chainId), readOnly('register a layer'));
      await assert.rejects(ro.remove(l.chainId), readOnly('remove a layer'));
      await assert.rejects(ro.createRWLayer('rw2', l.chainId), readOnly('create a read-write layer'));
      await assert.rejects(ro.cleanup(), readOnly('clean up'));
      // Handles are let go (the last one too), but nothing is ever deleted.
      const rwh = ro.getRWLayer('rw');
      assert.deepEqual(await ro.releaseRWLayer(rwh), []);
      await assert.rejects(ro.releaseRWLayer(rwh), errWith('LAYER_NOT_RETAINED'));
      assert.deepEqual(ro.mounts().map((m) => m.name), ['rw']);
      assert.deepEqual(await ro.release(h), []);
      assert.equal(h.held, false);
      await assert.rejects(ro.release(h), errWith('LAYER_NOT_RETAINED'));
      assert.deepEqual(ro.layer(l.chainId).references, { children: 0, mounts: 1, handles: 0 });
      await ro.close();
      await ro2.close();
      env.assertUnchanged(before, 'after a read-only store');
      // The writer finds everything as it left it.
      const again = await env.open();
      assert.deepEqual(again.layers().map((x) => x.chainId), [l.chainId]);
      assert.deepEqual(again.mounts().map((m) => m.name), ['rw']);
    });

    // ---- bad input -----------------------------------------------------------------------------

    it('bad input changes nothing: truncated tar, not a tar, ../escape, aborted signal', async () => {
      const env = new Env();
      const store = await env.open();
      const base = await register(store, { base: 'base' });
      const child = await register(store, { child: 'child' }, base.chainId); // overlay2: base is `committed` already
      const good = tarOf({ big: 'x'.repeat(100_000), small: 'small' });

      const abortedMidStream = (): [AsyncIterable<Buffer>, AbortSignal] => {
        const ac = new AbortController();
        async function* gen(): AsyncGenerator<Buffer> {
          let n = 0;
          for await (const c of stream(good, 8192)) {
            if (n++ === 3) ac.abort();
            yield c;
          }
        }
        return [gen(), ac.signal];
      };
      const cases: { name: string; input: () => [AsyncIterable<Buffer>, AbortSignal?]; check: (e: unknown) => boolean }[] = [
        { name: 'truncated tar', input: () => [stream(good.subarray(0, 512 + 50_000))], check: (e) => e instanceof Error },
        { name: 'not a tar', input: () => [stream(Buffer.from('this is not a tar archive\n'.repeat(100)))], check: (e) => e instanceof Error },
        { name: '../escape', input: () => [stream(tarOfEntries(tarFile('ok', 'ok'), tarFile('../escape', 'pwned\n')))], check: (e) => e instanceof Error },
        { name: 'aborted mid-stream', input: abortedMidStream, check: (e) => (e as Error).name === 'AbortError' },
        {
          name: 'aborted before',
          input: () => {
            const ac = new AbortController();
            ac.abort();
            return [stream(good), ac.signal];
          },
          check: (e) => (e as Error).name === 'AbortError',
        },
      ];
      const wrongErrors: string[] = [];
      for (const parent of [undefined, base.chainId]) {
        for (const c of cases) {
          const what = `${c.name} on ${parent ? 'a parent' : 'nothing'}`;
          const before = env.snapshot();
          const layersBefore = store.layers();
          const [input, signal] = c.input();
          await assert.rejects(store.register(input, parent, signal ? { signal } : {}), (e) => {
            if (!c.check(e)) wrongErrors.push(`${what}: ${String(e)}`);
            return true;
          });
          env.assertUnchanged(before, what);
          assert.deepEqual(store.layers(), layersBefore, `${what}: references`);
          assert.deepEqual(names(env.dbDir('tmp')), [], what);
        }
      }
      assert.ok(!fs.existsSync(path.join(d.home(env.root), 'escape')));
      assert.ok(!fs.existsSync(path.join(d.idsDir(env.root), 'escape')));
      // The store still works.
      const l = await store.register(stream(good), base.chainId);
      assert.ok((await collect(l.tarStream())).equals(good));
      await store.release(l);
      await store.release(child);
      await store.release(base);
      env.assertEmpty(store);
      // An aborted register rejects with the signal's reason (an AbortError), as Node's APIs do.
      assert.deepEqual(wrongErrors, [], 'errors of the wrong kind');
    });

    // ---- loading ---------------------------------------------------------------------------------

    /** Content for a child of `parent` whose ChainID sorts before (or after) `than`. */
    function childTarSorting(parent: Digest, than: Digest, before: boolean, tag: string): Buffer {
      for (let i = 0; ; i++) {
        const tar = tarOfEntries(tarFile(`${tag}${i}`, tag));
        const chain = makeChainId(parent, sha256Of(tar));
        if (chain < than === before) return tar;
      }
    }

    it('loading reports damaged layers and mounts, skips their descendants, counts the rest', async () => {
      const env = new Env();
      let store = await env.open();
      // Healthy: H1 ← H2, a mount on H2.
      const h1 = await register(store, { h1: 'h1' });
      const h2 = await register(store, { h2: 'h2' }, h1.chainId);
      await store.createRWLayer('m-healthy', h2.chainId);
      // size with a trailing newline: S1 ← S1a (sorting before S1), S1 ← S1b (after), S1a ← S1aa
      const s1 = await register(store, { s1: 's1' });
      const s1a = await store.register(stream(childTarSorting(s1.chainId, s1.chainId, true, 's1a')), s1.chainId);
      const s1b = await store.register(stream(childTarSorting(s1.chainId, s1.chainId, false, 's1b')), s1.chainId);
      const s1aa = await store.register(stream(childTarSorting(s1a.chainId, s1a.chainId, true, 's1aa')), s1a.chainId);
      // cache-id missing: C1
      const c1Tar = tarOf({ c1: 'c1' });
      const c1 = await store.register(stream(c1Tar));
      // parent names a ChainID that does not exist: P1 ← P1a (before), P1 ← P1b (after)
      const p1 = await register(store, { p1: 'p1' });
      const p1a = await store.register(stream(childTarSorting(p1.chainId, p1.chainId, true, 'p1a')), p1.chainId);
      const p1b = await store.register(stream(childTarSorting(p1.chainId, p1.chainId, false, 'p1b')), p1.chainId);
      // Mounts: on a damaged layer; on a layer whose directory is then deleted; garbage mount-id.
      await store.createRWLayer('m-on-damaged', s1aa.chainId);
      const g = await register(store, { g: 'g' });
      await store.createRWLayer('m-parent-gone', g.chainId);
      // Parent chains that loop: X → Y → X, and Z → Z.
      const x = await register(store, { x: 'x' });
      const y = await register(store, { y: 'y' });
      const z = await register(store, { z: 'z' });
      await store.createRWLayer('m-garbage', h1.chainId);
      const idsBefore = env.driverIds();
      await store.close();

      fs.writeFileSync(path.join(env.layerDbDir(s1.chainId), 'size'), `${s1.size}\n`);
      fs.rmSync(path.join(env.layerDbDir(c1.chainId), 'cache-id'));
      const nowhere = sha256Of('nowhere');
      fs.writeFileSync(path.join(env.layerDbDir(p1.chainId), 'parent'), nowhere);
      fs.rmSync(env.layerDbDir(g.chainId), { recursive: true });
      fs.writeFileSync(path.join(env.dbDir('mounts'), 'm-garbage', 'mount-id'), 'garbage');
      fs.writeFileSync(path.join(env.dbDir('sha256'), 'stray-file'), '');
      fs.writeFileSync(path.join(env.layerDbDir(x.chainId), 'parent'), y.chainId);
      fs.writeFileSync(path.join(env.layerDbDir(y.chainId), 'parent'), x.chainId);
      fs.writeFileSync(path.join(env.layerDbDir(z.chainId), 'parent'), z.chainId);
      fs.mkdirSync(path.join(env.dbDir('sha256'), 'not-a-layer'));

      store = await env.open();
      assert.deepEqual(store.layers().map((l) => l.chainId), [h1.chainId, h2.chainId].sort());
      assert.deepEqual(store.layer(h1.chainId).references, { children: 1, mounts: 0, handles: 0 });
      assert.deepEqual(store.layer(h2.chainId).references, { children: 0, mounts: 1, handles: 0 });
      assert.deepEqual(store.mounts().map((m) => m.name), ['m-healthy']);

      const problems = new Map(store.problems.map((p) => [`${p.kind} ${p.name}`, p.reason]));
      const dependsOn = (id: Digest) => `depends on ${id}, which did not load`;
      const expectProblem = (key: string, reason: string | RegExp) => {
        const got = problems.get(key);
        assert.ok(got !== undefined, `no problem reported for ${key}: ${JSON.stringify(store.problems, null, 1)}`);
        if (typeof reason === 'string') assert.equal(got, reason, key);
        else assert.match(got, reason, key);
        problems.delete(key);
      };
      expectProblem(`layer ${s1.chainId}`, /size/);
      expectProblem(`layer ${c1.chainId}`, /cache-id/);
      expectProblem(`layer ${p1.chainId}`, `parent ${nowhere} does not exist`);
      expectProblem(`mount m-on-damaged`, dependsOn(s1aa.chainId));
      expectProblem(`mount m-parent-gone`, `parent ${g.chainId} does not exist`);
      expectProblem(`mount m-garbage`, /mount.id/);
      expectProblem(`entry sha256/stray-file`, 'not a directory');
      // In a loop each layer is skipped, either as the one the loop was found at or as its child.
      expectProblem(`layer ${x.chainId}`, new RegExp(`^(its parent chain loops through|depends on) sha256:`));
      expectProblem(`layer ${y.chainId}`, new RegExp(`^(its parent chain loops through|depends on) sha256:`));
      expectProblem(`layer ${z.chainId}`, `its parent chain loops through ${z.chainId}`);
      expectProblem(`entry sha256/not-a-layer`, 'not a sha256 hex name');
      // A descendant's reason names its parent, whatever order the ChainIDs sort in.
      const descendants: [string, Digest][] = [
        [`layer ${s1a.chainId}`, s1.chainId],
        [`layer ${s1b.chainId}`, s1.chainId],
        [`layer ${s1aa.chainId}`, s1a.chainId],
        [`layer ${p1a.chainId}`, p1.chainId],
        [`layer ${p1b.chainId}`, p1.chainId],
      ];
      const wrong: string[] = [];
      for (const [key, parent] of descendants) {
        const got = problems.get(key);
        assert.ok(got !== undefined, `no problem reported for ${key}`);
        if (got !== dependsOn(parent)) wrong.push(`${key}: ${JSON.stringify(got)}, want ${JSON.stringify(dependsOn(parent))}`);
        problems.delete(key);
      }
      assert.deepEqual([...problems], [], 'unexpected problems');
      // A writable open removed nothing of what the damaged entries name.
      assert.deepEqual(env.driverIds(), idsBefore);
      // Registering the tar of a layer that is on disk but did not load: LAYER_BROKEN, nothing left.
      const before = env.snapshot();
      await assert.rejects(store.register(stream(c1Tar)), errWith('LAYER_BROKEN', new RegExp(`^layer ${c1.chainId} exists on disk but did not load: .*cache-id`)));
      env.assertUnchanged(before, 'after LAYER_BROKEN');
      assert.deepEqual(wrong, [], 'descendants whose reason does not name their parent');
    });

    // ---- recovery ------------------------------------------------------------------------------

    it('recovery: write-sets, -removing dirs and the driver layers only they name; read-only opens recover nothing', async () => {
      const env = new Env();
      let store = await env.open();
      const live = await register(store, { live: 'live' });
      const removing = await register(store, { removing: 'removing' });
      const finished = await register(store, { finished: 'finished' });
      const orphanId = randomCacheId();
      await store.driver.create(orphanId, '');
      const rwId = randomCacheId();
      await store.driver.createReadWrite(`${rwId}-init`, live.cacheId);
      await store.driver.createReadWrite(rwId, `${rwId}-init`);
      const liveTar = await collect(live.tarStream());
      await store.close();

      const tmp = env.dbDir('tmp');
      const writeSet = (name: string, files: Record<string, string>) => {
        fs.mkdirSync(path.join(tmp, name), { mode: 0o700 });
        for (const [f, v] of Object.entries(files)) fs.writeFileSync(path.join(tmp, name, f), v);
      };
      writeSet('write-set-123', { 'cache-id': orphanId }); // an interrupted register
      writeSet('write-set-456', { 'cache-id': live.cacheId }); // names a live layer's data
      writeSet('write-set-789', { 'mount-id': rwId, 'init-id': `${rwId}-init` }); // an interrupted RW-layer creation
      writeSet('write-set-000', { 'cache-id': randomCacheId() }); // names nothing that exists
      const rand = () => crypto.randomBytes(32).toString('hex');
      const removingDir = path.join(env.dbDir('sha256'), `${removing.chainId.slice(7)}-${rand()}-removing`);
      fs.renameSync(env.layerDbDir(removing.chainId), removingDir);
      const finishedDir = path.join(env.dbDir('sha256'), `${finished.chainId.slice(7)}-${rand()}-removing`);
      fs.renameSync(env.layerDbDir(finished.chainId), finishedDir);
      fs.rmSync(path.join(finishedDir, 'cache-id'));
      fs.rmSync(d.layerDir(env.root, finished.cacheId), { recursive: true });
      const idsBefore = env.driverIds();
      assert.deepEqual(idsBefore, [live.cacheId, removing.cacheId, orphanId, rwId, `${rwId}-init`].sort());

      // Read-only: nothing is touched.
      const before = env.snapshot();
      const ro = await env.open({ readOnly: true });
      assert.deepEqual(ro.recovered, { removedLayers: [], writeSets: [], driverIds: [] });
      assert.deepEqual(ro.layers().map((l) => l.chainId), [live.chainId]);
      assert.deepEqual(ro.problems, []);
      await ro.close();
      env.assertUnchanged(before, 'after a read-only open');

      store = await env.open();
      const r = store.recovered;
      assert.deepEqual([...r.removedLayers].sort(), [removing.chainId, finished.chainId].sort());
      assert.deepEqual([...r.writeSets].sort(), ['write-set-000', 'write-set-123', 'write-set-456', 'write-set-789']);
      assert.deepEqual([...r.driverIds].sort(), [orphanId, rwId, `${rwId}-init`].sort());
      assert.deepEqual(names(tmp), []);
      assert.deepEqual(names(env.dbDir('sha256')), [live.chainId.slice(7)]);
      assert.deepEqual(env.driverIds(), [live.cacheId]);
      assert.deepEqual(store.problems, []);
      const h = store.get(live.chainId);
      assert.ok((await collect(h.tarStream())).equals(liveTar));
      // Nothing more to do at the next open.
      await store.close();
      store = await env.open();
      assert.deepEqual(store.recovered, { removedLayers: [], writeSets: [], driverIds: [] });
      assert.deepEqual(env.driverIds(), [live.cacheId]);
    });

    it('cleanup() finishes leftovers too, but leaves the write-sets of running operations alone', async () => {
      const env = new Env();
      const store = await env.open();
      const base = await register(store, { base: 'base' });
      const orphanId = randomCacheId();
      await store.driver.create(orphanId, '');
      fs.mkdirSync(path.join(env.dbDir('tmp'), 'write-set-42'), { mode: 0o700 });
      fs.writeFileSync(path.join(env.dbDir('tmp'), 'write-set-42', 'cache-id'), orphanId);
      // A register in flight while cleanup runs.
      let release!: () => void;
      const gate = new Promise<void>((r) => (release = r));
      const tar = tarOf({ slow: 'z'.repeat(50_000) });
      async function* slow(): AsyncGenerator<Buffer> {
        yield tar.subarray(0, 1024);
        await gate;
        yield tar.subarray(1024);
      }
      const pending = store.register(slow(), base.chainId);
      await new Promise((r) => setTimeout(r, 50));
      const report = await store.cleanup();
      assert.deepEqual(report.writeSets, ['write-set-42']);
      assert.deepEqual(report.driverIds, [orphanId]);
      release();
      const l = await pending;
      assert.ok((await collect(l.tarStream())).equals(tar));
      assert.deepEqual(names(env.dbDir('tmp')), []);
      assert.deepEqual(env.driverIds(), [base.cacheId, l.cacheId].sort());
      await store.release(l);
      await store.release(base);
      env.assertEmpty(store);
    });

    it('cleanup() during a release does not report that release\'s delete as recovered', async () => {
      const env = new Env();
      const store = await env.open();
      const a = await register(store, { a: 'a' });
      const b = await register(store, { b: 'b' }, a.chainId);
      await store.release(a);
      const [deleted, report] = await Promise.all([store.release(b), store.cleanup()]);
      assert.deepEqual(deleted.map((m) => m.chainId), [b.chainId, a.chainId]);
      env.assertEmpty(store);
      // Recovery is for what interrupted operations left; this one was running, in this process.
      assert.deepEqual(report, { removedLayers: [], writeSets: [], driverIds: [] });
    });

    it('close() lets go of the lock only once the operations in flight have finished', async () => {
      const env = new Env();
      const store = await env.open();
      const tar = tarOf({ slow: 'z'.repeat(50_000) });
      let open!: () => void;
      const gate = new Promise<void>((r) => (open = r));
      async function* slow(): AsyncGenerator<Buffer> {
        yield tar.subarray(0, 1024);
        await gate;
        yield tar.subarray(1024);
      }
      const events: string[] = [];
      const pending = store.register(slow()).finally(() => events.push('register settled'));
      await new Promise((r) => setTimeout(r, 50));
      const closing = store.close().then(() => events.push('close resolved'));
      await new Promise((r) => setTimeout(r, 50));
      open();
      await closing;
      await pending.catch(() => undefined);
      // Whatever became of the register, the next writer finds a whole store.
      const next = await env.open({ lock: 'fail' });
      assert.deepEqual(next.recovered, { removedLayers: [], writeSets: [], driverIds: [] });
      assert.deepEqual(names(env.dbDir('tmp')), []);
      assert.deepEqual(env.driverIds(), next.layers().map((l) => l.cacheId));
      // Otherwise another process could take the lock and (recovering) delete the running
      // register's write-set and driver layer under it, or see its half-done work.
      assert.deepEqual(events, ['register settled', 'close resolved']);
    });

    // ---- init layer and commits ------------------------------------------------------------------

    it('dockerInit through an RW layer: Docker\'s files, /etc/mtab replaced, /etc/hosts emptied, none of it a change', async () => {
      const env = new Env();
      const store = await env.open();
      const image = await register(store, {
        'etc/mtab': 'rootfs / rootfs rw 0 0\n',
        'etc/hosts': '127.0.0.1 image\n',
        'etc/passwd': 'root:x:0:0::/root:/bin/sh\n',
        proc: { dir: true, mode: 0o555 },
      });
      const imageTar = await collect(image.tarStream());
      const rw = await store.createRWLayer('ctr', image.chainId, { init: dockerInit() });
      const p = await rw.mount();
      for (const dir of ['dev/pts', 'dev/shm', 'sys', 'dev', 'etc']) {
        assert.ok(fs.lstatSync(path.join(p, dir)).isDirectory(), dir);
        assert.equal(mode(path.join(p, dir)), 0o755, dir);
      }
      assert.equal(mode(path.join(p, 'proc')), 0o555, 'an existing directory is kept as it is');
      for (const f of ['.dockerenv', 'etc/resolv.conf', 'etc/hosts', 'etc/hostname', 'dev/console']) {
        const st = fs.lstatSync(path.join(p, f));
        assert.ok(st.isFile(), f);
        assert.equal(st.size, 0, f);
        assert.equal(st.mode & 0o7777, 0o755, f);
      }
      assert.equal(fs.readlinkSync(path.join(p, 'etc/mtab')), '/proc/mounts');
      assert.equal(fs.readFileSync(path.join(p, 'etc/passwd'), 'utf8'), 'root:x:0:0::/root:/bin/sh\n');
      assert.deepEqual(await rw.changes(), []);
      assert.equal(await rw.size(), 0);
      await rw.unmount();
      assert.ok((await collect(image.tarStream())).equals(imageTar), 'the image layer is untouched');
      await store.releaseRWLayer(rw);
      await store.release(image);
      env.assertEmpty(store);
    });

    it('dockerInit on an image whose /etc is an absolute symlink: a real /etc, nothing written outside', async () => {
      const env = new Env();
      const outside = dataRoot('strata-outside-');
      fs.mkdirSync(path.join(outside, 'etc'));
      const store = await env.open();
      const image = await register(store, { etc: { symlink: path.join(outside, 'etc') }, bin: { dir: true } });
      const rw = await store.createRWLayer('ctr', image.chainId, { init: dockerInit() });
      const p = await rw.mount();
      assert.ok(fs.lstatSync(path.join(p, 'etc')).isDirectory());
      assert.deepEqual(names(path.join(p, 'etc')), ['hostname', 'hosts', 'mtab', 'resolv.conf']);
      assert.deepEqual(names(path.join(outside, 'etc')), []);
      assert.deepEqual(names(outside), ['etc']);
      await rw.unmount();
      await store.releaseRWLayer(rw);
      await store.release(image);
      env.assertEmpty(store);
    });

    it('an RW layer\'s tar (commit) leaves the init files out; a layer registered from it is seen by the next RW layer', async () => {
      const env = new Env();
      const store = await env.open();
      const image = await register(store, { 'etc/passwd': 'root:x:0:0::/root:/bin/sh\n' });
      const rw = await store.createRWLayer('web-1', image.chainId, { init: dockerInit() });
      const p = await rw.mount();
      fs.writeFileSync(path.join(p, 'etc/motd'), 'hi\n');
      fs.mkdirSync(path.join(p, 'srv'));
      fs.writeFileSync(path.join(p, 'srv/data'), 'data');
      assert.deepEqual(
        (await rw.changes()).map((c) => `${c.kind} ${c.path}`),
        ['C /etc', 'A /etc/motd', 'A /srv', 'A /srv/data'],
      );
      const commitTar = await collect(rw.tarStream());
      const entries = (await listTar(commitTar)).map((e) => e.header.name.replace(/\/$/, ''));
      assert.deepEqual(entries.sort(), ['etc', 'etc/motd', 'srv', 'srv/data']);
      const committed = await store.register(stream(commitTar), image.chainId);
      assert.equal(committed.diffId, sha256Of(commitTar));
      await rw.unmount();
      assert.deepEqual(await store.releaseRWLayer(rw), []);

      const rw2 = await store.createRWLayer('web-2', committed.chainId, { init: dockerInit() });
      const p2 = await rw2.mount();
      assert.equal(fs.readFileSync(path.join(p2, 'etc/motd'), 'utf8'), 'hi\n');
      assert.equal(fs.readFileSync(path.join(p2, 'srv/data'), 'utf8'), 'data');
      assert.equal(fs.readFileSync(path.join(p2, 'etc/passwd'), 'utf8'), 'root:x:0:0::/root:/bin/sh\n');
      assert.equal(fs.statSync(path.join(p2, 'etc/hosts')).size, 0);
      assert.deepEqual(await rw2.changes(), []);
      await rw2.unmount();
      const ci = store.layer(committed.chainId);
      assert.deepEqual(await store.release(committed), []); // rw2 still holds it
      assert.deepEqual(await store.release(image), []); // committed, its child, holds it
      const ii = store.layer(image.chainId);
      assert.deepEqual(await store.releaseRWLayer(rw2), [metaOf(ci), metaOf(ii)]);
      env.assertEmpty(store);
    });
  });
}
