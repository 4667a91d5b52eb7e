/**
 * The registry verbs from the command line, against docker-registry with htpasswd and TLS:
 * login writes docker's config.json, push and pull print docker's lines and the agreed JSON,
 * logout forgets the credentials.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { after, before, describe, it } from 'node:test';
import { imageArchive } from '../../src/engine/build.js';
import { strata } from '../helpers/cli.js';
import { tempDir } from '../helpers/tmp.js';
import { startRegistry, type Registry } from './registry.js';

describe('strata login / push / pull / logout', () => {
  let reg: Registry;
  const dir = tempDir('strata-regcli-');
  let env: NodeJS.ProcessEnv;
  before(async () => {
    reg = await startRegistry({ auth: 'htpasswd', tls: true });
    env = { DOCKER_CONFIG: path.join(dir, 'docker'), STRATA_CERTS_D: reg.caDir!, STRATA_REGISTRY_BACKOFF_MS: '10' };
    fs.mkdirSync(path.join(dir, 'layer'));
    fs.writeFileSync(path.join(dir, 'layer', 'motd'), 'hi\n');
    await pipeline(imageArchive({ layers: [path.join(dir, 'layer')], tag: 'motd:1', scratchDir: dir }), fs.createWriteStream(path.join(dir, 'motd.tar')));
  });
  after(() => reg?.stop());

  it('works end to end with docker\'s output', () => {
    const src = ['--root', path.join(dir, 'src')];
    assert.equal(strata([...src, 'load', '-i', path.join(dir, 'motd.tar')]).status, 0);
    assert.equal(strata([...src, 'tag', 'motd:1', `${reg.host}/t/motd:1`]).status, 0);
    const denied = strata([...src, 'push', `${reg.host}/t/motd:1`], { env });
    assert.equal(denied.status, 1);
    assert.equal(denied.stderr, 'strata: unauthorized: authentication required\n');

    const bad = strata(['login', reg.host, '-u', reg.username!, '--password-stdin'], { env, input: 'wrong\n' });
    assert.equal(bad.status, 1, bad.stderr);
    assert.equal(fs.existsSync(path.join(dir, 'docker', 'config.json')), false, 'nothing stored for refused credentials');
    const login = strata(['login', reg.host, '-u', reg.username!, '--password-stdin'], { env, input: `${reg.password}\n` });
    assert.equal(login.status, 0, login.stderr);
    assert.equal(login.stdout, 'Login Succeeded\n');
    const auth = Buffer.from(`${reg.username}:${reg.password}`).toString('base64');
    assert.equal(fs.readFileSync(path.join(dir, 'docker', 'config.json'), 'utf8'), `{\n\t"auths": {\n\t\t"${reg.host}": {\n\t\t\t"auth": "${auth}"\n\t\t}\n\t}\n}`);

    const push = strata([...src, 'push', `${reg.host}/t/motd:1`], { env });
    assert.equal(push.status, 0, push.stderr);
    const lines = push.stdout.trimEnd().split('\n');
    assert.equal(lines[0], `The push refers to repository [${reg.host}/t/motd]`);
    assert.match(lines.at(-2)!, /^[0-9a-f]{12}: Pushed$/);
    assert.match(lines.at(-1)!, /^1: digest: sha256:[0-9a-f]{64} size: \d+$/);
    const again = JSON.parse(strata([...src, '--json', 'push', `${reg.host}/t/motd:1`], { env }).stdout) as { ref: string; digest: string; size: number; layers: { action: string }[] };
    assert.equal(again.ref, `${reg.host}/t/motd:1`);
    assert.equal(`1: digest: ${again.digest} size: ${again.size}`, lines.at(-1));
    assert.deepEqual(again.layers.map((l) => l.action), ['exists']);

    const dst = ['--root', path.join(dir, 'dst')];
    const bare = strata([...dst, 'pull', `${reg.host}/t/motd`], { env });
    assert.equal(bare.status, 1, 'there is no :latest');
    assert.equal(bare.stdout, 'Using default tag: latest\n', 'docker says so for a bare name');
    assert.equal(bare.stderr, `strata: manifest for ${reg.host}/t/motd:latest not found: manifest unknown: manifest unknown\n`);
    const byTag = strata([...dst, 'pull', `${reg.host}/t/motd:1`], { env });
    assert.equal(byTag.status, 0, byTag.stderr);
    const tail = byTag.stdout.trimEnd().split('\n').slice(-3);
    assert.deepEqual(tail, [`Digest: ${again.digest}`, `Status: Downloaded newer image for ${reg.host}/t/motd:1`, `${reg.host}/t/motd:1`]);
    const json = JSON.parse(strata([...dst, '--json', 'pull', `${reg.host}/t/motd:1`], { env }).stdout) as Record<string, unknown>;
    assert.deepEqual(Object.keys(json), ['ref', 'id', 'digest', 'layers']);
    assert.deepEqual((json.layers as { fetched: boolean }[]).map((l) => l.fetched), [false]);
    assert.equal(strata([...dst, 'pull', '-q', `${reg.host}/t/motd:1`], { env }).stdout, `${reg.host}/t/motd:1\n`);

    const logout = strata(['logout', reg.host], { env });
    assert.equal(logout.stdout, `Removing login credentials for ${reg.host}\n`);
    assert.equal(strata(['logout', reg.host], { env }).stdout, `Not logged in to ${reg.host}\n`);
  });
});
