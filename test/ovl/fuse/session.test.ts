/**
 * The FUSE session and wire protocol, tested with a small in-memory filesystem (memfs-ops.ts)
 * served from a worker thread and driven from this thread with node:fs and real programs.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { InitFlag } from '../../../src/ovl/fuse/protocol.js';
import { isMountPoint } from '../../../src/sys/index.js';
import { serveInWorker, type FuseServer } from '../../../src/ovl/fuse/worker.js';
import { RENAME_EXCHANGE, RENAME_NOREPLACE, RENAME_WHITEOUT, AT_FDCWD, AT_SYMLINK_NOFOLLOW, lgetxattr, renameat2, utimensat } from '../../../src/sys/index.js';
import { sh, tempDir } from '../../helpers/tmp.js';
import { MEMFS_STATFS, MEMFS_TOTAL_FILES } from './memfs-ops.js';

const memfsModule = new URL('./memfs-ops.ts', import.meta.url).href;

/** Runs a program and returns its status and output without throwing. */
function run(cmd: string, args: string[], input?: Buffer | string) {
  const r = spawnSync(cmd, args, { input, maxBuffer: 1 << 30 });
  return { status: r.status, stdout: r.stdout?.toString() ?? '', stderr: r.stderr?.toString() ?? '' };
}

function sha256(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}

/** Reads a memfs counter exposed as a virtual xattr of the root. */
function counter(mnt: string, name: string): number {
  return Number(lgetxattr(mnt, `user.memfs.${name}`)?.toString());
}

/** Waits until `check` is true (FORGETs travel asynchronously), failing after `ms`. */
async function eventually(check: () => boolean, what: string, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** libc calls with a caller-chosen buffer size, to see the kernel's ERANGE and size probes. */
function pyXattr(script: string, ...args: string[]) {
  const prelude = 'import ctypes, os, sys\nlibc = ctypes.CDLL(None, use_errno=True)\n';
  return run('python3', ['-c', prelude + script, ...args]);
}

describe('FUSE session over an in-memory filesystem', () => {
  let mnt = '';
  let server: FuseServer;

  before(async () => {
    mnt = path.join(tempDir('strata-fuse-'), 'mnt');
    fs.mkdirSync(mnt);
    fs.chmodSync(path.dirname(mnt), 0o755); // other users must reach the mount (allow_other test)
    server = await serveInWorker({
      mountpoint: mnt,
      mount: { source: 'memfs-test', subtype: 'strata-memfs' },
      ops: { module: memfsModule, export: 'createMemFs', args: null },
      timeout: 0,
    });
  });

  after(async () => {
    if (server) await server.unmount({ lazy: true });
  });

  it('negotiates a modern protocol with the flags strata asks for', () => {
    assert.ok(server.negotiated.minor >= 31, `minor ${server.negotiated.minor}`);
    const f = server.negotiated.flags;
    for (const name of ['AUTO_INVAL_DATA', 'BIG_WRITES', 'ATOMIC_O_TRUNC', 'MAX_PAGES', 'DO_READDIRPLUS', 'READDIRPLUS_AUTO', 'PARALLEL_DIROPS'] as const) {
      assert.ok(f & InitFlag[name], `INIT flag ${name} negotiated`);
    }
    for (const name of ['WRITEBACK_CACHE', 'SPLICE_READ', 'SPLICE_WRITE', 'SPLICE_MOVE', 'CACHE_SYMLINKS', 'POSIX_LOCKS'] as const) {
      assert.equal(f & InitFlag[name], 0, `INIT flag ${name} must not be negotiated`);
    }
    const line = fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').find((l) => l.split(' ')[4] === mnt);
    assert.ok(line, 'the mount is listed in mountinfo');
    assert.match(line, / - fuse\.strata-memfs memfs-test /);
    assert.match(line, /default_permissions/);
    assert.match(line, /allow_other/);
    assert.match(line.split(' ')[5] ?? '', /nosuid/);
    assert.match(line.split(' ')[5] ?? '', /nodev/);
  });

  it('reports statfs numbers', () => {
    const s = fs.statfsSync(mnt);
    assert.equal(s.blocks, MEMFS_STATFS.blocks);
    assert.equal(s.bfree, MEMFS_STATFS.bfree);
    assert.equal(s.bavail, MEMFS_STATFS.bavail);
    assert.equal(s.bsize, MEMFS_STATFS.bsize);
    assert.equal(s.files, MEMFS_TOTAL_FILES);
    const out = sh('stat', ['-f', '-c', '%l %S %b %f %a %c', mnt]).toString().trim();
    assert.equal(out, `${MEMFS_STATFS.namelen} ${MEMFS_STATFS.frsize} ${MEMFS_STATFS.blocks} ${MEMFS_STATFS.bfree} ${MEMFS_STATFS.bavail} ${MEMFS_TOTAL_FILES}`);
  });

  it('creates, writes, reads, appends and truncates files', () => {
    const f = path.join(mnt, 'hello.txt');
    fs.writeFileSync(f, 'hello world\n');
    assert.equal(fs.readFileSync(f, 'utf8'), 'hello world\n');
    assert.equal(sh('cat', [f]).toString(), 'hello world\n');
    fs.appendFileSync(f, 'more\n');
    assert.equal(fs.readFileSync(f, 'utf8'), 'hello world\nmore\n');
    fs.truncateSync(f, 5);
    assert.equal(fs.readFileSync(f, 'utf8'), 'hello');
    // O_TRUNC travels with OPEN (ATOMIC_O_TRUNC): the old bytes are gone
    fs.writeFileSync(f, 'x');
    assert.equal(fs.readFileSync(f, 'utf8'), 'x');
    const fd = fs.openSync(f, 'r+');
    try {
      fs.writeSync(fd, Buffer.from('AB'), 0, 2, 4);
      assert.deepEqual(fs.readFileSync(f), Buffer.from([0x78, 0, 0, 0, 0x41, 0x42]));
      fs.ftruncateSync(fd, 1);
      assert.equal(fs.fstatSync(fd).size, 1);
    } finally {
      fs.closeSync(fd);
    }
    assert.throws(() => fs.openSync(f, 'wx'), { code: 'EEXIST' });
    assert.throws(() => fs.readFileSync(path.join(mnt, 'missing')), { code: 'ENOENT' });
  });

  it('moves 1 MiB per WRITE and READ request, and copies large files intact', () => {
    const data = randomBytes(9 * 1024 * 1024 + 123);
    const src = path.join(tempDir(), 'big');
    fs.writeFileSync(src, data);
    const dst = path.join(mnt, 'big');
    sh('dd', [`if=${src}`, `of=${dst}`, 'bs=1M', 'conv=fsync', 'status=none']);
    sh('sync', [dst, mnt]); // FSYNC on a file, FSYNCDIR on a directory
    assert.equal(counter(mnt, 'maxwrite'), 1 << 20, 'dd bs=1M arrives as 1 MiB WRITEs');
    assert.equal(sha256(fs.readFileSync(dst)), sha256(data));
    sh('dd', [`if=${dst}`, 'of=/dev/null', 'bs=1M', 'iflag=direct', 'status=none']);
    assert.equal(counter(mnt, 'maxread'), 1 << 20, 'direct reads of 1 MiB arrive as 1 MiB READs');
    sh('cp', [dst, path.join(mnt, 'big2')]);
    assert.equal(sha256(fs.readFileSync(path.join(mnt, 'big2'))), sha256(data));
    assert.equal(fs.statSync(path.join(mnt, 'big2')).size, data.length);
  });

  it('makes and lists directories, symlinks, hard links and fifos', () => {
    const d = path.join(mnt, 'tree');
    fs.mkdirSync(path.join(d, 'a', 'b'), { recursive: true, mode: 0o750 });
    assert.equal(fs.statSync(path.join(d, 'a')).mode & 0o777, 0o750 & ~process.umask());
    fs.symlinkSync('../target', path.join(d, 'link'));
    assert.equal(fs.readlinkSync(path.join(d, 'link')), '../target');
    assert.ok(fs.lstatSync(path.join(d, 'link')).isSymbolicLink(), 'a symlink');
    fs.writeFileSync(path.join(d, 'f'), 'data');
    fs.linkSync(path.join(d, 'f'), path.join(d, 'g'));
    const [sf, sg] = [fs.statSync(path.join(d, 'f')), fs.statSync(path.join(d, 'g'))];
    assert.equal(sf.ino, sg.ino);
    assert.equal(sg.nlink, 2);
    sh('mkfifo', [path.join(d, 'pipe')]);
    assert.ok(fs.lstatSync(path.join(d, 'pipe')).isFIFO(), 'a fifo');
    assert.deepEqual(fs.readdirSync(d).sort(), ['a', 'f', 'g', 'link', 'pipe']);
    const types = Object.fromEntries(fs.readdirSync(d, { withFileTypes: true }).map((e) => [e.name, e.isDirectory() ? 'd' : e.isSymbolicLink() ? 'l' : e.isFIFO() ? 'p' : 'f']));
    assert.deepEqual(types, { a: 'd', f: 'f', g: 'f', link: 'l', pipe: 'p' });
    const ls = sh('ls', ['-la', d]).toString();
    assert.match(ls, /^l.* link -> \.\.\/target$/m);
    assert.throws(() => fs.rmdirSync(path.join(d, 'a')), { code: 'ENOTEMPTY' });
    fs.rmdirSync(path.join(d, 'a', 'b'));
    fs.rmdirSync(path.join(d, 'a'));
    fs.unlinkSync(path.join(d, 'f'));
    assert.equal(fs.statSync(path.join(d, 'g')).nlink, 1);
    assert.throws(() => fs.unlinkSync(path.join(d, 'f')), { code: 'ENOENT' });
    assert.throws(() => fs.linkSync(d, path.join(mnt, 'dirlink')), { code: 'EPERM' });
  });

  it('lists a directory larger than one READDIR(PLUS) reply', () => {
    const d = path.join(mnt, 'many');
    fs.mkdirSync(d);
    const names = Array.from({ length: 1500 }, (_, k) => `entry-with-a-rather-long-name-${String(k).padStart(5, '0')}`);
    for (const n of names) fs.writeFileSync(path.join(d, n), n);
    assert.deepEqual(fs.readdirSync(d).sort(), names);
    const lines = sh('ls', ['-l', d]).toString().trim().split('\n');
    assert.equal(lines.length, names.length + 1, 'ls -l shows every entry plus its total line');
    assert.equal(sh('find', [d, '-type', 'f']).toString().trim().split('\n').length, names.length);
  });

  it('gives back every lookup: FORGET and BATCH_FORGET reach zero after the kernel drops its caches', async () => {
    const d = path.join(mnt, 'forget');
    fs.mkdirSync(d);
    for (let k = 0; k < 300; k++) fs.writeFileSync(path.join(d, `f${k}`), 'x');
    sh('ls', ['-lR', mnt]);
    assert.ok(counter(mnt, 'lookups') > 300, 'the kernel holds lookups of what it listed');
    const liveBefore = MEMFS_TOTAL_FILES - fs.statfsSync(mnt).ffree;
    fs.rmSync(d, { recursive: true });
    await eventually(() => MEMFS_TOTAL_FILES - fs.statfsSync(mnt).ffree <= liveBefore - 301, 'removed inodes to be forgotten and freed');
    fs.writeFileSync('/proc/sys/vm/drop_caches', '2');
    await eventually(() => counter(mnt, 'lookups') === 0, 'every lookup to be forgotten');
  });

  it('renames with and without renameat2 flags', () => {
    const d = path.join(mnt, 'ren');
    fs.mkdirSync(path.join(d, 'sub'), { recursive: true });
    fs.writeFileSync(path.join(d, 'a'), 'A');
    fs.writeFileSync(path.join(d, 'b'), 'B');
    fs.renameSync(path.join(d, 'a'), path.join(d, 'sub', 'a2'));
    assert.equal(fs.readFileSync(path.join(d, 'sub', 'a2'), 'utf8'), 'A');
    sh('mv', [path.join(d, 'sub', 'a2'), path.join(d, 'a')]);
    assert.throws(() => renameat2(AT_FDCWD, path.join(d, 'a'), AT_FDCWD, path.join(d, 'b'), RENAME_NOREPLACE), { code: 'EEXIST' });
    renameat2(AT_FDCWD, path.join(d, 'a'), AT_FDCWD, path.join(d, 'b'), RENAME_EXCHANGE);
    assert.equal(fs.readFileSync(path.join(d, 'a'), 'utf8'), 'B');
    assert.equal(fs.readFileSync(path.join(d, 'b'), 'utf8'), 'A');
    renameat2(AT_FDCWD, path.join(d, 'a'), AT_FDCWD, path.join(d, 'c'), RENAME_NOREPLACE);
    assert.deepEqual(fs.readdirSync(d).sort(), ['b', 'c', 'sub']);
    assert.throws(() => renameat2(AT_FDCWD, path.join(d, 'c'), AT_FDCWD, path.join(d, 'e'), RENAME_WHITEOUT), { code: 'EINVAL' });
    fs.renameSync(path.join(d, 'c'), path.join(d, 'b'));
    assert.equal(fs.readFileSync(path.join(d, 'b'), 'utf8'), 'B');
    assert.throws(() => fs.renameSync(path.join(d, 'b'), path.join(d, 'sub')), { code: 'EISDIR' });
    assert.throws(() => fs.renameSync(d, path.join(d, 'sub', 'inside')), { code: 'EINVAL' });
  });

  it('changes mode, owner, size and nanosecond times', () => {
    const f = path.join(mnt, 'attrs');
    fs.writeFileSync(f, '0123456789');
    fs.chmodSync(f, 0o4751);
    assert.equal(fs.statSync(f).mode & 0o7777, 0o4751);
    fs.chownSync(f, 1234, 5678);
    assert.equal(fs.statSync(f).uid, 1234);
    assert.equal(fs.statSync(f).gid, 5678);
    fs.truncateSync(f, 3);
    assert.equal(fs.statSync(f).size, 3);
    utimensat(AT_FDCWD, f, 1_600_000_000_123_456_789n, -1_000_000_001n, 0);
    const st = fs.statSync(f, { bigint: true });
    assert.equal(st.atimeNs, 1_600_000_000_123_456_789n);
    assert.equal(st.mtimeNs, -1_000_000_001n);
    const before = BigInt(Date.now() - 5000) * 1_000_000n;
    utimensat(AT_FDCWD, f, 'now', 'omit', 0);
    const st2 = fs.statSync(f, { bigint: true });
    assert.ok(st2.atimeNs > before, 'atime set to now');
    assert.equal(st2.mtimeNs, -1_000_000_001n, 'mtime left alone');
    fs.symlinkSync('attrs', path.join(mnt, 'attrs-link'));
    utimensat(AT_FDCWD, path.join(mnt, 'attrs-link'), 5_000_000_000n, 6_000_000_000n, AT_SYMLINK_NOFOLLOW);
    assert.equal(fs.lstatSync(path.join(mnt, 'attrs-link'), { bigint: true }).mtimeNs, 6_000_000_000n);
    assert.equal(fs.statSync(f, { bigint: true }).mtimeNs, -1_000_000_001n);
  });

  it('checks permissions in the kernel (default_permissions) and lets other users in (allow_other)', () => {
    const secret = path.join(mnt, 'secret');
    const open = path.join(mnt, 'open');
    fs.writeFileSync(secret, 'root only');
    fs.chmodSync(secret, 0o600);
    fs.writeFileSync(open, 'everyone');
    fs.chmodSync(open, 0o644);
    const nobody = ['--reuid=65534', '--regid=65534', '--clear-groups'];
    const denied = run('setpriv', [...nobody, 'cat', secret]);
    assert.notEqual(denied.status, 0);
    assert.match(denied.stderr, /Permission denied/);
    const allowed = run('setpriv', [...nobody, 'cat', open]);
    assert.equal(allowed.status, 0, allowed.stderr);
    assert.equal(allowed.stdout, 'everyone');
    const write = run('setpriv', [...nobody, 'touch', path.join(mnt, 'by-nobody')]);
    assert.notEqual(write.status, 0, 'the root dir is 0755: nobody cannot create in it');
    fs.mkdirSync(path.join(mnt, 'shared'), { mode: 0o777 });
    fs.chmodSync(path.join(mnt, 'shared'), 0o777);
    const created = run('setpriv', [...nobody, 'touch', path.join(mnt, 'shared', 'mine')]);
    assert.equal(created.status, 0, created.stderr);
    const st = fs.statSync(path.join(mnt, 'shared', 'mine'));
    assert.equal(st.uid, 65534, 'created objects belong to the caller');
    assert.equal(st.gid, 65534);
  });

  it('sets, gets, lists and removes xattrs, with size probes and ERANGE', () => {
    const f = path.join(mnt, 'x');
    fs.writeFileSync(f, '');
    sh('setfattr', ['-n', 'user.colour', '-v', 'blue', f]);
    sh('setfattr', ['-n', 'trusted.big', '-v', `0x${'ab'.repeat(3000)}`, f]);
    assert.equal(sh('getfattr', ['--only-values', '-n', 'user.colour', f]).toString(), 'blue');
    assert.equal(lgetxattr(f, 'trusted.big')?.length, 3000);
    const names = sh('getfattr', ['-d', '-m', '-', '--absolute-names', f]).toString();
    assert.match(names, /user\.colour="blue"/);
    assert.match(names, /trusted\.big=0s/);
    // getxattr(2) with size 0 returns the length; too small a buffer is ERANGE
    const probe = pyXattr(
      'p=sys.argv[1].encode()\n' +
        'print(libc.getxattr(p, b"trusted.big", None, 0))\n' +
        'buf=ctypes.create_string_buffer(10)\n' +
        'r=libc.getxattr(p, b"trusted.big", buf, 10); print(r, ctypes.get_errno())\n' +
        'print(libc.listxattr(p, None, 0))\n' +
        'r=libc.listxattr(p, buf, 5); print(r, ctypes.get_errno())\n',
      f,
    );
    assert.equal(probe.status, 0, probe.stderr);
    assert.equal(probe.stdout, `3000\n-1 ${34}\n${'user.colour\0trusted.big\0'.length}\n-1 34\n`);
    const create = run('setfattr', ['-n', 'user.colour', '-v', 'red', '--raw', f]);
    assert.equal(create.status, 0, create.stderr);
    const py = pyXattr('os.setxattr(sys.argv[1], "user.colour", b"x", os.XATTR_CREATE)', f);
    assert.match(py.stderr, /File exists/);
    sh('setfattr', ['-x', 'user.colour', f]);
    const gone = run('getfattr', ['-n', 'user.colour', f]);
    assert.match(gone.stderr, /No such attribute/);
    const removeMissing = run('setfattr', ['-x', 'user.colour', f]);
    assert.match(removeMissing.stderr, /No such attribute/);
  });

  it('round-trips a tar archive (contents, modes, times, links)', () => {
    const src = tempDir();
    fs.mkdirSync(path.join(src, 'etc', 'conf.d'), { recursive: true });
    fs.writeFileSync(path.join(src, 'etc', 'hosts'), '127.0.0.1 localhost\n');
    fs.writeFileSync(path.join(src, 'etc', 'conf.d', 'big.bin'), randomBytes(3 << 20));
    fs.chmodSync(path.join(src, 'etc', 'hosts'), 0o640);
    fs.symlinkSync('hosts', path.join(src, 'etc', 'hosts.link'));
    fs.linkSync(path.join(src, 'etc', 'hosts'), path.join(src, 'etc', 'hosts.hard'));
    const archive = path.join(tempDir(), 'a.tar');
    sh('tar', ['-C', src, '--sort=name', '-cf', archive, '.']);
    const dest = path.join(mnt, 'untar');
    fs.mkdirSync(dest);
    sh('tar', ['-C', dest, '-xpf', archive]);
    const diff = run('tar', ['-C', dest, '-df', archive]);
    assert.equal(diff.status, 0, `tar --diff found differences: ${diff.stdout}${diff.stderr}`);
    assert.equal(fs.statSync(path.join(dest, 'etc', 'hosts')).ino, fs.statSync(path.join(dest, 'etc', 'hosts.hard')).ino);
    const back = sh('tar', ['-C', dest, '--sort=name', '-cf', '-', '.']);
    const listing = (t: Buffer) => sh('tar', ['-tvf', '-'], { input: t }).toString().split('\n').map((l) => l.replace(/\s+\d{4}-\d\d-\d\d \d\d:\d\d/, '')).sort();
    assert.deepEqual(listing(back), listing(fs.readFileSync(archive)));
  });

  it('answers ENOSYS for what it does not implement, and the kernel copes', () => {
    const f = path.join(mnt, 'nofalloc');
    fs.writeFileSync(f, '');
    const r = run('fallocate', ['-l', '1M', f]);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /not supported/);
    // locks are local to the kernel (no POSIX_LOCKS/FLOCK_LOCKS): flock works
    const lock = run('flock', ['-n', f, 'true']);
    assert.equal(lock.status, 0, lock.stderr);
  });

  it('lets the kernel cache names, misses included, for timeout= seconds', async () => {
    const other = path.join(tempDir('strata-fuse-'), 'mnt');
    fs.mkdirSync(other);
    const cached = await serveInWorker({
      mountpoint: other,
      mount: { source: 'memfs-test', subtype: 'strata-memfs' },
      ops: { module: memfsModule, export: 'createMemFs', args: null },
      timeout: 30,
    });
    try {
      const calls = (m: string) => counter(m, 'lookupcalls');
      // timeout=0: every stat asks (2 misses + 2 hits); timeout=30: only the first miss does (the
      // hit's entry came with the CREATE reply and is still valid)
      for (const [m, expected] of [[mnt, 4], [other, 1]] as const) {
        fs.writeFileSync(path.join(m, 'present'), 'x');
        const before = calls(m);
        assert.equal(fs.existsSync(path.join(m, 'absent')), false);
        assert.equal(fs.existsSync(path.join(m, 'absent')), false);
        fs.statSync(path.join(m, 'present'));
        fs.statSync(path.join(m, 'present'));
        assert.equal(calls(m) - before, expected, `${m === mnt ? 'timeout=0' : 'timeout=30'}: LOOKUPs for two stats of a miss and of a hit`);
      }
      // a cached miss does not hide a file created through the mount
      fs.writeFileSync(path.join(other, 'absent'), 'now here');
      assert.equal(fs.readFileSync(path.join(other, 'absent'), 'utf8'), 'now here');
    } finally {
      await cached.unmount();
    }
  });

  it('unmounts cleanly: the server thread ends and the mount point is free', async () => {
    const other = path.join(tempDir('strata-fuse-'), 'mnt');
    fs.mkdirSync(other);
    const s = await serveInWorker({
      mountpoint: other,
      mount: { source: 'memfs-test', subtype: 'strata-memfs' },
      ops: { module: memfsModule, export: 'createMemFs', args: null },
      timeout: 1,
    });
    assert.ok(s.negotiated.flags & InitFlag.CACHE_SYMLINKS, 'with a timeout, symlinks are cached');
    fs.writeFileSync(path.join(other, 'f'), 'x');
    assert.ok(isMountPoint(other), 'mounted');
    sh('umount', [other]);
    await s.stopped;
    assert.ok(!isMountPoint(other), 'unmounted');
    assert.deepEqual(fs.readdirSync(other), []);
  });

  it('fails clearly when the ops module cannot be loaded, leaving nothing mounted', async () => {
    const other = path.join(tempDir('strata-fuse-'), 'mnt');
    fs.mkdirSync(other);
    await assert.rejects(
      serveInWorker({
        mountpoint: other,
        mount: { source: 'x', subtype: 'strata-memfs' },
        ops: { module: memfsModule, export: 'noSuchFactory', args: null },
        timeout: 0,
      }),
      /has no function noSuchFactory/,
    );
    assert.ok(!isMountPoint(other), 'nothing mounted');
    await assert.rejects(
      serveInWorker({
        mountpoint: path.join(other, 'missing'),
        mount: { source: 'x', subtype: 'strata-memfs' },
        ops: { module: memfsModule, export: 'createMemFs', args: null },
        timeout: 0,
      }),
      (e: Error & { code?: string }) => e.code === 'FUSE_MOUNT' && /ENOENT/.test(e.message),
    );
  });
});
