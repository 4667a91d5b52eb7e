/**
 * overlay2 against Docker's layout and behaviour (spec §5): byte-exact layer dirs, get/put
 * counting, read-only vs RW mount options as the kernel reports them, applyDiff/diff, errors.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { openOverlay2, initOverlay2, generateLinkId, base32, type Overlay2Driver } from '../../src/driver/overlay2/index.js';
import { NotSupportedError } from '../../src/driver/driver.js';
import { TarReader } from '../../src/archive/index.js';
import * as sys from '../../src/sys/index.js';
import { collect, listTar } from '../helpers/layertar.js';
import { scratchRoot, mountAt, tarOf, put, listTree, mountsUnder } from './overlay2-helpers.js';

const { root, dispose } = scratchRoot('strata-ov2-');
after(dispose);
const home = path.join(root, 'overlay2');
let d: Overlay2Driver;

const mode = (p: string) => fs.lstatSync(p).mode & 0o7777;
const LINK_RE = /^[A-Z2-7]{26}$/;

test('init: home 0710, l/ 0700, no scratch dirs left, status in dockerd order', async () => {
  d = await openOverlay2(home, []);
  assert.equal(mode(home), 0o710);
  assert.equal(mode(path.join(home, 'l')), 0o700);
  assert.deepEqual(fs.readdirSync(home), ['l']);
  assert.deepEqual(fs.readdirSync(root), ['overlay2']); // check-overlayfs-support* was in root, removed
  const st = d.status();
  assert.deepEqual(st.map(([k]) => k), ['Backing Filesystem', 'Supports d_type', 'Native Overlay Diff', 'userxattr']);
  assert.equal(st[0]![1], 'extfs');
  assert.equal(st[2]![1], 'true'); // kernel 6.18, redirect_dir off by default
  assert.equal(st[3]![1], 'false');
  assert.equal(d.config.indexOff, 'index=off,');
  assert.equal(d.config.lowerdirPlus, true);
  assert.equal(d.config.maxDepth, 499);
  assert.ok(d.capabilities().nativeDiff);
});

test('link IDs: 17 random bytes → base32 → first 26 chars', () => {
  assert.equal(base32(Buffer.from('foobar')), 'MZXW6YTBOI');
  const id = generateLinkId(() => Buffer.alloc(17, 0xff));
  assert.equal(id, '7'.repeat(26));
  assert.match(generateLinkId(), LINK_RE);
});

test('layout of a 3-layer chain and an RW layer is Docker\'s', async () => {
  await d.create('A', '');
  await d.create('B', 'A');
  await d.create('C', 'B');
  await d.createReadWrite('M', 'C');
  const link = (id: string) => fs.readFileSync(path.join(home, id, 'link'), 'utf8');
  for (const id of ['A', 'B', 'C', 'M']) {
    const dir = path.join(home, id);
    assert.equal(mode(dir), 0o710);
    assert.equal(mode(path.join(dir, 'diff')), 0o755);
    assert.equal(mode(path.join(dir, 'link')), 0o644);
    assert.match(link(id), LINK_RE);
    assert.equal(fs.readlinkSync(path.join(home, 'l', link(id))), `../${id}/diff`);
  }
  assert.deepEqual(fs.readdirSync(path.join(home, 'A')).sort(), ['committed', 'diff', 'link']);
  assert.deepEqual(fs.readdirSync(path.join(home, 'B')).sort(), ['committed', 'diff', 'link', 'lower', 'work']);
  assert.deepEqual(fs.readdirSync(path.join(home, 'C')).sort(), ['committed', 'diff', 'link', 'lower', 'work']);
  assert.deepEqual(fs.readdirSync(path.join(home, 'M')).sort(), ['diff', 'link', 'lower', 'work']);
  assert.equal(mode(path.join(home, 'B', 'work')), 0o700);
  assert.equal(mode(path.join(home, 'A', 'committed')), 0o600);
  assert.equal(fs.statSync(path.join(home, 'A', 'committed')).size, 0);
  assert.equal(fs.readFileSync(path.join(home, 'B', 'lower'), 'utf8'), `l/${link('A')}`);
  assert.equal(fs.readFileSync(path.join(home, 'C', 'lower'), 'utf8'), `l/${link('B')}:l/${link('A')}`);
  assert.equal(fs.readFileSync(path.join(home, 'M', 'lower'), 'utf8'), `l/${link('C')}:l/${link('B')}:l/${link('A')}`);
  assert.equal(mode(path.join(home, 'M', 'lower')), 0o644);
  assert.deepEqual(await d.metadata('M'), {
    LowerDir: ['C', 'B', 'A'].map((i) => path.join(home, i, 'diff')).join(':'),
    MergedDir: path.join(home, 'M', 'merged'),
    UpperDir: path.join(home, 'M', 'diff'),
    WorkDir: path.join(home, 'M', 'work'),
  });
  assert.deepEqual(await d.metadata('A'), {
    MergedDir: path.join(home, 'A', 'merged'),
    UpperDir: path.join(home, 'A', 'diff'),
    WorkDir: path.join(home, 'A', 'work'),
  });
  assert.equal(await d.exists('B'), true);
  assert.equal(await d.exists('nope'), false);
  await assert.rejects(d.metadata('nope'), /ENOENT/);
  await assert.rejects(d.create('X', 'missing-parent'), /ENOENT/);
  assert.equal(fs.existsSync(path.join(home, 'X')), false);
});

test('applyDiff converts whiteouts; the merged views hide what they delete', async () => {
  const sizeA = await d.applyDiff('A', '', tarOf((s) => {
    put(s, 'etc/motd', 'hello\n');
    put(s, 'etc/keep', 'keep\n');
    put(s, 'var/cache/a', 'a\n');
    put(s, 'var/cache/b', 'b\n');
    fs.symlinkSync('etc/motd', path.join(s, 'motd-link'));
  }));
  assert.equal(sizeA, 6 + 5 + 2 + 2 + 8);
  await d.applyDiff('B', 'A', tarOf((s) => {
    put(s, 'etc/.wh.motd', '');
    put(s, 'var/cache/.wh..wh..opq', '');
    put(s, 'var/cache/c', 'c\n');
    put(s, 'new.txt', 'new\n');
  }));
  const motd = fs.lstatSync(path.join(home, 'B/diff/etc/motd'));
  assert.ok(motd.isCharacterDevice());
  assert.equal(motd.rdev, 0);
  assert.equal(motd.mode & 0o7777, 0);
  assert.equal(sys.lgetxattr(path.join(home, 'B/diff/var/cache'), 'trusted.overlay.opaque')?.toString(), 'y');
  await d.applyDiff('C', 'B', tarOf((s) => put(s, 'c.txt', 'c\n')));

  const mc = await d.get('C');
  try {
    assert.equal(mc, path.join(home, 'C', 'merged'));
    assert.deepEqual(listTree(mc), ['c.txt', 'etc', 'etc/keep', 'motd-link', 'new.txt', 'var', 'var/cache', 'var/cache/c']);
  } finally {
    await d.put('C');
  }
});

test('get/put: base layer is its diff dir; counting; RO vs RW mount options; last put unmounts and removes merged/', async () => {
  assert.equal(await d.get('A'), path.join(home, 'A', 'diff'));
  await d.put('A');
  assert.equal(mountAt(path.join(home, 'A', 'diff')), undefined);

  const merged = path.join(home, 'M', 'merged');
  const p1 = await d.get('M');
  const p2 = await d.get('M');
  try {
    assert.equal(p1, merged);
    assert.equal(p2, merged);
    assert.equal(mode(merged), 0o755); // the mount's root is diff/'s mode; merged/ itself was 0700
    const m = mountAt(merged)!;
    assert.equal(m.fsType, 'overlay');
    const links = fs.readFileSync(path.join(home, 'M', 'lower'), 'utf8').split(':');
    const opts = m.superOptions.split(',');
    assert.ok(opts.includes(`lowerdir=${links.map((l) => path.join(home, l)).join(':')}`), m.superOptions);
    assert.ok(opts.includes(`upperdir=${path.join(home, 'M', 'diff')}`));
    assert.ok(opts.includes(`workdir=${path.join(home, 'M', 'work')}`));
    assert.ok(m.mountOptions.startsWith('rw'));
    fs.writeFileSync(path.join(merged, 'written'), 'x');
    assert.equal(fs.readFileSync(path.join(home, 'M', 'diff', 'written'), 'utf8'), 'x');
    assert.equal(fs.lstatSync(path.join(home, 'M', 'work', 'work')).mode & 0o7777, 0);
    await d.put('M');
    assert.ok(mountAt(merged), 'still mounted after the first put');
  } finally {
    await d.put('M');
  }
  assert.equal(mountAt(merged), undefined);
  assert.equal(fs.existsSync(merged), false);

  // C has `committed`: read-only, its own diff first, no upper.
  const mc = await d.get('C');
  try {
    const m = mountAt(mc)!;
    const links = fs.readFileSync(path.join(home, 'C', 'lower'), 'utf8').split(':');
    const lower = [path.join(home, 'C', 'diff'), ...links.map((l) => path.join(home, l))].join(':');
    assert.ok(m.superOptions.split(',').includes(`lowerdir=${lower}`), m.superOptions);
    assert.ok(!m.superOptions.includes('upperdir='));
    assert.throws(() => fs.writeFileSync(path.join(mc, 'nope'), 'x'), /EROFS/);
  } finally {
    await d.put('C');
  }
  assert.deepEqual(mountsUnder(home), []);
});

test('a restarted driver recognises an existing mount (statfs magic) and the last put unmounts it', async () => {
  const merged = await d.get('M');
  const d2 = await openOverlay2(home, []);
  assert.equal(await d2.get('M'), merged); // counter starts at 1 for the existing mount → 2
  await d2.put('M');
  assert.ok(mountAt(merged));
  await d2.put('M');
  assert.equal(mountAt(merged), undefined);
  await d.put('M'); // the old instance's put: nothing left to unmount
});

test('diff: native tar of diff/ with whiteouts; round trip into a fresh layer; diffSize; changes', async () => {
  const tar = await collect(d.diff('B', 'A'));
  const names = (await listTar(tar)).map((e) => e.header.name);
  assert.deepEqual(names, ['etc/', 'etc/.wh.motd', 'new.txt', 'var/', 'var/cache/', 'var/cache/.wh..wh..opq', 'var/cache/c']);
  await d.create('B2', 'A');
  const size = await d.applyDiff('B2', 'A', new TarReader([tar]));
  assert.equal(size, await d.diffSize('B', 'A'));
  assert.equal(size, 4 + 2);
  const again = await collect(d.diff('B2', 'A'));
  assert.equal((await listTar(again)).map((e) => e.header.name).join(), names.join());
  const ch = await d.changes('B2', 'A');
  assert.deepEqual(ch.map((c) => `${c.kind} ${c.path}`), ['C /etc', 'D /etc/motd', 'A /new.txt', 'C /var', 'C /var/cache', 'D /var/cache/a', 'D /var/cache/b', 'A /var/cache/c']);
  assert.deepEqual(mountsUnder(home), []);
});

test('naive paths: diff against a non-parent, diffSize, applyDiff into a mounted RW layer', async () => {
  const tar = await collect(d.diff('C', 'A')); // not C's parent → ChangesDirs + ExportChanges
  const names = (await listTar(tar)).map((e) => e.header.name).sort();
  assert.deepEqual(names, ['c.txt', 'etc/', 'etc/.wh.motd', 'new.txt', 'var/', 'var/cache/', 'var/cache/.wh.a', 'var/cache/.wh.b', 'var/cache/c']);
  assert.equal(await d.diffSize('C', 'A'), 2 + 4 + 2);
  await d.createReadWrite('R', 'C');
  const n = await d.applyDiff('R', 'A', tarOf((s) => { put(s, 'x', 'xyz'); put(s, '.wh.new.txt', ''); }));
  assert.equal(n, 3);
  const m = await d.get('R');
  try {
    assert.equal(fs.existsSync(path.join(m, 'new.txt')), false);
    assert.equal(fs.readFileSync(path.join(m, 'x'), 'utf8'), 'xyz');
  } finally {
    await d.put('R');
  }
});

test('errors: storage opts, empty remove, max depth, mount failure text', async () => {
  await assert.rejects(d.create('S', '', { storageOpt: { size: '10M' } }), { message: '--storage-opt size is only supported for ReadWrite Layers' });
  await assert.rejects(d.createReadWrite('S', '', { storageOpt: { size: '10M' } }), { message: "--storage-opt is supported only for overlay over xfs with 'pquota' mount option" });
  await assert.rejects(d.create('S', '', { storageOpt: { foo: 'x' } }), { message: 'Unknown option foo' });
  assert.equal(fs.existsSync(path.join(home, 'S')), false);
  await assert.rejects(d.remove(''), { message: 'refusing to remove the directories: id is empty' });
  await assert.rejects(openOverlay2(home, ['overlay2.bogus=1']), { message: 'overlay2: unknown option overlay2.bogus' });
  await assert.rejects(openOverlay2(home, ['overlay2.size']), { message: 'Unable to parse key/value option: overlay2.size' });

  // Docker's limit without lowerdir+: 128 lower entries.
  const docker = await openOverlay2(home, [], { lowerdirPlus: false });
  assert.equal(docker.config.maxDepth, 128);
  let parent = '';
  for (let i = 0; i <= 128; i++) {
    await docker.create(`deep${i}`, parent);
    parent = `deep${i}`;
  }
  assert.equal(fs.readFileSync(path.join(home, 'deep128', 'lower'), 'utf8').split(':').length, 128);
  await assert.rejects(docker.create('deep129', 'deep128'), { message: 'max depth exceeded' });
  // 128 lowers without lowerdir+: dockerd's relative form, mounted by mount(8) from home.
  const m = await docker.get('deep128');
  try {
    assert.equal(docker.mountMethods.get(m), 'relative');
    assert.ok(mountAt(m)!.superOptions.includes('lowerdir=deep128/diff:l/'));
  } finally {
    await docker.put('deep128');
  }
  for (let i = 128; i >= 0; i--) await docker.remove(`deep${i}`);

  // A mount the kernel refuses: a lower that vanished.
  await d.create('broken', 'C');
  await d.createReadWrite('brokentop', 'broken');
  fs.rmSync(path.join(home, 'broken', 'diff'), { recursive: true });
  await assert.rejects(d.get('brokentop'), (e: Error) => {
    assert.equal(e.message, `error creating overlay mount to ${path.join(home, 'brokentop', 'merged')}: no such file or directory`);
    return true;
  });
  assert.equal(fs.existsSync(path.join(home, 'brokentop', 'merged')), false);
});

test('remove: l/ link and the dir go, even while mounted; cleanup unmounts everything', async () => {
  const link = fs.readFileSync(path.join(home, 'R', 'link'), 'utf8');
  await d.get('R');
  await d.remove('R');
  assert.equal(fs.existsSync(path.join(home, 'R')), false);
  assert.equal(fs.existsSync(path.join(home, 'l', link)), false);
  await d.remove('R'); // missing is fine
  await d.get('M');
  await d.get('C');
  assert.equal(mountsUnder(home).length, 2);
  await d.cleanup();
  assert.deepEqual(mountsUnder(home), []);
});

test('init refuses where overlay cannot mount: NotSupportedError', async () => {
  // overlay cannot use an overlay mount as its upper layer's filesystem... use a FUSE-less trick:
  // a test dir on a read-only bind mount makes the scratch mkdir fail.
  const ro = path.join(root, 'ro');
  fs.mkdirSync(ro);
  sys.mount(ro, ro, null, sys.constants.MS_BIND);
  try {
    sys.mount(null, ro, null, sys.constants.MS_REMOUNT | sys.constants.MS_BIND | sys.constants.MS_RDONLY);
    await assert.rejects(initOverlay2(path.join(ro, 'overlay2'), []), (e: Error) => e instanceof NotSupportedError && /^driver not supported/.test(e.message));
  } finally {
    sys.umount2(ro, sys.constants.MNT_DETACH);
  }
});
