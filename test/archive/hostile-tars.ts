/**
 * A catalogue of hostile layer archives, built in code.
 *
 * Each case is a named archive that tries to escape the directory it is applied to, confuse the
 * apply about what already exists, or break the tar/compression parsers, together with what
 * strata must do with it: fail with a given StrataError code, or apply with everything
 * provably kept inside the target (`contained`, with a check of the result). Later work extends
 * this list; hostile.test.ts runs every case through applyLayer and extractLayer in both whiteout
 * modes and proves that nothing outside the target changed.
 *
 * Archives that name absolute host paths get them from the HostileContext, so that a naive
 * implementation would really hit the sentinel tree the test watches.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { execFileSync } from 'node:child_process';
import { BLOCK, END_OF_ARCHIVE, contentPadding, encodeHeader, type TarWriteHeader } from '../../src/archive/tar/index.js';

/** Name used by cases that try to write outside; the test checks it never appears on the host. */
export const CANARY = 'strata-hostile-canary';

export interface HostileContext {
  /** Absolute path of a directory outside the target, holding `secret` (must stay untouched). */
  outsideDir: string;
  /** Absolute path of a regular file outside the target. */
  outsideFile: string;
  /** Base name of the directory the archive is applied to (for `<name>-evil` prefix tricks). */
  targetName: string;
}

export type WhiteoutModeName = 'overlay' | 'delete';

export type HostileExpectation =
  /** Fails with a StrataError of this code, or one of these codes (and a one-line message). */
  | { error: string | string[] }
  /** Applies; `check` inspects the target (and may look at the mode). */
  | { contained: (target: string, mode: WhiteoutModeName, ctx: HostileContext) => void };

export interface HostileCase {
  name: string;
  /** What the archive tries, in one line. */
  about: string;
  build(ctx: HostileContext): Buffer;
  /** Apply options beyond `whiteouts`. */
  options?: { allowDevices?: boolean; rejectDuplicates?: boolean };
  /** Whiteout modes to run in (default: both). */
  modes?: WhiteoutModeName[];
  expect: HostileExpectation;
}

// ---- archive building blocks -----------------------------------------------------------------

const M = { mtime: 1700000000 };

/** One entry: header (+PAX), content, padding. */
export function entry(h: TarWriteHeader, data: Buffer | string = ''): Buffer {
  const body = typeof data === 'string' ? Buffer.from(data) : data;
  return Buffer.concat([encodeHeader({ ...M, ...h, size: h.size ?? body.length }), body, contentPadding(body.length)]);
}
export const file = (name: string | Buffer, data = 'pwned\n', extra: Partial<TarWriteHeader> = {}) =>
  entry({ name, type: '0', mode: 0o644, ...extra }, data);
export const dir = (name: string | Buffer, extra: Partial<TarWriteHeader> = {}) => entry({ name, type: '5', mode: 0o755, ...extra });
export const symlink = (name: string | Buffer, target: string) => entry({ name, type: '2', mode: 0o777, linkname: target });
export const hardlink = (name: string | Buffer, target: string) => entry({ name, type: '1', mode: 0o644, linkname: target });
export const tar = (...parts: Buffer[]) => Buffer.concat([...parts, END_OF_ARCHIVE]);

export interface RawFields {
  name?: string | Buffer;
  mode?: string | Buffer;
  uid?: string | Buffer;
  gid?: string | Buffer;
  size?: string | Buffer;
  mtime?: string | Buffer;
  type?: string;
  linkname?: string | Buffer;
  magic?: 'ustar' | 'gnu' | 'v7';
  devmajor?: string;
  devminor?: string;
}

/**
 * A header block with fields written verbatim (octal text or raw base-256 bytes), so that
 * invalid numbers can be expressed; the checksum is computed unless `badChecksum`.
 */
export function rawBlock(f: RawFields, badChecksum = false): Buffer {
  const b = Buffer.alloc(BLOCK);
  const put = (at: number, width: number, v: string | Buffer | undefined, def: string) => {
    const bytes = v === undefined ? Buffer.from(def, 'latin1') : typeof v === 'string' ? Buffer.from(v, 'latin1') : v;
    bytes.copy(b, at, 0, Math.min(width, bytes.length));
  };
  put(0, 100, f.name, 'file');
  put(100, 8, f.mode, '0000644\0');
  put(108, 8, f.uid, '0000000\0');
  put(116, 8, f.gid, '0000000\0');
  put(124, 12, f.size, '00000000000\0');
  put(136, 12, f.mtime, '14712573400\0');
  b[156] = (f.type ?? '0').charCodeAt(0);
  put(157, 100, f.linkname, '');
  if (f.magic !== 'v7') {
    if (f.magic === 'gnu') b.write('ustar  \0', 257, 'latin1');
    else b.write('ustar\x0000', 257, 'latin1');
    put(329, 8, f.devmajor, '0000000\0');
    put(337, 8, f.devminor, '0000000\0');
  }
  setChecksum(b);
  if (badChecksum) b[148] = b[148] === 0x37 ? 0x36 : 0x37;
  return b;
}

export function setChecksum(b: Buffer): void {
  b.fill(0x20, 148, 156);
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += b[i]!;
  b.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'latin1');
}

/** Base-256 numeric field: 0x80 marker, big-endian two's complement of `v` over `width` bytes. */
export function base256(v: bigint, width: number): Buffer {
  const b = Buffer.alloc(width);
  let x = v < 0n ? (1n << BigInt(8 * width)) + v : v;
  for (let i = width - 1; i >= 0; i--) {
    b[i] = Number(x & 0xffn);
    x >>= 8n;
  }
  b[0] = v < 0n ? b[0]! | 0xc0 : (b[0]! & 0x7f) | 0x80;
  return b;
}

/** A PAX extended header ('x') with the given records, followed by nothing. */
export function paxHeader(records: Record<string, string>): Buffer {
  let data = '';
  for (const [k, v] of Object.entries(records)) {
    const rest = ` ${k}=${v}\n`;
    let len = rest.length + 1;
    while (String(len).length + rest.length !== len) len = String(len).length + rest.length;
    data += `${len}${rest}`;
  }
  const d = Buffer.from(data, 'latin1');
  return Buffer.concat([rawBlock({ name: 'PaxHeaders.0/x', type: 'x', size: oct(d.length, 12) }), d, contentPadding(d.length)]);
}

/** A GNU long-name ('L') or long-link ('K') record carrying `value`. */
export function gnuLong(type: 'L' | 'K', value: Buffer): Buffer {
  const data = Buffer.concat([value, Buffer.from([0])]);
  return Buffer.concat([rawBlock({ name: '././@LongLink', type, size: oct(data.length, 12), magic: 'gnu' }), data, contentPadding(data.length)]);
}

export function oct(n: number, width: number): string {
  return n.toString(8).padStart(width - 1, '0') + '\0';
}

function gzip(b: Buffer): Buffer {
  return zlib.gzipSync(b);
}

function zstd(b: Buffer): Buffer {
  return execFileSync('zstd', ['-q', '-c', '--check'], { input: b, maxBuffer: 1 << 28 });
}

/** A benign archive with enough content that corruption hits compressed data. */
function benign(): Buffer {
  const parts = [dir('d/')];
  for (let i = 0; i < 20; i++) parts.push(file(`d/f${i}`, `content ${i} `.repeat(200)));
  return tar(...parts);
}

function flipMiddle(b: Buffer): Buffer {
  const c = Buffer.from(b);
  for (let i = Math.floor(c.length / 2); i < Math.floor(c.length / 2) + 8; i++) c[i] = c[i]! ^ 0x5a;
  return c;
}

/** Flips the first byte of the last `n` bytes (a checksum trailer). */
function flipTail(b: Buffer, n: number): Buffer {
  const c = Buffer.from(b);
  c[c.length - n] = c[c.length - n]! ^ 0xff;
  return c;
}

/** mkdir -p chain entries for an absolute host path, inside the archive. */
function dirChain(abs: string): Buffer[] {
  const parts = abs.split('/').filter(Boolean);
  return parts.map((_, i) => dir(parts.slice(0, i + 1).join('/') + '/'));
}

function isFile(p: string, content?: string): void {
  const st = fs.lstatSync(p);
  assert.ok(st.isFile(), `${p} is a regular file`);
  if (content !== undefined) assert.equal(fs.readFileSync(p, 'utf8'), content);
}

// ---- the catalogue -----------------------------------------------------------------------------

const E = (code: string | string[]): HostileExpectation => ({ error: code });
/** Garbage inside compressed data may surface as a decompression error or as a broken tar. */
const GARBLED = E(['CORRUPT_COMPRESSED_DATA', 'TAR_BAD_CHECKSUM', 'TAR_BAD_HEADER', 'TAR_TRUNCATED']);
const BREAKOUT = E('ARCHIVE_BREAKOUT');

export function hostileCases(): HostileCase[] {
  return [
    // Names that climb out.
    { name: 'dotdot-file', about: '../canary', build: () => tar(file(`../${CANARY}`)), expect: BREAKOUT },
    { name: 'dotdot-nested', about: 'a/../../canary', build: () => tar(dir('a/'), file(`a/../../${CANARY}`)), expect: BREAKOUT },
    { name: 'dotdot-deep', about: 'a/b/../../../../canary', build: () => tar(file(`a/b/../../../../${CANARY}`)), expect: BREAKOUT },
    { name: 'dotdot-dir', about: 'a directory entry named ".." (moby\'s Rel check misses it)', build: () => tar(dir('..', { mode: 0o777 })), expect: BREAKOUT },
    {
      name: 'dotdot-pax-path',
      about: 'PAX path record ../canary over a harmless ustar name',
      build: () => tar(paxHeader({ path: `../${CANARY}` }), rawBlock({ name: 'harmless', size: oct(0, 12) })),
      expect: BREAKOUT,
    },
    {
      name: 'dotdot-gnu-longname',
      about: 'GNU long name starting with ../',
      build: () => tar(gnuLong('L', Buffer.from(`../${'x'.repeat(150)}`)), rawBlock({ name: 'short', magic: 'gnu' })),
      expect: BREAKOUT,
    },
    {
      name: 'dotdot-non-utf8-newline',
      about: 'name ../<0xff>\\n<canary>: invalid UTF-8 and a newline in the message',
      build: () => tar(file(Buffer.concat([Buffer.from('../'), Buffer.from([0xff, 0x0a]), Buffer.from(CANARY)]))),
      expect: BREAKOUT,
    },
    {
      name: 'dotdot-pax-sparse-name',
      about: 'GNU.sparse.name record ../canary',
      build: () =>
        tar(paxHeader({ 'GNU.sparse.major': '0', 'GNU.sparse.minor': '1', 'GNU.sparse.name': `../${CANARY}`, 'GNU.sparse.size': '4', 'GNU.sparse.map': '0,4' }), rawBlock({ name: 'sparse', size: oct(4, 12) }), Buffer.concat([Buffer.from('data'), contentPadding(4)])),
      expect: BREAKOUT,
    },

    // Absolute names land inside, as moby's Join(dest, name).
    {
      name: 'absolute-name',
      about: '/etc/canary lands in <target>/etc/canary',
      build: () => tar(file(`/etc/${CANARY}`)),
      expect: { contained: (t) => isFile(path.join(t, 'etc', CANARY), 'pwned\n') },
    },
    {
      name: 'absolute-dotdot',
      about: '/../../canary cleans to /canary, inside',
      build: () => tar(file(`/../../${CANARY}`)),
      expect: { contained: (t) => isFile(path.join(t, CANARY), 'pwned\n') },
    },

    // Symlinks used as parents.
    {
      name: 'symlink-root-parent',
      about: 'evil -> /, then evil/canary: re-rooted at the target',
      build: () => tar(symlink('evil', '/'), file(`evil/${CANARY}`)),
      expect: {
        contained: (t) => {
          isFile(path.join(t, CANARY), 'pwned\n');
          assert.equal(fs.readlinkSync(path.join(t, 'evil')), '/');
        },
      },
    },
    {
      name: 'symlink-host-dir-parent',
      about: 'evil -> <absolute host dir>, then evil/canary: the host dir does not exist inside',
      build: (c) => tar(symlink('evil', c.outsideDir), file(`evil/${CANARY}`)),
      expect: E('ARCHIVE_IO'),
    },
    {
      name: 'symlink-host-dir-parent-precreated',
      about: 'the same with the host path created inside first: lands in <target>/<host dir>',
      build: (c) => tar(...dirChain(c.outsideDir), symlink('evil', c.outsideDir), file(`evil/${CANARY}`)),
      expect: { contained: (t, _m, c) => isFile(path.join(t, c.outsideDir, CANARY), 'pwned\n') },
    },
    {
      name: 'symlink-abs-dotdot-target',
      about: 'a -> /../.. (Join(Dir(a), link) climbs out: moby refuses it too)',
      build: () => tar(symlink('a', '/../..')),
      expect: BREAKOUT,
    },
    {
      name: 'symlink-abs-dotdot-parent',
      about: 'd/up -> /d/../.. (allowed), then d/up/canary: .. stops at the target root',
      build: () => tar(dir('d/'), symlink('d/up', '/d/../..'), file(`d/up/${CANARY}`)),
      expect: { contained: (t) => isFile(path.join(t, CANARY), 'pwned\n') },
    },
    {
      name: 'symlink-via-dotdot-link-parent',
      about: 'x/up -> .., then x/up/up2 -> ../.. (moby\'s check sees x/up/../.. = .): created at <target>/up2',
      build: () => tar(dir('x/'), symlink('x/up', '..'), symlink('x/up/up2', '../..'), file(`x/up/up2/${CANARY}`)),
      expect: {
        contained: (t) => {
          assert.equal(fs.readlinkSync(path.join(t, 'up2')), '../..');
          isFile(path.join(t, CANARY), 'pwned\n');
        },
      },
    },
    { name: 'symlink-dotdot-target', about: 'evil -> ../..', build: () => tar(symlink('evil', '../..')), expect: BREAKOUT },
    { name: 'symlink-nested-dotdot-target', about: 'a/evil -> ../../x', build: () => tar(dir('a/'), symlink('a/evil', '../../x')), expect: BREAKOUT },
    {
      name: 'symlink-prefix-trick',
      about: 'evil -> ../<target>-evil (moby\'s HasPrefix check accepts it)',
      build: (c) => tar(symlink('evil', `../${c.targetName}-evil`)),
      expect: BREAKOUT,
    },
    { name: 'symlink-loop-parent', about: 'a -> b, b -> a, then a/x', build: () => tar(symlink('a', 'b'), symlink('b', 'a'), file('a/x')), expect: E('ARCHIVE_SYMLINK_LOOP') },
    { name: 'symlink-self-loop-parent', about: 'l -> l, then l/x', build: () => tar(symlink('l', 'l'), file('l/x')), expect: E('ARCHIVE_SYMLINK_LOOP') },
    {
      name: 'symlink-long-chain-parent',
      about: '41 chained symlinks as a parent',
      build: () => tar(dir('real/'), ...Array.from({ length: 41 }, (_, i) => symlink(`l${i}`, i === 40 ? 'real' : `l${i + 1}`)), file('l0/x')),
      expect: E('ARCHIVE_SYMLINK_LOOP'),
    },
    {
      name: 'symlink-final-replaced',
      about: 'l -> <host file>, then a regular file l: replaces the link, never writes through',
      options: { rejectDuplicates: false },
      build: (c) => tar(symlink('l', c.outsideFile), file('l', 'replaced\n')),
      expect: { contained: (t) => isFile(path.join(t, 'l'), 'replaced\n') },
    },
    {
      name: 'symlink-dir-replaced',
      about: 'd -> <host dir>, then dir d/ and d/canary: the link is replaced by a directory',
      options: { rejectDuplicates: false },
      build: (c) => tar(symlink('d', c.outsideDir), dir('d/'), file(`d/${CANARY}`)),
      expect: {
        contained: (t) => {
          assert.ok(fs.lstatSync(path.join(t, 'd')).isDirectory());
          isFile(path.join(t, 'd', CANARY), 'pwned\n');
        },
      },
    },
    {
      name: 'symlink-then-xattr-entry',
      about: 'l -> <host file>, then l again as a file with xattrs (no write-through of data or xattrs)',
      options: { rejectDuplicates: false },
      build: (c) => tar(symlink('l', c.outsideFile), entry({ name: 'l', type: '0', mode: 0o644, xattrs: new Map([['user.evil', Buffer.from('x')]]) }, 'x')),
      expect: { contained: (t) => isFile(path.join(t, 'l'), 'x') },
    },

    // Hardlinks.
    { name: 'hardlink-dotdot', about: 'h => ../../etc/passwd', build: () => tar(hardlink('h', '../../etc/passwd')), expect: BREAKOUT },
    {
      name: 'hardlink-prefix-trick',
      about: 'h => ../<target>-evil/secret (moby\'s HasPrefix check accepts it)',
      build: (c) => tar(hardlink('h', `../${c.targetName}-evil/secret`)),
      expect: BREAKOUT,
    },
    { name: 'hardlink-absolute-host', about: 'h => <absolute host file>: resolved inside, missing', build: (c) => tar(hardlink('h', c.outsideFile)), expect: E('ARCHIVE_IO') },
    {
      name: 'hardlink-through-symlink',
      about: 'evil -> <host dir>, then h => evil/secret',
      build: (c) => tar(symlink('evil', c.outsideDir), hardlink('h', 'evil/secret')),
      expect: E('ARCHIVE_IO'),
    },
    {
      name: 'hardlink-through-root-symlink',
      about: 'evil -> /, then h => evil/etc/passwd',
      build: () => tar(symlink('evil', '/'), hardlink('h', 'evil/etc/passwd')),
      expect: E('ARCHIVE_IO'),
    },
    { name: 'hardlink-to-dir', about: 'h => d (a directory)', build: () => tar(dir('d/'), hardlink('h', 'd')), expect: E('ARCHIVE_IO') },
    {
      name: 'hardlink-to-symlink-inside',
      about: 'h => l where l -> <host file>: links the symlink itself, not its target',
      build: (c) => tar(symlink('l', c.outsideFile), hardlink('h', 'l')),
      expect: {
        contained: (t, _m, c) => {
          assert.ok(fs.lstatSync(path.join(t, 'h')).isSymbolicLink());
          assert.equal(fs.readlinkSync(path.join(t, 'h')), c.outsideFile);
        },
      },
    },

    // Whiteouts.
    { name: 'whiteout-dotdot', about: '../.wh.secret', build: () => tar(file('../.wh.secret', '')), expect: BREAKOUT },
    { name: 'whiteout-dotdot-target', about: '.wh... (whiteout of the target\'s parent)', build: () => tar(file('.wh...', '')), expect: BREAKOUT },
    { name: 'whiteout-parent-of-dir', about: 'a/.wh... (whiteout of the root, from a/)', build: () => tar(dir('a/'), file('a/.wh...', '')), expect: E('ARCHIVE_INVALID_WHITEOUT') },
    { name: 'whiteout-self', about: '.wh.. (whiteout of its own directory)', build: () => tar(file('.wh..', '')), expect: E('ARCHIVE_INVALID_WHITEOUT') },
    { name: 'whiteout-empty', about: '.wh. (empty target)', build: () => tar(dir('a/'), file('a/.wh.', '')), expect: E('ARCHIVE_INVALID_WHITEOUT') },
    {
      name: 'whiteout-through-symlink',
      about: 'evil -> <host dir>, then evil/.wh.secret',
      build: (c) => tar(symlink('evil', c.outsideDir), file('evil/.wh.secret', '')),
      expect: E('ARCHIVE_IO'),
    },
    {
      name: 'whiteout-through-root-symlink',
      about: 'evil -> /, then evil/.wh.canary: a whiteout at <target>/canary (overlay) / nothing (delete)',
      build: () => tar(symlink('evil', '/'), file(`evil/.wh.${CANARY}`, '')),
      expect: {
        contained: (t, mode) => {
          const st = fs.lstatSync(path.join(t, CANARY), { throwIfNoEntry: false });
          if (mode === 'overlay') assert.ok(st?.isCharacterDevice() && st.rdev === 0);
          else assert.equal(st, undefined);
        },
      },
    },
    { name: 'opaque-dotdot', about: '../.wh..wh..opq', build: () => tar(file('../.wh..wh..opq', '')), expect: BREAKOUT },
    {
      name: 'opaque-through-symlink',
      about: 'evil -> <host dir>, then evil/.wh..wh..opq',
      build: (c) => tar(symlink('evil', c.outsideDir), file('evil/.wh..wh..opq', '')),
      expect: E('ARCHIVE_IO'),
    },

    // Collisions.
    { name: 'file-then-dir', about: 'a (file) then a/ (dir)', build: () => tar(file('a'), dir('a/')), expect: E('ARCHIVE_DUPLICATE') },
    { name: 'file-then-child', about: 'a (file) then a/b', build: () => tar(file('a'), file('a/b')), expect: E('ARCHIVE_IO') },
    { name: 'duplicate-dot-slash', about: './a and a', build: () => tar(file('./a'), file('a')), expect: E('ARCHIVE_DUPLICATE') },
    { name: 'duplicate-dir', about: 'd/ listed twice', build: () => tar(dir('d/'), dir('d/')), expect: E('ARCHIVE_DUPLICATE') },
    { name: 'duplicate-absolute-vs-relative-whiteout', about: 'a/.wh.x twice (once as ./a/.wh.x)', build: () => tar(dir('a/'), file('a/.wh.x', ''), file('./a/.wh.x', '')), expect: E('ARCHIVE_DUPLICATE') },
    { name: 'root-as-file', about: './ as a regular file (moby would RemoveAll the target)', build: () => tar(rawBlock({ name: './', type: '0' })), expect: E('ARCHIVE_INVALID_NAME') },

    // Broken archives.
    {
      name: 'truncated-body',
      about: 'archive cut in the middle of a file body',
      build: () => tar(file('a', 'x'.repeat(5000))).subarray(0, BLOCK + 2000),
      expect: E('TAR_TRUNCATED'),
    },
    { name: 'truncated-header', about: 'archive cut inside a header block', build: () => tar(file('a'), file('b')).subarray(0, 2 * BLOCK + 300), expect: E('TAR_TRUNCATED') },
    { name: 'bad-checksum', about: 'header checksum off by one', build: () => tar(rawBlock({ name: 'a' }, true)), expect: E('TAR_BAD_CHECKSUM') },
    { name: 'corrupt-gzip-crc', about: 'gzip stream whose CRC-32 trailer is wrong', build: () => flipTail(gzip(benign()), 8), expect: E('CORRUPT_COMPRESSED_DATA') },
    { name: 'corrupt-gzip-data', about: 'gzip stream with flipped bytes in the deflate data', build: () => flipMiddle(gzip(benign())), expect: GARBLED },
    { name: 'truncated-gzip', about: 'gzip stream cut short', build: () => { const g = gzip(benign()); return g.subarray(0, g.length - 20); }, expect: E('CORRUPT_COMPRESSED_DATA') },
    { name: 'corrupt-zstd-checksum', about: 'zstd frame whose content checksum is wrong', build: () => flipTail(zstd(benign()), 4), expect: E('CORRUPT_COMPRESSED_DATA') },
    { name: 'corrupt-zstd-data', about: 'zstd frame with flipped bytes in the block data', build: () => flipMiddle(zstd(benign())), expect: GARBLED },
    { name: 'truncated-zstd', about: 'zstd frame cut short', build: () => { const z = zstd(benign()); return z.subarray(0, z.length - 10); }, expect: E('CORRUPT_COMPRESSED_DATA') },

    // Oversized or malformed header fields.
    { name: 'size-overflow', about: 'base-256 size of 2^80', build: () => tar(rawBlock({ name: 'a', size: base256(1n << 80n, 12) })), expect: E('TAR_BAD_HEADER') },
    { name: 'size-huge-octal', about: 'size 0o77777777777 (8 GiB) with no data', build: () => tar(rawBlock({ name: 'a', size: '77777777777\0' })), expect: E('TAR_TRUNCATED') },
    { name: 'negative-size', about: 'base-256 size of -1', build: () => tar(rawBlock({ name: 'a', size: base256(-1n, 12) })), expect: E('TAR_BAD_HEADER') },
    { name: 'invalid-octal-size', about: 'size field 0000000009x', build: () => tar(rawBlock({ name: 'a', size: '0000000009x\0' })), expect: E('TAR_BAD_HEADER') },
    { name: 'invalid-octal-mode', about: 'mode field 00006z4', build: () => tar(rawBlock({ name: 'a', mode: '00006z4\0' })), expect: E('TAR_BAD_HEADER') },
    {
      name: 'pax-header-too-large',
      about: 'PAX header announcing 1 GiB of records',
      build: () => tar(rawBlock({ name: 'PaxHeaders.0/a', type: 'x', size: oct(1 << 30, 12) })),
      expect: E('TAR_FIELD_TOO_LONG'),
    },
    {
      name: 'pax-record-length-overflow',
      about: 'PAX record claiming 99999999999999 bytes',
      build: () => {
        const d = Buffer.from('99999999999999 path=x\n');
        return tar(rawBlock({ name: 'PaxHeaders.0/a', type: 'x', size: oct(d.length, 12) }), d, contentPadding(d.length), rawBlock({ name: 'a' }));
      },
      expect: E('TAR_BAD_PAX'),
    },
    {
      name: 'gnu-longname-over-1mib',
      about: 'GNU long name of 1.5 MiB',
      build: () => tar(gnuLong('L', Buffer.alloc(3 << 19, 0x61)), rawBlock({ name: 'a', magic: 'gnu' })),
      expect: E('TAR_FIELD_TOO_LONG'),
    },
    {
      name: 'sparse-beyond-size',
      about: 'PAX sparse map with a region past the file size',
      build: () =>
        tar(paxHeader({ 'GNU.sparse.major': '0', 'GNU.sparse.minor': '1', 'GNU.sparse.name': 'sp', 'GNU.sparse.size': '50', 'GNU.sparse.map': '100,4' }), rawBlock({ name: 'sp', size: oct(4, 12) }), Buffer.concat([Buffer.from('data'), contentPadding(4)])),
      expect: E('ARCHIVE_BAD_SPARSE'),
    },
    {
      name: 'sparse-overlap',
      about: 'PAX sparse map with overlapping regions',
      build: () =>
        tar(paxHeader({ 'GNU.sparse.major': '0', 'GNU.sparse.minor': '1', 'GNU.sparse.name': 'sp', 'GNU.sparse.size': '100', 'GNU.sparse.map': '0,4,2,4' }), rawBlock({ name: 'sp', size: oct(8, 12) }), Buffer.concat([Buffer.from('datadata'), contentPadding(8)])),
      expect: E('ARCHIVE_BAD_SPARSE'),
    },

    // Types and devices.
    { name: 'char-device-not-allowed', about: 'char 1:3 with allowDevices:false', options: { allowDevices: false }, build: () => tar(entry({ name: 'null', type: '3', mode: 0o666, devmajor: 1, devminor: 3 })), expect: E('ARCHIVE_DEVICE_NOT_ALLOWED') },
    { name: 'block-device-not-allowed', about: 'block 8:1 with allowDevices:false', options: { allowDevices: false }, build: () => tar(entry({ name: 'sda1', type: '4', mode: 0o660, devmajor: 8, devminor: 1 })), expect: E('ARCHIVE_DEVICE_NOT_ALLOWED') },
    {
      name: 'whiteout-device-allowed',
      about: 'char 0:0 (an overlay whiteout) with allowDevices:false is still created',
      options: { allowDevices: false },
      build: () => tar(entry({ name: 'gone', type: '3', mode: 0o000, devmajor: 0, devminor: 0 })),
      expect: { contained: (t) => assert.ok(fs.lstatSync(path.join(t, 'gone')).isCharacterDevice()) },
    },
    { name: 'unknown-type', about: 'typeflag V (volume label)', build: () => tar(rawBlock({ name: 'vol', type: 'V' })), expect: E('ARCHIVE_UNSUPPORTED_TYPE') },
    { name: 'gnu-dumpdir-type', about: 'typeflag D (GNU incremental dump dir)', build: () => tar(rawBlock({ name: 'dump', type: 'D', magic: 'gnu' })), expect: E('ARCHIVE_UNSUPPORTED_TYPE') },
  ];
}
