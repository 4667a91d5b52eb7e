/**
 * OverlayFuseOps on its own (no mount): the node table and its lookup counts, handles, offsets,
 * and errors, driven the way the session drives it.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { openOverlayCore } from '../../../src/ovl/index.js';
import { OverlayFuseOps } from '../../../src/ovl/fuse/overlay-ops.js';
import { FUSE_ROOT_ID } from '../../../src/ovl/fuse/protocol.js';
import { errnoOf } from '../../../src/ovl/fuse/errors.js';
import { tempDir } from '../../helpers/tmp.js';
import { buildLayers } from './layers.js';

const ctx = { uid: 0, gid: 0, pid: 1 };
const { O_RDONLY, O_WRONLY, O_RDWR, O_APPEND, O_TRUNC } = fs.constants;

function setup() {
  const l = buildLayers(path.join(tempDir(), 'ops'));
  const core = openOverlayCore({ lowerdirs: [l.l1, l.l2], upperdir: l.upper, workdir: l.work });
  return { l, core, ops: new OverlayFuseOps(core) };
}

describe('OverlayFuseOps', () => {
  it('hands out one node ID per union dentry, counts lookups and never reuses an ID', () => {
    const { core, ops } = setup();
    assert.equal(ops.liveNodes, 1, 'only the root');
    const a1 = ops.lookup(ctx, FUSE_ROOT_ID, 'a.txt');
    const a2 = ops.lookup(ctx, FUSE_ROOT_ID, 'a.txt');
    assert.equal(a1.nodeid, a2.nodeid);
    assert.notEqual(a1.nodeid, FUSE_ROOT_ID);
    assert.equal(a1.attr.ino, core.getattr(core.lookup(core.root, 'a.txt')).ino, 'st_ino is the engine’s');
    assert.equal(ops.liveNodes, 2);
    ops.forget(a1.nodeid, 1);
    assert.equal(ops.liveNodes, 2, 'one lookup still held');
    ops.forget(a1.nodeid, 1);
    assert.equal(ops.liveNodes, 1, 'forgotten');
    assert.throws(() => ops.getattr(ctx, a1.nodeid, undefined), (e) => errnoOf(e) === -116, 'ESTALE for a forgotten ID');
    const again = ops.lookup(ctx, FUSE_ROOT_ID, 'a.txt');
    assert.ok(again.nodeid > a1.nodeid, 'a fresh ID');
    ops.forget(FUSE_ROOT_ID, 1);
    assert.equal(ops.getattr(ctx, FUSE_ROOT_ID, undefined).mode & 0o170000, 0o040000, 'the root is never forgotten');
    ops.destroy();
  });

  it('keeps a node’s ID across a rename, and errors carry the engine’s errno', () => {
    const { ops } = setup();
    const d = ops.lookup(ctx, FUSE_ROOT_ID, 'd');
    const f = ops.lookup(ctx, d.nodeid, 'f');
    ops.rename(ctx, d.nodeid, 'f', FUSE_ROOT_ID, 'f-moved', 0);
    assert.equal(ops.lookup(ctx, FUSE_ROOT_ID, 'f-moved').nodeid, f.nodeid);
    assert.throws(() => ops.lookup(ctx, d.nodeid, 'f'), (e) => errnoOf(e) === -2, 'ENOENT');
    assert.throws(() => ops.rename(ctx, FUSE_ROOT_ID, 'd', FUSE_ROOT_ID, 'd2', 0), (e) => errnoOf(e) === -18, 'EXDEV for a lower dir');
    assert.throws(() => ops.read(ctx, f.nodeid, 999, Buffer.alloc(4), 0), (e) => errnoOf(e) === -9, 'EBADF for an unknown handle');
    ops.destroy();
  });

  it('creates, writes, appends, truncates on open, and reads through handles', () => {
    const { l, ops } = setup();
    const { entry, opened } = ops.create(ctx, FUSE_ROOT_ID, 'n.txt', O_WRONLY, 0o640);
    assert.equal(entry.attr.mode, 0o100640);
    assert.equal(opened.keepCache, true, 'a file with one link keeps its pages');
    assert.equal(ops.write(ctx, entry.nodeid, opened.fh, Buffer.from('hello'), 0), 5);
    ops.release(ctx, entry.nodeid, opened.fh);
    const app = ops.open(ctx, entry.nodeid, O_WRONLY | O_APPEND);
    ops.write(ctx, entry.nodeid, app.fh, Buffer.from(' world'), 0); // position ignored: appends
    ops.release(ctx, entry.nodeid, app.fh);
    const r = ops.open(ctx, entry.nodeid, O_RDONLY);
    const buf = Buffer.alloc(64);
    assert.equal(buf.toString('utf8', 0, ops.read(ctx, entry.nodeid, r.fh, buf, 0)), 'hello world');
    ops.release(ctx, entry.nodeid, r.fh);
    assert.equal(fs.readFileSync(path.join(l.upper, 'n.txt'), 'utf8'), 'hello world');
    const lower = ops.lookup(ctx, FUSE_ROOT_ID, 'top.txt');
    const t = ops.open(ctx, lower.nodeid, O_RDWR | O_TRUNC);
    assert.equal(ops.getattr(ctx, lower.nodeid, t.fh).size, 0, 'O_TRUNC applied by open');
    ops.release(ctx, lower.nodeid, t.fh);
    assert.equal(fs.readFileSync(path.join(l.l1, 'top.txt'), 'utf8'), 'top layer\n', 'the lower file is untouched');
    const link = ops.link(ctx, entry.nodeid, FUSE_ROOT_ID, 'n-link');
    assert.equal(link.attr.nlink, 2);
    assert.equal(ops.open(ctx, entry.nodeid, O_RDONLY).keepCache, false, 'two links: pages may change through the other name');
    ops.destroy();
  });

  it('tells lower from upper, and changes attributes of a file unlinked while open', () => {
    const { l, core, ops } = setup();
    const a = core.lookup(core.root, 'a.txt');
    const reader = core.open(a, O_RDONLY);
    assert.equal(core.isUpper(a), false, 'a lower file');
    assert.equal(core.isUpper(reader), false, 'its read-only handle reads the lower file');
    core.open(a, O_RDWR).close();
    assert.equal(core.isUpper(a), true, 'copied up by the open for writing');
    assert.equal(core.isUpper(reader), true, 'the old handle follows the copy-up');
    assert.equal(ops.open(ctx, ops.lookup(ctx, FUSE_ROOT_ID, 'b.txt').nodeid, O_RDONLY).keepCache, true, 'a lower file keeps its pages');

    const { entry, opened } = ops.create(ctx, FUSE_ROOT_ID, 'gone.txt', O_RDWR, 0o644);
    ops.write(ctx, entry.nodeid, opened.fh, Buffer.from('some data'), 0);
    ops.unlink(ctx, FUSE_ROOT_ID, 'gone.txt');
    // ftruncate brings its handle; fchmod and futimens come without one
    assert.equal(ops.setattr(ctx, entry.nodeid, { size: 4 }, opened.fh).size, 4, 'ftruncate');
    const after = ops.setattr(ctx, entry.nodeid, { mode: 0o600, mtimeNs: 1_000_000_000_123_456_789n }, undefined);
    assert.equal(after.mode, 0o100600, 'fchmod on the unlinked file');
    assert.equal(after.mtimeNs, 1_000_000_000_123_456_789n, 'futimens with nanoseconds');
    assert.equal(ops.getattr(ctx, entry.nodeid, opened.fh).mode, 0o100600);
    assert.equal(fs.existsSync(path.join(l.upper, 'gone.txt')), false, 'nothing came back to the upper dir');
    assert.throws(() => ops.setattr(ctx, ops.lookup(ctx, FUSE_ROOT_ID, 'top.txt').nodeid + 1000, { mode: 0o600 }, undefined), (e) => errnoOf(e) === -116, 'ESTALE for an unknown node');
    reader.close();
    ops.destroy();
  });

  it('lists a merged directory from any offset it handed out, rewinding at 0, without OPENDIR', () => {
    const { ops } = setup();
    assert.equal((ops as { opendir?: unknown }).opendir, undefined, 'no opendir: the kernel opens directories without asking');
    const all = [...ops.readdir(ctx, FUSE_ROOT_ID, 0, 0)];
    // `.` and `..` included, at the positions the kernel's merge order gives them
    assert.deepEqual(all.map((e) => e.name).sort(), ['.', '..', 'a.txt', 'b.txt', 'd', 'empty', 'link', 'shadowed', 'top.txt']);
    const middle = all[3]!;
    assert.deepEqual([...ops.readdir(ctx, FUSE_ROOT_ID, 0, middle.next)].map((e) => e.name), all.slice(4).map((e) => e.name));
    ops.mkdir(ctx, FUSE_ROOT_ID, 'fresh', 0o755);
    assert.ok([...ops.readdir(ctx, FUSE_ROOT_ID, 0, 0)].some((e) => e.name === 'fresh'), 'offset 0 rewinds and sees the change');
    const end = all.length + 1;
    assert.deepEqual([...ops.readdir(ctx, FUSE_ROOT_ID, 0, end)], [], 'past the end: nothing (and the listing is let go)');
    assert.deepEqual([...ops.readdir(ctx, FUSE_ROOT_ID, 0, middle.next)].map((e) => e.name).length, end - middle.next, 'a later offset rebuilds it (with the new entry)');
    ops.destroy();
  });
});
