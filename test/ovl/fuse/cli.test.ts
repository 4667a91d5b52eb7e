/**
 * The strata-overlay command on real layers: as a daemon, in the foreground, through mount(8) and
 * mount.fuse3, with fuse-overlayfs's options — and what it leaves in the upper dir compared with
 * the kernel overlay doing the same operations on an identical copy of the layers.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, it } from 'node:test';
import { parseArgs } from '../../../src/ovl/fuse/cli.js';
import { isMountPoint } from '../../../src/sys/index.js';
import { lgetxattr, mountFs, umount2, MNT_DETACH } from '../../../src/sys/index.js';
import { sh, tempDir } from '../../helpers/tmp.js';
import { diffSnapshots, snapshotTree } from '../../helpers/tree-snapshot.js';
import { buildLayers, changeThrough, comparable } from './layers.js';

const CLI = fileURLToPath(new URL('../../../src/ovl/fuse/cli.ts', import.meta.url));
/** Runs strata-overlay from source, exactly as the driver does: node --import tsx cli.ts. */
const NODE_ARGS = ['--import', import.meta.resolve('tsx'), CLI];

function strataOverlay(args: string[]) {
  const r = spawnSync(process.execPath, [...NODE_ARGS, ...args], { encoding: 'utf8', timeout: 120_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** PIDs of processes whose command line mentions `needle` (the daemon serving a mount point). */
function processesMentioning(needle: string): number[] {
  const pids: number[] = [];
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d) || Number(d) === process.pid) continue;
    try {
      if (fs.readFileSync(`/proc/${d}/cmdline`, 'utf8').includes(needle)) pids.push(Number(d));
    } catch {
      /* gone meanwhile */
    }
  }
  return pids;
}

async function waitFor(check: () => boolean, what: string, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Mounts `mnt` with `-d` in the foreground (`-o opts`), runs `body` on the live mount and returns
 * the request log lines it caused (a STATFS marks their end). The server then gets SIGTERM, even
 * when `body` failed, and must exit 0 leaving nothing mounted.
 */
async function requestsDuring(mnt: string, opts: string, body: () => void): Promise<string[]> {
  const child = spawn(process.execPath, [...NODE_ARGS, '-d', mnt, '-o', opts], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr.on('data', (c: Buffer) => (log += c.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  let lines: string[];
  try {
    await waitFor(() => log.includes(' INIT '), 'the foreground server to answer INIT');
    await waitFor(() => isMountPoint(mnt), 'the mount');
    const before = log.split('\n').length;
    body();
    fs.statfsSync(mnt); // a marker: its STATFS line comes after every request of the body
    await waitFor(() => log.split('\n').slice(before - 1).some((l) => / STATFS /.test(l)), 'the STATFS marker in the log');
    lines = log.split('\n').slice(before - 1);
  } finally {
    child.kill('SIGTERM');
  }
  assert.equal(await exited, 0, 'exit status 0 after SIGTERM');
  assert.ok(!isMountPoint(mnt), 'SIGTERM unmounted it');
  return lines;
}

describe('strata-overlay command', () => {
  const cleanups: (() => void)[] = [];
  after(() => {
    for (const c of cleanups.reverse()) c();
  });
  /** Lazily unmounts `mnt` at the end if a test left it mounted. */
  const unmountLater = (mnt: string) =>
    cleanups.push(() => {
      if (isMountPoint(mnt)) umount2(mnt, MNT_DETACH);
    });

  it('prints help and version, and one line for a bad command line', () => {
    const help = strataOverlay(['--help']);
    assert.equal(help.status, 0);
    assert.match(help.stdout, /^usage: strata-overlay \[SOURCE\] MOUNTPOINT -o lowerdir=/);
    const version = strataOverlay(['--version']);
    assert.equal(version.status, 0);
    assert.match(version.stdout, /^strata-overlay \d+\.\d+\.\d+\n$/);
    const dir = tempDir();
    const r = strataOverlay([dir, '-o', `lowerdir=${dir},bogus=1`]);
    assert.equal(r.status, 2, r.stderr);
    assert.equal(r.stderr, 'strata-overlay: unknown option bogus=1\n');
    // the rest of the command line, in-process
    for (const [args, message] of [
      [[dir], /no lowerdir= given/],
      [[dir, '-o', `lowerdir=${dir},upperdir=${dir}`], /upperdir= needs a workdir=/],
      [[dir, '-o', `lowerdir=${dir}::${dir}`], /data-only lower layers/],
      [['-x', dir], /unknown flag -x/],
      [['-o'], /-o needs an argument/],
      [[], /no mount point given/],
      [['a', 'b', 'c', '-o', 'lowerdir=/'], /too many arguments/],
    ] as const) {
      assert.throws(() => parseArgs([...args]), (e: Error & { code?: string }) => e.code === 'FUSE_USAGE' && message.test(e.message), args.join(' '));
    }
    const inv = parseArgs(['src', 'rel/mnt', '-s', '-oro', '-o', 'lowerdir=l,debug'], '/base');
    assert.ok(typeof inv === 'object', 'an invocation');
    assert.equal(inv.source, 'src');
    assert.equal(inv.mountpoint, '/base/rel/mnt');
    assert.deepEqual(inv.options.overlay, { lowerdirs: ['/base/l'] });
    assert.equal(inv.foreground, true, '-o debug runs in the foreground');
    assert.equal(inv.debug, true);
    const plain = parseArgs(['/m', '-o', 'lowerdir=/l,fsname=named'], '/');
    assert.ok(typeof plain === 'object', 'an invocation');
    assert.equal(plain.source, 'named');
    assert.equal(plain.foreground, false);
  });

  it('exits 1 with one line, mounting nothing, when the layers are bad', () => {
    const dir = tempDir();
    const mnt = path.join(dir, 'mnt');
    fs.mkdirSync(mnt);
    const r = strataOverlay([mnt, '-o', `lowerdir=${path.join(dir, 'missing')}`]);
    assert.equal(r.status, 1);
    assert.equal(r.stderr, `strata-overlay: overlay: lowerdir ${path.join(dir, 'missing')} does not exist\n`);
    assert.ok(!isMountPoint(mnt), 'nothing mounted');
    const noMnt = strataOverlay([path.join(dir, 'nope'), '-o', `lowerdir=${dir}`]);
    assert.equal(noMnt.status, 1);
    assert.match(noMnt.stderr, /mount point .*nope: no such directory/);
  });

  it('mounts as a daemon, changes the upper dir exactly as the kernel overlay does, and exits on umount', async () => {
    const ours = buildLayers(path.join(tempDir(), 'fuse'));
    const kernel = buildLayers(path.join(tempDir(), 'kernel'));
    unmountLater(ours.mnt);
    const r = strataOverlay(['layers-src', ours.mnt, '-o', ours.opts]);
    assert.equal(r.status, 0, r.stderr);
    assert.ok(isMountPoint(ours.mnt), 'live when the command returns');
    const info = fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').find((l) => l.split(' ')[4] === ours.mnt) ?? '';
    assert.match(info, / - fuse\.strata-overlay layers-src rw,/);
    const daemons = processesMentioning(ours.mnt);
    assert.equal(daemons.length, 1, 'one daemon serves the mount');

    mountFs('overlay', kernel.mnt, [['lowerdir+', kernel.l1], ['lowerdir+', kernel.l2], ['upperdir', kernel.upper], ['workdir', kernel.work]]);
    unmountLater(kernel.mnt);

    // reading: the union view is the kernel's
    assert.deepEqual(fs.readdirSync(ours.mnt).sort(), fs.readdirSync(kernel.mnt).sort());
    assert.equal(fs.readFileSync(path.join(ours.mnt, 'shadowed'), 'utf8'), 'from l1\n');
    assert.deepEqual(fs.readdirSync(path.join(ours.mnt, 'd')).sort(), ['f', 'g', 'h']);
    assert.equal(fs.readlinkSync(path.join(ours.mnt, 'link')), 'a.txt');
    assert.deepEqual(diffSnapshots(comparable(snapshotTree(kernel.mnt)), comparable(snapshotTree(ours.mnt))), []);

    changeThrough(ours.mnt);
    changeThrough(kernel.mnt);
    assert.deepEqual(diffSnapshots(comparable(snapshotTree(kernel.mnt)), comparable(snapshotTree(ours.mnt))), [], 'union views after the changes');
    assert.deepEqual(diffSnapshots(comparable(snapshotTree(kernel.upper)), comparable(snapshotTree(ours.upper))), [], 'upper dirs after the changes');
    assert.equal(lgetxattr(path.join(ours.upper, 'top.txt'), 'user.note')?.toString(), 'hi');

    sh('umount', [ours.mnt]);
    await waitFor(() => processesMentioning(ours.mnt).length === 0, 'the daemon to exit after umount');
    assert.ok(!isMountPoint(ours.mnt), 'unmounted');
  });

  it('unmounts with fusermount3 -u; honours ro, a read-only stack, and escaped colons', async () => {
    const dir = path.join(tempDir(), 'x');
    const layer = path.join(dir, 'lay:er');
    const mnt = path.join(dir, 'mnt');
    fs.mkdirSync(layer, { recursive: true });
    fs.mkdirSync(mnt);
    fs.writeFileSync(path.join(layer, 'file'), 'in a layer with a colon\n');
    unmountLater(mnt);
    const r = strataOverlay([mnt, '-o', `lowerdir=${layer.replace(/:/g, '\\:')}`]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(fs.readFileSync(path.join(mnt, 'file'), 'utf8'), 'in a layer with a colon\n');
    assert.throws(() => fs.writeFileSync(path.join(mnt, 'new'), 'x'), { code: 'EROFS' });
    sh('fusermount3', ['-u', mnt]);
    await waitFor(() => processesMentioning(mnt).length === 0, 'the daemon to exit after fusermount3 -u');

    const up = path.join(dir, 'up');
    const work = path.join(dir, 'work');
    fs.mkdirSync(up);
    fs.mkdirSync(work);
    const ro = strataOverlay([mnt, '-o', 'ro', '-o', `lowerdir=${layer.replace(/:/g, '\\:')},upperdir=${up},workdir=${work}`]);
    assert.equal(ro.status, 0, ro.stderr);
    const opts = (fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').find((l) => l.split(' ')[4] === mnt) ?? '').split(' ')[5] ?? '';
    assert.match(opts, /^ro,nosuid,nodev/);
    assert.throws(() => fs.writeFileSync(path.join(mnt, 'new'), 'x'), { code: 'EROFS' });
    sh('umount', [mnt]);
    await waitFor(() => processesMentioning(mnt).length === 0, 'the daemon to exit');
  });

  it('serves in the foreground with -f until SIGTERM, and caches for timeout= seconds', async () => {
    const dir = tempDir();
    const layers = buildLayers(dir);
    unmountLater(layers.mnt);
    /** Stats one file twice through a foreground mount and returns how many LOOKUPs that took. */
    const lookupsForTwoStats = async (timeout: number): Promise<number> => {
      const lines = await requestsDuring(layers.mnt, `${layers.opts},timeout=${timeout}`, () => {
        fs.statSync(path.join(layers.mnt, 'top.txt'));
        fs.statSync(path.join(layers.mnt, 'top.txt'));
      });
      return lines.filter((l) => / LOOKUP node=1 /.test(l)).length;
    };
    assert.equal(await lookupsForTwoStats(0), 2, 'timeout=0: the kernel asks every time');
    assert.equal(await lookupsForTwoStats(60), 1, 'timeout=60: the second stat is served from the kernel cache');
  });

  it('lets the kernel read and write a copied-up or new file itself (passthrough), unless passthrough=off', async () => {
    const dir = tempDir();
    const layers = buildLayers(dir);
    unmountLater(layers.mnt);
    /** Writes and reads files through a foreground mount and returns the data requests the server saw. */
    const dataRequests = async (extra: string): Promise<{ writes: number; reads: number }> => {
      const lines = await requestsDuring(layers.mnt, `${layers.opts}${extra}`, () => {
        const created = path.join(layers.mnt, `new${extra.length}.txt`);
        fs.writeFileSync(created, 'written');
        fs.appendFileSync(created, ' and appended');
        const lower = path.join(layers.mnt, 'top.txt');
        const fd = fs.openSync(lower, 'r+'); // copied up by the open
        fs.writeSync(fd, 'TOP', 0);
        fs.closeSync(fd);
        assert.equal(fs.readFileSync(created, 'utf8'), 'written and appended');
        assert.equal(fs.readFileSync(lower, 'utf8').slice(0, 3), 'TOP');
        assert.equal(fs.statSync(created).size, 20, 'the size the kernel wrote');
        // a hard link made while the file is open: its attributes follow writes the server never sees
        const held = fs.openSync(created, 'r+');
        try {
          fs.linkSync(created, `${created}.link`);
          assert.equal(fs.statSync(`${created}.link`).size, 20);
          fs.writeSync(held, Buffer.alloc(1000, 'z'), 0, 1000, 20);
          assert.equal(fs.statSync(`${created}.link`).size, 1020, `the other name sees the new size (${extra || 'passthrough'})`);
        } finally {
          fs.closeSync(held); // an open file would keep the lazily unmounted server alive
        }
      });
      return { writes: lines.filter((l) => / WRITE /.test(l)).length, reads: lines.filter((l) => / READ /.test(l)).length };
    };
    assert.deepEqual(await dataRequests(''), { writes: 0, reads: 0 }, 'passthrough: the data never reaches the server');
    const off = await dataRequests(',passthrough=off');
    assert.ok(off.writes >= 3, `passthrough=off: ${off.writes} WRITE requests`);
    assert.equal(fs.readFileSync(path.join(layers.upper, 'new0.txt'), 'utf8'), `written and appended${'z'.repeat(1000)}`, 'in the upper dir');
  });

  it('lets the kernel cache the attributes of a lower hard link, whose other names a copy-up leaves alone', async () => {
    const dir = tempDir();
    const layers = buildLayers(dir);
    fs.linkSync(path.join(layers.l2, 'a.txt'), path.join(layers.l2, 'a.hard'));
    unmountLater(layers.mnt);
    const [a, hard] = [path.join(layers.mnt, 'a.txt'), path.join(layers.mnt, 'a.hard')];
    const lines = await requestsDuring(layers.mnt, `${layers.opts},timeout=60`, () => {
      for (const p of [a, hard, a, hard]) assert.equal(fs.statSync(p).nlink, 2);
      fs.chmodSync(a, 0o600); // copies this name up: a new inode with one link
      const [sa, sh] = [fs.statSync(a), fs.statSync(hard)];
      assert.deepEqual([sa.nlink, sa.mode & 0o777], [1, 0o600], 'the copied-up name');
      assert.deepEqual([sh.nlink, sh.mode & 0o777], [2, 0o644], 'the other name, still the lower file');
      assert.notEqual(sa.ino, sh.ino, 'the hard link is broken (index=off)');
    });
    assert.deepEqual(
      lines.filter((l) => / GETATTR node=(?!1 )/.test(l)),
      [],
      'every stat after the LOOKUP, and the other name after the copy-up, comes from the kernel cache (the root aside)',
    );
  });

  it('a name replaced while open still follows writes made through another name in passthrough (fuzz seed 1900178)', async () => {
    const dir = tempDir();
    const layers = buildLayers(dir);
    unmountLater(layers.mnt);
    await requestsDuring(layers.mnt, layers.opts, () => {
      const file = path.join(layers.mnt, 'shared.txt');
      fs.writeFileSync(file, 'abc');
      fs.writeFileSync(path.join(layers.mnt, 'other.txt'), 'other');
      const writer = fs.openSync(file, 'r+'); // one name: the kernel writes through its backing file
      fs.linkSync(file, `${file}.link`);
      const reader = fs.openSync(`${file}.link`, 'r');
      try {
        // the reader's name now shows another file: its node lingers, the inode back to one link
        fs.renameSync(path.join(layers.mnt, 'other.txt'), `${file}.link`);
        const buf = Buffer.alloc(16);
        assert.equal(fs.readSync(reader, buf, 0, 16, 100), 0, 'beyond the end: the kernel refreshes the size (one link now)');
        fs.writeSync(writer, 'defg', 3);
        assert.equal(fs.readSync(reader, buf, 0, 16, 0), 7, 'the reader sees the bytes written through the other name');
        assert.equal(buf.toString('utf8', 0, 7), 'abcdefg');
      } finally {
        fs.closeSync(reader);
        fs.closeSync(writer);
      }
    });
  });

  it('mounts through mount(8) and mount.fuse3, finding strata-overlay in the default PATH', async () => {
    // mount(8) runs its helpers without PATH; /bin/sh then searches its default, which includes
    // /usr/local/sbin. A private mount namespace lends this test a /usr/local/sbin holding the command.
    const dir = tempDir();
    const layers = buildLayers(dir);
    const bin = path.join(dir, 'sbin');
    fs.mkdirSync(bin);
    fs.writeFileSync(path.join(bin, 'strata-overlay'), `#!/bin/sh\nexec ${process.execPath} ${NODE_ARGS.join(' ')} "$@"\n`, { mode: 0o755 });
    const script = [
      'set -e',
      `mount --bind ${bin} /usr/local/sbin`,
      `mount -t fuse.strata-overlay strata-overlay ${layers.mnt} -o rw,lazytime -o '${layers.opts}'`,
      `cat ${layers.mnt}/top.txt`,
      `ls ${layers.mnt}`,
      `grep ' ${layers.mnt} ' /proc/self/mountinfo`,
      `echo written > ${layers.mnt}/via-mount`,
      `umount ${layers.mnt}`,
    ].join('\n');
    const r = spawnSync('unshare', ['-m', '--propagation', 'private', 'sh', '-c', script], { encoding: 'utf8', timeout: 120_000 });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.split('\n')[0], 'top layer');
    assert.match(r.stdout, /^shadowed\ntop\.txt$/m, 'ls lists the union');
    assert.match(r.stdout, / - fuse\.strata-overlay strata-overlay rw,/);
    assert.equal(fs.readFileSync(path.join(layers.upper, 'via-mount'), 'utf8'), 'written\n');
    await waitFor(() => processesMentioning(layers.mnt).length === 0, 'the daemon to exit after umount');
  });

  /**
   * Serves `opts` in the foreground under strace, runs `body` on the mount, and returns the sync
   * calls the server made meanwhile, as `fsync path` (fdatasync too; paths relative to `dir`). The
   * mount is gone when it returns.
   */
  async function serverSyncs(dir: string, mnt: string, opts: string, body: () => void): Promise<string[]> {
    const log = path.join(tempDir(), 'strace.log');
    const child = spawn('strace', ['-f', '-qq', '-y', '-o', log, '-e', 'trace=fsync,fdatasync', process.execPath, ...NODE_ARGS, '-f', mnt, '-o', opts], { stdio: 'ignore' });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    unmountLater(mnt);
    await waitFor(() => isMountPoint(mnt), 'the mount');
    try {
      body();
    } finally {
      sh('umount', [mnt]);
    }
    assert.equal(await exited, 0, 'the server exits 0 after umount');
    return [...fs.readFileSync(log, 'utf8').matchAll(/\b(fsync|fdatasync)\(\d+<([^>]*)>\)/g)].map((m) => `${m[1]} ${path.relative(dir, m[2]!)}`);
  }

  it('syncs as fsync= says: an fsync(2) of a directory through the mount syncs its upper dir, of a lower file nothing; volatile nothing', async () => {
    const body = (mnt: string) => () => {
      fs.mkdirSync(path.join(mnt, 'new-dir'));
      for (const [rel, flags] of [['new-dir', fs.constants.O_DIRECTORY], ['a.txt', fs.constants.O_RDONLY]] as const) {
        const fd = fs.openSync(path.join(mnt, rel), flags);
        fs.fsyncSync(fd);
        fs.fdatasyncSync(fd);
        fs.closeSync(fd);
      }
    };
    const dir = tempDir();
    const auto = buildLayers(path.join(dir, 'auto'));
    assert.deepEqual(await serverSyncs(dir, auto.mnt, auto.opts, body(auto.mnt)), ['fsync auto/upper/new-dir', 'fdatasync auto/upper/new-dir'], 'auto: the upper dir, twice');
    const vol = buildLayers(path.join(dir, 'volatile'));
    assert.deepEqual(await serverSyncs(dir, vol.mnt, `${vol.opts},volatile`, body(vol.mnt)), [], 'volatile: nothing');
  });

  it('a volatile mount leaves the kernel\'s mark in the work dir: the next mount, the kernel\'s or its own, is refused with one line', async () => {
    const layers = buildLayers(tempDir());
    unmountLater(layers.mnt);
    assert.equal(strataOverlay([layers.mnt, '-o', `${layers.opts},volatile`]).status, 0);
    fs.writeFileSync(path.join(layers.mnt, 'written'), 'not synced\n');
    sh('umount', [layers.mnt]);
    await waitFor(() => processesMentioning(layers.mnt).length === 0, 'the daemon to exit after umount');
    assert.ok(fs.statSync(path.join(layers.work, 'work/incompat/volatile/dirty')).isFile(), 'the mark stays');

    const again = strataOverlay([layers.mnt, '-o', layers.opts]);
    assert.equal(again.status, 1);
    assert.equal(again.stderr, "strata-overlay: overlay: overlay with incompat feature 'volatile' cannot be mounted\n");
    assert.ok(!isMountPoint(layers.mnt), 'nothing mounted');
    assert.throws(() => mountFs('overlay', layers.mnt, [['lowerdir+', layers.l1], ['lowerdir+', layers.l2], ['upperdir', layers.upper], ['workdir', layers.work]]), { code: 'EINVAL' }, 'the kernel refuses it too');
  });
});
