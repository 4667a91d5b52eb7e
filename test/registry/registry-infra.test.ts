/**
 * The registry test infrastructure, tested on its own (no strata client involved):
 *
 * - `startRegistry` in its three modes (plain HTTP, htpasswd basic auth, TLS with a self-signed
 *   certificate; and auth over TLS): `/v2/` answers as distribution does in each, skopeo pushes a
 *   built image through it and `skopeo inspect` sees the digest skopeo wrote, the layers and the
 *   config (whose digest is the image ID); the htpasswd registry refuses anonymous and wrong
 *   credentials; the TLS one is trusted with its certs.d `ca.crt` and not without; `kill` +
 *   `restart` keep the port and the data.
 * - the fault proxy: transparent when no rule applies (skopeo pushes and inspects through it, so
 *   the registry's `Location`s point back at it; `Range` gives 206), and each fault does what it
 *   says against plain HTTP requests: `status` (429 with Retry-After, spent after `times`; 401
 *   with a challenge; 404 with distribution's codes; 500), `cut` (exactly N bytes, then the
 *   connection closed; or reset, and then at most N bytes),
 *   `corrupt` (same length, one byte flipped), `stall` (N bytes, then the registry killed: the
 *   client's response ends short; while the registry is down connections are reset; after a
 *   restart the rest comes with a Range request), and TLS in front of a TLS registry.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import path from 'node:path';
import { tempDir } from '../helpers/tmp.js';
import { startRegistry, type Registry } from './registry.js';
import { startFaultProxy, type FaultProxy } from './fault-proxy.js';
import { buildImage, pushArchive, skopeoInspect, skopeoRawConfig, skopeoRawManifest, target, type SeedImage } from './seed.js';

interface Got {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  /** Set when the connection broke (before or during the body). */
  error?: string;
}

/** One request; resolves even when the connection breaks, with what arrived until then. */
function get(url: string, opts: { method?: string; headers?: Record<string, string>; ca?: Buffer } = {}): Promise<Got> {
  return new Promise((resolve) => {
    const mod = url.startsWith('https:') ? https : http;
    const got: Got = { status: 0, headers: {}, body: Buffer.alloc(0) };
    const chunks: Buffer[] = [];
    const done = (error?: string) => {
      got.body = Buffer.concat(chunks);
      if (error) got.error = error;
      resolve(got);
    };
    const req = mod.request(url, { method: opts.method ?? 'GET', headers: opts.headers ?? {}, agent: false, ...(opts.ca ? { ca: opts.ca } : {}) }, (res) => {
      got.status = res.statusCode ?? 0;
      got.headers = res.headers;
      res.on('data', (b: Buffer) => chunks.push(b));
      res.on('end', () => done(res.complete ? undefined : 'incomplete'));
      res.on('error', (e) => done(e.message));
    });
    req.on('error', (e) => done((e as NodeJS.ErrnoException).code ?? e.message));
    req.end();
  });
}

const sha256 = (b: Buffer) => `sha256:${crypto.createHash('sha256').update(b).digest('hex')}`;
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

interface Manifest {
  config: { digest: string; size: number };
  layers: { digest: string; size: number; mediaType: string }[];
}

describe('registry infrastructure', { timeout: 180_000 }, () => {
  let dir: string;
  let img: SeedImage;
  const registries: Registry[] = [];
  const proxies: FaultProxy[] = [];

  before(async () => {
    dir = tempDir('strata-registry-infra-');
    // Two layers; the second holds 24 MiB of random bytes, more than loopback socket buffers
    // hold, so a stalled response really leaves the registry mid-write.
    img = await buildImage(dir, 'infra/app:1', [
      { 'etc/': '', 'etc/motd': 'hello from the registry test\n' },
      { 'data/': '', 'data/big.bin': crypto.randomBytes(24 << 20), 'data/small.txt': 'small\n' },
    ]);
  });

  after(async () => {
    for (const p of proxies) await p.close();
    for (const r of registries) await r.stop();
  });

  async function registry(opts: Parameters<typeof startRegistry>[0] = {}): Promise<Registry> {
    const r = await startRegistry(opts);
    registries.push(r);
    return r;
  }

  async function proxy(r: Registry): Promise<FaultProxy> {
    const p = await startFaultProxy(r);
    proxies.push(p);
    return p;
  }

  /** skopeo pushes `img`; skopeo inspect agrees with the digest, the layers and the config. */
  async function pushAndInspect(r: Registry, repoTag: string, via?: { host: string }): Promise<{ digest: string; manifest: Manifest }> {
    const t = target(r, via);
    const digest = await pushArchive(img.archive, t, repoTag);
    assert.match(digest, /^sha256:[0-9a-f]{64}$/, 'skopeo wrote the pushed digest');
    const raw = await skopeoRawManifest(t, repoTag);
    assert.equal(sha256(raw), digest, 'the stored manifest hashes to the digest skopeo reported');
    const manifest = JSON.parse(raw.toString()) as Manifest;
    assert.equal(manifest.config.digest, img.id, 'the manifest names the image config (digest = image ID)');
    assert.equal(sha256(await skopeoRawConfig(t, repoTag)), img.id, 'the config blob hashes to the image ID');
    const inspected = await skopeoInspect(t, repoTag);
    assert.equal(inspected.Digest, digest, 'skopeo inspect: the digest');
    assert.deepEqual(inspected.Layers, manifest.layers.map((l) => l.digest), 'skopeo inspect: the layers');
    assert.equal(inspected.Layers.length, 2, 'two layers');
    return { digest, manifest };
  }

  test('plain HTTP: /v2/ answers 200 with the API version header; skopeo push and inspect; kill and restart keep port and data', async () => {
    const r = await registry();
    assert.match(r.host, /^127\.0\.0\.1:\d+$/, 'host is loopback with a port');
    assert.equal(r.url, `http://${r.host}`, 'url');
    const v2 = await get(`${r.url}/v2/`);
    assert.equal(v2.status, 200, '/v2/ answers 200');
    assert.equal(v2.headers['docker-distribution-api-version'], 'registry/2.0', 'distribution API header');
    const { digest } = await pushAndInspect(r, 'infra/plain:1');

    const pid = r.pid;
    await r.kill();
    const down = await get(`${r.url}/v2/`);
    assert.equal(down.error, 'ECONNREFUSED', 'killed: the port is closed');
    await r.restart();
    assert.notEqual(r.pid, pid, 'a new process');
    const again = await get(`${r.url}/v2/infra/plain/manifests/1`, { method: 'HEAD', headers: { Accept: 'application/vnd.docker.distribution.manifest.v2+json' } });
    assert.equal(again.status, 200, 'after restart: the manifest is still there');
    assert.equal(again.headers['docker-content-digest'], digest, 'after restart: the same digest');
  });

  test('htpasswd: anonymous and wrong credentials get 401 with a Basic challenge; the user pushes with skopeo', async () => {
    const r = await registry({ auth: 'htpasswd' });
    assert.ok(r.username && r.password, 'a user and a password');
    const anon = await get(`${r.url}/v2/`);
    assert.equal(anon.status, 401, 'anonymous: 401');
    assert.equal(anon.headers['www-authenticate'], 'Basic realm="strata-test"', 'anonymous: a Basic challenge');
    const wrong = await get(`${r.url}/v2/`, { headers: { Authorization: `Basic ${Buffer.from(`${r.username}:nope`).toString('base64')}` } });
    assert.equal(wrong.status, 401, 'wrong password: 401');
    assert.equal((await get(`${r.url}/v2/`, { headers: r.authHeaders() })).status, 200, 'the user: 200');
    const htpasswd = fs.readFileSync(path.join(r.tmpDir, 'htpasswd'), 'utf8');
    assert.match(htpasswd, new RegExp(`^${r.username}:\\$2y\\$`), 'the password is stored with bcrypt');
    await assert.rejects(pushArchive(img.archive, { host: r.host, tls: false }, 'infra/auth:1'), /unauthorized|authentication required/, 'skopeo without credentials is refused');
    await pushAndInspect(r, 'infra/auth:1');
  });

  test('TLS: the certificate is for IP 127.0.0.1, trusted through certs.d/<host>/ca.crt and refused without it; skopeo verifies it', async () => {
    const r = await registry({ tls: true, auth: 'htpasswd' });
    assert.equal(r.url, `https://${r.host}`, 'https url');
    const caFile = path.join(r.caDir!, r.host, 'ca.crt');
    assert.ok(fs.existsSync(caFile), 'certs.d layout: <caDir>/<host>/ca.crt');
    const cert = new crypto.X509Certificate(fs.readFileSync(caFile));
    assert.equal(cert.subjectAltName, 'IP Address:127.0.0.1', 'subjectAltName is the loopback IP');
    const untrusted = await get(`${r.url}/v2/`);
    assert.equal(untrusted.error, 'DEPTH_ZERO_SELF_SIGNED_CERT', 'without the CA the certificate is refused');
    const plain = await get(`http://${r.host}/v2/`);
    assert.equal(plain.status, 400, 'plain HTTP to the TLS port: Go answers 400');
    const trusted = await get(`${r.url}/v2/`, { ca: fs.readFileSync(caFile), headers: r.authHeaders() });
    assert.equal(trusted.status, 200, 'with the CA and the user: 200');
    await pushAndInspect(r, 'infra/tls:1');
    await r.restart();
    assert.equal((await skopeoInspect(target(r), 'infra/tls:1')).Layers.length, 2, 'TLS registry restarted: the image is still there');
  });

  test('TLS without auth', async () => {
    const r = await registry({ tls: true });
    assert.equal(r.username, undefined, 'no user');
    assert.equal((await get(`${r.url}/v2/`, { ca: fs.readFileSync(r.certFile!) })).status, 200, 'anonymous 200 over TLS');
    await pushAndInspect(r, 'infra/tls-anon:1');
  });

  describe('fault proxy', () => {
    let r: Registry;
    let p: FaultProxy;
    let manifest: Manifest;
    /** The big layer's blob (its digest and bytes, as the registry serves them). */
    let big: { digest: string; size: number; bytes: Buffer };
    const manifestPath = '/v2/infra/proxied/manifests/1';
    const accept = { Accept: 'application/vnd.docker.distribution.manifest.v2+json' };
    const blobPath = () => `/v2/infra/proxied/blobs/${big.digest}`;

    before(async () => {
      r = await registry();
      p = await proxy(r);
      // Pushed through the proxy: the upload Locations the registry hands out must point at it.
      ({ manifest } = await pushAndInspect(r, 'infra/proxied:1', p));
      const l = [...manifest.layers].sort((a, b) => b.size - a.size)[0]!;
      const direct = await get(`${r.url}/v2/infra/proxied/blobs/${l.digest}`);
      assert.equal(sha256(direct.body), l.digest, 'the registry serves the big blob');
      big = { digest: l.digest, size: l.size, bytes: direct.body };
    });

    test('no rule: requests pass through; uploads were routed back through the proxy; Range gives 206', async () => {
      const posts = p.matching('POST', '/blobs/uploads/');
      assert.ok(posts.length >= 1, `skopeo's uploads went through the proxy (${posts.length} POSTs)`);
      const puts = p.matching('PUT', '/blobs/uploads/');
      assert.ok(puts.length >= 1 && puts.every((x) => x.status === 201), 'the PUTs that finish the uploads came to the proxy too, 201 each');
      const m = await get(p.url + manifestPath, { headers: accept });
      assert.equal(m.status, 200, 'manifest through the proxy');
      assert.equal(sha256(m.body), m.headers['docker-content-digest'], 'the manifest as the registry serves it');
      const part = await get(p.url + blobPath(), { headers: { Range: 'bytes=1000-' } });
      assert.equal(part.status, 206, 'Range: 206 Partial Content');
      assert.ok(part.body.equals(big.bytes.subarray(1000)), 'Range: the rest of the blob');
      const rec = p.requests.at(-1)!;
      assert.deepEqual([rec.method, rec.range, rec.status, rec.bytes, rec.complete, rec.fault], ['GET', 'bytes=1000-', 206, big.size - 1000, true, undefined], 'the log records the request');
    });

    test('status: 429 with Retry-After for `times` requests, then the registry answers; 401, 404 and 500 bodies', async () => {
      const rule = p.addRule({ method: 'GET', path: '/manifests/', times: 2, fault: { kind: 'status', status: 429, retryAfter: 3 } });
      for (let i = 0; i < 2; i++) {
        const got = await get(p.url + manifestPath, { headers: accept });
        assert.equal(got.status, 429, `request ${i + 1}: 429`);
        assert.equal(got.headers['retry-after'], '3', 'Retry-After');
        assert.equal(JSON.parse(got.body.toString()).errors[0].code, 'TOOMANYREQUESTS', 'distribution error code');
      }
      assert.equal((await get(p.url + manifestPath, { headers: accept })).status, 200, 'the rule is spent: 200');
      assert.equal(rule.hits, 2, 'the rule counted its hits');
      assert.deepEqual(p.matching('GET', manifestPath).slice(-3).map((x) => [x.status, x.fault ?? '-']), [[429, 'status'], [429, 'status'], [200, '-']], 'the log shows the faults');
      p.clearRules();

      p.addRule({ path: '/manifests/', times: 1, fault: { kind: 'status', status: 401 } });
      const unauthorized = await get(p.url + manifestPath);
      assert.equal(unauthorized.status, 401, '401');
      assert.equal(unauthorized.headers['www-authenticate'], 'Basic realm="strata-test"', '401 carries a challenge');
      p.addRule({ path: '/manifests/', times: 1, fault: { kind: 'status', status: 404 } });
      p.addRule({ path: '/blobs/', times: 1, fault: { kind: 'status', status: 404 } });
      p.addRule({ path: '/tags/', times: 1, fault: { kind: 'status', status: 404 } });
      assert.equal(JSON.parse((await get(p.url + manifestPath)).body.toString()).errors[0].code, 'MANIFEST_UNKNOWN', '404 on a manifest');
      assert.equal(JSON.parse((await get(p.url + blobPath())).body.toString()).errors[0].code, 'BLOB_UNKNOWN', '404 on a blob');
      assert.equal(JSON.parse((await get(`${p.url}/v2/infra/proxied/tags/list`)).body.toString()).errors[0].code, 'NAME_UNKNOWN', '404 elsewhere');
      p.addRule({ method: 'HEAD', path: '/blobs/', times: 1, fault: { kind: 'status', status: 500 } });
      const head = await get(p.url + blobPath(), { method: 'HEAD' });
      assert.deepEqual([head.status, head.body.length], [500, 0], 'HEAD: 500 without a body');
      assert.equal((await get(p.url + blobPath(), { method: 'HEAD' })).status, 200, 'and then through');
      p.clearRules();
    });

    test('cut: exactly N body bytes, then the connection is closed; or reset', async () => {
      p.addRule({ path: big.digest, times: 1, fault: { kind: 'cut', afterBytes: 100_000 } });
      const got = await get(p.url + blobPath());
      assert.equal(got.status, 200, 'the headers came');
      assert.equal(got.headers['content-length'], String(big.size), 'with the full Content-Length');
      assert.ok(got.error, 'the response ended early');
      assert.equal(got.body.length, 100_000, 'exactly N bytes arrived');
      assert.ok(got.body.equals(big.bytes.subarray(0, 100_000)), 'the right bytes');
      const rec = p.requests.at(-1)!;
      assert.deepEqual([rec.fault, rec.bytes, rec.complete, rec.contentLength], ['cut', 100_000, false, big.size], 'the log');
      const rest = await get(p.url + blobPath(), { headers: { Range: 'bytes=100000-' } });
      assert.ok(Buffer.concat([got.body, rest.body]).equals(big.bytes), 'resuming with Range gives the blob');

      p.addRule({ path: big.digest, times: 1, fault: { kind: 'cut', afterBytes: 100_000, how: 'reset' } });
      const reset = await get(p.url + blobPath());
      assert.ok(reset.error, `reset: the connection broke (${reset.error})`);
      assert.ok(reset.body.length <= 100_000, `reset: at most N bytes arrived (${reset.body.length})`);
      assert.ok(reset.body.equals(big.bytes.subarray(0, reset.body.length)), 'reset: the right bytes');
    });

    test('corrupt: the same length with one byte flipped', async () => {
      p.addRule({ path: big.digest, times: 1, fault: { kind: 'corrupt' } });
      const got = await get(p.url + blobPath());
      assert.equal(got.status, 200, '200');
      assert.equal(got.error, undefined, 'a complete response');
      assert.equal(got.body.length, big.size, 'the same length');
      assert.notEqual(sha256(got.body), big.digest, 'the digest no longer matches');
      let differing = 0;
      for (let i = 0; i < got.body.length; i++) if (got.body[i] !== big.bytes[i]) differing++;
      assert.equal(differing, 1, 'one byte differs');
      assert.equal(sha256((await get(p.url + blobPath())).body), big.digest, 'the rule is spent: the right bytes');
    });

    test('stall: the registry killed mid-blob ends the response short; connections reset while it is down; Range after the restart', async () => {
      p.addRule({ path: big.digest, times: 1, fault: { kind: 'stall', afterBytes: 1 << 20 } });
      const pending = get(p.url + blobPath());
      const stalled = await p.waitForStall();
      assert.equal(stalled.bytes, 1 << 20, 'stalled after N bytes');
      await r.kill();
      p.resume();
      const got = await pending;
      assert.ok(got.error, 'the client saw the connection break');
      assert.ok(got.body.length >= 1 << 20 && got.body.length < big.size, `some bytes but not all arrived (${got.body.length} of ${big.size})`);
      assert.ok(got.body.equals(big.bytes.subarray(0, got.body.length)), 'the bytes that arrived are right');
      const rec = p.requests.find((x) => x.seq === stalled.seq)!;
      assert.equal(rec.complete, false, 'the log: incomplete');

      const whileDown = await get(p.url + blobPath(), { headers: { Range: `bytes=${got.body.length}-` } });
      assert.equal(whileDown.status, 0, 'registry down: no response');
      assert.ok(whileDown.error, `registry down: the connection is broken (${whileDown.error})`);
      await r.restart();
      const rest = await get(p.url + blobPath(), { headers: { Range: `bytes=${got.body.length}-` } });
      assert.equal(rest.status, 206, 'after the restart: 206');
      assert.equal(sha256(Buffer.concat([got.body, rest.body])), big.digest, 'the two parts make the blob');
    });

    test('TLS in front of a TLS registry; waiting requests see Retry-After in seconds', async () => {
      const tr = await registry({ tls: true });
      const tp = await proxy(tr);
      assert.equal(tp.url, `https://${tp.host}`, 'the proxy speaks TLS');
      await pushAndInspect(tr, 'infra/tls-proxied:1', tp);
      tp.addRule({ path: '/v2/', times: 1, fault: { kind: 'status', status: 429, retryAfter: 1 } });
      const ca = fs.readFileSync(tr.certFile!);
      const first = await get(`${tp.url}/v2/`, { ca });
      assert.equal(first.status, 429, '429 over TLS');
      await sleep(Number(first.headers['retry-after']) * 1000);
      assert.equal((await get(`${tp.url}/v2/`, { ca })).status, 200, 'then 200');
      const [a, b] = tp.matching('GET', /^\/v2\/$/).slice(-2);
      assert.ok(b!.start - a!.end! >= 1000, 'the log keeps times: the second request came a second later');
    });
  });
});
