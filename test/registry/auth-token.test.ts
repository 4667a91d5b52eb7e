/**
 * Bearer-token auth against the real thing: Debian's docker-registry with `auth: token`, pointed
 * at a token server written here (what Docker Hub's auth.docker.io does): it checks basic
 * credentials and signs a JWT (RS256, its certificate in `x5c`) granting the scopes asked for —
 * every action to the user, pull to anonymous callers only on `public/…`.
 */
import assert from 'node:assert/strict';
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { openEngine } from '../../src/engine/engine.js';
import { pullImage } from '../../src/engine/pull.js';
import { pushImage } from '../../src/engine/push.js';
import { imageArchive } from '../../src/engine/build.js';
import { loadImages } from '../../src/engine/load/load.js';
import { RegistryClient } from '../../src/registry/index.js';
import { pipeline } from 'node:stream/promises';
import { tempDir } from '../helpers/tmp.js';

const USER = 'alice';
const PASS = 'wonderland';

function b64url(x: Buffer | string): string {
  return Buffer.from(x).toString('base64url');
}

async function freePort(): Promise<number> {
  const s = http.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

describe('Bearer token auth with docker-registry', () => {
  const dir = tempDir('strata-token-');
  let registry: ChildProcess;
  let tokens: http.Server;
  let host = '';
  const issued: { account: string | null; scope: string[] }[] = [];

  before(async () => {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', path.join(dir, 'key.pem'), '-out', path.join(dir, 'cert.pem'), '-days', '2', '-subj', '/CN=strata-token'], { stdio: 'ignore' });
    const key = crypto.createPrivateKey(fs.readFileSync(path.join(dir, 'key.pem')));
    const der = new crypto.X509Certificate(fs.readFileSync(path.join(dir, 'cert.pem'))).raw;
    tokens = http.createServer((req, res) => {
      const url = new URL(req.url!, 'http://x');
      const auth = req.headers.authorization;
      const user = auth === `Basic ${Buffer.from(`${USER}:${PASS}`).toString('base64')}` ? USER : auth ? undefined : '';
      if (user === undefined) {
        res.writeHead(401, { 'content-type': 'application/json' }).end(JSON.stringify({ details: 'incorrect username or password' }));
        return;
      }
      const scope = url.searchParams.getAll('scope');
      issued.push({ account: url.searchParams.get('account'), scope });
      const access = scope.flatMap((s) => {
        const [type, name, actions] = [s.split(':')[0]!, s.split(':').slice(1, -1).join(':'), s.split(':').at(-1)!.split(',')];
        const allowed = user ? actions : name.startsWith('public/') ? actions.filter((a) => a === 'pull') : [];
        return allowed.length ? [{ type, name, actions: allowed }] : [];
      });
      const now = Math.floor(Date.now() / 1000);
      const header = b64url(JSON.stringify({ typ: 'JWT', alg: 'RS256', x5c: [der.toString('base64')] }));
      const claims = b64url(JSON.stringify({ iss: 'strata-test-issuer', sub: user, aud: 'strata-test', exp: now + 300, nbf: now - 10, iat: now, jti: crypto.randomUUID(), access }));
      const sig = b64url(crypto.sign('sha256', Buffer.from(`${header}.${claims}`), key));
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token: `${header}.${claims}.${sig}`, expires_in: 300, issued_at: new Date().toISOString() }));
    });
    await new Promise<void>((r) => tokens.listen(0, '127.0.0.1', r));
    const port = await freePort();
    host = `127.0.0.1:${port}`;
    fs.writeFileSync(
      path.join(dir, 'config.yml'),
      [
        'version: 0.1',
        'log:',
        '  level: warn',
        'storage:',
        '  filesystem:',
        `    rootdirectory: ${JSON.stringify(path.join(dir, 'data'))}`,
        'http:',
        `  addr: ${host}`,
        'auth:',
        '  token:',
        `    realm: http://127.0.0.1:${(tokens.address() as AddressInfo).port}/token`,
        '    service: strata-test',
        '    issuer: strata-test-issuer',
        `    rootcertbundle: ${JSON.stringify(path.join(dir, 'cert.pem'))}`,
        '',
      ].join('\n'),
    );
    registry = spawn('/usr/bin/docker-registry', ['serve', path.join(dir, 'config.yml')], { stdio: 'ignore' });
    for (let i = 0; ; i++) {
      const ok = await new Promise<boolean>((r) => http.get(`http://${host}/v2/`, (res) => (res.resume(), r(res.statusCode === 401))).on('error', () => r(false)));
      if (ok) break;
      if (i > 200) throw new Error('docker-registry did not start');
      await new Promise((r) => setTimeout(r, 50));
    }
  });
  after(async () => {
    registry?.kill('SIGKILL');
    await new Promise<void>((r) => (tokens ? tokens.close(() => r()) : r()));
  });

  it('pushes with credentials, pulls anonymously where allowed, and refuses as docker words it', async () => {
    fs.mkdirSync(path.join(dir, 'layer'));
    fs.writeFileSync(path.join(dir, 'layer', 'hello'), 'hello\n');
    await pipeline(imageArchive({ layers: [path.join(dir, 'layer')], tag: 'hello:1', scratchDir: dir }), fs.createWriteStream(path.join(dir, 'hello.tar')));
    const src = await openEngine({ root: path.join(dir, 'src') });
    try {
      const { images } = await loadImages(src, path.join(dir, 'hello.tar'));
      src.images.references.addTag(`${host}/public/hello:1`, images[0]!.id, true);
      await assert.rejects(pushImage(src, `${host}/public/hello:1`, { credentials: null }), /^RegistryError: denied: requested access to the resource is denied$|^RegistryError: unauthorized/);
      const pushed = await pushImage(src, `${host}/public/hello:1`, { credentials: { username: USER, password: PASS } });
      assert.deepEqual(pushed.layers.map((l) => l.action), ['pushed']);
      assert.ok(issued.some((t) => t.account === USER && t.scope.includes('repository:public/hello:pull,push')), `a push token was asked for: ${JSON.stringify(issued)}`);
      src.images.references.addTag(`${host}/private/hello:1`, images[0]!.id, true);
      const mounted = await pushImage(src, `${host}/private/hello:1`, { credentials: { username: USER, password: PASS } });
      assert.deepEqual(mounted.layers.map((l) => l.action), ['mounted'], 'mounted with a token for both repositories');
      assert.ok(issued.some((t) => t.scope.includes('repository:public/hello:pull') && t.scope.includes('repository:private/hello:pull,push')), 'the mount token names the source too');
    } finally {
      await src.close();
    }
    const dst = await openEngine({ root: path.join(dir, 'dst') });
    try {
      const before = issued.length;
      const anon = await pullImage(dst, `${host}/public/hello:1`, { credentials: null });
      assert.equal(anon.layers.length, 1);
      assert.equal(issued.length - before, 1, 'one token for the whole pull');
      await assert.rejects(
        pullImage(dst, `${host}/private/hello:1`, { credentials: null }),
        (e: Error) => (assert.match(e.message, new RegExp(`^pull access denied for ${host.replace(/\./g, '\\.')}/private/hello, repository does not exist or may require 'docker login': (denied|unauthorized): `)), true),
      );
      const withCreds = await pullImage(dst, `${host}/private/hello:1`, { credentials: { username: USER, password: PASS } });
      assert.equal(withCreds.id, anon.id);
      await assert.rejects(
        RegistryClient.open(host, { credentials: { username: USER, password: 'nope' } }).then(async (c) => {
          try {
            await c.login();
          } finally {
            c.close();
          }
        }),
        /^RegistryError: unauthorized: incorrect username or password$/,
      );
    } finally {
      await dst.close();
    }
  });
});
