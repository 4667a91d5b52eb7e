/**
 * openArchive: image archives (tar files, compressed files, streams, OCI layout directories)
 * made by GNU tar, gzip/pigz, zstd, xz and bzip2, or built header by header where GNU tar will not
 * write what a hostile archive holds. Every archive that can be read both ways is read both in
 * place ('tar') and from a stream ('spooled'), and the two must agree member for member.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { chunked, sh, tempDir } from '../helpers/tmp.js';
import { END_OF_ARCHIVE, contentPadding, encodeHeader, type TarWriteHeader } from '../../src/archive/tar/index.js';
import { formatPaxRecord } from '../../src/archive/tar/pax.js';
import { isStrataError } from '../../src/errors/index.js';
import { openArchive, type ArchiveSource, type OpenArchiveOptions } from '../../src/image/archive/source.js';

// ---- fixtures ----------------------------------------------------------------------------------

const sha = (b: Buffer) => crypto.createHash('sha256').update(b).digest('hex');
const LAYER = crypto.randomBytes(3 * 1024 * 1024 + 77); // spans several 1 MiB reads
const V1 = 'a'.repeat(64);
const V1B = 'b'.repeat(64);
const V1C = 'c'.repeat(64);

/** A `docker save` layout: the second image's layer.tar is a symlink, as dockerd 20.10 writes it. */
function dockerSaveDir(): string {
  const dir = tempDir('strata-save-');
  const put = (rel: string, data: string | Buffer) => {
    fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    fs.writeFileSync(path.join(dir, rel), data);
  };
  put(`${V1}/VERSION`, '1.0');
  put(`${V1}/json`, '{"id":"a"}');
  put(`${V1}/layer.tar`, LAYER);
  put(`${V1B}/VERSION`, '1.0');
  put(`${V1B}/json`, '{"id":"b"}');
  fs.symlinkSync(`../${V1}/layer.tar`, path.join(dir, V1B, 'layer.tar'));
  put('manifest.json', '[{"Config":"x.json","Layers":["a/layer.tar"]}]');
  put('repositories', '{}');
  return dir;
}

/** GNU tar of everything in `dir` (`./`-prefixed names, as `tar -C dir .` writes them). */
function tarDir(dir: string, extra: string[] = []): Buffer {
  return sh('tar', ['-C', dir, '--sort=name', '--owner=0', '--group=0', '--numeric-owner', '--mtime=@1700000000', ...extra, '-cf', '-', '.']);
}

/** One hand-built entry: header (with PAX records when needed), content, padding. */
function entry(h: Partial<TarWriteHeader> & { name: string }, data: Buffer | string = ''): Buffer {
  const body = typeof data === 'string' ? Buffer.from(data) : data;
  const header = encodeHeader({ type: '0', mode: 0o644, mtime: 1700000000, size: body.length, ...h });
  return Buffer.concat([header, body, contentPadding(body.length)]);
}

function writeTemp(data: Buffer, name = 'archive.tar'): string {
  const file = path.join(tempDir(), name);
  fs.writeFileSync(file, data);
  return file;
}

function options(extra: Partial<OpenArchiveOptions> = {}): OpenArchiveOptions & { spoolDir: string } {
  return { spoolDir: path.join(tempDir('strata-spool-'), 'tmp'), ...extra };
}

async function readAll(src: ArchiveSource, name: string): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of src.open(name)) {
    assert.ok(c.length > 0 && c.length <= 1 << 20, `chunk of ${c.length} bytes`);
    parts.push(c);
  }
  return Buffer.concat(parts);
}

/** What a source shows: names, and for each name asked about, the sha256 of its content or null. */
async function snapshot(src: ArchiveSource, lookups: string[] = []): Promise<{ names: string[]; content: Record<string, string | null> }> {
  const content: Record<string, string | null> = {};
  for (const n of [...src.names(), ...lookups]) {
    if (!src.has(n)) {
      content[n] = null;
      continue;
    }
    const bytes = await readAll(src, n);
    assert.equal(bytes.length, src.size(n), `size of ${n}`);
    content[n] = sha(bytes);
  }
  return { names: src.names(), content };
}

/** Opens `bytes` as a tar file and as a stream; both views must agree. Returns the file's view. */
async function bothWays(bytes: Buffer, lookups: string[] = [], kind: 'tar' | 'spooled' = 'tar') {
  const file = writeTemp(bytes);
  const opts = options();
  const a = await openArchive(file, opts);
  const b = await openArchive(Readable.from(chunked(bytes, 7777)), opts);
  try {
    assert.equal(a.kind, kind);
    assert.equal(b.kind, 'spooled');
    const sa = await snapshot(a, lookups);
    assert.deepEqual(await snapshot(b, lookups), sa);
    return sa;
  } finally {
    await a.close();
    await b.close();
    assert.deepEqual(fs.readdirSync(opts.spoolDir), [], 'close() removed the spool dirs');
  }
}

/** Asserts a StrataError (or Node error) with this code and, if given, exact message. */
async function rejectsWith(p: Promise<unknown> | (() => unknown), code: string, message?: string | RegExp): Promise<void> {
  await assert.rejects(async () => (typeof p === 'function' ? p() : p), (e: NodeJS.ErrnoException) => {
    assert.equal(e.code, code, `code of: ${e.message}`);
    if (typeof message === 'string') assert.equal(e.message, message);
    else if (message) assert.match(e.message, message);
    assert.ok(!e.message.includes('\n'), 'one-line message');
    return true;
  });
}

// ---- the docker save layout ------------------------------------------------------------------

test('a docker save tar is indexed in place; the symlinked layer.tar resolves to its target', async () => {
  const dir = dockerSaveDir();
  const s = await bothWays(tarDir(dir), [`${V1B}/layer.tar`]);
  assert.deepEqual(s.names, [
    `${V1}/VERSION`,
    `${V1}/json`,
    `${V1}/layer.tar`,
    `${V1B}/VERSION`,
    `${V1B}/json`,
    'manifest.json',
    'repositories',
  ]);
  assert.equal(s.content[`${V1}/layer.tar`], sha(LAYER));
  assert.equal(s.content[`${V1B}/layer.tar`], sha(LAYER), 'the symlink reads its target');
});

test('names are normalized and lookups accept any spelling of them', async () => {
  const src = await openArchive(writeTemp(tarDir(dockerSaveDir())), options());
  try {
    for (const n of ['manifest.json', './manifest.json', '/manifest.json', './/manifest.json', `${V1}//json`, `${V1}/json/`, `${V1B}/../${V1}/json`]) {
      assert.ok(src.has(n), `has ${n}`);
    }
    assert.equal((await src.readFile('./manifest.json')).toString(), '[{"Config":"x.json","Layers":["a/layer.tar"]}]');
    for (const n of ['', '.', '/', V1, '../manifest.json', 'nothing']) assert.equal(src.has(n), false, `has ${JSON.stringify(n)}`);
    assert.equal(src.size(`${V1B}/layer.tar`), LAYER.length);
  } finally {
    await src.close();
  }
});

test('missing members, readFile limits, and use after close', async () => {
  const src = await openArchive(writeTemp(tarDir(dockerSaveDir())), options());
  await rejectsWith(src.readFile('nope.json'), 'ARCHIVE_MISSING_MEMBER', 'file nope.json not found in archive');
  await rejectsWith(() => src.size('nope.json'), 'ARCHIVE_MISSING_MEMBER', 'file nope.json not found in archive');
  await rejectsWith(src.open('nope.json').next(), 'ARCHIVE_MISSING_MEMBER', 'file nope.json not found in archive');
  await rejectsWith(src.readFile(`${V1}/layer.tar`, 1000), 'ARCHIVE_MEMBER_TOO_LARGE');
  assert.equal((await src.readFile(`${V1}/layer.tar`)).length, LAYER.length, 'under the 16 MiB default');
  await rejectsWith(src.readFile(`${V1}/json`, 5), 'ARCHIVE_MEMBER_TOO_LARGE', `file ${V1}/json in archive is 10 bytes, more than the 5 allowed`);
  await src.close();
  await src.close(); // idempotent
  assert.throws(() => src.has('manifest.json'), /after close/, 'use after close is a programming error');
});

test('open() honors an abort signal', async () => {
  const src = await openArchive(writeTemp(tarDir(dockerSaveDir())), options());
  try {
    const ac = new AbortController();
    const it = src.open(`${V1}/layer.tar`, { signal: ac.signal });
    assert.equal((await it.next()).value?.length, 1 << 20, 'first chunk is 1 MiB');
    ac.abort(new Error('stop'));
    await assert.rejects(it.next(), /stop/);
    await assert.rejects(src.open('manifest.json', { signal: AbortSignal.abort() }).next(), { name: 'AbortError' });
    await assert.rejects(openArchive(writeTemp(tarDir(dockerSaveDir())), options({ signal: AbortSignal.abort() })), { name: 'AbortError' });
  } finally {
    await src.close();
  }
});

// ---- links -----------------------------------------------------------------------------------

test('symlinks: relative, absolute, through a directory link; dangling, looping and escaping ones are absent', async () => {
  const dir = dockerSaveDir();
  const ln = (target: string, at: string) => fs.symlinkSync(target, path.join(dir, at));
  ln(`/${V1}/layer.tar`, 'abs');
  ln(V1, 'dirlink');
  ln('dirlink/json', 'via-dirlink');
  ln('nothing-here', 'dangling');
  ln('../../etc/passwd', 'escape');
  ln('/../etc/passwd', 'escape-abs');
  ln('loop-b', 'loop-a');
  ln('loop-a', 'loop-b');
  ln(V1, 'not-a-file');
  const s = await bothWays(tarDir(dir), ['abs', 'dirlink/json', 'dirlink/layer.tar', 'via-dirlink', 'dangling', 'escape', 'escape-abs', 'loop-a', 'not-a-file', 'manifest.json/x']);
  assert.equal(s.content['abs'], sha(LAYER));
  assert.equal(s.content['dirlink/layer.tar'], sha(LAYER));
  assert.equal(s.content['dirlink/json'], sha(Buffer.from('{"id":"a"}')));
  assert.equal(s.content['via-dirlink'], sha(Buffer.from('{"id":"a"}')));
  for (const n of ['dangling', 'escape', 'escape-abs', 'loop-a', 'not-a-file', 'manifest.json/x']) assert.equal(s.content[n], null, `${n} is absent`);
  assert.ok(!s.names.includes('abs'), 'names() lists regular files only');
});

test('a chain of 16 symlinks resolves; 17 do not', async () => {
  const parts = [entry({ name: 'f' }, 'data')];
  for (let i = 1; i <= 17; i++) parts.push(entry({ name: `l${i}`, type: '2', linkname: i === 1 ? 'f' : `l${i - 1}` }));
  const s = await bothWays(Buffer.concat([...parts, END_OF_ARCHIVE]), ['l16', 'l17']);
  assert.equal(s.content['l16'], sha(Buffer.from('data')));
  assert.equal(s.content['l17'], null);
});

test('hardlinks made by GNU tar resolve to their target and are not listed', async () => {
  const dir = dockerSaveDir();
  fs.mkdirSync(path.join(dir, V1C));
  fs.linkSync(path.join(dir, V1, 'layer.tar'), path.join(dir, V1C, 'layer.tar'));
  const bytes = tarDir(dir);
  assert.ok(sh('tar', ['-tvf', '-'], { input: bytes }).toString().includes(' link to '), 'GNU tar stored a hardlink');
  const s = await bothWays(bytes, [`${V1C}/layer.tar`]);
  assert.equal(s.content[`${V1C}/layer.tar`], sha(LAYER));
  assert.ok(!s.names.includes(`${V1C}/layer.tar`), 'names() lists regular files only');
});

test('a hardlink keeps the content its target had when it was written; later members win', async () => {
  const bytes = Buffer.concat([
    entry({ name: 'a' }, 'first'),
    entry({ name: 'h', type: '1', linkname: './a' }),
    entry({ name: 'early', type: '1', linkname: 'later' }), // target not there yet: absent
    entry({ name: './a' }, 'second'),
    entry({ name: 'later' }, 'x'),
    entry({ name: 'gone' }, 'x'),
    entry({ name: 'gone/', type: '5', mode: 0o755 }), // a directory replaces the file
    END_OF_ARCHIVE,
  ]);
  const s = await bothWays(bytes, ['h', 'early', 'gone']);
  assert.deepEqual(s.names, ['a', 'later']);
  assert.equal(s.content['a'], sha(Buffer.from('second')));
  assert.equal(s.content['h'], sha(Buffer.from('first')));
  assert.equal(s.content['early'], null);
  assert.equal(s.content['gone'], null);
});

test('duplicate names appended by tar -r: the last one wins, at its position', async () => {
  const dir = tempDir();
  fs.writeFileSync(path.join(dir, 'a'), 'one');
  fs.writeFileSync(path.join(dir, 'b'), 'bee');
  const file = path.join(tempDir(), 'dup.tar');
  sh('tar', ['-C', dir, '-cf', file, 'a', 'b']);
  fs.writeFileSync(path.join(dir, 'a'), 'two');
  sh('tar', ['-C', dir, '-rf', file, 'a']);
  const s = await bothWays(fs.readFileSync(file));
  assert.deepEqual(s.names, ['b', 'a']);
  assert.equal(s.content['a'], sha(Buffer.from('two')));
});

// ---- tar formats -----------------------------------------------------------------------------

for (const format of ['pax', 'gnu', 'ustar'] as const) {
  test(`long names and link targets in ${format} format`, async () => {
    const dir = tempDir();
    // ustar only has the 155-byte prefix + 100-byte name; the others take any length.
    const deep = format === 'ustar' ? `${'d'.repeat(90)}/${'e'.repeat(50)}` : `${'d'.repeat(90)}/${'e'.repeat(90)}/${'f'.repeat(60)}`;
    fs.mkdirSync(path.join(dir, path.dirname(deep)), { recursive: true });
    fs.writeFileSync(path.join(dir, deep), 'deep content');
    if (format !== 'ustar') fs.symlinkSync(`../${deep}`, path.join(dir, 'd'.repeat(90), 'long-link'));
    const bytes = tarDir(dir, [`--format=${format}`]);
    const s = await bothWays(bytes, [`${'d'.repeat(90)}/long-link`]);
    assert.deepEqual(s.names, [deep]);
    assert.equal(s.content[deep], sha(Buffer.from('deep content')));
    if (format !== 'ustar') assert.equal(s.content[`${'d'.repeat(90)}/long-link`], sha(Buffer.from('deep content')), 'long link target');
  });
}

test('a PAX global header alters nothing (as in Go); PAX size and path records apply', async () => {
  const global = Buffer.concat([formatPaxRecord('path', Buffer.from('evil')), formatPaxRecord('comment', Buffer.from('hi'))]);
  const local = Buffer.concat([formatPaxRecord('path', Buffer.from('renamed/by-pax')), formatPaxRecord('size', Buffer.from('5'))]);
  const bytes = Buffer.concat([
    entry({ name: 'pax_global_header', type: 'g' }, global),
    entry({ name: 'x' }, 'plain'),
    entry({ name: 'PaxHeaders/y', type: 'x' }, local),
    encodeHeader({ name: 'y', type: '0', mode: 0o644, size: 0 }), // the PAX size (5) wins
    Buffer.from('12345'),
    contentPadding(5),
    END_OF_ARCHIVE,
  ]);
  const s = await bothWays(bytes);
  assert.deepEqual(s.names, ['x', 'renamed/by-pax']);
  assert.equal(s.content['renamed/by-pax'], sha(Buffer.from('12345')));
});

test('a negative size (a PAX record) is invalid, both ways', async () => {
  const bytes = Buffer.concat([
    entry({ name: 'PaxHeaders/y', type: 'x' }, formatPaxRecord('size', Buffer.from('-1024'))),
    entry({ name: 'y' }, 'content'),
    END_OF_ARCHIVE,
  ]);
  const file = writeTemp(bytes);
  await rejectsWith(openArchive(file, options()), 'ARCHIVE_INVALID', `${file} has a negative size in the header at offset 1024`);
  await rejectsWith(openArchive(Readable.from([bytes]), options()), 'ARCHIVE_INVALID', /^input is not a valid tar archive: negative size/);
});

test('an archive without its end-of-archive blocks, or with data after them, reads fine', async () => {
  const body = Buffer.concat([entry({ name: 'a' }, 'A'), entry({ name: 'b' }, 'B')]);
  assert.deepEqual((await bothWays(body)).names, ['a', 'b']);
  assert.deepEqual((await bothWays(Buffer.concat([body, END_OF_ARCHIVE, Buffer.from('trailing junk')]))).names, ['a', 'b']);
  assert.deepEqual((await bothWays(END_OF_ARCHIVE)).names, [], 'an empty archive');
});

for (const format of ['gnu', 'pax'] as const) {
  test(`a sparse member (${format}) is refused`, async () => {
    const dir = tempDir();
    const f = path.join(dir, 'holes');
    fs.writeFileSync(f, 'x');
    fs.truncateSync(f, 1 << 20);
    const fd = fs.openSync(f, 'r+');
    fs.writeSync(fd, 'end', (1 << 20) - 3);
    fs.closeSync(fd);
    const bytes = sh('tar', ['-C', dir, '--sparse', `--format=${format}`, '-cf', '-', 'holes']);
    await rejectsWith(openArchive(writeTemp(bytes), options()), 'ARCHIVE_INVALID', /holds a sparse file/);
    await rejectsWith(openArchive(Readable.from([bytes]), options()), 'ARCHIVE_INVALID', /holds a sparse file/);
  });
}

// ---- compression and streams -----------------------------------------------------------------

for (const [tool, args] of [
  ['pigz', ['-c']],
  ['gzip', ['-c']],
  ['zstd', ['-q', '-c']],
  ['xz', ['-c', '-0']],
  ['bzip2', ['-c']],
] as const) {
  test(`a ${tool}-compressed archive is spooled, from a path and from a stream`, async () => {
    const plain = tarDir(dockerSaveDir());
    const expected = await bothWays(plain, [`${V1B}/layer.tar`]);
    const packed = sh(tool, [...args], { input: plain });
    const file = writeTemp(packed, 'archive.tar.x');
    for (const input of [file, fs.createReadStream(file)]) {
      const opts = options();
      const src = await openArchive(input, opts);
      try {
        assert.equal(src.kind, 'spooled');
        assert.equal(fs.readdirSync(opts.spoolDir).length, 1, 'one private spool dir');
        const spool = path.join(opts.spoolDir, fs.readdirSync(opts.spoolDir)[0]!);
        assert.equal(fs.statSync(spool).mode & 0o777, 0o700, 'spool dir is private');
        assert.ok(fs.readdirSync(spool).every((n) => /^[0-9]+$/.test(n)), 'spool files are numbered, never member names');
        assert.deepEqual(await snapshot(src, [`${V1B}/layer.tar`]), expected);
      } finally {
        await src.close();
      }
      assert.deepEqual(fs.readdirSync(opts.spoolDir), [], 'close() removed the spool dir');
    }
  });
}

test('an abort while spooling stops reading and removes the spool dir', async () => {
  const opts = options();
  const ac = new AbortController();
  const first = tarDir(dockerSaveDir()).subarray(0, 4096);
  const idle = new PassThrough(); // never ends, like an idle stdin
  idle.write(first);
  setTimeout(() => ac.abort(new Error('user hit ^C')), 20);
  await assert.rejects(openArchive(idle, { ...opts, signal: ac.signal }), /user hit \^C/);
  assert.ok(idle.destroyed, 'the input stream was released');
  assert.deepEqual(fs.readdirSync(opts.spoolDir), [], 'no spool left behind');
});

test('a FIFO path is read as a stream, to its end (the writer gets no EPIPE)', async () => {
  // Zeros after the archive (as a large tar blocking factor pads its last record): far more than a pipe holds.
  const plain = Buffer.concat([tarDir(dockerSaveDir()), Buffer.alloc(8 << 20)]);
  const fifo = path.join(tempDir(), 'fifo');
  sh('mkfifo', [fifo]);
  const writer = fs.promises.writeFile(fifo, plain);
  const src = await openArchive(fifo, options());
  await writer;
  try {
    assert.equal(src.kind, 'spooled');
    assert.equal(sha(await readAll(src, `${V1B}/layer.tar`)), sha(LAYER));
  } finally {
    await src.close();
  }
});

test('the bomb guard stops a compressed archive, not an uncompressed stream', async () => {
  const plain = tarDir(dockerSaveDir());
  const opts = options({ maxBytes: 1 << 20 });
  await rejectsWith(openArchive(writeTemp(sh('gzip', ['-c'], { input: plain }), 'a.tgz'), opts), 'DECOMPRESSION_LIMIT', `decompressed data exceeds ${1 << 20} bytes`);
  assert.deepEqual(fs.readdirSync(opts.spoolDir), [], 'a failed openArchive removed its spool dir');
  const src = await openArchive(Readable.from([plain]), opts);
  assert.equal(src.size(`${V1}/layer.tar`), LAYER.length);
  await src.close();
});

test('a corrupt gzip archive fails with the decompression error and leaves no spool', async () => {
  const gz = sh('gzip', ['-c'], { input: tarDir(dockerSaveDir()) });
  const opts = options();
  await rejectsWith(openArchive(writeTemp(gz.subarray(0, gz.length >> 1), 'a.tgz'), opts), 'CORRUPT_COMPRESSED_DATA', 'gzip data is truncated');
  assert.deepEqual(fs.readdirSync(opts.spoolDir), []);
});

test("a gzip archive is read to its end, so a bad CRC in the trailer is caught", async () => {
  const gz = Buffer.from(sh('gzip', ['-c'], { input: Buffer.concat([tarDir(dockerSaveDir()), Buffer.alloc(8 << 20)]) }));
  gz[gz.length - 8] ^= 0xff; // CRC32 of the uncompressed data
  const opts = options();
  await rejectsWith(openArchive(writeTemp(gz, 'a.tgz'), opts), 'CORRUPT_COMPRESSED_DATA', /^gzip data is corrupt/);
  assert.deepEqual(fs.readdirSync(opts.spoolDir), []);
});

// ---- a large member: indexed in place, content never read while indexing -------------------------

test('a 200 MB member is indexed from headers and streamed back exactly', async () => {
  const dir = tempDir();
  const big = path.join(dir, 'big');
  fs.writeFileSync(big, 'start');
  fs.truncateSync(big, 200 * 1024 * 1024);
  const fd = fs.openSync(big, 'r+');
  for (const at of [1 << 20, 77 * 1024 * 1024 + 3, 200 * 1024 * 1024 - 4]) fs.writeSync(fd, crypto.randomBytes(4), 0, 4, at);
  fs.closeSync(fd);
  fs.writeFileSync(path.join(dir, 'small'), 'after');
  const file = path.join(tempDir(), 'big.tar');
  sh('tar', ['-C', dir, '-cf', file, 'big', 'small']); // not --sparse: 200 MB of content
  const src = await openArchive(file, options());
  try {
    assert.equal(src.kind, 'tar');
    assert.deepEqual(src.names(), ['big', 'small']);
    const h = crypto.createHash('sha256');
    let n = 0;
    for await (const c of src.open('big')) {
      assert.ok(c.length <= 1 << 20, 'chunks of at most 1 MiB');
      h.update(c);
      n += c.length;
    }
    assert.equal(n, 200 * 1024 * 1024);
    assert.equal(h.digest('hex'), sha(fs.readFileSync(big)));
    assert.equal((await src.readFile('small')).toString(), 'after');
  } finally {
    await src.close();
  }
});

// ---- broken and hostile archives ------------------------------------------------------------

function twoFiles(): Buffer {
  return Buffer.concat([entry({ name: 'a' }, 'A'.repeat(100)), entry({ name: 'big' }, Buffer.alloc(10000, 7)), END_OF_ARCHIVE]);
}

test('a tar cut inside a member content is truncated, at openArchive, both ways', async () => {
  const cut = twoFiles().subarray(0, 1024 + 512 + 4000); // big's content starts at 1536
  const file = writeTemp(cut);
  await rejectsWith(openArchive(file, options()), 'ARCHIVE_TRUNCATED', `archive is truncated: big needs 6000 bytes past the end of ${file}`);
  const opts = options();
  await rejectsWith(openArchive(Readable.from(chunked(cut, 1000)), opts), 'ARCHIVE_TRUNCATED', 'archive is truncated: big needs 6000 bytes past the end of input');
  assert.deepEqual(fs.readdirSync(opts.spoolDir), [], 'no spool left behind');
});

test('a tar cut inside a header is truncated, both ways', async () => {
  const cut = twoFiles().subarray(0, 1024 + 100); // big's header starts at 1024
  const file = writeTemp(cut);
  await rejectsWith(openArchive(file, options()), 'ARCHIVE_TRUNCATED', `archive is truncated: ${file} ends inside the header at offset 1024`);
  await rejectsWith(openArchive(Readable.from([cut]), options()), 'ARCHIVE_TRUNCATED', /^archive is truncated: input ends inside a header/);
});

test('a corrupt header in the middle is invalid, both ways', async () => {
  const bad = Buffer.from(twoFiles());
  bad[1024 + 1] ^= 0xff; // big's name: the checksum no longer matches
  const file = writeTemp(bad);
  await rejectsWith(openArchive(file, options()), 'ARCHIVE_INVALID', `${file} is not a valid tar archive: invalid header checksum at offset 1024`);
  await rejectsWith(openArchive(Readable.from([bad]), options()), 'ARCHIVE_INVALID', 'input is not a valid tar archive: invalid header checksum at offset 1024');
});

test('not a tar: a text file, a short file, an empty file, an empty stream', async () => {
  for (const text of ['hello, this is not a tar\n'.repeat(40), 'short\n']) {
    const file = writeTemp(Buffer.from(text), 'notes.txt');
    await rejectsWith(openArchive(file, options()), 'ARCHIVE_INVALID', `${file} is not a tar archive`);
    await rejectsWith(openArchive(Readable.from([Buffer.from(text)]), options()), 'ARCHIVE_INVALID', 'input is not a tar archive');
    const gz = writeTemp(sh('gzip', ['-c'], { input: text }), 'notes.gz');
    await rejectsWith(openArchive(gz, options()), 'ARCHIVE_INVALID', `${gz} is not a tar archive`);
  }
  const empty = writeTemp(Buffer.alloc(0));
  await rejectsWith(openArchive(empty, options()), 'ARCHIVE_INVALID', `${empty} is empty`);
  await rejectsWith(openArchive(Readable.from([]), options()), 'ARCHIVE_INVALID', 'input is empty');
});

test('a missing path is a one-line ENOENT', async () => {
  const file = path.join(tempDir(), 'nope.tar');
  await rejectsWith(openArchive(file, options()), 'ENOENT', `open ${file}: no such file or directory`);
});

test('a member named ../x (or a/../../x) makes the archive unsafe, both ways', async () => {
  for (const name of ['../x', 'a/../../x', './..']) {
    const type = name === './..' ? '5' : '0';
    const bytes = Buffer.concat([entry({ name: 'ok' }, 'fine'), entry({ name, type }, 'evil'), END_OF_ARCHIVE]);
    const file = writeTemp(bytes);
    await rejectsWith(openArchive(file, options()), 'ARCHIVE_UNSAFE_PATH', `archive member ${name} escapes the archive root`);
    const opts = options();
    await rejectsWith(openArchive(Readable.from([bytes]), opts), 'ARCHIVE_UNSAFE_PATH', `archive member ${name} escapes the archive root`);
    assert.deepEqual(fs.readdirSync(opts.spoolDir), [], 'no spool left behind');
  }
  // An absolute name is just a name below the root.
  const s = await bothWays(Buffer.concat([entry({ name: '/etc/x' }, 'abs'), END_OF_ARCHIVE]));
  assert.deepEqual(s.names, ['etc/x']);
});

test('GNU tar -P writes ../ names; they are refused', async () => {
  const dir = tempDir();
  fs.mkdirSync(path.join(dir, 'sub'));
  fs.writeFileSync(path.join(dir, 'x'), 'evil');
  const bytes = sh('tar', ['-C', path.join(dir, 'sub'), '-P', '-cf', '-', '../x']);
  await rejectsWith(openArchive(writeTemp(bytes), options()), 'ARCHIVE_UNSAFE_PATH', 'archive member ../x escapes the archive root');
});

// ---- OCI layout directories ------------------------------------------------------------------

test('an OCI layout directory: sorted regular files, symlinks only inside', async () => {
  const root = tempDir();
  const outside = path.join(tempDir(), 'secret');
  fs.writeFileSync(outside, 'secret');
  const dir = path.join(root, 'layout');
  const blob = sha(LAYER);
  fs.mkdirSync(path.join(dir, 'blobs', 'sha256'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  fs.writeFileSync(path.join(dir, 'index.json'), '{"schemaVersion":2,"manifests":[]}');
  fs.writeFileSync(path.join(dir, 'blobs', 'sha256', blob), LAYER);
  fs.symlinkSync(blob, path.join(dir, 'blobs', 'sha256', 'alias'));
  fs.symlinkSync(outside, path.join(dir, 'blobs', 'sha256', 'out-abs'));
  fs.symlinkSync('../../../secret', path.join(dir, 'blobs', 'sha256', 'out-rel'));
  fs.writeFileSync(path.join(root, 'secret'), 'also secret');
  fs.symlinkSync('../layout-evil', path.join(dir, 'prefix-trick'));
  fs.mkdirSync(path.join(root, 'layout-evil'));
  fs.writeFileSync(path.join(root, 'layout-evil', 'f'), 'evil');

  const opts = options();
  const src = await openArchive(dir, opts);
  try {
    assert.equal(src.kind, 'directory');
    assert.deepEqual(src.names(), [`blobs/sha256/${blob}`, 'index.json', 'oci-layout']);
    assert.ok(src.has('blobs/sha256/alias'), 'a symlink inside the dir is followed');
    assert.equal(sha(await readAll(src, './blobs/sha256/alias')), blob);
    for (const n of ['blobs/sha256/out-abs', 'blobs/sha256/out-rel', 'prefix-trick/f', '../secret', '../layout-evil/f', 'blobs', '.', '']) {
      assert.equal(src.has(n), false, `${n} is absent`);
    }
    await rejectsWith(src.readFile('blobs/sha256/out-abs'), 'ARCHIVE_MISSING_MEMBER', 'file blobs/sha256/out-abs not found in archive');
    assert.equal(JSON.parse((await src.readFile('/index.json')).toString()).schemaVersion, 2);
    assert.equal(src.size(`blobs/sha256/${blob}`), LAYER.length);
  } finally {
    await src.close();
  }
  assert.ok(!fs.existsSync(opts.spoolDir) || fs.readdirSync(opts.spoolDir).length === 0, 'a directory needs no spool');
});

test('an OCI layout as a tar reads like the directory', async () => {
  const dir = tempDir();
  fs.mkdirSync(path.join(dir, 'blobs', 'sha256'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  fs.writeFileSync(path.join(dir, 'index.json'), '{}');
  fs.writeFileSync(path.join(dir, 'blobs', 'sha256', sha(LAYER)), LAYER);
  const fromDir = await openArchive(dir, options());
  const s = await bothWays(tarDir(dir));
  assert.deepEqual(s, await snapshot(fromDir));
  await fromDir.close();
});

test('errors are StrataErrors', async () => {
  await assert.rejects(openArchive(writeTemp(Buffer.from('nope')), options()), (e) => {
    assert.ok(isStrataError(e, 'ARCHIVE_INVALID'), 'a StrataError');
    return true;
  });
});
