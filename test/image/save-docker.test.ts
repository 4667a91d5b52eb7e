/**
 * dockerSaveArchive against dockerd 20.10's `docker save`:
 * - one image: the whole archive byte-identical to the fixture's `docker save` output (names,
 *   order, every header, json/config/manifest.json/repositories and layer.tar bytes);
 * - two images sharing their bottom layer: union of the layer directories, the shared DiffID
 *   written once and symlinked (`layer.tar -> ../<v1id>/layer.tar`) as save.go does, one
 *   manifest.json and repositories — and, with a private dockerd, its own `docker save` of the
 *   same two images compared member by member (the order it happened to pick is read from its
 *   archive, since dockerd iterates a Go map);
 * - the archive loads into dockerd 20.10 (same image IDs) and a container runs from it;
 * - streaming: a 1 GiB layer passes through in bounded memory, a stream longer or shorter than
 *   its `tarSize` fails with LAYER_SIZE_MISMATCH, abort stops it; bad input is refused up front.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { TarType } from '../../src/archive/tar/index.js';
import { type Digest, chainIds, sha256Of } from '../../src/digest/index.js';
import { isStrataError } from '../../src/errors/index.js';
import { marshalImageConfig, newImageConfig, parseImageConfig } from '../../src/image/config.js';
import { dockerSaveArchive, type DockerSaveOptions } from '../../src/image/archive/docker-save.js';
import type { SaveImage, SaveLayer } from '../../src/image/archive/save-types.js';
import { dockerFixture, type FixtureImage } from '../oracle/fixtures.js';
import { startDockerd, type Dockerd } from '../oracle/dockerd.js';
import { tempDir } from '../helpers/tmp.js';
import { collect } from '../helpers/layertar.js';
import { fixtureImage, tarMembers, type TarMember } from '../helpers/save-images.js';

// ---------------------------------------------------------------------------------------------
// Helpers

type Member = TarMember;
const members = tarMembers;

function byName(ms: Member[]): Map<string, Member> {
  return new Map(ms.map((m) => [m.name, m]));
}

/** The one entry of a fixture's manifest.json, as its exact JSON text. */
function manifestEntryText(im: FixtureImage): string {
  const text = fs.readFileSync(path.join(im.savedDir, 'manifest.json'), 'utf8');
  assert.ok(text.startsWith('[') && text.endsWith(']\n'), `${im.ref}: manifest.json is a list with a newline`);
  return text.slice(1, -2);
}

/**
 * A synthetic one-layer image whose layer yields chunks of the given sizes (slices of one buffer,
 * or with `fresh` a new buffer each, so that holding on to them would show in RSS).
 */
function syntheticImage(opts: { tarSize: number; chunks: number[]; fresh?: boolean; onClose?: () => void; repoTags?: string[] }): SaveImage {
  const diffId = sha256Of(`synthetic ${opts.tarSize}`);
  const config = newImageConfig({ architecture: 'amd64', os: 'linux', created: '2021-02-03T04:05:06.7Z', rootfs: { type: 'layers', diff_ids: [diffId] } });
  const configBytes = marshalImageConfig(config);
  const big = Buffer.alloc(Math.max(0, ...opts.chunks), 0x61);
  const layer: SaveLayer = {
    diffId,
    chainId: chainIds([diffId])[0]!,
    tarSize: opts.tarSize,
    async *tarStream() {
      try {
        for (const n of opts.chunks) yield opts.fresh ? Buffer.alloc(n, 0x61) : big.subarray(0, n);
      } finally {
        opts.onClose?.();
      }
    },
  };
  return { id: sha256Of(configBytes), configBytes, config: parseImageConfig(configBytes), repoTags: opts.repoTags ?? ['synthetic:1'], layers: [layer] };
}

// One dockerd for the whole file (started on first use).
let daemon: Promise<Dockerd> | undefined;
function dockerd(): Promise<Dockerd> {
  daemon ??= startDockerd();
  return daemon;
}
after(async () => {
  if (daemon) await (await daemon).stop();
});

// ---------------------------------------------------------------------------------------------
// One image: dockerd's bytes

test('one image: byte-identical to dockerd 20.10\'s `docker save` archive (base and built)', async () => {
  const fx = await dockerFixture();
  for (const im of [fx.images.base, fx.images.built]) {
    let progress = 0;
    const ours = await collect(dockerSaveArchive([fixtureImage(im)], { onProgress: (n) => (progress = n) }));
    const theirs = fs.readFileSync(im.savedArchive);
    assert.equal(progress, ours.length, `${im.ref}: onProgress ends at the archive length`);
    // Member by member first, so a difference is named.
    const [a, b] = [await members(ours), await members(theirs)];
    assert.deepEqual(a.map((m) => m.name), b.map((m) => m.name), `${im.ref}: member names and order`);
    for (let i = 0; i < a.length; i++) {
      assert.ok(a[i]!.raw.equals(b[i]!.raw), `${im.ref}: header of ${a[i]!.name}`);
      assert.ok(a[i]!.content.equals(b[i]!.content), `${im.ref}: content of ${a[i]!.name}`);
    }
    assert.ok(ours.equals(theirs), `${im.ref}: ${ours.length} vs ${theirs.length} bytes, whole archive identical`);
  }
});

test('one image: layer.tar members hash to their DiffIDs; a name-only or registry tag is written as dockerd does', async () => {
  const fx = await dockerFixture();
  const img = fixtureImage(fx.images.base, ['busybox', 'example.com/a/b:1', 'docker.io/library/busybox:latest']);
  const ms = byName(await members(await collect(dockerSaveArchive([img]))));
  for (const l of fx.images.base.layers) assert.equal(sha256Of(ms.get(l.savedLayerMember)!.content), l.diffId, `${l.savedLayerMember}: sha256 = DiffID`);
  const top = fx.images.base.layers[0]!.savedLayerMember.split('/')[0]!;
  assert.equal(
    ms.get('manifest.json')!.content.toString(),
    `[{"Config":"${fx.images.base.id.slice(7)}.json","RepoTags":["busybox:latest","example.com/a/b:1"],"Layers":["${top}/layer.tar"]}]\n`,
    'RepoTags: familiar, tagged, without repeats',
  );
  assert.equal(ms.get('repositories')!.content.toString(), `{"busybox":{"latest":"${top}"},"example.com/a/b":{"1":"${top}"}}\n`, 'repositories');
});

test('untagged image: RepoTags null and no repositories file', async () => {
  const fx = await dockerFixture();
  const ms = byName(await members(await collect(dockerSaveArchive([fixtureImage(fx.images.base, [])]))));
  assert.ok(!ms.has('repositories'), 'no repositories member');
  assert.match(ms.get('manifest.json')!.content.toString(), /^\[\{"Config":"[0-9a-f]{64}\.json","RepoTags":null,"Layers":\["[0-9a-f]{64}\/layer\.tar"\]\}\]\n$/, 'RepoTags null');
});

// ---------------------------------------------------------------------------------------------
// Two images

test('two images sharing a layer: one archive, the shared DiffID written once and symlinked', async () => {
  const fx = await dockerFixture();
  const [base, built] = [fx.images.base, fx.images.built];
  const now = 1_800_000_000;
  const ours = await collect(dockerSaveArchive([fixtureImage(base), fixtureImage(built)], { now }));
  const ms = await members(ours);
  const map = byName(ms);
  // Every member of each single-image archive is here (the shared layer as a symlink in built's dir).
  const baseDir = base.layers[0]!.savedLayerMember.split('/')[0]!;
  const builtBottom = built.layers[0]!.savedLayerMember.split('/')[0]!;
  assert.notEqual(baseDir, builtBottom, 'the shared layer has two V1 IDs (top of base, bottom of built)');
  const expected = new Set<string>();
  for (const im of [base, built]) for (const m of await members(fs.readFileSync(im.savedArchive))) if (!/^(manifest\.json|repositories)$/.test(m.name)) expected.add(m.name);
  expected.add('manifest.json').add('repositories');
  assert.deepEqual(ms.map((m) => m.name).sort(), [...expected].sort(), 'member names: the union');
  const link = map.get(`${builtBottom}/layer.tar`)!;
  assert.equal(link.type, TarType.Symlink, 'built\'s bottom layer.tar is a symlink');
  assert.equal(link.linkname, `../${baseDir}/layer.tar`, 'to base\'s layer.tar');
  assert.equal(link.mode, 0o120777, 'symlink mode');
  for (const n of [`${builtBottom}/`, `${builtBottom}/VERSION`, `${builtBottom}/json`, `${builtBottom}/layer.tar`]) {
    assert.equal(map.get(n)!.mtime, now, `${n}: save.go sets no time on a symlinked layer's dir: now`);
  }
  // Every regular file's bytes equal dockerd's (from the single-image saves).
  for (const im of [base, built]) {
    for (const m of await members(fs.readFileSync(im.savedArchive))) {
      if (m.type !== TarType.Reg || /^(manifest\.json|repositories)$/.test(m.name) || m.name === `${builtBottom}/layer.tar`) continue;
      assert.ok(map.get(m.name)!.content.equals(m.content), `${m.name}: same bytes as dockerd's`);
      if (!m.name.startsWith(`${builtBottom}/`)) assert.equal(map.get(m.name)!.mtime, m.mtime, `${m.name}: same mtime as dockerd's`);
    }
  }
  assert.equal(map.get('manifest.json')!.content.toString(), `[${manifestEntryText(base)},${manifestEntryText(built)}]\n`, 'manifest.json: both entries');
  const repos = (im: FixtureImage) => fs.readFileSync(path.join(im.savedDir, 'repositories'), 'utf8').slice(1, -2);
  assert.equal(map.get('repositories')!.content.toString(), `{${repos(base)},${repos(built)}}\n`, 'repositories: both names');

  // The other order: built's layer is the real one, base's the symlink.
  const rev = byName(await members(await collect(dockerSaveArchive([fixtureImage(built), fixtureImage(base)], { now }))));
  assert.equal(rev.get(`${baseDir}/layer.tar`)!.linkname, `../${builtBottom}/layer.tar`, 'reversed: base links to built\'s');
  assert.equal(rev.get(`${builtBottom}/layer.tar`)!.type, TarType.Reg, 'reversed: built holds the tar');
  assert.equal(rev.get('manifest.json')!.content.toString(), `[${manifestEntryText(built)},${manifestEntryText(base)}]\n`, 'reversed manifest order');
});

test('the same image twice is saved once with both tags; Parent only when the parent is saved too', async () => {
  const fx = await dockerFixture();
  const { base, built } = fx.images;
  const twice = byName(await members(await collect(dockerSaveArchive([fixtureImage(base, ['a:1']), fixtureImage(base, ['b:2', 'a:1'])]))));
  assert.match(twice.get('manifest.json')!.content.toString(), /^\[\{"Config":"[^"]+","RepoTags":\["a:1","b:2"\],"Layers":\[[^\]]+\]\}\]\n$/, 'one entry, both tags');
  const child = { ...fixtureImage(built), parent: base.id as Digest };
  const withParent = byName(await members(await collect(dockerSaveArchive([fixtureImage(base), child]))));
  const m = JSON.parse(withParent.get('manifest.json')!.content.toString()) as { Parent?: string }[];
  assert.equal(m[1]!.Parent, base.id, 'Parent of built is base');
  assert.ok(withParent.get('manifest.json')!.content.toString().includes(`"Layers":[`) && /"\],"Parent":"sha256:[0-9a-f]{64}"\}\]\n$/.test(withParent.get('manifest.json')!.content.toString()), 'Parent after Layers');
  const alone = JSON.parse(byName(await members(await collect(dockerSaveArchive([child])))).get('manifest.json')!.content.toString()) as { Parent?: string }[];
  assert.equal(alone[0]!.Parent, undefined, 'no Parent when the parent is not in the archive');
});

// ---------------------------------------------------------------------------------------------
// dockerd: load ours, save theirs

test('dockerd 20.10 loads the two-image archive: same IDs, and a container runs from it', async () => {
  const fx = await dockerFixture();
  const d = await dockerd();
  const file = path.join(tempDir('strata-save-'), 'both.tar');
  fs.writeFileSync(file, await collect(dockerSaveArchive([fixtureImage(fx.images.base), fixtureImage(fx.images.built)])));
  const out = (await d.docker(['load', '-i', file])).stdout.toString();
  assert.match(out, /Loaded image: strata-oracle\/base:1/, `load output: ${out}`);
  assert.match(out, /Loaded image: strata-oracle\/built:1/, `load output: ${out}`);
  for (const im of [fx.images.base, fx.images.built]) {
    const id = (await d.docker(['image', 'inspect', '--format', '{{.Id}}', im.ref])).stdout.toString().trim();
    assert.equal(id, im.id, `${im.ref}: image ID after load`);
  }
  const ctx = fs.readFileSync(path.join(fx.contextDir, 'context-dir/a.txt'));
  const r = await d.docker(['run', '--rm', '--network', 'none', fx.images.built.ref, 'cat', '/data/hello.txt', '/opaque/new', '/copied/a.txt']);
  assert.ok(r.stdout.equals(Buffer.concat([Buffer.from('hello\nnew\n'), ctx])), `container output: ${JSON.stringify(r.stdout.toString())}`);
});

test('dockerd 20.10\'s own `docker save` of both images matches ours in the order it picked', async () => {
  const fx = await dockerFixture();
  const d = await dockerd();
  const [base, built] = [fx.images.base, fx.images.built];
  await d.docker(['image', 'inspect', base.ref, built.ref]); // loaded by the previous test
  const file = path.join(tempDir('strata-save-'), 'docker.tar');
  await d.docker(['save', '-o', file, base.ref, built.ref]);
  const theirs = await members(fs.readFileSync(file));
  const tmap = byName(theirs);
  const baseDir = base.layers[0]!.savedLayerMember.split('/')[0]!;
  const builtBottom = built.layers[0]!.savedLayerMember.split('/')[0]!;
  const baseFirst = tmap.get(`${builtBottom}/layer.tar`)!.type === TarType.Symlink;
  const linkDir = baseFirst ? builtBottom : baseDir;
  const now = tmap.get(`${linkDir}/`)!.mtime;
  const order = baseFirst ? [base, built] : [built, base];
  const opts: DockerSaveOptions = { now };
  const ours = await members(await collect(dockerSaveArchive(order.map((im) => fixtureImage(im)), opts)));
  assert.deepEqual(ours.map((m) => m.name), theirs.map((m) => m.name), 'member names and order');
  for (let i = 0; i < ours.length; i++) {
    const [a, b] = [ours[i]!, theirs[i]!];
    const { raw: _ra, content: ca, mtime: ta, ...ha } = a;
    const { raw: _rb, content: cb, mtime: tb, ...hb } = b;
    assert.deepEqual(ha, hb, `${a.name}: header fields`);
    assert.ok(ca.equals(cb), `${a.name}: content`);
    // Members of the symlinked layer's dir carry the time dockerd wrote them; all others are fixed.
    if (!a.name.startsWith(`${linkDir}/`)) {
      assert.equal(ta, tb, `${a.name}: mtime`);
      assert.ok(a.raw.equals(b.raw), `${a.name}: header bytes`);
    } else assert.ok(Math.abs(ta - tb) <= 1, `${a.name}: mtime is the save time (${ta} vs ${tb})`);
  }
});

// ---------------------------------------------------------------------------------------------
// Streaming, sizes, abort, bad input

test('a 1 GiB layer streams through in bounded memory', async (t) => {
  const MiB = 1 << 20;
  const size = 1024 * MiB;
  const img = syntheticImage({ tarSize: size, chunks: Array.from({ length: 1024 }, () => MiB), fresh: true });
  const rss0 = process.memoryUsage().rss;
  let peak = rss0;
  let total = 0;
  let chunks = 0;
  const t0 = process.hrtime.bigint();
  for await (const c of dockerSaveArchive([img])) {
    total += c.length;
    if (++chunks % 64 === 0) peak = Math.max(peak, process.memoryUsage().rss);
  }
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  assert.ok(total > size && total < size + 64 * 1024, `archive length ${total} just above the layer's ${size}`);
  const grew = (peak - rss0) / MiB;
  t.diagnostic(`1 GiB layer: ${chunks} chunks in ${secs.toFixed(2)} s (${(1024 / secs).toFixed(0)} MiB/s), RSS grew ${grew.toFixed(1)} MiB`);
  assert.ok(grew < 128, `RSS grew ${grew.toFixed(1)} MiB while writing a 1 GiB layer`);
});

test('a layer stream longer or shorter than tarSize fails with LAYER_SIZE_MISMATCH (one line) and is closed', async () => {
  for (const [label, chunks, tarSize] of [
    ['longer', [1000, 1000], 1999],
    ['shorter', [1000, 999], 2000],
    ['much longer', [5000], 10],
  ] as const) {
    let closed = false;
    const img = syntheticImage({ tarSize, chunks: [...chunks], onClose: () => (closed = true) });
    let handed = 0;
    await assert.rejects(
      (async () => {
        for await (const c of dockerSaveArchive([img])) handed += c.length;
      })(),
      (e: unknown) => isStrataError(e, 'LAYER_SIZE_MISMATCH') && !(e as Error).message.includes('\n'),
      `${label}: LAYER_SIZE_MISMATCH`,
    );
    assert.ok(closed, `${label}: the layer stream was closed`);
    // Never more layer bytes than its header announced.
    assert.ok(handed <= 16 * 1024 + tarSize, `${label}: ${handed} bytes handed out`);
  }
});

test('abort: the archive stops with the signal\'s reason and the layer stream is closed', async () => {
  const ac = new AbortController();
  let closed = false;
  const img = syntheticImage({ tarSize: 100 * 4096, chunks: Array.from({ length: 100 }, () => 4096), onClose: () => (closed = true) });
  let n = 0;
  await assert.rejects(
    (async () => {
      for await (const c of dockerSaveArchive([img], { signal: ac.signal })) {
        n += c.length;
        if (n > 50_000) ac.abort(new Error('stop here'));
      }
    })(),
    /stop here/,
    'rejects with the abort reason',
  );
  assert.ok(closed, 'layer stream closed');
  const pre = new AbortController();
  pre.abort(new Error('already'));
  await assert.rejects(collect(dockerSaveArchive([img], { signal: pre.signal })), /already/, 'an aborted signal fails at once');
});

test('bad input is refused before any output', async () => {
  const fx = await dockerFixture();
  const good = fixtureImage(fx.images.base);
  const cases: Array<[string, SaveImage, string]> = [
    ['wrong ID', { ...good, id: sha256Of('other') }, 'SAVE_IMAGE_INVALID'],
    ['missing layer', { ...good, layers: [] }, 'SAVE_IMAGE_INVALID'],
    ['wrong DiffID', { ...good, layers: [{ ...good.layers[0]!, diffId: sha256Of('x') }] }, 'SAVE_IMAGE_INVALID'],
    ['negative size', { ...good, layers: [{ ...good.layers[0]!, tarSize: -1 }] }, 'SAVE_IMAGE_INVALID'],
    ['digest reference', { ...good, repoTags: [`busybox@sha256:${'a'.repeat(64)}`] }, 'SAVE_INVALID_TAG'],
    ['bad name', { ...good, repoTags: ['Upper:1'] }, 'INVALID_REFERENCE'],
  ];
  for (const [label, img, code] of cases) {
    let handed = 0;
    await assert.rejects(
      (async () => {
        for await (const c of dockerSaveArchive([img])) handed += c.length;
      })(),
      (e: unknown) => isStrataError(e, code),
      `${label}: ${code}`,
    );
    assert.equal(handed, 0, `${label}: nothing written`);
  }
  const empty = newImageConfig({ os: 'linux', rootfs: { type: 'layers', diff_ids: [] } });
  const bytes = marshalImageConfig(empty);
  await assert.rejects(
    collect(dockerSaveArchive([{ id: sha256Of(bytes), configBytes: bytes, config: parseImageConfig(bytes), repoTags: [], layers: [] }])),
    (e: unknown) => isStrataError(e, 'IMAGE_EMPTY_EXPORT') && (e as Error).message === 'empty export - not implemented',
    'no layers: dockerd\'s empty export error',
  );
});
