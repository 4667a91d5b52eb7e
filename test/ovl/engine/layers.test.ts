/**
 * Options and scale: the mount-time checks (with the kernel's refusals for the same layouts), the
 * work dir, 500 lower layers against a kernel mount of the same 500, and the readdir cache of an
 * open directory (offsets, rebuilt on a rewind after a change).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { MNT_DETACH, mountFs, umount2 } from '../../../src/sys/index.js';
import { openOverlayCore, OvlOptionsError } from '../../../src/ovl/index.js';
import { tempDir } from '../../helpers/tmp.js';
import { assertSameState, same, twin, type LayerSpec, type Twin } from './twin.js';

function dirs(...names: string[]): string[] {
  const base = fs.realpathSync(tempDir('strata-ovl-opts-'));
  return names.map((n) => {
    const d = path.join(base, n);
    fs.mkdirSync(d, { recursive: true });
    return d;
  });
}

/** Whether the kernel accepts the same layout (it is the oracle for what must be refused). */
function kernelAccepts(params: [string, string][]): boolean {
  const [merged] = dirs('merged');
  try {
    mountFs('overlay', merged!, params);
  } catch {
    return false;
  }
  umount2(merged!, MNT_DETACH);
  return true;
}

describe('ovl engine: options', () => {
  it('refuses what the kernel refuses: workdir inside upper, no workdir, 0 or 501 lowers, a missing lower', () => {
    const [l, u, w] = dirs('l', 'u', 'w');
    const nestedWork = path.join(u!, 'work');
    fs.mkdirSync(nestedWork);
    const cases: { what: string; opts: Parameters<typeof openOverlayCore>[0]; params: [string, string][] }[] = [
      { what: 'workdir inside upperdir', opts: { lowerdirs: [l!], upperdir: u!, workdir: nestedWork }, params: [['lowerdir+', l!], ['upperdir', u!], ['workdir', nestedWork]] },
      { what: 'upperdir without workdir', opts: { lowerdirs: [l!], upperdir: u! }, params: [['lowerdir+', l!], ['upperdir', u!]] },
    ];
    for (const c of cases) {
      assert.equal(kernelAccepts(c.params), false, `the kernel refuses ${c.what}`);
      assert.throws(() => openOverlayCore(c.opts), OvlOptionsError, c.what);
    }
    assert.throws(() => openOverlayCore({ lowerdirs: [] }), OvlOptionsError, 'no lower');
    assert.throws(() => openOverlayCore({ lowerdirs: Array(501).fill(l!) }), /limit is 500/, '501 lowers');
    assert.throws(() => openOverlayCore({ lowerdirs: [path.join(l!, 'missing')] }), OvlOptionsError, 'missing lower');
    assert.equal(kernelAccepts([['lowerdir+', l!], ['upperdir', u!], ['workdir', w!], ['fsync', 'always']]), false, 'the kernel refuses fsync=always');
    assert.throws(() => openOverlayCore({ lowerdirs: [l!], upperdir: u!, workdir: w!, fsync: 'always' as 'auto' }), /unknown fsync mode "always"/, 'fsync=always');
  });

  it('workdir on another filesystem is refused, as by the kernel', () => {
    const [l, u, w] = dirs('l', 'u', 'w');
    mountFs('tmpfs', w!, []);
    try {
      assert.equal(kernelAccepts([['lowerdir+', l!], ['upperdir', u!], ['workdir', w!]]), false, 'kernel refuses');
      assert.throws(() => openOverlayCore({ lowerdirs: [l!], upperdir: u!, workdir: w! }), /same mount/, 'engine refuses');
    } finally {
      umount2(w!, MNT_DETACH);
    }
  });

  it('creates work/work with mode 000 and empties it, marks a new upper with a uuid', () => {
    const [l, u, w] = dirs('l', 'u', 'w');
    fs.mkdirSync(path.join(w!, 'work/leftover'), { recursive: true });
    const core = openOverlayCore({ lowerdirs: [l!], upperdir: u!, workdir: w! });
    const st = fs.statSync(path.join(w!, 'work'));
    assert.equal(st.mode & 0o7777, 0, 'work/work mode 000');
    assert.deepEqual(fs.readdirSync(path.join(w!, 'work')), [], 'work/work emptied');
    assert.equal(core.readOnly, false, 'writable');
    core.close();
  });
});

describe('ovl engine: 500 lower layers vs the kernel', () => {
  let t: Twin;
  before(async () => {
    const lowers: LayerSpec[] = [];
    for (let i = 0; i < 500; i++) lowers.push(i % 100 === 0 ? { [`common/f${i}`]: `layer ${i}`, [`only${i}`]: `${i}`, 'shared.txt': `from ${i}` } : { [`common/f${i}`]: `layer ${i}` });
    t = await twin({ lowers });
  });
  after(async () => {
    await t?.close();
  });

  it('merges all 500: listings, lookups, and a change', async () => {
    const start = Date.now();
    await same(t, 'read the top', (s) => s.readFile('/shared.txt'));
    await same(t, 'read the bottom', (s) => s.readFile('/common/f499'));
    await same(t, 'read the lowest layer\'s own file', (s) => s.readFile('/only400'));
    await same(t, 'miss', (s) => s.lstat('/common/nope'));
    await same(t, 'delete from the bottom', (s) => s.unlink('/common/f499'));
    await assertSameState(t, 'after unlink');
    assert.ok(Date.now() - start < 15000, `500 layers stay usable (${Date.now() - start} ms)`);
  });
});

describe('ovl engine: open directory cache', () => {
  let t: Twin;
  before(async () => {
    t = await twin({ lowers: [{ 'd/a': 'a', 'd/b': 'b' }, { 'd/c': 'c' }] });
  });
  after(async () => {
    await t?.close();
  });

  it('offsets are positions 1..N; a change shows only after reading from 0 again', async () => {
    const core = t.ovl.core;
    const d = core.lookup(core.root, 'd');
    const dir = core.opendir(d);
    const first = dir.read(0);
    assert.deepEqual(
      first.map((x) => x.next),
      first.map((_, i) => i + 1),
      'sequential offsets',
    );
    assert.deepEqual(first.map((x) => x.entry.name).sort(), ['.', '..', 'a', 'b', 'c'], 'merged names');
    const rest = dir.read(2);
    assert.deepEqual(rest, first.slice(2), 'reading from an offset continues the cached list');
    core.create(d, 'new', fs.constants.O_WRONLY | fs.constants.O_CREAT, 0o644, { uid: 0, gid: 0 }).file.close();
    assert.equal(dir.read(3).length, first.length - 3, 'the cached listing is kept while reading on');
    assert.ok(dir.read(0).some((x) => x.entry.name === 'new'), 'reading from 0 rebuilds after a change');
    dir.close();
  });
});
