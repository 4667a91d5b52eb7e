/**
 * The read side against the kernel: lookup through whiteouts, opaque dirs, xattr whiteouts,
 * redirects and a dir/file/dir stack; merged readdir (order, d_type, d_ino); st_ino/nlink rules;
 * private and escaped xattrs; statfs; and the errnos of failing lookups.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { assertSameState, same, twin, type Twin, type TwinSpec } from './twin.js';

const SPEC: TwinSpec = {
  lowers: [
    // l0: the top lower
    {
      'a.txt': 'top a',
      'gone.txt': { whiteout: true },
      'stack/x-top': 'l0',
      'opq': { dir: true, xattrs: { 'trusted.overlay.opaque': 'y' } },
      'opq/only-top': 't',
      'moved': { dir: true, xattrs: { 'trusted.overlay.redirect': 'orig' } },
      'moved/new-in-top': 'n',
      'abs/deep': { dir: true, xattrs: { 'trusted.overlay.redirect': '/far/away' } },
      'abs/deep/mine': 'm',
      'esc.txt': { file: 'e', xattrs: { 'trusted.overlay.overlay.foo': 'bar', 'user.plain': 'p', 'trusted.overlay.secret': 's' } },
      'xw': { dir: true, xattrs: { 'trusted.overlay.opaque': 'x' } },
      'xw/hidden': { xwhiteout: true },
      'xw/kept': 'k',
      'noxmark/ghost': { xwhiteout: true },
    },
    // l1: middle
    {
      'a.txt': 'middle a',
      'gone.txt': 'should be hidden',
      'stack': 'a file in the middle',
      'opq/below': 'hidden by opaque',
      'orig/from-orig': 'o',
      'moved/never': 'not merged: moved redirects to orig',
      'hl1': { file: 'hard', links: ['hl2'] },
      'sym': { symlink: 'a.txt' },
      'fifo': { fifo: true },
      'xw/hidden': 'lower data hidden by the xattr whiteout above',
      'xw/base': 'b',
      'empty': { dir: true },
    },
    // l2: the lowest
    {
      'stack/x-bottom': 'l2',
      'b.txt': 'bottom b',
      'far/away/old': 'from far',
      'deep/d1/d2/f': 'deep file',
      'mode.txt': { file: 'm', mode: 0o640, uid: 1, gid: 2 },
      'empty': { dir: true },
      'xw/base': 'bb',
    },
  ],
  upper: {
    'u.txt': 'upper',
    'a.txt': 'upper a',
    'ud': { dir: true },
    'ud/inner': 'i',
    'deep/d1/up': 'u',
    'b.txt': { whiteout: true },
    'stray': { dir: true, xattrs: { 'trusted.overlay.opaque': 'y' } },
    'stray/wh': { whiteout: true },
    'xu': { dir: true },
    'xu/xwh-upper': { xwhiteout: true },
  },
};

describe('ovl engine: read side vs the kernel', () => {
  let t: Twin;
  before(async () => {
    t = await twin(SPEC);
  });
  after(async () => {
    await t?.close();
  });

  it('the merged trees (types, modes, owners, inode classes, nlink, xattrs, contents, readdir order) are the same', async () => {
    await assertSameState(t, 'initial');
  });

  it('lookups: whiteouts, stray whiteouts, xattr whiteouts, non-dir below a dir, missing', async () => {
    for (const p of ['/gone.txt', '/b.txt', '/stray/wh', '/xw/hidden', '/noxmark/ghost', '/xu/xwh-upper', '/stack/x-bottom', '/nope', '/a.txt/x', '/opq/below', '/moved/never', '/abs/deep/old', '/deep/d1/d2/f']) {
      await same(t, `lstat ${p}`, (s) => s.lstat(p).then((st) => st.mode));
    }
  });

  it('reads, readlink, stat through a symlink, statfs', async () => {
    for (const p of ['/a.txt', '/moved/from-orig', '/abs/deep/old', '/xw/base', '/sym']) await same(t, `read ${p}`, (s) => s.readFile(p));
    await same(t, 'readlink', (s) => s.readlink('/sym'));
    await same(t, 'readlink of a file', (s) => s.readlink('/a.txt'));
    await same(t, 'stat through symlink', (s) => s.stat('/sym').then((st) => st.size));
    const k = await t.kernel.statfs();
    const e = await t.engine.statfs();
    assert.equal(e.type, k.type, 'statfs type');
    assert.equal(e.namelen, 255, 'namelen');
    assert.equal(e.blocks, k.blocks, 'statfs blocks are the upper fs numbers');
  });

  it('xattrs: private ones hidden, escaped ones unescaped', async () => {
    await same(t, 'list', (s) => s.listxattr('/esc.txt').then((l) => l.sort()));
    await same(t, 'get escaped', (s) => s.getxattr('/esc.txt', 'trusted.overlay.foo'));
    await same(t, 'get private', (s) => s.getxattr('/esc.txt', 'trusted.overlay.secret'));
    await same(t, 'get opaque of an opaque dir', (s) => s.getxattr('/opq', 'trusted.overlay.opaque'));
    await same(t, 'get missing', (s) => s.getxattr('/a.txt', 'user.none'));
  });

  it('no lower layer was touched by reading', async () => {
    await assertSameState(t, 'after reads');
  });
});
