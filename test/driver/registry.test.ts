/**
 * Driver registry and selection: every branch of moby 20.10's graphdriver.New (explicit name,
 * prior state, priority walk, the rest of the registry, nothing supported), with its exact error
 * texts. The drivers here are small init functions registered into a fresh registry: they are the
 * inputs of the rules under test, and each records that it was asked to start. Two tests put the
 * same roots before dockerd 20.10 itself.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { tempDir } from '../helpers/tmp.js';
import { DockerdStartError, startDockerd } from '../oracle/dockerd.js';
import {
  createRegistry,
  DEFAULT_PRIORITY,
  getDriver,
  register,
  registeredNames,
  scanPriorDrivers,
  selectDriver,
  type DriverRegistry,
} from '../../src/driver/registry.js';
import { builtinRegistry } from '../../src/driver/index.js';
import {
  errIncompatibleFs,
  errNotSupported,
  errPrerequisites,
  NotSupportedError,
  type Driver,
  type DriverInit,
} from '../../src/driver/driver.js';
import { isStrataError, StrataError } from '../../src/errors/index.js';

const registryModule = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../src/driver/registry.ts');

/** A driver that only knows its name and home (selection never calls anything else). */
function stubDriver(name: string, home: string): Driver {
  const no = (): never => {
    throw new Error(`${name}: not part of selection`);
  };
  return {
    name,
    home,
    create: async () => no(),
    createReadWrite: async () => no(),
    remove: async () => no(),
    get: async () => no(),
    put: async () => no(),
    exists: async () => no(),
    status: () => [],
    metadata: async () => no(),
    cleanup: async () => {},
    diff: () => no(),
    changes: async () => no(),
    applyDiff: async () => no(),
    diffSize: async () => no(),
    capabilities: () => ({ reproducesExactDiffs: false, nativeDiff: false }),
  };
}

type Behaviour = 'ok' | Error;

interface Bench {
  registry: DriverRegistry;
  /** `name@home` of every init call, in order, with the options it got. */
  calls: { name: string; home: string; options: string[] }[];
}

/** A fresh registry with one test driver per entry, registered in the given order. */
function bench(drivers: Record<string, Behaviour>): Bench {
  const registry = createRegistry();
  const calls: Bench['calls'] = [];
  for (const [name, behaviour] of Object.entries(drivers)) {
    const init: DriverInit = async (home, options) => {
      calls.push({ name, home, options });
      if (behaviour !== 'ok') throw behaviour;
      return stubDriver(name, home);
    };
    register(registry, name, init);
  }
  return { registry, calls };
}

const tried = (b: Bench): string[] => b.calls.map((c) => c.name);

/** A root with `<root>/<name>/` for each name; non-empty ones get a layer dir inside. */
function rootWith(dirs: Record<string, 'empty' | 'layers'>): string {
  const root = tempDir('strata-select-');
  for (const [name, state] of Object.entries(dirs)) {
    fs.mkdirSync(path.join(root, name));
    if (state === 'layers') fs.mkdirSync(path.join(root, name, 'abc123'));
  }
  return root;
}

const NO_ENV = {};
const several = (root: string, names: string) =>
  `${root} contains several valid graphdrivers: ${names}; Please cleanup or explicitly choose storage driver (-s <DRIVER>)`;

// ---------------------------------------------------------------------------------------------
// Registry

test('register: a name registers once; the second time fails and the first stays', async () => {
  const r = createRegistry();
  const first: DriverInit = async (home) => stubDriver('vfs', home);
  register(r, 'vfs', first);
  register(r, 'overlay2', async (home) => stubDriver('overlay2', home));
  assert.throws(
    () => register(r, 'vfs', async (home) => stubDriver('other', home)),
    (e: unknown) => isStrataError(e, 'DRIVER_ALREADY_REGISTERED') && (e as Error).message === 'Name already registered vfs',
  );
  assert.equal(r.drivers.get('vfs'), first);
  assert.deepEqual(registeredNames(r), ['vfs', 'overlay2']);
});

test('the built-in registry and priority: overlay2 and vfs registered; overlay2 then fuse-overlay then vfs', () => {
  assert.deepEqual(registeredNames(builtinRegistry()), ['overlay2', 'fuse-overlay', 'vfs']);
  assert.deepEqual([...DEFAULT_PRIORITY], ['overlay2', 'fuse-overlay', 'vfs']);
});

test('getDriver: starts the driver on <root>/<name> with the options', async () => {
  const b = bench({ vfs: 'ok' });
  const d = await getDriver(b.registry, 'vfs', '/data', ['size=1G']);
  assert.equal(d.home, '/data/vfs');
  assert.deepEqual(b.calls, [{ name: 'vfs', home: '/data/vfs', options: ['size=1G'] }]);
});

// ---------------------------------------------------------------------------------------------
// Explicit name

test('explicit name: that driver, at <root>/<name>, even when another has prior state and a higher priority', async () => {
  const b = bench({ overlay2: 'ok', 'fuse-overlay': 'ok', vfs: 'ok' });
  const root = rootWith({ overlay2: 'layers', 'fuse-overlay': 'layers' });
  const s = await selectDriver({ root, name: 'vfs', options: ['size=1G'], registry: b.registry, env: NO_ENV });
  assert.equal(s.name, 'vfs');
  assert.equal(s.driver.home, path.join(root, 'vfs'));
  assert.deepEqual(b.calls, [{ name: 'vfs', home: path.join(root, 'vfs'), options: ['size=1G'] }]);
});

test('explicit name: unknown → DRIVER_UNKNOWN naming the known drivers (no plugins in strata); nothing started', async () => {
  const b = bench({ vfs: 'ok', overlay2: 'ok' });
  await assert.rejects(
    selectDriver({ root: tempDir(), name: 'aufs', options: [], registry: b.registry, env: NO_ENV }),
    (e: unknown) => {
      assert.ok(isStrataError(e, 'DRIVER_UNKNOWN'));
      assert.equal(e.message, 'unknown storage driver "aufs": strata knows overlay2, vfs (graphdriver plugins are not supported)');
      assert.ok(e instanceof NotSupportedError, 'moby answers an unknown name with ErrNotSupported');
      return true;
    },
  );
  assert.deepEqual(b.calls, []);
  await assert.rejects(
    selectDriver({ root: '/r', name: 'x', options: [], registry: createRegistry(), env: NO_ENV }),
    { message: 'unknown storage driver "x": strata knows no drivers (graphdriver plugins are not supported)' },
  );
});

test('explicit name: its init error propagates unchanged — a not-supported error too, with no fallback', async () => {
  for (const err of [errNotSupported(), errPrerequisites(), errIncompatibleFs(), new StrataError('X', 'broken'), new Error('plain')]) {
    const b = bench({ overlay2: err, vfs: 'ok' });
    await assert.rejects(
      selectDriver({ root: tempDir(), name: 'overlay2', options: [], registry: b.registry, env: NO_ENV }),
      (e: unknown) => e === err,
    );
    assert.deepEqual(tried(b), ['overlay2'], 'no other driver is tried');
  }
});

test('STRATA_DRIVER wins over the given name; an empty one does not count', async () => {
  const b = bench({ overlay2: 'ok', vfs: 'ok' });
  const root = tempDir();
  const s = await selectDriver({ root, name: 'overlay2', options: [], registry: b.registry, env: { STRATA_DRIVER: 'vfs' } });
  assert.equal(s.name, 'vfs');
  assert.deepEqual(tried(b), ['vfs']);

  const s2 = await selectDriver({ root, name: 'overlay2', options: [], registry: b.registry, env: { STRATA_DRIVER: '' } });
  assert.equal(s2.name, 'overlay2');

  // with no name at all the variable is the explicit choice, unknown names included
  const s3 = await selectDriver({ root, options: [], registry: b.registry, env: { STRATA_DRIVER: 'vfs' } });
  assert.equal(s3.name, 'vfs');
  await assert.rejects(selectDriver({ root, options: [], registry: b.registry, env: { STRATA_DRIVER: 'zfs' } }), { code: 'DRIVER_UNKNOWN' });
});

test('STRATA_DRIVER is read from process.env when no env is given', async () => {
  const b = bench({ overlay2: 'ok', vfs: 'ok' });
  const saved = process.env.STRATA_DRIVER;
  process.env.STRATA_DRIVER = 'vfs';
  try {
    const s = await selectDriver({ root: tempDir(), name: 'overlay2', options: [], registry: b.registry });
    assert.equal(s.name, 'vfs');
  } finally {
    if (saved === undefined) delete process.env.STRATA_DRIVER;
    else process.env.STRATA_DRIVER = saved;
  }
});

test('an empty name means "choose for me"', async () => {
  const b = bench({ overlay2: 'ok', vfs: 'ok' });
  const s = await selectDriver({ root: tempDir(), name: '', options: [], registry: b.registry, env: NO_ENV });
  assert.equal(s.name, 'overlay2');
});

// ---------------------------------------------------------------------------------------------
// Prior state

test('prior state, one driver: it is chosen although a higher-priority driver would start', async () => {
  const b = bench({ overlay2: 'ok', 'fuse-overlay': 'ok', vfs: 'ok' });
  const root = rootWith({ 'fuse-overlay': 'layers' });
  const s = await selectDriver({ root, options: ['a=b'], registry: b.registry, env: NO_ENV });
  assert.equal(s.name, 'fuse-overlay');
  assert.equal(s.driver.home, path.join(root, 'fuse-overlay'));
  assert.deepEqual(b.calls, [{ name: 'fuse-overlay', home: path.join(root, 'fuse-overlay'), options: ['a=b'] }]);
});

test('prior state whose driver fails to start: that error, as is — no fallback, not even past a not-supported error', async () => {
  for (const err of [errNotSupported(), errPrerequisites(), errIncompatibleFs(), new Error('boom')]) {
    const b = bench({ overlay2: err, 'fuse-overlay': 'ok', vfs: 'ok' });
    const root = rootWith({ overlay2: 'layers' });
    await assert.rejects(selectDriver({ root, options: [], registry: b.registry, env: NO_ENV }), (e: unknown) => e === err);
    assert.deepEqual(tried(b), ['overlay2']);
  }
});

test('several prior drivers: the exact message, names in priority order, after starting the preferred one', async () => {
  const b = bench({ vfs: 'ok', 'fuse-overlay': 'ok', overlay2: 'ok' });
  const root = rootWith({ overlay2: 'layers', 'fuse-overlay': 'layers', vfs: 'layers' });
  await assert.rejects(selectDriver({ root, options: [], registry: b.registry, env: NO_ENV }), (e: unknown) => {
    assert.ok(isStrataError(e, 'DRIVER_SEVERAL_PRIOR'));
    assert.equal(e.message, several(root, 'overlay2, fuse-overlay'));
    return true;
  });
  // As moby: the preferred prior driver is started first (its failure would win over this error).
  assert.deepEqual(tried(b), ['overlay2']);
});

test('several prior drivers, the preferred one failing: its error wins over "several"', async () => {
  const err = errNotSupported('no overlay here');
  const b = bench({ overlay2: err, 'fuse-overlay': 'ok', vfs: 'ok' });
  const root = rootWith({ overlay2: 'layers', 'fuse-overlay': 'layers' });
  await assert.rejects(selectDriver({ root, options: [], registry: b.registry, env: NO_ENV }), (e: unknown) => e === err);
});

test('several prior drivers: a registered driver outside the priority list counts, listed after the priority ones', async () => {
  const b = bench({ btrfs: 'ok', zfs: 'ok', overlay2: 'ok', vfs: 'ok' });
  const root = rootWith({ zfs: 'layers', overlay2: 'layers', btrfs: 'layers' });
  await assert.rejects(selectDriver({ root, options: [], registry: b.registry, env: NO_ENV }), {
    code: 'DRIVER_SEVERAL_PRIOR',
    message: several(root, 'overlay2, btrfs, zfs'),
  });
});

test('prior state only of a driver outside the priority list: never chosen from it; the priority walk runs', async () => {
  const b = bench({ overlay2: 'ok', vfs: 'ok', extra: 'ok' });
  const root = rootWith({ extra: 'layers' });
  const s = await selectDriver({ root, options: [], registry: b.registry, env: NO_ENV });
  assert.equal(s.name, 'overlay2');
});

test('an empty prior dir does not count', async () => {
  const b = bench({ overlay2: 'ok', 'fuse-overlay': 'ok', vfs: 'ok' });
  const root = rootWith({ 'fuse-overlay': 'empty' });
  assert.deepEqual(await scanPriorDrivers(b.registry, root), []);
  const s = await selectDriver({ root, options: [], registry: b.registry, env: NO_ENV });
  assert.equal(s.name, 'overlay2');
  // and with two dirs of which one is empty, there is one prior driver, not several
  const root2 = rootWith({ overlay2: 'empty', 'fuse-overlay': 'layers' });
  assert.equal((await selectDriver({ root: root2, options: [], registry: b.registry, env: NO_ENV })).name, 'fuse-overlay');
});

test('a vfs dir never counts as prior state: a root with only vfs/ still gets overlay2', async () => {
  const b = bench({ overlay2: 'ok', 'fuse-overlay': 'ok', vfs: 'ok' });
  const root = rootWith({ vfs: 'layers' });
  assert.deepEqual(await scanPriorDrivers(b.registry, root), []);
  assert.equal((await selectDriver({ root, options: [], registry: b.registry, env: NO_ENV })).name, 'overlay2');
  // …and vfs next to one real prior driver does not make it "several"
  const root2 = rootWith({ vfs: 'layers', 'fuse-overlay': 'layers' });
  assert.equal((await selectDriver({ root: root2, options: [], registry: b.registry, env: NO_ENV })).name, 'fuse-overlay');
  // …even when vfs is listed first in the priority list
  const s = await selectDriver({ root, options: [], registry: b.registry, priority: ['vfs', 'overlay2'], env: NO_ENV });
  assert.equal(s.name, 'vfs', 'a fresh-root walk: vfs is simply first');
});

test('a plain file in place of a driver dir counts (it cannot be opened as a dir); a dangling symlink does not', async () => {
  const b = bench({ overlay2: errNotSupported(), vfs: 'ok' });
  const root = tempDir();
  fs.writeFileSync(path.join(root, 'overlay2'), 'x');
  assert.deepEqual(await scanPriorDrivers(b.registry, root), ['overlay2']);
  await assert.rejects(selectDriver({ root, options: [], registry: b.registry, env: NO_ENV }), { code: 'DRIVER_NOT_SUPPORTED' });

  const root2 = tempDir();
  fs.symlinkSync('/nonexistent-strata-target', path.join(root2, 'overlay2'));
  assert.deepEqual(await scanPriorDrivers(b.registry, root2), []);
  // a symlink to a non-empty dir counts (stat follows it, as Go's os.Stat does)
  const root3 = rootWith({});
  const target = rootWith({ x: 'layers' });
  fs.symlinkSync(target, path.join(root3, 'overlay2'));
  assert.deepEqual(await scanPriorDrivers(b.registry, root3), ['overlay2']);
});

test('an unreadable driver dir counts as non-empty (so its driver is used, and its failure returned)', () => {
  // Root reads any directory, so as root the check runs in a child that drops to nobody.
  const root = tempDir();
  fs.chmodSync(root, 0o755);
  fs.mkdirSync(path.join(root, 'overlay2'), { mode: 0o755 });
  fs.chmodSync(path.join(root, 'overlay2'), 0o000);
  fs.mkdirSync(path.join(root, 'fuse-overlay'), { mode: 0o755 }); // empty and readable: not prior
  const code = `
    import { createRegistry, register, scanPriorDrivers, selectDriver } from ${JSON.stringify(registryModule)};
    const root = process.argv[1];
    const r = createRegistry();
    const fail = async () => { const e = new Error('overlay2 failed'); throw e; };
    register(r, 'overlay2', fail);
    register(r, 'fuse-overlay', async (home) => ({ name: 'fuse-overlay', home }));
    register(r, 'vfs', async (home) => ({ name: 'vfs', home }));
    const prior = await scanPriorDrivers(r, root);
    let selected;
    try { selected = (await selectDriver({ root, options: [], registry: r, env: {} })).name; }
    catch (e) { selected = 'error: ' + e.message; }
    console.log(JSON.stringify({ prior, selected }));
  `;
  const asRoot = process.getuid?.() === 0;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code, root], {
    encoding: 'utf8',
    ...(asRoot ? { uid: 65534, gid: 65534 } : {}),
  });
  fs.chmodSync(path.join(root, 'overlay2'), 0o755);
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), { prior: ['overlay2'], selected: 'error: overlay2 failed' });
});

test('scanPriorDrivers: a missing root has no prior state; names come in registration order', async () => {
  const b = bench({ zfs: 'ok', overlay2: 'ok', vfs: 'ok', btrfs: 'ok' });
  assert.deepEqual(await scanPriorDrivers(b.registry, '/nonexistent-strata-root'), []);
  const root = rootWith({ btrfs: 'layers', overlay2: 'layers', zfs: 'layers', vfs: 'layers', unregistered: 'layers' });
  assert.deepEqual(await scanPriorDrivers(b.registry, root), ['zfs', 'overlay2', 'btrfs']);
});

// ---------------------------------------------------------------------------------------------
// Fresh root

test('fresh root: the first driver of the priority list that starts', async () => {
  const b = bench({ vfs: 'ok', 'fuse-overlay': 'ok', overlay2: 'ok' });
  const root = tempDir();
  const s = await selectDriver({ root, options: ['x=y'], registry: b.registry, env: NO_ENV });
  assert.equal(s.name, 'overlay2');
  assert.deepEqual(b.calls, [{ name: 'overlay2', home: path.join(root, 'overlay2'), options: ['x=y'] }]);
  // a missing root is a fresh root
  const s2 = await selectDriver({ root: path.join(root, 'not', 'yet'), options: [], registry: b.registry, env: NO_ENV });
  assert.equal(s2.name, 'overlay2');
});

test('fresh root: each of the three not-supported errors falls through to the next driver', async () => {
  const b = bench({ overlay2: errNotSupported(), 'fuse-overlay': errPrerequisites(), btrfs: errIncompatibleFs(), vfs: 'ok' });
  const s = await selectDriver({ root: tempDir(), options: [], registry: b.registry, priority: ['overlay2', 'fuse-overlay', 'btrfs', 'vfs'], env: NO_ENV });
  assert.equal(s.name, 'vfs');
  assert.deepEqual(tried(b), ['overlay2', 'fuse-overlay', 'btrfs', 'vfs']);
});

test('fresh root: a priority name that is not registered is skipped', async () => {
  const b = bench({ overlay2: errNotSupported(), vfs: 'ok' }); // no fuse-overlay registered
  const s = await selectDriver({ root: tempDir(), options: [], registry: b.registry, env: NO_ENV });
  assert.equal(s.name, 'vfs');
  assert.deepEqual(tried(b), ['overlay2', 'vfs']);
});

test('fresh root: any other error is fatal — returned as is, nothing after it tried', async () => {
  const err = new StrataError('OVERLAY_BROKEN', 'overlay2: something real went wrong');
  const b = bench({ overlay2: errNotSupported(), 'fuse-overlay': err, vfs: 'ok' });
  await assert.rejects(selectDriver({ root: tempDir(), options: [], registry: b.registry, env: NO_ENV }), (e: unknown) => e === err);
  assert.deepEqual(tried(b), ['overlay2', 'fuse-overlay']);
});

test('fresh root: then every registered driver not yet tried, in registration order', async () => {
  const b = bench({ first: errNotSupported(), overlay2: errNotSupported(), second: 'ok', vfs: errNotSupported(), third: 'ok' });
  const root = tempDir();
  const s = await selectDriver({ root, options: [], registry: b.registry, env: NO_ENV });
  assert.equal(s.name, 'second');
  assert.equal(s.driver.home, path.join(root, 'second'));
  assert.deepEqual(tried(b), ['overlay2', 'vfs', 'first', 'second']);
});

test('fresh root: an other error in the rest of the registry is fatal too', async () => {
  const err = new Error('extra: broken');
  const b = bench({ overlay2: errNotSupported(), extra: err, more: 'ok' });
  await assert.rejects(selectDriver({ root: tempDir(), options: [], registry: b.registry, env: NO_ENV }), (e: unknown) => e === err);
  assert.deepEqual(tried(b), ['overlay2', 'extra']);
});

test('nothing supported: `No supported storage backend found`, after trying each driver once', async () => {
  const b = bench({ overlay2: errNotSupported(), 'fuse-overlay': errPrerequisites(), vfs: errIncompatibleFs(), extra: errNotSupported() });
  await assert.rejects(selectDriver({ root: tempDir(), options: [], registry: b.registry, env: NO_ENV }), (e: unknown) => {
    assert.ok(isStrataError(e, 'DRIVER_NONE_SUPPORTED'));
    assert.equal(e.message, 'No supported storage backend found');
    return true;
  });
  assert.deepEqual(tried(b), ['overlay2', 'fuse-overlay', 'vfs', 'extra']);
  // an empty registry: the same
  await assert.rejects(selectDriver({ root: tempDir(), options: [], registry: createRegistry(), env: NO_ENV }), {
    message: 'No supported storage backend found',
  });
});

test('the priority list is a parameter', async () => {
  const b = bench({ overlay2: 'ok', vfs: 'ok' });
  const s = await selectDriver({ root: tempDir(), options: [], registry: b.registry, priority: ['vfs', 'overlay2'], env: NO_ENV });
  assert.equal(s.name, 'vfs');
  // and it decides which prior driver is preferred — and the order names are listed in
  const root = rootWith({ overlay2: 'layers', 'fuse-overlay': 'layers' });
  const b2 = bench({ overlay2: 'ok', 'fuse-overlay': 'ok' });
  await assert.rejects(
    selectDriver({ root, options: [], registry: b2.registry, priority: ['fuse-overlay', 'overlay2'], env: NO_ENV }),
    { message: several(root, 'fuse-overlay, overlay2') },
  );
  assert.deepEqual(tried(b2), ['fuse-overlay']);
});

// ---------------------------------------------------------------------------------------------
// Oracle: dockerd 20.10 (driver names as dockerd spells them) reads the same roots the same way.

/** The names and priority of dockerd 20.10 that matter on this machine, as test drivers. */
function dockerdLike(): Bench {
  return bench({ overlay2: 'ok', 'fuse-overlayfs': 'ok', vfs: 'ok' });
}
const DOCKERD_PRIORITY = ['btrfs', 'zfs', 'overlay2', 'fuse-overlayfs', 'aufs', 'overlay', 'devicemapper', 'vfs'];

test('oracle: dockerd refuses a root with overlay2/ and fuse-overlayfs/ with the same sentence', async () => {
  const root = rootWith({ overlay2: 'layers', 'fuse-overlayfs': 'layers', vfs: 'layers' });
  let theirs = '';
  try {
    const d = await startDockerd({ dataRoot: root, storageDriver: '', startTimeoutMs: 30_000 });
    await d.stop();
  } catch (e) {
    assert.ok(e instanceof DockerdStartError, String(e));
    theirs = /error initializing graphdriver: (.*)$/m.exec(e.message)?.[1] ?? e.message;
  }
  const b = dockerdLike();
  const ours = await selectDriver({ root, options: [], registry: b.registry, priority: DOCKERD_PRIORITY, env: NO_ENV }).then(
    () => '',
    (e: Error) => e.message,
  );
  assert.equal(ours, several(root, 'overlay2, fuse-overlayfs'));
  // dockerd lists the names in Go map order, which varies from run to run
  assert.ok([several(root, 'overlay2, fuse-overlayfs'), several(root, 'fuse-overlayfs, overlay2')].includes(theirs), theirs);
});

test('oracle: dockerd picks overlay2 for a root holding only vfs/ layers, as strata does', async () => {
  const root = rootWith({ vfs: 'layers' });
  const d = await startDockerd({ dataRoot: root, storageDriver: '', startTimeoutMs: 60_000 });
  let theirs: string;
  try {
    theirs = (await d.docker(['info', '--format', '{{.Driver}}'])).stdout.toString().trim();
  } finally {
    await d.stop();
  }
  assert.equal(theirs, 'overlay2');
  const root2 = rootWith({ vfs: 'layers' });
  const s = await selectDriver({ root: root2, options: [], registry: dockerdLike().registry, priority: DOCKERD_PRIORITY, env: NO_ENV });
  assert.equal(s.name, theirs);
});

// ---------------------------------------------------------------------------------------------
// The real drivers

test('with strata\'s real overlay2 and vfs: fresh root → overlay2; vfs/ only → overlay2; explicit vfs → vfs', async () => {
  const { initOverlay2 } = await import('../../src/driver/overlay2/index.js');
  const { initVfs } = await import('../../src/driver/vfs/index.js');
  const registry = createRegistry();
  register(registry, 'overlay2', initOverlay2);
  register(registry, 'vfs', initVfs);

  const fresh = tempDir();
  const a = await selectDriver({ root: fresh, options: [], registry, env: NO_ENV });
  assert.equal(a.name, 'overlay2');
  assert.equal(a.driver.name, 'overlay2');
  assert.equal(a.driver.home, path.join(fresh, 'overlay2'));
  await a.driver.cleanup();

  const vfsOnly = rootWith({ vfs: 'layers' });
  const b = await selectDriver({ root: vfsOnly, options: [], registry, env: NO_ENV });
  assert.equal(b.driver.name, 'overlay2');
  await b.driver.cleanup();

  const c = await selectDriver({ root: fresh, name: 'vfs', options: ['size=0'], registry, env: NO_ENV });
  assert.equal(c.driver.name, 'vfs');
  assert.equal(c.driver.home, path.join(fresh, 'vfs'));
  await c.driver.cleanup();

  // overlay2 now has state in `fresh` (its l/ dir at least): with no choice it is the prior driver
  const d = await selectDriver({ root: fresh, options: [], registry, env: NO_ENV });
  assert.equal(d.name, 'overlay2');
  await d.driver.cleanup();

  // the drivers' own option errors come through selection unchanged
  await assert.rejects(selectDriver({ root: tempDir(), options: ['overlay2.bogus=1'], registry, env: NO_ENV }), {
    message: 'overlay2: unknown option overlay2.bogus',
  });
  await assert.rejects(selectDriver({ root: tempDir(), name: 'vfs', options: ['bogus=1'], registry, env: NO_ENV }), {
    message: 'unknown option bogus for vfs',
  });
});
