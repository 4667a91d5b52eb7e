import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { StrataError, isStrataError } from '../../src/errors/index.js';
import * as sys from '../../src/sys/index.js';
import { AT_FDCWD, SysError, errnoName, isSysError, lgetxattr, mknod, renameat2 } from '../../src/sys/index.js';
import { ADDON, scratch } from './helpers.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

describe('errors and loading', () => {
  let dir = '';
  let cleanup = () => {};
  before(() => ({ dir, cleanup } = scratch()));
  after(() => cleanup());

  it('a failed call throws a SysError shaped like Node’s fs errors', () => {
    const missing = path.join(dir, 'nope', 'x');
    let err: unknown;
    try {
      lgetxattr(missing, 'user.a');
    } catch (e) {
      err = e;
    }
    assert.ok(err instanceof SysError);
    assert.ok(err instanceof StrataError);
    assert.ok(err instanceof Error);
    assert.ok(isStrataError(err, 'ENOENT'));
    assert.ok(isSysError(err, 'ENOENT'));
    assert.equal(err.name, 'SysError');
    assert.equal(err.code, 'ENOENT');
    assert.equal(err.errno, -2);
    assert.equal(err.syscall, 'lgetxattr');
    assert.equal(err.path, missing);
    assert.equal(err.dest, undefined);
    assert.equal(err.message, `ENOENT: no such file or directory, lgetxattr '${missing}'`);
    assert.match(err.stack ?? '', /errors\.test\.ts/, 'the stack leads back to the caller');
    // compare with Node's own error for the same failure
    let nodeErr: NodeJS.ErrnoException | undefined;
    try {
      fs.lstatSync(missing);
    } catch (e) {
      nodeErr = e as NodeJS.ErrnoException;
    }
    assert.equal(nodeErr?.code, err.code);
    assert.equal(nodeErr?.errno, err.errno);
    assert.equal(nodeErr?.message.replace('lstat', 'lgetxattr'), err.message);
  });

  it('two-path calls carry dest; Buffer paths appear as text in the message', () => {
    const from = Buffer.concat([Buffer.from(dir + '/'), Buffer.from([0x61, 0xff])]);
    fs.writeFileSync(from, '');
    fs.writeFileSync(path.join(dir, 'b'), '');
    assert.throws(
      () => renameat2(AT_FDCWD, from, AT_FDCWD, path.join(dir, 'b'), sys.RENAME_NOREPLACE),
      (e: unknown) => {
        assert.ok(e instanceof SysError);
        assert.equal(e.path, `${dir}/a\ufffd`);
        assert.equal(e.dest, path.join(dir, 'b'));
        assert.equal(e.message, `EEXIST: file exists, renameat2 '${dir}/a\ufffd' -> '${dir}/b'`);
        return true;
      },
    );
    assert.throws(() => mknod(path.join(dir, 'b'), sys.S_IFCHR), (e: unknown) => isSysError(e, 'EEXIST') && e.errno === -17 && e.syscall === 'mknod');
  });

  it('string paths of every length around the addon’s inline buffer arrive whole, multibyte characters at its edge included', () => {
    for (const tail of ['', 'é', '€', '😀']) {
      for (let len = 1000; len <= 1040; len++) {
        const head = '/nonexistent-' + 'x'.repeat(200) + '/';
        const missing = (head + 'y'.repeat(Math.max(0, len - head.length - Buffer.byteLength(tail))) + tail).replace(/(y{200})/g, '$1/');
        assert.throws(() => lgetxattr(missing, 'user.a'), (e: unknown) => isSysError(e, 'ENOENT') && e.path === missing, `${len} bytes ending in ${JSON.stringify(tail)}`);
      }
    }
    const long = '/nonexistent/' + 'z/'.repeat(1500); // past the inline buffer: the allocated path
    assert.throws(() => lgetxattr(long, 'user.a'), (e: unknown) => isSysError(e, 'ENOENT') && e.path === long);
  });

  it('bad arguments are TypeErrors, not SysErrors', () => {
    assert.throws(() => lgetxattr(Buffer.from('a\0b'), 'user.x'), (e: unknown) => e instanceof TypeError && (e as NodeJS.ErrnoException).code === 'ERR_INVALID_ARG_VALUE');
    assert.throws(() => lgetxattr('a\0b', 'user.x'), TypeError);
    assert.throws(() => lgetxattr(42 as unknown as string, 'user.x'), (e: unknown) => e instanceof TypeError && (e as NodeJS.ErrnoException).code === 'ERR_INVALID_ARG_TYPE');
    assert.throws(() => sys.syncfs(1.5), TypeError);
    assert.throws(() => sys.utimensat(AT_FDCWD, dir, 1 as unknown as bigint, null), TypeError);
  });

  it('errno names follow Node’s (libuv) spelling', () => {
    assert.equal(errnoName(2), 'ENOENT');
    assert.equal(errnoName(-17), 'EEXIST');
    assert.equal(errnoName(11), 'EAGAIN'); // = EWOULDBLOCK
    assert.equal(errnoName(95), 'ENOTSUP'); // = EOPNOTSUPP
    assert.equal(errnoName(61), 'ENODATA');
    assert.equal(errnoName(18), 'EXDEV');
    assert.equal(errnoName(39), 'ENOTEMPTY');
    assert.equal(errnoName(9999), 'UNKNOWN');
    // every errno os.constants knows maps to its own name (or the alias Node uses)
    const aliases: Record<string, string> = { EWOULDBLOCK: 'EAGAIN', EOPNOTSUPP: 'ENOTSUP', EDEADLOCK: 'EDEADLK' };
    for (const [name, num] of Object.entries(os.constants.errno)) {
      assert.equal(errnoName(num), aliases[name] ?? name, `${name} (${num})`);
    }
  });

  it('constants come from the C headers', () => {
    assert.equal(sys.AT_FDCWD, -100);
    assert.equal(sys.MS_RDONLY, 1);
    assert.equal(sys.MS_NOUSER, 2 ** 31);
    assert.equal(sys.RENAME_WHITEOUT, 4);
    assert.equal(sys.O_TMPFILE, 0o20200000);
    assert.equal(sys.S_IFCHR, fs.constants.S_IFCHR);
    assert.equal(sys.constants.LOCK_NB, 4);
    assert.ok(Object.isFrozen(sys.constants));
    for (const name of sys.CONSTANT_NAMES) assert.equal(typeof (sys as unknown as Record<string, number>)[name], 'number', name);
  });

  it('loads from compiled JavaScript (dist/ layout) as well as from src/ under tsx', () => {
    const pkg = path.join(dir, 'pkg');
    fs.mkdirSync(path.join(pkg, 'build', 'Release'), { recursive: true });
    fs.copyFileSync(ADDON, path.join(pkg, 'build', 'Release', 'strata_native.node'));
    fs.writeFileSync(path.join(pkg, 'package.json'), JSON.stringify({ name: 'strata', type: 'module' }));
    const tsc = path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
    const flags = ['--outDir', path.join(pkg, 'dist'), '--rootDir', path.join(ROOT, 'src'), '--module', 'nodenext', '--moduleResolution', 'nodenext'];
    execFileSync(process.execPath, [tsc, ...flags, '--target', 'es2022', '--strict', '--skipLibCheck', '--types', 'node', path.join(ROOT, 'src', 'sys', 'index.ts')], { cwd: ROOT, stdio: 'pipe' });
    const script = `
      const sys = await import(${JSON.stringify(path.join(pkg, 'dist', 'sys', 'index.js'))});
      let code;
      try { sys.lgetxattr('/nonexistent/x', 'user.a'); } catch (e) { code = [e instanceof sys.SysError, e.code, e.syscall]; }
      console.log(JSON.stringify({ MS_BIND: sys.MS_BIND, code }));`;
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { cwd: dir }).toString();
    assert.deepEqual(JSON.parse(out), { MS_BIND: 4096, code: [true, 'ENOENT', 'lgetxattr'] });
  });
});
