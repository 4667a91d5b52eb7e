/**
 * The imagedb (moby image/fs.go): content by hash, verification, atomic writes, metadata rules,
 * Go's time text — and dockerd 20.10's own imagedb read back (every ID verified, parents and
 * lastUpdated as dockerd wrote and reported them), rewritten by strata byte for byte, and
 * opened by dockerd after strata wrote it.
 */
import { test, mock } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import { tempDir } from '../helpers/tmp.js';
import { dockerFixture, copyFixtureDataRoot } from '../oracle/fixtures.js';
import { startDockerd } from '../oracle/dockerd.js';
import { type Digest, isDigest, sha256Of } from '../../src/digest/index.js';
import { isStrataError } from '../../src/errors/index.js';
import {
  ImageDb,
  ImageDbError,
  imageDbPath,
  atomicWriteFile,
  parseGoTime,
  formatGoTime,
  normalizeGoTime,
  goTimeAt,
  goTimeNowLocal,
  goTimeNowUTC,
  goUnixEpochLocal,
  GO_ZERO_TIME,
} from '../../src/image/imagedb/index.js';
import { parseImageConfig, marshalImageConfig, newImageConfig, imageId } from '../../src/image/config.js';

const mode = (p: string) => fs.statSync(p).mode & 0o7777;
const hexOf = (d: string) => d.slice(7);

function freshDb(): { db: ImageDb; root: string } {
  const root = path.join(tempDir(), 'image', 'overlay2', 'imagedb');
  return { db: ImageDb.open(root), root };
}

/** Asserts `f` throws an ImageDbError with `code` (and message, if given); returns it. */
function throwsDb(f: () => unknown, code: string, message?: string | RegExp): ImageDbError {
  let err: unknown;
  try {
    f();
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof ImageDbError, `expected ImageDbError ${code}, got ${String(err)}`);
  assert.equal(err.code, code, err.message);
  if (typeof message === 'string') assert.equal(err.message, message);
  else if (message) assert.match(err.message, message);
  return err;
}

/** Every name below `dir`, relative, sorted (dirs with a trailing slash). */
function tree(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string, rel: string) => {
    for (const n of fs.readdirSync(d).sort()) {
      const p = path.join(d, n);
      const r = rel ? `${rel}/${n}` : n;
      if (fs.lstatSync(p).isDirectory()) {
        out.push(r + '/');
        walk(p, r);
      } else out.push(r);
    }
  };
  walk(dir, '');
  return out;
}

// ---------------------------------------------------------------------------------------------
// Opening

test('open creates content/sha256 and metadata/sha256 (and missing parents) with mode 0700, whatever the umask', () => {
  const base = tempDir();
  const root = path.join(base, 'image', 'overlay2', 'imagedb');
  const old = process.umask(0o077 ^ 0o777); // a umask that would strip the owner's bits
  try {
    ImageDb.open(root);
  } finally {
    process.umask(old);
  }
  for (const d of ['image', 'image/overlay2', 'image/overlay2/imagedb', 'image/overlay2/imagedb/content', 'image/overlay2/imagedb/content/sha256', 'image/overlay2/imagedb/metadata', 'image/overlay2/imagedb/metadata/sha256']) {
    assert.equal(mode(path.join(base, d)), 0o700, d);
  }
  assert.deepEqual(tree(root), ['content/', 'content/sha256/', 'metadata/', 'metadata/sha256/']);
  assert.equal(imageDbPath('/var/lib/docker', 'overlay2'), '/var/lib/docker/image/overlay2/imagedb');

  // An existing store is left alone (modes included), as os.MkdirAll does.
  fs.chmodSync(path.join(root, 'content'), 0o755);
  ImageDb.open(root);
  assert.equal(mode(path.join(root, 'content')), 0o755);
});

test('open fails with "failed to create storage backend" when a store directory is a file (moby TestFSInvalidRoot)', () => {
  for (const invalid of ['', 'content', 'metadata']) {
    const root = path.join(tempDir(), 'root');
    const file = path.join(root, invalid);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, '');
    throwsDb(() => ImageDb.open(root), 'IMAGEDB_INIT', `failed to create storage backend: mkdir ${file.replace(/\/$/, '')}: not a directory`);
  }
});

// ---------------------------------------------------------------------------------------------
// Content

test('set/get: the ID is sha256 of the exact bytes; the file holds them, mode 0600, no temp file left', () => {
  const { db, root } = freshDb();
  const bytes = Buffer.from('{"rootfs":{"type":"layers"},"comment":"a\\u0026b"}');
  const old = process.umask(0o000); // 0600 is set explicitly, not left to the umask
  let id: Digest;
  try {
    id = db.set(bytes);
  } finally {
    process.umask(old);
  }
  assert.equal(id, 'sha256:' + crypto.createHash('sha256').update(bytes).digest('hex'));
  const file = path.join(root, 'content/sha256', hexOf(id));
  assert.equal(db.contentPath(id), file);
  assert.deepEqual(fs.readFileSync(file), bytes);
  assert.equal(mode(file), 0o600);
  assert.deepEqual(db.get(id), bytes);
  assert.equal(db.has(id), true);
  assert.deepEqual(tree(root), ['content/', 'content/sha256/', `content/sha256/${hexOf(id)}`, 'metadata/', 'metadata/sha256/']);

  // Storing the same bytes again gives the same ID and the same single file.
  assert.equal(db.set(bytes.toString('utf8')), id);
  assert.deepEqual(fs.readdirSync(path.join(root, 'content/sha256')), [hexOf(id)]);
});

test('set of no bytes fails with "invalid empty data" and writes nothing', () => {
  const { db, root } = freshDb();
  throwsDb(() => db.set(Buffer.alloc(0)), 'IMAGEDB_EMPTY_DATA', 'invalid empty data');
  throwsDb(() => db.set(''), 'IMAGEDB_EMPTY_DATA', 'invalid empty data');
  assert.deepEqual(tree(root), ['content/', 'content/sha256/', 'metadata/', 'metadata/sha256/']);
});

test('get re-hashes: a tampered content file fails with "failed to verify: <id>" (moby TestFSGetInvalidData)', () => {
  const { db } = freshDb();
  const id = db.set('foobar');
  fs.writeFileSync(db.contentPath(id), 'foobar2');
  throwsDb(() => db.get(id), 'IMAGEDB_VERIFY', `failed to verify: ${id}`);
  // Metadata of an image that does not verify can be neither read nor written.
  throwsDb(() => db.getMetadata(id, 'parent'), 'IMAGEDB_VERIFY', `failed to verify: ${id}`);
  throwsDb(() => db.setMetadata(id, 'tkey', 'x'), 'IMAGEDB_VERIFY');
  assert.equal(fs.existsSync(db.metadataDir(id)), false);
  // Same length, one byte flipped: still caught.
  fs.writeFileSync(db.contentPath(id), 'foobaR');
  throwsDb(() => db.get(id), 'IMAGEDB_VERIFY');
});

test('get of an absent image: IMAGEDB_NOT_FOUND with dockerd\'s text; a malformed ID: IMAGEDB_BAD_ID', () => {
  const { db } = freshDb();
  const id = sha256Of('nothing here');
  const e = throwsDb(() => db.get(id), 'IMAGEDB_NOT_FOUND', `failed to get digest ${id}: open ${db.contentPath(id)}: no such file or directory`);
  assert.equal(e.sysCode, 'ENOENT');
  assert.equal(e.id, id);
  assert.equal(db.has(id), false);
  for (const bad of ['sha256:' + 'A'.repeat(64), 'sha256:../../etc/passwd', hexOf(id), 'sha512:' + 'a'.repeat(64)]) {
    throwsDb(() => db.get(bad as Digest), 'IMAGEDB_BAD_ID');
  }
  // A directory where the content file should be is a read error, not "not found".
  fs.mkdirSync(db.contentPath(id));
  assert.equal(throwsDb(() => db.get(id), 'IMAGEDB_READ', `failed to get digest ${id}: read ${db.contentPath(id)}: is a directory`).sysCode, 'EISDIR');
});

test('set fails with "failed to write digest data" when the target is a directory, and leaves no temp file (moby TestFSInvalidSet)', () => {
  const { db, root } = freshDb();
  const id = sha256Of('foobar');
  fs.mkdirSync(db.contentPath(id), 0o700);
  throwsDb(() => db.set('foobar'), 'IMAGEDB_WRITE', new RegExp(`^failed to write digest data: rename ${db.contentPath(id).replace(/[0-9a-f]{64}$/, '')}\\.tmp-${hexOf(id)}\\d+ ${db.contentPath(id)}: is a directory$`));
  assert.deepEqual(fs.readdirSync(path.join(root, 'content/sha256')), [hexOf(id)]);
  assert.ok(fs.statSync(db.contentPath(id)).isDirectory(), 'the directory in the way is still there');
});

test('atomicWriteFile: temp ".tmp-<name><digits>" in the same dir; write, fsync, chmod, rename, fsync dir; nothing left on success', () => {
  const dir = tempDir();
  const file = path.join(dir, 'repositories.json');
  fs.writeFileSync(file, 'old');
  // Record the order of the steps that matter for atomicity (the real calls still happen).
  const events: string[] = [];
  const { fsyncSync, chmodSync, renameSync, openSync } = fs;
  const mocks = [
    mock.method(fs, 'openSync', (p: fs.PathLike, flags: number, m?: number) => {
      events.push(`open ${path.basename(String(p))} excl=${(flags & fs.constants.O_EXCL) !== 0} mode=${m?.toString(8)}`);
      return openSync(p, flags, m);
    }),
    mock.method(fs, 'fsyncSync', (fd: number) => {
      events.push(`fsync ${fs.fstatSync(fd).isDirectory() ? 'dir' : 'file'} size=${fs.fstatSync(fd).size}`);
      return fsyncSync(fd);
    }),
    mock.method(fs, 'chmodSync', (p: fs.PathLike, m: number) => {
      events.push(`chmod ${path.basename(String(p))} ${m.toString(8)}`);
      return chmodSync(p, m);
    }),
    mock.method(fs, 'renameSync', (a: fs.PathLike, b: fs.PathLike) => {
      events.push(`rename ${path.basename(String(a))} -> ${path.basename(String(b))}; target before: ${fs.readFileSync(b, 'utf8')}`);
      return renameSync(a, b);
    }),
  ];
  let tmp: string;
  try {
    tmp = atomicWriteFile(file, '{"Repositories":{}}', 0o600);
  } finally {
    for (const m of mocks) m.mock.restore();
  }
  const t = path.basename(tmp);
  assert.match(t, /^\.tmp-repositories\.json\d+$/);
  assert.ok(Number(t.slice('.tmp-repositories.json'.length)) < 2 ** 32, 'a uint32 in decimal, as os.CreateTemp');
  assert.equal(path.dirname(tmp), dir);
  assert.deepEqual(events, [
    `open ${t} excl=true mode=600`,
    'fsync file size=19',
    `chmod ${t} 600`,
    `rename ${t} -> repositories.json; target before: old`,
    `open ${path.basename(dir)} excl=false mode=undefined`, // the directory, for its fsync
    `fsync dir size=${fs.statSync(dir).size}`,
  ]);
  assert.equal(fs.existsSync(tmp), false);
  assert.equal(fs.readFileSync(file, 'utf8'), '{"Repositories":{}}');
  assert.equal(mode(file), 0o600);
  assert.deepEqual(fs.readdirSync(dir), ['repositories.json']);
});

test('atomicWriteFile: a failure before the rename (write, fsync, chmod) removes the temp file and leaves the target as it was', () => {
  for (const [method, errno] of [
    ['writeSync', 'ENOSPC'],
    ['fsyncSync', 'EIO'],
    ['chmodSync', 'EPERM'],
    ['renameSync', 'EXDEV'],
  ] as const) {
    const dir = tempDir();
    const file = path.join(dir, 'parent');
    fs.writeFileSync(file, 'sha256:old');
    fs.chmodSync(file, 0o600);
    const m = mock.method(fs, method, () => {
      throw Object.assign(new Error(`${errno}: injected, ${method}`), { code: errno, errno: -5, syscall: method.replace(/Sync$/, '') });
    });
    try {
      assert.throws(() => atomicWriteFile(file, 'sha256:new', 0o600), (e: unknown) => (e as { code?: string }).code === errno);
    } finally {
      m.mock.restore();
    }
    assert.deepEqual(fs.readdirSync(dir), ['parent'], `${method}: no temp file left`);
    assert.equal(fs.readFileSync(file, 'utf8'), 'sha256:old', `${method}: target untouched`);
  }
  // A missing directory fails at the create: nothing at all is made.
  const gone = path.join(tempDir(), 'missing');
  assert.throws(() => atomicWriteFile(path.join(gone, 'f'), 'x', 0o600), (e: unknown) => (e as { code?: string }).code === 'ENOENT');
  assert.equal(fs.existsSync(gone), false);
});

test('a failed Set through the store leaves nothing: an I/O error at fsync is IMAGEDB_WRITE and the dir stays empty', () => {
  const { db, root } = freshDb();
  const m = mock.method(fs, 'fsyncSync', () => {
    throw Object.assign(new Error('EIO: i/o error, fsync'), { code: 'EIO', errno: -5, syscall: 'fsync' });
  });
  try {
    const e = throwsDb(() => db.set('{"rootfs":{}}'), 'IMAGEDB_WRITE', new RegExp(`^failed to write digest data: sync ${path.join(root, 'content/sha256')}/\\.tmp-[0-9a-f]{64}\\d+: input/output error$`));
    assert.equal(e.sysCode, 'EIO');
  } finally {
    m.mock.restore();
  }
  assert.deepEqual(fs.readdirSync(path.join(root, 'content/sha256')), []);
  assert.deepEqual(db.walk(), []);
});

test('walk lists valid 64-hex names only, sorted: temp files of interrupted writes and strays are skipped', () => {
  const { db, root } = freshDb();
  const a = db.set('{"a":1}');
  const b = db.set('{"b":2}');
  const dir = path.join(root, 'content/sha256');
  for (const stray of [`.tmp-${hexOf(a)}1234567`, hexOf(a).toUpperCase(), hexOf(a).slice(1), hexOf(a) + '0', 'notahash', `${hexOf(b)}.tmp`]) {
    fs.writeFileSync(path.join(dir, stray), 'x');
  }
  assert.deepEqual(db.walk(), [a, b].sort());
  assert.ok(db.walk().every((d) => isDigest(d)), 'walk yields canonical digests');
  // A valid name whose content is wrong is listed (get reports it), as Walk does.
  const c = sha256Of('c');
  fs.writeFileSync(path.join(dir, hexOf(c)), 'not c');
  assert.deepEqual(db.walk(), [a, b, c].sort());
  throwsDb(() => db.get(c), 'IMAGEDB_VERIFY');
});

test('delete removes the metadata dir, then the content file; a second delete is IMAGEDB_NOT_FOUND', () => {
  const { db, root } = freshDb();
  const id = db.set('{"x":1}');
  const other = db.set('{"y":2}');
  db.setMetadata(id, 'parent', other);
  db.setMetadata(id, 'lastUpdated', '2026-11-23T10:22:17.129039642Z');
  db.setMetadata(other, 'lastUpdated', '2026-11-23T10:22:17Z');
  db.delete(id);
  assert.equal(fs.existsSync(db.contentPath(id)), false);
  assert.equal(fs.existsSync(db.metadataDir(id)), false);
  assert.deepEqual(db.walk(), [other]);
  assert.deepEqual(db.metadataKeys(other), ['lastUpdated']);
  throwsDb(() => db.get(id), 'IMAGEDB_NOT_FOUND');
  throwsDb(() => db.delete(id), 'IMAGEDB_NOT_FOUND', `remove ${db.contentPath(id)}: no such file or directory`);
  // An image without metadata deletes fine.
  db.delete(other);
  assert.deepEqual(tree(root), ['content/', 'content/sha256/', 'metadata/', 'metadata/sha256/']);
});

// ---------------------------------------------------------------------------------------------
// Metadata

test('metadata: set/get per image and key (moby TestFSMetadataGetSet); dir 0700, files 0600, atomic', () => {
  const { db } = freshDb();
  const id = db.set('foo');
  const id2 = db.set('bar');
  const cases: [Digest, string, string][] = [
    [id, 'tkey', 'tval1'],
    [id, 'tkey2', 'tval2'],
    [id2, 'tkey', 'tval3'],
  ];
  const old = process.umask(0o000);
  try {
    for (const [i, k, v] of cases) db.setMetadata(i, k, v);
  } finally {
    process.umask(old);
  }
  for (const [i, k, v] of cases) {
    assert.equal(db.getMetadata(i, k).toString(), v);
    assert.equal(mode(path.join(db.metadataDir(i), k)), 0o600);
  }
  assert.equal(mode(db.metadataDir(id)), 0o700);
  assert.deepEqual(db.metadataKeys(id), ['tkey', 'tkey2']);
  assert.deepEqual(fs.readdirSync(db.metadataDir(id)).sort(), ['tkey', 'tkey2'], 'no temp files');
  // Overwrite replaces the whole value.
  db.setMetadata(id, 'tkey', Buffer.from('x'));
  assert.equal(db.getMetadata(id, 'tkey').toString(), 'x');

  throwsDb(() => db.getMetadata(id, 'missing'), 'IMAGEDB_NO_METADATA', `failed to read metadata: open ${path.join(db.metadataDir(id), 'missing')}: no such file or directory`);
  db.deleteMetadata(id, 'tkey');
  throwsDb(() => db.getMetadata(id, 'tkey'), 'IMAGEDB_NO_METADATA');
  db.deleteMetadata(id, 'tkey'); // nothing to remove is fine
  db.deleteMetadata(sha256Of('never stored'), 'tkey'); // the content is not checked
  assert.equal(db.getMetadata(id, 'tkey2').toString(), 'tval2');
});

test('setMetadata fails on an image that is not there and creates nothing; keys must be plain names', () => {
  const { db, root } = freshDb();
  const ghost = sha256Of('ghost');
  throwsDb(() => db.setMetadata(ghost, 'parent', 'x'), 'IMAGEDB_NOT_FOUND', /^failed to get digest sha256:[0-9a-f]{64}: open .*: no such file or directory$/);
  throwsDb(() => db.getMetadata(ghost, 'parent'), 'IMAGEDB_NOT_FOUND');
  throwsDb(() => db.setParent(ghost, sha256Of('p')), 'IMAGEDB_NOT_FOUND');
  assert.deepEqual(tree(path.join(root, 'metadata')), ['sha256/']);
  const id = db.set('{}');
  for (const key of ['', '.', '..', '../../content/sha256/x', 'a/b', 'a\0b', '.tmp-parent1']) {
    throwsDb(() => db.setMetadata(id, key, 'x'), 'IMAGEDB_BAD_KEY');
    throwsDb(() => db.getMetadata(id, key), 'IMAGEDB_BAD_KEY');
    throwsDb(() => db.deleteMetadata(id, key), 'IMAGEDB_BAD_KEY');
  }
  assert.equal(fs.existsSync(db.metadataDir(id)), false);
});

test('parent: "sha256:<hex>" with no newline (71 bytes); absent is undefined; garbage is IMAGEDB_BAD_VALUE', () => {
  const { db } = freshDb();
  const base = db.set('{"base":1}');
  const child = db.set('{"child":1}');
  assert.equal(db.getParent(child), undefined);
  db.setParent(child, base);
  const file = path.join(db.metadataDir(child), 'parent');
  assert.equal(fs.readFileSync(file, 'latin1'), base);
  assert.equal(fs.statSync(file).size, 71);
  assert.equal(db.getParent(child), base);
  assert.equal(db.getParent(base), undefined);
  throwsDb(() => db.setParent(child, 'sha256:nope' as Digest), 'IMAGEDB_BAD_ID');
  fs.writeFileSync(file, base + '\n');
  throwsDb(() => db.getParent(child), 'IMAGEDB_BAD_VALUE');
  db.deleteParent(child);
  assert.equal(db.getParent(child), undefined);
  assert.equal(fs.existsSync(file), false);
});

test('lastUpdated: time.Now().Format(RFC3339Nano) in local time; given times rewritten as Go formats them', () => {
  const { db } = freshDb();
  const id = db.set('{"rootfs":{}}');
  assert.equal(db.getLastUpdated(id), undefined);

  const before = Date.now();
  const written = db.setLastUpdated(id);
  const after = Date.now();
  assert.equal(fs.readFileSync(path.join(db.metadataDir(id), 'lastUpdated'), 'utf8'), written);
  assert.match(written, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{0,8}[1-9])?(Z|[+-]\d{2}:\d{2})$/);
  const t = Date.parse(written);
  assert.ok(t >= before - 1 && t <= after + 1, `${written} is now`);
  assert.equal(db.getLastUpdated(id), written);

  assert.equal(db.setLastUpdated(id, '2026-11-23T08:16:36.703432830Z'), '2026-11-23T08:16:36.70343283Z');
  assert.equal(db.getLastUpdated(id), '2026-11-23T08:16:36.70343283Z');
  assert.equal(db.setLastUpdated(id, '2026-11-23T09:16:36.000+00:00'), '2026-11-23T09:16:36Z');
  throwsDb(() => db.setLastUpdated(id, 'yesterday'), 'IMAGEDB_BAD_VALUE');

  // Empty reads as "none" (dockerd: the zero time); text Go cannot parse is an error.
  db.setMetadata(id, 'lastUpdated', '');
  assert.equal(db.getLastUpdated(id), undefined);
  db.setMetadata(id, 'lastUpdated', '2026-11-23 08:16:36');
  throwsDb(() => db.getLastUpdated(id), 'IMAGEDB_BAD_VALUE');
});

// ---------------------------------------------------------------------------------------------
// Go's time text

test('Go RFC3339Nano: fraction trimmed, Z for a zero offset, ±hh:mm otherwise; Go 1.19 parse rules', () => {
  const cases: [string, string][] = [
    ['2026-11-23T08:16:36.703432830Z', '2026-11-23T08:16:36.70343283Z'],
    ['2026-11-23T08:16:36.000000000Z', '2026-11-23T08:16:36Z'],
    ['2026-11-23T08:16:36.5Z', '2026-11-23T08:16:36.5Z'],
    ['2026-11-23T08:16:36Z', '2026-11-23T08:16:36Z'],
    ['2026-11-23T08:16:36+00:00', '2026-11-23T08:16:36Z'],
    ['2026-11-23T08:16:36-00:00', '2026-11-23T08:16:36Z'],
    ['2026-11-23T09:16:36.100+01:00', '2026-11-23T09:16:36.1+01:00'],
    ['2026-11-23T02:46:36-05:30', '2026-11-23T02:46:36-05:30'],
    ['2026-11-23T08:16:36,25Z', '2026-11-23T08:16:36.25Z'], // Go ≥1.17 takes a comma
    ['2026-11-23T08:16:36.1234567891234Z', '2026-11-23T08:16:36.123456789Z'], // JSON: truncated
    ['2024-02-29T00:00:00Z', '2024-02-29T00:00:00Z'],
    ['0001-01-01T00:00:00Z', GO_ZERO_TIME],
  ];
  for (const [input, want] of cases) assert.equal(normalizeGoTime(input), want, input);
  for (const bad of ['2026-13-01T00:00:00Z', '2026-02-29T00:00:00Z', '2026-04-31T00:00:00Z', '2026-11-23T24:00:00Z', '2026-11-23T08:60:00Z', '2026-11-23T08:16:60Z', '2026-11-23t08:16:36Z', '2026-11-23T08:16:36z', '2026-11-23T08:16:36', '2026-11-23 08:16:36Z', '26-11-23T08:16:36Z', '2026-11-23T08:16:36.Z', '']) {
    assert.equal(typeof parseGoTime(bad, 'json'), 'string', bad);
    assert.throws(() => normalizeGoTime(bad), (e: unknown) => isStrataError(e, 'GO_TIME_INVALID'), bad);
  }
  // RFC3339Nano (how lastUpdated is read) takes nine fractional digits, not ten.
  assert.equal(typeof parseGoTime('2026-11-23T08:16:36.123456789Z', 'nano'), 'object');
  assert.equal(typeof parseGoTime('2026-11-23T08:16:36.1234567891Z', 'nano'), 'string');

  assert.equal(formatGoTime(goTimeAt(1_700_000_000_123_456_789n, 0)), '2023-11-14T22:13:20.123456789Z');
  assert.equal(formatGoTime(goTimeAt(1_700_000_000_000_000_000n, 60)), '2023-11-14T23:13:20+01:00');
  assert.equal(formatGoTime(goTimeAt(-1n, 0)), '1969-12-31T23:59:59.999999999Z');
  assert.match(goTimeNowUTC(), /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d*[1-9])?Z$/);
});

test('local time follows TZ, as Go\'s time.Local: lastUpdated and time.Unix(0, 0) in Berlin, Kolkata, New York', () => {
  const saved = process.env.TZ;
  try {
    process.env.TZ = 'Europe/Berlin';
    assert.equal(goUnixEpochLocal(), '1970-01-01T01:00:00+01:00');
    assert.equal(formatGoTime(goTimeAt(1_782_000_000_000_000_000n)), '2026-06-21T02:00:00+02:00'); // summer time
    assert.match(goTimeNowLocal(), /\+0[12]:00$/);
    process.env.TZ = 'Asia/Kolkata';
    assert.equal(goUnixEpochLocal(), '1970-01-01T05:30:00+05:30');
    process.env.TZ = 'America/New_York';
    assert.equal(goUnixEpochLocal(), '1969-12-31T19:00:00-05:00');
    process.env.TZ = 'UTC';
    assert.equal(goUnixEpochLocal(), '1970-01-01T00:00:00Z');
    assert.match(goTimeNowLocal(), /Z$/);
  } finally {
    if (saved === undefined) delete process.env.TZ;
    else process.env.TZ = saved;
  }
});

// ---------------------------------------------------------------------------------------------
// dockerd 20.10's imagedb

const FIXTURE_IMAGEDB = 'image/overlay2/imagedb';

test('strata reads dockerd\'s imagedb: every image ID verified, parents and lastUpdated as dockerd wrote and reported them', async () => {
  const fx = await dockerFixture();
  const copy = await copyFixtureDataRoot(fx, path.join(tempDir(), 'data-root'));
  const db = ImageDb.open(imageDbPath(copy, 'overlay2'));
  const original = path.join(fx.dataRoot, FIXTURE_IMAGEDB);

  // Every content file dockerd wrote, by an independent listing: 2 tagged images and the
  // legacy builder's 8 intermediate images.
  const names = fs.readdirSync(path.join(original, 'content/sha256')).sort();
  assert.equal(names.length, 10);
  const ids = db.walk();
  assert.deepEqual(ids, names.map((n) => `sha256:${n}`));
  assert.ok(ids.includes(fx.images.base.id as Digest) && ids.includes(fx.images.built.id as Digest), 'both tagged images are listed');
  for (const id of ids) {
    const bytes = db.get(id);
    assert.deepEqual(bytes, fs.readFileSync(path.join(original, 'content/sha256', hexOf(id))));
    assert.equal(imageId(bytes), id);
    assert.equal(bytes[bytes.length - 1], 0x7d, 'no trailing newline');
    parseImageConfig(bytes); // every one is a valid config
  }

  // Parents: the built image's chain of legacy-builder images leads to the base, one step per
  // Dockerfile instruction, and each parent's history is a prefix of its child's.
  const inspect = (p: string) => (JSON.parse(fs.readFileSync(p, 'utf8')) as { Parent: string; Metadata: { LastTagTime: string } }[])[0]!;
  const builtInspect = inspect(fx.images.built.inspectPath);
  const baseInspect = inspect(fx.images.base.inspectPath);
  assert.equal(db.getParent(fx.images.built.id as Digest), builtInspect.Parent);
  assert.equal(db.getParent(fx.images.base.id as Digest), undefined);
  assert.equal(baseInspect.Parent, '');
  const chain: Digest[] = [fx.images.built.id as Digest];
  for (let p = db.getParent(chain[0]!); p !== undefined; p = db.getParent(p)) chain.push(p);
  assert.equal(chain[chain.length - 1], fx.images.base.id);
  assert.equal(chain.length, fx.images.built.history.length, 'one image per history entry');
  assert.deepEqual([...chain].sort(), ids, 'every image in the store is on the chain');
  for (let i = 0; i + 1 < chain.length; i++) {
    const child = parseImageConfig(db.get(chain[i]!));
    const parent = parseImageConfig(db.get(chain[i + 1]!));
    assert.deepEqual(child.history.slice(0, parent.history.length), parent.history);
    assert.equal(child.history.length, parent.history.length + 1);
    assert.equal(child.config?.Image, chain[i + 1], 'the builder records the parent in config.Image too');
    const raw = fs.readFileSync(path.join(original, 'metadata/sha256', hexOf(chain[i]!), 'parent'), 'latin1');
    assert.equal(db.getParent(chain[i]!), raw);
  }

  // lastUpdated: only the two tagged images have one; it is what `docker image inspect`
  // reported as Metadata.LastTagTime.
  for (const id of ids) {
    const tagged = id === fx.images.base.id || id === fx.images.built.id;
    assert.equal(db.getLastUpdated(id) !== undefined, tagged, id);
  }
  assert.equal(db.getLastUpdated(fx.images.built.id as Digest), builtInspect.Metadata.LastTagTime);
  assert.equal(db.getLastUpdated(fx.images.base.id as Digest), baseInspect.Metadata.LastTagTime);
  assert.ok(Date.parse(baseInspect.Metadata.LastTagTime) <= Date.parse(builtInspect.Metadata.LastTagTime), 'the base was tagged first');
  assert.deepEqual(db.metadataKeys(fx.images.built.id as Digest), ['lastUpdated', 'parent']);

  // Reading changed nothing.
  assert.deepEqual(tree(path.join(copy, FIXTURE_IMAGEDB)), tree(original));
});

test('what strata writes is what dockerd wrote: content and metadata files rebuilt byte for byte, same modes', async () => {
  const fx = await dockerFixture();
  const copy = await copyFixtureDataRoot(fx, path.join(tempDir(), 'data-root'));
  const root = imageDbPath(copy, 'overlay2');
  const original = path.join(fx.dataRoot, FIXTURE_IMAGEDB);
  const db = ImageDb.open(root);
  const snapshot = (dir: string) =>
    tree(dir).map((rel) => {
      const p = path.join(dir, rel);
      return [rel, mode(p), rel.endsWith('/') ? '' : fs.readFileSync(p).toString('latin1')];
    });

  // Remember everything, delete every image with strata, and write it all back.
  const saved = db.walk().map((id) => ({
    id,
    bytes: db.get(id),
    parent: db.getParent(id),
    lastUpdated: db.getLastUpdated(id),
  }));
  for (const s of saved) db.delete(s.id);
  assert.deepEqual(tree(root), ['content/', 'content/sha256/', 'metadata/', 'metadata/sha256/']);
  for (const s of saved) assert.equal(db.set(s.bytes), s.id);
  for (const s of saved) {
    if (s.parent) db.setParent(s.id, s.parent);
    if (s.lastUpdated) db.setLastUpdated(s.id, s.lastUpdated);
  }
  assert.deepEqual(snapshot(root), snapshot(original));

  // The same with configs strata marshalled from the parsed model: same bytes, same IDs.
  for (const s of saved) db.delete(s.id);
  for (const s of saved) assert.equal(db.set(marshalImageConfig(parseImageConfig(s.bytes))), s.id);
  for (const s of saved) {
    if (s.parent) db.setParent(s.id, s.parent);
    if (s.lastUpdated) db.setLastUpdated(s.id, s.lastUpdated);
  }
  assert.deepEqual(snapshot(root), snapshot(original));
});

test('dockerd opens an imagedb strata wrote: a new image config, its parent and lastUpdated', async () => {
  const fx = await dockerFixture();
  const copy = await copyFixtureDataRoot(fx, path.join(tempDir(), 'data-root'));
  const db = ImageDb.open(imageDbPath(copy, 'overlay2'));
  const base = parseImageConfig(db.get(fx.images.base.id as Digest));

  // A child of the base with no new layer (as a metadata-only commit would make it).
  const created = goTimeNowUTC();
  const child = newImageConfig({
    architecture: base.architecture,
    os: base.os,
    author: 'strata <strata@example.com>',
    comment: 'made by strata: <&>',
    created,
    docker_version: '20.10.24+dfsg1',
    config: { ...base.config!, Env: ['PATH=/bin', 'MADE_BY=strata'], Cmd: ['/bin/sh'], Labels: { 'org.example.a': '1', b: '<2>' } },
    container_config: base.container_config,
    rootfs: base.rootfs,
    history: [...base.history, { created, author: 'strata', created_by: 'strata commit', comment: '', empty_layer: true }],
  });
  const id = db.set(marshalImageConfig(child));
  db.setParent(id, fx.images.base.id as Digest);
  const lastUpdated = db.setLastUpdated(id);

  const d = await startDockerd({ dataRoot: copy });
  try {
    const out = JSON.parse((await d.docker(['image', 'inspect', id])).stdout.toString()) as {
      Id: string;
      Parent: string;
      Author: string;
      Comment: string;
      Created: string;
      Config: { Env: string[]; Cmd: string[]; Labels: Record<string, string> };
      RootFS: { Layers: string[] };
      Metadata: { LastTagTime: string };
    }[];
    const got = out[0]!;
    assert.equal(got.Id, id);
    assert.equal(got.Parent, fx.images.base.id);
    assert.equal(got.Author, 'strata <strata@example.com>');
    assert.equal(got.Comment, 'made by strata: <&>');
    assert.equal(got.Created, created);
    assert.deepEqual(got.Config.Env, ['PATH=/bin', 'MADE_BY=strata']);
    assert.deepEqual(got.Config.Labels, { 'org.example.a': '1', b: '<2>' });
    assert.deepEqual(got.RootFS.Layers, base.rootfs.diff_ids);
    assert.equal(got.Metadata.LastTagTime, lastUpdated);
    const hist = (await d.docker(['history', '--no-trunc', '--format', '{{.CreatedBy}}|{{.Comment}}', id])).stdout.toString().trim().split('\n');
    assert.deepEqual(hist, ['strata commit|', '|Imported from -']);
    // dockerd's own view of the store still has every original image.
    const all = (await d.docker(['images', '-a', '--no-trunc', '--format', '{{.ID}}'])).stdout.toString().trim().split('\n').sort();
    assert.deepEqual(all, [...db.walk()].sort());
  } finally {
    await d.stop();
  }
  // dockerd changed nothing strata wrote.
  assert.deepEqual(db.get(id), marshalImageConfig(child));
  assert.equal(db.getParent(id), fx.images.base.id);
  assert.equal(db.getLastUpdated(id), lastUpdated);
});
