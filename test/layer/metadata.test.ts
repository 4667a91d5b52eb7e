import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { tempDir } from '../helpers/tmp.js';
import { chainId as makeChainId, parseDigest, randomCacheId, sha256Of, type Digest } from '../../src/digest/index.js';
import { readTarSplit } from '../../src/archive/tarsplit/index.js';
import { isStrataError } from '../../src/errors/index.js';
import { MetadataStore, LayerDbError, isValidId, goTrimSpace, goParseInt64, marshalDescriptor } from '../../src/layer/metadata/index.js';

const d = (s: string) => sha256Of(Buffer.from(s)) as Digest;
const mode = (p: string) => fs.statSync(p).mode & 0o7777;

async function commitLayer(db: MetadataStore, v: { diffId: Digest; parent?: Digest; size?: number; cacheId?: string }): Promise<{ chain: Digest; cacheId: string }> {
  const chain = makeChainId(v.parent, v.diffId);
  const cacheId = v.cacheId ?? randomCacheId();
  const tx = db.startTransaction();
  try {
    const p = tx.tarSplitWriter();
    p.addSegment(Buffer.from('header of ' + v.diffId));
    p.addFile(Buffer.from('a'), 0, null);
    p.addSegment(Buffer.alloc(0));
    await p.close();
    tx.setLayer({ diffId: v.diffId, size: v.size ?? 42, cacheId, ...(v.parent ? { parent: v.parent } : {}) });
    tx.commit(chain);
  } finally {
    await tx.cancel();
  }
  return { chain, cacheId };
}

function errWith(code: string, re?: RegExp) {
  return (e: unknown) => {
    assert.ok(isStrataError(e), `not a StrataError: ${String(e)}`);
    assert.equal((e as { code: string }).code, code, String(e));
    if (re) assert.match((e as Error).message, re);
    return true;
  };
}

test('open creates layerdb 0700 (and parents), nothing inside until written', () => {
  const root = path.join(tempDir(), 'image/overlay2/layerdb');
  const db = new MetadataStore(root);
  assert.equal(mode(root), 0o700);
  assert.equal(mode(path.dirname(root)), 0o700);
  assert.deepEqual(fs.readdirSync(root), []);
  assert.deepEqual(db.list(), { layers: [], mounts: [], skipped: [] });
  assert.deepEqual(db.orphans(), { orphans: [], finished: [], skipped: [] });
  assert.deepEqual(db.writeSets(), []);
});

test('a committed layer: byte-exact files, modes, no newline, and it reads back', async () => {
  const root = tempDir();
  const db = new MetadataStore(root);
  const base = await commitLayer(db, { diffId: d('one'), size: 1982305 });
  const top = await commitLayer(db, { diffId: d('two'), parent: base.chain, size: 0 });
  assert.equal(mode(path.join(root, 'sha256')), 0o755);
  assert.equal(mode(path.join(root, 'tmp')), 0o755);
  assert.deepEqual(fs.readdirSync(path.join(root, 'tmp')), []);
  const dir = path.join(root, 'sha256', top.chain.slice(7));
  assert.equal(mode(dir), 0o700);
  assert.deepEqual(fs.readdirSync(dir).sort(), ['cache-id', 'diff', 'parent', 'size', 'tar-split.json.gz']);
  for (const f of fs.readdirSync(dir)) assert.equal(mode(path.join(dir, f)), 0o644, f);
  assert.equal(fs.readFileSync(path.join(dir, 'diff'), 'utf8'), d('two'));
  assert.equal(fs.readFileSync(path.join(dir, 'size'), 'utf8'), '0');
  assert.equal(fs.readFileSync(path.join(dir, 'cache-id'), 'utf8'), top.cacheId);
  assert.equal(fs.readFileSync(path.join(dir, 'parent'), 'utf8'), base.chain);
  assert.deepEqual(fs.readFileSync(path.join(dir, 'tar-split.json.gz')).subarray(0, 10), Buffer.from('1f8b08000000000000ff', 'hex'));
  const baseDir = path.join(root, 'sha256', base.chain.slice(7));
  assert.deepEqual(fs.readdirSync(baseDir).sort(), ['cache-id', 'diff', 'size', 'tar-split.json.gz']);
  assert.equal(fs.readFileSync(path.join(baseDir, 'size'), 'utf8'), '1982305');

  assert.deepEqual(db.list(), { layers: [base.chain, top.chain].sort(), mounts: [], skipped: [] });
  assert.deepEqual(db.readLayer(top.chain), { chainId: top.chain, diffId: d('two'), size: 0, cacheId: top.cacheId, parent: base.chain });
  assert.deepEqual(db.readLayer(base.chain), { chainId: base.chain, diffId: d('one'), size: 1982305, cacheId: base.cacheId });
  assert.equal(db.hasLayer(base.chain), true);
  assert.equal(db.hasLayer(d('nope')), false);
  const entries = [];
  for await (const e of readTarSplit(db.openTarSplit(top.chain))) entries.push(e);
  assert.equal(entries.length, 3);
  assert.equal(entries[1]!.name, 'a');
  assert.equal(db.tarSplitPath(top.chain), path.join(dir, 'tar-split.json.gz'));
});

test('transaction: write-set dir name and mode, setters write in place, cancel removes it', async () => {
  const root = tempDir();
  const db = new MetadataStore(root);
  const tx = db.startTransaction();
  assert.match(path.basename(tx.dir), /^write-set-[0-9]+$/);
  assert.ok(Number(path.basename(tx.dir).slice(10)) < 2 ** 32);
  assert.equal(path.dirname(tx.dir), path.join(root, 'tmp'));
  assert.equal(mode(tx.dir), 0o700);
  tx.setSize(123);
  tx.setSize(2n ** 63n - 1n);
  assert.equal(fs.readFileSync(path.join(tx.dir, 'size'), 'utf8'), '9223372036854775807');
  assert.throws(() => tx.setSize(1.5), errWith('LAYERDB_BAD_VALUE'));
  assert.throws(() => tx.setSize(2n ** 63n), errWith('LAYERDB_BAD_VALUE'));
  assert.throws(() => tx.setCacheId(''), errWith('LAYERDB_BAD_VALUE', /invalid cache id value/));
  assert.throws(() => tx.setCacheId(' x'), errWith('LAYERDB_BAD_VALUE'));
  assert.throws(() => tx.setCacheId('a/b'), errWith('LAYERDB_BAD_VALUE'));
  tx.setCacheId('0123456789abcdefghijklmno'); // BuildKit's 25-char base-36 IDs are fine
  assert.throws(() => tx.setDiffId('sha256:XYZ' as Digest), errWith('INVALID_DIGEST'));
  assert.deepEqual(db.writeSets(), [path.basename(tx.dir)]);
  await tx.cancel();
  assert.equal(fs.existsSync(tx.dir), false);
  await tx.cancel(); // idempotent
  assert.throws(() => tx.setSize(1), errWith('LAYERDB_TX', /cancelled/));
});

test('commit refuses an incomplete write-set and leaves it for cancel', async () => {
  const db = new MetadataStore(tempDir());
  const tx = db.startTransaction();
  tx.setDiffId(d('x'));
  tx.setSize(1);
  assert.throws(() => tx.commit(d('x')), errWith('LAYERDB_TX', /missing cache-id, tar-split.json.gz/));
  tx.setCacheId(randomCacheId());
  const p = tx.tarSplitWriter();
  p.addSegment(Buffer.from('x'));
  assert.throws(() => tx.commit(d('x')), errWith('LAYERDB_TX', /not closed/));
  await p.close();
  tx.commit(d('x'));
  assert.deepEqual(db.list().layers, [d('x')]);
  assert.throws(() => tx.commit(d('x')), errWith('LAYERDB_TX', /committed/));
  await tx.cancel(); // no-op after commit
  assert.equal(db.hasLayer(d('x')), true);

  const tx2 = db.startTransaction();
  const p2 = tx2.tarSplitWriter();
  await p2.abort();
  tx2.setLayer({ diffId: d('y'), size: 1, cacheId: 'c' });
  assert.throws(() => tx2.commit(d('y')), errWith('LAYERDB_TX', /failed/));
  await tx2.cancel();
  assert.deepEqual(db.writeSets(), []);
});

test('commit never overwrites an existing layer (RENAME_NOREPLACE → LAYERDB_EXISTS)', async () => {
  const db = new MetadataStore(tempDir());
  const first = await commitLayer(db, { diffId: d('same'), cacheId: 'first' });
  const tx = db.startTransaction();
  const p = tx.tarSplitWriter();
  await p.close();
  tx.setLayer({ diffId: d('same'), size: 1, cacheId: 'second' });
  assert.throws(() => tx.commit(first.chain), errWith('LAYERDB_EXISTS', /already exists/));
  assert.equal(db.getCacheId(first.chain), 'first');
  assert.equal(fs.existsSync(tx.dir), true);
  await tx.cancel();
  assert.deepEqual(db.writeSets(), []);
});

test('setLayer writes in moby order and a descriptor only with a digest', async () => {
  const db = new MetadataStore(tempDir());
  const tx = db.startTransaction();
  tx.setLayer({ diffId: d('o'), size: 5, cacheId: 'c', descriptor: { mediaType: 'x' } });
  assert.equal(fs.existsSync(path.join(tx.dir, 'descriptor.json')), false);
  const desc = { mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip', size: 10, digest: d('blob'), urls: ['http://a/<b>&'] };
  tx.setLayer({ diffId: d('o'), size: 5, cacheId: 'c', descriptor: desc, parent: d('p') });
  const text = fs.readFileSync(path.join(tx.dir, 'descriptor.json'), 'utf8');
  assert.equal(text, `{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","size":10,"digest":"${d('blob')}","urls":["http://a/\\u003cb\\u003e\\u0026"]}`);
  const order = ['diff', 'size', 'cache-id', 'descriptor.json', 'parent'].map((f) => fs.statSync(path.join(tx.dir, f)).mtimeMs);
  assert.deepEqual([...order].sort((a, b) => a - b), order);
  await tx.tarSplitWriter().close();
  tx.commit(d('o'));
  assert.deepEqual(db.getDescriptor(d('o')), desc);
  assert.deepEqual(db.getDescriptor(d('o')), JSON.parse(text));
  assert.equal(
    marshalDescriptor({ annotations: { b: '1', a: '2' }, platform: { architecture: 'amd64', os: 'linux', variant: 'v8' } }),
    '{"annotations":{"a":"2","b":"1"},"platform":{"architecture":"amd64","os":"linux","variant":"v8"}}',
  );
});

// moby layer/filestore_test.go TestCommitFailure
test('moby TestCommitFailure: sha256 is a regular file → commit fails ENOTDIR', async () => {
  const root = tempDir();
  const db = new MetadataStore(root);
  fs.writeFileSync(path.join(root, 'sha256'), 'was here');
  const tx = db.startTransaction();
  tx.setLayer({ diffId: d('f'), size: 0, cacheId: 'c' });
  await tx.tarSplitWriter().close();
  assert.throws(() => tx.commit(d('f')), (e: unknown) => isStrataError(e, 'ENOTDIR'));
  await tx.cancel();
});

// moby layer/filestore_test.go TestStartTransactionFailure
test('moby TestStartTransactionFailure: tmp is a file → ENOTDIR; works once removed', async () => {
  const root = tempDir();
  const db = new MetadataStore(root);
  fs.writeFileSync(path.join(root, 'tmp'), 'was here');
  assert.throws(() => db.startTransaction(), (e: unknown) => isStrataError(e, 'ENOTDIR'));
  fs.rmSync(path.join(root, 'tmp'));
  const tx = db.startTransaction();
  await tx.tarSplitWriter().close();
  tx.setLayer({ diffId: d('s'), size: 0, cacheId: 'c' });
  tx.commit(d('s'));
  assert.deepEqual(db.list().layers, [d('s')]);
});

// moby layer/filestore_test.go TestGetOrphan
test('moby TestGetOrphan: a committed layer is no orphan; renamed to -removing it is one', async () => {
  const root = tempDir();
  const db = new MetadataStore(root);
  const { chain, cacheId } = await commitLayer(db, { diffId: d('orphan') });
  assert.deepEqual(db.orphans().orphans, []);
  const hex = chain.slice(7);
  const rand = randomCacheId();
  fs.renameSync(path.join(root, 'sha256', hex), path.join(root, 'sha256', `${hex}-${rand}-removing`));
  const { orphans, skipped } = db.orphans();
  assert.equal(orphans.length, 1);
  assert.deepEqual(skipped, []);
  assert.equal(orphans[0]!.chainId, chain);
  assert.equal(orphans[0]!.cacheId, cacheId);
  assert.deepEqual(db.list(), { layers: [], mounts: [], skipped: [{ path: `sha256/${hex}-${rand}-removing`, reason: 'removing' }] });
});

test('orphans: moby skips -removing dirs with bad hex or without a non-empty cache-id; strata lists those without one as finished', () => {
  const root = tempDir();
  const db = new MetadataStore(root);
  const hex = d('a').slice(7);
  const mk = (name: string, cache?: string) => {
    fs.mkdirSync(path.join(root, 'sha256', name), { recursive: true });
    if (cache !== undefined) fs.writeFileSync(path.join(root, 'sha256', name, 'cache-id'), cache);
  };
  mk(`${hex}-1-removing`, 'ok\n');
  mk(`${hex}-2-removing`);
  mk(`${hex}-3-removing`, ' \n');
  mk(`zz${hex.slice(2)}-4-removing`, 'c');
  fs.writeFileSync(path.join(root, 'sha256', `${hex}-5-removing`), 'a file');
  const r = db.orphans();
  assert.deepEqual(r.orphans.map((o) => [o.name, o.cacheId]), [[`${hex}-1-removing`, 'ok']]);
  assert.deepEqual(r.finished, [{ chainId: d('a'), name: `${hex}-2-removing`, dir: path.join(root, 'sha256', `${hex}-2-removing`) }]);
  assert.deepEqual(r.skipped.map((s) => [s.path, s.reason]).sort(), [
    [`sha256/${hex}-3-removing`, 'empty cache-id'],
    [`sha256/zz${hex.slice(2)}-4-removing`, 'invalid digest before the first "-"'],
  ]);
});

// moby HEAD layer/filestore_test.go TestIsValidID
test('moby TestIsValidID', () => {
  const hex = 'a'.repeat(64);
  for (const ok of [hex, `${hex}-init`, '0123456789abcdef'.repeat(4)]) assert.equal(isValidId(ok), true, ok);
  for (const bad of ['', 'a'.repeat(63), 'a'.repeat(65), 'A'.repeat(64), `${hex}-INIT`, `${hex}-init-init`, `${hex}init`, `${hex}\n`, `x${hex}`, 'g'.repeat(64), `${hex}-`, `-init`]) {
    assert.equal(isValidId(bad), false, bad);
  }
});

test('start-remove and finish-remove: unlisted at once, gone after, orphan between', async () => {
  const root = tempDir();
  const db = new MetadataStore(root);
  const a = await commitLayer(db, { diffId: d('r1') });
  const b = await commitLayer(db, { diffId: d('r2') });
  const h = db.startRemove(a.chain);
  assert.match(h.name, new RegExp(`^${a.chain.slice(7)}-[0-9a-f]{64}-removing$`));
  assert.equal(h.chainId, a.chain);
  assert.equal(mode(h.dir), 0o700);
  assert.deepEqual(db.list().layers, [b.chain]);
  assert.equal(db.hasLayer(a.chain), false);
  assert.deepEqual(db.orphans().orphans, [{ ...h, cacheId: a.cacheId }]);
  db.finishRemove(h);
  db.finishRemove(h); // idempotent
  assert.deepEqual(fs.readdirSync(path.join(root, 'sha256')), [b.chain.slice(7)]);
  assert.throws(() => db.startRemove(a.chain), errWith('LAYERDB_NOT_FOUND', /does not exist/));
  // an orphan half-removed (cache-id still there) is found again and finished
  const h2 = db.startRemove(b.chain);
  fs.rmSync(path.join(h2.dir, 'diff'));
  fs.rmSync(path.join(h2.dir, 'tar-split.json.gz'));
  const [o] = db.orphans().orphans;
  assert.equal(o!.cacheId, b.cacheId);
  db.finishRemove(o!);
  assert.deepEqual(fs.readdirSync(path.join(root, 'sha256')), []);
  // died after cache-id went: listed as finished, no driver data left to remove
  const c = await commitLayer(db, { diffId: d('r3') });
  const h3 = db.startRemove(c.chain);
  for (const f of fs.readdirSync(h3.dir)) fs.rmSync(path.join(h3.dir, f));
  assert.deepEqual(db.orphans(), { orphans: [], finished: [h3], skipped: [] });
  db.finishRemove(h3);
  assert.deepEqual(fs.readdirSync(path.join(root, 'sha256')), []);
});

test('size: no trimming, Go ParseInt rules', async () => {
  const root = tempDir();
  const db = new MetadataStore(root);
  const { chain } = await commitLayer(db, { diffId: d('size') });
  const sizeFile = path.join(root, 'sha256', chain.slice(7), 'size');
  const cases: [string, number | null][] = [
    ['123', 123], ['0', 0], ['+7', 7], ['-5', -5], ['007', 7], ['9007199254740991', 9007199254740991],
    ['123\n', null], [' 123', null], ['', null], ['1e3', null], ['0x10', null], ['1_000', null], ['12a', null],
    ['9223372036854775808', null], ['9007199254740993', null],
  ];
  for (const [text, want] of cases) {
    fs.writeFileSync(sizeFile, text);
    if (want === null) {
      assert.throws(() => db.getSize(chain), (e: unknown) => {
        assert.ok(e instanceof LayerDbError);
        assert.equal(e.code, 'LAYERDB_INVALID');
        assert.equal(e.subject, chain);
        assert.equal(e.file, 'size');
        assert.ok(e.message.includes(chain) && e.message.includes('size'), e.message);
        return true;
      }, JSON.stringify(text));
    } else assert.equal(db.getSize(chain), want, JSON.stringify(text));
  }
  assert.equal(goParseInt64('-9223372036854775808'), -(2n ** 63n));
  assert.equal(goParseInt64('9223372036854775808'), 'value out of range');
});

test('cache-id, diff, parent: trimmed as Go TrimSpace; empty cache-id is invalid; errors name layer and file', async () => {
  const root = tempDir();
  const db = new MetadataStore(root);
  const base = await commitLayer(db, { diffId: d('b') });
  const { chain } = await commitLayer(db, { diffId: d('t'), parent: base.chain });
  const f = (n: string) => path.join(root, 'sha256', chain.slice(7), n);
  fs.writeFileSync(f('cache-id'), '\t abc \n');
  assert.equal(db.getCacheId(chain), 'abc');
  fs.writeFileSync(f('cache-id'), ' \n\u0085');
  assert.throws(() => db.getCacheId(chain), errWith('LAYERDB_INVALID', /cache-id: invalid cache id value$/));
  fs.writeFileSync(f('cache-id'), '\ufeffabc'); // U+FEFF is not space to Go
  assert.equal(db.getCacheId(chain), '\ufeffabc');
  fs.writeFileSync(f('diff'), d('t') + '\n');
  assert.equal(db.getDiffId(chain), d('t'));
  fs.writeFileSync(f('diff'), 'sha512:abc');
  assert.throws(() => db.getDiffId(chain), errWith('LAYERDB_INVALID', new RegExp(`layerdb ${chain} diff: invalid digest`)));
  fs.writeFileSync(f('parent'), `  ${base.chain}\n`);
  assert.equal(db.getParent(chain), base.chain);
  fs.writeFileSync(f('parent'), 'nope');
  assert.throws(() => db.getParent(chain), errWith('LAYERDB_INVALID', / parent: /));
  fs.rmSync(f('parent'));
  assert.equal(db.getParent(chain), undefined);
  fs.rmSync(f('diff'));
  assert.throws(() => db.getDiffId(chain), (e: unknown) => e instanceof LayerDbError && e.code === 'LAYERDB_READ' && e.sysCode === 'ENOENT' && e.file === 'diff');
  fs.writeFileSync(f('descriptor.json'), '[1]');
  assert.throws(() => db.getDescriptor(chain), errWith('LAYERDB_INVALID', /descriptor.json/));
  fs.rmSync(f('tar-split.json.gz'));
  assert.throws(() => db.openTarSplit(chain), errWith('LAYERDB_READ', /tar-split.json.gz: cannot read: ENOENT/));
  assert.equal(goTrimSpace('\u3000 x\u2028'), 'x');
});

test('listing skips invalid names in sha256/ and non-directories, and reports them', async () => {
  const root = tempDir();
  const db = new MetadataStore(root);
  const { chain } = await commitLayer(db, { diffId: d('l') });
  const s = path.join(root, 'sha256');
  const hex = d('other').slice(7);
  fs.mkdirSync(path.join(s, hex.toUpperCase()));
  fs.mkdirSync(path.join(s, hex.slice(1)));
  fs.mkdirSync(path.join(s, 'mounts'));
  fs.mkdirSync(path.join(s, `${hex}-abc-removing`));
  fs.writeFileSync(path.join(s, hex), 'file, not a dir');
  fs.mkdirSync(path.join(root, 'sha512', hex), { recursive: true });
  fs.mkdirSync(path.join(root, 'mounts', 'c1'), { recursive: true });
  fs.writeFileSync(path.join(root, 'mounts', 'stray-file'), '');
  fs.mkdirSync(path.join(s, 'x'));
  fs.mkdirSync(Buffer.concat([Buffer.from(s + '/'), Buffer.from([0x61, 0xff])]));
  const r = db.list();
  assert.deepEqual(r.layers, [chain]);
  assert.deepEqual(r.mounts, ['c1']);
  assert.deepEqual(r.skipped.map((x) => `${x.path}: ${x.reason}`).sort(), [
    `mounts/stray-file: not a directory`,
    `sha256/${hex.slice(1)}: not a sha256 hex name`,
    `sha256/${hex.toUpperCase()}: not a sha256 hex name`,
    `sha256/${hex}-abc-removing: removing`,
    `sha256/${hex}: not a directory`,
    `sha256/a\u00ff: not a UTF-8 name`,
    `sha256/mounts: not a sha256 hex name`,
    `sha256/x: not a sha256 hex name`,
  ].sort());
});

test('mounts: saveMount writes Docker bytes and modes in one rename; setters; readers validate', () => {
  const root = tempDir();
  const db = new MetadataStore(root);
  const name = randomCacheId();
  const mid = randomCacheId();
  const parent = d('parent-chain');
  db.saveMount(name, { mountId: mid, initId: `${mid}-init`, parent });
  const dir = path.join(root, 'mounts', name);
  assert.equal(mode(path.join(root, 'mounts')), 0o755);
  assert.equal(mode(dir), 0o755);
  assert.deepEqual(fs.readdirSync(dir).sort(), ['init-id', 'mount-id', 'parent']);
  for (const f of fs.readdirSync(dir)) assert.equal(mode(path.join(dir, f)), 0o644);
  assert.equal(fs.readFileSync(path.join(dir, 'mount-id'), 'utf8'), mid);
  assert.equal(fs.readFileSync(path.join(dir, 'init-id'), 'utf8'), `${mid}-init`);
  assert.equal(fs.readFileSync(path.join(dir, 'parent'), 'utf8'), parent);
  assert.deepEqual(db.readMount(name), { name, mountId: mid, initId: `${mid}-init`, parent });
  assert.deepEqual(db.list().mounts, [name]);
  assert.deepEqual(db.writeSets(), []);

  // replacing the whole set: files the new set lacks are gone
  const mid2 = randomCacheId();
  db.saveMount(name, { mountId: mid2 });
  assert.deepEqual(fs.readdirSync(dir), ['mount-id']);
  assert.deepEqual(db.readMount(name), { name, mountId: mid2 });
  assert.deepEqual(db.writeSets(), []);

  // single setters, on a new mount and on an existing one
  db.setMountId('buildkit0123456789abcdefg', mid);
  db.setInitId('buildkit0123456789abcdefg', `${mid}-init`);
  db.setMountParent('buildkit0123456789abcdefg', parent);
  db.setMountId('buildkit0123456789abcdefg', mid2);
  assert.deepEqual(db.readMount('buildkit0123456789abcdefg'), { name: 'buildkit0123456789abcdefg', mountId: mid2, initId: `${mid}-init`, parent });
  assert.equal(mode(path.join(root, 'mounts', 'buildkit0123456789abcdefg')), 0o755);
  assert.deepEqual(db.writeSets(), []);

  // readers: trimmed, validated
  fs.writeFileSync(path.join(dir, 'mount-id'), `${mid}\n`);
  assert.equal(db.getMountId(name), mid);
  fs.writeFileSync(path.join(dir, 'mount-id'), `${mid}-init`);
  assert.equal(db.getMountId(name), `${mid}-init`);
  fs.writeFileSync(path.join(dir, 'mount-id'), 'abc');
  assert.throws(() => db.getMountId(name), errWith('LAYERDB_INVALID', new RegExp(`mounts/${name} mount-id: invalid mount id value$`)));
  assert.equal(db.getInitId(name), undefined);
  fs.writeFileSync(path.join(dir, 'init-id'), 'x-init');
  assert.throws(() => db.getInitId(name), errWith('LAYERDB_INVALID', /init-id: invalid init id value$/));
  assert.equal(db.getMountParent(name), undefined);
  fs.writeFileSync(path.join(dir, 'parent'), 'sha256:short');
  assert.throws(() => db.getMountParent(name), errWith('LAYERDB_INVALID', / parent: invalid digest/));
  assert.throws(() => db.getMountId('missing'), errWith('LAYERDB_READ', /mounts\/missing mount-id: cannot read: ENOENT/));

  // writers validate
  assert.throws(() => db.setMountId(name, 'abc'), errWith('LAYERDB_BAD_VALUE', /invalid mount id value/));
  assert.throws(() => db.saveMount(name, { mountId: mid, initId: 'bad' }), errWith('LAYERDB_BAD_VALUE', /invalid init id value/));
  for (const bad of ['', '.', '..', 'a/b', '../sha256']) assert.throws(() => db.setMountId(bad, mid), errWith('LAYERDB_BAD_NAME'));
  assert.deepEqual(db.writeSets(), []);

  // remove
  assert.equal(db.removeMount(name), true);
  assert.equal(db.removeMount(name), false);
  assert.deepEqual(db.list().mounts, ['buildkit0123456789abcdefg']);
  assert.deepEqual(db.writeSets(), []);
});

test('sweepWriteSets removes leftover write-sets (and nothing else)', async () => {
  const root = tempDir();
  const db = new MetadataStore(root);
  const a = db.startTransaction();
  a.setDiffId(d('left'));
  const b = db.startTransaction();
  fs.writeFileSync(path.join(root, 'tmp', 'other'), '');
  assert.deepEqual(db.writeSets(), [path.basename(a.dir), path.basename(b.dir)].sort());
  assert.deepEqual(db.sweepWriteSets(), [path.basename(a.dir), path.basename(b.dir)].sort());
  assert.deepEqual(fs.readdirSync(path.join(root, 'tmp')), ['other']);
});

test('a umask of 077 does not change the modes Docker has', async () => {
  const old = process.umask(0o077);
  try {
    const root = path.join(tempDir(), 'layerdb');
    const db = new MetadataStore(root);
    const { chain } = await commitLayer(db, { diffId: d('umask') });
    db.saveMount('m', { mountId: randomCacheId() });
    db.setMountParent('n', chain);
    assert.equal(mode(root), 0o700);
    for (const dd of ['sha256', 'mounts', 'tmp', 'mounts/m', 'mounts/n']) assert.equal(mode(path.join(root, dd)), 0o755, dd);
    const dir = path.join(root, 'sha256', chain.slice(7));
    assert.equal(mode(dir), 0o700);
    for (const f of fs.readdirSync(dir)) assert.equal(mode(path.join(dir, f)), 0o644, f);
    assert.equal(mode(path.join(root, 'mounts/m/mount-id')), 0o644);
    assert.equal(mode(path.join(root, 'mounts/n/parent')), 0o644);
  } finally {
    process.umask(old);
  }
});

test('parseDigest of the ChainID passed to commit is enforced', async () => {
  const db = new MetadataStore(tempDir());
  const tx = db.startTransaction();
  assert.throws(() => tx.commit('sha256:nothex' as Digest), errWith('INVALID_DIGEST'));
  await tx.cancel();
  assert.equal(parseDigest(d('z')), d('z'));
});

test('startMount: staged in tmp/ (nothing in mounts/), commit renames it in whole, never over an existing mount', () => {
  const db = new MetadataStore(tempDir('strata-md-'));
  const mountId = randomCacheId();
  const parent = d('p');
  const tx = db.startMount('c1', { mountId, initId: `${mountId}-init`, parent });
  assert.equal(path.dirname(tx.dir), path.join(db.root, 'tmp'));
  assert.deepEqual(fs.readdirSync(tx.dir).sort(), ['init-id', 'mount-id', 'parent']);
  assert.equal(db.hasMount('c1'), false);
  assert.deepEqual(db.intents(), [{ name: path.basename(tx.dir), dir: tx.dir, driverIds: [mountId, `${mountId}-init`] }]);
  tx.commit();
  tx.cancel(); // a no-op once committed
  assert.equal(db.hasMount('c1'), true);
  assert.deepEqual(db.readMount('c1'), { name: 'c1', mountId, initId: `${mountId}-init`, parent });
  assert.equal(mode(path.join(db.root, 'mounts/c1')), 0o755);
  assert.deepEqual(db.writeSets(), []);

  const again = db.startMount('c1', { mountId: randomCacheId() });
  assert.throws(() => again.commit(), errWith('LAYERDB_EXISTS'));
  assert.equal(db.getMountId('c1'), mountId);
  again.cancel();
  assert.deepEqual(db.writeSets(), []);
  assert.throws(() => db.startMount('a/b', { mountId }), errWith('LAYERDB_BAD_NAME'));
  assert.throws(() => db.startMount('c2', { mountId: 'short' }), errWith('LAYERDB_BAD_VALUE'));
  assert.deepEqual(db.writeSets(), []);
});

test('unlistMount / relistMount: the mount leaves mounts/ in one rename and can be put back; removeWriteSet finishes it', () => {
  const db = new MetadataStore(tempDir('strata-md-'));
  const mountId = randomCacheId();
  db.saveMount('c1', { mountId });
  const ws = db.unlistMount('c1')!;
  assert.match(ws, /^write-set-\d+$/);
  assert.equal(db.hasMount('c1'), false);
  assert.deepEqual(db.list().mounts, []);
  assert.deepEqual(db.intents().map((i) => i.driverIds), [[mountId]]);
  db.relistMount('c1', ws);
  assert.equal(db.getMountId('c1'), mountId);
  assert.deepEqual(db.writeSets(), []);

  const ws2 = db.unlistMount('c1')!;
  db.removeWriteSet(ws2);
  assert.deepEqual(db.writeSets(), []);
  assert.equal(db.unlistMount('c1'), undefined);
  assert.throws(() => db.removeWriteSet('../sha256'), errWith('LAYERDB_BAD_NAME'));
});

test('intents and referencedDriverIds: write-sets name their driver IDs; every layer and mount on disk counts, loadable or not', async () => {
  const db = new MetadataStore(tempDir('strata-md-'));
  const { cacheId } = await commitLayer(db, { diffId: d('a') });
  const broken = await commitLayer(db, { diffId: d('b') });
  fs.writeFileSync(path.join(db.root, 'sha256', broken.chain.slice(7), 'size'), '12\n'); // does not load
  const mountId = randomCacheId();
  db.saveMount('c1', { mountId, initId: `${mountId}-init` });

  const tx = db.startTransaction();
  const pending = randomCacheId();
  tx.setCacheId(pending);
  tx.sync();
  const empty = db.startTransaction();
  assert.deepEqual(
    db.intents().map((i) => [i.name, i.driverIds]).sort(),
    [[path.basename(tx.dir), [pending]], [path.basename(empty.dir), []]].sort(),
  );
  assert.deepEqual([...db.referencedDriverIds()].sort(), [cacheId, broken.cacheId, mountId, `${mountId}-init`].sort());
  await tx.cancel();
  await empty.cancel();
});

test('a value set again unchanged is not rewritten: the early cache-id (the record of the driver layer) is never truncated', async () => {
  const db = new MetadataStore(tempDir('strata-md-'));
  const tx = db.startTransaction();
  const cacheId = randomCacheId();
  tx.setCacheId(cacheId);
  tx.sync();
  const file = path.join(tx.dir, 'cache-id');
  const ino = fs.statSync(file).ino;
  fs.chmodSync(file, 0o400); // a rewrite (O_TRUNC) would still succeed as root; the content shows whether it ran
  fs.writeFileSync(file, cacheId); // same bytes, new mtime
  const mtime = fs.statSync(file).mtimeMs;
  await new Promise((r) => setTimeout(r, 20));
  tx.setLayer({ diffId: d('x'), size: 1, cacheId });
  assert.equal(fs.statSync(file).mtimeMs, mtime, 'cache-id was rewritten');
  assert.equal(fs.statSync(file).ino, ino);
  await tx.cancel();
});
