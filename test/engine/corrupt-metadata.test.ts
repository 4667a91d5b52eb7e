/**
 * Issue 7 part 6 — corrupted metadata: on a data root with four images sharing layers and three
 * containers, each kind of damage is made on a copy, and then:
 * - opening reports what the layerdb and imagedb show (load problems), and every image and
 *   container that does not depend on the damage still works (save, a new container mounted,
 *   an existing container mounted) — checked on a second copy, since mounting changes the tree;
 * - `strata fsck` exits 1 naming each damaged entry with the images (and containers) needing it;
 * - `strata fsck --repair --json` removes exactly the damaged entries and what depends on them
 *   (child layers, RW layers, images, tags, containers), and the tree afterwards differs from the
 *   one before only by those entries' paths (directory mtimes aside, `repositories.json` by the
 *   removed tags); then `strata fsck` is clean and loading the removed images again works;
 * - a repair SIGKILLed at steps spread over its whole run leaves a store that opens, and running
 *   it again ends with the tree an uninterrupted repair leaves.
 *
 *   A = [base, a1]      a:1    (no container)
 *   B = [base, a1, b2]  b:1    web-b
 *   C = [base, c1]      c:1    web-c
 *   D = [other]         d:1    web-d
 *
 * Runs as root (overlay2 mounts).
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { pipeline } from 'node:stream/promises';
import { chainIds, type Digest } from '../../src/digest/index.js';
import { diffIdsOf } from '../../src/image/config.js';
import { openReferenceStore } from '../../src/image/references.js';
import { ImageDb } from '../../src/image/imagedb/index.js';
import { openEngine, type Engine } from '../../src/engine/engine.js';
import { loadImages } from '../../src/engine/load/load.js';
import { createContainer, removeContainer } from '../../src/engine/container.js';
import { saveImages, saveSelection } from '../../src/engine/save.js';
import { fsck } from '../../src/engine/fsck.js';
import { imageArchive } from '../../src/engine/build.js';
import { strata } from '../helpers/cli.js';
import { sh, tempDir } from '../helpers/tmp.js';
import { snapshotTree, type Snapshot } from '../helpers/tree-snapshot.js';
import { unmountUnder } from '../oracle/dockerd.js';

const LAYERS = ['base', 'a1', 'b2', 'c1', 'other'] as const;
type LayerName = (typeof LAYERS)[number];
const IMAGES = { A: ['base', 'a1'], B: ['base', 'a1', 'b2'], C: ['base', 'c1'], D: ['other'] } as const;
type ImageName = keyof typeof IMAGES;
const TAG: Record<ImageName, string> = { A: 'a:1', B: 'b:1', C: 'c:1', D: 'd:1' };
/** A file each layer adds: what a mounted container of an image on it must show. */
const FILE: Record<LayerName, string> = { base: 'etc/base.txt', a1: 'app/a.txt', b2: 'app/b.txt', c1: 'srv/c.txt', other: 'other/o.txt' };
const CONTAINERS = { 'web-b': 'B', 'web-c': 'C', 'web-d': 'D' } as const satisfies Record<string, ImageName>;
type ContainerName = keyof typeof CONTAINERS;

interface Fixture {
  root: string;
  archive: Record<ImageName, string>;
  image: Record<ImageName, Digest>;
  chain: Record<LayerName, Digest>;
  cache: Record<LayerName, string>;
  link: Record<LayerName, string>;
  container: Record<ContainerName, { id: string; mountId: string; links: string[] }>;
}

const LAYERDB = 'image/overlay2/layerdb';
const IMAGEDB = 'image/overlay2/imagedb';
const REPOSITORIES = 'image/overlay2/repositories.json';

let fx: Fixture;
let work: string;

async function buildFixture(): Promise<Fixture> {
  work = tempDir('strata-corrupt-');
  const dirs = {} as Record<LayerName, string>;
  for (const l of LAYERS) {
    dirs[l] = path.join(work, 'src', l);
    fs.mkdirSync(path.join(dirs[l], path.dirname(FILE[l])), { recursive: true });
    fs.writeFileSync(path.join(dirs[l], FILE[l]), `${l}\n`.repeat(200));
  }
  const archive = {} as Record<ImageName, string>;
  for (const [name, layers] of Object.entries(IMAGES) as [ImageName, readonly LayerName[]][]) {
    archive[name] = path.join(work, `${name}.tar`);
    await pipeline(imageArchive({ layers: layers.map((l) => dirs[l]), tag: TAG[name], scratchDir: work }), fs.createWriteStream(archive[name]));
  }
  const root = path.join(work, 'master');
  const engine = await openEngine({ root, driver: 'overlay2' });
  try {
    const image = {} as Record<ImageName, Digest>;
    const chain = {} as Record<LayerName, Digest>;
    for (const name of Object.keys(IMAGES) as ImageName[]) {
      const [loaded] = (await loadImages(engine, archive[name])).images;
      image[name] = loaded!.id;
      const chains = chainIds(diffIdsOf(engine.images.get(loaded!.id).config));
      IMAGES[name].forEach((l, i) => (chain[l] = chains[i]!));
    }
    const cache = {} as Record<LayerName, string>;
    const link = {} as Record<LayerName, string>;
    for (const l of LAYERS) {
      cache[l] = engine.layers.layer(chain[l]).cacheId;
      link[l] = fs.readFileSync(path.join(root, 'overlay2', cache[l], 'link'), 'utf8');
    }
    const container = {} as Fixture['container'];
    for (const [name, img] of Object.entries(CONTAINERS) as [ContainerName, ImageName][]) {
      const rec = await createContainer(engine, TAG[img], { name });
      const mountId = engine.layers.getMountId(rec.id);
      const links = [mountId, `${mountId}-init`].map((id) => fs.readFileSync(path.join(root, 'overlay2', id, 'link'), 'utf8'));
      container[name] = { id: rec.id, mountId, links };
    }
    return { root, archive, image, chain, cache, link, container };
  } finally {
    await engine.close();
  }
}

function copyRoot(from: string, name: string): string {
  const to = path.join(work, name);
  sh('cp', ['-a', from, to]);
  return to;
}

function cli(args: string[]): { status: number; stdout: string; stderr: string } {
  return strata(['--root', args[0]!, ...args.slice(1)]);
}

function layerFile(root: string, l: LayerName, file: string): string {
  return path.join(root, LAYERDB, 'sha256', fx.chain[l].slice(7), file);
}

function mountFile(root: string, c: ContainerName, file: string): string {
  return path.join(root, LAYERDB, 'mounts', fx.container[c].id, file);
}

const randomDigest = (): Digest => `sha256:${crypto.randomBytes(32).toString('hex')}` as Digest;

// ---------------------------------------------------------------------------------------------
// What each kind of damage must do

interface Case {
  name: string;
  damage: (root: string) => Promise<void> | void;
  /** Load problems opening must report, as `layer <name>`, `image <name>`, `mount <container>`. */
  problems: string[];
  /** Damage fsck must name itself (beyond load problems): `<kind> <name>`. */
  fsckFinds: string[];
  /** For a damaged layer: the images fsck must list as needing it. */
  needs?: { layer: LayerName; images: ImageName[] };
  /** What the repair removes. */
  layers: LayerName[];
  images: ImageName[];
  tags: string[];
  containers: ContainerName[];
  /** Layers whose driver data stays (the repair cannot know it, or it was already gone). */
  driverDataKept?: LayerName[];
}

const CASES: Case[] = [
  {
    name: 'a truncated `size`',
    damage: (r) => fs.truncateSync(layerFile(r, 'a1', 'size'), 0),
    problems: ['layer a1', 'layer b2', 'image A', 'image B', 'mount web-b'],
    fsckFinds: [],
    needs: { layer: 'a1', images: ['A', 'B'] },
    layers: ['a1', 'b2'],
    images: ['A', 'B'],
    tags: ['a:1', 'b:1'],
    containers: ['web-b'],
  },
  {
    name: 'a garbage `size`',
    damage: (r) => fs.writeFileSync(layerFile(r, 'other', 'size'), '12kB\n'),
    problems: ['layer other', 'image D', 'mount web-d'],
    fsckFinds: [],
    needs: { layer: 'other', images: ['D'] },
    layers: ['other'],
    images: ['D'],
    tags: ['d:1'],
    containers: ['web-d'],
  },
  {
    name: 'a missing `cache-id`',
    damage: (r) => fs.rmSync(layerFile(r, 'c1', 'cache-id')),
    problems: ['layer c1', 'image C', 'mount web-c'],
    fsckFinds: [],
    needs: { layer: 'c1', images: ['C'] },
    layers: ['c1'],
    images: ['C'],
    tags: ['c:1'],
    containers: ['web-c'],
    driverDataKept: ['c1'],
  },
  {
    // Handed to overlay2, `..` would name the data root itself: such a layer does not load, and
    // its driver data is never removed.
    name: 'a `cache-id` that is not a single name',
    damage: (r) => fs.writeFileSync(layerFile(r, 'other', 'cache-id'), '..'),
    problems: ['layer other', 'image D', 'mount web-d'],
    fsckFinds: [],
    needs: { layer: 'other', images: ['D'] },
    layers: ['other'],
    images: ['D'],
    tags: ['d:1'],
    containers: ['web-d'],
    driverDataKept: ['other'],
  },
  {
    name: 'a `cache-id` naming a driver dir that is missing',
    damage: (r) => fs.rmSync(path.join(r, 'overlay2', fx.cache.a1), { recursive: true }),
    problems: [],
    fsckFinds: ['layer a1'],
    needs: { layer: 'a1', images: ['A', 'B'] },
    layers: ['a1', 'b2'],
    images: ['A', 'B'],
    tags: ['a:1', 'b:1'],
    containers: ['web-b'],
    driverDataKept: ['a1'],
  },
  {
    name: 'a `parent` that points nowhere',
    damage: (r) => fs.writeFileSync(layerFile(r, 'b2', 'parent'), randomDigest()),
    problems: ['layer b2', 'image B', 'mount web-b'],
    fsckFinds: [],
    needs: { layer: 'b2', images: ['B'] },
    layers: ['b2'],
    images: ['B'],
    tags: ['b:1'],
    containers: ['web-b'],
  },
  {
    name: 'a garbage `tar-split.json.gz`',
    damage: (r) => fs.writeFileSync(layerFile(r, 'c1', 'tar-split.json.gz'), crypto.randomBytes(300)),
    problems: [],
    fsckFinds: ['layer c1'],
    needs: { layer: 'c1', images: ['C'] },
    layers: ['c1'],
    images: ['C'],
    tags: ['c:1'],
    containers: ['web-c'],
  },
  {
    name: 'a missing `diff`',
    damage: (r) => fs.rmSync(layerFile(r, 'base', 'diff')),
    problems: ['layer base', 'layer a1', 'layer b2', 'layer c1', 'image A', 'image B', 'image C', 'mount web-b', 'mount web-c'],
    fsckFinds: [],
    needs: { layer: 'base', images: ['A', 'B', 'C'] },
    layers: ['base', 'a1', 'b2', 'c1'],
    images: ['A', 'B', 'C'],
    tags: ['a:1', 'b:1', 'c:1'],
    containers: ['web-b', 'web-c'],
  },
  {
    name: "a layer whose files changed (fsck's hash check)",
    damage: (r) => fs.appendFileSync(path.join(r, 'overlay2', fx.cache.a1, 'diff', FILE.a1), 'changed\n'),
    problems: [],
    fsckFinds: ['layer a1'],
    needs: { layer: 'a1', images: ['A', 'B'] },
    layers: ['a1', 'b2'],
    images: ['A', 'B'],
    tags: ['a:1', 'b:1'],
    containers: ['web-b'],
  },
  {
    name: 'a truncated imagedb config',
    damage: (r) => {
      const f = path.join(r, IMAGEDB, 'content/sha256', fx.image.C.slice(7));
      fs.truncateSync(f, Math.floor(fs.statSync(f).size / 2));
    },
    problems: ['image C'],
    fsckFinds: [],
    layers: [],
    images: ['C'],
    tags: ['c:1'],
    containers: [], // a container outlives its image's config, as after `docker rmi -f`
  },
  {
    name: 'a repositories.json entry naming a missing image',
    damage: (r) => void openReferenceStore(path.join(r, REPOSITORIES)).addTag('ghost:1', randomDigest()),
    problems: [],
    fsckFinds: ['reference ghost:1'],
    layers: [],
    images: [],
    tags: ['ghost:1'],
    containers: [],
  },
  {
    name: 'an RW layer without `mount-id`',
    damage: (r) => fs.rmSync(mountFile(r, 'web-c', 'mount-id')),
    problems: ['mount web-c'],
    fsckFinds: [],
    layers: [],
    images: [],
    tags: [],
    containers: ['web-c'],
  },
  {
    name: 'an RW layer without `init-id`',
    damage: (r) => fs.rmSync(mountFile(r, 'web-b', 'init-id')),
    problems: [],
    fsckFinds: ['mount web-b'],
    layers: [],
    images: [],
    tags: [],
    containers: ['web-b'],
  },
  {
    name: 'an RW layer without `parent`',
    damage: (r) => fs.rmSync(mountFile(r, 'web-d', 'parent')),
    problems: [],
    fsckFinds: ['mount web-d'],
    layers: [],
    images: [],
    tags: [],
    containers: ['web-d'],
  },
  {
    name: 'an RW layer whose parent layer is gone',
    damage: (r) => fs.writeFileSync(mountFile(r, 'web-d', 'parent'), randomDigest()),
    problems: ['mount web-d'],
    fsckFinds: [],
    layers: [],
    images: [],
    tags: [],
    containers: ['web-d'],
  },
  {
    name: 'a container record whose RW layer is gone',
    damage: async (r) => {
      const engine = await openEngine({ root: r, driver: 'overlay2' });
      try {
        await engine.layers.releaseRWLayer(engine.layers.getRWLayer(fx.container['web-c'].id));
      } finally {
        await engine.close();
      }
    },
    problems: [],
    fsckFinds: ['container web-c'],
    layers: [],
    images: [],
    tags: [],
    containers: ['web-c'],
  },
];

// ---------------------------------------------------------------------------------------------
// Checks

const layerName = (chain: string) => LAYERS.find((l) => fx.chain[l] === chain) ?? chain;
const imageName = (id: string) => (Object.keys(fx.image) as ImageName[]).find((n) => fx.image[n] === id) ?? id;
const containerName = (id: string) => (Object.keys(fx.container) as ContainerName[]).find((n) => fx.container[n].id === id) ?? id;
const sorted = (a: Iterable<string>) => [...a].sort();

async function withEngine<T>(root: string, readOnly: boolean, f: (e: Engine) => Promise<T>): Promise<T> {
  const engine = await openEngine({ root, driver: 'overlay2', readOnly });
  try {
    return await f(engine);
  } finally {
    await engine.close();
  }
}

async function drain(chunks: AsyncIterable<Buffer>): Promise<number> {
  let n = 0;
  for await (const c of chunks) n += c.length;
  return n;
}

/** What opening reports, in the cases' names. */
async function problemsOf(root: string): Promise<string[]> {
  return withEngine(root, true, async (e) =>
    sorted([
      ...e.layers.problems.map((p) => (p.kind === 'layer' ? `layer ${layerName(p.name)}` : p.kind === 'mount' ? `mount ${containerName(p.name)}` : `entry ${p.name}`)),
      ...e.images.problems.map((p) => `image ${imageName(p.id)}`),
    ]),
  );
}

/**
 * Everything that does not depend on the damage works: every image saves (its layers verified),
 * every container mounts, and so does a new container of A (the image without one).
 */
async function assertOthersWork(root: string, c: Case): Promise<void> {
  await withEngine(root, false, async (e) => {
    for (const name of Object.keys(IMAGES) as ImageName[]) {
      if (c.images.includes(name)) continue;
      const bytes = await drain(saveImages(e, saveSelection(e, [TAG[name]]), { format: 'docker' }));
      assert.ok(bytes > 0, `${c.name}: image ${name} saves`);
      if (name !== 'A') continue;
      const rec = await createContainer(e, TAG[name], { name: `check-${name}` });
      const rw = e.layers.getRWLayer(rec.id);
      const dir = await rw.mount();
      for (const l of IMAGES[name]) assert.equal(fs.readFileSync(path.join(dir, FILE[l]), 'utf8'), `${l}\n`.repeat(200), `${c.name}: a new container of ${name} shows ${FILE[l]}`);
      await rw.unmount();
      await removeContainer(e, rec.id);
    }
    for (const name of Object.keys(CONTAINERS) as ContainerName[]) {
      if (c.containers.includes(name)) continue;
      const rw = e.layers.getRWLayer(fx.container[name].id);
      const dir = await rw.mount();
      const top = IMAGES[CONTAINERS[name]].at(-1)!;
      assert.ok(fs.existsSync(path.join(dir, FILE[top])), `${c.name}: container ${name} mounts and shows ${FILE[top]}`);
      await rw.unmount();
    }
  });
}

/** The paths a repair of `c` removes (relative to the root), as prefixes. */
function removedPaths(c: Case): string[] {
  const out: string[] = [];
  for (const l of c.layers) {
    out.push(`${LAYERDB}/sha256/${fx.chain[l].slice(7)}`);
    if (!c.driverDataKept?.includes(l)) out.push(`overlay2/${fx.cache[l]}`, `overlay2/l/${fx.link[l]}`);
  }
  for (const i of c.images) out.push(`${IMAGEDB}/content/sha256/${fx.image[i].slice(7)}`, `${IMAGEDB}/metadata/sha256/${fx.image[i].slice(7)}`);
  for (const n of c.containers) {
    const { id, mountId, links } = fx.container[n];
    out.push(`strata/containers/${id}.json`);
    // A container whose RW layer was removed before (the last case) has no RW layer paths left.
    out.push(`${LAYERDB}/mounts/${id}`, `overlay2/${mountId}`, `overlay2/${mountId}-init`, ...links.map((k) => `overlay2/l/${k}`));
  }
  return out;
}

const under = (rel: string, prefixes: string[]) => prefixes.some((p) => rel === p || rel.startsWith(`${p}/`));

/** The tree after differs from the one before only by `removed` (directory mtimes and the removed tags aside). */
function assertOnlyRemoved(before: Snapshot, afterSnap: Snapshot, removed: string[], what: string): void {
  const problems: string[] = [];
  for (const rel of before.keys()) {
    const gone = !afterSnap.has(rel);
    if (gone && !under(rel, removed)) problems.push(`removed but not expected: ${rel}`);
    if (!gone && removed.includes(rel)) problems.push(`expected removed, still there: ${rel}`);
  }
  for (const [rel, e] of afterSnap) {
    const b = before.get(rel);
    if (!b) {
      problems.push(`new: ${rel}`);
      continue;
    }
    if (rel === REPOSITORIES) continue; // compared by content
    const strip = (x: typeof e) => JSON.stringify({ ...x, mtimeNs: x.type === 'dir' ? '' : x.mtimeNs });
    if (strip(b) !== strip(e)) problems.push(`changed: ${rel}: ${strip(b)} -> ${strip(e)}`);
  }
  assert.deepEqual(problems, [], `${what}: the tree changed beyond the removed entries`);
}

function repositories(root: string): Record<string, Record<string, string>> {
  return JSON.parse(fs.readFileSync(path.join(root, REPOSITORIES), 'utf8')).Repositories;
}

function flatTags(repos: Record<string, Record<string, string>>): Map<string, string> {
  return new Map(Object.values(repos).flatMap((r) => Object.entries(r)));
}

interface RepairJson {
  removed: { kind: string; id: string; name?: string }[];
  leftAlone: unknown[];
}

async function runCase(c: Case, i: number): Promise<void> {
  const root = copyRoot(fx.root, `case-${i}`);
  await c.damage(root);

  // Opening reports what the metadata shows; the rest keeps working.
  assert.deepEqual(await problemsOf(root), sorted(c.problems), `${c.name}: the load problems`);
  await assertOthersWork(copyRoot(root, `case-${i}-works`), c);

  // fsck names each damaged entry and who needs it (`strata fsck`'s exit code and text: below,
  // and in the all-at-once test).
  const report = await withEngine(root, true, (e) => fsck(e));
  const named = new Set(report.damaged.map((d) => `${d.kind} ${d.kind === 'layer' ? layerName(d.id) : d.kind === 'image' ? imageName(d.id) : d.kind === 'mount' ? containerName(d.id) : d.id}`));
  for (const want of [...c.problems, ...c.fsckFinds]) assert.ok(named.has(want), `${c.name}: fsck names ${want}; it named ${sorted(named).join(', ')}`);
  if (c.needs) {
    const d = report.damaged.find((x) => x.kind === 'layer' && x.id === fx.chain[c.needs!.layer]);
    assert.deepEqual(sorted((d?.images ?? []).map(imageName)), sorted(c.needs.images), `${c.name}: the images needing layer ${c.needs.layer}`);
  }
  const text = c.fsckFinds.length ? cli([root, 'fsck']) : undefined;
  if (text) assert.equal(text.status, 1, `${c.name}: strata fsck exits 1`);
  for (const want of c.fsckFinds) {
    const [kind, name] = want.split(' ');
    const id = kind === 'layer' ? fx.chain[name as LayerName] : kind === 'mount' ? fx.container[name as ContainerName].id : name!;
    assert.match(text!.stdout, new RegExp(`^damaged ${kind} ${id.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: `, 'm'), `${c.name}: fsck's text names ${want}`);
  }

  // The repair removes exactly the damage and its dependants.
  const before = snapshotTree(root);
  const reposBefore = repositories(root);
  const repaired = cli([root, '--json', 'fsck', '--repair']);
  assert.equal(repaired.status, 0, `${c.name}: fsck --repair exits 0: ${repaired.stderr}`);
  const { removed, leftAlone } = JSON.parse(repaired.stdout) as RepairJson;
  assert.deepEqual(leftAlone, [], `${c.name}: nothing left alone`);
  const of = (kind: string, name: (id: string) => string = (id) => id) =>
    sorted(removed.filter((a) => a.kind === kind).map((a) => (kind === 'container' ? a.name! : name(a.id))));
  assert.deepEqual(of('layer', layerName), sorted(c.layers), `${c.name}: the layers removed`);
  assert.deepEqual(of('image', imageName), sorted(c.images), `${c.name}: the images removed`);
  assert.deepEqual(of('reference'), sorted(c.tags), `${c.name}: the tags removed`);
  assert.deepEqual(of('container'), sorted(c.containers), `${c.name}: the containers removed`);
  const mounts = c.containers.filter((n) => before.has(`${LAYERDB}/mounts/${fx.container[n].id}`));
  assert.deepEqual(of('mount', containerName), sorted(mounts), `${c.name}: the RW layers removed`);
  assertOnlyRemoved(before, snapshotTree(root), removedPaths(c), c.name);
  const tagsLeft = flatTags(reposBefore);
  for (const t of c.tags) tagsLeft.delete(t);
  assert.deepEqual(flatTags(repositories(root)), tagsLeft, `${c.name}: repositories.json lost exactly the removed tags`);

  // Clean afterwards, and the removed images load again.
  await withEngine(root, false, async (e) => {
    assert.deepEqual((await fsck(e)).damaged, [], `${c.name}: fsck after the repair is clean`);
    for (const name of c.images) {
      const [loaded] = (await loadImages(e, fx.archive[name])).images;
      assert.equal(loaded!.id, fx.image[name], `${c.name}: ${name} loads again with its ID`);
    }
    assert.deepEqual((await fsck(e)).damaged, [], `${c.name}: fsck after the re-load is clean`);
    for (const name of c.images) assert.ok((await drain(saveImages(e, saveSelection(e, [TAG[name]]), { format: 'docker' }))) > 0, `${c.name}: ${name} saves after the re-load`);
  });
}

// ---------------------------------------------------------------------------------------------

describe('corrupted metadata: load problems, fsck, fsck --repair', { timeout: 600_000 }, () => {
  before(async () => {
    fx = await buildFixture();
  });
  after(() => {
    if (work) unmountUnder([work]);
  });

  CASES.forEach((c, i) => test(c.name, () => runCase(c, i)));

  test('a root with every kind of damage at once: repair prints each removal, and a second run finds nothing', () => {
    const root = copyRoot(fx.root, 'all');
    fs.writeFileSync(layerFile(root, 'b2', 'size'), 'x');
    fs.writeFileSync(layerFile(root, 'c1', 'tar-split.json.gz'), 'not gzip');
    fs.rmSync(mountFile(root, 'web-d', 'init-id'));
    openReferenceStore(path.join(root, REPOSITORIES)).addTag('ghost:1', randomDigest());
    fs.mkdirSync(path.join(root, LAYERDB, 'sha256', 'not-a-layer'));
    ImageDb.open(path.join(root, IMAGEDB)).setParent(fx.image.D, fx.image.C); // as a commit of C would record
    const checked = cli([root, 'fsck']);
    assert.equal(checked.status, 1, `fsck exits 1: ${checked.stderr}`);
    const short = (id: string) => id.slice(7, 19);
    for (const e of [
      `damaged layer ${fx.chain.b2}: layerdb ${fx.chain.b2} size: invalid size value "x": strconv.ParseInt: invalid syntax (needed by image ${short(fx.image.B)}, container web-b)`,
      `damaged layer ${fx.chain.c1}: tar-split: `,
      `damaged mount ${fx.container['web-d'].id}: init-id is missing, but its init layer overlay2/${fx.container['web-d'].mountId}-init exists`,
      `damaged mount ${fx.container['web-b'].id}: depends on ${fx.chain.b2}, which did not load`,
      `damaged image ${fx.image.B}: layer ${fx.chain.b2} does not exist`,
      `damaged reference ghost:1: names image sha256:`,
      `damaged entry sha256/not-a-layer: not a sha256 hex name`,
      'checked 4 layers (',
    ]) {
      assert.ok(checked.stdout.split('\n').some((l) => l.startsWith(e)), `fsck's output has a line starting ${JSON.stringify(e)}:\n${checked.stdout}`);
    }
    assert.match(checked.stdout, new RegExp(`^damaged layer ${fx.chain.c1}: .*\\(needed by image ${short(fx.image.C)}, container web-c\\)$`, 'm'), 'c1 names image C and container web-c');
    const r = cli([root, 'fsck', '--repair']);
    assert.equal(r.status, 1, `an entry that is not a layer is left alone: exit 1: ${r.stderr}`);
    const lines = r.stdout.split('\n');
    const expect = [
      `removed read-write layer ${fx.container['web-b'].id}: depends on ${fx.chain.b2}, which did not load`,
      `removed read-write layer ${fx.container['web-c'].id}: sits on layer ${fx.chain.c1}, which is removed`,
      `removed read-write layer ${fx.container['web-d'].id}: init-id is missing, but its init layer overlay2/${fx.container['web-d'].mountId}-init exists`,
      `untagged b:1: its image ${fx.image.B} is removed`,
      `untagged c:1: its image ${fx.image.C} is removed`,
      `untagged ghost:1: names image `,
      `removed image ${fx.image.B}: `,
      `removed image ${fx.image.C}: uses layer ${fx.chain.c1}, which is removed`,
      `removed layer ${fx.chain.b2}: layerdb ${fx.chain.b2} size: invalid size value "x": strconv.ParseInt: invalid syntax`,
      `removed layer ${fx.chain.c1}: `,
      `cleared the parent of image ${fx.image.D}: its parent image ${fx.image.C} is removed`,
      `repaired: 14 removals; 1 damaged entry left alone (not a layer or read-write layer: remove by hand)`,
    ];
    for (const e of expect) assert.ok(lines.some((l) => l.startsWith(e)), `the output has a line starting ${JSON.stringify(e)}:\n${r.stdout}`);
    for (const n of ['web-b', 'web-c', 'web-d']) {
      assert.ok(lines.some((l) => l.startsWith(`removed container ${n} (${fx.container[n as ContainerName].id.slice(0, 12)}): its read-write layer`)), `container ${n} removed:\n${r.stdout}`);
    }
    fs.rmdirSync(path.join(root, LAYERDB, 'sha256', 'not-a-layer'));
    const again = cli([root, 'fsck', '--repair']);
    assert.equal(again.status, 0, `the second run: ${again.stderr}`);
    assert.match(again.stdout, /all good\nnothing to repair\n$/, 'the second run has nothing to do');
    const images = JSON.parse(cli([root, '--json', 'images']).stdout) as { id: string }[];
    assert.deepEqual(sorted(images.map((i) => imageName(i.id))), ['A', 'D'], 'A and D stay');
    assert.equal(fs.existsSync(path.join(root, IMAGEDB, 'metadata/sha256', fx.image.D.slice(7), 'parent')), false, "D's link to the removed C is gone");
  });

  test('a repair killed at any point leaves a store that opens; running it again finishes', async () => {
    const damaged = copyRoot(fx.root, 'kill-src');
    fs.writeFileSync(layerFile(damaged, 'a1', 'size'), '');
    fs.writeFileSync(layerFile(damaged, 'c1', 'tar-split.json.gz'), 'not gzip');
    fs.rmSync(mountFile(damaged, 'web-d', 'init-id'));
    fs.writeFileSync(layerFile(damaged, 'other', 'cache-id'), '..'); // never handed to the driver
    openReferenceStore(path.join(damaged, REPOSITORIES)).addTag('ghost:1', randomDigest());

    const child = path.join(path.dirname(new URL(import.meta.url).pathname), 'corrupt-metadata-child.ts');
    const runChild = (root: string, killAt: number) =>
      spawnSync(process.execPath, ['--import', 'tsx', child, root, String(killAt)], { encoding: 'utf8' });

    const whole = copyRoot(damaged, 'kill-whole');
    const full = runChild(whole, 1e9);
    assert.equal(full.status, 0, `an uninterrupted repair: ${full.stderr}`);
    const steps = Number(/^steps (\d+)$/m.exec(full.stdout)?.[1]);
    assert.ok(steps > 20, `the repair has steps to kill at: ${full.stdout}`);
    assert.equal(cli([whole, 'fsck']).status, 0, 'an uninterrupted repair leaves fsck clean');
    assert.ok(fs.existsSync(path.join(whole, 'overlay2', fx.cache.base, 'diff')), 'the layers that stay keep their data');
    const wholeTree = snapshotTree(whole);

    const points = [...new Set(Array.from({ length: 8 }, (_, k) => 1 + Math.floor((k * (steps - 1)) / 7)))];
    for (const n of points) {
      const root = copyRoot(damaged, `kill-${n}`);
      const killed = runChild(root, n);
      assert.equal(killed.signal, 'SIGKILL', `killed at step ${n}: ${killed.stdout}${killed.stderr}`);
      // The store opens, and every image it lists has its layers.
      const missing = await withEngine(root, true, async (e) => e.images.images().filter((i) => i.topChainId && !e.layers.has(i.topChainId)).map((i) => i.id));
      assert.deepEqual(missing, [], `after a kill at step ${n} (${killed.stdout.trim()}) the store opens, its images whole`);
      const again = cli([root, 'fsck', '--repair']);
      assert.equal(again.status, 0, `after a kill at step ${n}: the second repair: ${again.stdout}${again.stderr}`);
      assert.deepEqual(await withEngine(root, true, async (e) => (await fsck(e)).damaged), [], `after a kill at step ${n}: fsck is clean`);
      const diff: string[] = [];
      const tree = snapshotTree(root);
      for (const rel of new Set([...tree.keys(), ...wholeTree.keys()])) {
        const [a, b] = [tree.get(rel), wholeTree.get(rel)];
        // Directories' mtimes, and repositories.json's (rewritten with the same bytes), tell when, not what.
        const strip = (x: typeof a) => (x ? JSON.stringify({ ...x, mtimeNs: x.type === 'dir' || rel === REPOSITORIES ? '' : x.mtimeNs }) : 'absent');
        if (strip(a) !== strip(b)) diff.push(`${rel}: ${strip(a)} (killed at ${n}) vs ${strip(b)} (uninterrupted)`);
      }
      assert.deepEqual(diff, [], `after a kill at step ${n} (${killed.stdout.trim()}) and a second run: the uninterrupted repair's tree`);
    }
  });
});
