/**
 * The layer tar writer against GNU tar (a reader that is not ours), against the header rules of
 * moby/Go spelled out as bytes, and against the kernel's own overlay upper dirs.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { writeLayerTar, nameResolver, exportCapability } from '../../src/archive/diff/index.js';
import { lsetxattr, mknod, constants as c } from '../../src/sys/index.js';
import { tempDir, sh } from '../helpers/tmp.js';
import { collect, listTar, field, headerBlock, mountOverlay, isPlainUstar, paxHeaderName } from '../helpers/layertar.js';

const T = 1_600_000_000;
const CAP_V2 = Buffer.from('0100000200200000000000000000000000000000', 'hex');
const CAP_V3 = Buffer.from('010000030004000000000000000000000000000000a08601'.padEnd(48, '0'), 'hex');
const LATIN1 = Buffer.from('caf\xe9.txt', 'latin1');

/** A tree with one of everything the writer has a rule for. */
function makeTree(): string {
  const root = path.join(tempDir(), 'tree');
  const p = (rel: string) => path.join(root, rel);
  fs.mkdirSync(p('bin'), { recursive: true });
  fs.mkdirSync(p('data/sub'), { recursive: true });
  fs.writeFileSync(p('data/file'), 'hello\n');
  fs.writeFileSync(p('data/big'), Buffer.alloc(3 * 1024 * 1024 + 17, 0x5a));
  fs.writeFileSync(p('data/empty'), '');
  fs.linkSync(p('data/file'), p('data/sub/hard'));
  fs.linkSync(p('data/file'), p('bin/a-hard')); // walk order: bin/a-hard comes first
  fs.symlinkSync('../data/file', p('bin/sym'));
  fs.symlinkSync('t'.repeat(150), p('bin/longsym'));
  sh('mkfifo', ['-m', '0640', p('data/fifo')]);
  mknod(p('data/null'), c.S_IFCHR | 0o666, 1, 3);
  mknod(p('data/blk'), c.S_IFBLK | 0o660, 259, 70000);
  fs.chmodSync(p('data/null'), 0o666); // mknod honours the umask
  fs.writeFileSync(p('data/suid'), 'x');
  fs.chmodSync(p('data/suid'), 0o4755);
  fs.mkdirSync(p('tmp'));
  fs.chmodSync(p('tmp'), 0o1777);
  fs.mkdirSync(p('sgid'));
  fs.chmodSync(p('sgid'), 0o2775);
  fs.writeFileSync(Buffer.concat([Buffer.from(p('data') + '/'), LATIN1]), 'latin\n');
  fs.writeFileSync(p('data/café-ü.txt'), 'utf8\n');
  const deep = p(`deep/${'d'.repeat(120)}`);
  fs.mkdirSync(deep, { recursive: true });
  fs.writeFileSync(path.join(deep, 'x'.repeat(90)), 'split\n'); // 211 bytes: USTAR prefix
  fs.writeFileSync(path.join(deep, 'y'.repeat(160)), 'pax\n'); // last element > 100: PAX path
  fs.writeFileSync(p('data/ids'), 'ids\n');
  fs.chownSync(p('data/ids'), 3_000_000, 3_000_001);
  fs.writeFileSync(p('data/cap2'), 'c2');
  lsetxattr(p('data/cap2'), 'security.capability', CAP_V2);
  lsetxattr(p('data/cap2'), 'user.other', 'not exported');
  fs.writeFileSync(p('data/cap3'), 'c3');
  lsetxattr(p('data/cap3'), 'security.capability', CAP_V3);
  // mtimes with nanoseconds: the writer must cut them to whole seconds
  sh('find', [root, '-exec', 'touch', '-h', '-d', '@1600000000.987654321', '{}', '+']);
  return root;
}

const tree = makeTree();

test('GNU tar extracts the tree the writer archived, with modes, owners, links, devices and times', async () => {
  const tar = await collect(writeLayerTar(tree, { whiteouts: 'none' }));
  const dir = tempDir();
  fs.writeFileSync(path.join(dir, 'out.tar'), tar);
  fs.mkdirSync(path.join(dir, 'x'));
  sh('tar', ['-xpf', path.join(dir, 'out.tar'), '-C', path.join(dir, 'x'), '--numeric-owner', '--xattrs', '--xattrs-include=*']);
  // find's listing of both trees: type, mode, owner, size (not for dirs), mtime seconds, link target
  const describe = (root: string) =>
    sh('find', ['.', '-mindepth', '1', '-printf', '%y %m %U:%G %s %T@ %l %p\n'], { cwd: root })
      .toString()
      .split('\n')
      .filter(Boolean)
      .map((l) => l.split(' '))
      .map(([y, m, o, s, t, ...rest]) => [y, m, o, y === 'd' ? '-' : s, Math.floor(Number(t)), ...rest].join(' '))
      .sort();
  assert.deepEqual(describe(path.join(dir, 'x')), describe(tree));
  const ino = (p: string) => fs.statSync(path.join(dir, 'x', p)).ino;
  assert.equal(ino('data/file'), ino('bin/a-hard'));
  assert.equal(ino('data/file'), ino('data/sub/hard'));
  assert.equal(fs.statSync(path.join(dir, 'x/data/blk')).rdev, fs.statSync(path.join(tree, 'data/blk')).rdev);
  assert.ok(fs.readFileSync(path.join(dir, 'x/data/big')).equals(fs.readFileSync(path.join(tree, 'data/big'))));
  const cap = sh('getfattr', ['--absolute-names', '-e', 'hex', '-d', '-m', '-', path.join(dir, 'x/data/cap2')]).toString();
  assert.match(cap, /security\.capability=0x0100000200200000000000000000000000000000/);
  assert.doesNotMatch(cap, /user\.other/);
});

test('entries: walk order, trailing slashes, moby header fields, PAX only where Go needs it', async () => {
  const tar = await collect(writeLayerTar(tree, { whiteouts: 'none' }));
  const entries = await listTar(tar);
  const names = entries.map((e) => e.header.nameBytes.toString('latin1'));
  // filepath.Walk: each directory's children byte-sorted, a directory before its contents
  assert.deepEqual(names.slice(0, 6), ['bin/', 'bin/a-hard', 'bin/longsym', 'bin/sym', 'data/', 'data/big']);
  assert.ok(names.includes(`deep/${'d'.repeat(120)}/`));
  assert.equal(names.length, new Set(names).size);
  assert.ok(tar.subarray(tar.length - 1024).equals(Buffer.alloc(1024)), 'ends with two zero blocks, no record padding');
  assert.equal(tar.length % 512, 0);

  const by = (n: string) => entries.find((e) => e.header.nameBytes.toString('latin1') === n)!;
  const d = by('data/');
  assert.equal(field(d, 100, 8), '0040755\0');
  assert.equal(field(d, 136, 12), '13727410000\0', 'mtime truncated to seconds: 1600000000');
  assert.ok(isPlainUstar(d), 'plain USTAR');
  assert.equal(d.header.uname, 'root');
  assert.equal(d.header.gname, 'root');
  assert.equal(field(d, 329, 16), '0000000\0' + '0000000\0');

  const first = by('bin/a-hard');
  assert.equal(first.header.type, '0');
  assert.equal(first.data.toString(), 'hello\n');
  for (const n of ['data/file', 'data/sub/hard']) {
    assert.equal(by(n).header.type, '1');
    assert.equal(by(n).header.linkname, 'bin/a-hard');
    assert.equal(by(n).header.size, 0);
    assert.equal(field(by(n), 100, 8), '0100644\0');
  }
  assert.equal(by('bin/sym').header.linkname, '../data/file');
  assert.equal(field(by('bin/sym'), 100, 8), '0120777\0');
  assert.equal(by('bin/longsym').header.linkname, 't'.repeat(150));
  assert.equal(paxHeaderName(by('bin/longsym')), 'bin/PaxHeaders.0/longsym', 'long linkname needs a PAX linkpath');
  assert.equal(field(by('data/fifo'), 100, 8), '0010640\0');
  assert.equal(by('data/fifo').header.type, '6');
  const nul = by('data/null');
  assert.deepEqual([nul.header.type, nul.header.devmajor, nul.header.devminor, field(nul, 100, 8)], ['3', 1, 3, '0020666\0']);
  const blk = by('data/blk');
  assert.deepEqual([blk.header.type, blk.header.devmajor, blk.header.devminor], ['4', 259, 70000]);
  assert.equal(field(by('data/suid'), 100, 8), '0104755\0');
  assert.equal(field(by('tmp/'), 100, 8), '0041777\0');
  assert.equal(field(by('sgid/'), 100, 8), '0042775\0');
  assert.equal(by('data/big').data.length, 3 * 1024 * 1024 + 17);
  assert.equal(by('data/empty').header.size, 0);

  const ids = by('data/ids');
  assert.deepEqual([ids.header.uid, ids.header.gid, ids.header.uname, ids.header.gname], [3_000_000, 3_000_001, '', '']);
  assert.ok(ids.header.pax.has('uid') && ids.header.pax.has('gid'));

  const latin = entries.find((e) => e.header.nameBytes.equals(Buffer.concat([Buffer.from('data/'), LATIN1])))!;
  assert.ok(latin, 'non-UTF-8 name kept byte for byte');
  assert.ok(latin.header.pax.get('path')!.equals(Buffer.concat([Buffer.from('data/'), LATIN1])));
  assert.equal(paxHeaderName(latin), 'data/PaxHeaders.0/caf.txt');
  const utf = entries.find((e) => e.header.name === 'data/café-ü.txt')!;
  assert.ok(utf.header.pax.has('path'), 'non-ASCII name: PAX path');

  const split = by(`deep/${'d'.repeat(120)}/${'x'.repeat(90)}`);
  assert.ok(isPlainUstar(split), 'long but splittable: USTAR prefix, no PAX');
  assert.equal(field(split, 345, 155).replace(/\0+$/, ''), `deep/${'d'.repeat(120)}`);
  const long = by(`deep/${'d'.repeat(120)}/${'y'.repeat(160)}`);
  assert.ok(long.header.pax.has('path'));

  // only security.capability, and v3 exported as v2
  assert.deepEqual([...by('data/cap2').header.xattrs.keys()], ['security.capability']);
  assert.ok(by('data/cap2').header.xattrs.get('security.capability')!.equals(CAP_V2));
  const v3 = by('data/cap3').header.xattrs.get('security.capability')!;
  assert.equal(v3.length, 20);
  assert.equal(v3[3], 2);
  assert.ok(v3.subarray(4).equals(CAP_V3.subarray(4, 20)));
  assert.ok(by('data/cap3').raw.includes(Buffer.from('SCHILY.xattr.security.capability=')));
  for (const e of entries) {
    assert.equal(e.header.atime, undefined);
    assert.equal(e.header.ctime, undefined);
    assert.equal(e.header.mtime.nsec, 0);
    assert.equal(e.header.mtime.sec, T);
    assert.equal(headerBlock(e).toString('latin1', 257, 265), 'ustar\x0000');
    assert.match(field(e, 148, 8), /^[0-7]{6}\0 $/);
  }
});

test('exportCapability: v3 → v2 (first 20 bytes), v2 and odd values unchanged', () => {
  const v2 = exportCapability(CAP_V3);
  assert.equal(v2.toString('hex'), '0100000200040000000000000000000000000000');
  assert.equal(CAP_V3[3], 3, 'input not modified');
  assert.ok(exportCapability(CAP_V2).equals(CAP_V2));
  assert.ok(exportCapability(Buffer.from([1, 2])).equals(Buffer.from([1, 2])));
});

test('sockets are skipped (Go: "sockets not supported"), with a notice', async () => {
  const root = path.join(tempDir(), 's');
  fs.mkdirSync(root);
  fs.writeFileSync(path.join(root, 'a'), 'a');
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(path.join(root, 'sock'), r));
  try {
    const skipped: string[] = [];
    const entries = await listTar(await collect(writeLayerTar(root, { onSkip: (p, why) => skipped.push(`${path.basename(p.toString())}: ${why}`) })));
    assert.deepEqual(entries.map((e) => e.header.name), ['a']);
    assert.deepEqual(skipped, ['sock: sockets not supported']);
  } finally {
    server.close();
  }
});

test('names: lookup follows Go os/user over passwd/group files; empty leaves them blank', async () => {
  const dir = tempDir();
  fs.writeFileSync(
    path.join(dir, 'passwd'),
    '# comment\n  \n+nis:x:5:5::/:/bin/sh\nshort:x:7:7\nalice:x:1000:1000:Alice:/home/alice:/bin/sh\nsecond:x:1000:1000::/:/bin/sh\n bob:x:1001:1001::/:/bin/sh \nbad:x:abc:1::/:\n',
  );
  fs.writeFileSync(path.join(dir, 'group'), 'wheel:x:10:alice\n-neg:x:11:\nstaff:x:50\nusers:*:100:\n');
  const r = nameResolver('lookup', { passwd: path.join(dir, 'passwd'), group: path.join(dir, 'group') });
  assert.deepEqual([r.uname(1000), r.uname(1001), r.uname(5), r.uname(7), r.uname(0)], ['alice', 'bob', '', '', '']);
  assert.deepEqual([r.gname(10), r.gname(11), r.gname(50), r.gname(100)], ['wheel', '', '', 'users']);
  const host = nameResolver('lookup');
  assert.equal(host.uname(0), 'root');
  const entries = await listTar(await collect(writeLayerTar(tree, { names: 'empty' })));
  for (const e of entries) assert.deepEqual([e.header.uname, e.header.gname], ['', '']);
});

test('overlay conversion: whiteouts sort by on-disk name, opaque marker follows its dir, exact fields', async () => {
  const root = path.join(tempDir(), 'up');
  fs.mkdirSync(path.join(root, 'bin'), { recursive: true });
  fs.mkdirSync(path.join(root, 'data'));
  fs.mkdirSync(path.join(root, 'deep/x'), { recursive: true });
  mknod(path.join(root, 'bin/cat'), c.S_IFCHR, 0, 0);
  fs.chownSync(path.join(root, 'bin/cat'), 123, 456);
  fs.writeFileSync(path.join(root, 'data/z'), 'z\n');
  fs.chmodSync(path.join(root, 'data'), 0o2750);
  lsetxattr(path.join(root, 'data'), 'trusted.overlay.opaque', 'y');
  lsetxattr(path.join(root, 'deep'), 'trusted.overlay.opaque', 'n'); // not exactly "y": not opaque
  mknod(path.join(root, 'fifo'), c.S_IFCHR, 0, 0);
  mknod(path.join(root, 'dev'), c.S_IFCHR | 0o600, 1, 5); // a real char device stays one
  sh('mkfifo', [path.join(root, 'fifo2')]);
  fs.writeFileSync(path.join(root, 'newfile'), '');
  fs.writeFileSync(path.join(root, '.a'), '');
  sh('find', [root, '-exec', 'touch', '-h', '-d', '@1600000000.5', '{}', '+']);

  const entries = await listTar(await collect(writeLayerTar(root)));
  assert.deepEqual(
    entries.map((e) => e.header.name),
    ['.a', 'bin/', 'bin/.wh.cat', 'data/', 'data/.wh..wh..opq', 'data/z', 'deep/', 'deep/x/', 'dev', '.wh.fifo', 'fifo2', 'newfile'],
  );
  const by = (n: string) => entries.find((e) => e.header.name === n)!;
  const wh = by('bin/.wh.cat');
  assert.equal(field(wh, 100, 8), '0000600\0', 'mode 0600 without type bits');
  assert.equal(field(wh, 156, 1), '0');
  assert.deepEqual([wh.header.uid, wh.header.gid, wh.header.mtime.sec], [123, 456, T]);
  assert.equal(field(wh, 329, 16), '0000000\0' + '0000000\0');
  const opq = by('data/.wh..wh..opq');
  assert.ok(isPlainUstar(opq), 'plain USTAR');
  assert.equal(field(opq, 100, 8), '0000750\0', "the dir's rwx bits only");
  assert.equal(field(opq, 136, 12), '00000000000\0', 'mtime 0');
  assert.deepEqual([opq.header.uname, opq.header.gname, opq.header.size, opq.header.type], ['root', 'root', 0, '0']);
  assert.equal(field(by('data/'), 100, 8), '0042750\0');
  assert.equal(by('dev').header.type, '3');
  assert.deepEqual([by('dev').header.devmajor, by('dev').header.devminor], [1, 5]);

  const plain = await listTar(await collect(writeLayerTar(root, { whiteouts: 'none' })));
  assert.deepEqual(
    plain.map((e) => e.header.name),
    ['.a', 'bin/', 'bin/cat', 'data/', 'data/z', 'deep/', 'deep/x/', 'dev', 'fifo', 'fifo2', 'newfile'],
  );
  assert.equal(plain.find((e) => e.header.name === 'fifo')!.header.type, '3');
});

test('kernel overlay upper dir: whiteouts share one inode, and a later one keeps the linkname moby gives it', async () => {
  const base = tempDir();
  const lower = path.join(base, 'lower');
  fs.mkdirSync(path.join(lower, 'd/sub'), { recursive: true });
  for (const f of ['a', 'b', 'c']) fs.writeFileSync(path.join(lower, f), f);
  fs.writeFileSync(path.join(lower, 'd/old'), 'old');
  fs.writeFileSync(path.join(lower, 'd/sub/older'), 'older');
  const m = mountOverlay(base, [lower]);
  try {
    fs.rmSync(path.join(m.merged, 'a'));
    fs.rmSync(path.join(m.merged, 'c'));
    fs.rmSync(path.join(m.merged, 'd'), { recursive: true });
    fs.mkdirSync(path.join(m.merged, 'd'));
    fs.writeFileSync(path.join(m.merged, 'd/new'), 'new');
  } finally {
    m.unmount();
  }
  const stA = fs.lstatSync(path.join(m.upper, 'a'));
  const stC = fs.lstatSync(path.join(m.upper, 'c'));
  assert.ok(stA.isCharacterDevice() && stA.rdev === 0);
  const shared = stA.ino === stC.ino;
  const entries = await listTar(await collect(writeLayerTar(m.upper)));
  assert.deepEqual(
    entries.map((e) => e.header.name),
    ['.wh.a', '.wh.c', 'd/', 'd/.wh..wh..opq', 'd/new'],
  );
  const a = entries[0]!;
  const cEntry = entries[1]!;
  assert.equal(a.header.linkname, '');
  // moby checks hardlinks before converting whiteouts: the second name of the shared whiteout
  // inode becomes a typeflag '0' entry that still carries linkname = the first one's device name.
  assert.equal(cEntry.header.type, '0');
  assert.equal(cEntry.header.linkname, shared ? 'a' : '');
  assert.equal(field(cEntry, 100, 8), '0000600\0');
  assert.ok(shared, `kernel ${sh('uname', ['-r']).toString().trim()} shares the whiteout inode`);
});

test('memory stays bounded and chunks are full-size for a big file', async () => {
  const root = path.join(tempDir(), 'big');
  fs.mkdirSync(root);
  const f = path.join(root, 'f');
  const fd = fs.openSync(f, 'w');
  for (let i = 0; i < 64; i++) fs.writeSync(fd, Buffer.alloc(1 << 20, i));
  fs.closeSync(fd);
  let n = 0;
  let total = 0;
  for await (const chunk of writeLayerTar(root, { chunkSize: 1 << 20 })) {
    if (n++ === 0) assert.equal(chunk.length, 1 << 20);
    total += chunk.length;
  }
  assert.equal(total, 512 + (64 << 20) + 1024);
});

test('stopping early closes the open file; a file that shrinks mid-read is an error, not a bad tar', async () => {
  const root = path.join(tempDir(), 'early');
  fs.mkdirSync(root);
  fs.writeFileSync(path.join(root, 'f'), Buffer.alloc(8192, 1));
  const fds = () => fs.readdirSync('/proc/self/fd').length;
  const before = fds();
  for await (const chunk of writeLayerTar(root, { chunkSize: 1024 })) {
    assert.equal(chunk.length, 1024);
    break;
  }
  assert.equal(fds(), before);
  const gen = writeLayerTar(root, { chunkSize: 1024 });
  await gen.next();
  fs.truncateSync(path.join(root, 'f'), 100);
  await assert.rejects(collect(gen), (e: Error & { code?: string }) => e.code === 'DIFF_FILE_CHANGED');
  assert.equal(fds(), before);
});

test('errors: a missing or non-directory root is a clear StrataError', async () => {
  await assert.rejects(collect(writeLayerTar('/nonexistent/strata')), (e: Error & { code?: string }) => e.code === 'DIFF_NO_SUCH_DIR');
  await assert.rejects(collect(writeLayerTar('/etc/hostname')), (e: Error & { code?: string }) => e.code === 'DIFF_NOT_A_DIR');
});
