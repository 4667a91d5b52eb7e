import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SysError, XATTR_CREATE, XATTR_REPLACE, lgetxattr, llistxattr, lremovexattr, lsetxattr, mount } from '../../src/sys/index.js';
import { scratch } from './helpers.js';

const BYTES = Buffer.from([0xff, 0xfe, 0x80, 0x00, 0x01, 0xc3]);

describe('xattrs (l* calls, never following symlinks)', () => {
  let dir = '';
  let cleanup = () => {};
  before(() => ({ dir, cleanup } = scratch()));
  after(() => cleanup());

  it('round-trips binary bytes in user.* on a regular file', () => {
    const f = path.join(dir, 'file');
    fs.writeFileSync(f, 'x');
    lsetxattr(f, 'user.bin', BYTES);
    const got = lgetxattr(f, 'user.bin');
    assert.ok(Buffer.isBuffer(got));
    assert.deepEqual([...got], [...BYTES]);
    // a string value is stored as its UTF-8 bytes; an empty value is a value, not an absence
    lsetxattr(f, 'user.text', 'héllo');
    assert.deepEqual(lgetxattr(f, 'user.text'), Buffer.from('héllo'));
    lsetxattr(f, 'user.empty', Buffer.alloc(0));
    assert.deepEqual(lgetxattr(f, 'user.empty'), Buffer.alloc(0));
    // a Uint8Array view is taken at its offset
    lsetxattr(f, 'user.view', new Uint8Array(BYTES.buffer, BYTES.byteOffset + 2, 3));
    assert.deepEqual([...lgetxattr(f, 'user.view')!], [0x80, 0x00, 0x01]);
  });

  it('sets trusted.* on a symlink itself and leaves the target untouched', () => {
    const target = path.join(dir, 'target');
    const link = path.join(dir, 'link');
    fs.writeFileSync(target, 't');
    fs.symlinkSync(target, link);
    lsetxattr(link, 'trusted.overlay.opaque', Buffer.from('y'));
    lsetxattr(link, 'trusted.bin', BYTES);
    assert.deepEqual(lgetxattr(link, 'trusted.overlay.opaque'), Buffer.from('y'));
    assert.deepEqual([...lgetxattr(link, 'trusted.bin')!], [...BYTES]);
    assert.equal(lgetxattr(target, 'trusted.bin'), null);
    assert.equal(lgetxattr(target, 'trusted.overlay.opaque'), null);
    assert.ok(!llistxattr(target).some((n) => n.startsWith('trusted.')));
    assert.deepEqual(llistxattr(link).filter((n) => n.startsWith('trusted.')).sort(), ['trusted.bin', 'trusted.overlay.opaque']);
    // the kernel refuses user.* on symlinks, and says so rather than writing to the target
    assert.throws(() => lsetxattr(link, 'user.x', BYTES), (e: unknown) => e instanceof SysError && e.code === 'EPERM');
    // a dangling symlink works too (nothing is followed)
    const dangling = path.join(dir, 'dangling');
    fs.symlinkSync(path.join(dir, 'does-not-exist'), dangling);
    lsetxattr(dangling, 'trusted.x', BYTES);
    assert.deepEqual([...lgetxattr(dangling, 'trusted.x')!], [...BYTES]);
  });

  it('lists, removes, and reports a missing attribute as null', () => {
    const f = path.join(dir, 'list');
    fs.writeFileSync(f, '');
    assert.equal(lgetxattr(f, 'user.none'), null);
    lsetxattr(f, 'user.a', BYTES);
    lsetxattr(f, 'user.b', Buffer.from('2'));
    assert.deepEqual(llistxattr(f).filter((n) => n.startsWith('user.')).sort(), ['user.a', 'user.b']);
    lremovexattr(f, 'user.a');
    assert.equal(lgetxattr(f, 'user.a'), null);
    assert.deepEqual(llistxattr(f).filter((n) => n.startsWith('user.')), ['user.b']);
    assert.throws(() => lremovexattr(f, 'user.a'), (e: unknown) => e instanceof SysError && e.code === 'ENODATA' && e.syscall === 'lremovexattr' && e.path === f);
  });

  it('honours XATTR_CREATE and XATTR_REPLACE', () => {
    const f = path.join(dir, 'flags');
    fs.writeFileSync(f, '');
    assert.throws(() => lsetxattr(f, 'user.r', BYTES, XATTR_REPLACE), (e: unknown) => e instanceof SysError && e.code === 'ENODATA');
    lsetxattr(f, 'user.r', BYTES, XATTR_CREATE);
    assert.throws(() => lsetxattr(f, 'user.r', BYTES, XATTR_CREATE), (e: unknown) => e instanceof SysError && e.code === 'EEXIST');
    lsetxattr(f, 'user.r', Buffer.from('new'), XATTR_REPLACE);
    assert.deepEqual(lgetxattr(f, 'user.r'), Buffer.from('new'));
  });

  it('round-trips a security.capability blob on a file whose name is not UTF-8 (a Buffer path)', () => {
    // VFS_CAP_REVISION_2 blob: magic_etc 0x02000001 (effective), permitted/inheritable pairs
    const cap = Buffer.from('0100000200200000000000000000000000000000', 'hex');
    const name = Buffer.concat([Buffer.from(dir + '/'), Buffer.from([0x62, 0x69, 0x6e, 0xe9])]); // "bin\xe9", not UTF-8
    fs.writeFileSync(name, '#!/bin/true\n');
    lsetxattr(name, 'security.capability', cap);
    assert.deepEqual(lgetxattr(name, 'security.capability'), cap);
  });

  it('reads values and lists larger than a page (the ERANGE/size-query path), on tmpfs', () => {
    const mnt = path.join(dir, 'tmpfs');
    fs.mkdirSync(mnt);
    mount('tmpfs', mnt, 'tmpfs', 0, 'size=4m');
    const f = path.join(mnt, 'big');
    fs.writeFileSync(f, '');
    const value = Buffer.alloc(20_000);
    for (let i = 0; i < value.length; i++) value[i] = (i * 7 + 3) & 0xff;
    lsetxattr(f, 'trusted.big', value);
    assert.deepEqual(lgetxattr(f, 'trusted.big'), value);
    const names: string[] = [];
    for (let i = 0; i < 200; i++) names.push(`trusted.a-rather-long-attribute-name-to-fill-the-list-${i}`);
    for (const n of names) lsetxattr(f, n, Buffer.from([1]));
    const listed = llistxattr(f);
    assert.ok(Buffer.byteLength(listed.join('\0')) > 4096);
    assert.deepEqual(listed.filter((n) => n.startsWith('trusted.a-')).sort(), [...names].sort());
    // (the scratch cleanup unmounts the tmpfs)
  });

  it('throws SysError with the errno name, syscall and path', () => {
    const missing = path.join(dir, 'missing', 'x');
    assert.throws(
      () => lgetxattr(missing, 'user.a'),
      (e: unknown) => {
        assert.ok(e instanceof SysError);
        assert.equal(e.code, 'ENOENT');
        assert.equal(e.errno, -2);
        assert.equal(e.syscall, 'lgetxattr');
        assert.equal(e.path, missing);
        assert.equal(e.message, `ENOENT: no such file or directory, lgetxattr '${missing}'`);
        return true;
      },
    );
    assert.throws(() => llistxattr(missing), (e: unknown) => e instanceof SysError && e.syscall === 'llistxattr' && e.code === 'ENOENT');
    const f = path.join(dir, 'file');
    assert.throws(() => lsetxattr(f, 'bogusnamespace.x', BYTES), (e: unknown) => e instanceof SysError && e.code === 'ENOTSUP');
  });
});
