/**
 * The data root every engine crash trial starts from (a copy of it: `cp -a` keeps the overlay
 * xattrs), the archives and tar the verbs read, and the verbs themselves as `strata` arguments.
 *
 * The template holds images sharing a base layer, containers on them, a dangling image made by a
 * commit, and one layer nothing holds (as `strata layer add` leaves it):
 *
 *   app:1    [base, app]           c1 (files changed in its RW layer), c3
 *   other:1  [base, other]         c2
 *   lone:1   [lone1, lone2]        (nothing else uses its layers)
 *   <none>   [base, app, c1's]     committed from c1, untagged, child of app:1
 *   layer    [base, extra]         no image, no holder
 *
 * The load archive brings new:1 [base, newA] (shares the base), new:2 [newB, newC] and a new
 * other:1 [base, other2] — its tag moves off the template's other:1.
 */
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { pipeline } from 'node:stream/promises';
import { openEngine, loadImages, createContainer, commitContainer, imageArchive, saveImages, saveSelection } from '../../src/engine/index.js';
import { chainIds, type Digest } from '../../src/digest/index.js';
import { diffIdsOf } from '../../src/image/config.js';
import { buildTar, chunks } from '../layer/store-crash-shared.js';

/** The verbs the trials kill, as `strata` arguments (`{archive}` etc. filled in by `verbArgs`). */
export const VERBS = ['load', 'load-gz', 'commit', 'create', 'rm', 'rmi', 'prune', 'layer-add', 'layer-rm'] as const;
export type Verb = (typeof VERBS)[number];

export interface Fixture {
  /** The prepared data root (copy it; never change it). */
  template: string;
  archive: string;
  archiveGz: string;
  /** A layer tar for `layer add`. */
  layerTar: string;
  /** ChainID of the base layer (the parent for `layer add`). */
  baseChain: Digest;
  /** ChainID of the unheld layer (`layer rm`). */
  unheldChain: Digest;
}

export function verbArgs(f: Fixture, verb: Verb): string[] {
  switch (verb) {
    case 'load':
      return ['load', '-q', '-i', f.archive];
    case 'load-gz':
      return ['load', '-q', '-i', f.archiveGz]; // compressed: spooled into <root>/tmp first
    case 'commit':
      return ['commit', 'c1', 'app:2', '-m', 'crash'];
    case 'create':
      return ['create', 'app:1', '--name', 'c4'];
    case 'rm':
      return ['rm', 'c3'];
    case 'rmi':
      return ['rmi', 'lone:1'];
    case 'prune':
      return ['prune', '-a'];
    case 'layer-add':
      return ['layer', 'add', f.layerTar, '--parent', f.baseChain];
    case 'layer-rm':
      return ['layer', 'rm', f.unheldChain];
  }
}

/** A directory tree of small files (and one of ~200 KB, so that applying it takes a moment). */
function tree(dir: string, files: Record<string, string | number>): string {
  for (const [rel, content] of Object.entries(files)) {
    const p = path.join(dir, rel);
    fs.mkdirSync(path.dirname(p), { recursive: true });
    fs.writeFileSync(p, typeof content === 'number' ? Buffer.alloc(content, rel) : content);
  }
  return dir;
}

async function writeArchive(out: string, layers: string[], tag: string, scratchDir: string): Promise<string> {
  await pipeline(imageArchive({ layers, tag, scratchDir }), fs.createWriteStream(out));
  return out;
}

/** Builds everything under `work` (an empty directory on a filesystem overlay2 can use). */
export async function buildFixture(work: string): Promise<Fixture> {
  const src = path.join(work, 'src');
  const base = tree(path.join(src, 'base'), { 'etc/motd': 'hello\n', 'etc/os-release': 'ID=crash\n', 'usr/lib/big': 200_000, 'bin/tool': 3000 });
  const dirs = {
    app: tree(path.join(src, 'app'), { 'srv/index.html': '<h1>app</h1>\n', 'srv/data': 50_000 }),
    other: tree(path.join(src, 'other'), { 'opt/other/readme': 'other\n' }),
    lone1: tree(path.join(src, 'lone1'), { 'lone/a': 'a\n', 'lone/big': 120_000 }),
    lone2: tree(path.join(src, 'lone2'), { 'lone/b': 'b\n' }),
    newA: tree(path.join(src, 'newA'), { 'srv/new-a': 80_000 }),
    newB: tree(path.join(src, 'newB'), { 'etc/b': 'b\n', 'usr/b': 150_000 }),
    newC: tree(path.join(src, 'newC'), { 'usr/c': 'c\n' }),
    other2: tree(path.join(src, 'other2'), { 'opt/other/readme': 'other, second edition\n' }),
  };
  const archives = path.join(work, 'archives');
  fs.mkdirSync(archives);
  const one = (name: string, layers: string[], tag: string) => writeArchive(path.join(archives, `${name}.tar`), layers, tag, work);

  // The template root.
  const template = path.join(work, 'template');
  const engine = await openEngine({ root: template, driver: 'overlay2' });
  let baseChain: Digest;
  let unheldChain: Digest;
  try {
    await loadImages(engine, await one('app', [base, dirs.app], 'app:1'));
    await loadImages(engine, await one('other', [base, dirs.other], 'other:1'));
    await loadImages(engine, await one('lone', [dirs.lone1, dirs.lone2], 'lone:1'));
    const c1 = await createContainer(engine, 'app:1', { name: 'c1' });
    await createContainer(engine, 'other:1', { name: 'c2' });
    await createContainer(engine, 'app:1', { name: 'c3' });
    const rw = engine.layers.getRWLayer(c1.id);
    const rootfs = await rw.mount();
    fs.writeFileSync(path.join(rootfs, 'etc/motd'), 'changed by c1\n');
    fs.mkdirSync(path.join(rootfs, 'var/log'), { recursive: true });
    fs.writeFileSync(path.join(rootfs, 'var/log/c1.log'), Buffer.alloc(60_000, 'log '));
    fs.rmSync(path.join(rootfs, 'bin/tool'));
    await commitContainer(engine, 'c1', { comment: 'dangling' });
    fs.writeFileSync(path.join(rootfs, 'srv/index.html'), '<h1>edited after the first commit</h1>\n');
    await rw.unmount(); // the handle goes with the store, as a CLI's does: releasing it would delete the RW layer
    const app = engine.images.get(engine.images.resolve('app:1'));
    baseChain = chainIds(diffIdsOf(app.config))[0]!;
    const extra = buildTar([{ name: 'extra', kind: 'dir' }, { name: 'extra/file', kind: 'file', content: Buffer.alloc(40_000, 'x') }], 1_700_000_000);
    // Not released: as `strata layer add` leaves it, held by nothing once the store closes.
    unheldChain = (await engine.layers.register(chunks(extra), baseChain)).chainId;
  } finally {
    await engine.close();
  }

  // The archive the load verbs read: three images, saved together from a scratch root.
  const scratch = path.join(work, 'scratch-root');
  const s = await openEngine({ root: scratch, driver: 'overlay2' });
  const archive = path.join(work, 'load.tar');
  try {
    await loadImages(s, await one('new1', [base, dirs.newA], 'new:1'));
    await loadImages(s, await one('new2', [dirs.newB, dirs.newC], 'new:2'));
    await loadImages(s, await one('other2', [base, dirs.other2], 'other:1'));
    await pipeline(saveImages(s, saveSelection(s, ['new:1', 'new:2', 'other:1']), { format: 'docker' }), fs.createWriteStream(archive));
  } finally {
    await s.close();
  }
  const archiveGz = `${archive}.gz`;
  await pipeline(fs.createReadStream(archive), zlib.createGzip(), fs.createWriteStream(archiveGz));
  const layerTar = path.join(work, 'layer.tar');
  fs.writeFileSync(layerTar, buildTar([{ name: 'added', kind: 'dir' }, { name: 'added/file', kind: 'file', content: Buffer.alloc(30_000, 'added') }], 1_700_000_000));
  return { template, archive, archiveGz, layerTar, baseChain, unheldChain };
}
