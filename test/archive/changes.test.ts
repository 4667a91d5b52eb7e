/**
 * changes / changesSize / exportChanges: moby's own pkg/archive tests ported (TestChangesDirsEmpty,
 * TestChangesDirsMutated, TestChangesSize*, TestHardLinkOrder, TestChangeString), plus the kernel
 * overlay as the producer of real container changes, and GNU tar as the reader of the export.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { changes, changesSize, exportChanges, formatChange, sortChanges, type Change } from '../../src/archive/diff/index.js';
import { lsetxattr } from '../../src/sys/index.js';
import { tempDir, sh } from '../helpers/tmp.js';
import { collect, listTar, field, isPlainUstar, mountOverlay } from '../helpers/layertar.js';
import { directorySize } from '../../src/archive/size.js';

const list = (cs: Change[]) => cs.map(formatChange);

/** moby's createSampleDir. */
function createSampleDir(root: string): void {
  fs.mkdirSync(root, { recursive: true });
  const files: [string, string, string, number][] = [
    ['f', 'file1', 'file1\n', 0o600],
    ['f', 'file2', 'file2\n', 0o666],
    ['f', 'file3', 'file3\n', 0o404],
    ['f', 'file4', 'file4\n', 0o600],
    ['f', 'file5', 'file5\n', 0o600],
    ['f', 'file6', 'file6\n', 0o600],
    ['f', 'file7', 'file7\n', 0o600],
    ['d', 'dir1', '', 0o740],
    ['f', 'dir1/file1-1', 'file1-1\n', 0o1444],
    ['f', 'dir1/file1-2', 'file1-2\n', 0o666],
    ['d', 'dir2', '', 0o700],
    ['f', 'dir2/file2-1', 'file2-1\n', 0o666],
    ['f', 'dir2/file2-2', 'file2-2\n', 0o666],
    ['d', 'dir3', '', 0o700],
    ['f', 'dir3/file3-1', 'file3-1\n', 0o666],
    ['f', 'dir3/file3-2', 'file3-2\n', 0o666],
    ['d', 'dir4', '', 0o700],
    ['f', 'dir4/file3-1', 'file4-1\n', 0o666],
    ['f', 'dir4/file3-2', 'file4-2\n', 0o666],
    ['l', 'symlink1', 'target1', 0o666],
    ['l', 'symlink2', 'target2', 0o666],
    ['l', 'symlink3', root + '/file1', 0o666],
    ['l', 'symlink4', root + '/symlink3', 0o666],
    ['l', 'dirSymlink', root + '/dir1', 0o740],
  ];
  for (const [t, rel, content, mode] of files) {
    const p = path.join(root, rel);
    if (t === 'd') fs.mkdirSync(p, mode);
    else if (t === 'f') fs.writeFileSync(p, content, { mode });
    else fs.symlinkSync(content, p);
    if (t !== 'l') fs.chmodSync(p, mode);
  }
}

function copyDir(src: string, dst: string): void {
  sh('cp', ['-a', src, dst]);
}

test('TestChangesDirsEmpty: a copy has no changes', async () => {
  const src = path.join(tempDir(), 'src');
  createSampleDir(src);
  copyDir(src, src + '-copy');
  assert.deepEqual(await changes(src + '-copy', src), []);
});

test('TestChangesDirsMutated: the exact sorted list; a touched dir is not a change', async () => {
  const src = path.join(tempDir(), 'src');
  createSampleDir(src);
  const dst = src + '-copy';
  copyDir(src, dst);
  const p = (rel: string) => path.join(dst, rel);
  const later = new Date(Date.now() + 1000);
  fs.rmSync(p('file1'));
  fs.rmSync(p('dir1'), { recursive: true });
  fs.rmSync(p('symlink1'));
  fs.writeFileSync(p('file2'), 'fileNN\n', { mode: 0o777 });
  fs.rmSync(p('file3'));
  fs.writeFileSync(p('file3'), 'fileMM\n', { mode: 0o404 });
  fs.utimesSync(p('file4'), later, later);
  fs.rmSync(p('file5'));
  fs.mkdirSync(p('file5'), 0o666);
  fs.writeFileSync(p('filenew'), 'filenew\n', { mode: 0o777 });
  fs.mkdirSync(p('dirnew'), 0o766);
  fs.symlinkSync('targetnew', p('symlinknew'));
  fs.rmSync(p('symlink2'));
  fs.symlinkSync('target2change', p('symlink2'));
  fs.rmSync(p('dir2'), { recursive: true });
  fs.writeFileSync(p('dir2'), 'dir2\n', { mode: 0o777 });
  fs.utimesSync(p('dir3'), later, later);

  assert.deepEqual(list(await changes(dst, src)), [
    'D /dir1',
    'C /dir2',
    'A /dirnew',
    'D /file1',
    'C /file2',
    'C /file3',
    'C /file4',
    'C /file5',
    'A /filenew',
    'D /symlink1',
    'C /symlink2',
    'A /symlinknew',
  ]);
});

test('parent dirs get a Modify, added subtrees are all Adds, a deleted subtree is one Delete', async () => {
  const base = tempDir();
  const old = path.join(base, 'old');
  fs.mkdirSync(path.join(old, 'a/b/c'), { recursive: true });
  fs.mkdirSync(path.join(old, 'gone/deeper'), { recursive: true });
  fs.writeFileSync(path.join(old, 'gone/deeper/f'), 'f');
  fs.writeFileSync(path.join(old, 'a/b/c/f'), 'f');
  fs.writeFileSync(path.join(old, 'same'), 'same');
  copyDir(old, path.join(base, 'new'));
  const n = path.join(base, 'new');
  fs.writeFileSync(path.join(n, 'a/b/c/g'), 'g');
  fs.rmSync(path.join(n, 'gone'), { recursive: true });
  fs.mkdirSync(path.join(n, 'x/y'), { recursive: true });
  fs.writeFileSync(path.join(n, 'x/y/z'), 'z');
  assert.deepEqual(list(await changes(n, old)), ['C /a', 'C /a/b', 'C /a/b/c', 'A /a/b/c/g', 'D /gone', 'A /x', 'A /x/y', 'A /x/y/z']);
  // without an old tree everything is an Add
  assert.deepEqual(list(await changes(path.join(n, 'x'))), ['A /y', 'A /y/z']);
});

test('statDifferent: chmod, chown, size, capability; same-second mtime without ns is the same', async () => {
  const base = tempDir();
  const old = path.join(base, 'old');
  fs.mkdirSync(old);
  for (const f of ['chmod', 'chown', 'size', 'cap', 'sec', 'ns', 'dirmode']) {
    if (f === 'dirmode') fs.mkdirSync(path.join(old, f));
    else fs.writeFileSync(path.join(old, f), 'data');
  }
  sh('touch', ['-d', '@1600000000.25', path.join(old, 'sec'), path.join(old, 'ns')]);
  copyDir(old, path.join(base, 'new'));
  const n = (f: string) => path.join(base, 'new', f);
  fs.chmodSync(n('chmod'), 0o600);
  fs.chownSync(n('chown'), 1, 1);
  fs.truncateSync(n('size'), 2);
  sh('touch', ['-d', '@1600000000.5', n('size')]);
  sh('touch', ['-r', path.join(old, 'size'), n('size')]); // same mtime, different size
  lsetxattr(n('cap'), 'security.capability', Buffer.from('0100000200200000000000000000000000000000', 'hex'));
  sh('touch', ['-d', '@1600000000', n('sec')]); // whole second, no ns: "same time"
  sh('touch', ['-d', '@1600000000.75', n('ns')]); // both with ns and different: changed
  fs.chmodSync(n('dirmode'), 0o700);
  assert.deepEqual(list(await changes(path.join(base, 'new'), old)), ['C /cap', 'C /chmod', 'C /chown', 'C /dirmode', 'C /ns', 'C /size']);
});

test('non-UTF-8 names keep their bytes in pathBytes and sort by bytes', async () => {
  const base = tempDir();
  const n = path.join(base, 'n');
  fs.mkdirSync(n);
  const latin = Buffer.from('caf\xe9', 'latin1');
  fs.writeFileSync(Buffer.concat([Buffer.from(n + '/'), latin]), 'x');
  fs.writeFileSync(path.join(n, 'café'), 'y');
  fs.writeFileSync(path.join(n, 'cafe'), 'z');
  const cs = await changes(n);
  assert.deepEqual(
    cs.map((c) => c.pathBytes!.toString('hex')),
    [Buffer.from('/cafe'), Buffer.from('/café'), Buffer.concat([Buffer.from('/'), latin])].map((b) => b.toString('hex')),
  );
  assert.equal(cs[2]!.path, '/caf\ufffd');
});

test('TestChangeString and sortChanges', () => {
  assert.equal(formatChange({ path: '/bin', kind: 'C' }), 'C /bin');
  assert.equal(formatChange({ path: '/x', kind: 'A' }), 'A /x');
  assert.equal(formatChange({ path: '/y', kind: 'D' }), 'D /y');
  assert.deepEqual(
    sortChanges([{ path: '/b', kind: 'A' }, { path: '/a/b', kind: 'A' }, { path: '/a', kind: 'C' }, { path: '/a-', kind: 'D' }]).map((c) => c.path),
    ['/a', '/a-', '/a/b', '/b'],
  );
});

test('TestChangesSize*: adds and modifies summed, hardlinks once, deletes and dirs count 0', async () => {
  const base = tempDir();
  const old = path.join(base, 'old');
  fs.mkdirSync(old);
  fs.writeFileSync(path.join(old, 'file2'), 'old');
  fs.writeFileSync(path.join(old, 'gone'), 'gone gone');
  copyDir(old, path.join(base, 'new'));
  const n = path.join(base, 'new');
  fs.writeFileSync(path.join(n, 'file'), 'file'); // 4
  fs.writeFileSync(path.join(n, 'file2'), 'ab'); // 2
  fs.rmSync(path.join(n, 'gone'));
  fs.mkdirSync(path.join(n, 'dir'));
  const cs = await changes(n, old);
  assert.equal(changesSize(n, cs), 6);
  assert.equal(changesSize(n, [{ path: '/gone', kind: 'D' }]), 0);
  fs.writeFileSync(path.join(n, 'h1'), '123456');
  fs.linkSync(path.join(n, 'h1'), path.join(n, 'h2'));
  fs.symlinkSync('file2', path.join(n, 'sym')); // counts its target's length, 5
  assert.equal(changesSize(n, await changes(n, old)), 6 + 6 + 5);
});

test('directorySize: dirs and empty files 0, hardlinks once, symlinks their target length', () => {
  const root = path.join(tempDir(), 'd');
  fs.mkdirSync(path.join(root, 'sub'), { recursive: true });
  fs.writeFileSync(path.join(root, 'a'), '12345');
  fs.linkSync(path.join(root, 'a'), path.join(root, 'sub/a2'));
  fs.writeFileSync(path.join(root, 'empty'), '');
  fs.symlinkSync('target', path.join(root, 'sym'));
  assert.equal(directorySize(root), 5 + 6);
  assert.throws(() => directorySize(path.join(root, 'nope')), (e: Error & { code?: string }) => e.code === 'NO_SUCH_DIRECTORY');
});

test('TestHardLinkOrder: exportChanges sorts, so the first name in path order carries the data', async () => {
  const base = tempDir();
  const src = path.join(base, 'src');
  fs.mkdirSync(src);
  const names = ['file1.txt', 'file2.txt', 'file3.txt'];
  for (const n of names) fs.writeFileSync(path.join(src, n), "Hey y'all");
  const dest = path.join(base, 'dest');
  copyDir(src, dest);
  for (const n of names) for (let i = 0; i < 5; i++) fs.linkSync(path.join(dest, n), path.join(dest, `${n}.link${i}`));
  const cs = await changes(dest, src);
  assert.equal(cs.length, 15);
  const fwd = await listTar(await collect(exportChanges(dest, cs)));
  const rev = await listTar(await collect(exportChanges(dest, [...cs].reverse())));
  const key = (es: typeof fwd) => es.map((e) => [e.header.name, e.header.size, e.header.type, e.header.linkname].join(' '));
  assert.deepEqual(key(fwd), key(rev));
  assert.deepEqual(key(fwd).slice(0, 5), [
    'file1.txt.link0 9 0 ',
    'file1.txt.link1 0 1 file1.txt.link0',
    'file1.txt.link2 0 1 file1.txt.link0',
    'file1.txt.link3 0 1 file1.txt.link0',
    'file1.txt.link4 0 1 file1.txt.link0',
  ]);
});

test('exportChanges: Delete headers are zero-valued USTAR with a rounded "now"; GNU tar reads the stream', async () => {
  const base = tempDir();
  const old = path.join(base, 'old');
  fs.mkdirSync(path.join(old, 'etc'), { recursive: true });
  fs.writeFileSync(path.join(old, 'etc/gone'), 'x');
  fs.writeFileSync(path.join(old, 'top'), 'x');
  copyDir(old, path.join(base, 'new'));
  const n = path.join(base, 'new');
  fs.rmSync(path.join(n, 'etc/gone'));
  fs.rmSync(path.join(n, 'top'));
  fs.writeFileSync(path.join(n, 'etc/new'), 'new\n');
  const cs = await changes(n, old);
  assert.deepEqual(list(cs), ['C /etc', 'D /etc/gone', 'A /etc/new', 'D /top']);
  const tar = await collect(exportChanges(n, cs, { now: () => 1_700_000_000_600 }));
  const entries = await listTar(tar);
  assert.deepEqual(
    entries.map((e) => e.header.name),
    ['etc/', 'etc/.wh.gone', 'etc/new', '.wh.top'],
  );
  const wh = entries[1]!;
  assert.ok(isPlainUstar(wh));
  assert.equal(field(wh, 100, 8), '0000000\0');
  assert.equal(field(wh, 156, 1), '0');
  assert.equal(field(wh, 136, 12), (1_700_000_001).toString(8).padStart(11, '0') + '\0', 'rounded to the nearest second');
  assert.deepEqual([wh.header.uid, wh.header.gid, wh.header.uname, wh.header.gname], [0, 0, '', '']);
  assert.equal(entries[0]!.header.uname, 'root');
  const file = path.join(base, 'x.tar');
  fs.writeFileSync(file, tar);
  assert.deepEqual(sh('tar', ['-tf', file]).toString().trim().split('\n'), ['etc/', 'etc/.wh.gone', 'etc/new', '.wh.top']);
  const down = await listTar(await collect(exportChanges(n, cs, { now: () => 1_700_000_000_400 })));
  assert.equal(down[1]!.header.mtime.sec, 1_700_000_000);
});

test('a kernel overlay: changes(merged, lower) are what the container did; changesSize of them', async () => {
  const base = tempDir();
  const lower = path.join(base, 'lower');
  fs.mkdirSync(path.join(lower, 'etc'), { recursive: true });
  fs.mkdirSync(path.join(lower, 'opaque/sub'), { recursive: true });
  fs.writeFileSync(path.join(lower, 'etc/conf'), 'conf');
  fs.writeFileSync(path.join(lower, 'etc/keep'), 'keep');
  fs.writeFileSync(path.join(lower, 'opaque/sub/f'), 'f');
  fs.writeFileSync(path.join(lower, 'rm-me'), 'rm');
  const m = mountOverlay(base, [lower]);
  try {
    fs.appendFileSync(path.join(m.merged, 'etc/conf'), ' more');
    fs.rmSync(path.join(m.merged, 'rm-me'));
    fs.rmSync(path.join(m.merged, 'opaque'), { recursive: true });
    fs.mkdirSync(path.join(m.merged, 'opaque'));
    fs.writeFileSync(path.join(m.merged, 'opaque/again'), 'again');
    fs.writeFileSync(path.join(m.merged, 'added'), 'added');
    const cs = await changes(m.merged, lower);
    assert.deepEqual(list(cs), ['A /added', 'C /etc', 'C /etc/conf', 'C /opaque', 'A /opaque/again', 'D /opaque/sub', 'D /rm-me']);
    assert.equal(changesSize(m.merged, cs), 5 + 9 + 5);
  } finally {
    m.unmount();
  }
});
