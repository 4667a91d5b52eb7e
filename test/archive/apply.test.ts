/**
 * Fidelity of applyLayer against GNU tar: archives made by GNU tar (pax with xattrs, and gnu
 * format) with every file type, big owners, special modes, nanosecond mtimes, binary xattrs,
 * hardlinks, long and non-UTF-8 names, sparse files, whiteouts and opaque markers are applied by
 * strata and extracted by `tar --xattrs --xattrs-include='*' --numeric-owner -xpf`; the trees
 * must agree field by field, except that whiteout entries become 0:0 char devices (mode 0000)
 * and opaque markers the `trusted.overlay.opaque` xattr ('overlay'), or deletions ('delete').
 * Plus moby's own apply tests (TestApplyLayerWhiteouts, TestOverlayTarUntar, …) as behaviour.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { applyLayer, extractLayer, type ApplyOptions } from '../../src/archive/apply/index.js';
import { TarReader, END_OF_ARCHIVE } from '../../src/archive/tar/index.js';
import { StrataError } from '../../src/errors/index.js';
import { lsetxattr, lgetxattr, utimensat, AT_FDCWD, AT_SYMLINK_NOFOLLOW } from '../../src/sys/index.js';
import { sh, tempDir } from '../helpers/tmp.js';
import { diffSnapshots, snapshotTree, type SnapEntry, type Snapshot } from '../helpers/tree-snapshot.js';
import { dir, entry, file, hardlink, rawBlock, symlink, tar } from './hostile-tars.js';
import { directorySize } from '../../src/archive/size.js';

const CAP_V2 = Buffer.from('0100000200040000000000000000000000000000', 'hex'); // effective, CAP_NET_BIND_SERVICE
const BIN = Buffer.from([0x00, 0xff, 0xfe, 0x80, 0x0a, 0x00, 0x41]);

function nsTime(p: string | Buffer, sec: number, nsec: number): void {
  const t = BigInt(sec) * 1_000_000_000n + BigInt(nsec);
  utimensat(AT_FDCWD, p, t, t, AT_SYMLINK_NOFOLLOW);
}

/** Every kind of entry GNU tar can store, plus whiteout markers, with distinct ns mtimes. */
function makeTree(root: string, variant: 'upper' | 'lower' = 'upper'): void {
  const p = (rel: string) => path.join(root, rel);
  fs.mkdirSync(root, { recursive: true });
  const files: [string, string | Buffer, number, number?, number?][] = [];
  if (variant === 'lower') {
    fs.mkdirSync(p('wdir/sub'), { recursive: true });
    fs.writeFileSync(p('wdir/gone'), 'to be whited out\n');
    fs.writeFileSync(p('wdir/stays'), 'stays\n');
    fs.mkdirSync(p('opq/old/deeper'), { recursive: true });
    fs.writeFileSync(p('opq/old/deeper/f'), 'hidden by opaque\n');
    fs.writeFileSync(p('opq/oldfile'), 'hidden by opaque\n');
    fs.writeFileSync(p('topgone'), 'top\n');
    fs.mkdirSync(p('gonedir/x'), { recursive: true });
    fs.writeFileSync(p('gonedir/x/y'), 'y\n');
    fs.writeFileSync(p('replaced'), 'lower version\n');
    fs.writeFileSync(p('keep'), 'lower only\n');
    let i = 0;
    for (const rel of ['wdir/sub', 'wdir/gone', 'wdir/stays', 'opq/old/deeper/f', 'opq/oldfile', 'opq/old/deeper', 'opq/old', 'topgone', 'gonedir/x/y', 'gonedir/x', 'gonedir', 'replaced', 'keep', 'wdir', 'opq']) {
      nsTime(p(rel), 1500000000 + i, 111111111 * (i % 9));
      i++;
    }
    return;
  }
  fs.mkdirSync(p('d700'), { mode: 0o700 });
  fs.mkdirSync(p('sticky'));
  fs.mkdirSync(p('sgid'));
  fs.mkdirSync(p('sub/deeper'), { recursive: true });
  const long = 'L'.repeat(120);
  fs.mkdirSync(p(long));
  files.push(['f-empty', '', 0o644], ['f-small', 'hello\n', 0o640, 70000, 70001], ['f-big', Buffer.from(Uint8Array.from({ length: 3 << 20 }, (_, i) => (i * 7919) & 0xff)), 0o644]);
  files.push(['f-suid', '#!/bin/sh\n', 0o4755, 1000, 1000], ['f-sgid', 'g\n', 0o2711], ['f-huge-ids', 'ids\n', 0o600, 3000000, 3000001]);
  files.push([`${long}/${'n'.repeat(150)}`, 'long name\n', 0o644], ['sub/deeper/file', 'deep\n', 0o444]);
  files.push(['d700/inside', 'in 700\n', 0o600, 100000, 200000], ['f-666', 'umask must not mask this\n', 0o666]);
  // a root-owned file in a setgid directory of another group: its group must still be 0
  files.push(['sgid/inner', 'inner\n', 0o644, 0, 0]);
  for (const [rel, data, mode, uid, gid] of files) {
    fs.writeFileSync(p(rel), data);
    if (uid !== undefined) fs.chownSync(p(rel), uid, gid!);
    fs.chmodSync(p(rel), mode);
  }
  fs.writeFileSync(Buffer.from(p('bin-') + '\xff\xfe', 'latin1'), 'not utf-8\n');
  fs.chownSync(p('d700'), 100000, 200000);
  fs.chmodSync(p('sticky'), 0o1777);
  fs.chownSync(p('sgid'), 0, 4242);
  fs.chmodSync(p('sgid'), 0o2755);
  fs.linkSync(p('f-small'), p('hl1'));
  fs.linkSync(p('f-small'), p('sub/hl2'));
  fs.symlinkSync('f-small', p('sym-rel'));
  fs.symlinkSync('/etc/passwd', p('sym-abs'));
  fs.symlinkSync('nowhere', p('sym-dangling'));
  fs.symlinkSync('t'.repeat(200), p('sym-long'));
  fs.lchownSync(p('sym-rel'), 1234, 5678);
  sh('mknod', ['-m', '0620', p('chr'), 'c', '1', '3']);
  sh('mknod', ['-m', '0640', p('blk'), 'b', '8', '1']);
  sh('mkfifo', ['-m', '0600', p('fifo')]);
  // sparse: 8 MiB with data at 1 MiB and 5 MiB
  const fd = fs.openSync(p('sparse'), 'w');
  fs.writeSync(fd, Buffer.from('first region'), 0, 12, 1 << 20);
  fs.writeSync(fd, Buffer.from('second region'), 0, 13, 5 << 20);
  fs.ftruncateSync(fd, 8 << 20);
  fs.closeSync(fd);
  // xattrs (after chown: chown clears security.capability)
  lsetxattr(p('f-suid'), 'security.capability', CAP_V2);
  lsetxattr(p('f-small'), 'user.bin', BIN);
  lsetxattr(p('f-small'), 'trusted.bin', BIN);
  lsetxattr(p('sticky'), 'trusted.dirattr', Buffer.from('dir value'));
  lsetxattr(p('sym-abs'), 'trusted.onlink', Buffer.from('on the link'));
  // whiteouts, as Docker writes them: .wh.X regular 0600, .wh..wh..opq with the dir's mode
  fs.mkdirSync(p('wdir'), { mode: 0o755 });
  fs.writeFileSync(p('wdir/.wh.gone'), '', { mode: 0o600 });
  fs.chownSync(p('wdir/.wh.gone'), 1000, 1001);
  fs.mkdirSync(p('wdir/sub'), { mode: 0o750 });
  fs.writeFileSync(p('wdir/sub/.wh..wh..opq'), '', { mode: 0o750 });
  fs.mkdirSync(p('opq'), { mode: 0o711 });
  fs.writeFileSync(p('opq/.wh..wh..opq'), '', { mode: 0o711 });
  fs.writeFileSync(p('opq/new'), 'new in opaque dir\n');
  fs.writeFileSync(p('.wh.topgone'), '', { mode: 0o600 });
  fs.writeFileSync(p('.wh.gonedir'), '', { mode: 0o600 });
  fs.writeFileSync(p('replaced'), 'upper version\n');
  // distinct nanosecond mtimes everywhere (children before parents); names may not be UTF-8
  const all: Buffer[] = [];
  const walk = (full: Buffer) => {
    if (fs.lstatSync(full).isDirectory()) {
      for (const n of fs.readdirSync(full, { encoding: 'buffer' })) walk(Buffer.concat([full, Buffer.from('/'), n]));
    }
    all.push(full);
  };
  walk(Buffer.from(root));
  all.forEach((full, i) => nsTime(full, 1600000000 + i * 1000, 123456789 + i));
}

function gnuTar(src: string, out: string, format: 'pax' | 'gnu'): string {
  sh('tar', [`--format=${format}`, '--xattrs', '--xattrs-include=*', '--sparse', '--sort=name', '--numeric-owner', '-cf', out, '-C', src, '.']);
  return out;
}

function gnuExtract(tarFile: string, dest: string, extra: string[] = []): void {
  fs.mkdirSync(dest, { recursive: true });
  sh('tar', ['--xattrs', '--xattrs-include=*', '--numeric-owner', '-xpf', tarFile, '-C', dest, ...extra]);
}

function reader(tarFile: string): TarReader {
  return new TarReader(fs.createReadStream(tarFile, { highWaterMark: 1 << 20 }));
}

/** GNU tar's tree with whiteout files turned into what 'overlay' mode must produce. */
function overlayForm(snap: Snapshot): Snapshot {
  const out: Snapshot = new Map(snap);
  for (const [rel, e] of snap) {
    const slash = rel.lastIndexOf('/');
    const parent = slash < 0 ? '.' : rel.slice(0, slash);
    const base = rel.slice(slash + 1);
    if (base === '.wh..wh..opq') {
      out.delete(rel);
      const d = out.get(parent)!;
      out.set(parent, { ...d, xattrs: { ...d.xattrs, 'trusted.overlay.opaque': Buffer.from('y').toString('hex') } });
    } else if (base.startsWith('.wh.')) {
      out.delete(rel);
      const target = (slash < 0 ? '' : parent + '/') + base.slice(4);
      const wh: SnapEntry = { type: 'char', mode: 0, uid: e.uid, gid: e.gid, size: 0, nlink: 1, rdev: '0:0', mtimeNs: 'ignored', xattrs: {} };
      out.set(target, wh);
    }
  }
  return out;
}

/** directory.Size by an independent route: find + sort -u by inode. */
function findSize(dirPath: string): number {
  const out = sh('sh', ['-c', `find . ! -type d -printf '%i %s\\n' | sort -u -k1,1 | awk '{s+=$2} END {print s+0}'`], { cwd: dirPath });
  return Number(out.toString().trim());
}

const work = tempDir('strata-apply-');
const upperSrc = path.join(work, 'upper-src');
makeTree(upperSrc);
const lowerSrc = path.join(work, 'lower-src');
makeTree(lowerSrc, 'lower');
const paxTar = gnuTar(upperSrc, path.join(work, 'upper-pax.tar'), 'pax');
const gnuFmtTar = gnuTar(upperSrc, path.join(work, 'upper-gnu.tar'), 'gnu');
const lowerTar = gnuTar(lowerSrc, path.join(work, 'lower.tar'), 'pax');

for (const [label, tarFile] of [
  ['pax', paxTar],
  ['gnu', gnuFmtTar],
] as const) {
  test(`overlay mode reproduces GNU tar's extraction of a ${label}-format archive, whiteouts in overlay form`, async () => {
    const ref = path.join(work, `ref-${label}`);
    gnuExtract(tarFile, ref);
    const ours = path.join(work, `ours-overlay-${label}`);
    const result = await extractLayer(reader(tarFile), ours, { whiteouts: 'overlay' });
    const expected = overlayForm(snapshotTree(ref));
    const got = snapshotTree(ours);
    // moby's Unpack skips the "./" entry over an existing directory: the root keeps its own metadata.
    const diffs = diffSnapshots(expected, got, (rel, f) => rel === '.' || (f === 'mtimeNs' && expected.get(rel)?.mtimeNs === 'ignored'));
    assert.deepEqual(diffs, []);
    // spot checks that the comparison covers what it should
    const g = (rel: string) => got.get(rel)!;
    assert.equal(g('f-suid').mode, 0o4755);
    assert.equal(g('sticky').mode, 0o1777);
    assert.equal(g('f-huge-ids').uid, 3000000);
    assert.equal(g('wdir/gone').type, 'char');
    assert.equal(g('wdir/gone').uid, 1000);
    assert.equal(g('opq').xattrs['trusted.overlay.opaque'], '79');
    assert.equal(g('sub/hl2').linkClass, g('f-small').linkClass ?? 'f-small');
    assert.equal(g('sparse').size, 8 << 20);
    assert.equal(g('f-666').mode, 0o666);
    assert.equal(g('sgid').gid, 4242);
    assert.equal(g('sgid/inner').gid, 0);
    if (label === 'pax') {
      assert.equal(g('f-suid').xattrs['security.capability'], CAP_V2.toString('hex'));
      assert.equal(g('f-small').xattrs['user.bin'], BIN.toString('hex'));
      assert.notEqual(g('f-small').mtimeNs.slice(-9), '000000000');
    }
    // size: directory.Size, by the incremental count, a walk, and find(1)
    assert.equal(result.size, findSize(ours));
    assert.equal(result.size, await directorySize(ours));
    assert.deepEqual(result.warnings, []);
  });
}

test("delete mode on a lower tree reproduces GNU tar + moby's whiteout deletions", async () => {
  const refDir = path.join(work, 'ref-delete');
  gnuExtract(lowerTar, refDir);
  const ours = path.join(work, 'ours-delete');
  gnuExtract(lowerTar, ours);
  // Reference: apply the whiteouts the way UnpackLayer does (a whiteout removes its target; an
  // opaque marker, coming right after its directory, removes all the lower contents), then let
  // GNU tar extract the rest.
  const upperNames: string[] = [];
  for await (const e of reader(paxTar)) upperNames.push(e.header.nameBytes.toString('latin1').replace(/^\.\//, '').replace(/\/$/, ''));
  for (const n of upperNames) {
    const base = path.posix.basename(n);
    const parent = path.posix.dirname(n);
    if (base === '.wh..wh..opq') {
      const d = path.join(refDir, parent);
      if (fs.existsSync(d)) for (const c of fs.readdirSync(d)) fs.rmSync(path.join(d, c), { recursive: true, force: true });
    } else if (base.startsWith('.wh.')) fs.rmSync(path.join(refDir, parent, base.slice(4)), { recursive: true, force: true });
  }
  gnuExtract(paxTar, refDir, ['--exclude=.wh.*']);
  const result = await applyLayer(reader(paxTar), ours, { whiteouts: 'delete' });
  const upperDirs = new Set(upperNames.map((n) => (n === '.' || n === '' ? '.' : n)));
  const diffs = diffSnapshots(snapshotTree(refDir), snapshotTree(ours), (rel, f) => f === 'mtimeNs' && !upperDirs.has(rel) && fs.lstatSync(path.join(ours, rel)).isDirectory());
  assert.deepEqual(diffs, []);
  assert.equal(fs.existsSync(path.join(ours, 'topgone')), false);
  assert.equal(fs.existsSync(path.join(ours, 'gonedir')), false);
  assert.equal(fs.existsSync(path.join(ours, 'wdir/gone')), false);
  assert.deepEqual(fs.readdirSync(path.join(ours, 'opq')).sort(), ['new']);
  assert.equal(fs.readFileSync(path.join(ours, 'keep'), 'utf8'), 'lower only\n');
  let headerSum = 0;
  for await (const e of reader(paxTar)) headerSum += e.header.type === 'g' ? 0 : e.header.size;
  assert.equal(result.size, headerSum);
});

// ---- moby's behaviour, case by case ------------------------------------------------------------

async function applyBuf(buf: Buffer, target: string, opts: ApplyOptions) {
  return applyLayer(new TarReader([buf]), target, opts);
}

/** readDirContents of moby's diff_test.go: relative paths, dirs with a trailing '/'. */
function listing(root: string): string[] {
  const out: string[] = [];
  const walk = (rel: string) => {
    for (const n of fs.readdirSync(path.join(root, rel)).sort()) {
      const r = rel ? `${rel}/${n}` : n;
      if (fs.lstatSync(path.join(root, r)).isDirectory()) {
        out.push(r + '/');
        walk(r);
      } else out.push(r);
    }
  };
  walk('');
  return out;
}

/** makeTestLayer: files contain their own name; archive.Tar walks in lexical order. */
function testLayer(paths: string[]): Buffer {
  const sorted = [...paths].sort((a, b) => Buffer.compare(Buffer.from(a.replace(/\/$/, '')), Buffer.from(b.replace(/\/$/, ''))));
  return tar(...sorted.map((p) => (p.endsWith('/') ? dir(p) : file(p, p))));
}

test('TestApplyLayerWhiteouts (moby diff_test.go), delete mode', async () => {
  const wd = tempDir();
  const base = ['.baz', 'bar/', 'bar/bax', 'bar/bay/', 'baz', 'foo/', 'foo/.abc', 'foo/.bcd/', 'foo/.bcd/a', 'foo/cde/', 'foo/cde/def', 'foo/cde/efg', 'foo/fgh', 'foobar'];
  const cases: [string[], string[]][] = [
    [base, base],
    [
      ['.bay', '.wh.baz', 'foo/', 'foo/.bce', 'foo/.wh..wh..opq', 'foo/cde/', 'foo/cde/efg'],
      ['.bay', '.baz', 'bar/', 'bar/bax', 'bar/bay/', 'foo/', 'foo/.bce', 'foo/cde/', 'foo/cde/efg', 'foobar'],
    ],
    [
      ['.bay', '.wh..baz', '.wh.foobar', 'foo/', 'foo/.abc', 'foo/.wh.cde', 'bar/'],
      ['.bay', 'bar/', 'bar/bax', 'bar/bay/', 'foo/', 'foo/.abc', 'foo/.bce'],
    ],
    [
      ['.abc', '.wh..wh..opq', 'foobar'],
      ['.abc', 'foobar'],
    ],
  ];
  for (const [change, expected] of cases) {
    await applyBuf(testLayer(change), wd, { whiteouts: 'delete' });
    assert.deepEqual(listing(wd), expected, `after ${JSON.stringify(change)}`);
  }
});

test('TestOverlayTarUntar: opaque dirs and a whiteout, in overlay form', async () => {
  const t = tempDir();
  const buf = tar(
    dir('d1/', { mode: 0o700 }),
    file('d1/.wh..wh..opq', '', { mode: 0o700 }),
    file('d1/f1', 'x', { mode: 0o600 }),
    dir('d2/', { mode: 0o750 }),
    file('d2/.wh..wh..opq', '', { mode: 0o750 }),
    file('d2/f1', 'x', { mode: 0o660 }),
    dir('d3/', { mode: 0o700 }),
    file('d3/.wh.f1', '', { mode: 0o600 }),
  );
  await applyBuf(buf, t, { whiteouts: 'overlay' });
  const s = snapshotTree(t);
  assert.equal(s.get('d1')!.mode, 0o700);
  assert.equal(s.get('d2')!.mode, 0o750);
  assert.equal(s.get('d1/f1')!.mode, 0o600);
  assert.equal(s.get('d2/f1')!.mode, 0o660);
  assert.equal(s.get('d1')!.xattrs['trusted.overlay.opaque'], '79');
  assert.equal(s.get('d2')!.xattrs['trusted.overlay.opaque'], '79');
  assert.equal(s.get('d3')!.xattrs['trusted.overlay.opaque'], undefined);
  assert.deepEqual({ ...s.get('d3/f1')!, mtimeNs: '' }, { type: 'char', mode: 0, uid: 0, gid: 0, size: 0, nlink: 1, rdev: '0:0', mtimeNs: '', xattrs: {} });
  assert.equal(s.has('d1/.wh..wh..opq'), false);
  assert.equal(s.has('d3/.wh.f1'), false);
});

test('a whiteout with nothing to hide still yields a device; .wh..wh.plnk becomes a device named .wh.plnk', async () => {
  const t = tempDir();
  await applyBuf(tar(file('.wh.nothing', ''), dir('.wh..wh.plnk/'), file('.wh..wh.plnk/1234', 'aufs')), t, { whiteouts: 'overlay' });
  assert.ok(fs.lstatSync(path.join(t, 'nothing')).isCharacterDevice());
  assert.ok(fs.lstatSync(path.join(t, '.wh.plnk')).isCharacterDevice());
});

test('overlay whiteout over an entry of the same layer fails (mknod EEXIST)', async () => {
  const t = tempDir();
  const err = await applyBuf(tar(file('x'), file('.wh.x', '')), t, { whiteouts: 'overlay' }).catch((e: unknown) => e);
  assert.ok(err instanceof StrataError && err.code === 'ARCHIVE_IO' && /already exists \(EEXIST\)/.test(err.message), String(err));
});

test('missing parents: 0755 owned by root (overlay), 0600 (delete), both as moby', async () => {
  for (const [mode, perm] of [
    ['overlay', 0o755],
    ['delete', 0o600],
  ] as const) {
    const t = tempDir();
    await applyBuf(tar(file('a/b/c', 'x')), t, { whiteouts: mode });
    assert.equal(fs.statSync(path.join(t, 'a')).mode & 0o7777, perm, mode);
    assert.equal(fs.statSync(path.join(t, 'a/b')).mode & 0o7777, perm, mode);
    assert.equal(fs.readFileSync(path.join(t, 'a/b/c'), 'utf8'), 'x');
  }
});

test('PAX global headers are ignored and create no parent (TestXGlobalNoParent)', async () => {
  const t = tempDir();
  const g = Buffer.from('19 comment=global!\n');
  const global = Buffer.concat([rawBlock({ name: 'foo/bar/pax_global_header', type: 'g', size: g.length.toString(8).padStart(11, '0') + '\0' }), g, Buffer.alloc(512 - g.length)]);
  for (const mode of ['overlay', 'delete'] as const) {
    const tt = path.join(t, mode);
    fs.mkdirSync(tt);
    await applyBuf(Buffer.concat([global, file('x', 'y'), END_OF_ARCHIVE]), tt, { whiteouts: mode });
    assert.deepEqual(fs.readdirSync(tt), ['x']);
  }
});

test("typeflag '7' is a regular file; unknown types are refused", async () => {
  const t = tempDir();
  await applyBuf(tar(entry({ name: 'contig', type: '7', mode: 0o644 }, 'contiguous')), t, { whiteouts: 'overlay' });
  assert.equal(fs.readFileSync(path.join(t, 'contig'), 'utf8'), 'contiguous');
  const err = await applyBuf(tar(rawBlock({ name: 'v', type: 'V' })), tempDir(), { whiteouts: 'overlay' }).catch((e: unknown) => e);
  assert.ok(err instanceof StrataError);
  assert.equal(err.message, 'unhandled tar header type 86 for "v"');
});

test('directory times are set after their contents, in archive order', async () => {
  const t = tempDir();
  const mt = { sec: 1234567890, nsec: 987654321 };
  await applyBuf(tar(dir('d/', { mtime: mt, format: 'pax' }), file('d/a', 'a'), dir('d/e/', { mtime: mt, format: 'pax' }), file('d/e/b', 'b')), t, { whiteouts: 'overlay' });
  const want = 1234567890987654321n;
  assert.equal(fs.lstatSync(path.join(t, 'd'), { bigint: true }).mtimeNs, want);
  assert.equal(fs.lstatSync(path.join(t, 'd/e'), { bigint: true }).mtimeNs, want);
});

test('a symlink created earlier in the same tar is followed as a parent, within the root', async () => {
  const t = tempDir();
  await applyBuf(tar(dir('usr/'), dir('usr/lib/'), symlink('lib', 'usr/lib'), file('lib/libc.so', 'c'), symlink('abs', '/usr'), file('abs/lib/x', 'x')), t, { whiteouts: 'overlay' });
  assert.equal(fs.readFileSync(path.join(t, 'usr/lib/libc.so'), 'utf8'), 'c');
  assert.equal(fs.readFileSync(path.join(t, 'usr/lib/x'), 'utf8'), 'x');
  assert.ok(fs.lstatSync(path.join(t, 'lib')).isSymbolicLink());
});

test('hardlinks: same inode, and to a symlink itself', async () => {
  const t = tempDir();
  await applyBuf(tar(file('a', 'data'), hardlink('b', 'a'), symlink('s', 'a'), hardlink('hs', 's')), t, { whiteouts: 'overlay' });
  assert.equal(fs.statSync(path.join(t, 'a')).ino, fs.statSync(path.join(t, 'b')).ino);
  assert.equal(fs.lstatSync(path.join(t, 'hs')).ino, fs.lstatSync(path.join(t, 's')).ino);
  assert.ok(fs.lstatSync(path.join(t, 'hs')).isSymbolicLink());
});

test('delete mode: AUFS .wh..wh.plnk hardlinks become copies; other .wh..wh.* top-level entries are skipped', async () => {
  const t = tempDir();
  const buf = tar(dir('.wh..wh.plnk/'), file('.wh..wh.plnk/123.456', 'shared\n', { mode: 0o751, uid: 7, gid: 8 }), file('.wh..wh.aufs', 'meta'), hardlink('a', '.wh..wh.plnk/123.456'), hardlink('b', '.wh..wh.plnk/123.456'));
  const r = await applyBuf(buf, t, { whiteouts: 'delete' });
  assert.equal(fs.readFileSync(path.join(t, 'a'), 'utf8'), 'shared\n');
  const a = fs.lstatSync(path.join(t, 'a'));
  assert.equal(a.mode & 0o7777, 0o751);
  assert.equal(a.uid, 7);
  assert.notEqual(a.ino, fs.lstatSync(path.join(t, 'b')).ino);
  assert.equal(fs.existsSync(path.join(t, '.wh..wh.aufs')), false);
  assert.equal(r.size, 'shared\n'.length + 'meta'.length);
  const bad = await applyBuf(tar(hardlink('c', '.wh..wh.plnk/missing')), tempDir(), { whiteouts: 'delete' }).catch((e: unknown) => e);
  assert.ok(bad instanceof StrataError && bad.code === 'ARCHIVE_INVALID_AUFS_HARDLINK');
});

test('xattrs the filesystem refuses (user.* on a symlink: EPERM) become warnings', async () => {
  const t = tempDir();
  const warnings: string[] = [];
  const r = await applyBuf(tar(entry({ name: 'l', type: '2', mode: 0o777, linkname: 'x', xattrs: new Map([['user.a', Buffer.from('b')]]) })), t, {
    whiteouts: 'overlay',
    onWarning: (w) => warnings.push(w),
  });
  assert.equal(r.warnings.length, 1);
  assert.deepEqual(warnings, r.warnings);
  assert.match(r.warnings[0]!, /^ignored xattr user\.a on "l": operation not permitted \(EPERM\)$/);
});

test('size falls back to a directory walk when the target was not empty', async () => {
  const t = tempDir();
  fs.writeFileSync(path.join(t, 'pre'), '12345');
  const r = await applyBuf(tar(file('a', 'abc'), symlink('s', 'target')), t, { whiteouts: 'overlay' });
  assert.equal(r.size, 5 + 3 + 6);
  const t2 = tempDir();
  const r2 = await applyBuf(tar(file('a', 'abc'), hardlink('b', 'a'), symlink('s', 'target'), file('e', '')), t2, { whiteouts: 'overlay' });
  assert.equal(r2.size, 3 + 6);
  assert.equal(r2.size, await directorySize(t2));
});

test('noLchown keeps the applying user; rejectDuplicates:false replaces and merges', async () => {
  const t = tempDir();
  await applyBuf(tar(file('a', 'x', { uid: 4242, gid: 4343 })), t, { whiteouts: 'overlay', noLchown: true });
  assert.equal(fs.lstatSync(path.join(t, 'a')).uid, process.getuid!());
  const t2 = tempDir();
  await applyBuf(tar(dir('d/'), file('d/x', '1'), dir('d/', { mode: 0o700 }), file('f', 'old'), file('f', 'new')), t2, { whiteouts: 'overlay', rejectDuplicates: false });
  assert.equal(fs.readFileSync(path.join(t2, 'd/x'), 'utf8'), '1');
  assert.equal(fs.statSync(path.join(t2, 'd')).mode & 0o777, 0o700);
  assert.equal(fs.readFileSync(path.join(t2, 'f'), 'utf8'), 'new');
});

test('binary xattr values and non-UTF-8 names survive exactly', async () => {
  const t = tempDir();
  const name = Buffer.from([0x61, 0xff, 0x0a, 0x62]);
  await applyBuf(tar(entry({ name, type: '0', mode: 0o644, xattrs: new Map([['trusted.x', BIN]]) }, 'v')), t, { whiteouts: 'overlay' });
  const p = Buffer.concat([Buffer.from(t + '/'), name]);
  assert.equal(fs.readFileSync(p, 'utf8'), 'v');
  assert.deepEqual(lgetxattr(p, 'trusted.x'), BIN);
});
