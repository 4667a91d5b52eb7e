/**
 * Hand-written regressions: small fixtures and operation scripts for the rules that random
 * operations hit only now and then (spec §1): a read-only fd that must see a later copy-up's data,
 * rmdir+mkdir making an opaque dir, lower dir renames with and without redirects, xattr escaping,
 * ENODATA without copy-up, broken lower hardlinks, whiteouts over files, errno rules, and names
 * that are not UTF-8 (paths are byte strings, bytes.ts).
 */
import { NAME_FF_FE, NAME_LATIN1, NAME_UTF8, type FixtureDesc, type FixtureEntry } from './fixture.js';
import type { Op } from './ops.js';

export interface Scenario {
  name: string;
  fixture: FixtureDesc;
  ops: Op[];
}

const T = '1000000000000000000';
const dir = (path: string, extra: Partial<FixtureEntry> = {}): FixtureEntry => ({ path, kind: 'dir', mode: 0o755, uid: 0, gid: 0, mtimeNs: T, ...extra });
const file = (path: string, size: number, extra: Partial<FixtureEntry> = {}): FixtureEntry => ({ path, kind: 'file', mode: 0o644, uid: 0, gid: 0, mtimeNs: T, size, contentSeed: size * 7 + path.length, ...extra });
const symlink = (path: string, target: string): FixtureEntry => ({ path, kind: 'symlink', mode: 0o777, uid: 0, gid: 0, mtimeNs: T, target });
const fixture = (lowers: FixtureEntry[][], upper: FixtureEntry[] = []): FixtureDesc => ({ seed: 0, lowers, upper });

export const SCENARIOS: Scenario[] = [
  {
    name: 'a read-only fd opened before a copy-up reads the new data',
    fixture: fixture([[file('f', 100_000)]]),
    ops: [
      { op: 'open', path: '/f', flags: ['RDONLY'], mode: 0, h: 1 },
      { op: 'read', h: 1, len: 10, pos: 0 },
      { op: 'open', path: '/f', flags: ['RDWR'], mode: 0, h: 2 },
      { op: 'write', h: 2, len: 100, pos: 0, seed: 9 },
      { op: 'read', h: 1, len: 4096, pos: 0 },
      { op: 'fstat', h: 1 },
      { op: 'close', h: 2 },
      { op: 'read', h: 1, len: 70_000, pos: null },
    ],
  },
  {
    name: 'rmdir of a merged dir, then mkdir: whiteout, then an opaque dir',
    fixture: fixture([[dir('d'), file('d/x', 3)], [dir('d'), file('d/y', 4)]]),
    ops: [
      { op: 'rmdir', path: '/d' },
      { op: 'unlink', path: '/d/x' },
      { op: 'unlink', path: '/d/y' },
      { op: 'readdir', path: '/d' },
      { op: 'rmdir', path: '/d' },
      { op: 'mkdir', path: '/d', mode: 0o755 },
      { op: 'readdir', path: '/d' },
      { op: 'open', path: '/d/x', flags: ['WRONLY', 'CREAT'], mode: 0o600, h: 1 },
    ],
  },
  {
    name: 'renaming lower dirs: EXDEV or redirects (same parent: relative, elsewhere: absolute)',
    fixture: fixture([[dir('a'), dir('a/b'), file('a/b/f', 10), dir('c'), file('c/g', 5)]]),
    ops: [
      { op: 'rename', from: '/a', to: '/a2', flags: [] },
      { op: 'rename', from: '/c', to: '/c2', flags: [] },
      { op: 'rename', from: '/a/b', to: '/c/b', flags: [] },
      { op: 'rename', from: '/a2/b', to: '/top', flags: [] },
      { op: 'readdir', path: '/top' },
      { op: 'rename', from: '/c/g', to: '/c/g2', flags: [] },
      { op: 'rename', from: '/c2', to: '/c2/x', flags: [] },
      { op: 'rename', from: '/c/g2', to: '/a/b/f', flags: ['EXCHANGE'] },
      { op: 'rename', from: '/c/g', to: '/a', flags: ['NOREPLACE'] },
      { op: 'rename', from: '/a', to: '/c', flags: ['EXCHANGE'] },
      { op: 'rename', from: '/c', to: '/zz', flags: ['WHITEOUT'] },
    ],
  },
  {
    name: 'a pure-upper dir moved into a merged parent becomes opaque',
    fixture: fixture([[dir('m'), file('m/f', 1), dir('n')]]),
    ops: [
      { op: 'mkdir', path: '/new', mode: 0o755 },
      { op: 'rename', from: '/new', to: '/m/new', flags: [] },
      { op: 'mkdir', path: '/n/sub', mode: 0o700 },
      { op: 'rename', from: '/n/sub', to: '/n/sub2', flags: [] },
    ],
  },
  {
    name: 'xattrs: trusted.overlay.* escaping, private ones hidden, ENODATA without copy-up',
    fixture: fixture([[file('f', 5, { xattrs: [['trusted.overlay.overlay.esc', 'e'], ['user.u', 'v']] }), dir('d', { xattrs: [['trusted.overlay.opaque', 'y']] })]]),
    ops: [
      { op: 'listxattr', path: '/f' },
      { op: 'getxattr', path: '/f', name: 'trusted.overlay.esc' },
      { op: 'removexattr', path: '/f', name: 'user.missing' },
      { op: 'getxattr', path: '/d', name: 'trusted.overlay.opaque' },
      { op: 'setxattr', path: '/f', name: 'trusted.overlay.foo', value: 'bar', flag: null },
      { op: 'listxattr', path: '/f' },
      { op: 'setxattr', path: '/f', name: 'user.u', value: 'w', flag: 'create' },
      { op: 'setxattr', path: '/f', name: 'user.x', value: 'w', flag: 'replace' },
      { op: 'removexattr', path: '/f', name: 'trusted.overlay.esc' },
      { op: 'setxattr', path: '/d', name: 'trusted.overlay.opaque', value: 'y', flag: null },
    ],
  },
  {
    name: 'lower hardlinks break on copy-up (index=off); link() copies the source up',
    fixture: fixture([[file('h1', 20), { path: 'h2', kind: 'hardlink', mode: 0, uid: 0, gid: 0, mtimeNs: '0', target: 'h1' }, file('g', 3)]]),
    ops: [
      { op: 'chmod', path: '/h1', mode: 0o600 },
      { op: 'stat', path: '/h2', follow: false },
      { op: 'link', from: '/g', to: '/g2' },
      { op: 'stat', path: '/g', follow: false },
      { op: 'open', path: '/h2', flags: ['WRONLY', 'APPEND'], mode: 0, h: 1 },
      { op: 'write', h: 1, len: 7, pos: null, seed: 1 },
    ],
  },
  {
    name: 'impure marks, new dirs (opaque with redirects on, no setuid/setgid), errno order',
    fixture: fixture([[file('g', 9), file('h1', 20), { path: 'h2', kind: 'hardlink', mode: 0, uid: 0, gid: 0, mtimeNs: T, target: 'h1' }], [dir('a'), dir('a/i'), dir('c', { xattrs: [['trusted.overlay.opaque', 'y']] })]]),
    ops: [
      { op: 'chmod', path: '/h1', mode: 0o600 },
      { op: 'link', from: '/g', to: '/a/i/l' },
      { op: 'mkdir', path: '/new', mode: 0o4755 },
      { op: 'mkdir', path: '/c/n2', mode: 0o2711 },
      { op: 'mkdir', path: '/new/sub', mode: 0o755 },
      { op: 'link', from: '/a/i/l', to: '/new/sub/l2' },
      { op: 'rename', from: '/new/sub/l2', to: '/new/l2', flags: [] },
      { op: 'readdir', path: '/new/sub' },
      { op: 'open', path: '/a', flags: ['RDONLY', 'CREAT'], mode: 0o644, h: 1 },
      { op: 'open', path: '/n1', flags: ['RDONLY', 'CREAT', 'DIRECTORY'], mode: 0o644, h: 2 },
      { op: 'mknod', path: '/g', kind: 'whiteout', mode: 0 },
      { op: 'rename', from: '/g/x', to: '/zz/i', flags: ['EXCHANGE'] },
    ],
  },
  {
    name: 'an fd outlives a copy-up and the unlink of its name; lower hardlinks are separate inodes',
    fixture: fixture([[file('h1', 20), { path: 'h2', kind: 'hardlink', mode: 0, uid: 0, gid: 0, mtimeNs: T, target: 'h1' }, dir('d'), file('d/h', 30)]]),
    ops: [
      { op: 'open', path: '/d/h', flags: ['RDONLY'], mode: 0, h: 1 },
      { op: 'rename', from: '/d/h', to: '/d/n1', flags: [] },
      { op: 'unlink', path: '/d/n1' },
      { op: 'fstat', h: 1 },
      { op: 'read', h: 1, len: 100, pos: 0 },
      { op: 'rename', from: '/h1', to: '/h2', flags: ['EXCHANGE'] },
      { op: 'stat', path: '/h2', follow: false },
    ],
  },
  {
    name: 'whiteouts: over a file, replaced by a new file, recreated on unlink; errno rules',
    fixture: fixture([[file('f', 3), dir('d'), { path: 's', kind: 'symlink', mode: 0o777, uid: 0, gid: 0, mtimeNs: T, target: '/d' }]]),
    ops: [
      { op: 'unlink', path: '/f' },
      { op: 'open', path: '/f', flags: ['WRONLY', 'CREAT', 'EXCL'], mode: 0o640, h: 1 },
      { op: 'unlink', path: '/f' },
      { op: 'mknod', path: '/w', kind: 'whiteout', mode: 0 },
      { op: 'mknod', path: '/p', kind: 'fifo', mode: 0o644 },
      { op: 'unlink', path: '/d' },
      { op: 'link', from: '/d', to: '/d2' },
      { op: 'rmdir', path: '/s' },
      { op: 'open', path: '/s/new', flags: ['RDWR', 'CREAT'], mode: 0o644, h: 2 },
      { op: 'utimes', path: '/s', atime: 'omit', mtime: '1000000000000000123', follow: false },
      { op: 'utimes', path: '/s', atime: 'now', mtime: 'omit', follow: true },
      { op: 'statfs' },
    ],
  },
  {
    name: 'names that are not UTF-8: listed, copied up, whited out, symlinked to, moved with a redirect',
    fixture: fixture([
      [dir(NAME_UTF8), file(`${NAME_UTF8}/${NAME_FF_FE}`, 10), file(NAME_LATIN1, 4), symlink('s', `${NAME_UTF8}/${NAME_FF_FE}`)],
      [dir(NAME_UTF8), file(`${NAME_UTF8}/l`, 2)],
    ]),
    ops: [
      { op: 'readdir', path: `/${NAME_UTF8}` },
      { op: 'readlink', path: '/s' },
      { op: 'open', path: '/s', flags: ['RDWR'], mode: 0, h: 1 },
      { op: 'write', h: 1, len: 7, pos: 3, seed: 5 },
      { op: 'close', h: 1 },
      { op: 'unlink', path: `/${NAME_LATIN1}` },
      { op: 'symlink', target: `/${NAME_UTF8}/${NAME_FF_FE}`, path: `/${NAME_LATIN1}` },
      { op: 'stat', path: `/${NAME_LATIN1}`, follow: true },
      { op: 'readlink', path: `/${NAME_LATIN1}` },
      { op: 'mkdir', path: `/${NAME_UTF8}/${NAME_LATIN1}`, mode: 0o755 },
      { op: 'setxattr', path: `/${NAME_UTF8}/${NAME_FF_FE}`, name: 'user.x', value: 'v\xe9', flag: null },
      { op: 'rename', from: `/${NAME_UTF8}`, to: `/${NAME_FF_FE}`, flags: [] },
      { op: 'readdir', path: `/${NAME_FF_FE}` },
      { op: 'rename', from: `/${NAME_FF_FE}/${NAME_FF_FE}`, to: `/${NAME_FF_FE}/${NAME_LATIN1}`, flags: [] },
      { op: 'rename', from: `/${NAME_UTF8}/l`, to: `/l\xe9`, flags: [] },
      { op: 'stat', path: `/${NAME_LATIN1}`, follow: true },
    ],
  },
  {
    name: "O_CREAT on someone else's existing object in a sticky world-writable dir: EACCES before ELOOP, even for root",
    fixture: fixture([[dir('t', { mode: 0o1777, uid: 65534, gid: 65534 }), { ...symlink('t/l', 'x'), uid: 1, gid: 2 }, { ...file('t/f', 5), uid: 1, gid: 2 }, dir('t/d', { uid: 1, gid: 2 })]]),
    ops: [
      { op: 'open', path: '/t/l', flags: ['RDWR', 'CREAT', 'NOFOLLOW'], mode: 0o600, h: 1 },
      { op: 'open', path: '/t/l', flags: ['RDWR', 'CREAT', 'EXCL'], mode: 0o600, h: 2 },
      { op: 'open', path: '/t/d', flags: ['RDONLY', 'CREAT'], mode: 0o600, h: 3 },
      { op: 'mknod', path: '/t/p', kind: 'fifo', mode: 0o644 },
      { op: 'chown', path: '/t/p', uid: 1, gid: 2, follow: false },
      { op: 'open', path: '/t/p', flags: ['RDONLY', 'CREAT'], mode: 0o600, h: 4 },
      { op: 'open', path: '/t/f', flags: ['RDWR', 'CREAT'], mode: 0o600, h: 5 },
      { op: 'open', path: '/t/l', flags: ['WRONLY', 'CREAT'], mode: 0o600, h: 6 },
    ],
  },
  {
    name: 'fstat of an open merged dir whose name was removed: the overlay inode keeps nlink 1',
    fixture: fixture([[dir('e'), file('e/x', 3)]]),
    ops: [
      { op: 'rename', from: '/e', to: '/i', flags: [] },
      { op: 'open', path: '/i', flags: ['RDONLY'], mode: 0, h: 1 },
      { op: 'unlink', path: '/i/x' },
      { op: 'rmdir', path: '/i' },
      { op: 'fstat', h: 1 },
    ],
  },
  {
    // fuzz FUSE seed 2500077: FUSE's fstat of a directory comes by node, which had no attributes left
    name: 'fstat of open directories that a rename replaced: pure upper, merged, lower only',
    fixture: fixture([[dir('m'), file('m/x', 3), dir('l')], [dir('m')]]),
    ops: [
      { op: 'mkdir', path: '/u', mode: 0o700 },
      { op: 'open', path: '/u', flags: ['RDONLY'], mode: 0, h: 1 },
      { op: 'unlink', path: '/m/x' },
      { op: 'open', path: '/m', flags: ['RDONLY'], mode: 0, h: 2 },
      { op: 'open', path: '/l', flags: ['RDONLY'], mode: 0, h: 3 },
      { op: 'mkdir', path: '/s1', mode: 0o755 },
      { op: 'mkdir', path: '/s2', mode: 0o755 },
      { op: 'mkdir', path: '/s3', mode: 0o755 },
      { op: 'rename', from: '/s1', to: '/u', flags: [] },
      { op: 'rename', from: '/s2', to: '/m', flags: [] },
      { op: 'rename', from: '/s3', to: '/l', flags: [] },
      { op: 'fstat', h: 1 },
      { op: 'fstat', h: 2 },
      { op: 'fstat', h: 3 },
    ],
  },
  {
    name: 'a change through a handle whose name is gone shows at the names left (hard links)',
    fixture: fixture([[file('e', 10)]]),
    ops: [
      { op: 'link', from: '/e', to: '/g' },
      { op: 'open', path: '/g', flags: ['RDWR'], mode: 0, h: 1 },
      { op: 'link', from: '/e', to: '/l' },
      { op: 'stat', path: '/l', follow: false },
      { op: 'unlink', path: '/g' },
      { op: 'unlink', path: '/e' },
      { op: 'ftruncate', h: 1, size: 5000 },
      { op: 'stat', path: '/l', follow: false },
      { op: 'write', h: 1, len: 100, pos: 6000, seed: 3 },
      { op: 'stat', path: '/l', follow: false },
    ],
  },
  {
    name: 'a file created over a whiteout in a setgid dir takes the dir group (made in work/work first)',
    fixture: fixture([[dir('a', { mode: 0o2775, uid: 1, gid: 2 })], [dir('a'), file('a/x', 0, { mode: 0o600, uid: 1000, gid: 1000 })]]),
    ops: [
      { op: 'unlink', path: '/a/x' },
      { op: 'open', path: '/a/x', flags: ['RDWR', 'CREAT', 'EXCL'], mode: 0, h: 1 },
      { op: 'mkdir', path: '/a/d', mode: 0o755 },
    ],
  },
  {
    name: 'writes through a one-name file (FUSE passthrough) show at a hard link made while it is open',
    fixture: fixture([[file('f', 10)]]),
    ops: [
      { op: 'open', path: '/f', flags: ['RDWR'], mode: 0, h: 1 },
      { op: 'write', h: 1, len: 100, pos: 0, seed: 1 },
      { op: 'open', path: '/n', flags: ['RDWR', 'CREAT', 'EXCL'], mode: 0o644, h: 2 },
      { op: 'write', h: 2, len: 50, pos: 0, seed: 2 },
      { op: 'link', from: '/n', to: '/m' },
      { op: 'stat', path: '/m', follow: false },
      { op: 'write', h: 2, len: 5000, pos: 100, seed: 3 },
      { op: 'stat', path: '/m', follow: false },
      { op: 'open', path: '/m', flags: ['RDWR'], mode: 0, h: 3 },
      { op: 'write', h: 3, len: 10, pos: 9000, seed: 4 },
      { op: 'fstat', h: 2 },
      { op: 'stat', path: '/n', follow: false },
      { op: 'read', h: 2, len: 20_000, pos: 0 },
      { op: 'ftruncate', h: 1, size: 3 },
      { op: 'stat', path: '/f', follow: false },
    ],
  },
  {
    // fuzz FUSE seed 1900178: the reader's node lingered with one link and cached a stale size
    name: 'writes through a one-name file (FUSE passthrough) show at a second name replaced while open',
    fixture: fixture([[file('f', 10), file('o', 20)]]),
    ops: [
      { op: 'open', path: '/f', flags: ['RDWR'], mode: 0, h: 1 },
      { op: 'link', from: '/f', to: '/g' },
      { op: 'open', path: '/g', flags: ['RDONLY'], mode: 0, h: 2 },
      { op: 'rename', from: '/o', to: '/g', flags: [] },
      { op: 'read', h: 2, len: 10, pos: 100 },
      { op: 'write', h: 1, len: 50, pos: 10, seed: 5 },
      { op: 'read', h: 2, len: 100, pos: 0 },
      { op: 'fstat', h: 2 },
    ],
  },
];
