/**
 * The graph-driver conformance suite, in the spirit of moby's daemon/graphdriver/graphtest: one
 * function that any driver's test file calls with a way to start that driver.
 *
 *   runConformance('vfs', (root) => openVfs(`${root}/vfs`, [], { sleepToNextSecond: false }));
 *   runConformance('overlay2', (root) => initOverlay2(`${root}/overlay2`, []), { deepLayers: 128 });
 *
 * The moby tests, as moby writes them (spec 10.2): CreateEmpty, CreateBase, CreateSnap,
 * DeepLayerRead(N), DiffApply(10 files), Changes (20 files, every third modified / added / deleted,
 * the exact list including the directory's Modify), plus DiffSize. Beyond moby: get/put
 * balance, missing layers, every file type and xattr kind surviving create-on-parent, a whole-tree
 * diff/applyDiff round trip and a parent-relative diff/applyDiff round trip (with deletions,
 * replaced directories, new hardlinks), OCI whiteouts applied across a stack of layers.
 *
 * Each check creates its own randomly named layers and removes them, so one driver instance
 * (started once, in `before`) serves the whole suite, as moby's shared graphtest driver does.
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { TarReader, TarType, encodeHeader, contentPadding, END_OF_ARCHIVE, type TarWriteHeader } from '../../src/archive/tar/index.js';
import type { Change } from '../../src/archive/diff/index.js';
import type { Driver } from '../../src/driver/driver.js';
import { AT_FDCWD, AT_SYMLINK_NOFOLLOW, lsetxattr, mknod, utimensat } from '../../src/sys/index.js';
import { tempDir } from '../helpers/tmp.js';
import { collect, listTar } from '../helpers/layertar.js';
import { diffSnapshots, snapshotTree, type SnapEntry, type Snapshot } from '../helpers/tree-snapshot.js';

/** The checks of the suite, by name (for `skip`). */
export type ConformanceCheck =
  | 'CreateEmpty'
  | 'CreateBase'
  | 'CreateSnap'
  | 'GetPut'
  | 'MissingLayers'
  | 'DeepLayerRead'
  | 'DiffApply'
  | 'Changes'
  | 'DiffSize'
  | 'FileTypesOnParent'
  | 'FileTypesWholeDiff'
  | 'FileTypesParentDiff'
  | 'WhiteoutsAcrossLayers';

export interface ConformanceOptions {
  /** Layers stacked in DeepLayerRead (moby: 128 for overlay2). Default 128. */
  deepLayers?: number;
  /** Files in DiffApply (moby's overlay2 test: 10). Default 10. */
  diffApplyFiles?: number;
  /** Checks to skip, each with the reason shown in the report. */
  skip?: Partial<Record<ConformanceCheck, string>>;
  /** The data root handed to `makeDriver`. Default: a fresh temp dir. */
  root?: () => string;
}

const rid = (): string => crypto.randomBytes(32).toString('hex');

/** Deterministic pseudo-random bytes (moby's randomContent: same size and seed, same bytes). */
export function randomContent(size: number, seed: number): Buffer {
  const out = Buffer.alloc(size);
  let block = Buffer.alloc(0);
  for (let i = 0, n = 0; i < size; i++) {
    if (i % 32 === 0) block = crypto.createHash('sha256').update(`${seed}:${n++}`).digest();
    out[i] = block[i % 32]!;
  }
  return out;
}

/** get, run `fn` on the directory, put (also when `fn` throws). */
async function withLayer<T>(d: Driver, id: string, fn: (dir: string) => T | Promise<T>): Promise<T> {
  const dir = await d.get(id);
  try {
    return await fn(dir);
  } finally {
    await d.put(id);
  }
}

/** Go's ioutil.WriteFile: create or truncate, mode (under the umask) only when created. */
function writeFile(p: string, data: Buffer | string, mode = 0o755): void {
  fs.writeFileSync(p, data, { mode });
}

function readDirNoLostFound(dir: string): string[] {
  return fs.readdirSync(dir).filter((n) => n !== 'lost+found');
}

function verifyFile(p: string, type: 'dir' | 'file', perm: number, uid: number, gid: number): void {
  const st = fs.statSync(p);
  assert.equal(type === 'dir' ? st.isDirectory() : st.isFile(), true, `${p}: type`);
  assert.equal((st.mode & 0o7777).toString(8), perm.toString(8), `${p}: mode`);
  assert.equal(st.uid, uid, `${p}: uid`);
  assert.equal(st.gid, gid, `${p}: gid`);
}

async function createBase(d: Driver, name: string): Promise<void> {
  const old = process.umask(0);
  try {
    await d.createReadWrite(name, '');
    await withLayer(d, name, (dir) => {
      const subdir = path.join(dir, 'a subdir');
      fs.mkdirSync(subdir, 0o1705);
      fs.lchownSync(subdir, 1, 2);
      writeFile(path.join(dir, 'a file'), 'Some data', 0o4222);
    });
  } finally {
    process.umask(old);
  }
}

async function verifyBase(d: Driver, name: string): Promise<void> {
  await withLayer(d, name, (dir) => {
    verifyFile(path.join(dir, 'a subdir'), 'dir', 0o1705, 1, 2);
    verifyFile(path.join(dir, 'a file'), 'file', 0o4222, 0, 0);
    assert.equal(readDirNoLostFound(dir).length, 2);
  });
}

async function addManyFiles(d: Driver, layer: string, count: number, seed: number): Promise<void> {
  await withLayer(d, layer, (root) => {
    for (let i = 0; i < count; i += 100) {
      const dir = path.join(root, `directory-${i}`);
      fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
      for (let j = 0; i + j < count && j < 100; j++) writeFile(path.join(dir, `file-${i + j}`), randomContent(64, seed + i + j));
    }
  });
}

async function checkManyFiles(d: Driver, layer: string, count: number, seed: number): Promise<void> {
  await withLayer(d, layer, (root) => {
    for (let i = 0; i < count; i += 100) {
      for (let j = 0; i + j < count && j < 100; j++) {
        const f = path.join(root, `directory-${i}`, `file-${i + j}`);
        assert.deepEqual(fs.readFileSync(f), randomContent(64, seed + i + j), f);
      }
    }
  });
}

async function changeManyFiles(d: Driver, layer: string, count: number, seed: number): Promise<Change[]> {
  return withLayer(d, layer, (root) => {
    const out: Change[] = [];
    for (let i = 0; i < count; i += 100) {
      const archiveRoot = `/directory-${i}`;
      fs.mkdirSync(path.join(root, archiveRoot), { recursive: true, mode: 0o755 });
      for (let j = 0; i + j < count && j < 100; j++) {
        if (j === 0) out.push({ path: archiveRoot, kind: 'C' });
        switch (j % 3) {
          case 0: {
            const p = `${archiveRoot}/file-${i + j}`;
            writeFile(path.join(root, p), randomContent(64, seed + i + j));
            out.push({ path: p, kind: 'C' });
            break;
          }
          case 1: {
            const p = `${archiveRoot}/file-${seed}-${i + j}`;
            writeFile(path.join(root, p), randomContent(64, seed + i + j));
            out.push({ path: p, kind: 'A' });
            break;
          }
          default: {
            const p = `${archiveRoot}/file-${i + j}`;
            fs.rmSync(path.join(root, p));
            out.push({ path: p, kind: 'D' });
          }
        }
      }
    }
    return out;
  });
}

const KIND_ORDER = { C: 0, A: 1, D: 2 } as const;
/** moby's checkChanges order: by path, then kind (Modify < Add < Delete). */
function sortForCheck(list: readonly Change[]): { path: string; kind: string }[] {
  return list
    .map((c) => ({ path: c.path, kind: c.kind }))
    .sort((a, b) => (a.path === b.path ? KIND_ORDER[a.kind] - KIND_ORDER[b.kind] : a.path < b.path ? -1 : 1));
}

async function addLayerFiles(d: Driver, layer: string, parent: string, i: number): Promise<void> {
  await withLayer(d, layer, (root) => {
    writeFile(path.join(root, 'top-id'), layer);
    const layerDir = path.join(root, `layer-${i}`);
    fs.mkdirSync(layerDir, { recursive: true, mode: 0o755 });
    writeFile(path.join(layerDir, 'layer-id'), layer);
    writeFile(path.join(layerDir, 'parent-id'), parent);
  });
}

async function removeAll(d: Driver, ids: string[]): Promise<void> {
  for (const id of ids.reverse()) await d.remove(id);
}

/** A 20-byte VFS_CAP_REVISION_2 security.capability value granting cap_net_raw (effective). */
export const CAP_NET_RAW = (() => {
  const b = Buffer.alloc(20);
  b.writeUInt32LE(0x02000001, 0);
  b.writeUInt32LE(1 << 13, 4);
  return b;
})();

const T0 = 1_700_000_000_123_456_789n;

/**
 * Fills `root` with every kind of entry a layer can hold: files (plain, empty, setuid, sparse,
 * with user./trusted./security.capability xattrs, a non-UTF-8 name), a hardlink pair across
 * directories, symlinks (relative, absolute, dangling), char and block devices, a FIFO,
 * directories with odd modes, owners and xattrs — all with fixed nanosecond times.
 */
export function populateAllTypes(root: string): void {
  const p = (...parts: string[]): string => path.join(root, ...parts);
  const old = process.umask(0);
  try {
    writeFile(p('file'), 'hello\n', 0o644);
    fs.lchownSync(p('file'), 1000, 1000);
    lsetxattr(p('file'), 'user.note', 'file-note');
    lsetxattr(p('file'), 'trusted.tag', Buffer.from([0, 1, 2, 255]));
    writeFile(p('caps'), '#!/bin/true\n', 0o755);
    lsetxattr(p('caps'), 'security.capability', CAP_NET_RAW);
    writeFile(p('empty'), '', 0o600);
    writeFile(p('setuid'), 'x', 0o4755);
    const fd = fs.openSync(p('sparse'), 'w', 0o644);
    fs.writeSync(fd, Buffer.from('head'), 0, 4, 0);
    fs.writeSync(fd, Buffer.from('tail'), 0, 4, 3 * 1024 * 1024);
    fs.closeSync(fd);
    fs.writeFileSync(Buffer.from(p('caf\xe9'), 'latin1'), 'latin1 name');
    fs.mkdirSync(p('sub'), 0o750);
    fs.lchownSync(p('sub'), 2, 3);
    lsetxattr(p('sub'), 'user.dir', 'd');
    lsetxattr(p('sub'), 'trusted.dirtag', 'dt');
    writeFile(p('hard-a'), 'linked content', 0o640);
    fs.linkSync(p('hard-a'), p('sub', 'hard-b'));
    fs.mkdirSync(p('tmp'), 0o1777);
    fs.mkdirSync(p('opq'), 0o755);
    writeFile(p('opq', 'a'), 'a', 0o644);
    writeFile(p('opq', 'b'), 'b', 0o644);
    fs.symlinkSync('file', p('link'));
    fs.symlinkSync('/etc/passwd', p('abs-link'));
    fs.symlinkSync('nowhere/at/all', p('dangling'));
    fs.lchownSync(p('dangling'), 7, 8);
    mknod(p('chr'), fs.constants.S_IFCHR | 0o666, 1, 3);
    mknod(p('blk'), fs.constants.S_IFBLK | 0o660, 7, 200);
    mknod(p('fifo'), fs.constants.S_IFIFO | 0o620);
  } finally {
    process.umask(old);
  }
  setTimes(root, T0);
}

/** Sets every entry's atime and mtime below `root` (children before their directory). */
function setTimes(root: string, t: bigint): void {
  const visit = (dir: Buffer): void => {
    for (const n of fs.readdirSync(dir, { encoding: 'buffer' })) {
      const c = Buffer.concat([dir, Buffer.from('/'), n]);
      if (fs.lstatSync(c).isDirectory()) visit(c);
      utimensat(AT_FDCWD, c, t, t, AT_SYMLINK_NOFOLLOW);
    }
  };
  visit(Buffer.from(root));
}

const sec = (ns: string): bigint => BigInt(ns) / 1_000_000_000n;

/** Snapshot without the root (a driver's root dir is its own, not the layer's content). */
const snap = (dir: string): Snapshot => snapshotTree(dir, { root: false });

function onlyCapability(x: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  if (x['security.capability'] !== undefined) out['security.capability'] = x['security.capability'];
  return out;
}

/**
 * Compares `actual` with `expected` after a trip through a tar: mtimes equal in whole seconds
 * (tars carry seconds), and for the entries in `fromTar` (null: all) only `security.capability`
 * is expected to survive among the xattrs (moby's tar writer carries no other).
 */
function assertSameAfterTar(actual: Snapshot, expected: Snapshot, fromTar: ((rel: string, e: SnapEntry) => boolean) | null): void {
  const exp: Snapshot = new Map();
  for (const [rel, e] of expected) {
    const copy = { ...e };
    if (fromTar === null || fromTar(rel, e)) copy.xattrs = onlyCapability(e.xattrs);
    exp.set(rel, copy);
  }
  const problems = diffSnapshots(actual, exp, (rel, field) => {
    if (field !== 'mtimeNs') return false;
    return sec(actual.get(rel)!.mtimeNs) === sec(exp.get(rel)!.mtimeNs);
  });
  assert.deepEqual(problems, []);
}

/** Runs the conformance suite against the driver `makeDriver` starts on a data root. */
export function runConformance(name: string, makeDriver: (root: string) => Promise<Driver>, opts: ConformanceOptions = {}): void {
  const deep = opts.deepLayers ?? 128;
  const fileCount = opts.diffApplyFiles ?? 10;
  const skip = (c: ConformanceCheck): { skip?: string } => (opts.skip?.[c] ? { skip: opts.skip[c] } : {});

  describe(`driver conformance: ${name}`, () => {
    let d: Driver;
    before(async () => {
      const root = opts.root ? opts.root() : tempDir(`strata-conf-${name}-`);
      d = await makeDriver(root);
    });
    after(async () => {
      await d?.cleanup();
    });

    it('CreateEmpty: an empty 0755 root-owned dir, then removed', skip('CreateEmpty'), async () => {
      await d.create('empty', '');
      assert.equal(await d.exists('empty'), true);
      const dir = await d.get('empty');
      verifyFile(dir, 'dir', 0o755, 0, 0);
      assert.deepEqual(readDirNoLostFound(dir), []);
      await d.put('empty');
      await d.remove('empty');
      assert.equal(await d.exists('empty'), false);
    });

    it('CreateBase: exact modes (sticky, setuid) and owners under umask 0', skip('CreateBase'), async () => {
      await createBase(d, 'Base');
      await verifyBase(d, 'Base');
      await d.remove('Base');
    });

    it('CreateSnap: a layer on Base sees the same tree', skip('CreateSnap'), async () => {
      await createBase(d, 'Base');
      await d.create('Snap', 'Base');
      await verifyBase(d, 'Snap');
      await d.remove('Snap');
      await d.remove('Base');
    });

    it('GetPut: a second get gives the same path; gets and puts balance', skip('GetPut'), async () => {
      const base = rid();
      const top = rid();
      await d.create(base, '');
      await withLayer(d, base, (dir) => writeFile(path.join(dir, 'f'), 'base'));
      await d.create(top, base);
      const p1 = await d.get(top);
      const p2 = await d.get(top);
      assert.equal(p1, p2);
      await d.put(top);
      assert.equal(fs.readFileSync(path.join(p2, 'f'), 'utf8'), 'base', 'still usable after one of two puts');
      await d.put(top);
      const p3 = await d.get(top);
      assert.equal(p3, p1);
      assert.equal(fs.readFileSync(path.join(p3, 'f'), 'utf8'), 'base');
      await d.put(top);
      assert.ok(Array.isArray(d.status()));
      assert.equal(typeof (await d.metadata(top)), 'object');
      await removeAll(d, [base, top]);
    });

    it('MissingLayers: get and create-on fail, exists is false, remove is quiet', skip('MissingLayers'), async () => {
      const missing = rid();
      assert.equal(await d.exists(missing), false);
      await assert.rejects(d.get(missing));
      await assert.rejects(d.create(rid(), missing));
      await d.remove(missing);
    });

    it(`DeepLayerRead: ${deep} stacked layers each see every layer below`, skip('DeepLayerRead'), async () => {
      const base = rid();
      await d.create(base, '');
      await withLayer(d, base, (dir) => writeFile(path.join(dir, 'testfile.txt'), 'test content'));
      const ids = [base];
      let last = base;
      for (let i = 1; i <= deep; i++) {
        const next = rid();
        await d.create(next, last);
        ids.push(next);
        await addLayerFiles(d, next, last, i);
        last = next;
      }
      await withLayer(d, last, (root) => {
        let expected = fs.readFileSync(path.join(root, 'top-id'), 'utf8');
        assert.equal(expected, last);
        for (let i = deep; i > 0; i--) {
          assert.equal(fs.readFileSync(path.join(root, `layer-${i}`, 'layer-id'), 'utf8'), expected, `layer-${i}`);
          expected = fs.readFileSync(path.join(root, `layer-${i}`, 'parent-id'), 'utf8');
        }
        assert.equal(expected, base);
        assert.equal(fs.readFileSync(path.join(root, 'testfile.txt'), 'utf8'), 'test content');
      });
      await removeAll(d, ids);
    });

    it(`DiffApply: diff(upper, base) applied on base reproduces upper (${fileCount} files)`, skip('DiffApply'), async () => {
      const base = rid();
      const upper = rid();
      const diff = rid();
      const deleteFile = 'file-remove.txt';
      const deleteFileContent = 'This file should get removed in upper!';
      const deleteDir = 'var/lib';
      await d.create(base, '');
      await addManyFiles(d, base, fileCount, 3);
      await withLayer(d, base, (root) => {
        writeFile(path.join(root, deleteFile), deleteFileContent);
        fs.mkdirSync(path.join(root, deleteDir), { recursive: true, mode: 0o755 });
      });
      await d.create(upper, base);
      await addManyFiles(d, upper, fileCount, 6);
      await withLayer(d, upper, (root) => {
        fs.rmSync(path.join(root, deleteFile), { recursive: true, force: true });
        fs.rmSync(path.join(root, deleteDir), { recursive: true, force: true });
      });
      const diffSize = await d.diffSize(upper, '');

      await d.create(diff, base);
      await checkManyFiles(d, diff, fileCount, 3);
      await withLayer(d, diff, (root) => assert.equal(fs.readFileSync(path.join(root, deleteFile), 'utf8'), deleteFileContent));

      const tar = await collect(d.diff(upper, base));
      const applied = await d.applyDiff(diff, base, new TarReader([tar]));
      assert.equal(applied, diffSize, 'applyDiff size equals diffSize(upper, "")');

      await checkManyFiles(d, diff, fileCount, 6);
      await withLayer(d, diff, (root) => {
        assert.equal(fs.existsSync(path.join(root, deleteFile)), false, 'removed file is gone');
        assert.equal(fs.existsSync(path.join(root, deleteDir)), false, 'removed dir is gone');
      });
      await removeAll(d, [base, upper, diff]);
    });

    it('Changes: 20 files, every third modified / added / deleted, exact list', skip('Changes'), async () => {
      const base = rid();
      const upper = rid();
      await d.create(base, '');
      await addManyFiles(d, base, 20, 3);
      await d.create(upper, base);
      const expected = await changeManyFiles(d, upper, 20, 6);
      const actual = await d.changes(upper, base);
      assert.deepEqual(sortForCheck(actual), sortForCheck(expected));
      await removeAll(d, [base, upper]);
    });

    it('DiffSize: the bytes of the added and modified files', skip('DiffSize'), async () => {
      const base = rid();
      const upper = rid();
      await d.create(base, '');
      await addManyFiles(d, base, 20, 3);
      await d.create(upper, base);
      const expected = await changeManyFiles(d, upper, 20, 6);
      const files = expected.filter((c) => c.kind !== 'D' && c.path.includes('/file-')).length;
      assert.equal(await d.diffSize(upper, base), files * 64);
      // Against nothing: every file of the layer.
      assert.equal(await d.diffSize(base, ''), 20 * 64);
      await removeAll(d, [base, upper]);
    });

    it('FileTypesOnParent: every type, owner, mode, ns time, xattr and hardlink survives create-on-parent', skip('FileTypesOnParent'), async () => {
      const base = rid();
      const child = rid();
      const grandchild = rid();
      await d.create(base, '');
      const want = await withLayer(d, base, (dir) => {
        populateAllTypes(dir);
        return snap(dir);
      });
      await d.create(child, base);
      await d.createReadWrite(grandchild, child);
      for (const id of [child, grandchild]) {
        await withLayer(d, id, (dir) => assert.deepEqual(diffSnapshots(snap(dir), want), [], id === child ? 'child' : 'grandchild'));
      }
      await removeAll(d, [base, child, grandchild]);
    });

    it('FileTypesWholeDiff: diff(id, "") applied to an empty layer reproduces it', skip('FileTypesWholeDiff'), async () => {
      const base = rid();
      const copy = rid();
      await d.create(base, '');
      const want = await withLayer(d, base, (dir) => {
        populateAllTypes(dir);
        return snap(dir);
      });
      const tar = await collect(d.diff(base, ''));
      const entries = await listTar(tar);
      const names = entries.map((e) => e.header.name);
      assert.ok(names.includes('hard-a') && names.includes('sub/hard-b'));
      const links = entries.filter((e) => e.header.type === TarType.Link);
      assert.equal(links.length, 1, 'the hardlink pair is one file and one link entry');
      await d.create(copy, '');
      await d.applyDiff(copy, '', new TarReader([tar]));
      await withLayer(d, copy, (dir) => assertSameAfterTar(snap(dir), want, null));
      await removeAll(d, [base, copy]);
    });

    it('FileTypesParentDiff: diff(child, parent) applied on parent reproduces the child', skip('FileTypesParentDiff'), async () => {
      const base = rid();
      const child = rid();
      const applied = rid();
      await d.create(base, '');
      await withLayer(d, base, (dir) => populateAllTypes(dir));
      await d.createReadWrite(child, base);
      const want = await withLayer(d, child, (dir) => {
        const p = (...parts: string[]): string => path.join(dir, ...parts);
        const old = process.umask(0);
        try {
          fs.rmSync(p('file')); // a deleted file: whiteout
          fs.rmSync(p('sub'), { recursive: true }); // a deleted dir (holding one name of a hardlink)
          fs.rmSync(p('opq'), { recursive: true }); // a replaced dir
          fs.mkdirSync(p('opq'), 0o755);
          writeFile(p('opq', 'c'), 'c', 0o644);
          writeFile(p('empty'), 'now with content', 0o600); // modified content
          fs.chmodSync(p('chr'), 0o600); // modified mode
          fs.lchownSync(p('fifo'), 5, 5); // modified owner
          fs.rmSync(p('link'));
          fs.mkdirSync(p('link'), 0o711); // a symlink replaced by a dir
          writeFile(p('link', 'inside'), 'in', 0o644);
          writeFile(p('tmp', 'new'), 'new in sticky dir', 0o644);
          writeFile(p('n1'), 'new linked', 0o644);
          fs.linkSync(p('n1'), p('tmp', 'n2')); // a new hardlink pair
          lsetxattr(p('n1'), 'security.capability', CAP_NET_RAW);
          mknod(p('newfifo'), fs.constants.S_IFIFO | 0o644);
          mknod(p('newchr'), fs.constants.S_IFCHR | 0o640, 10, 200);
          fs.symlinkSync('../n1', p('tmp', 'rel'));
        } finally {
          process.umask(old);
        }
        return snap(dir);
      });
      const changed = new Set((await d.changes(child, base)).map((c) => c.path.slice(1)));
      for (const p of ['file', 'sub', 'opq', 'opq/c', 'empty', 'chr', 'fifo', 'link', 'tmp/new', 'n1', 'tmp/n2', 'newfifo']) {
        assert.ok(changed.has(p), `changes lists ${p}`);
      }
      assert.equal(changed.has('caps'), false, 'an untouched file is not a change');
      const tar = await collect(d.diff(child, base));
      const names = (await listTar(tar)).map((e) => e.header.name);
      assert.ok(names.includes('.wh.file') && names.includes('.wh.sub'), `whiteouts in ${names.join(' ')}`);
      assert.ok(!names.includes('caps') && !names.includes('blk'), 'unchanged entries stay out');

      await d.create(applied, base);
      await d.applyDiff(applied, base, new TarReader([tar]));
      await withLayer(d, applied, (dir) =>
        assertSameAfterTar(snap(dir), want, (rel, e) => e.type !== 'dir' && changed.has(rel)),
      );
      await removeAll(d, [base, child, applied]);
    });

    it('WhiteoutsAcrossLayers: OCI whiteouts and opaque markers hide lower entries in every layer above', skip('WhiteoutsAcrossLayers'), async () => {
      const l1 = rid();
      const l2 = rid();
      const l3 = rid();
      await d.create(l1, '');
      await d.applyDiff(l1, '', new TarReader([makeTar([dir('a/'), file('a/x', 'x'), file('a/y', 'y'), dir('b/'), file('b/z', 'z'), dir('b/deep/'), file('b/deep/q', 'q'), file('c', 'c'), dir('e/'), file('e/f', 'f')])]));
      await d.create(l2, l1);
      await d.applyDiff(l2, l1, new TarReader([makeTar([dir('a/'), file('a/.wh.x', ''), dir('b/'), file('b/.wh..wh..opq', ''), file('b/new', 'new'), file('.wh.c', ''), file('.wh.e', '')])]));
      await d.create(l3, l2);
      const view = (root: string): string[] => {
        const out: string[] = [];
        const walk = (rel: string): void => {
          for (const n of fs.readdirSync(path.join(root, rel)).sort()) {
            const r = rel ? `${rel}/${n}` : n;
            out.push(r);
            if (fs.lstatSync(path.join(root, r)).isDirectory()) walk(r);
          }
        };
        walk('');
        return out.filter((n) => n !== 'lost+found');
      };
      const expected = ['a', 'a/y', 'b', 'b/new'];
      for (const id of [l2, l3]) await withLayer(d, id, (root) => assert.deepEqual(view(root), expected));
      await withLayer(d, l1, (root) => assert.deepEqual(view(root), ['a', 'a/x', 'a/y', 'b', 'b/deep', 'b/deep/q', 'b/z', 'c', 'e', 'e/f']));
      // A layer above brings deleted names back.
      await d.applyDiff(l3, l2, new TarReader([makeTar([file('c', 'again'), dir('b/'), file('b/z', 'z2')])]));
      await withLayer(d, l3, (root) => {
        assert.deepEqual(view(root), ['a', 'a/y', 'b', 'b/new', 'b/z', 'c']);
        assert.equal(fs.readFileSync(path.join(root, 'b/z'), 'utf8'), 'z2');
      });
      const ch = (await d.changes(l2, l1)).map((c) => `${c.kind} ${c.path}`);
      for (const line of ['D /a/x', 'D /b/z', 'D /b/deep', 'A /b/new', 'D /c', 'D /e']) assert.ok(ch.includes(line), `${line} in ${ch.join(', ')}`);
      await removeAll(d, [l1, l2, l3]);
    });
  });
}

const MT = 1_600_000_000;
function dir(name: string): TarWriteHeader {
  return { name, type: TarType.Dir, mode: 0o40755, mtime: MT };
}
function file(name: string, content: string): TarWriteHeader & { content: Buffer } {
  return { name, type: TarType.Reg, mode: 0o100644, mtime: MT, size: Buffer.byteLength(content), content: Buffer.from(content) };
}

/** A tar of the given entries (files carry `content`). */
export function makeTar(entries: (TarWriteHeader & { content?: Buffer })[]): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    const { content, ...h } = e;
    parts.push(encodeHeader({ ...h, size: content?.length ?? 0 }));
    if (content && content.length) parts.push(content, contentPadding(content.length));
  }
  parts.push(END_OF_ARCHIVE);
  return Buffer.concat(parts);
}
