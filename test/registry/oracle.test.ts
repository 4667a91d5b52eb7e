/**
 * Issue 8, must-show 1: `strata pull` and `strata push` against Debian's docker-registry
 * (distribution 2.8) on loopback — without auth, with htpasswd basic auth, with TLS from a
 * self-signed certificate — with skopeo and dockerd 20.10 as the oracles.
 *
 * In each mode:
 * - login (htpasswd): `strata login` verifies and writes `auths[host].auth` = base64(user:pass)
 *   into `$DOCKER_CONFIG/config.json` (0600), as docker does; later commands use it.
 * - skopeo pushes a built three-layer image; `strata pull` prints docker's lines (`Digest:`,
 *   `Status: Downloaded newer image for REF`, REF last), and the image has the config's digest as
 *   ID, the archive's DiffIDs and ChainIDs, the tags REF and `name@digest`, the `distribution/`
 *   mappings of each blob; `strata create` + `strata mount` show every file with its bytes; a
 *   second pull (`--json`) fetches nothing and reports the same ID, digest and blobs.
 * - strata pushes an image it loaded: `skopeo inspect` sees the digest strata reported and its
 *   layers, the config blob is the image's config (same image ID), and dockerd's `docker pull`
 *   gets the same image ID and DiffIDs, with the pushed digest in its RepoDigests.
 * - (first mode) pushing again finds every layer there; pushing to another repository mounts
 *   every blob from the first; `--compression zstd` (from a data root that knows no blob of the
 *   layers) gives an OCI manifest of zstd blobs that skopeo inspects and strata pulls back as the
 *   same image.
 * - dockerd pushes an image (`docker load` + `docker push`); `strata pull` gets the digest docker
 *   printed, docker's image ID and the same ChainIDs.
 * - TLS: strata trusts the registry through `STRATA_CERTS_D/<host>/ca.crt`; skopeo through
 *   `--cert-dir`; dockerd (which counts 127.0.0.0/8 as insecure) through HTTPS without
 *   verification. strata counts loopback as insecure too, so a second TLS registry listens on
 *   the machine's non-loopback address: strata pulls from it with the CA in STRATA_CERTS_D,
 *   refuses it without (one line, nothing registered), and pulls with `--insecure-registry`.
 * And a multi-platform OCI index (linux/amd64 + linux/arm64, pushed with `skopeo copy --all`):
 * `strata pull --platform` picks each image; the digest is the index's, as docker reports it.
 *
 * Needs root (overlay mounts, dockerd), docker.io, docker-registry, apache2-utils, skopeo, openssl.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { strata, type CliResult } from '../helpers/cli.js';
import { tempDir } from '../helpers/tmp.js';
import { startDockerd, unmountUnder, type Dockerd } from '../oracle/dockerd.js';
import { chainIds, type Digest } from '../../src/digest/index.js';
import { startRegistry, type Registry } from './registry.js';
import { buildImage, multiPlatformLayout, pushArchive, pushLayout, skopeoInspect, skopeoRawConfig, skopeoRawManifest, target, type SeedImage } from './seed.js';

// ---------------------------------------------------------------------------------------------
// Helpers

interface PullJson {
  ref: string;
  id: string;
  digest: string;
  layers: { digest: string; diffId: string; size: number; fetched: boolean }[];
}

interface PushJson {
  ref: string;
  digest: string;
  size: number;
  layers: { digest: string; diffId: string; action: 'pushed' | 'exists' | 'mounted' }[];
}

interface Manifest {
  mediaType?: string;
  config: { digest: string };
  layers: { digest: string; size: number; mediaType: string }[];
}

const sha256 = (b: Buffer) => `sha256:${crypto.createHash('sha256').update(b).digest('hex')}`;

interface Mode {
  name: string;
  opts: Parameters<typeof startRegistry>[0];
}

const MODES: Mode[] = [
  { name: 'plain HTTP, no auth', opts: {} },
  { name: 'htpasswd basic auth', opts: { auth: 'htpasswd' } },
  { name: 'TLS, self-signed certificate', opts: { tls: true } },
];

describe('registry oracle: strata pull/push against docker-registry 2.8, skopeo and dockerd 20.10', { timeout: 300_000 }, () => {
  let dir: string;
  let d: Dockerd;
  /** Pulled by strata after skopeo pushed it. */
  let app: SeedImage;
  /** Pushed by dockerd. */
  let fromDocker: SeedImage;
  const registries: Registry[] = [];

  before(async () => {
    dir = tempDir('strata-registry-oracle-');
    app = await buildImage(dir, 'oracle/app:1', [
      { 'etc/': '', 'etc/os-release': 'NAME=strata-test\n', 'etc/motd': 'from the base layer\n', 'bin/': '', 'bin/tool': crypto.randomBytes(300_000) },
      { 'srv/': '', 'srv/www/': '', 'srv/www/index.html': '<h1>pulled</h1>\n', 'etc/motd': 'replaced by layer 1\n' },
      { 'data/': '', 'data/blob.bin': crypto.randomBytes(2 << 20), 'data/text.txt': 'text '.repeat(50_000) },
    ]);
    fromDocker = await buildImage(dir, 'oracle/from-docker:1', [
      { 'etc/': '', 'etc/pushed-by': 'dockerd\n' },
      { 'var/': '', 'var/lib/': '', 'var/lib/state': crypto.randomBytes(700_000) },
    ]);
    d = await startDockerd();
  });

  after(async () => {
    await d?.stop();
    for (const r of registries) await r.stop();
    if (dir) unmountUnder([dir]);
  });

  for (const mode of MODES) {
    describe(mode.name, () => {
      let reg: Registry;
      let env: NodeJS.ProcessEnv;
      let root: string;
      /** Built for this registry: its tag is the reference strata pushes. */
      let outgoing: SeedImage;
      /** The whole checks (output lines, up-to-date pulls) in the first mode; the others the essentials. */
      const full = mode === MODES[0];

      const ok = (args: string[], input?: string): CliResult => {
        const r = strata(['--root', root, ...args], { env, ...(input !== undefined ? { input } : {}) });
        assert.equal(r.status, 0, `strata ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
        return r;
      };
      const json = <T>(args: string[]): T => JSON.parse(ok(['--json', ...args]).stdout) as T;

      before(async () => {
        reg = await startRegistry(mode.opts);
        registries.push(reg);
        const home = tempDir('strata-registry-home-');
        root = path.join(home, 'root');
        // Only what the test names: no insecure registries from the environment.
        env = { DOCKER_CONFIG: path.join(home, 'docker-config'), STRATA_INSECURE_REGISTRIES: '', ...(reg.caDir ? { STRATA_CERTS_D: reg.caDir } : {}) };
        outgoing = await buildImage(home, `${reg.host}/oracle/outgoing:1`, [
          { 'etc/': '', 'etc/pushed-by': `strata to ${reg.host}\n` },
          { 'opt/': '', 'opt/payload.bin': crypto.randomBytes(1 << 20) },
        ]);
        if (reg.username) await d.docker(['login', reg.host, '-u', reg.username, '--password-stdin'], { input: reg.password! });
      });

      if (mode.opts?.auth) {
        test('strata login verifies the credentials and writes them as docker does', () => {
          const out = ok(['login', reg.host, '-u', reg.username!, '--password-stdin'], reg.password!);
          assert.match(out.stdout, /Login Succeeded/, 'Login Succeeded');
          const file = path.join(env.DOCKER_CONFIG!, 'config.json');
          const config = JSON.parse(fs.readFileSync(file, 'utf8')) as { auths: Record<string, { auth: string }> };
          assert.equal(config.auths[reg.host]?.auth, Buffer.from(`${reg.username}:${reg.password}`).toString('base64'), 'auths[host].auth = base64(user:pass)');
          assert.equal(fs.statSync(file).mode & 0o777, 0o600, 'config.json is 0600');
        });
      }

      if (mode.opts?.tls) {
        test('certificate verification: a registry strata does not count as loopback is trusted through STRATA_CERTS_D, refused without it', async () => {
          // Loopback registries are insecure to strata as to dockerd (HTTPS without verification,
          // then HTTP), so this one listens on the machine's own non-loopback address.
          const address = Object.values(os.networkInterfaces()).flat().find((i) => i?.family === 'IPv4' && !i.internal)?.address;
          assert.ok(address, 'this machine has a non-loopback IPv4 address');
          const far = await startRegistry({ tls: true, address });
          registries.push(far);
          await pushArchive(outgoing.archive, target(far), 'oracle/verify:1');
          const ref = `${far.host}/oracle/verify:1`;
          const farRoot = path.join(tempDir('strata-registry-verify-'), 'root');
          const noCa = { ...env, STRATA_CERTS_D: tempDir('strata-registry-no-ca-') };

          const refused = strata(['--root', farRoot, 'pull', ref], { env: noCa });
          assert.equal(refused.status, 1, `without the CA: exit 1 (${refused.status}): ${refused.stderr}`);
          const lines = refused.stderr.split('\n').filter((l) => l !== '' && !/; retrying in \d+ s$/.test(l));
          assert.equal(lines.length, 1, `without the CA: one line\n${refused.stderr}`);
          assert.match(lines[0]!, /certificate/i, 'without the CA: a certificate error');
          const layerdb = path.join(farRoot, 'image/overlay2/layerdb/sha256');
          assert.deepEqual(fs.existsSync(layerdb) ? fs.readdirSync(layerdb) : [], [], 'without the CA: nothing registered');

          const trusted = strata(['--root', farRoot, '--json', 'pull', ref], { env: { ...env, STRATA_CERTS_D: far.caDir! } });
          assert.equal(trusted.status, 0, `with STRATA_CERTS_D/${far.host}/ca.crt: ${trusted.stderr}`);
          assert.equal((JSON.parse(trusted.stdout) as PullJson).id, outgoing.id, 'with the CA: the image');

          const insecure = strata(['--root', path.join(tempDir('strata-registry-verify-'), 'root'), '--json', 'pull', ref, '--insecure-registry', far.host], { env: noCa });
          assert.equal(insecure.status, 0, `--insecure-registry: HTTPS without verification: ${insecure.stderr}`);
          assert.equal((JSON.parse(insecure.stdout) as PullJson).id, outgoing.id, '--insecure-registry: the image');
        });
      }

      test('skopeo push → strata pull: docker\'s output, the image, its tags and mappings; mount and read every file', async () => {
        const ref = `${reg.host}/oracle/app:1`;
        const digest = await pushArchive(app.archive, target(reg), 'oracle/app:1');
        const manifest = JSON.parse((await skopeoRawManifest(target(reg), 'oracle/app:1')).toString()) as Manifest;

        const out = ok(['pull', ref]).stdout.split('\n').filter(Boolean);
        assert.ok(out.includes(`Digest: ${digest}`), `prints Digest: ${digest}\n${out.join('\n')}`);
        assert.ok(out.includes(`Status: Downloaded newer image for ${ref}`), `prints the Status line\n${out.join('\n')}`);
        assert.equal(out.at(-1), ref, 'the last line is the full reference');

        // What the data root holds, in Docker's files: the image, its tags, its layers, the mappings.
        const meta = path.join(root, 'image/overlay2');
        assert.ok(fs.existsSync(path.join(meta, 'imagedb/content/sha256', app.id.slice(7))), 'the imagedb holds the config under the image ID');
        const repos = JSON.parse(fs.readFileSync(path.join(meta, 'repositories.json'), 'utf8')) as { Repositories: Record<string, Record<string, string>> };
        assert.deepEqual(repos.Repositories, { [`${reg.host}/oracle/app`]: { [ref]: app.id, [`${reg.host}/oracle/app@${digest}`]: app.id } }, 'tagged REF and name@digest');
        assert.deepEqual(fs.readdirSync(path.join(meta, 'layerdb/sha256')).sort(), app.chainIds.map((c) => c.slice(7)).sort(), 'the ChainIDs');
        for (const [i, c] of app.chainIds.entries()) {
          assert.equal(fs.readFileSync(path.join(meta, 'layerdb/sha256', c.slice(7), 'diff'), 'utf8'), app.diffIds[i], `layer ${i}: its DiffID`);
        }
        const dist = path.join(meta, 'distribution');
        for (const [i, l] of manifest.layers.entries()) {
          assert.equal(fs.readFileSync(path.join(dist, 'diffid-by-digest/sha256', l.digest.slice(7)), 'utf8'), app.diffIds[i], `diffid-by-digest for layer ${i}`);
          const v2 = JSON.parse(fs.readFileSync(path.join(dist, 'v2metadata-by-diffid/sha256', app.diffIds[i]!.slice(7)), 'utf8')) as unknown;
          assert.deepEqual(v2, [{ Digest: l.digest, SourceRepository: `${reg.host}/oracle/app`, HMAC: '' }], `v2metadata-by-diffid for layer ${i}`);
        }

        ok(['create', ref, '--name', 'reader']);
        const merged = ok(['mount', 'reader']).stdout.trim();
        try {
          for (const [rel, content] of Object.entries(app.files)) {
            assert.ok(fs.readFileSync(path.join(merged, rel)).equals(content), `${rel} has its bytes in the mounted image`);
          }
        } finally {
          ok(['umount', 'reader']);
        }

        if (!full) return;
        const again = json<PullJson>(['pull', ref]);
        assert.deepEqual([again.ref, again.id, again.digest], [ref, app.id, digest], 'pull again: ref, id, digest');
        assert.deepEqual(
          again.layers.map((l) => [l.digest, l.diffId, l.size, l.fetched]),
          manifest.layers.map((l, i) => [l.digest, app.diffIds[i], l.size, false]),
          'pull again: every layer known, none fetched',
        );
        const upToDate = ok(['pull', ref]).stdout.split('\n').filter(Boolean);
        assert.ok(upToDate.includes(`Status: Image is up to date for ${ref}`), `Image is up to date\n${upToDate.join('\n')}`);
      });

      test('strata push → skopeo inspect and docker pull see the same image', async () => {
        const repo = `${reg.host}/oracle/outgoing`;
        const ref = `${repo}:1`;
        ok(['load', '-i', outgoing.archive]);
        const pushed = json<PushJson>(['push', ref]);
        assert.equal(pushed.ref, ref, 'push --json: ref');
        assert.match(pushed.digest, /^sha256:[0-9a-f]{64}$/, 'push --json: a digest');
        assert.deepEqual(pushed.layers.map((l) => l.diffId), outgoing.diffIds, 'push --json: the DiffIDs in order');
        assert.ok(pushed.layers.every((l) => l.action === 'pushed'), `a new repository: every layer pushed (${pushed.layers.map((l) => l.action).join(', ')})`);

        const t = target(reg);
        const raw = await skopeoRawManifest(t, 'oracle/outgoing:1');
        assert.equal(sha256(raw), pushed.digest, 'the stored manifest hashes to the digest strata reported');
        assert.equal(raw.length, pushed.size, 'and has the size strata reported');
        const manifest = JSON.parse(raw.toString()) as Manifest;
        assert.equal(manifest.config.digest, outgoing.id, 'the manifest names the image config');
        assert.equal(sha256(await skopeoRawConfig(t, 'oracle/outgoing:1')), outgoing.id, 'the config blob is the image\'s config, byte for byte');
        const inspected = await skopeoInspect(t, 'oracle/outgoing:1');
        assert.equal(inspected.Digest, pushed.digest, 'skopeo inspect: the digest');
        assert.deepEqual(inspected.Layers, pushed.layers.map((l) => l.digest), 'skopeo inspect: the layer blobs strata reported');

        await d.docker(['pull', ref]);
        const [inspect] = JSON.parse((await d.docker(['image', 'inspect', ref])).stdout.toString()) as { Id: string; RepoDigests: string[]; RootFS: { Layers: string[] } }[];
        assert.equal(inspect!.Id, outgoing.id, 'docker pull: the same image ID');
        assert.deepEqual(inspect!.RootFS.Layers, outgoing.diffIds, 'docker pull: the same DiffIDs');
        assert.ok(inspect!.RepoDigests.includes(`${repo}@${pushed.digest}`), `docker pull: RepoDigests has the pushed digest (${inspect!.RepoDigests.join(', ')})`);
        await d.docker(['rmi', ref]);
      });

      if (full) {
        test('push again: the layers exist; to another repository: mounted; with zstd: an OCI manifest skopeo reads and strata pulls back', async () => {
          const t = target(reg);
          const ref = `${reg.host}/oracle/outgoing:1`;
          const first = await skopeoInspect(t, 'oracle/outgoing:1');
          const again = json<PushJson>(['push', ref]);
          assert.deepEqual(again.layers.map((l) => l.action), outgoing.diffIds.map(() => 'exists'), 'pushed again: every layer exists');
          assert.equal(again.digest, first.Digest, 'pushed again: the same manifest');

          const mountedRef = `${reg.host}/oracle/mounted:1`;
          ok(['tag', ref, mountedRef]);
          const mounted = json<PushJson>(['push', mountedRef]);
          assert.deepEqual(mounted.layers.map((l) => l.action), outgoing.diffIds.map(() => 'mounted'), 'another repository: every layer mounted from the first');
          assert.equal(mounted.digest, first.Digest, 'another repository: the same manifest');
          assert.deepEqual((await skopeoInspect(t, 'oracle/mounted:1')).Layers, first.Layers, 'skopeo inspect: the mounted blobs');

          // zstd from a data root that knows no blobs of these layers (strata reuses known blobs
          // whatever their compression: `--compression` is for the blobs it makes).
          const zstdRef = `${reg.host}/oracle/zstd:1`;
          const zroot = path.join(tempDir('strata-registry-zstd-'), 'root');
          const zcli = (args: string[]) => {
            const r = strata(['--root', zroot, ...args], { env });
            assert.equal(r.status, 0, `strata ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
            return r.stdout;
          };
          zcli(['load', '-i', outgoing.archive]);
          zcli(['tag', ref, zstdRef]);
          const z = JSON.parse(zcli(['--json', 'push', zstdRef, '--compression', 'zstd'])) as PushJson;
          assert.deepEqual(z.layers.map((l) => l.action), outgoing.diffIds.map(() => 'pushed'), 'zstd: every layer compressed and pushed');
          const raw = await skopeoRawManifest(t, 'oracle/zstd:1');
          assert.equal(sha256(raw), z.digest, 'zstd: the stored manifest is the one strata reported');
          const manifest = JSON.parse(raw.toString()) as Manifest;
          assert.equal(manifest.mediaType, 'application/vnd.oci.image.manifest.v1+json', 'zstd: an OCI manifest');
          assert.deepEqual(manifest.layers.map((l) => l.mediaType), outgoing.diffIds.map(() => 'application/vnd.oci.image.layer.v1.tar+zstd'), 'zstd: zstd layers');
          assert.equal(manifest.config.digest, outgoing.id, 'zstd: the same config');
          for (const l of manifest.layers) {
            const blob = await reg.request('GET', `/v2/oracle/zstd/blobs/${l.digest}`);
            assert.equal(blob.body.subarray(0, 4).toString('hex'), '28b52ffd', `zstd: blob ${l.digest} starts with zstd's magic`);
            assert.equal(sha256(blob.body), l.digest, `zstd: blob ${l.digest} has its digest`);
          }
          assert.equal((await skopeoInspect(t, 'oracle/zstd:1')).Digest, z.digest, 'zstd: skopeo inspect reads it');
          const back = strata(['--root', path.join(tempDir('strata-registry-zstd-back-'), 'root'), '--json', 'pull', zstdRef], { env });
          assert.equal(back.status, 0, `zstd: strata pulls it back: ${back.stderr}`);
          const pulled = JSON.parse(back.stdout) as PullJson;
          assert.deepEqual([pulled.id, pulled.layers.map((l) => l.diffId)], [outgoing.id, outgoing.diffIds], 'zstd: the same image ID and DiffIDs');
        });
      }

      test('docker push → strata pull: the same digest, image ID and ChainIDs', async () => {
        const ref = `${reg.host}/oracle/from-docker:1`;
        await d.docker(['load', '-i', fromDocker.archive]);
        await d.docker(['tag', fromDocker.tag, ref]);
        const pushOut = (await d.docker(['push', ref])).stdout.toString();
        const m = /: digest: (sha256:[0-9a-f]{64}) size: \d+/.exec(pushOut);
        assert.ok(m, `docker push printed a digest:\n${pushOut}`);
        const dockerDigest = m[1]!;
        const dockerId = (await d.docker(['image', 'inspect', '--format', '{{.Id}}', ref])).stdout.toString().trim();
        await d.docker(['rmi', ref, fromDocker.tag]);

        const pulled = json<PullJson>(['pull', ref]);
        assert.equal(pulled.digest, dockerDigest, 'the digest docker push printed');
        assert.equal(pulled.id, dockerId, 'docker\'s image ID');
        assert.ok(pulled.layers.every((l) => l.fetched), 'every layer fetched');
        assert.deepEqual(chainIds(pulled.layers.map((l) => l.diffId as Digest)), fromDocker.chainIds, 'the built image\'s ChainIDs');
        const layerdb = new Set(fs.readdirSync(path.join(root, 'image/overlay2/layerdb/sha256')));
        for (const c of fromDocker.chainIds) assert.ok(layerdb.has(c.slice(7)), `layer ${c} is registered`);
      });
    });
  }

  test('a multi-platform OCI index: --platform picks the image; the digest is the index\'s', async () => {
    const reg = await startRegistry();
    registries.push(reg);
    const multi = multiPlatformLayout(tempDir('strata-registry-multi-'), [
      { architecture: 'amd64', layers: [{ 'etc/': '', 'etc/arch': 'amd64\n', 'etc/common': 'common\n' }, { 'usr/': '', 'usr/lib/': '', 'usr/lib/x86_64-linux-gnu': 'x86\n' }] },
      { architecture: 'arm64', variant: 'v8', layers: [{ 'etc/': '', 'etc/arch': 'arm64\n', 'etc/common': 'common\n', 'etc/gone': 'deleted above\n' }, { 'etc/': '', 'etc/.wh.gone': '', 'usr/': '', 'usr/lib/': '', 'usr/lib/aarch64-linux-gnu': 'arm\n' }] },
    ]);
    const pushed = await pushLayout(multi.layout, multi.refName, target(reg), 'oracle/multi:1', { all: true });
    assert.equal(pushed, multi.index, 'skopeo pushed the index as it was');
    const ref = `${reg.host}/oracle/multi:1`;
    const env = { DOCKER_CONFIG: tempDir('strata-registry-home-'), STRATA_INSECURE_REGISTRIES: '' };
    const root = path.join(tempDir('strata-registry-multi-root-'), 'root');
    const cli = (args: string[]) => strata(['--root', root, ...args], { env });

    const missing = cli(['pull', ref, '--platform', 'linux/s390x']);
    assert.equal(missing.status, 1, `a platform the index lacks: exit 1 (${missing.stderr})`);
    assert.match(missing.stderr.trim(), /s390x/, 'the error names the platform');
    assert.equal(missing.stderr.trim().split('\n').length, 1, 'one line');
    const layerdb = path.join(root, 'image/overlay2/layerdb/sha256');
    assert.deepEqual(fs.existsSync(layerdb) ? fs.readdirSync(layerdb) : [], [], 'nothing registered');

    for (const m of multi.manifests) {
      const r = cli(['--json', 'pull', ref, '--platform', `linux/${m.architecture}`]);
      assert.equal(r.status, 0, `pull --platform linux/${m.architecture}: ${r.stderr}`);
      const pulled = JSON.parse(r.stdout) as PullJson;
      assert.equal(pulled.id, m.id, `linux/${m.architecture}: that platform's image`);
      assert.equal(pulled.digest, multi.index, `linux/${m.architecture}: the digest is the index's`);
      assert.deepEqual(pulled.layers.map((l) => l.diffId), m.diffIds, `linux/${m.architecture}: its DiffIDs`);
    }
    // The arm64 image (tagged last): its own file, and the whiteout of its upper layer applied.
    assert.equal(cli(['cp', `${ref}:/etc/arch`, '-']).stdout, 'arm64\n', 'arm64: /etc/arch');
    const gone = cli(['cp', `${ref}:/etc/gone`, '-']);
    assert.notEqual(gone.status, 0, 'arm64: the whiteout in the upper layer deleted /etc/gone');
  });
});
