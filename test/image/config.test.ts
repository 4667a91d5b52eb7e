/**
 * The image config model (moby image/image.go): reading as Go's json.Unmarshal does, and
 * writing the bytes dockerd writes — checked byte for byte on every config dockerd 20.10 stored
 * in the fixture, and on hand-derived Go encodings for the fields the fixture does not use.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import { dockerFixture } from '../oracle/fixtures.js';
import { DIGEST_EMPTY_TAR, chainIds, parseDigest } from '../../src/digest/index.js';
import { isStrataError } from '../../src/errors/index.js';
import {
  type ImageConfig,
  ImageConfigError,
  parseImageConfig,
  parseNewImageConfig,
  checkHistory,
  marshalImageConfig,
  marshalContainerConfig,
  marshalV1Image,
  newImageConfig,
  newContainerConfig,
  newHistoryEntry,
  imageId,
  diffIdsOf,
  topChainIdOf,
  v1ImageOf,
} from '../../src/image/config.js';
import { GO_ZERO_TIME } from '../../src/image/imagedb/index.js';

function throwsConfig(f: () => unknown, code: string, message?: string | RegExp): void {
  assert.throws(f, (e: unknown) => {
    assert.ok(e instanceof ImageConfigError, `expected ImageConfigError ${code}, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    if (typeof message === 'string') assert.equal(e.message, message);
    else if (message) assert.match(e.message, message);
    return true;
  });
}

const marshal = (img: ImageConfig) => marshalImageConfig(img).toString('utf8');
/** parse → marshal of a JSON text, as text. */
const remarshal = (json: string) => marshal(parseImageConfig(json));
const ROOTFS = '"rootfs":{"type":"layers"}';
const ZERO_CC =
  '{"Hostname":"","Domainname":"","User":"","AttachStdin":false,"AttachStdout":false,"AttachStderr":false,"Tty":false,"OpenStdin":false,"StdinOnce":false,"Env":null,"Cmd":null,"Image":"","Volumes":null,"WorkingDir":"","Entrypoint":null,"OnBuild":null,"Labels":null}';
/** What Go writes for a config with only `rootfs` (and `extra` members, which sort in). */
const minimal = (extra = '') => `{"container_config":${ZERO_CC},"created":"${GO_ZERO_TIME}"${extra},${ROOTFS}}`;

// ---------------------------------------------------------------------------------------------
// dockerd's configs

test('every config dockerd 20.10 stored re-marshals to its exact bytes, and its ID is the bytes\' SHA-256', async () => {
  const fx = await dockerFixture();
  const dir = path.join(fx.dataRoot, 'image/overlay2/imagedb/content/sha256');
  const names = fs.readdirSync(dir).sort();
  assert.equal(names.length, 10, 'the two tagged images and the legacy builder\'s eight intermediates');
  for (const name of names) {
    const bytes = fs.readFileSync(path.join(dir, name));
    assert.equal(imageId(bytes), `sha256:${name}`);
    assert.equal(imageId(bytes), 'sha256:' + crypto.createHash('sha256').update(bytes).digest('hex'));
    const img = parseImageConfig(bytes);
    assert.equal(img.extra, undefined, `${name}: dockerd writes no unknown keys`);
    const again = marshalImageConfig(img);
    assert.equal(again.toString('utf8'), bytes.toString('utf8'), name);
    assert.deepEqual(again, bytes, name);
  }
  // `docker save` copies the config's raw bytes as <hex>.json.
  for (const image of [fx.images.base, fx.images.built]) {
    const bytes = fs.readFileSync(image.configPath);
    assert.deepEqual(fs.readFileSync(path.join(image.savedDir, `${image.id.slice(7)}.json`)), bytes);
  }
});

test('the fixture\'s configs read as dockerd reported them: layers, history, config, container_config', async () => {
  const fx = await dockerFixture();
  for (const image of [fx.images.base, fx.images.built]) {
    const img = parseImageConfig(fs.readFileSync(image.configPath));
    const inspect = (JSON.parse(fs.readFileSync(image.inspectPath, 'utf8')) as Record<string, unknown>[])[0]!;
    assert.equal(img.architecture, inspect.Architecture);
    assert.equal(img.os, inspect.Os);
    assert.equal(img.created, inspect.Created);
    assert.equal(img.comment, inspect.Comment);
    assert.equal(img.container, inspect.Container);
    assert.equal(img.docker_version, inspect.DockerVersion);
    assert.equal(img.author, inspect.Author);
    assert.deepEqual(img.rootfs, { type: 'layers', diff_ids: image.layers.map((l) => l.diffId) });
    assert.deepEqual(diffIdsOf(img), image.layers.map((l) => l.diffId));
    assert.equal(topChainIdOf(img), image.layers[image.layers.length - 1]!.chainId);
    assert.deepEqual(
      img.history.map((h) => ({ ...h })),
      image.history.map((h) => newHistoryEntry({ created: h.created, created_by: h.created_by ?? '', comment: h.comment ?? '', empty_layer: h.empty_layer ?? false })),
    );
    // inspect prints the same container configs (Go's json.Marshal of the same structs).
    assert.equal(marshalContainerConfig(img.config!), JSON.stringify(inspect.Config).replace(/&/g, '\\u0026').replace(/</g, '\\u003c').replace(/>/g, '\\u003e'));
    assert.equal(marshalContainerConfig(img.container_config), JSON.stringify(inspect.ContainerConfig).replace(/&/g, '\\u0026').replace(/</g, '\\u003c').replace(/>/g, '\\u003e'));
  }
  const built = parseImageConfig(fs.readFileSync(fx.images.built.configPath));
  assert.deepEqual(built.config!.Env, ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'STRATA_ORACLE=1']);
  assert.equal(built.config!.Cmd, null);
  assert.equal(built.config!.Labels, null);
  assert.equal(built.history.filter((h) => h.empty_layer).length, fx.emptyLayerSteps.length);
  checkHistory(built);
});

// ---------------------------------------------------------------------------------------------
// Reading errors

test('a config without rootfs is refused: "invalid image JSON, no RootFS key" (moby TestCreate)', () => {
  for (const json of ['{}', '{"rootfs":null}', 'null', '{"architecture":"amd64","RootFSx":{}}']) {
    throwsConfig(() => parseImageConfig(json), 'IMAGE_CONFIG_NO_ROOTFS', 'invalid image JSON, no RootFS key');
  }
  // An empty rootfs object is enough.
  assert.deepEqual(parseImageConfig('{"rootfs":{}}').rootfs, { type: '', diff_ids: [] });
});

test('bytes that are not JSON, or JSON of the wrong shape, are refused with a clear error', () => {
  throwsConfig(() => parseImageConfig('invalid'), 'IMAGE_CONFIG_SYNTAX', /^invalid image JSON: /);
  throwsConfig(() => parseImageConfig('{"rootfs":{}} x'), 'IMAGE_CONFIG_SYNTAX');
  throwsConfig(() => parseImageConfig(Buffer.from('\ufeff{"rootfs":{}}')), 'IMAGE_CONFIG_SYNTAX'); // Go refuses a BOM too
  throwsConfig(() => parseImageConfig('[]'), 'IMAGE_CONFIG_TYPE', 'json: cannot unmarshal array into Go value of type image.Image');
  throwsConfig(() => parseImageConfig('"x"'), 'IMAGE_CONFIG_TYPE');
  const bad: [string, RegExp][] = [
    ['{"architecture":5,"rootfs":{}}', /^json: cannot unmarshal number into Go struct field Image\.architecture of type string$/],
    ['{"rootfs":{"diff_ids":"sha256:x"}}', /Go struct field RootFS\.rootfs\.diff_ids of type \[\]layer\.DiffID$/],
    ['{"rootfs":[]}', /of type image\.RootFS$/],
    ['{"rootfs":{},"config":{"Tty":"yes"}}', /^json: cannot unmarshal string into Go struct field Config\.config\.Tty of type bool$/],
    ['{"rootfs":{},"config":{"Cmd":[1]}}', /of type string$/],
    ['{"rootfs":{},"config":{"Labels":{"a":1}}}', /of type string$/],
    ['{"rootfs":{},"config":{"Volumes":["/data"]}}', /of type map\[string\]struct \{\}$/],
    ['{"rootfs":{},"config":{"StopTimeout":1.5}}', /number 1\.5 .* of type int$/],
    ['{"rootfs":{},"Size":1e300}', /number 1e\+300 .* of type int64$/],
    ['{"rootfs":{},"Size":"1"}', /^json: cannot unmarshal string into Go struct field Image\.Size of type int64$/],
    ['{"rootfs":{},"history":{}}', /of type \[\]image\.History$/],
    ['{"rootfs":{},"history":[{"empty_layer":"true"}]}', /History\.history\.empty_layer of type bool$/],
    ['{"rootfs":{},"container_config":"x"}', /of type container\.Config$/],
    ['{"rootfs":{},"config":{"Healthcheck":{"Interval":"30s"}}}', /HealthConfig\.config\.Healthcheck\.Interval of type time\.Duration$/],
  ];
  for (const [json, re] of bad) throwsConfig(() => parseImageConfig(json), 'IMAGE_CONFIG_TYPE', re);
  for (const created of ['"yesterday"', '"2026-02-30T00:00:00Z"', '"2026-11-23T08:16:36"', '5']) {
    throwsConfig(() => parseImageConfig(`{"rootfs":{},"created":${created}}`), 'IMAGE_CONFIG_TYPE', /^parsing time .* of Image\.created as "2006-01-02T15:04:05Z07:00": /);
  }
});

test('Create\'s check: more non-empty history entries than diff_ids is "too many non-empty layers in History section"', () => {
  const d = DIGEST_EMPTY_TAR;
  const tooMany = `{"rootfs":{"type":"layers","diff_ids":["${d}"]},"history":[{"created_by":"a"},{"created_by":"b"}]}`;
  throwsConfig(() => parseNewImageConfig(tooMany), 'IMAGE_CONFIG_HISTORY', 'too many non-empty layers in History section');
  throwsConfig(() => checkHistory(parseImageConfig(tooMany)), 'IMAGE_CONFIG_HISTORY');
  // Restoring a store does not check it (dockerd's restore only parses).
  assert.equal(parseImageConfig(tooMany).history.length, 2);
  // empty_layer entries do not count; fewer history entries than layers is fine.
  parseNewImageConfig(`{"rootfs":{"type":"layers","diff_ids":["${d}"]},"history":[{"created_by":"a"},{"created_by":"b","empty_layer":true}]}`);
  parseNewImageConfig(`{"rootfs":{"type":"layers","diff_ids":["${d}","${d}"]},"history":[{"created_by":"a"}]}`);
  parseNewImageConfig('{"rootfs":{"type":"layers"},"history":[{"empty_layer":true}]}');
  throwsConfig(() => parseNewImageConfig('{"rootfs":{"type":"layers"},"history":[{}]}'), 'IMAGE_CONFIG_HISTORY');
});

// ---------------------------------------------------------------------------------------------
// Reading as Go does

test('reading follows Go: case-insensitive keys, null keeps scalars and empties lists, a string Cmd is a list', () => {
  const img = parseImageConfig(
    '{"OS":"linux","Architecture":"amd64","ARCHITECTURE":"arm64","rootfs":{"Type":"layers","DIFF_IDS":null},' +
      '"comment":"kept","COMMENT":null,"config":{"cmd":"echo hi","Entrypoint":"/run","Shell":"bash","env":["A=1",null],' +
      '"Labels":{"a":null},"hostname":"h","Volumes":{"/v":null,"/w":{}},"ExposedPorts":{},"StopTimeout":0,"Healthcheck":{}}}',
  );
  assert.equal(img.os, 'linux');
  assert.equal(img.architecture, 'arm64', 'the last of two keys folding to the same field wins');
  assert.equal(img.comment, 'kept', 'null leaves a string as it was');
  assert.deepEqual(img.rootfs, { type: 'layers', diff_ids: [] });
  const c = img.config!;
  assert.deepEqual(c.Cmd, ['echo hi']);
  assert.deepEqual(c.Entrypoint, ['/run']);
  assert.deepEqual(c.Shell, ['bash']);
  assert.deepEqual(c.Env, ['A=1', ''], 'a null element of []string is ""');
  assert.deepEqual(c.Labels, { a: '' });
  assert.equal(c.Hostname, 'h');
  assert.deepEqual(c.Volumes, ['/v', '/w']);
  assert.deepEqual(c.ExposedPorts, []);
  assert.equal(c.StopTimeout, 0);
  assert.deepEqual(c.Healthcheck, { Test: [], Interval: 0, Timeout: 0, StartPeriod: 0, Retries: 0 });
  // container_config absent: Go's zero struct, written in full.
  assert.deepEqual(img.container_config, newContainerConfig());
  assert.equal(
    marshalContainerConfig(c),
    '{"Hostname":"h","Domainname":"","User":"","AttachStdin":false,"AttachStdout":false,"AttachStderr":false,"Tty":false,"OpenStdin":false,"StdinOnce":false,' +
      '"Env":["A=1",""],"Cmd":["echo hi"],"Healthcheck":{},"Image":"","Volumes":{"/v":{},"/w":{}},"WorkingDir":"","Entrypoint":["/run"],' +
      '"OnBuild":null,"Labels":{"a":""},"StopTimeout":0,"Shell":["bash"]}',
  );
  // null for a pointer or list field makes it nil again.
  const n = parseImageConfig('{"rootfs":{},"config":{"Env":["x"]},"config":null,"history":null,"os.features":null}');
  assert.equal(n.config, null);
  assert.deepEqual(n.history, []);
});

test('unknown keys are kept in `extra` (top level and nested) and, as in dockerd, never written back', () => {
  const json =
    '{"rootfs":{"type":"layers","x-rootfs":1},"moby.example/extra":{"a":[1,2]},"__proto__":{"polluted":true},' +
    '"config":{"Memory":0,"PortSpecs":null,"Cmd":["sh"]},"history":[{"created_by":"x","ignored":"y"}]}';
  const img = parseImageConfig(json);
  assert.deepEqual(img.extra, { 'moby.example/extra': { a: [1, 2] }, ['__proto__']: { polluted: true } });
  assert.equal(Object.getPrototypeOf(img.extra), Object.prototype);
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
  assert.deepEqual(img.config!.extra, { Memory: 0, PortSpecs: null });
  assert.deepEqual(img.rootfs.extra, { 'x-rootfs': 1 });
  assert.deepEqual(img.history[0]!.extra, { ignored: 'y' });
  const out = marshal(img);
  for (const k of ['moby.example', '__proto__', 'Memory', 'PortSpecs', 'x-rootfs', 'ignored']) assert.ok(!out.includes(k), k);
});

test('times are written as Go marshals a time.Time: RFC3339Nano, fraction trimmed, +00:00 as Z, zero time when absent', () => {
  assert.equal(remarshal(`{${ROOTFS}}`), minimal());
  assert.equal(
    remarshal(`{"created":"2026-11-23T10:22:17.120000000+00:00",${ROOTFS},"history":[{"created":"2026-11-23T11:22:17,5+01:00"},{}]}`),
    `{"container_config":${ZERO_CC},"created":"2026-11-23T10:22:17.12Z","history":[{"created":"2026-11-23T11:22:17.5+01:00"},{"created":"${GO_ZERO_TIME}"}],${ROOTFS}}`,
  );
});

// ---------------------------------------------------------------------------------------------
// Writing

test('marshalling: sorted top-level keys, struct-order nested objects, omitempty, Go escaping, no newline', () => {
  const img = newImageConfig({
    id: 'deadbeef',
    parent: 'sha256:' + '1'.repeat(64),
    comment: 'x & y',
    created: '2020-01-02T03:04:05.500000000Z',
    container: 'c'.repeat(64),
    docker_version: '20.10.24+dfsg1',
    author: 'A <a@example.com>',
    architecture: 'arm64',
    variant: 'v8',
    os: 'linux',
    Size: 1234,
    'os.version': '10.0',
    'os.features': ['win32k'],
    config: newContainerConfig({
      User: 'app',
      ExposedPorts: ['8080/tcp', '53/udp', '8080/tcp'],
      Env: [],
      Cmd: ['sh'],
      Healthcheck: { Test: ['CMD', 'true'], Interval: 30_000_000_000, Timeout: 0, StartPeriod: 0, Retries: 3 },
      ArgsEscaped: true,
      Volumes: ['/data', '/cache'],
      WorkingDir: '/app',
      Entrypoint: [],
      NetworkDisabled: true,
      MacAddress: '02:42:ac:11:00:02',
      OnBuild: [],
      Labels: { b: '2', a: '<1>', 'é': 'non-ASCII stays', '\u{1f600}': 'after U+FFFF in byte order', '\uff01': 'U+FF01' },
      StopSignal: 'SIGTERM',
      StopTimeout: 0,
      Shell: ['/bin/sh', '-c'],
    }),
    rootfs: { type: 'layers', diff_ids: [DIGEST_EMPTY_TAR] },
    history: [
      newHistoryEntry({ created: '2020-01-02T03:04:05Z', comment: 'c' }),
      newHistoryEntry({ created: '2020-01-02T03:04:05.5Z', author: 'me', created_by: '/bin/sh -c #(nop) ENV\u2028X=<1>', empty_layer: true }),
    ],
  });
  const expected =
    '{"Size":1234,"architecture":"arm64","author":"A \\u003ca@example.com\\u003e","comment":"x \\u0026 y",' +
    '"config":{"Hostname":"","Domainname":"","User":"app","AttachStdin":false,"AttachStdout":false,"AttachStderr":false,' +
    '"ExposedPorts":{"53/udp":{},"8080/tcp":{}},"Tty":false,"OpenStdin":false,"StdinOnce":false,"Env":[],"Cmd":["sh"],' +
    '"Healthcheck":{"Test":["CMD","true"],"Interval":30000000000,"Retries":3},"ArgsEscaped":true,"Image":"",' +
    '"Volumes":{"/cache":{},"/data":{}},"WorkingDir":"/app","Entrypoint":[],"NetworkDisabled":true,"MacAddress":"02:42:ac:11:00:02",' +
    '"OnBuild":[],"Labels":{"a":"\\u003c1\\u003e","b":"2","é":"non-ASCII stays","！":"U+FF01","\u{1f600}":"after U+FFFF in byte order"},' +
    '"StopSignal":"SIGTERM","StopTimeout":0,"Shell":["/bin/sh","-c"]},' +
    `"container":"${'c'.repeat(64)}","container_config":${ZERO_CC},"created":"2020-01-02T03:04:05.5Z","docker_version":"20.10.24+dfsg1",` +
    '"history":[{"created":"2020-01-02T03:04:05Z","comment":"c"},{"created":"2020-01-02T03:04:05.5Z","author":"me","created_by":"/bin/sh -c #(nop) ENV\\u2028X=\\u003c1\\u003e","empty_layer":true}],' +
    `"id":"deadbeef","os":"linux","os.features":["win32k"],"os.version":"10.0","parent":"sha256:${'1'.repeat(64)}",` +
    `"rootfs":{"type":"layers","diff_ids":["${DIGEST_EMPTY_TAR}"]},"variant":"v8"}`;
  const bytes = marshalImageConfig(img);
  assert.equal(bytes.toString('utf8'), expected);
  assert.notEqual(bytes[bytes.length - 1], 0x0a);

  // What it writes reads back to the same model (ExposedPorts deduplicated and sorted), and
  // writes again to the same bytes.
  const back = parseImageConfig(bytes);
  assert.deepEqual(back, { ...img, config: { ...img.config!, ExposedPorts: ['53/udp', '8080/tcp'], Volumes: ['/cache', '/data'] }, created: '2020-01-02T03:04:05.5Z' });
  assert.deepEqual(marshalImageConfig(back), bytes);
  assert.equal(imageId(bytes), 'sha256:' + crypto.createHash('sha256').update(bytes).digest('hex'));
});

test('moby TestMarshalKeyOrder: architecture, author, comment come out sorted; empty omitempty fields vanish', () => {
  const s = marshal(newImageConfig({ comment: 'a', author: 'b', architecture: 'c' }));
  assert.ok(s.indexOf('"architecture"') < s.indexOf('"author"') && s.indexOf('"author"') < s.indexOf('"comment"'), `key order in ${s}`);
  assert.equal(s, `{"architecture":"c","author":"b","comment":"a","container_config":${ZERO_CC},"created":"${GO_ZERO_TIME}",${ROOTFS}}`);
  // Zero values of the omitempty members are left out, container_config/created/rootfs are not.
  assert.equal(marshal(newImageConfig()), minimal());
  // A Healthcheck with every field zero is still written (a non-nil pointer), as {}.
  assert.match(marshal(newImageConfig({ config: newContainerConfig({ Healthcheck: { Test: [], Interval: 0, Timeout: 0, StartPeriod: 0, Retries: 0 } }) })), /"Cmd":null,"Healthcheck":\{\},"Image"/);
});

test('a config like dockerd\'s `docker import` makes (image.NewHistory, time.Now().UTC()) gets dockerd\'s bytes and ID', async () => {
  // Rebuild the fixture's imported base from its facts alone, the way daemon/images/image_import.go does.
  const fx = await dockerFixture();
  const original = fs.readFileSync(fx.images.base.configPath);
  const facts = parseImageConfig(original);
  const cc = newContainerConfig();
  const img = newImageConfig({
    comment: 'Imported from -',
    created: facts.created,
    config: cc,
    container_config: cc,
    docker_version: '20.10.24+dfsg1',
    architecture: 'amd64',
    os: 'linux',
    rootfs: { type: 'layers', diff_ids: [fx.images.base.layers[0]!.diffId] },
    history: [newHistoryEntry({ created: facts.created, comment: 'Imported from -' })],
  });
  assert.equal(marshalImageConfig(img).toString('utf8'), original.toString('utf8'));
  assert.equal(imageId(marshalImageConfig(img)), fx.images.base.id);
});

test('marshalling refuses values Go could not write', () => {
  throwsConfig(() => marshalImageConfig(newImageConfig({ created: 'yesterday' })), 'IMAGE_CONFIG_MARSHAL', /^cannot marshal created: /);
  throwsConfig(() => marshalImageConfig(newImageConfig({ Size: 1.5 })), 'IMAGE_CONFIG_MARSHAL', /^cannot marshal Size: expected an integer/);
  throwsConfig(() => marshalImageConfig(newImageConfig({ history: [newHistoryEntry({ created: '2020-13-01T00:00:00Z' })] })), 'IMAGE_CONFIG_MARSHAL', /history\[0\]\.created/);
  throwsConfig(() => marshalImageConfig(newImageConfig({ config: newContainerConfig({ StopTimeout: Number.NaN }) })), 'IMAGE_CONFIG_MARSHAL', /config\.StopTimeout/);
  throwsConfig(() => marshalImageConfig(newImageConfig({ os: 5 as unknown as string })), 'IMAGE_CONFIG_MARSHAL', /^cannot marshal os: expected a string, got number$/);
  // An empty created is the zero time, as an unset time.Time.
  assert.equal(marshal(newImageConfig({ created: '' })), minimal());
});

test('V1Image in struct order (the legacy JSON): id, parent, comment, created, container, container_config, …, Size', () => {
  const img = parseImageConfig(
    `{"Size":7,"architecture":"amd64","author":"au","comment":"co","config":${ZERO_CC},"container":"ct","container_config":${ZERO_CC},` +
      `"created":"2020-01-01T00:00:00Z","docker_version":"dv","id":"old","os":"linux","parent":"sha256:${'2'.repeat(64)}",${ROOTFS},"variant":"v7"}`,
  );
  const v1 = v1ImageOf(img);
  assert.equal(v1.parent, '', 'the config\'s parent is the image parent, not the V1 parent');
  assert.equal(
    marshalV1Image({ ...v1, parent: 'p' }),
    `{"id":"old","parent":"p","comment":"co","created":"2020-01-01T00:00:00Z","container":"ct","container_config":${ZERO_CC},` +
      `"docker_version":"dv","author":"au","config":${ZERO_CC},"architecture":"amd64","variant":"v7","os":"linux","Size":7}`,
  );
});

test('diffIdsOf/topChainIdOf validate the DiffIDs; imageId hashes bytes, not meaning', () => {
  const img = parseImageConfig(`{"rootfs":{"type":"layers","diff_ids":["${DIGEST_EMPTY_TAR}","${DIGEST_EMPTY_TAR}"]}}`);
  assert.equal(topChainIdOf(img), chainIds([DIGEST_EMPTY_TAR, DIGEST_EMPTY_TAR])[1]);
  assert.equal(topChainIdOf(parseImageConfig('{"rootfs":{}}')), undefined);
  assert.throws(() => diffIdsOf(parseImageConfig('{"rootfs":{"diff_ids":["sha256:nope"]}}')), (e: unknown) => isStrataError(e, 'INVALID_DIGEST'));
  assert.notEqual(imageId('{"rootfs":{}}'), imageId('{ "rootfs":{}}'));
  assert.equal(parseDigest(imageId(Buffer.from('x'))), 'sha256:2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881');
});
