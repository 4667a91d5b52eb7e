/**
 * Reference parsing against the test vectors of github.com/docker/distribution/reference v2.8
 * (reference_test.go, normalize_test.go) — the facts, re-stated here; vectors added by later
 * versions (IPv6 domains, upper-case first elements treated as domains) are checked to be
 * refused, as v2.8 (and so dockerd 20.10) refuses them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  DigestReference,
  Reference,
  ReferenceError,
  familiarName,
  familiarString,
  parse,
  parseAnyReference,
  parseDockerRef,
  parseNamed,
  parseNormalizedNamed,
  tagNameOnly,
  trimNamed,
  withDigest,
  withName,
  withTag,
} from '../../src/image/reference/index.js';
import { isStrataError } from '../../src/errors/index.js';

const F64 = 'f'.repeat(64);
const ERR = {
  format: 'invalid reference format',
  uppercase: 'repository name must be lowercase',
  normUppercase: 'invalid reference format: repository name must be lowercase',
  empty: 'repository name must have at least one component',
  tooLong: 'repository name must not be more than 255 characters',
  notCanonical: 'repository name must be canonical',
  digestLength: 'invalid checksum digest length',
  digestUnsupported: 'unsupported digest algorithm',
  digestFormat: 'invalid checksum digest format',
  tag: 'invalid tag format',
  digest: 'invalid digest format',
};

/** Asserts that `f` throws a ReferenceError (code INVALID_REFERENCE) with exactly `message`. */
function throwsRef(f: () => unknown, message: string, reason?: string): void {
  assert.throws(f, (e: unknown) => {
    assert.ok(e instanceof ReferenceError, `expected ReferenceError, got ${String(e)}`);
    assert.ok(isStrataError(e, 'INVALID_REFERENCE'));
    assert.equal(e.message, message);
    if (reason) assert.equal(e.reason, reason);
    return true;
  });
}

// reference_test.go TestReferenceParse (v2.8 cases).
const parseCases: { input: string; err?: string; repository?: string; domain?: string; tag?: string; digest?: string }[] = [
  { input: 'test_com', repository: 'test_com' },
  { input: 'test.com:tag', repository: 'test.com', tag: 'tag' },
  { input: 'test.com:5000', repository: 'test.com', tag: '5000' },
  { input: 'test.com/repo:tag', domain: 'test.com', repository: 'test.com/repo', tag: 'tag' },
  { input: 'test:5000/repo', domain: 'test:5000', repository: 'test:5000/repo' },
  { input: 'test:5000/repo:tag', domain: 'test:5000', repository: 'test:5000/repo', tag: 'tag' },
  { input: `test:5000/repo@sha256:${F64}`, domain: 'test:5000', repository: 'test:5000/repo', digest: `sha256:${F64}` },
  { input: `test:5000/repo:tag@sha256:${F64}`, domain: 'test:5000', repository: 'test:5000/repo', tag: 'tag', digest: `sha256:${F64}` },
  { input: '', err: ERR.empty },
  { input: ':justtag', err: ERR.format },
  { input: `@sha256:${F64}`, err: ERR.format },
  { input: `repo@sha256:${'f'.repeat(34)}`, err: ERR.digestLength },
  { input: `validname@invaliddigest:${F64}`, err: ERR.digestUnsupported },
  { input: 'Uppercase:tag', err: ERR.uppercase },
  // The FIXME of the Go test: "Uppercase" is taken for a domain, so this one parses.
  { input: 'Uppercase/lowercase:tag', domain: 'Uppercase', repository: 'Uppercase/lowercase', tag: 'tag' },
  { input: 'test:5000/Uppercase/lowercase:tag', err: ERR.uppercase },
  { input: 'lowercase:Uppercase', repository: 'lowercase', tag: 'Uppercase' },
  { input: 'a/'.repeat(128) + 'a:tag', err: ERR.tooLong },
  { input: 'a/'.repeat(127) + 'a:tag-puts-this-over-max', domain: 'a', repository: 'a/'.repeat(127) + 'a', tag: 'tag-puts-this-over-max' },
  { input: 'aa/asdf$$^/aa', err: ERR.format },
  { input: 'sub-dom1.foo.com/bar/baz/quux', domain: 'sub-dom1.foo.com', repository: 'sub-dom1.foo.com/bar/baz/quux' },
  { input: 'sub-dom1.foo.com/bar/baz/quux:some-long-tag', domain: 'sub-dom1.foo.com', repository: 'sub-dom1.foo.com/bar/baz/quux', tag: 'some-long-tag' },
  { input: 'b.gcr.io/test.example.com/my-app:test.example.com', domain: 'b.gcr.io', repository: 'b.gcr.io/test.example.com/my-app', tag: 'test.example.com' },
  { input: 'xn--n3h.com/myimage:xn--n3h.com', domain: 'xn--n3h.com', repository: 'xn--n3h.com/myimage', tag: 'xn--n3h.com' },
  {
    input: `xn--7o8h.com/myimage:xn--7o8h.com@sha512:${'f'.repeat(128)}`,
    domain: 'xn--7o8h.com',
    repository: 'xn--7o8h.com/myimage',
    tag: 'xn--7o8h.com',
    digest: `sha512:${'f'.repeat(128)}`,
  },
  { input: 'foo_bar.com:8080', repository: 'foo_bar.com', tag: '8080' },
  { input: 'foo/foo_bar.com:8080', domain: 'foo', repository: 'foo/foo_bar.com', tag: '8080' },
  // v2.8 has no IPv6 domains (added in later versions): all refused.
  { input: '[fc00::1]/repo', err: ERR.format },
  { input: '[fc00::1]:5000/repo:tag', err: ERR.format },
  { input: '[::1]:5000/repo', err: ERR.format },
  // go-digest details for the digest part.
  { input: `repo@sha256:${'F'.repeat(64)}`, err: ERR.digestFormat },
  { input: `repo@SHA256:${F64}`, err: ERR.digestFormat },
  { input: `repo@sha384:${'a'.repeat(96)}`, repository: 'repo', digest: `sha384:${'a'.repeat(96)}` },
  { input: `repo@sha256:${'f'.repeat(31)}`, err: ERR.format },
];

test('Parse: distribution v2.8 TestReferenceParse vectors', () => {
  for (const c of parseCases) {
    if (c.err !== undefined) {
      throwsRef(() => parse(c.input), c.err);
      continue;
    }
    const r = parse(c.input);
    assert.equal(r.string(), c.input, c.input);
    assert.equal(String(r), c.input);
    assert.equal(r.name(), c.repository, c.input);
    assert.equal(r.domain, c.domain ?? '', c.input);
    assert.equal(r.tag, c.tag, c.input);
    assert.equal(r.digest, c.digest, c.input);
  }
});

test('Parse: error reasons are stable', () => {
  throwsRef(() => parse(''), ERR.empty, 'name-empty');
  throwsRef(() => parse('A'), ERR.uppercase, 'uppercase');
  throwsRef(() => parse('a!'), ERR.format, 'format');
  throwsRef(() => parse('a/'.repeat(128) + 'a'), ERR.tooLong, 'name-too-long');
  throwsRef(() => parse(`a@sha256:${'f'.repeat(34)}`), ERR.digestLength, 'checksum-length');
  throwsRef(() => parse(`a@md5:${F64}`), ERR.digestUnsupported, 'checksum-algorithm');
  throwsRef(() => parse(`a@sha256:${'F'.repeat(64)}`), ERR.digestFormat, 'checksum-format');
  // The input is kept for callers that print it.
  assert.throws(() => parse('a!'), (e: unknown) => e instanceof ReferenceError && e.input === 'a!');
});

test('Parse: the upper-case check lowers like Go (U+0130 becomes a plain i)', () => {
  throwsRef(() => parse('\u0130'), ERR.uppercase);
  throwsRef(() => parse('\u212a'), ERR.uppercase); // Kelvin sign → k
  throwsRef(() => parse('é'), ERR.format); // lower already, not ASCII
});

test('Parse: hostile inputs are refused quickly (no catastrophic backtracking)', () => {
  const inputs = [
    'a'.repeat(200_000) + '!',
    'a-'.repeat(100_000) + '!',
    'a/'.repeat(100_000) + '!',
    'a.'.repeat(100_000) + '/!',
    'a__'.repeat(50_000) + '_',
    'a:' + 'b'.repeat(200_000),
    'a@sha256:' + 'f'.repeat(200_000) + 'g',
  ];
  const start = performance.now();
  for (const s of inputs) {
    assert.throws(() => parse(s), ReferenceError);
    assert.throws(() => parseNormalizedNamed(s), ReferenceError);
  }
  assert.ok(performance.now() - start < 2000, 'took too long');
});

test('WithName: TestWithNameFailure and TestSplitHostname vectors', () => {
  for (const s of ['', ':justtag', `@sha256:${F64}`, `validname@invaliddigest:${F64}`, 'aa/asdf$$^/aa']) throwsRef(() => withName(s), ERR.format);
  throwsRef(() => withName('a/'.repeat(128) + 'a:tag'), ERR.tooLong);
  const split: [string, string, string][] = [
    ['test.com/foo', 'test.com', 'foo'],
    ['test_com/foo', '', 'test_com/foo'],
    ['test:8080/foo', 'test:8080', 'foo'],
    ['test.com:8080/foo', 'test.com:8080', 'foo'],
    ['test-com:8080/foo', 'test-com:8080', 'foo'],
    ['xn--n3h.com:18080/foo', 'xn--n3h.com:18080', 'foo'],
  ];
  for (const [input, domain, path] of split) {
    const r = withName(input);
    assert.deepEqual([r.domain, r.path], [domain, path], input);
    assert.ok(r.isNameOnly());
  }
});

test('WithTag and WithDigest: TestWithTag and TestWithDigest vectors', () => {
  const d = 'sha256:1234567890098765432112345667890098765';
  assert.equal(withTag(withName('test.com/foo'), 'tag').string(), 'test.com/foo:tag');
  assert.equal(withTag(withName('foo'), 'tag2').string(), 'foo:tag2');
  assert.equal(withTag(withName('test.com:8000/foo'), 'tag4').string(), 'test.com:8000/foo:tag4');
  assert.equal(withTag(withName('test.com:8000/foo'), 'TAG5').string(), 'test.com:8000/foo:TAG5');
  assert.equal(withTag(withDigest(withName('test.com:8000/foo'), d), 'TAG5').string(), `test.com:8000/foo:TAG5@${d}`);
  assert.equal(withDigest(withName('test.com/foo'), d).string(), `test.com/foo@${d}`);
  assert.equal(withDigest(withName('foo'), d).string(), `foo@${d}`);
  assert.equal(withDigest(withName('test.com:8000/foo'), d).string(), `test.com:8000/foo@${d}`);
  assert.equal(withDigest(withTag(withName('test.com:8000/foo'), 'latest'), d).string(), `test.com:8000/foo:latest@${d}`);
  // TestInvalidReferenceComponents
  throwsRef(() => parseNormalizedNamed('-foo'), ERR.format);
  const busybox = parseNormalizedNamed('busybox');
  throwsRef(() => withTag(busybox, '-foo'), ERR.tag, 'tag');
  throwsRef(() => withTag(busybox, 'a'.repeat(129)), ERR.tag);
  throwsRef(() => withDigest(busybox, 'foo'), ERR.digest, 'digest');
  assert.equal(withTag(busybox, 'a'.repeat(128)).tag, 'a'.repeat(128));
});

test('ParseNamed: TestParseNamed vectors', () => {
  const ok: [string, string, string][] = [
    ['test.com/foo', 'test.com', 'foo'],
    ['test:8080/foo', 'test:8080', 'foo'],
    ['docker.io/library/foo', 'docker.io', 'library/foo'],
  ];
  for (const [input, domain, path] of ok) {
    const r = parseNamed(input);
    assert.deepEqual([r.domain, r.path], [domain, path]);
  }
  for (const s of ['test_com/foo', 'test.com', 'foo', 'library/foo', 'docker.io/foo']) throwsRef(() => parseNamed(s), ERR.notCanonical, 'not-canonical');
});

test('ParseNormalizedNamed: TestValidateReferenceName and TestValidateRemoteName (v2.8)', () => {
  const valid = [
    'docker/docker',
    'library/debian',
    'debian',
    'docker.io/docker/docker',
    'docker.io/library/debian',
    'docker.io/debian',
    'index.docker.io/docker/docker',
    'index.docker.io/library/debian',
    'index.docker.io/debian',
    '127.0.0.1:5000/docker/docker',
    '127.0.0.1:5000/library/debian',
    '127.0.0.1:5000/debian',
    'thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev',
    'docker.io/1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a',
    'docker-rules/docker',
    'docker---rules/docker',
    'doc/docker',
    'd/docker',
    'jess/t',
    'dock__er/docker',
  ];
  for (const s of valid) assert.doesNotThrow(() => parseNormalizedNamed(s), s);
  const invalid: [string, string][] = [
    ['https://github.com/docker/docker', ERR.format],
    ['docker/Docker', ERR.normUppercase],
    ['-docker', ERR.format],
    ['-docker/docker', ERR.format],
    ['-docker.io/docker/docker', ERR.format],
    ['docker///docker', ERR.format],
    ['docker.io/docker/Docker', ERR.normUppercase],
    ['docker.io/docker///docker', ERR.format],
    ['1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a', 'invalid repository name (1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a), cannot specify 64-byte hexadecimal strings'],
    ['docker-/docker', ERR.format],
    ['-docker-/docker', ERR.format],
    ['____/____', ERR.format],
    ['_docker/_docker', ERR.format],
    ['dock..er/docker', ERR.format],
    ['dock_.er/docker', ERR.format],
    ['dock-.er/docker', ERR.format],
    ['docker/', ERR.format],
    [Array(4).fill('this_is_not_a_valid_namespace_because_its_lenth_is_greater_than_255').join('_') + '/docker', ERR.tooLong],
    // Valid in later versions (an upper-case first element became a domain), not in v2.8:
    ['Docker/docker', ERR.normUppercase],
    ['DOCKER/docker', ERR.normUppercase],
    ['[fc00::1%eth0]:5000/docker/docker', ERR.format],
    ['', ERR.format],
  ];
  for (const [s, msg] of invalid) throwsRef(() => parseNormalizedNamed(s), msg);
  throwsRef(() => parseNormalizedNamed(F64), `invalid repository name (${F64}), cannot specify 64-byte hexadecimal strings`, 'hex-name');
});

test('ParseNormalizedNamed: the 255-character limit counts the added docker.io/library/', () => {
  const name = 'a'.repeat(255 - 'docker.io/library/'.length);
  assert.equal(parseNormalizedNamed(name).name().length, 255);
  throwsRef(() => parseNormalizedNamed(name + 'a'), ERR.tooLong);
  throwsRef(() => parseNormalizedNamed(name + 'a:tag'), ERR.tooLong);
  // An upper-case domain is not checked (only the remote name must be lower case).
  assert.equal(parseNormalizedNamed('Example.COM/foo').domain, 'Example.COM');
});

test('FamiliarName / String / Domain / Path: TestParseRepositoryInfo vectors (v2.8)', () => {
  const cases: { remote: string; familiar: string; full: string; ambiguous?: string; domain: string }[] = [
    { remote: 'fooo/bar', familiar: 'fooo/bar', full: 'docker.io/fooo/bar', ambiguous: 'index.docker.io/fooo/bar', domain: 'docker.io' },
    { remote: 'library/ubuntu', familiar: 'ubuntu', full: 'docker.io/library/ubuntu', ambiguous: 'library/ubuntu', domain: 'docker.io' },
    { remote: 'nonlibrary/ubuntu', familiar: 'nonlibrary/ubuntu', full: 'docker.io/nonlibrary/ubuntu', domain: 'docker.io' },
    { remote: 'other/library', familiar: 'other/library', full: 'docker.io/other/library', domain: 'docker.io' },
    { remote: 'private/moonbase', familiar: '127.0.0.1:8000/private/moonbase', full: '127.0.0.1:8000/private/moonbase', domain: '127.0.0.1:8000' },
    { remote: 'privatebase', familiar: '127.0.0.1:8000/privatebase', full: '127.0.0.1:8000/privatebase', domain: '127.0.0.1:8000' },
    { remote: 'private/moonbase', familiar: 'example.com/private/moonbase', full: 'example.com/private/moonbase', domain: 'example.com' },
    { remote: 'privatebase', familiar: 'example.com/privatebase', full: 'example.com/privatebase', domain: 'example.com' },
    { remote: 'private/moonbase', familiar: 'example.com:8000/private/moonbase', full: 'example.com:8000/private/moonbase', domain: 'example.com:8000' },
    { remote: 'privatebasee', familiar: 'example.com:8000/privatebasee', full: 'example.com:8000/privatebasee', domain: 'example.com:8000' },
    { remote: 'library/ubuntu-12.04-base', familiar: 'ubuntu-12.04-base', full: 'docker.io/library/ubuntu-12.04-base', ambiguous: 'index.docker.io/library/ubuntu-12.04-base', domain: 'docker.io' },
    { remote: 'library/foo', familiar: 'foo', full: 'docker.io/library/foo', ambiguous: 'docker.io/foo', domain: 'docker.io' },
    { remote: 'library/foo/bar', familiar: 'library/foo/bar', full: 'docker.io/library/foo/bar', domain: 'docker.io' },
    { remote: 'store/foo/bar', familiar: 'store/foo/bar', full: 'docker.io/store/foo/bar', domain: 'docker.io' },
  ];
  for (const c of cases) {
    for (const s of [c.familiar, c.full, ...(c.ambiguous ? [c.ambiguous] : [])]) {
      const r = parseNormalizedNamed(s);
      assert.equal(familiarName(r), c.familiar, s);
      assert.equal(r.familiarName(), c.familiar, s);
      assert.equal(r.string(), c.full, s);
      assert.equal(r.domain, c.domain, s);
      assert.equal(r.path, c.remote, s);
    }
  }
});

test('TestParseReferenceWithTagAndDigest and TestNormalizedSplitHostname', () => {
  const short = 'busybox:latest@sha256:86e0e091d0da6bde2456dbb48306f3956bbeb2eae1b5b9a43045843f69fe4aaa';
  const r = parseNormalizedNamed(short);
  assert.equal(r.string(), 'docker.io/library/' + short);
  assert.equal(r.tag, 'latest');
  assert.equal(r.digest, 'sha256:86e0e091d0da6bde2456dbb48306f3956bbeb2eae1b5b9a43045843f69fe4aaa');
  assert.equal(familiarString(r), short);
  const split: [string, string, string][] = [
    ['test.com/foo', 'test.com', 'foo'],
    ['test_com/foo', 'docker.io', 'test_com/foo'],
    ['docker/migrator', 'docker.io', 'docker/migrator'],
    ['test.com:8080/foo', 'test.com:8080', 'foo'],
    ['test-com:8080/foo', 'test-com:8080', 'foo'],
    ['foo', 'docker.io', 'library/foo'],
    ['xn--n3h.com/foo', 'xn--n3h.com', 'foo'],
    ['xn--n3h.com:18080/foo', 'xn--n3h.com:18080', 'foo'],
    ['docker.io/foo', 'docker.io', 'library/foo'],
    ['docker.io/library/foo', 'docker.io', 'library/foo'],
    ['docker.io/library/foo/bar', 'docker.io', 'library/foo/bar'],
    ['localhost/foo', 'localhost', 'foo'],
    ['localhost:5000/foo', 'localhost:5000', 'foo'],
  ];
  for (const [input, domain, path] of split) {
    const n = parseNormalizedNamed(input);
    assert.deepEqual([n.domain, n.path], [domain, path], input);
  }
});

test('ParseAnyReference: TestParseAnyReference vectors (without a digest set)', () => {
  const h = 'dbcc1c35ac38df41fd2f5e4130b32ffdb93ebae8b3dbe638c23575912276fc9c';
  const cases: [string, string][] = [
    ['redis', 'docker.io/library/redis'],
    ['redis:latest', 'docker.io/library/redis:latest'],
    ['docker.io/library/redis:latest', 'docker.io/library/redis:latest'],
    [`redis@sha256:${h}`, `docker.io/library/redis@sha256:${h}`],
    [`docker.io/library/redis@sha256:${h}`, `docker.io/library/redis@sha256:${h}`],
    ['dmcgowan/myapp', 'docker.io/dmcgowan/myapp'],
    ['dmcgowan/myapp:latest', 'docker.io/dmcgowan/myapp:latest'],
    ['docker.io/mcgowan/myapp:latest', 'docker.io/mcgowan/myapp:latest'],
    [`dmcgowan/myapp@sha256:${h}`, `docker.io/dmcgowan/myapp@sha256:${h}`],
    [`docker.io/dmcgowan/myapp@sha256:${h}`, `docker.io/dmcgowan/myapp@sha256:${h}`],
    [h, `sha256:${h}`],
    [`sha256:${h}`, `sha256:${h}`],
    [h.slice(0, 63), `docker.io/library/${h.slice(0, 63)}`],
  ];
  for (const [input, equivalent] of cases) {
    const r = parseAnyReference(input);
    assert.equal(r.string(), equivalent, input);
    const expected = equivalent.startsWith('sha256:') ? new DigestReference(equivalent) : parse(equivalent);
    assert.ok(r.equals(expected), input);
    assert.equal(r.kind, equivalent.startsWith('sha256:') ? 'digest' : 'named');
  }
  // An image ID is a digest reference; a short "sha256:" string is a tag of repository sha256.
  const id = parseAnyReference(`sha256:${h}`);
  assert.ok(id instanceof DigestReference);
  assert.equal(id.familiarString(), `sha256:${h}`);
  const notId = parseAnyReference('sha256:abc');
  assert.ok(notId instanceof Reference);
  assert.equal(notId.string(), 'docker.io/library/sha256:abc');
  // Other valid digests are digests too.
  assert.equal(parseAnyReference(`sha512:${'a'.repeat(128)}`).kind, 'digest');
  throwsRef(() => parseAnyReference('Redis'), ERR.normUppercase);
});

test('ParseDockerRef: TestParseDockerRef vectors', () => {
  const d = 'sha256:e6693c20186f837fc393390135d8a598a96a833917917789d63766cab6c59582';
  const cases: [string, string][] = [
    ['busybox', 'docker.io/library/busybox:latest'],
    ['busybox:latest', 'docker.io/library/busybox:latest'],
    [`busybox@${d}`, `docker.io/library/busybox@${d}`],
    ['library/busybox', 'docker.io/library/busybox:latest'],
    ['docker.io/busybox', 'docker.io/library/busybox:latest'],
    ['docker.io/library/busybox', 'docker.io/library/busybox:latest'],
    ['docker.io/busybox:latest', 'docker.io/library/busybox:latest'],
    ['library/busybox:latest', 'docker.io/library/busybox:latest'],
    ['docker.io/library/busybox:latest', 'docker.io/library/busybox:latest'],
    ['gcr.io/library/busybox', 'gcr.io/library/busybox:latest'],
    [`gcr.io/library/busybox:latest@${d}`, `gcr.io/library/busybox@${d}`],
  ];
  for (const [input, expected] of cases) {
    const out = parseDockerRef(input).string();
    assert.equal(out, expected, input);
    assert.doesNotThrow(() => parse(out));
  }
});

test('TagNameOnly, TrimNamed and the familiar forms used by repositories.json', () => {
  const a = parseNormalizedNamed('a');
  assert.equal(tagNameOnly(a).string(), 'docker.io/library/a:latest');
  assert.equal(tagNameOnly(a).familiarString(), 'a:latest');
  assert.equal(tagNameOnly(parseNormalizedNamed('a:2')).familiarString(), 'a:2');
  const dig = parseNormalizedNamed(`a@sha256:${F64}`);
  assert.equal(tagNameOnly(dig), dig, 'a digest reference gets no tag');
  assert.equal(trimNamed(parseNormalizedNamed(`user/app:x@sha256:${F64}`)).string(), 'docker.io/user/app');
  const reg = parseNormalizedNamed('myreg.example:5000/team/app:v1');
  assert.deepEqual([reg.familiarName(), reg.familiarString(), reg.name()], [
    'myreg.example:5000/team/app',
    'myreg.example:5000/team/app:v1',
    'myreg.example:5000/team/app',
  ]);
  const user = parseNormalizedNamed('user/app');
  assert.deepEqual([user.familiarName(), tagNameOnly(user).familiarString(), user.string()], ['user/app', 'user/app:latest', 'docker.io/user/app']);
  // Familiar of a familiar is itself; the un-normalised parse has no domain.
  const fam = parseNormalizedNamed('ubuntu:22.04').familiar();
  assert.deepEqual([fam.domain, fam.path, fam.string()], ['', 'ubuntu', 'ubuntu:22.04']);
  assert.equal(fam.familiar(), fam);
});

test('Reference constructor: only values Go could produce', () => {
  assert.equal(new Reference({ domain: 'docker.io', path: 'library/a', tag: '1' }).familiarString(), 'a:1');
  assert.equal(new Reference({ domain: '', path: 'user/app' }).string(), 'user/app');
  throwsRef(() => new Reference({ domain: '', path: 'test.com:5000/foo' }), ERR.format);
  throwsRef(() => new Reference({ domain: 'a_b', path: 'c' }), ERR.format);
  throwsRef(() => new Reference({ domain: 'docker.io', path: 'Library/a' }), ERR.format);
  throwsRef(() => new Reference({ domain: 'docker.io', path: 'a', tag: '.x' }), ERR.tag);
  throwsRef(() => new Reference({ domain: 'docker.io', path: 'a', digest: 'sha256:x' }), ERR.digest);
  throwsRef(() => new Reference({ domain: 'docker.io', path: 'a/'.repeat(123) + 'a' }), ERR.tooLong);
});
