import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { RegistryClient, type Descriptor, isRetryable, NetworkError, RegistryError } from '../../src/registry/index.js';
import type { Digest } from '../../src/digest/index.js';
import { tempDir } from '../helpers/tmp.js';
import { FakeRegistry, sha } from './client-fake-registry.js';

const FAST = { attempts: 4, baseMs: 20, maxMs: 100, maxRetryAfterMs: 5_000 };
const SCHEMA2 = 'application/vnd.docker.distribution.manifest.v2+json';

function blobDesc(bytes: Buffer): Descriptor {
  return { mediaType: 'application/octet-stream', digest: sha(bytes) as Digest, size: bytes.length };
}

async function expectReject(p: Promise<unknown>, check: (e: Error) => void): Promise<void> {
  let caught: unknown;
  try {
    await p;
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof Error, `expected a rejection, got ${String(caught)}`);
  check(caught);
}

describe('RegistryClient against an in-process registry', () => {
  let reg: FakeRegistry;
  const dir = tempDir('strata-client-');
  const big = Buffer.alloc(3 << 20);
  for (let i = 0; i < big.length; i += 4) big.writeUInt32LE((i * 2654435761) >>> 0, i);

  before(async () => {
    reg = await FakeRegistry.start();
    reg.addBlob('team/app', big);
  });
  after(() => reg.close());

  const open = (extra: Parameters<typeof RegistryClient.open>[1] = {}) => RegistryClient.open(reg.host, { retry: FAST, credentials: null, ...extra });

  it('pings over plain HTTP for a loopback registry after HTTPS fails', async () => {
    const c = await open();
    try {
      assert.equal(c.baseUrl, `http://${reg.host}`);
      assert.equal(c.endpoint.secure, false);
    } finally {
      c.close();
    }
  });

  it('refuses plain HTTP for a registry that is not insecure', async () => {
    const c = RegistryClient.open(`localhost.example:1`, { retry: { ...FAST, attempts: 1 }, credentials: null });
    await expectReject(c, (e) => assert.ok(e instanceof NetworkError, `a network error, got ${e.message}`));
  });

  it('fetches a manifest by tag and by digest, and checks Docker-Content-Digest', async () => {
    const bytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: SCHEMA2, config: { mediaType: 'x', size: 1, digest: sha('x') }, layers: [] }));
    const d = reg.addManifest('team/app', 'v1', bytes, SCHEMA2);
    const c = await open();
    try {
      const byTag = await c.getManifest('team/app', 'v1');
      assert.equal(byTag.digest, d);
      assert.equal(byTag.contentType, SCHEMA2);
      assert.deepEqual(byTag.bytes, bytes);
      assert.equal((await c.getManifest('team/app', d)).digest, d);
      const accept = reg.requests(/GET \/v2\/team\/app\/manifests\/v1/);
      assert.ok(accept.length >= 1, 'the manifest was asked for');
      reg.interceptors.push((req, res) => {
        if (!req.url!.endsWith('/manifests/lying')) return false;
        res.writeHead(200, { 'content-type': SCHEMA2, 'docker-content-digest': sha('other') });
        res.end(bytes);
        return true;
      });
      await expectReject(c.getManifest('team/app', 'lying'), (e) => assert.match(e.message, /manifest verification failed for digest sha256:/));
    } finally {
      reg.interceptors.length = 0;
      c.close();
    }
  });

  it('gives docker\'s words for a missing manifest and does not retry a 404', async () => {
    const c = await open();
    try {
      const before = reg.requests(/manifests\/missing/).length;
      await expectReject(c.getManifest('team/app', 'missing'), (e) => {
        assert.equal(e.message, 'manifest unknown: manifest unknown');
        assert.ok(e instanceof RegistryError && e.hasRegistryCode('MANIFEST_UNKNOWN'), 'keeps the registry code');
      });
      assert.equal(reg.requests(/manifests\/missing/).length - before, 1, 'one request, no retry');
    } finally {
      c.close();
    }
  });

  it('resumes a download cut mid-body with Range and verifies the whole', async () => {
    let cuts = 0;
    reg.interceptors.push((req, res) => {
      if (!req.url!.includes('/blobs/') || req.headers.range || cuts > 0) return false;
      cuts++;
      res.writeHead(200, { 'content-length': big.length });
      res.write(big.subarray(0, 1 << 20), () => res.socket?.destroy());
      return true;
    });
    const c = await open();
    const resumes: number[] = [];
    try {
      const file = path.join(dir, 'resumed');
      await c.downloadBlob('team/app', blobDesc(big), file, { onResume: (o) => resumes.push(o) });
      assert.deepEqual(fs.readFileSync(file), big, 'the file holds the whole blob');
      assert.equal(resumes.length, 1, 'resumed once');
      const ranged = reg.log.filter((r) => r.range);
      assert.ok(ranged.length === 1 && ranged[0]!.range === `bytes=${resumes[0]}-`, `asked for the rest: ${JSON.stringify(ranged)}`);
      assert.ok(resumes[0]! > 0 && resumes[0]! <= 1 << 20, `resumed from the bytes received (${resumes[0]})`);
    } finally {
      reg.interceptors.length = 0;
      c.close();
    }
  });

  it('starts over when the registry ignores Range', async () => {
    let cut = false;
    reg.interceptors.push((req, res) => {
      if (!req.url!.includes('/blobs/')) return false;
      res.writeHead(200, { 'content-length': big.length });
      if (!cut) {
        cut = true;
        res.write(big.subarray(0, 100_000), () => res.socket?.destroy());
      } else res.end(big);
      return true;
    });
    const c = await open();
    try {
      const file = path.join(dir, 'restarted');
      await c.downloadBlob('team/app', blobDesc(big), file);
      assert.deepEqual(fs.readFileSync(file), big);
    } finally {
      reg.interceptors.length = 0;
      c.close();
    }
  });

  it('rejects a blob with wrong bytes without retrying', async () => {
    const wrong = Buffer.from(big);
    wrong[12345] ^= 0xff;
    let served = 0;
    reg.interceptors.push((req, res) => {
      if (!req.url!.includes('/blobs/')) return false;
      served++;
      res.writeHead(200, { 'content-length': wrong.length });
      res.end(wrong);
      return true;
    });
    const c = await open();
    try {
      await expectReject(c.downloadBlob('team/app', blobDesc(big), path.join(dir, 'wrong')), (e) => {
        assert.equal(e.message, `filesystem layer verification failed for digest ${sha(big)}`);
        assert.equal(isRetryable(e), false);
      });
      assert.equal(served, 1, 'not retried');
    } finally {
      reg.interceptors.length = 0;
      c.close();
    }
  });

  it('retries 429 after Retry-After and 503 with backoff, then succeeds', async () => {
    const replies = [429, 503];
    const at: number[] = [];
    reg.interceptors.push((req, res) => {
      if (!req.url!.includes('/manifests/v1')) return false;
      at.push(Date.now());
      const status = replies.shift();
      if (status === undefined) return false;
      res.writeHead(status, status === 429 ? { 'retry-after': '1', 'content-type': 'application/json' } : {});
      res.end(status === 429 ? JSON.stringify({ errors: [{ code: 'TOOMANYREQUESTS', message: 'slow down' }] }) : '');
      return true;
    });
    const c = await open();
    const waits: number[] = [];
    try {
      const c2 = await open({ onRetry: (_e, ms) => waits.push(ms) });
      try {
        await c2.getManifest('team/app', 'v1');
      } finally {
        c2.close();
      }
      assert.equal(at.length, 3, 'two failures, then the answer');
      assert.equal(waits[0], 1000, 'Retry-After: 1 is honoured');
      assert.ok(at[1]! - at[0]! >= 950, `waited ${at[1]! - at[0]!} ms after the 429`);
    } finally {
      reg.interceptors.length = 0;
      c.close();
    }
  });

  it('gives up on a persistent 500 with docker\'s message after the attempts', async () => {
    let n = 0;
    reg.interceptors.push((req, res) => {
      if (!req.url!.includes('/manifests/')) return false;
      n++;
      res.writeHead(500).end('boom');
      return true;
    });
    const c = await open();
    try {
      await expectReject(c.getManifest('team/app', 'v1'), (e) => assert.equal(e.message, 'received unexpected HTTP status: 500 Internal Server Error'));
      assert.equal(n, FAST.attempts, 'every attempt was made');
    } finally {
      reg.interceptors.length = 0;
      c.close();
    }
  });

  it('gives up on a persistent 429 with the registry\'s message', async () => {
    reg.interceptors.push((req, res) => {
      if (!req.url!.includes('/manifests/')) return false;
      res.writeHead(429, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ errors: [{ code: 'TOOMANYREQUESTS', message: 'You have reached your pull rate limit.' }] }));
      return true;
    });
    const c = await open();
    try {
      await expectReject(c.getManifest('team/app', 'v1'), (e) => assert.equal(e.message, 'toomanyrequests: You have reached your pull rate limit.'));
    } finally {
      reg.interceptors.length = 0;
      c.close();
    }
  });

  it('uploads a streamed blob (POST, PATCH, PUT ?digest=) and mounts across repositories', async () => {
    const c = await open({ push: true });
    try {
      const data = Buffer.from('layer bytes '.repeat(10000));
      const chunks = () =>
        (async function* () {
          for (let i = 0; i < data.length; i += 7000) yield data.subarray(i, i + 7000);
        })();
      const up = await c.uploadBlob('team/up', chunks);
      assert.deepEqual(up, { digest: sha(data), size: data.length });
      assert.deepEqual(reg.blobs.get('team/up')?.get(sha(data)), data, 'the registry has the bytes');
      assert.equal(await c.blobExists('team/up', sha(data) as Digest), data.length);
      assert.equal(await c.blobExists('team/other', sha(data) as Digest), undefined);
      assert.equal(await c.mountBlob('team/other', sha(data) as Digest, 'team/up'), true, 'mounted');
      assert.equal(await c.mountBlob('team/third', sha('nothing') as Digest, 'team/up'), false, 'nothing to mount: an upload session, cancelled');
      assert.ok(reg.requests(/^DELETE \/v2\/team\/third\/blobs\/uploads\//).length === 1, 'the session was cancelled');
      const config = Buffer.from('{"config":1}');
      assert.equal(await c.uploadBlobBytes('team/up', config), sha(config));
      const manifest = Buffer.from('{"schemaVersion":2}');
      assert.equal(await c.putManifest('team/up', 'v9', manifest, SCHEMA2), sha(manifest));
    } finally {
      c.close();
    }
  });
});

describe('RegistryClient authentication', () => {
  it('fetches one bearer token per scope set, with the user as account, and renews a rejected one', async () => {
    const reg = await FakeRegistry.start({ auth: 'bearer', username: 'u', password: 'p' });
    const blob = Buffer.from('blob');
    reg.addBlob('team/app', blob);
    try {
      const c = await RegistryClient.open(reg.host, { retry: FAST, credentials: { username: 'u', password: 'p' } });
      try {
        await c.getBlob('team/app', blobDesc(blob));
        await c.getBlob('team/app', blobDesc(blob));
        assert.deepEqual(reg.tokensIssued, ['repository:team/app:pull'], 'one token, reused');
        const tokenReq = reg.requests(/^GET \/token/)[0]!;
        assert.match(tokenReq.url, /service=fake/);
        assert.match(tokenReq.url, /account=u/);
        assert.equal(tokenReq.authorization, `Basic ${Buffer.from('u:p').toString('base64')}`);
        // A token the registry stops accepting: 401 invalid_token → a new one, once.
        let refused = false;
        reg.interceptors.push((req, res) => {
          if (refused || !req.url!.includes('/blobs/')) return false;
          refused = true;
          res.writeHead(401, { 'www-authenticate': `Bearer realm="http://${reg.host}/token",service="fake",error="invalid_token"` }).end();
          return true;
        });
        await c.getBlob('team/app', blobDesc(blob));
        assert.equal(reg.tokensIssued.length, 2, 'a fresh token after the refusal');
      } finally {
        c.close();
      }
      const bad = await RegistryClient.open(reg.host, { retry: FAST, credentials: { username: 'u', password: 'wrong' } });
      try {
        await expectReject(bad.getBlob('team/app', blobDesc(blob)), (e) => assert.equal(e.message, 'unauthorized: incorrect username or password'));
      } finally {
        bad.close();
      }
    } finally {
      await reg.close();
    }
  });

  it('sends basic credentials only after the challenge, and reports a refusal as docker does', async () => {
    const reg = await FakeRegistry.start({ auth: 'basic', username: 'u', password: 'p' });
    try {
      const anon = await RegistryClient.open(reg.host, { retry: FAST, credentials: null });
      try {
        await expectReject(anon.getManifest('team/app', 'v1'), (e) => assert.equal(e.message, 'unauthorized: authentication required'));
      } finally {
        anon.close();
      }
      const c = await RegistryClient.open(reg.host, { retry: FAST, credentials: { username: 'u', password: 'p' } });
      try {
        await c.login();
        await expectReject(c.getManifest('team/app', 'v1'), (e) => assert.equal(e.message, 'manifest unknown: manifest unknown'));
        assert.equal(reg.log.at(-1)!.authorization, `Basic ${Buffer.from('u:p').toString('base64')}`);
      } finally {
        c.close();
      }
    } finally {
      await reg.close();
    }
  });

  it('follows a redirect to another host without the Authorization header', async () => {
    const store = await FakeRegistry.start({ address: '127.0.0.2' });
    const reg = await FakeRegistry.start({ auth: 'basic', username: 'u', password: 'p' });
    const blob = Buffer.from('redirected blob');
    store.addBlob('bucket', blob);
    reg.addBlob('team/app', blob);
    reg.interceptors.push((req, res) => {
      if (!req.url!.includes('/blobs/') || !req.headers.authorization) return false;
      res.writeHead(307, { location: `http://${store.host}/v2/bucket/blobs/${sha(blob)}` }).end();
      return true;
    });
    try {
      const c = await RegistryClient.open(reg.host, { retry: FAST, credentials: { username: 'u', password: 'p' } });
      try {
        assert.deepEqual(await c.getBlob('team/app', blobDesc(blob)), blob);
        const got = store.requests(/GET \/v2\/bucket\/blobs/);
        assert.equal(got.length, 1, 'the blob store was asked');
        assert.equal(got[0]!.authorization, undefined, 'without the registry credentials');
      } finally {
        c.close();
      }
    } finally {
      await reg.close();
      await store.close();
    }
  });
});

describe('manifests', () => {
  const d = (s: string) => sha(s) as Digest;
  const index = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: [
        { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: d('amd64'), size: 1, platform: { os: 'linux', architecture: 'amd64' } },
        { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: d('armv6'), size: 1, platform: { os: 'linux', architecture: 'arm', variant: 'v6' } },
        { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: d('armv7'), size: 1, platform: { os: 'linux', architecture: 'arm', variant: 'v7' } },
        { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: d('arm64'), size: 1, platform: { os: 'linux', architecture: 'arm64' } },
      ],
    }),
  );

  it('picks the platform from an index, an exact variant first', async () => {
    const { parseManifest, pickPlatform } = await import('../../src/registry/index.js');
    const m = parseManifest(index);
    assert.equal(m.kind, 'index');
    if (m.kind !== 'index') return;
    assert.equal(pickPlatform(m, { os: 'linux', architecture: 'amd64' }).digest, d('amd64'));
    assert.equal(pickPlatform(m, { os: 'linux', architecture: 'arm', variant: 'v7' }).digest, d('armv7'));
    assert.equal(pickPlatform(m, { os: 'linux', architecture: 'arm64', variant: 'v8' }).digest, d('arm64'));
    assert.throws(() => pickPlatform(m, { os: 'linux', architecture: 's390x' }), /^StrataError: no matching manifest for linux\/s390x in the manifest list entries$/);
  });

  it('tells the kinds apart by mediaType, Content-Type, then shape; refuses schema 1', async () => {
    const { parseManifest } = await import('../../src/registry/index.js');
    const image = { schemaVersion: 2, config: { digest: d('c'), size: 1 }, layers: [{ digest: d('l'), size: 2, mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip' }] };
    assert.equal(parseManifest(Buffer.from(JSON.stringify(image))).kind, 'image');
    assert.equal(parseManifest(Buffer.from(JSON.stringify(image)), `${SCHEMA2}; charset=utf-8`).mediaType, SCHEMA2);
    assert.throws(() => parseManifest(Buffer.from(JSON.stringify({ schemaVersion: 1, fsLayers: [] }))), /schema 1/);
    assert.throws(() => parseManifest(Buffer.from('{"schemaVersion":2,"config":{"digest":"md5:x","size":1},"layers":[]}')), /unsupported digest/);
  });

  it('writes the manifest docker writes (3-space indent, Go field order)', async () => {
    const { imageManifestBytes, MEDIA_TYPES } = await import('../../src/registry/index.js');
    const bytes = imageManifestBytes({ mediaType: MEDIA_TYPES.dockerConfig, digest: d('c'), size: 5 }, [{ mediaType: MEDIA_TYPES.dockerLayer, digest: d('l'), size: 7 }], 'docker');
    assert.equal(
      bytes.toString(),
      `{\n   "schemaVersion": 2,\n   "mediaType": "${SCHEMA2}",\n   "config": {\n      "mediaType": "application/vnd.docker.container.image.v1+json",\n      "size": 5,\n      "digest": "${d('c')}"\n   },\n   "layers": [\n      {\n         "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",\n         "size": 7,\n         "digest": "${d('l')}"\n      }\n   ]\n}`,
    );
  });
});
