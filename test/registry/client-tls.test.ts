/**
 * TLS as a secure registry gets it: the certificate verified, against the system roots plus the
 * CAs of `certs.d/<host>/` (STRATA_CERTS_D) — checked with docker-registry serving a self-signed
 * certificate for 127.0.0.1. (Loopback registries are insecure for the client, so the verifying
 * transport is driven directly here.)
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { NetworkError, Transport, discard, readCertsDir } from '../../src/registry/index.js';
import { RegistryClient } from '../../src/registry/index.js';
import { startRegistry, type Registry } from './registry.js';

describe('registry TLS', () => {
  let reg: Registry;
  before(async () => {
    reg = await startRegistry({ tls: true, auth: 'htpasswd' });
  });
  after(() => reg?.stop());

  it('verifies the certificate against certs.d CAs, and refuses it without them', async () => {
    const url = new URL(`https://${reg.host}/v2/`);
    const withCa = new Transport({ address: reg.host, tls: readCertsDir(reg.host, reg.caDir), verify: true });
    try {
      const res = await withCa.request({ method: 'GET', url, headers: {} });
      await discard(res);
      assert.equal(res.status, 401, 'reached the registry (it wants credentials)');
    } finally {
      withCa.close();
    }
    const without = new Transport({ address: reg.host, verify: true });
    try {
      await assert.rejects(without.request({ method: 'GET', url, headers: {} }), (e: Error) => {
        assert.ok(e instanceof NetworkError, `a network error: ${e.message}`);
        assert.match(e.message, /self[- ]signed|certificate/i);
        return true;
      });
    } finally {
      without.close();
    }
  });

  it('an insecure (loopback) registry is spoken to over HTTPS without verification', async () => {
    const c = await RegistryClient.open(reg.host, { credentials: { username: reg.username!, password: reg.password! }, env: { STRATA_CERTS_D: '/nonexistent' } });
    try {
      assert.equal(c.baseUrl, `https://${reg.host}`);
      await c.login();
    } finally {
      c.close();
    }
  });
});
