/**
 * OverlayFuseOps through a real FUSE mount (served in-process from a worker thread), against the
 * kernel overlay on a twin of the same layers: every operation must give the same result or the
 * same errno, and the union views and upper dirs must end up equal.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { serveInWorker, type FuseServer } from '../../../src/ovl/fuse/worker.js';
import { isMountPoint } from '../../../src/sys/index.js';
import {
  AT_FDCWD,
  MNT_DETACH,
  RENAME_EXCHANGE,
  RENAME_NOREPLACE,
  RENAME_WHITEOUT,
  S_IFCHR,
  lgetxattr,
  llistxattr,
  lsetxattr,
  major,
  minor,
  mknod,
  mountFs,
  renameat2,
  umount2,
} from '../../../src/sys/index.js';
import { tempDir } from '../../helpers/tmp.js';
import { diffSnapshots, snapshotTree } from '../../helpers/tree-snapshot.js';
import { buildLayers, comparable } from './layers.js';

const overlayOpsModule = new URL('../../../src/ovl/fuse/overlay-ops.ts', import.meta.url).href;
const BIG = randomBytes(24 * 1024 * 1024 + 77);

type Layers = ReturnType<typeof buildLayers>;

/** What an operation did: its value, or the errno name it failed with. */
function attempt(fn: () => unknown): string {
  try {
    const v = fn();
    return `ok ${v === undefined ? '' : JSON.stringify(v)}`;
  } catch (e) {
    return `error ${(e as NodeJS.ErrnoException).code}`;
  }
}

describe('the overlay through FUSE, against the kernel overlay', () => {
  let ours: Layers;
  let kernel: Layers;
  let server: FuseServer;

  before(async () => {
    const base = tempDir('strata-fuse-ovl-');
    fs.chmodSync(base, 0o755);
    ours = buildLayers(path.join(base, 'fuse'));
    kernel = buildLayers(path.join(base, 'kernel'));
    for (const l of [ours, kernel]) {
      fs.chmodSync(path.dirname(l.mnt), 0o755);
      fs.writeFileSync(path.join(l.l2, 'big.bin'), BIG);
      fs.mkdirSync(path.join(l.l2, 'shared'), { mode: 0o777 });
      fs.chmodSync(path.join(l.l2, 'shared'), 0o777);
      // a directory only the bottom layer has, holding a stray whiteout: listed as it is until merged
      fs.mkdirSync(path.join(l.l2, 'stray'));
      fs.writeFileSync(path.join(l.l2, 'stray', 'f'), 'f\n');
      mknod(path.join(l.l2, 'stray', 'wh'), S_IFCHR, 0, 0);
    }
    server = await serveInWorker({
      mountpoint: ours.mnt,
      mount: { source: 'strata-overlay', subtype: 'strata-overlay' },
      ops: { module: overlayOpsModule, export: 'createOverlayFuseOps', args: { lowerdirs: [ours.l1, ours.l2], upperdir: ours.upper, workdir: ours.work } },
      timeout: 0,
    });
    mountFs('overlay', kernel.mnt, [['lowerdir+', kernel.l1], ['lowerdir+', kernel.l2], ['upperdir', kernel.upper], ['workdir', kernel.work]]);
  });

  after(async () => {
    if (kernel && isMountPoint(kernel.mnt)) umount2(kernel.mnt, MNT_DETACH);
    if (server) await server.unmount({ lazy: true });
  });

  /** Runs `op` on both mounts (given each mount point) and asserts the same outcome. */
  function same(what: string, op: (mnt: string) => unknown): string {
    const k = attempt(() => op(kernel.mnt));
    const o = attempt(() => op(ours.mnt));
    assert.equal(o, k, `${what}: strata ${o}, kernel ${k}`);
    return o;
  }

  it('lists merged directories in the kernel order, with the same types', () => {
    for (const dir of ['', 'd']) {
      same(`readdir /${dir}`, (m) => fs.readdirSync(path.join(m, dir), { withFileTypes: true }).map((e) => `${e.name}:${e.isDirectory() ? 'd' : e.isSymbolicLink() ? 'l' : 'f'}`));
    }
    same('d_ino equals st_ino', (m) => {
      const out = spawnSync('ls', ['-i1', m], { encoding: 'utf8' }).stdout.trim().split('\n');
      return out.every((line) => {
        const [ino, name] = line.trim().split(/\s+/) as [string, string];
        return BigInt(ino) === fs.lstatSync(path.join(m, name), { bigint: true }).ino;
      });
    });
  });

  it('drops a directory’s cached listing when a copy-up merges it (its stray whiteout then hides)', () => {
    const list = (m: string) => fs.readdirSync(path.join(m, 'stray')).sort();
    assert.deepEqual(same('readdir /stray', list), `ok ${JSON.stringify(['f', 'wh'])}`);
    same('chmod /stray/f', (m) => fs.chmodSync(path.join(m, 'stray', 'f'), 0o600));
    assert.deepEqual(same('readdir /stray after the copy-up', list), `ok ${JSON.stringify(['f'])}`);
    same('nlink of the merged dir', (m) => fs.statSync(path.join(m, 'stray')).nlink);
  });

  it('reads a large lower file sequentially, intact', () => {
    const hash = (m: string) => createHash('sha256').update(fs.readFileSync(path.join(m, 'big.bin'))).digest('hex');
    assert.equal(hash(ours.mnt), createHash('sha256').update(BIG).digest('hex'));
    same('size of big.bin', (m) => fs.statSync(path.join(m, 'big.bin')).size);
  });

  it('keeps st_ino across copy-up and reports hard links as the kernel does', () => {
    same('ino kept by chmod copy-up', (m) => {
      const before = fs.statSync(path.join(m, 'a.txt')).ino;
      fs.chmodSync(path.join(m, 'a.txt'), 0o640);
      return fs.statSync(path.join(m, 'a.txt')).ino === before;
    });
    same('link a lower file', (m) => fs.linkSync(path.join(m, 'b.txt'), path.join(m, 'b-link')));
    same('hard links share st_ino and nlink', (m) => {
      const [x, y] = [fs.statSync(path.join(m, 'b.txt')), fs.statSync(path.join(m, 'b-link'))];
      return [x.ino === y.ino, x.nlink, y.nlink];
    });
  });

  it('gives the kernel overlay errnos', () => {
    same('rename a lower dir', (m) => fs.renameSync(path.join(m, 'd'), path.join(m, 'd-renamed')));
    same('rmdir a merged non-empty dir', (m) => fs.rmdirSync(path.join(m, 'd')));
    same('unlink a dir', (m) => fs.unlinkSync(path.join(m, 'd')));
    same('link a dir', (m) => fs.linkSync(path.join(m, 'd'), path.join(m, 'd-link')));
    same('mknod char 0:0', (m) => mknod(path.join(m, 'wh'), S_IFCHR | 0o644, 0, 0));
    same('mknod char 259:70000 keeps its device number', (m) => {
      mknod(path.join(m, 'dev'), S_IFCHR | 0o600, 259, 70000);
      const st = fs.lstatSync(path.join(m, 'dev'));
      return [st.isCharacterDevice(), major(st.rdev), minor(st.rdev), st.mode & 0o7777];
    });
    same('RENAME_NOREPLACE over a lower file', (m) => renameat2(AT_FDCWD, path.join(m, 'top.txt'), AT_FDCWD, path.join(m, 'shadowed'), RENAME_NOREPLACE));
    same('RENAME_WHITEOUT', (m) => renameat2(AT_FDCWD, path.join(m, 'top.txt'), AT_FDCWD, path.join(m, 'x'), RENAME_WHITEOUT));
    same('rename a dir into itself', (m) => fs.renameSync(path.join(m, 'shared'), path.join(m, 'shared', 'in')));
    same('open a missing file', (m) => fs.readFileSync(path.join(m, 'nope')));
    same('readlink a file', (m) => fs.readlinkSync(path.join(m, 'top.txt')));
    same('getxattr missing', (m) => lgetxattr(path.join(m, 'top.txt'), 'user.none'));
  });

  it('exchanges lower files with RENAME_EXCHANGE', () => {
    same('RENAME_EXCHANGE', (m) => renameat2(AT_FDCWD, path.join(m, 'top.txt'), AT_FDCWD, path.join(m, 'shadowed'), RENAME_EXCHANGE));
    same('contents after exchange', (m) => [fs.readFileSync(path.join(m, 'top.txt'), 'utf8'), fs.readFileSync(path.join(m, 'shadowed'), 'utf8')]);
  });

  it('appends, truncates through a handle, and keeps an unlinked open file usable', () => {
    same('append to a lower file', (m) => {
      const fd = fs.openSync(path.join(m, 'd', 'g'), 'a');
      try {
        fs.writeSync(fd, 'tail\n');
      } finally {
        fs.closeSync(fd);
      }
      return fs.readFileSync(path.join(m, 'd', 'g'), 'utf8');
    });
    same('open, unlink, use', (m) => {
      const fd = fs.openSync(path.join(m, 'd', 'f'), 'r+');
      try {
        fs.unlinkSync(path.join(m, 'd', 'f'));
        fs.writeSync(fd, 'DEEP', 0);
        fs.ftruncateSync(fd, 6);
        const buf = Buffer.alloc(64);
        const n = fs.readSync(fd, buf, 0, 64, 0);
        return [fs.fstatSync(fd).size, buf.toString('utf8', 0, n), fs.existsSync(path.join(m, 'd', 'f'))];
      } finally {
        fs.closeSync(fd);
      }
    });
  });

  it('stores private overlay xattrs escaped and hides the engine’s own', () => {
    same('set trusted.overlay.mine', (m) => lsetxattr(path.join(m, 'new-x'), 'trusted.overlay.mine', 'v'));
    fs.writeFileSync(path.join(ours.mnt, 'new-x'), '');
    fs.writeFileSync(path.join(kernel.mnt, 'new-x'), '');
    same('set trusted.overlay.mine on a new file', (m) => lsetxattr(path.join(m, 'new-x'), 'trusted.overlay.mine', 'v'));
    same('get it back', (m) => lgetxattr(path.join(m, 'new-x'), 'trusted.overlay.mine')?.toString());
    same('list on a copied-up file', (m) => llistxattr(path.join(m, 'a.txt')).sort());
    same('list on the new file', (m) => llistxattr(path.join(m, 'new-x')).sort());
  });

  it('creates objects owned by the calling user', () => {
    same('create as nobody', (m) => {
      const r = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', 'sh', '-c', `echo hi > ${path.join(m, 'shared', 'mine')} && mkdir ${path.join(m, 'shared', 'dir')}`], { encoding: 'utf8' });
      if (r.status !== 0) throw new Error(r.stderr);
      const [f, d] = [fs.statSync(path.join(m, 'shared', 'mine')), fs.statSync(path.join(m, 'shared', 'dir'))];
      return [f.uid, f.gid, d.uid, d.gid];
    });
    same('setgid dir: group and setgid bit inherited', (m) => {
      const dir = path.join(m, 'shared', 'sgid');
      fs.mkdirSync(dir);
      fs.chownSync(dir, 0, 4321);
      fs.chmodSync(dir, 0o2777);
      const r = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', 'sh', '-c', `umask 022; echo hi > ${dir}/f && mkdir ${dir}/sub && mknod ${dir}/p p`], { encoding: 'utf8' });
      if (r.status !== 0) throw new Error(r.stderr);
      return ['f', 'sub', 'p'].map((n) => {
        const st = fs.lstatSync(path.join(dir, n));
        return [n, st.uid, st.gid, (st.mode & 0o7777).toString(8)];
      });
    });
    same('nobody cannot write a root file', (m) => {
      const r = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', 'sh', '-c', `echo x >> ${path.join(m, 'top.txt')}`], { encoding: 'utf8' });
      return r.status === 0 ? 'written' : /Permission denied/.test(r.stderr) ? 'EACCES' : r.stderr;
    });
  });

  it('ends with the same union view and the same upper dir', () => {
    assert.deepEqual(diffSnapshots(comparable(snapshotTree(kernel.mnt)), comparable(snapshotTree(ours.mnt))), [], 'union views');
    assert.deepEqual(diffSnapshots(comparable(snapshotTree(kernel.upper)), comparable(snapshotTree(ours.upper))), [], 'upper dirs');
    same('statfs namelen and block size', (m) => {
      const s = fs.statfsSync(m);
      return [s.bsize, s.blocks];
    });
  });
});

describe('the overlay through FUSE with kernel caching (timeout > 0)', () => {
  let layers: Layers;
  let server: FuseServer;

  before(async () => {
    layers = buildLayers(path.join(tempDir('strata-fuse-ovl-'), 'cached'));
    server = await serveInWorker({
      mountpoint: layers.mnt,
      mount: { source: 'strata-overlay', subtype: 'strata-overlay' },
      ops: { module: overlayOpsModule, export: 'createOverlayFuseOps', args: { lowerdirs: [layers.l1, layers.l2], upperdir: layers.upper, workdir: layers.work } },
      timeout: 0.5,
    });
  });

  after(async () => {
    if (server) await server.unmount({ lazy: true });
  });

  it('keeps file pages across opens only while no other name can change them', async () => {
    const a = path.join(layers.mnt, 'a.txt');
    const b = path.join(layers.mnt, 'b.txt');
    assert.equal(fs.readFileSync(a, 'utf8'), 'lower a\n');
    fs.writeFileSync(a, 'upper A\n'); // same node: its cached pages follow
    assert.equal(fs.readFileSync(a, 'utf8'), 'upper A\n');
    // a second name for the same upper inode: a write through it must show through the first name
    fs.linkSync(a, path.join(layers.mnt, 'a-alias'));
    assert.equal(fs.readFileSync(a, 'utf8'), 'upper A\n');
    fs.writeFileSync(path.join(layers.mnt, 'a-alias'), 'ALIAS!!\n'); // same size as before
    await new Promise((r) => setTimeout(r, 700)); // past the attribute timeout
    assert.equal(fs.readFileSync(a, 'utf8'), 'ALIAS!!\n');
    assert.equal(fs.readFileSync(b, 'utf8'), 'lower b\n');
  });

  it('caches symlink targets and misses without hiding changes made through the mount', () => {
    assert.equal(fs.readlinkSync(path.join(layers.mnt, 'link')), 'a.txt');
    fs.unlinkSync(path.join(layers.mnt, 'link'));
    fs.symlinkSync('b.txt', path.join(layers.mnt, 'link'));
    assert.equal(fs.readlinkSync(path.join(layers.mnt, 'link')), 'b.txt');
    assert.equal(fs.existsSync(path.join(layers.mnt, 'later')), false);
    fs.writeFileSync(path.join(layers.mnt, 'later'), 'x');
    assert.equal(fs.readFileSync(path.join(layers.mnt, 'later'), 'utf8'), 'x');
  });
});
