/**
 * Deep stacks: a 125-layer image with a container layer (Docker's own limit region) and a
 * 500-layer stack (the kernel's limit, only mountable through `lowerdir+`). Every layer adds a
 * file; some layers whiteout an earlier layer's file; the top merged view must show exactly the
 * survivors. Mount timings are reported as diagnostics for the bench.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { openOverlay2, type Overlay2Driver } from '../../src/driver/overlay2/index.js';
import * as sys from '../../src/sys/index.js';
import { scratchRoot, mountAt, mountsUnder } from './overlay2-helpers.js';

const { root, dispose } = scratchRoot('strata-ov2-deep-');
after(dispose);

/** Builds `n` layers L0..L(n-1); layer i adds f<i>, and every 7th layer whites out f<i-3>. */
/** A driver on `<root>/<sub>/overlay2` (the data root must exist, as for dockerd). */
function open(sub: string, extras = {}): Promise<Overlay2Driver> {
  fs.mkdirSync(path.join(root, sub), { recursive: true });
  return openOverlay2(path.join(root, sub, 'overlay2'), [], extras);
}

async function buildStack(d: Overlay2Driver, prefix: string, n: number): Promise<Set<string>> {
  const expected = new Set<string>();
  let parent = '';
  for (let i = 0; i < n; i++) {
    const id = `${prefix}${i}`;
    await d.create(id, parent);
    const diff = path.join(d.home, id, 'diff');
    fs.writeFileSync(path.join(diff, `f${i}`), `${i}\n`);
    expected.add(`f${i}`);
    if (i >= 3 && i % 7 === 0) {
      sys.mknod(path.join(diff, `f${i - 3}`), sys.constants.S_IFCHR, 0, 0);
      expected.delete(`f${i - 3}`);
    }
    parent = id;
  }
  return expected;
}

function timed<T>(f: () => Promise<T>): Promise<[T, number]> {
  const t0 = process.hrtime.bigint();
  return f().then((v) => [v, Number(process.hrtime.bigint() - t0) / 1e6]);
}

test('125-layer image + RW layer: mounts (lowerdir+ beyond a page), reads correctly; timings', async (t) => {
  const d = await open('a');
  const expected = await buildStack(d, 'L', 125);
  await d.createReadWrite('rw', 'L124');
  assert.equal(fs.readFileSync(path.join(d.home, 'rw', 'lower'), 'utf8').split(':').length, 125);
  const [m, ms] = await timed(() => d.get('rw'));
  try {
    assert.equal(d.mountMethods.get(m), 'lowerdir+');
    assert.deepEqual(new Set(fs.readdirSync(m)), expected);
    for (const f of expected) assert.equal(fs.readFileSync(path.join(m, f), 'utf8'), `${f.slice(1)}\n`);
    assert.ok(mountAt(m)!.superOptions.includes('upperdir='));
  } finally {
    await d.put('rw');
  }
  // Read-only mount of the committed top image layer (125 lowers incl. its own diff).
  const [mr, msRo] = await timed(() => d.get('L124'));
  try {
    assert.deepEqual(new Set(fs.readdirSync(mr)), expected);
  } finally {
    await d.put('L124');
  }
  // The same stack through dockerd's relative-path fallback (mount(8) run in home).
  const docker = await openOverlay2(d.home, [], { lowerdirPlus: false });
  const [mrel, msRel] = await timed(() => docker.get('rw'));
  try {
    assert.equal(docker.mountMethods.get(mrel), 'relative');
    assert.deepEqual(new Set(fs.readdirSync(mrel)), expected);
  } finally {
    await docker.put('rw');
  }
  // A short stack, for scale: the plain mount(2) path.
  const [, msSmall] = await timed(() => d.get('L5'));
  assert.equal(d.mountMethods.get(path.join(d.home, 'L5', 'merged')), 'mount');
  await d.put('L5');
  t.diagnostic(`get 125+1 layers: lowerdir+ RW ${ms.toFixed(2)} ms, lowerdir+ RO ${msRo.toFixed(2)} ms, relative mount(8) ${msRel.toFixed(2)} ms; 6 layers mount(2) ${msSmall.toFixed(2)} ms`);
  assert.deepEqual(mountsUnder(d.home), []);
});

test('500-layer stack mounts through lowerdir+ (RW 499 lowers + upper, RO 500 lowers); 501 is max depth', async (t) => {
  const d = await open('b');
  const t0 = Date.now();
  const expected = await buildStack(d, 'L', 500);
  t.diagnostic(`created 500 layers in ${Date.now() - t0} ms`);
  assert.equal(fs.readFileSync(path.join(d.home, 'L499', 'lower'), 'utf8').split(':').length, 499);
  const [m, ms] = await timed(() => d.get('L499'));
  try {
    assert.equal(d.mountMethods.get(m), 'lowerdir+');
    assert.deepEqual(new Set(fs.readdirSync(m)), expected);
    fs.writeFileSync(path.join(m, 'top-write'), 'ok');
    assert.equal(fs.readFileSync(path.join(d.home, 'L499', 'diff', 'top-write'), 'utf8'), 'ok');
    fs.rmSync(path.join(m, 'top-write'));
    fs.rmSync(path.join(m, 'f0')); // a whiteout from the top over the bottom layer
    assert.ok(fs.lstatSync(path.join(d.home, 'L499', 'diff', 'f0')).isCharacterDevice());
    expected.delete('f0');
  } finally {
    await d.put('L499');
  }
  // A child would need 500 lower entries: refused — but, as in moby, L499 got `committed` first.
  await assert.rejects(d.create('L500', 'L499'), { message: 'max depth exceeded' });
  assert.ok(fs.existsSync(path.join(d.home, 'L499', 'committed')));
  assert.equal(fs.existsSync(path.join(d.home, 'L500')), false);
  const [mr, msRo] = await timed(() => d.get('L499'));
  try {
    assert.deepEqual(new Set(fs.readdirSync(mr)), expected);
    assert.ok(!mountAt(mr)!.superOptions.includes('upperdir='));
  } finally {
    await d.put('L499');
  }
  t.diagnostic(`get 500 layers: lowerdir+ RW ${ms.toFixed(2)} ms, RO ${msRo.toFixed(2)} ms`);
  assert.deepEqual(mountsUnder(d.home), []);
});
