import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { TarReader, encodeHeader, contentPadding, END_OF_ARCHIVE, TarType, type TarEntry } from '../../src/archive/tar/index.js';
import { isStrataError } from '../../src/errors/index.js';
import { tempDir, sh, chunked } from '../helpers/tmp.js';

/** A tree with every kind of entry GNU tar can store, built once. */
function makeTree(): string {
  const root = tempDir();
  const src = path.join(root, 'src');
  const deep = path.join(src, 'd1', 'a'.repeat(120));
  fs.mkdirSync(deep, { recursive: true });
  fs.writeFileSync(path.join(src, 'f'), 'hello\n');
  fs.linkSync(path.join(src, 'f'), path.join(src, 'hard'));
  fs.symlinkSync('f', path.join(src, 'sym'));
  fs.symlinkSync('t'.repeat(200), path.join(src, 'longsym'));
  fs.writeFileSync(path.join(deep, 'b'.repeat(150)), 'x\n');
  fs.writeFileSync(path.join(src, 'café'), 'café\n');
  fs.writeFileSync(path.join(src, 'big'), Buffer.alloc(70000, 7));
  sh('mkfifo', [path.join(src, 'fifo')]);
  sh('mknod', [path.join(src, 'chr'), 'c', '1', '3']);
  sh('mknod', [path.join(src, 'blk'), 'b', '8', '1']);
  // Binary xattr value ff fe 80 00 01 c3: must come back byte for byte.
  sh('setfattr', ['-n', 'user.bin', '-v', '0s//6AAAHD', path.join(src, 'f')]);
  fs.chownSync(path.join(src, 'f'), 100000, 100001);
  const sparse = path.join(src, 'sparse');
  fs.writeFileSync(sparse, '');
  fs.truncateSync(sparse, 10 << 20);
  const fd = fs.openSync(sparse, 'r+');
  fs.writeSync(fd, Buffer.from('data'), 0, 4, 5_000_000);
  fs.closeSync(fd);
  return root;
}

const tree = makeTree();
function gnuTar(format: string, extra: string[] = []): Buffer {
  const out = path.join(tree, `${format}.tar`);
  sh('tar', [`--format=${format}`, '--sparse', ...extra, '-cf', out, '-C', path.join(tree, 'src'), '.']);
  return fs.readFileSync(out);
}

async function readAllEntries(source: Iterable<Buffer>): Promise<{ entries: (TarEntry & { data: Buffer })[]; bytes: Buffer }> {
  const r = new TarReader(source);
  const entries: (TarEntry & { data: Buffer })[] = [];
  const parts: Buffer[] = [];
  for await (const e of r) {
    const data = await e.readAll();
    entries.push({ ...e, data });
    parts.push(e.raw, data);
  }
  parts.push(r.endBytes);
  for await (const b of r.rest()) parts.push(b);
  return { entries, bytes: Buffer.concat(parts) };
}

const byName = (entries: { header: { name: string } }[], name: string) => {
  const e = entries.find((x) => x.header.name === name);
  assert.ok(e, `entry ${name} present`);
  return e as (typeof entries)[number] & TarEntry & { data: Buffer };
};

for (const format of ['pax', 'gnu', 'ustar-ish']) {
  test(`reader keeps every byte of a GNU tar ${format} archive, whatever the chunking`, async () => {
    const tar =
      format === 'ustar-ish'
        ? Buffer.concat([gnuTar('pax', ['--exclude=./d1', '--exclude=./longsym', '--exclude=./sparse']), Buffer.from('trailing junk')])
        : gnuTar(format, format === 'pax' ? ['--xattrs', '--xattrs-include=user.*'] : []);
    for (const size of [tar.length, 1, 7, 511, 512, 513, 65536]) {
      const { bytes } = await readAllEntries(chunked(tar, size));
      assert.ok(bytes.equals(tar), `identical with ${size}-byte chunks`);
    }
  });
}

test('reader decodes names, links, devices, owners, sizes and binary xattrs (PAX)', async () => {
  const { entries } = await readAllEntries([gnuTar('pax', ['--xattrs', '--xattrs-include=user.*'])]);
  const f = byName(entries, './f');
  assert.equal(f.header.type, TarType.Reg);
  assert.equal(f.data.toString(), 'hello\n');
  assert.equal(f.header.uid, 100000);
  assert.equal(f.header.gid, 100001);
  assert.deepEqual([...f.header.xattrs.get('user.bin')!], [0xff, 0xfe, 0x80, 0x00, 0x01, 0xc3]);
  const long = entries.find((e) => e.header.name.endsWith('b'.repeat(150)))!;
  assert.equal(long.header.name, `./d1/${'a'.repeat(120)}/${'b'.repeat(150)}`);
  assert.equal(byName(entries, './longsym').header.linkname, 't'.repeat(200));
  assert.equal(byName(entries, './hard').header.type, TarType.Link);
  assert.equal(byName(entries, './hard').header.linkname, './f');
  const chr = byName(entries, './chr').header;
  assert.deepEqual([chr.type, chr.devmajor, chr.devminor], ['3', 1, 3]);
  const blk = byName(entries, './blk').header;
  assert.deepEqual([blk.type, blk.devmajor, blk.devminor], ['4', 8, 1]);
  assert.equal(byName(entries, './fifo').header.type, TarType.Fifo);
  assert.equal(byName(entries, './café').data.toString(), 'café\n');
  assert.equal(byName(entries, './big').data.length, 70000);
  const sparse = byName(entries, './sparse');
  assert.equal(sparse.header.size, 10 << 20);
  assert.ok(sparse.header.sparse && sparse.header.sparse.some((r) => r.offset <= 5_000_000 && r.offset + r.length >= 5_000_004));
});

test('reader decodes GNU long names, long links and old-GNU sparse entries', async () => {
  const { entries } = await readAllEntries([gnuTar('gnu')]);
  assert.ok(entries.some((e) => e.header.name === `./d1/${'a'.repeat(120)}/${'b'.repeat(150)}`));
  assert.equal(byName(entries, './longsym').header.linkname, 't'.repeat(200));
  const sparse = byName(entries, './sparse');
  assert.equal(sparse.header.type, TarType.GnuSparse);
  assert.equal(sparse.header.size, 10 << 20);
  assert.ok(sparse.header.sparse!.length >= 1);
  const chr = byName(entries, './chr').header;
  assert.deepEqual([chr.devmajor, chr.devminor], [1, 3]);
});

test('an archive may end without its zero blocks (as Go accepts), but not inside content', async () => {
  const tar = gnuTar('pax', ['--exclude=./sparse']);
  const { entries: all } = await readAllEntries([tar]);
  const last = all[all.length - 1]!;
  const lastContentEnd = last.dataOffset + last.dataSize;
  const { entries, bytes } = await readAllEntries([tar.subarray(0, lastContentEnd)]);
  assert.equal(entries.length, all.length);
  assert.ok(bytes.equals(tar.subarray(0, lastContentEnd)));
  const big = byName(all, './big');
  await assert.rejects(readAllEntries([tar.subarray(0, big.dataOffset + 100)]), (e) => isStrataError(e, 'TAR_TRUNCATED'));
  await assert.rejects(readAllEntries([tar.subarray(0, 700)]), (e) => isStrataError(e, 'TAR_TRUNCATED'));
});

test('a corrupted header block fails its checksum with a one-line error', async () => {
  const tar = Buffer.from(gnuTar('pax'));
  tar[3] ^= 0x40;
  await assert.rejects(readAllEntries([tar]), (e: unknown) => {
    assert.ok(isStrataError(e, 'TAR_BAD_CHECKSUM'));
    assert.match((e as Error).message, /^tar: invalid header checksum at offset 0$/);
    return true;
  });
});

test('writer: USTAR when possible, prefix split, PAX for long, non-ASCII, binary xattrs and big numbers', async () => {
  const cases = [
    { name: 'bin/', type: TarType.Dir, mode: 0o40755, mtime: 1_600_000_000, uname: 'root', gname: 'root', format: 'pax' as const },
    { name: `${'p'.repeat(120)}/${'n'.repeat(90)}`, type: TarType.Reg, mode: 0o100644, size: 3, mtime: 5 },
    { name: 'x'.repeat(300), type: TarType.Reg, mode: 0o100600, size: 0, format: 'pax' as const },
    { name: 'dir/café.txt', type: TarType.Reg, mode: 0o100644, size: 0, format: 'pax' as const },
    { name: 'l', type: TarType.Symlink, mode: 0o120777, linkname: 'y'.repeat(150), format: 'pax' as const },
    { name: 'cap', type: TarType.Reg, mode: 0o100755, size: 0, xattrs: new Map([['security.capability', Buffer.from([1, 0, 0, 2, 0x80, 0, 0, 0xff])]]), format: 'pax' as const },
    { name: 'huge', type: TarType.Reg, mode: 0o100644, size: 9 * 2 ** 30, uid: 3_000_000, format: 'pax' as const },
    { name: 'ns', type: TarType.Reg, mode: 0o100644, mtime: { sec: 10, nsec: 5 }, format: 'pax' as const },
    { name: 'dev', type: TarType.Char, mode: 0o20644, devmajor: 1, devminor: 3 },
  ];
  for (const c of cases) {
    const bytes = encodeHeader(c);
    assert.equal(bytes.length % 512, 0);
    const size = c.size ?? 0;
    const body = size > 100 ? [] : [Buffer.alloc(size, 0x61), contentPadding(size)];
    const reader = new TarReader([bytes, ...body, END_OF_ARCHIVE]);
    const e = (await reader.next())!;
    assert.equal(e.header.name, c.name);
    assert.equal(e.header.mode, c.mode);
    assert.equal(e.header.size, size);
    if (c.linkname) assert.equal(e.header.linkname, c.linkname);
    if (c.uid) assert.equal(e.header.uid, c.uid);
    if (c.xattrs) assert.deepEqual(e.header.xattrs, c.xattrs);
    if (typeof c.mtime === 'object') assert.deepEqual(e.header.mtime, c.mtime);
    if (c.devmajor) assert.deepEqual([e.header.devmajor, e.header.devminor], [c.devmajor, c.devminor]);
    const ustar = bytes.length === 512;
    const expectUstar = !['x'.repeat(300), 'dir/café.txt', 'l', 'cap', 'huge', 'ns'].includes(c.name);
    assert.equal(ustar, expectUstar, `${c.name.slice(0, 20)}: ${ustar ? 'USTAR' : 'PAX'}`);
  }
  // Go's checksum field: six octal digits, NUL, space.
  const blk = encodeHeader(cases[0]!);
  assert.match(blk.toString('latin1', 148, 156), /^[0-7]{6}\0 $/);
  assert.equal(blk.toString('latin1', 329, 337), '0000000\0');
  // PAX extension header name as Go builds it.
  const pax = encodeHeader(cases[3]!);
  assert.equal(pax.toString('latin1', 0, 30).replace(/\0+$/, ''), 'dir/PaxHeaders.0/caf.txt');
});

test('GNU tar lists what the writer wrote', () => {
  const dir = tempDir();
  const parts: Buffer[] = [];
  const add = (h: Parameters<typeof encodeHeader>[0], data = Buffer.alloc(0)) => {
    parts.push(encodeHeader({ ...h, size: data.length }), data, contentPadding(data.length));
  };
  add({ name: 'a/', type: TarType.Dir, mode: 0o40755, mtime: 1_000_000_000, format: 'pax' });
  add({ name: 'a/file', type: TarType.Reg, mode: 0o100644, mtime: 1_000_000_000, format: 'pax' }, Buffer.from('content\n'));
  add({ name: `a/${'z'.repeat(180)}`, type: TarType.Reg, mode: 0o100644, format: 'pax' }, Buffer.from('long\n'));
  add({ name: 'a/link', type: TarType.Symlink, mode: 0o120777, linkname: 'file', format: 'pax' });
  parts.push(END_OF_ARCHIVE);
  const file = path.join(dir, 'w.tar');
  fs.writeFileSync(file, Buffer.concat(parts));
  const listing = sh('tar', ['-tf', file]).toString().trim().split('\n');
  assert.deepEqual(listing, ['a/', 'a/file', `a/${'z'.repeat(180)}`, 'a/link']);
  sh('tar', ['-xf', file, '-C', dir]);
  assert.equal(fs.readFileSync(path.join(dir, 'a', 'z'.repeat(180)), 'utf8'), 'long\n');
});

test('an entry body cannot be read after the reader moved on, nor twice', async () => {
  const reader = new TarReader([gnuTar('pax', ['--exclude=./sparse'])]);
  let big: TarEntry | undefined;
  for (let e = await reader.next(); e; e = await reader.next()) {
    if (e.header.name === './big') {
      big = e;
      const it = e.body();
      await it.next(); // partly read, then the reader moves on
      assert.throws(() => e.body(), /read twice/);
      break;
    }
  }
  assert.ok(big);
  const next = (await reader.next())!;
  await assert.rejects(async () => {
    for await (const _ of big!.body()) void _;
  }, /read twice/);
  await reader.next();
  await assert.rejects(async () => {
    for await (const _ of next.body()) void _;
  }, /after the reader moved on/);
});
