/**
 * repositories.json against a real dockerd 20.10, both ways:
 * 1. dockerd writes it (`docker import` under several names, `docker tag`, `docker rmi` of a
 *    tag); strata reads it, resolves every reference to dockerd's image IDs, lists an image's
 *    references in `docker inspect`'s RepoTags order, and — replaying the same tag operations into
 *    a fresh file — writes the same bytes.
 * 2. strata writes it (a new tag, a digest reference, a deleted tag) into the stopped daemon's
 *    root; dockerd started again on that root shows exactly strata's references, and what it then
 *    writes itself is what strata writes for the same operations.
 * Also: the docker CLI's and the daemon's reference errors carry strata's texts.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { startDockerd, DockerCommandError, type Dockerd } from '../oracle/dockerd.js';
import { openReferenceStore, repositoriesJsonPath, ReferenceStore } from '../../src/image/references.js';
import { parseNormalizedNamed, ReferenceError } from '../../src/image/reference/index.js';
import { sh, tempDir } from '../helpers/tmp.js';

const work = tempDir('strata-refs-docker-');
const root = path.join(work, 'root');
const jsonFile = repositoriesJsonPath(root, 'overlay2');

// A tiny layer tar made by GNU tar.
const src = path.join(work, 'src');
fs.mkdirSync(src);
fs.writeFileSync(path.join(src, 'f'), 'hi\n');
const tarBytes = sh('tar', ['--format=gnu', '--owner=0', '--group=0', '-C', src, '-cf', '-', 'f']);

let daemon: Dockerd | undefined;
after(async () => {
  await daemon?.stop();
});

/** One change to the references, as dockerd was asked for it and as strata replays it. */
type Op = { kind: 'import'; ref: string; id: string } | { kind: 'tag'; src: string; dst: string } | { kind: 'untag'; ref: string };

/** Replays `ops` into `store` the way the daemon does them (import and tag always force). */
function replay(store: ReferenceStore, ops: Op[]): void {
  for (const op of ops) {
    if (op.kind === 'import') store.addTag(op.ref, op.id, true);
    else if (op.kind === 'tag') {
      const id = store.get(op.src);
      assert.ok(id, `replay: ${op.src} resolves`);
      store.addTag(op.dst, id, true);
    } else assert.equal(store.delete(op.ref), true, `replay: untag ${op.ref}`);
  }
}

async function run(d: Dockerd, ops: Op[], op: Op): Promise<void> {
  if (op.kind === 'import') {
    op.id = (await d.docker(['import', '-', op.ref], { input: tarBytes })).stdout.toString().trim();
    assert.match(op.id, /^sha256:[0-9a-f]{64}$/);
  } else if (op.kind === 'tag') await d.docker(['tag', op.src, op.dst]);
  else await d.docker(['rmi', op.ref]);
  ops.push(op);
}

const phase1: Op[] = [];
let repoTagsOfA: string[] = [];
let imageIdOfA = '';

test('dockerd writes repositories.json; strata reads it and lists references in RepoTags order', { timeout: 60_000 }, async () => {
  daemon = await startDockerd({ dataRoot: root });
  const d = daemon;
  for (const ref of ['a', 'a:2', 'myreg.example:5000/team/app:v1', 'user/app']) await run(d, phase1, { kind: 'import', ref, id: '' });
  const tags: [string, string][] = [
    ['a', 'zz'],
    ['a', 'localhost:5000/q'],
    ['a', 'user/app:x'],
    ['a', 'a:1'],
    ['a:2', 'a:1'], // moves a:1 (the daemon always forces)
    ['a', 'index.docker.io/library/busybox:1'], // stored as busybox:1
    ['myreg.example:5000/team/app:v1', 'docker.io/user/app:y'],
    ['a:2', 'gone'],
  ];
  for (const [s, t] of tags) await run(d, phase1, { kind: 'tag', src: s, dst: t });
  await run(d, phase1, { kind: 'untag', ref: 'gone' }); // the image keeps its other names
  imageIdOfA = phase1[0]!.kind === 'import' ? phase1[0]!.id : '';
  repoTagsOfA = JSON.parse((await d.docker(['image', 'inspect', '--format', '{{json .RepoTags}}', imageIdOfA])).stdout.toString()) as string[];
  await d.stop();
  daemon = undefined;

  const text = fs.readFileSync(jsonFile, 'utf8');
  assert.equal(fs.statSync(jsonFile).mode & 0o777, 0o600);
  const store = openReferenceStore(jsonFile);
  assert.equal(store.marshal(), text, 'strata re-marshals dockerd’s bytes unchanged');
  assert.deepEqual(Object.keys(store.repositories()), ['a', 'busybox', 'localhost:5000/q', 'myreg.example:5000/team/app', 'user/app', 'zz']);
  assert.ok(!text.includes('gone'), 'the untagged repository is gone from the file');
  const ids = new Map(phase1.flatMap((o) => (o.kind === 'import' ? [[o.ref, o.id] as const] : [])));
  assert.equal(store.get('a'), ids.get('a'));
  assert.equal(store.get('a:latest'), ids.get('a'));
  assert.equal(store.get('docker.io/library/a:2'), ids.get('a:2'));
  assert.equal(store.get('a:1'), ids.get('a:2'));
  assert.equal(store.get('busybox:1'), ids.get('a'));
  assert.equal(store.get('myreg.example:5000/team/app:v1'), ids.get('myreg.example:5000/team/app:v1'));
  assert.equal(store.get('user/app'), ids.get('user/app'));
  assert.equal(store.get('user/app:y'), ids.get('myreg.example:5000/team/app:v1'));
  assert.equal(store.get('gone'), undefined);
  // docker inspect's RepoTags is moby's References(id) order: sorted by the full name.
  assert.deepEqual(repoTagsOfA, ['a:latest', 'busybox:1', 'zz:latest', 'user/app:x', 'localhost:5000/q:latest']);
  assert.deepEqual(store.references(imageIdOfA).map((r) => r.familiarString()), repoTagsOfA);
});

test('strata replaying the same operations into a fresh file writes dockerd’s bytes', () => {
  const file = path.join(tempDir('strata-refs-replay-'), 'repositories.json');
  const store = openReferenceStore(file, { create: true });
  replay(store, phase1);
  assert.equal(fs.readFileSync(file, 'utf8'), fs.readFileSync(jsonFile, 'utf8'));
  assert.equal(fs.statSync(file).mode & 0o777, 0o600);
});

test('strata writes repositories.json; dockerd started on that root shows strata’s references', { timeout: 60_000 }, async () => {
  const fakeManifest = 'sha256:' + 'ab'.repeat(32);
  const store = openReferenceStore(jsonFile);
  const idA = store.get('a')!;
  const idA2 = store.get('a:2')!;
  store.addTag('strata/added:yes', idA);
  store.addTag('localhost:5000/strata', idA2);
  store.addDigest(`a@${fakeManifest}`, idA);
  assert.equal(store.delete('user/app:x'), true);
  assert.equal(store.delete('zz'), true); // zz's only tag: the key "zz" disappears

  daemon = await startDockerd({ dataRoot: root });
  const d = daemon;
  const list = (await d.docker(['images', '--digests', '--format', '{{.Repository}}|{{.Tag}}|{{.Digest}}|{{.ID}}'])).stdout.toString().trim().split('\n').sort();
  const short = (id: string) => id.slice(7, 19);
  assert.deepEqual(list, [
    `a|1|<none>|${short(idA2)}`,
    `a|2|<none>|${short(idA2)}`,
    `a|latest|${fakeManifest}|${short(idA)}`,
    `busybox|1|<none>|${short(idA)}`,
    `localhost:5000/q|latest|<none>|${short(idA)}`,
    `localhost:5000/strata|latest|<none>|${short(idA2)}`,
    `myreg.example:5000/team/app|v1|<none>|${short(store.get('myreg.example:5000/team/app:v1')!)}`,
    `strata/added|yes|<none>|${short(idA)}`,
    `user/app|latest|<none>|${short(store.get('user/app')!)}`,
    `user/app|y|<none>|${short(store.get('user/app:y')!)}`,
  ]);
  const repoTags = JSON.parse((await d.docker(['image', 'inspect', '--format', '{{json .RepoTags}}', 'strata/added:yes'])).stdout.toString());
  assert.deepEqual(repoTags, ['a:latest', 'busybox:1', 'strata/added:yes', 'localhost:5000/q:latest']);
  const [tagsJson, digestsJson] = (await d.docker(['image', 'inspect', '--format', '{{json .RepoTags}}\n{{json .RepoDigests}}', idA])).stdout.toString().trim().split('\n');
  assert.deepEqual(JSON.parse(tagsJson!), store.references(idA).filter((r) => r.digest === undefined).map((r) => r.familiarString()));
  assert.deepEqual(JSON.parse(digestsJson!), [`a@${fakeManifest}`]);

  // dockerd changes it again; strata does the same to its own copy: same bytes.
  const phase2: Op[] = [];
  await run(d, phase2, { kind: 'tag', src: 'strata/added:yes', dst: 'strata/added:2' });
  await run(d, phase2, { kind: 'untag', ref: 'strata/added:yes' });
  await run(d, phase2, { kind: 'tag', src: 'a:2', dst: 'zz' });
  await d.stop();
  daemon = undefined;
  const mine = openReferenceStore(path.join(tempDir('strata-refs-replay-'), 'repositories.json'));
  for (const refs of Object.values(store.repositories())) {
    for (const [ref, id] of Object.entries(refs)) {
      if (ref.includes('@')) mine.addDigest(ref, id);
      else mine.addTag(ref, id);
    }
  }
  replay(mine, phase2);
  assert.equal(fs.readFileSync(jsonFile, 'utf8'), mine.marshal());
  assert.deepEqual(openReferenceStore(jsonFile).references(idA).map(String), [
    'docker.io/library/a:latest',
    `docker.io/library/a@${fakeManifest}`,
    'docker.io/library/busybox:1',
    'docker.io/strata/added:2',
    'localhost:5000/q:latest',
  ]);
});

test('the docker CLI and the daemon refuse references with strata’s texts', { timeout: 60_000 }, async () => {
  daemon = await startDockerd({ dataRoot: root });
  const d = daemon;
  const bad = [
    'Docker/docker',
    'FOO/bar',
    'Up:tag',
    'a::b',
    '-a',
    'a/b/',
    'a:' + 't'.repeat(129),
    'x'.repeat(250),
    'f'.repeat(64),
    `a@sha256:${'f'.repeat(34)}`,
    `a@md5:${'f'.repeat(64)}`,
    `a@sha256:${'F'.repeat(64)}`,
    '\u0130',
  ];
  for (const target of bad) {
    let mine: ReferenceError | undefined;
    try {
      parseNormalizedNamed(target);
    } catch (e) {
      mine = e as ReferenceError;
    }
    assert.ok(mine instanceof ReferenceError, `strata refuses ${target}`);
    await assert.rejects(d.docker(['tag', 'a', target]), (e: unknown) => {
      assert.ok(e instanceof DockerCommandError);
      assert.equal(e.stderr.trim(), `Error parsing reference: ${JSON.stringify(target)} is not a valid repository/tag: ${mine!.message}`);
      return true;
    });
  }
  // Refused by the reference store inside the daemon, and by the client for a digest target.
  await assert.rejects(d.docker(['tag', 'a', 'sha256:abc']), (e: unknown) => {
    assert.equal((e as DockerCommandError).stderr.trim(), 'Error response from daemon: refusing to create an ambiguous tag using digest algorithm as name');
    return true;
  });
  await assert.rejects(d.docker(['tag', 'a', `a@sha256:${'f'.repeat(64)}`]), (e: unknown) => {
    assert.equal((e as DockerCommandError).stderr.trim(), 'refusing to create a tag with a digest reference');
    return true;
  });
  const store = openReferenceStore(path.join(tempDir('strata-refs-replay-'), 'repositories.json'));
  assert.throws(() => store.addTag('sha256:abc', 'sha256:' + 'f'.repeat(64)), /^ReferenceStoreError: refusing to create an ambiguous tag using digest algorithm as name$/);
  assert.throws(() => store.addTag(`a@sha256:${'f'.repeat(64)}`, 'sha256:' + 'f'.repeat(64)), /^ReferenceStoreError: refusing to create a tag with a digest reference$/);
  await d.stop();
  daemon = undefined;
});
