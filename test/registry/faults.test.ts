/**
 * Issue 8, must-show 2: `strata pull` when the registry misbehaves, through the fault proxy in
 * front of Debian's docker-registry (its request log is how the tests see what strata did).
 *
 * - The registry killed mid-blob (the proxy holds the blob after 1 MiB, the test SIGKILLs the
 *   registry and lets the proxy go on, so strata's connection ends mid-body), then restarted on
 *   the same port: the pull retries, resumes with `Range: bytes=N-` (N at least what had
 *   arrived), gets 206 for the rest, and completes with the right image; no spool left.
 * - A blob cut (closed) after exactly 1 MiB: resumed with `Range: bytes=N-`, N at most 1 MiB and
 *   within 256 KiB of it (strata drops the chunk its stream held when the stream errored), 206.
 * - A blob served with one byte flipped (every time): exit 1, one line naming the blob, and
 *   nothing registered — no image, no layer (the lower layers that were fine are released
 *   too), no mappings, no driver directories, nothing in `<root>/tmp`.
 * - 401: `strata login` with a wrong password fails and writes nothing; a pull with wrong
 *   credentials in config.json fails with docker's `unauthorized: authentication required` and
 *   is not retried.
 * - 404: a missing repository and a missing tag fail with docker's `manifest for REF not found:
 *   manifest unknown`, not retried.
 * - 429: twice, with `Retry-After: 1`, then the pull succeeds, each retry a second or more after
 *   the 429; always: the pull gives up after a few tries with docker's `toomanyrequests`.
 * - 500: twice on the manifest, then the pull succeeds; always on a blob: retried, then
 *   `received unexpected HTTP status: 500 Internal Server Error`, nothing registered.
 * - SIGINT to `strata pull` while a blob is in flight: exit 130, nothing registered.
 *
 * Retry lines (`strata: …; retrying in N s`) go to stderr; the one-line rule is for the final
 * error. Needs root (overlay2), docker-registry, apache2-utils, skopeo.
 */
import { describe, test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { tempDir } from '../helpers/tmp.js';
import { unmountUnder } from '../oracle/dockerd.js';
import { startRegistry, type Registry } from './registry.js';
import { startFaultProxy, type FaultProxy, type RequestRecord } from './fault-proxy.js';
import { buildImage, pushArchive, skopeoRawManifest, strataAsync, target, type SeedImage } from './seed.js';

interface Manifest {
  layers: { digest: string; size: number }[];
}

interface PullJson {
  id: string;
  digest: string;
  layers: { digest: string; diffId: string; fetched: boolean }[];
}

interface Pushed {
  image: SeedImage;
  repo: string;
  digest: string;
  layers: Manifest['layers'];
}

const RETRY_LINE = /; retrying in \d+ s$/;

/** The lines of stderr that are not retry notices. */
const finalLines = (stderr: string) => stderr.split('\n').filter((l) => l !== '' && !RETRY_LINE.test(l) && !l.includes('waiting for the lock'));

/** Nothing a pull could leave: no image, tag, layer, mapping, driver directory or spool. */
function assertNothingRegistered(root: string, what: string): void {
  const list = (sub: string) => {
    const p = path.join(root, sub);
    return fs.existsSync(p) ? fs.readdirSync(p) : [];
  };
  const meta = 'image/overlay2';
  assert.deepEqual(list(`${meta}/imagedb/content/sha256`), [], `${what}: no image config`);
  assert.deepEqual(list(`${meta}/layerdb/sha256`), [], `${what}: no layer`);
  assert.deepEqual(list(`${meta}/distribution/diffid-by-digest/sha256`), [], `${what}: no diffid-by-digest mapping`);
  assert.deepEqual(list(`${meta}/distribution/v2metadata-by-diffid/sha256`), [], `${what}: no v2metadata mapping`);
  assert.deepEqual(list('overlay2').filter((n) => n !== 'l'), [], `${what}: no driver directory`);
  assert.deepEqual(list('overlay2/l'), [], `${what}: no layer link`);
  assert.deepEqual(list('tmp'), [], `${what}: nothing left in tmp/`);
  const repos = path.join(root, meta, 'repositories.json');
  if (fs.existsSync(repos)) assert.deepEqual(JSON.parse(fs.readFileSync(repos, 'utf8')).Repositories, {}, `${what}: no tag`);
}

/** `Range: bytes=N-` → N. */
function rangeStart(r: RequestRecord): number {
  const m = /^bytes=(\d+)-$/.exec(r.range ?? '');
  assert.ok(m, `a Range request for the rest of the blob, got ${JSON.stringify(r.range)}`);
  return Number(m[1]);
}

describe('registry faults: strata pull against a misbehaving registry', { timeout: 300_000 }, () => {
  let dir: string;
  let reg: Registry;
  let p: FaultProxy;
  /** Three layers; the middle one 24 MiB of random bytes (more than loopback socket buffers hold). */
  let big: Pushed;
  /** Three small layers. */
  let small: Pushed;
  let root: string;
  let env: NodeJS.ProcessEnv;

  const pull = async (ref: string, extra: string[] = []) => strataAsync(['--root', root, ...extra, 'pull', ref], env).done;
  const blobPath = (x: Pushed, i: number) => `/v2/${x.repo}/blobs/${x.layers[i]!.digest}`;

  async function seed(repoTag: string, layers: Parameters<typeof buildImage>[2]): Promise<Pushed> {
    const image = await buildImage(dir, repoTag, layers);
    const digest = await pushArchive(image.archive, target(reg), repoTag);
    const manifest = JSON.parse((await skopeoRawManifest(target(reg), repoTag)).toString()) as Manifest;
    return { image, repo: repoTag.split(':')[0]!, digest, layers: manifest.layers };
  }

  before(async () => {
    dir = tempDir('strata-registry-faults-');
    reg = await startRegistry();
    p = await startFaultProxy(reg);
    big = await seed('faults/big:1', [
      { 'etc/': '', 'etc/motd': 'base\n' },
      { 'data/': '', 'data/big.bin': crypto.randomBytes(24 << 20) },
      { 'etc/': '', 'etc/motd': 'top\n' },
    ]);
    small = await seed('faults/small:1', [
      { 'etc/': '', 'etc/one': 'one\n' },
      { 'etc/': '', 'etc/two': crypto.randomBytes(200_000) },
      { 'etc/': '', 'etc/three': 'three\n' },
    ]);
  });

  after(async () => {
    await p?.close();
    await reg?.stop();
    if (dir) unmountUnder([dir]);
  });

  beforeEach(() => {
    p.reset();
    const home = tempDir('strata-registry-faults-home-');
    root = path.join(home, 'root');
    env = { DOCKER_CONFIG: path.join(home, 'docker-config'), STRATA_INSECURE_REGISTRIES: '' };
  });

  test('registry killed mid-blob and restarted: the pull resumes with Range and completes', async () => {
    const ref = `${p.host}/faults/big:1`;
    const bigBlob = blobPath(big, 1);
    p.addRule({ method: 'GET', path: bigBlob, times: 1, fault: { kind: 'stall', afterBytes: 1 << 20 } });
    const running = strataAsync(['--root', root, '--json', 'pull', ref], env);
    await Promise.race([p.waitForStall(), running.done.then((r) => assert.fail(`the pull ended before the blob stalled: ${r.status} ${r.stderr}`))]);
    await reg.kill();
    p.resume();
    await reg.restart();
    const r = await running.done;
    assert.equal(r.status, 0, `the pull completed after the restart: ${r.stderr}`);
    const pulled = JSON.parse(r.stdout) as PullJson;
    assert.deepEqual([pulled.id, pulled.digest], [big.image.id, big.digest], 'the image, by the manifest pushed');

    const gets = p.matching('GET', bigBlob);
    assert.ok(gets.length >= 2, `the blob was asked for again (${gets.length} GETs)`);
    const [first] = gets;
    assert.equal(first!.complete, false, 'the first answer broke off');
    assert.ok(first!.bytes >= 1 << 20 && first!.bytes < big.layers[1]!.size, `part of the blob reached strata (${first!.bytes} bytes)`);
    const last = gets.at(-1)!;
    assert.deepEqual([last.status, last.complete], [206, true], 'the last GET: 206, complete');
    const start = rangeStart(last);
    assert.ok(start >= 1 << 20 && start <= first!.bytes, `resumed from what had arrived: bytes=${start}- (arrived: ${first!.bytes})`);
    assert.equal(last.bytes, big.layers[1]!.size - start, 'only the rest was transferred');
    assert.deepEqual(fs.readdirSync(path.join(root, 'image/overlay2/layerdb/sha256')).sort(), big.image.chainIds.map((c) => c.slice(7)).sort(), 'every layer registered');
    assert.deepEqual(fs.existsSync(path.join(root, 'tmp')) ? fs.readdirSync(path.join(root, 'tmp')) : [], [], 'no spool left in tmp/');
  });

  test('a blob cut after exactly 1 MiB: resumed with Range from (about) there', async () => {
    const bigBlob = blobPath(big, 1);
    p.addRule({ method: 'GET', path: bigBlob, times: 1, fault: { kind: 'cut', afterBytes: 1 << 20 } });
    const r = await pull(`${p.host}/faults/big:1`);
    assert.equal(r.status, 0, `the pull completed: ${r.stderr}`);
    const gets = p.matching('GET', bigBlob);
    assert.equal(gets.length, 2, 'two GETs of the blob');
    // strata got exactly 1 MiB before the early end; it may drop the last chunk it had in hand
    // when its stream errors (Node's readable iterator does), so it resumes at or a little before.
    const start = rangeStart(gets[1]!);
    assert.ok(start <= 1 << 20 && start > (1 << 20) - (256 << 10), `resumed near the cut: bytes=${start}- (cut at 1048576)`);
    assert.deepEqual([gets[1]!.status, gets[1]!.bytes, gets[1]!.complete], [206, big.layers[1]!.size - start, true], '206 with the rest');
  });

  test('a blob with wrong bytes: rejected in one line, nothing registered', async () => {
    const topBlob = blobPath(small, 2);
    p.addRule({ method: 'GET', path: topBlob, fault: { kind: 'corrupt' } });
    const r = await pull(`${p.host}/faults/small:1`);
    assert.equal(r.status, 1, `exit 1 (got ${r.status}): ${r.stderr}`);
    const lines = finalLines(r.stderr);
    assert.equal(lines.length, 1, `one line:\n${r.stderr}`);
    assert.match(lines[0]!, /^strata: /, 'strata: …');
    assert.ok(lines[0]!.includes(small.layers[2]!.digest), `the line names the blob: ${lines[0]}`);
    assert.ok(p.matching('GET', blobPath(small, 0)).some((x) => x.complete), 'the lower layers were fetched (and must have been released)');
    assertNothingRegistered(root, 'wrong bytes');
  });

  describe('401', () => {
    let authReg: Registry;
    let ap: FaultProxy;

    before(async () => {
      authReg = await startRegistry({ auth: 'htpasswd' });
      ap = await startFaultProxy(authReg);
      await pushArchive(small.image.archive, target(authReg), 'faults/auth:1');
    });

    after(async () => {
      await ap?.close();
      await authReg?.stop();
    });

    test('strata login with a wrong password: one line, exit 1, nothing written', async () => {
      const r = await strataAsync(['login', authReg.host, '-u', authReg.username!, '--password-stdin'], env, 'not-the-password').done;
      assert.equal(r.status, 1, `exit 1: ${r.stderr}`);
      const lines = finalLines(r.stderr);
      assert.equal(lines.length, 1, `one line:\n${r.stderr}`);
      assert.match(lines[0]!, /401 Unauthorized|unauthorized/, `says unauthorized: ${lines[0]}`);
      assert.equal(fs.existsSync(path.join(env.DOCKER_CONFIG!, 'config.json')) && JSON.parse(fs.readFileSync(path.join(env.DOCKER_CONFIG!, 'config.json'), 'utf8')).auths?.[authReg.host] !== undefined, false, 'no credentials stored');
    });

    test('pull with wrong credentials: docker\'s "unauthorized: authentication required", not retried', async () => {
      fs.mkdirSync(env.DOCKER_CONFIG!, { recursive: true });
      fs.writeFileSync(path.join(env.DOCKER_CONFIG!, 'config.json'), JSON.stringify({ auths: { [ap.host]: { auth: Buffer.from(`${authReg.username}:wrong`).toString('base64') } } }), { mode: 0o600 });
      const r = await pull(`${ap.host}/faults/auth:1`);
      assert.equal(r.status, 1, `exit 1: ${r.stderr}`);
      const lines = finalLines(r.stderr);
      assert.deepEqual(lines.length, 1, `one line:\n${r.stderr}`);
      assert.match(lines[0]!, /unauthorized: authentication required/, `docker's wording: ${lines[0]}`);
      assert.equal(r.stderr.split('\n').filter((l) => RETRY_LINE.test(l)).length, 0, 'no retry notice');
      const manifestRequests = ap.matching(undefined, '/manifests/');
      assert.ok(manifestRequests.length <= 2, `not retried: ${manifestRequests.length} manifest request(s)`);
      assertNothingRegistered(root, '401');
    });
  });

  test('404: a missing repository and a missing tag, in docker\'s words, not retried', async () => {
    for (const ref of [`${p.host}/faults/nope:1`, `${p.host}/faults/small:2`]) {
      p.reset();
      const r = await pull(ref);
      assert.equal(r.status, 1, `${ref}: exit 1: ${r.stderr}`);
      const lines = finalLines(r.stderr);
      assert.equal(lines.length, 1, `${ref}: one line:\n${r.stderr}`);
      assert.ok(lines[0]!.includes(`manifest for ${ref} not found: manifest unknown`), `${ref}: docker's wording: ${lines[0]}`);
      assert.ok(p.matching(undefined, '/manifests/').length <= 2, `${ref}: not retried (${p.matching(undefined, '/manifests/').length} manifest requests)`);
    }
    assertNothingRegistered(root, '404');
  });

  test('429 twice with Retry-After: 1, then the pull succeeds, each retry after the wait', async () => {
    p.addRule({ path: '/manifests/', times: 2, fault: { kind: 'status', status: 429, retryAfter: 1 } });
    const r = await pull(`${p.host}/faults/small:1`);
    assert.equal(r.status, 0, `the pull succeeded: ${r.stderr}`);
    const ms = p.matching(undefined, '/manifests/');
    assert.deepEqual(ms.slice(0, 3).map((x) => x.status), [429, 429, 200], 'two 429s, then the manifest');
    for (const i of [1, 2]) {
      const gap = ms[i]!.start - ms[i - 1]!.end!;
      assert.ok(gap >= 950, `retry ${i} came ${gap} ms after the 429 (Retry-After: 1)`);
    }
  });

  test('429 for ever: retried a few times, then docker\'s "toomanyrequests", nothing registered', async () => {
    p.addRule({ path: '/manifests/', fault: { kind: 'status', status: 429, retryAfter: 1 } });
    const r = await pull(`${p.host}/faults/small:1`);
    assert.equal(r.status, 1, `exit 1: ${r.stderr}`);
    const lines = finalLines(r.stderr);
    assert.equal(lines.length, 1, `one line:\n${r.stderr}`);
    assert.match(lines[0]!, /toomanyrequests/, `docker's wording: ${lines[0]}`);
    const n = p.matching(undefined, '/manifests/').length;
    assert.ok(n >= 3, `retried (${n} manifest requests)`);
    assertNothingRegistered(root, '429');
  });

  test('500: twice on the manifest then through; for ever on a blob: retried, then a clear error, nothing registered', async () => {
    p.addRule({ path: '/manifests/', times: 2, fault: { kind: 'status', status: 500 } });
    const transient = await pull(`${p.host}/faults/small:1`);
    assert.equal(transient.status, 0, `two 500s on the manifest, then the pull succeeded: ${transient.stderr}`);
    assert.deepEqual(p.matching(undefined, '/manifests/').slice(0, 3).map((x) => x.status), [500, 500, 200], 'retried after each 500');

    p.reset();
    const root2 = path.join(tempDir('strata-registry-faults-home-'), 'root');
    const blob = blobPath(small, 1);
    p.addRule({ method: 'GET', path: blob, fault: { kind: 'status', status: 500 } });
    // The client's knob for a shorter first wait (0.1 s, doubling): the same retries, sooner.
    const r = await strataAsync(['--root', root2, 'pull', `${p.host}/faults/small:1`], { ...env, STRATA_REGISTRY_BACKOFF_MS: '100' }).done;
    assert.equal(r.status, 1, `exit 1: ${r.stderr}`);
    const lines = finalLines(r.stderr);
    assert.equal(lines.length, 1, `one line:\n${r.stderr}`);
    assert.match(lines[0]!, /received unexpected HTTP status: 500 Internal Server Error/, `docker's wording: ${lines[0]}`);
    const n = p.matching('GET', blob).length;
    assert.ok(n >= 3, `the blob was retried (${n} GETs)`);
    assertNothingRegistered(root2, '500');
  });

  test('SIGINT while a blob is in flight: exit 130, nothing registered', async () => {
    const bigBlob = blobPath(big, 1);
    p.addRule({ method: 'GET', path: bigBlob, times: 1, fault: { kind: 'stall', afterBytes: 1 << 20 } });
    const running = strataAsync(['--root', root, 'pull', `${p.host}/faults/big:1`], env);
    await Promise.race([p.waitForStall(), running.done.then((r) => assert.fail(`the pull ended before the blob stalled: ${r.status} ${r.stderr}`))]);
    // Let the small layers finish (and be registered, if strata registers as they come).
    await new Promise((r) => setTimeout(r, 500));
    running.child.kill('SIGINT');
    const r = await running.done;
    p.resume();
    assert.equal(r.status, 130, `exit 130 (got ${r.status}, signal ${r.signal}): ${r.stderr}`);
    assertNothingRegistered(root, 'SIGINT');
  });
});
