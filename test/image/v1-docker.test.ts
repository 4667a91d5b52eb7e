/**
 * V1 image IDs and `<v1id>/json` files (moby image/v1 CreateID + image/tarexport/save.go)
 * against `docker save` of dockerd 20.10: the fixture's two images, and images built here by a
 * private dockerd running in Europe/Berlin time — with the config fields the fixture lacks
 * (labels, ports, volumes, healthcheck, shell, onbuild, author, commit) — whose configs must
 * also re-marshal to dockerd's bytes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { tempDir, sh } from '../helpers/tmp.js';
import { dockerFixture } from '../oracle/fixtures.js';
import { startDockerd, type Dockerd } from '../oracle/dockerd.js';
import { DIGEST_EMPTY_TAR, chainIds, sha256Of, type Digest } from '../../src/digest/index.js';
import { isStrataError } from '../../src/errors/index.js';
import { parseImageConfig, marshalImageConfig, newImageConfig, newContainerConfig, v1ImageOf, type ImageConfig } from '../../src/image/config.js';
import { v1Layers, createV1Id } from '../../src/image/v1.js';
import { ImageDb, imageDbPath, goUnixEpochLocal } from '../../src/image/imagedb/index.js';

interface ManifestItem {
  Config: string;
  RepoTags: string[] | null;
  Layers: string[];
  Parent?: string;
}

/** Checks every V1 ID and json file strata computes against an extracted `docker save`. */
function checkSaved(savedDir: string, opts: { epochCreated?: string } = {}): { img: ImageConfig; ids: string[] } {
  const manifest = JSON.parse(fs.readFileSync(path.join(savedDir, 'manifest.json'), 'utf8')) as ManifestItem[];
  assert.equal(manifest.length, 1);
  const item = manifest[0]!;
  const config = fs.readFileSync(path.join(savedDir, item.Config));
  const img = parseImageConfig(config);
  const layers = v1Layers(img, opts);
  assert.deepEqual(
    layers.map((l) => `${l.v1Id}/layer.tar`),
    item.Layers,
    'V1 IDs, bottom first',
  );
  const chains = chainIds(img.rootfs.diff_ids as Digest[]);
  for (const l of layers) {
    const dir = path.join(savedDir, l.v1Id);
    assert.deepEqual(l.json, fs.readFileSync(path.join(dir, 'json')), `${l.index}: json bytes`);
    assert.equal(fs.readFileSync(path.join(dir, 'VERSION'), 'utf8'), '1.0');
    assert.equal(l.chainId, chains[l.index]);
    assert.equal(l.diffId, img.rootfs.diff_ids[l.index]);
    assert.equal(l.parent, l.index === 0 ? undefined : layers[l.index - 1]!.v1Id);
    // layer.tar is the layer's exact tar (or a symlink to an identical earlier one).
    assert.equal(sha256Of(fs.readFileSync(path.join(dir, 'layer.tar'))), l.diffId);
    const json = JSON.parse(l.json.toString('utf8')) as { id: string; parent?: string; os?: string };
    assert.equal(json.id, l.v1Id);
    assert.equal(json.parent, l.parent);
    assert.equal(json.os, img.os || undefined);
  }
  // The `repositories` file names the top V1 ID for each tag.
  const repos = JSON.parse(fs.readFileSync(path.join(savedDir, 'repositories'), 'utf8')) as Record<string, Record<string, string>>;
  for (const tags of Object.values(repos)) for (const top of Object.values(tags)) assert.equal(top, layers[layers.length - 1]!.v1Id);
  return { img, ids: layers.map((l) => l.v1Id) };
}

test('the fixture\'s `docker save` archives: every V1 ID and every <v1id>/json byte-identical', async () => {
  const fx = await dockerFixture();
  for (const image of [fx.images.base, fx.images.built]) {
    const { ids } = checkSaved(image.savedDir);
    assert.deepEqual(ids.map((id) => `${id}/layer.tar`), image.layers.map((l) => l.savedLayerMember));
    // The members really are in the archive dockerd wrote (not only in its extraction).
    const members = sh('tar', ['-tf', image.savedArchive]).toString().split('\n');
    for (const id of ids) for (const f of ['json', 'VERSION', 'layer.tar']) assert.ok(members.includes(`${id}/${f}`), `${id}/${f}`);
  }
  assert.equal(fx.images.built.layers.length, 8);
});

test('CreateID: sorted keys with layer_id and parent added; os joins the json after the ID (not hashed below the top)', () => {
  const img = newImageConfig({
    architecture: 'amd64',
    os: 'linux',
    created: '2020-01-01T00:00:00Z',
    config: newContainerConfig({ Cmd: ['sh'] }),
    rootfs: { type: 'layers', diff_ids: [DIGEST_EMPTY_TAR, 'sha256:' + 'e'.repeat(64)] },
  });
  const epoch = '1970-01-01T00:00:00Z';
  const [l0, l1] = v1Layers(img, { epochCreated: epoch });
  const chains = chainIds(img.rootfs.diff_ids as Digest[]);
  const zeroCC =
    '{"Hostname":"","Domainname":"","User":"","AttachStdin":false,"AttachStdout":false,"AttachStderr":false,"Tty":false,"OpenStdin":false,"StdinOnce":false,"Env":null,"Cmd":null,"Image":"","Volumes":null,"WorkingDir":"","Entrypoint":null,"OnBuild":null,"Labels":null}';
  // Layer 0: the placeholder, hashed as a sorted map.
  const h0 = sha256Of(`{"container_config":${zeroCC},"created":"${epoch}","layer_id":"${chains[0]}"}`);
  assert.equal(l0!.v1Id, h0.slice(7));
  assert.equal(l0!.json.toString(), `{"id":"${h0.slice(7)}","created":"${epoch}","container_config":${zeroCC},"os":"linux"}`);
  // Layer 1: the image's own fields, plus layer_id and parent (full digest) in key order.
  const cfg = zeroCC.replace('"Cmd":null', '"Cmd":["sh"]');
  const h1 = sha256Of(
    `{"architecture":"amd64","config":${cfg},"container_config":${zeroCC},"created":"2020-01-01T00:00:00Z","layer_id":"${chains[1]}","os":"linux","parent":"${h0}"}`,
  );
  assert.equal(l1!.v1Id, h1.slice(7));
  assert.equal(
    l1!.json.toString(),
    `{"id":"${h1.slice(7)}","parent":"${h0.slice(7)}","created":"2020-01-01T00:00:00Z","container_config":${zeroCC},"config":${cfg},"architecture":"amd64","os":"linux"}`,
  );
  // createV1Id clears the id it is given, as CreateID does.
  assert.equal(createV1Id({ ...v1ImageOf(img), id: 'ignored' }, chains[1]!, h0), h1);

  // os is not hashed below the top, but it is in every json.
  const other = v1Layers({ ...img, os: 'windows' }, { epochCreated: epoch });
  assert.equal(other[0]!.v1Id, l0!.v1Id);
  assert.notEqual(other[1]!.v1Id, l1!.v1Id);
  assert.match(other[0]!.json.toString(), /"os":"windows"\}$/);
  // The placeholder's time (the daemon's zone) changes every ID: parents chain the change up.
  const berlin = v1Layers(img, { epochCreated: '1970-01-01T01:00:00+01:00' });
  assert.notEqual(berlin[0]!.v1Id, l0!.v1Id);
  assert.notEqual(berlin[1]!.v1Id, l1!.v1Id);
  // No layers: what docker save says.
  assert.throws(() => v1Layers(newImageConfig()), (e: unknown) => isStrataError(e, 'IMAGE_EMPTY_EXPORT') && (e as Error).message === 'empty export - not implemented');
});

// ---------------------------------------------------------------------------------------------
// A dockerd of our own, in another time zone

const DOCKERFILE = `FROM strata-v1/base:1
MAINTAINER strata <strata@example.com>
LABEL b="2" a="<1>" org.example.empty="" "é"="non-ASCII"
ENV X=1 Y="a&b"
EXPOSE 8080/tcp 53/udp
VOLUME ["/data", "/cache"]
COPY a.txt /a.txt
WORKDIR /app
USER app
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=30s --timeout=5s --start-period=1s --retries=3 CMD ["true"]
SHELL ["/bin/sh", "-c"]
ONBUILD RUN echo onbuild
COPY b.txt /b.txt
ENTRYPOINT ["/bin/app"]
CMD ["--flag", "<quoted>"]
`;

async function saveAndExtract(d: Dockerd, ref: string, dir: string): Promise<string> {
  const archive = path.join(dir, `${ref.replace(/[/:]/g, '_')}.tar`);
  await d.docker(['save', '-o', archive, ref]);
  const out = archive.replace(/\.tar$/, '');
  fs.mkdirSync(out);
  sh('tar', ['-xf', archive, '-C', out]);
  return out;
}

test('dockerd in Europe/Berlin: V1 IDs use its local epoch; configs with every container field re-marshal byte for byte', async () => {
  const savedTz = process.env.TZ;
  process.env.TZ = 'Europe/Berlin'; // dockerd inherits it; strata's default "local" follows it
  const work = tempDir();
  let d: Dockerd | undefined;
  try {
    d = await startDockerd();
    // A one-file base, imported.
    const rootfs = path.join(work, 'rootfs');
    fs.mkdirSync(path.join(rootfs, 'bin'), { recursive: true });
    fs.writeFileSync(path.join(rootfs, 'bin/app'), '#!/bin/sh\n', { mode: 0o755 });
    const baseTar = sh('tar', ['--numeric-owner', '-C', rootfs, '-cf', '-', '.']);
    await d.docker(['import', '-', 'strata-v1/base:1'], { input: baseTar });
    // A build using every container-config field the fixture never set.
    const ctx = path.join(work, 'ctx');
    fs.mkdirSync(ctx);
    fs.writeFileSync(path.join(ctx, 'Dockerfile'), DOCKERFILE);
    fs.writeFileSync(path.join(ctx, 'a.txt'), 'a\n');
    fs.writeFileSync(path.join(ctx, 'b.txt'), 'b\n');
    await d.docker(['build', '-t', 'strata-v1/built:1', ctx]);
    // A commit of a created (never started) container, with author, message and changes.
    await d.docker(['create', '--name', 'c1', '--hostname', 'h1', '-e', 'Z=<z>', 'strata-v1/built:1']);
    await d.docker(['commit', '-a', 'Committer <c@example.com>', '-m', 'commit & message', '-c', 'EXPOSE 9000', '-c', 'LABEL committed=yes', 'c1', 'strata-v1/committed:1']);

    // 1. Every config dockerd stored (incl. the builder's intermediates) re-marshals exactly.
    const db = ImageDb.open(imageDbPath(d.root, 'overlay2'));
    const ids = db.walk();
    assert.ok(ids.length >= 15, `${ids.length} images`);
    const seen = new Set<string>();
    for (const id of ids) {
      const bytes = db.get(id);
      const img = parseImageConfig(bytes);
      assert.equal(marshalImageConfig(img).toString(), bytes.toString(), id);
      for (const c of [img.config, img.container_config]) {
        if (!c) continue;
        if (c.Healthcheck) seen.add('Healthcheck');
        if (c.ExposedPorts.length) seen.add('ExposedPorts');
        if (c.Volumes?.length) seen.add('Volumes');
        if (c.Labels && Object.keys(c.Labels).length) seen.add('Labels');
        if (c.StopSignal) seen.add('StopSignal');
        if (c.Shell.length) seen.add('Shell');
        if (c.OnBuild?.length) seen.add('OnBuild');
        if (c.Entrypoint?.length) seen.add('Entrypoint');
        if (c.User) seen.add('User');
        if (c.WorkingDir) seen.add('WorkingDir');
        if (c.Hostname) seen.add('Hostname');
      }
      if (img.author) seen.add('author');
      if (img.comment) seen.add('comment');
      if (img.container) seen.add('container');
    }
    assert.deepEqual(
      [...seen].sort(),
      ['Entrypoint', 'ExposedPorts', 'Healthcheck', 'Hostname', 'Labels', 'OnBuild', 'Shell', 'StopSignal', 'User', 'Volumes', 'WorkingDir', 'author', 'comment', 'container'],
    );
    const committedId = (await d.docker(['image', 'inspect', '--format', '{{.Id}}', 'strata-v1/committed:1'])).stdout.toString().trim() as Digest;
    const committed = parseImageConfig(db.get(committedId));
    assert.equal(committed.author, 'Committer <c@example.com>');
    assert.equal(committed.comment, '', 'a commit message goes to history, not to the config\'s comment');
    assert.deepEqual(committed.history[committed.history.length - 1], {
      created: committed.created,
      author: 'Committer <c@example.com>',
      created_by: '--flag <quoted>',
      comment: 'commit & message',
      empty_layer: true, // a never-started container has an empty diff: no new layer
    });
    assert.equal(committed.config!.OnBuild, null, 'commit clears ONBUILD triggers');
    assert.equal(committed.container_config.Hostname, 'h1');
    assert.deepEqual(committed.config!.ExposedPorts, ['53/udp', '8080/tcp', '9000/tcp']);
    assert.equal(committed.config!.Labels!.committed, 'yes');

    // lastUpdated is local time: Berlin's offset, as `docker image inspect` reports it.
    const lastTag = (await d.docker(['image', 'inspect', '--format', '{{json .Metadata.LastTagTime}}', committedId])).stdout.toString().trim();
    const lastUpdated = db.getLastUpdated(committedId)!;
    assert.match(lastUpdated, /\+0[12]:00$/);
    assert.equal(JSON.stringify(lastUpdated), lastTag);

    // 2. docker save in Berlin: the placeholder layers carry 1970-01-01T01:00:00+01:00.
    assert.equal(goUnixEpochLocal(), '1970-01-01T01:00:00+01:00');
    for (const ref of ['strata-v1/base:1', 'strata-v1/built:1', 'strata-v1/committed:1']) {
      const saved = await saveAndExtract(d, ref, work);
      const { img, ids: v1ids } = checkSaved(saved);
      if (v1ids.length > 1) {
        const lowest = fs.readFileSync(path.join(saved, v1ids[0]!, 'json'), 'utf8');
        assert.match(lowest, /"created":"1970-01-01T01:00:00\+01:00"/);
        // With a UTC epoch (what strata would compute on a UTC host) the IDs differ.
        assert.notDeepEqual(v1Layers(img, { epochCreated: '1970-01-01T00:00:00Z' }).map((l) => l.v1Id), v1ids);
      }
    }
  } finally {
    if (savedTz === undefined) delete process.env.TZ;
    else process.env.TZ = savedTz;
    await d?.stop();
  }
});
