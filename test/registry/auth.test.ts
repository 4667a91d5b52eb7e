import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import {
  DOCKER_HUB_CREDENTIAL_KEY,
  endpointFor,
  isInsecure,
  loadCredentials,
  parseChallenges,
  parseErrorBody,
  parseRetryAfter,
  removeCredentials,
  responseError,
  saveCredentials,
} from '../../src/registry/index.js';
import { hmacKey, metadataHmac } from '../../src/engine/push.js';
import { tempDir } from '../helpers/tmp.js';

describe('WWW-Authenticate challenges', () => {
  it('parses Bearer with quoted parameters, commas inside quotes included', () => {
    assert.deepEqual(parseChallenges('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:a/b:pull,push"'), [
      { scheme: 'bearer', params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:a/b:pull,push' } },
    ]);
  });
  it('parses several challenges in one header and in several, case-insensitively', () => {
    assert.deepEqual(parseChallenges(['BASIC Realm="a \\"quoted\\" realm", Bearer realm=tok', 'Negotiate']), [
      { scheme: 'basic', params: { realm: 'a "quoted" realm' } },
      { scheme: 'bearer', params: { realm: 'tok' } },
      { scheme: 'negotiate', params: {} },
    ]);
  });
  it('gives nothing for a missing header', () => {
    assert.deepEqual(parseChallenges(undefined), []);
  });
});

describe('registry errors in docker\'s words', () => {
  const body = (x: unknown) => Buffer.from(JSON.stringify(x));
  it('renders error bodies as Go\'s errcode does', () => {
    assert.equal(responseError(404, body({ errors: [{ code: 'MANIFEST_UNKNOWN', message: 'manifest unknown' }] })).message, 'manifest unknown: manifest unknown');
    assert.equal(responseError(401, body({ errors: [{ code: 'UNAUTHORIZED', message: 'authentication required' }] })).message, 'unauthorized: authentication required');
    assert.equal(responseError(429, body({ errors: [{ code: 'TOOMANYREQUESTS', message: 'You have reached your pull rate limit.' }] })).message, 'toomanyrequests: You have reached your pull rate limit.');
  });
  it('fills in 401 and 429 without a body, and names other statuses', () => {
    assert.equal(responseError(401, Buffer.alloc(0)).message, 'unauthorized: authentication required');
    assert.equal(responseError(429, Buffer.alloc(0)).message, 'toomanyrequests: too many requests');
    assert.equal(responseError(500, body({ errors: [{ code: 'UNKNOWN', message: 'x' }] })).message, 'received unexpected HTTP status: 500 Internal Server Error');
    assert.equal(responseError(502, Buffer.from('<html>')).message, 'received unexpected HTTP status: 502 Bad Gateway');
  });
  it('reads a Bearer challenge\'s error first, and the old details form', () => {
    const e = responseError(401, Buffer.alloc(0), { 'www-authenticate': 'Bearer realm="r",error="insufficient_scope",error_description="no push"' });
    assert.equal(e.message, 'denied: no push');
    assert.deepEqual(parseErrorBody(401, body({ details: 'incorrect username or password' })), [{ code: 'UNAUTHORIZED', message: 'incorrect username or password' }]);
  });
  it('reads Retry-After as seconds or as a date', () => {
    assert.equal(parseRetryAfter('7'), 7);
    assert.equal(parseRetryAfter(new Date(Date.UTC(2030, 0, 1, 0, 0, 30)).toUTCString(), Date.UTC(2030, 0, 1)), 30);
    assert.equal(parseRetryAfter('soon'), undefined);
    assert.equal(responseError(429, Buffer.alloc(0), { 'retry-after': '3' }).retryAfter, 3);
  });
});

describe('endpoints', () => {
  it('maps Docker Hub to its API host and credentials key', () => {
    assert.deepEqual(endpointFor('docker.io', { env: {} }), { domain: 'docker.io', address: 'registry-1.docker.io', secure: true, credentialKey: DOCKER_HUB_CREDENTIAL_KEY });
  });
  it('treats loopback and listed registries as insecure, others as secure', () => {
    for (const h of ['localhost:5000', '127.0.0.1:5000', '127.1.2.3', '[::1]:5000']) assert.equal(isInsecure(h, []), true, h);
    assert.equal(isInsecure('reg.example:5000', []), false);
    assert.equal(isInsecure('reg.example:5000', ['reg.example:5000']), true);
    assert.equal(isInsecure('reg.example:5000', ['reg.example']), true, 'a host without port covers every port');
    assert.equal(isInsecure('10.1.2.3:5000', ['10.0.0.0/8']), true, 'CIDR');
    assert.equal(isInsecure('11.1.2.3:5000', ['10.0.0.0/8']), false);
    assert.equal(endpointFor('reg.example', { env: { STRATA_INSECURE_REGISTRIES: 'x.example, reg.example' } }).secure, false);
  });
});

describe('docker config.json credentials', () => {
  it('writes what docker login writes, reads it back, keeps other keys, and logs out', () => {
    const dir = tempDir('strata-dockercfg-');
    const env = { DOCKER_CONFIG: dir };
    const file = path.join(dir, 'config.json');
    fs.writeFileSync(file, JSON.stringify({ auths: { 'z.example': { auth: Buffer.from('z:zz').toString('base64') } }, psFormat: 'table {{.ID}}' }));
    saveCredentials('127.0.0.1:5000', { username: 'user', password: 'p:w<d>' }, env);
    assert.equal(
      fs.readFileSync(file, 'utf8'),
      '{\n\t"auths": {\n\t\t"127.0.0.1:5000": {\n\t\t\t"auth": "dXNlcjpwOnc8ZD4="\n\t\t},\n\t\t"z.example": {\n\t\t\t"auth": "ejp6eg=="\n\t\t}\n\t},\n\t"psFormat": "table {{.ID}}"\n}',
    );
    assert.equal(fs.statSync(file).mode & 0o777, 0o600);
    assert.deepEqual(loadCredentials('127.0.0.1:5000', env), { username: 'user', password: 'p:w<d>' });
    assert.deepEqual(loadCredentials('z.example', env), { username: 'z', password: 'zz' });
    assert.equal(loadCredentials('y.example', env), undefined);
    assert.equal(removeCredentials('127.0.0.1:5000', env), true);
    assert.equal(removeCredentials('127.0.0.1:5000', env), false);
    assert.equal(loadCredentials('127.0.0.1:5000', env), undefined);
  });
  it('finds an entry written with a scheme, and Docker Hub under its v1 URL', () => {
    const dir = tempDir('strata-dockercfg-');
    fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ auths: { 'https://reg.example/v2/': { auth: 'YTpi' }, [DOCKER_HUB_CREDENTIAL_KEY]: { auth: 'aDpp', identitytoken: 'tok' } } }));
    assert.deepEqual(loadCredentials('reg.example', { DOCKER_CONFIG: dir }), { username: 'a', password: 'b' });
    assert.deepEqual(loadCredentials(DOCKER_HUB_CREDENTIAL_KEY, { DOCKER_CONFIG: dir }), { username: 'h', password: 'i', identityToken: 'tok' });
  });
  it('asks a credential helper when config.json names one', () => {
    const dir = tempDir('strata-dockercfg-');
    const bin = path.join(dir, 'bin');
    fs.mkdirSync(bin);
    fs.writeFileSync(path.join(bin, 'docker-credential-fake'), '#!/bin/sh\nread server\n[ "$1" = get ] && [ "$server" = reg.example ] && echo \'{"Username":"hu","Secret":"hs"}\' && exit 0\necho "credentials not found in native keychain"; exit 1\n', { mode: 0o755 });
    fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ credsStore: 'fake' }));
    const env = { DOCKER_CONFIG: dir, PATH: `${bin}:${process.env.PATH}` };
    const saved = process.env.PATH;
    process.env.PATH = env.PATH;
    try {
      assert.deepEqual(loadCredentials('reg.example', env), { username: 'hu', password: 'hs' });
      assert.equal(loadCredentials('other.example', env), undefined);
    } finally {
      process.env.PATH = saved;
    }
  });
});

describe('push metadata HMAC (moby ComputeV2MetadataHMACKey / ComputeV2MetadataHMAC)', () => {
  it('keys on the digest of the auth config JSON, {} without credentials', () => {
    assert.equal(hmacKey(undefined), 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a');
    assert.notEqual(hmacKey({ username: 'u', password: 'p' }), hmacKey(undefined));
    const mac = metadataHmac(hmacKey(undefined), 'sha256:aa', 'docker.io/library/x');
    assert.match(mac, /^[0-9a-f]{64}$/);
    assert.notEqual(mac, metadataHmac(hmacKey(undefined), 'sha256:aa', 'docker.io/library/y'));
  });
});
