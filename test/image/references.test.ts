/**
 * The reference store (`repositories.json`) against moby 20.10's reference/store.go behaviour:
 * moby's own store_test.go vectors (TestSave's exact bytes, TestLoad, TestAddDeleteGet,
 * TestInvalidTags), the exact error texts, atomic writes, and "a failure changes nothing".
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import {
  ReferenceStoreError,
  marshalRepositories,
  openReferenceStore,
  repositoriesJsonPath,
} from '../../src/image/references.js';
import { ReferenceError, parseNormalizedNamed } from '../../src/image/reference/index.js';
import { isStrataError } from '../../src/errors/index.js';
import { isSysError } from '../../src/sys/index.js';
import { tempDir } from '../helpers/tmp.js';

// moby reference/store_test.go
const saveLoadTestCases: Record<string, string> = {
  'registry:5000/foobar:HEAD': 'sha256:470022b8af682154f57a2163d030eb369549549cba00edc69e1b99b46bb924d6',
  'registry:5000/foobar:alternate': 'sha256:ae300ebc4a4f00693702cfb0a5e0b7bc527b353828dc86ad09fb95c8a681b793',
  'registry:5000/foobar:latest': 'sha256:6153498b9ac00968d71b66cca4eac37e990b5f9eb50c26877eb8799c8847451b',
  'registry:5000/foobar:master': 'sha256:6c9917af4c4e05001b346421959d7ea81b6dc9d25718466a37a6add865dfd7fc',
  'jess/hollywood:latest': 'sha256:ae7a5519a0a55a2d4ef20ddcbd5d0ca0888a1f7ab806acc8e2a27baf46f529fe',
  'registry@sha256:367eb40fd0330a7e464777121e39d2f5b3e8e23a1e159342e53ab05c9e4d94e6': 'sha256:24126a56805beb9711be5f4590cc2eb55ab8d4a85ebd618eed72bb19fc50631c',
  'busybox:latest': 'sha256:91e54dfb11794fad694460162bf0cb0a4fa710cfa3f60979c177d920813e267c',
};
const marshalledSaveLoadTestCases =
  '{"Repositories":{"busybox":{"busybox:latest":"sha256:91e54dfb11794fad694460162bf0cb0a4fa710cfa3f60979c177d920813e267c"},"jess/hollywood":{"jess/hollywood:latest":"sha256:ae7a5519a0a55a2d4ef20ddcbd5d0ca0888a1f7ab806acc8e2a27baf46f529fe"},"registry":{"registry@sha256:367eb40fd0330a7e464777121e39d2f5b3e8e23a1e159342e53ab05c9e4d94e6":"sha256:24126a56805beb9711be5f4590cc2eb55ab8d4a85ebd618eed72bb19fc50631c"},"registry:5000/foobar":{"registry:5000/foobar:HEAD":"sha256:470022b8af682154f57a2163d030eb369549549cba00edc69e1b99b46bb924d6","registry:5000/foobar:alternate":"sha256:ae300ebc4a4f00693702cfb0a5e0b7bc527b353828dc86ad09fb95c8a681b793","registry:5000/foobar:latest":"sha256:6153498b9ac00968d71b66cca4eac37e990b5f9eb50c26877eb8799c8847451b","registry:5000/foobar:master":"sha256:6c9917af4c4e05001b346421959d7ea81b6dc9d25718466a37a6add865dfd7fc"}}}';

const ID1 = 'sha256:9655aef5fd742a1b4e1b7b163aa9f1c76c186304bf39102283d80927c916ca9c';
const ID2 = 'sha256:9655aef5fd742a1b4e1b7b163aa9f1c76c186304bf39102283d80927c916ca9d';
const ID3 = 'sha256:9655aef5fd742a1b4e1b7b163aa9f1c76c186304bf39102283d80927c916ca9e';
const DGST = 'sha256:58153dfb11794fad694460162bf0cb0a4fa710cfa3f60979c177d920813e267c';

function freshFile(): string {
  return path.join(tempDir('strata-refs-'), 'repositories.json');
}

/** Asserts `f` throws a ReferenceStoreError with `code` and exactly `message`. */
function throwsStore(f: () => unknown, code: string, message: string): void {
  assert.throws(f, (e: unknown) => {
    assert.ok(e instanceof ReferenceStoreError, `expected ReferenceStoreError, got ${String(e)}`);
    assert.equal(e.code, code);
    assert.equal(e.message, message);
    return true;
  });
}

test('TestSave: the exact bytes, mode 0600, no newline, no temp file left', () => {
  const file = freshFile();
  const store = openReferenceStore(file);
  // Go ranges over the map in random order; the bytes must not depend on it.
  for (const [refStr, id] of Object.entries(saveLoadTestCases).reverse()) {
    const ref = parseNormalizedNamed(refStr);
    if (ref.digest !== undefined) store.addDigest(ref, id);
    else store.addTag(ref, id);
  }
  assert.equal(fs.readFileSync(file, 'utf8'), marshalledSaveLoadTestCases);
  assert.equal(store.marshal(), marshalledSaveLoadTestCases);
  assert.equal(fs.statSync(file).mode & 0o777, 0o600);
  assert.deepEqual(fs.readdirSync(path.dirname(file)), ['repositories.json']);
});

test('TestLoad: every reference of the saved file is found again', () => {
  const file = freshFile();
  fs.writeFileSync(file, marshalledSaveLoadTestCases);
  const store = openReferenceStore(file);
  for (const [refStr, id] of Object.entries(saveLoadTestCases)) {
    assert.equal(store.get(refStr), id, refStr);
    assert.equal(store.get(parseNormalizedNamed(refStr)), id, refStr);
  }
  assert.equal(store.marshal(), marshalledSaveLoadTestCases);
  assert.deepEqual(Object.keys(store.repositories()), ['busybox', 'jess/hollywood', 'registry', 'registry:5000/foobar']);
});

test('TestAddDeleteGet (moby 20.10 semantics)', () => {
  const file = freshFile();
  fs.writeFileSync(file, '{}');
  const store = openReferenceStore(file);
  assert.equal(store.marshal(), '{"Repositories":{}}');

  const nameOnly = parseNormalizedNamed('username/repo');
  assert.equal(store.addTag(nameOnly, ID1).familiarString(), 'username/repo:latest');
  const ref1 = parseNormalizedNamed('username/repo1:latest');
  store.addTag(ref1, ID1);
  const ref2 = parseNormalizedNamed('username/repo1:old');
  store.addTag(ref2, ID2);
  const ref3 = parseNormalizedNamed('username/repo1:alias');
  store.addTag(ref3, ID1);
  const ref4 = parseNormalizedNamed('username/repo2:latest');
  store.addTag(ref4, ID2);
  // 20.10 has no "same value again is fine" shortcut (newer moby does): without force it is a conflict.
  throwsStore(
    () => store.addTag(ref4, ID2),
    'REFERENCE_CONFLICT',
    `Conflict: Tag username/repo2:latest is already set to image ${ID2}, if you want to replace it, please use the force option`,
  );
  store.addTag(ref4, ID2, true);
  const ref5 = parseNormalizedNamed(`username/repo3@${DGST}`);
  store.addDigest(ref5, ID2);
  throwsStore(() => store.addDigest(ref5, ID2), 'REFERENCE_CONFLICT', `Cannot overwrite digest ${DGST}`);
  throwsStore(() => store.addDigest(ref5, ID3), 'REFERENCE_CONFLICT', `Cannot overwrite digest ${DGST}`);
  throwsStore(() => store.addDigest(ref5, ID3, true), 'REFERENCE_CONFLICT', `Cannot overwrite digest ${DGST}`);
  throwsStore(
    () => store.addTag(ref4, ID3),
    'REFERENCE_CONFLICT',
    `Conflict: Tag username/repo2:latest is already set to image ${ID2}, if you want to replace it, please use the force option`,
  );
  store.addTag(ref4, ID3, true);

  assert.equal(store.get(nameOnly), ID1);
  assert.equal(store.get(ref1), ID1);
  assert.equal(store.get(ref2), ID2);
  assert.equal(store.get(ref3), ID1);
  assert.equal(store.get(ref4), ID3);
  assert.equal(store.get(ref5), ID2);
  assert.equal(store.get('username/nonexistrepo:latest'), undefined);
  assert.equal(store.get('username/repo1:nonexist'), undefined);

  // References come back sorted by their full string.
  assert.deepEqual(
    store.references(ID1).map(String),
    [ref3.string(), ref1.string(), nameOnly.string() + ':latest'],
  );
  const assoc = store.referencesByName(parseNormalizedNamed('username/repo1'));
  assert.deepEqual(
    assoc.map((a) => [a.ref.string(), a.id]),
    [
      [ref3.string(), ID1],
      [ref1.string(), ID1],
      [ref2.string(), ID2],
    ],
  );
  assert.deepEqual(store.referencesByName('username/nonexistrepo'), []);

  assert.equal(store.delete('username/nonexistrepo:latest'), false);
  assert.equal(store.delete('username/repo1:nonexist'), false);
  assert.equal(store.delete(ref1), true);
  assert.equal(store.get(ref1), undefined);
  assert.equal(store.delete(ref5), true);
  assert.equal(store.get(ref5), undefined);
  assert.equal(store.delete(nameOnly), true);
  assert.equal(store.get(nameOnly), undefined);
  assert.deepEqual(store.references(ID1).map(String), [ref3.string()]);
  assert.deepEqual(store.references(ID2).map(String), [ref2.string()]);
  assert.deepEqual(store.references(ID3).map(String), [ref4.string()]);

  // The file always holds the store, and a fresh open sees the same thing.
  assert.equal(fs.readFileSync(file, 'utf8'), store.marshal());
  assert.equal(
    store.marshal(),
    `{"Repositories":{"username/repo1":{"username/repo1:alias":"${ID1}","username/repo1:old":"${ID2}"},"username/repo2":{"username/repo2:latest":"${ID3}"}}}`,
  );
  assert.deepEqual(openReferenceStore(file).repositories(), store.repositories());
});

test('TestInvalidTags: sha256 as a repository name, a digest given to addTag', () => {
  const store = openReferenceStore(freshFile());
  const id = 'sha256:470022b8af682154f57a2163d030eb369549549cba00edc69e1b99b46bb924d6';
  throwsStore(() => store.addTag('sha256:abc', id, true), 'REFERENCE_INVALID_TAG', 'refusing to create an ambiguous tag using digest algorithm as name');
  throwsStore(() => store.addTag('docker.io/library/sha256', id, true), 'REFERENCE_INVALID_TAG', 'refusing to create an ambiguous tag using digest algorithm as name');
  throwsStore(
    () => store.addDigest(`sha256@${DGST}`, id, true),
    'REFERENCE_INVALID_TAG',
    'refusing to create an ambiguous tag using digest algorithm as name',
  );
  throwsStore(
    () => store.addTag('registry@sha256:367eb40fd0330a7e464777121e39d2f5b3e8e23a1e159342e53ab05c9e4d94e6', id, true),
    'REFERENCE_INVALID_TAG',
    'refusing to create a tag with a digest reference',
  );
  throwsStore(() => store.addTag(`a:1@${DGST}`, id), 'REFERENCE_INVALID_TAG', 'refusing to create a tag with a digest reference');
  throwsStore(() => store.addDigest('a:1', id), 'REFERENCE_NO_DIGEST', 'refusing to create a digest reference without a digest: a:1');
  // A path under "sha256/" is not ambiguous.
  store.addTag('sha256/x', id);
  assert.equal(store.get('sha256/x:latest'), id);
  assert.ok(!fs.readFileSync(store.file, 'utf8').includes('"sha256"'));
});

test('bad input: a reference that does not parse, an ID that is not a digest', () => {
  const file = freshFile();
  const store = openReferenceStore(file);
  assert.throws(() => store.addTag('Bad', ID1), (e: unknown) => e instanceof ReferenceError && e.message === 'invalid reference format: repository name must be lowercase');
  assert.throws(() => store.addTag('a', 'sha256:abc'), (e: unknown) => isStrataError(e, 'INVALID_DIGEST'));
  assert.throws(() => store.addTag('a', ID1.slice(7)), (e: unknown) => isStrataError(e, 'INVALID_DIGEST'));
  assert.equal(fs.existsSync(file), false, 'nothing written');
});

test('a tag and a digest together: stored (and found, and deleted) as the digest alone', () => {
  const store = openReferenceStore(freshFile());
  const both = `user/app:v1@${DGST}`;
  assert.equal(store.addDigest(both, ID1).familiarString(), `user/app@${DGST}`);
  assert.equal(store.marshal(), `{"Repositories":{"user/app":{"user/app@${DGST}":"${ID1}"}}}`);
  assert.equal(store.get(both), ID1);
  assert.equal(store.get(`user/app:other@${DGST}`), ID1);
  assert.equal(store.get('user/app:v1'), undefined);
  assert.equal(store.get('user/app'), undefined);
  assert.deepEqual(store.references(ID1).map(String), [`docker.io/user/app@${DGST}`]);
  assert.equal(store.delete(`user/app:zz@${DGST}`), true);
  assert.equal(store.marshal(), '{"Repositories":{}}');
});

test('deleting the last reference of a repository removes the repository key', () => {
  const file = freshFile();
  const store = openReferenceStore(file);
  store.addTag('a', ID1);
  store.addTag('a:2', ID2);
  store.addTag('b', ID1);
  assert.equal(
    fs.readFileSync(file, 'utf8'),
    `{"Repositories":{"a":{"a:2":"${ID2}","a:latest":"${ID1}"},"b":{"b:latest":"${ID1}"}}}`,
  );
  assert.equal(store.delete('a'), true);
  assert.equal(fs.readFileSync(file, 'utf8'), `{"Repositories":{"a":{"a:2":"${ID2}"},"b":{"b:latest":"${ID1}"}}}`);
  assert.equal(store.delete('a:2'), true);
  assert.equal(fs.readFileSync(file, 'utf8'), `{"Repositories":{"b":{"b:latest":"${ID1}"}}}`);
  assert.equal(store.delete('a:2'), false);
  assert.equal(store.delete('b:latest'), true);
  assert.equal(fs.readFileSync(file, 'utf8'), '{"Repositories":{}}');
  assert.deepEqual(store.references(ID1), []);
});

test('references(): sorted by the full string, not the familiar one (docker inspect RepoTags order)', () => {
  const store = openReferenceStore(freshFile());
  for (const r of ['zz', 'localhost:5000/q', 'user/app:x', 'a:1', 'a', `a@${DGST}`, 'myreg.example:5000/team/app:v1']) {
    if (r.includes('@')) store.addDigest(r, ID1);
    else store.addTag(r, ID1);
  }
  assert.deepEqual(store.references(ID1).map((r) => r.familiarString()), [
    'a:1',
    'a:latest',
    `a@${DGST}`,
    'zz:latest',
    'user/app:x',
    'localhost:5000/q:latest',
    'myreg.example:5000/team/app:v1',
  ]);
  // The file's order is the familiar keys', byte-sorted.
  assert.deepEqual(Object.keys(store.repositories()), ['a', 'localhost:5000/q', 'myreg.example:5000/team/app', 'user/app', 'zz']);
  assert.deepEqual(Object.keys(store.repositories()['a']!), ['a:1', 'a:latest', `a@${DGST}`]);
});

test('a missing file is an empty store: nothing written until a change (or create: true)', () => {
  const file = freshFile();
  const store = openReferenceStore(file);
  assert.equal(store.marshal(), '{"Repositories":{}}');
  assert.equal(store.get('a'), undefined);
  assert.equal(store.delete('a'), false);
  assert.equal(fs.existsSync(file), false);
  openReferenceStore(file, { create: true });
  assert.equal(fs.readFileSync(file, 'utf8'), '{"Repositories":{}}');
  assert.equal(fs.statSync(file).mode & 0o777, 0o600);
  assert.equal(repositoriesJsonPath('/var/lib/docker', 'overlay2'), '/var/lib/docker/image/overlay2/repositories.json');
});

test('a corrupt file is a clear error, and is left as it was', () => {
  const cases: [string, RegExp][] = [
    ['', /the file is empty/],
    ['  \n', /the file is empty/],
    ['{"Repositories":', /not valid JSON/],
    ['[]', /not a JSON object/],
    ['{"Repositories":[]}', /"Repositories" is not an object/],
    ['{"Repositories":{"a":[]}}', /repository "a" is not an object/],
    ['{"Repositories":{"a":{"a:latest":5}}}', /"a:latest" does not name an image ID \(5\)/],
    ['{"Repositories":{"a":{"a:latest":"sha256:abc"}}}', /"a:latest" does not name an image ID/],
    [`{"Repositories":{}}garbage`, /not valid JSON/],
  ];
  for (const [text, re] of cases) {
    const file = freshFile();
    fs.writeFileSync(file, text);
    assert.throws(
      () => openReferenceStore(file),
      (e: unknown) => e instanceof ReferenceStoreError && e.code === 'REFERENCE_STORE_CORRUPT' && re.test(e.message) && e.message.includes(file),
      JSON.stringify(text),
    );
    assert.equal(fs.readFileSync(file, 'utf8'), text);
  }
  // A data root whose image dir is unreadable in another way: a SysError, not "corrupt".
  const dir = tempDir('strata-refs-');
  fs.mkdirSync(path.join(dir, 'repositories.json'));
  assert.throws(() => openReferenceStore(path.join(dir, 'repositories.json')), (e: unknown) => isSysError(e, 'EISDIR'));
});

test('what Go would also accept: null, a case-insensitive key, other keys; unparseable refs are kept', () => {
  const cases: [string, string][] = [
    ['{"Repositories":null}', '{"Repositories":{}}'],
    ['{}', '{"Repositories":{}}'],
    [`{"repositories":{"a":{"a:latest":"${ID1}"}},"Other":1}`, `{"Repositories":{"a":{"a:latest":"${ID1}"}}}`],
    [`{"Repositories":{"a":null,"b":{"b:latest":"${ID1}"},"c":{}}}`, `{"Repositories":{"a":{},"b":{"b:latest":"${ID1}"},"c":{}}}`],
  ];
  for (const [text, marshalled] of cases) {
    const file = freshFile();
    fs.writeFileSync(file, text);
    assert.equal(openReferenceStore(file).marshal(), marshalled, text);
  }
  // moby skips keys that do not parse when it indexes, but keeps them in the file.
  const file = freshFile();
  const odd = `{"Repositories":{"Bad Repo":{"Bad Repo:latest":"${ID1}"},"a":{"a:latest":"${ID1}"}}}`;
  fs.writeFileSync(file, odd);
  const store = openReferenceStore(file);
  assert.deepEqual(store.references(ID1).map(String), ['docker.io/library/a:latest']);
  store.addTag('b', ID2);
  assert.equal(
    fs.readFileSync(file, 'utf8'),
    `{"Repositories":{"Bad Repo":{"Bad Repo:latest":"${ID1}"},"a":{"a:latest":"${ID1}"},"b":{"b:latest":"${ID2}"}}}`,
  );
});

test('a failed write changes nothing: not the file, not the store, no temp file left', () => {
  const dir = tempDir('strata-refs-');
  const file = path.join(dir, 'repositories.json');
  const store = openReferenceStore(file);
  store.addTag('a', ID1);
  const before = fs.readFileSync(file, 'utf8');
  // Make the final rename fail: the target becomes a directory.
  fs.rmSync(file);
  fs.mkdirSync(file);
  assert.throws(() => store.addTag('b', ID2), (e: unknown) => isSysError(e, 'EISDIR') && (e as { syscall?: string }).syscall === 'rename');
  assert.throws(() => store.delete('a'), (e: unknown) => isSysError(e));
  assert.throws(() => store.addTag('a', ID2, true), (e: unknown) => isSysError(e));
  assert.deepEqual(fs.readdirSync(dir), ['repositories.json'], 'no temp file left');
  assert.equal(store.get('b'), undefined);
  assert.equal(store.get('a'), ID1);
  assert.deepEqual(store.references(ID1).map(String), ['docker.io/library/a:latest']);
  assert.deepEqual(store.references(ID2), []);
  assert.equal(store.marshal(), before);
  // Once the path is writable again, the next change writes everything.
  fs.rmdirSync(file);
  store.addTag('b', ID2);
  assert.equal(fs.readFileSync(file, 'utf8'), `{"Repositories":{"a":{"a:latest":"${ID1}"},"b":{"b:latest":"${ID2}"}}}`);
});

test('a refused change does not touch the file', () => {
  const file = freshFile();
  const store = openReferenceStore(file);
  store.addTag('a', ID1);
  const ino = fs.statSync(file).ino;
  assert.throws(() => store.addTag('a', ID2), ReferenceStoreError);
  assert.throws(() => store.addTag('sha256:x', ID2), ReferenceStoreError);
  assert.equal(store.delete('nope'), false);
  assert.equal(fs.statSync(file).ino, ino, 'not rewritten');
  // Every successful change replaces the file (a new inode: written aside, renamed).
  store.addTag('a', ID2, true);
  assert.notEqual(fs.statSync(file).ino, ino);
});

test('writes: mode 0600 whatever the umask, stale temp files from a crash are ignored', () => {
  const dir = tempDir('strata-refs-');
  const file = path.join(dir, 'repositories.json');
  fs.writeFileSync(path.join(dir, '.tmp-repositories.json123'), 'left by a crash');
  const store = openReferenceStore(file);
  const old = process.umask(0o077);
  try {
    store.addTag('a', ID1);
  } finally {
    process.umask(old);
  }
  assert.equal(fs.statSync(file).mode & 0o777, 0o600);
  fs.chmodSync(file, 0o644);
  const old2 = process.umask(0);
  try {
    store.addTag('b', ID1);
  } finally {
    process.umask(old2);
  }
  assert.equal(fs.statSync(file).mode & 0o777, 0o600);
  assert.deepEqual(fs.readdirSync(dir).sort(), ['.tmp-repositories.json123', 'repositories.json']);
  assert.equal(openReferenceStore(file).get('b'), ID1);
});

test('marshalRepositories: Go key order and escaping', () => {
  const repos = new Map([
    ['b', new Map([['b:latest', ID1]])],
    ['a<&>', new Map([['z', ID2], ['a', ID1]])],
  ]);
  assert.equal(marshalRepositories(repos), `{"Repositories":{"a\\u003c\\u0026\\u003e":{"a":"${ID1}","z":"${ID2}"},"b":{"b:latest":"${ID1}"}}}`);
});
