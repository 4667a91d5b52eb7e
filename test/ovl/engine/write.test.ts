/**
 * The write side against the kernel: every change runs on the kernel overlay and on the engine
 * over identical layers; after each one the outcomes, the merged trees and the upper dirs on disk
 * must be the same (whiteouts and their link counts, opaque/impure/origin xattrs, kept times).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { RENAME_EXCHANGE, RENAME_NOREPLACE, RENAME_WHITEOUT } from '../../../src/ovl/index.js';
import { assertSameState, same, T0, twin, type Side, type Twin, type TwinSpec } from './twin.js';

const { O_RDWR, O_WRONLY, O_RDONLY, O_TRUNC, O_CREAT, O_EXCL, O_APPEND } = fs.constants;

/** security.capability v2 granting cap_net_raw, effective. */
const CAP_NET_RAW = Buffer.from('0100000200200000' + '00'.repeat(12), 'hex');

const SPEC: TwinSpec = {
  lowers: [
    {
      'f.txt': 'top file',
      'd/a': 'a in d',
      'd/sub/deep': 'deep',
      'x.txt': { file: 'xattrs', xattrs: { 'user.keep': 'v', 'trusted.overlay.overlay.esc': 'e' }, mode: 0o640, uid: 1, gid: 2 },
      'hl': { file: 'hard', links: ['hl-alias'] },
      'ping': { file: 'elf', mode: 0o755, uid: 1000, gid: 1000, xattrs: { 'security.capability': CAP_NET_RAW } },
      'sym': { symlink: 'f.txt' },
      'emptydir': { dir: true },
      'full/one': '1',
      'full/two': '2',
    },
    {
      'low.txt': 'lowest',
      'd/b': 'b in lower d',
      'full/three': '3',
      'e2': { dir: true },
      'pipe': { fifo: true },
      'null': { dev: [1, 3] },
    },
  ],
};

/** Runs `op` on both sides, then compares the whole state. */
async function step(t: Twin, what: string, op: (s: Side) => Promise<unknown>) {
  const r = await same(t, what, op);
  await assertSameState(t, what);
  return r;
}

describe('ovl engine: write side vs the kernel', () => {
  let t: Twin;
  before(async () => {
    t = await twin(SPEC);
  });
  after(async () => {
    await t?.close();
  });

  it('copy-up: open for write without writing, chmod/chown/utimes/truncate, parents keep their times', async () => {
    await step(t, 'open O_RDWR, no write', (s) => s.touchOpen('/f.txt', O_RDWR));
    await step(t, 'open O_RDONLY: no copy-up', (s) => s.touchOpen('/low.txt', O_RDONLY));
    await step(t, 'chmod in a lower dir', (s) => s.chmod('/d/a', 0o600));
    await step(t, 'chown deep', (s) => s.chown('/d/sub/deep', 5, 6));
    await step(t, 'utimes', (s) => s.utimes('/low.txt', T0 + 5n, T0 + 7n));
    await step(t, 'truncate', (s) => s.truncate('/d/b', 2));
    await step(t, 'O_TRUNC open', (s) => s.touchOpen('/full/one', O_WRONLY | O_TRUNC));
    await step(t, 'append', (s) => s.touchOpen('/full/two', O_WRONLY | O_APPEND, '+more'));
    await step(t, 'chmod a symlink target through it', (s) => s.chmod('/sym', 0o604));
    await step(t, 'lchown a symlink: the link itself is copied up', (s) => s.lchown('/sym', 3, 4));
    await step(t, 'utimes on a lower dir', (s) => s.utimes('/e2', T0 + 1n, T0 + 2n));
    await step(t, 'setxattr on a lower dir', (s) => s.setxattr('/d/sub', 'user.dir', Buffer.from('d')));
    // the copy is chowned before its xattrs are set: chown would drop the file capability
    await step(t, 'chmod a file with a capability, owned by someone else', (s) => s.chmod('/ping', 0o750));
  });

  it('copy-up of special files', async () => {
    await step(t, 'chmod a lower fifo', (s) => s.chmod('/pipe', 0o600));
    await step(t, 'chown a lower device', (s) => s.chown('/null', 7, 8));
    await step(t, 'user xattr on a fifo', (s) => s.setxattr('/pipe', 'user.x', Buffer.from('1')));
  });

  it('xattrs: set, escaped set, missing remove (no copy-up), real remove', async () => {
    await step(t, 'removexattr missing', (s) => s.removexattr('/full/three', 'user.none'));
    await step(t, 'setxattr user', (s) => s.setxattr('/x.txt', 'user.new', Buffer.from('n')));
    await step(t, 'setxattr trusted.overlay.*', (s) => s.setxattr('/x.txt', 'trusted.overlay.mine', Buffer.from('m')));
    await step(t, 'removexattr lower one', (s) => s.removexattr('/x.txt', 'user.keep'));
    await step(t, 'setxattr XATTR_CREATE on existing', (s) => s.setxattr('/x.txt', 'user.new', Buffer.from('z'), 1));
  });

  it('unlink, rmdir, mkdir and create over whiteouts, mknod, symlink', async () => {
    await step(t, 'unlink lower', (s) => s.unlink('/low.txt'));
    await step(t, 'unlink a dir', (s) => s.unlink('/d'));
    await step(t, 'rmdir non-empty merged', (s) => s.rmdir('/full'));
    await step(t, 'rmdir a file', (s) => s.rmdir('/f.txt'));
    await step(t, 'unlink full/one', (s) => s.unlink('/full/one'));
    await step(t, 'unlink full/two', (s) => s.unlink('/full/two'));
    await step(t, 'unlink full/three', (s) => s.unlink('/full/three'));
    await step(t, 'rmdir now-empty merged', (s) => s.rmdir('/full'));
    await step(t, 'mkdir over whiteout: opaque', (s) => s.mkdir('/full', 0o750));
    await step(t, 'file over whiteout', (s) => s.writeFile('/low.txt', 'again'));
    await step(t, 'unlink it again: whiteout', (s) => s.unlink('/low.txt'));
    await step(t, 'mknod 0:0', (s) => s.mknod('/wh', fs.constants.S_IFCHR, 0));
    await step(t, 'mkfifo', (s) => s.mknod('/fifo', fs.constants.S_IFIFO | 0o640, 0));
    await step(t, 'mknod a device', (s) => s.mknod('/dev1', fs.constants.S_IFCHR | 0o600, 0x0103));
    await step(t, 'symlink', (s) => s.symlink('../nowhere', '/d/link'));
    await step(t, 'mkdir existing', (s) => s.mkdir('/d'));
    await step(t, 'new file, O_EXCL on existing', (s) => s.touchOpen('/f.txt', O_WRONLY | O_CREAT | O_EXCL));
    await step(t, 'new file in a lower dir', (s) => s.touchOpen('/e2/new', O_WRONLY | O_CREAT, 'x'));
    await step(t, 'rmdir emptydir', (s) => s.rmdir('/emptydir'));
    await step(t, 'mkdir emptydir again', (s) => s.mkdir('/emptydir'));
    await step(t, 'rmdir pure upper', (s) => s.rmdir('/e2'));
    await step(t, 'unlink missing', (s) => s.unlink('/nothing'));
  });

  it('links: a dir is EPERM, a lower file and a lower hard link copy up first', async () => {
    await step(t, 'link a dir', (s) => s.link('/d', '/d2'));
    await step(t, 'link a lower file', (s) => s.link('/d/sub/deep', '/deep-link'));
    await step(t, 'link a lower hard link', (s) => s.link('/hl', '/hl-new'));
    await step(t, 'link over existing', (s) => s.link('/f.txt', '/sym'));
  });

  it('renames: files leave whiteouts, lower dirs are EXDEV, flags and errnos', async () => {
    await step(t, 'rename lower file', (s) => s.rename('/d/a', '/a-moved'));
    await step(t, 'rename lower dir', (s) => s.rename('/d/sub', '/sub'));
    await step(t, 'rename merged dir', (s) => s.rename('/d', '/d-moved'));
    await step(t, 'new pure upper dir', (s) => s.mkdir('/newdir'));
    await step(t, 'move pure upper dir in merged root', (s) => s.rename('/newdir', '/newdir2'));
    await step(t, 'NOREPLACE', (s) => s.rename('/f.txt', '/x.txt', RENAME_NOREPLACE));
    await step(t, 'EXCHANGE files', (s) => s.rename('/f.txt', '/hl-alias', RENAME_EXCHANGE));
    await step(t, 'EXCHANGE with a lower dir', (s) => s.rename('/f.txt', '/d', RENAME_EXCHANGE));
    await step(t, 'WHITEOUT', (s) => s.rename('/f.txt', '/f2.txt', RENAME_WHITEOUT));
    await step(t, 'dir into itself', (s) => s.rename('/newdir2', '/newdir2/inner'));
    await step(t, 'file over dir', (s) => s.rename('/f.txt', '/newdir2'));
    await step(t, 'dir over file', (s) => s.rename('/newdir2', '/f.txt'));
    await step(t, 'dir over non-empty dir', (s) => s.rename('/newdir2', '/d'));
    await step(t, 'missing source', (s) => s.rename('/nope', '/nope2'));
    await step(t, 'file over a whiteout', (s) => s.rename('/x.txt', '/low.txt'));
    await step(t, 'file onto its hard link', (s) => s.rename('/hl', '/hl-new'));
    await step(t, 'pure upper file renamed', (s) => s.rename('/fifo', '/fifo2'));
    await step(t, 'pure upper dir over an empty lower dir', (s) => s.rename('/newdir2', '/emptydir'));
  });

  it('an old read-only handle reads the data written after a copy-up (as the kernel)', async () => {
    const kfd = fs.openSync(t.kmerged + '/d/sub/deep', 'r');
    fs.writeFileSync(t.kmerged + '/d/sub/deep', 'NEWDATA');
    const kbuf = Buffer.alloc(16);
    const kn = fs.readSync(kfd, kbuf, 0, 16, 0);
    fs.closeSync(kfd);

    const ro = await t.ovl.open('/d/sub/deep', 'r');
    await t.ovl.writeFile('/d/sub/deep', 'NEWDATA');
    const buf = Buffer.alloc(16);
    const { bytesRead } = await ro.read(buf, 0, 16, 0);
    await ro.close();
    assert.equal(buf.subarray(0, bytesRead).toString(), kbuf.subarray(0, kn).toString(), 'the old handle reads what the kernel\'s does');
    assert.equal(buf.subarray(0, bytesRead).toString(), 'NEWDATA', 'the old handle follows the copy-up');
    await assertSameState(t, 'after the stale-handle write');
  });
});

describe('ovl engine: redirect_dir=on vs the kernel', () => {
  let t: Twin;
  const spec: TwinSpec = {
    lowers: [{ 'd1/sub/f': 'f', 'd1/g': 'g', 'd2/h': 'h', 'd3/i': 'i' }, { 'd1/low': 'l' }],
    redirectDir: 'on',
  };
  before(async () => {
    t = await twin(spec);
  });
  after(async () => {
    await t?.close();
  });

  it('lower dirs move with redirects (relative in the same parent, absolute elsewhere) and whiteouts', async () => {
    await step(t, 'rename in the same parent', (s) => s.rename('/d1', '/d1-moved'));
    await step(t, 'rename into another dir', (s) => s.rename('/d2', '/d3/d2-inside'));
    await step(t, 'child of a moved dir to the root', (s) => s.rename('/d1-moved/sub', '/subtop'));
    await step(t, 'rename it back', (s) => s.rename('/subtop', '/d1-moved/sub2'));
    await step(t, 'exchange dirs', (s) => s.rename('/d3', '/d1-moved', RENAME_EXCHANGE));
    await step(t, 'rmdir a redirected dir with content', (s) => s.rmdir('/d3/d2-inside'));
  });
});

describe('ovl engine: read-only overlay', () => {
  let t: Twin;
  before(async () => {
    t = await twin({ lowers: [{ a: 'a' }, { b: 'b', 'd/x': 'x' }], upper: null });
  });
  after(async () => {
    await t?.close();
  });

  it('every change is EROFS, reads work', async () => {
    await same(t, 'read', (s) => s.readFile('/b'));
    for (const [what, op] of [
      ['write', (s: Side) => s.writeFile('/a', 'x')],
      ['create', (s: Side) => s.writeFile('/new', 'x')],
      ['open rw', (s: Side) => s.touchOpen('/a', O_RDWR)],
      ['mkdir', (s: Side) => s.mkdir('/n')],
      ['unlink', (s: Side) => s.unlink('/a')],
      ['unlink missing', (s: Side) => s.unlink('/zz')],
      ['rmdir', (s: Side) => s.rmdir('/d')],
      ['rename', (s: Side) => s.rename('/a', '/c')],
      ['chmod', (s: Side) => s.chmod('/a', 0o600)],
      ['setxattr', (s: Side) => s.setxattr('/a', 'user.x', Buffer.from('1'))],
      ['symlink', (s: Side) => s.symlink('a', '/s')],
    ] as const) {
      await same(t, what, op);
    }
    await assertSameState(t, 'read-only');
  });
});

describe('ovl engine: rmdir of dirs holding xattr whiteouts', () => {
  let t: Twin;
  before(async () => {
    t = await twin({
      lowers: [
        {
          xw: { dir: true, xattrs: { 'trusted.overlay.opaque': 'x' } },
          'xw/hidden': { xwhiteout: true },
          'noxmark/ghost': { xwhiteout: true },
        },
        { 'xw/hidden': 'data', 'noxmark/ghost': 'data' },
      ],
    });
  });
  after(async () => {
    await t?.close();
  });

  it('does not count them as whiteouts (ENOTEMPTY), marked opaque=x or not', async () => {
    await step(t, 'rmdir x-marked', (s) => s.rmdir('/xw'));
    await step(t, 'rmdir unmarked', (s) => s.rmdir('/noxmark'));
  });
});
