/**
 * Durability, the kernel's `fsync=` modes: what a copy-up, fsync(2) and syncfs(2) sync (counted
 * with strace in a child process that drives the engine; and on ext4, the objects synced as its
 * tracepoint sees them, the kernel overlay's and the engine's side by side), and the mark a
 * volatile overlay leaves in its work dir, which the kernel's next mount and the engine's next
 * open must both refuse — compared with the kernel's own mounts.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { major, minor, mount, umount2 } from '../../../src/sys/index.js';
import { openOverlay, openOverlayCore, OvlOptionsError, type FsyncMode } from '../../../src/ovl/index.js';
import { sh, tempDir } from '../../helpers/tmp.js';
import { snapshotTree } from '../../helpers/tree-snapshot.js';

const OVL_INDEX = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../src/ovl/index.ts');

interface Dirs {
  lower: string;
  upper: string;
  work: string;
  merged: string;
}

/** A fresh layer set: a lower with a file, an empty file, a dir and a symlink. */
function layers(root = fs.realpathSync(tempDir('strata-ovl-durable-'))): Dirs {
  const d = { lower: `${root}/l`, upper: `${root}/u`, work: `${root}/w`, merged: `${root}/m` };
  for (const p of Object.values(d)) fs.mkdirSync(p);
  fs.mkdirSync(`${d.lower}/dir`);
  fs.writeFileSync(`${d.lower}/dir/data`, 'some data');
  fs.writeFileSync(`${d.lower}/empty`, '');
  fs.symlinkSync('dir/data', `${d.lower}/link`);
  return d;
}

/** The kernel's mount over `d` with extra options; throws the mount's error. */
function kernelMount(d: Dirs, extra = ''): void {
  mount('overlay', d.merged, 'overlay', 0, `lowerdir=${d.lower},upperdir=${d.upper},workdir=${d.work}${extra}`);
}

/** Every path under `dir` with its type, permission bits and owner, in snapshotTree's order. */
function tree(dir: string): string[] {
  const kind = (t: string) => (t === 'dir' ? 'd' : t === 'file' ? 'f' : '?');
  return [...snapshotTree(dir, { root: false })].map(([rel, e]) => `${rel} ${kind(e.type)}${e.mode.toString(8)} ${e.uid}:${e.gid}`);
}

const refusal = (feature: string) => (e: unknown) =>
  e instanceof OvlOptionsError && e.message === `overlay: overlay with incompat feature '${feature}' cannot be mounted`;

describe('ovl engine: volatile and the work dir\'s incompat mark, as the kernel', () => {
  it('a volatile open marks the work dir as a volatile kernel mount does, and then neither the kernel nor the engine takes it', async () => {
    const k = layers();
    kernelMount(k, ',volatile');
    umount2(k.merged);
    const e = layers();
    const ovl = await openOverlay({ lowerdirs: [e.lower], upperdir: e.upper, workdir: e.work, fsync: 'volatile' });
    await ovl.close();
    assert.deepEqual(tree(e.work), tree(k.work));
    assert.ok(tree(e.work).includes('work/incompat/volatile/dirty f0 0:0'), 'the mark is there');

    for (const d of [k, e]) {
      const before = tree(d.work);
      assert.throws(() => kernelMount(d), { code: 'EINVAL' }, 'the kernel refuses');
      for (const fsync of ['auto', 'volatile'] as FsyncMode[]) {
        await assert.rejects(openOverlay({ lowerdirs: [d.lower], upperdir: d.upper, workdir: d.work, fsync }), refusal('volatile'), `the engine refuses (${fsync})`);
      }
      assert.deepEqual(tree(d.work), before, 'nothing changed');
    }
  });

  it('any entry in work/incompat is refused by name; an empty incompat dir is cleared, as the kernel does', async () => {
    for (const side of ['kernel', 'engine'] as const) {
      const d = layers();
      fs.mkdirSync(`${d.work}/work/incompat`, { recursive: true });
      fs.writeFileSync(`${d.work}/work/incompat/future`, '');
      const open = () => openOverlay({ lowerdirs: [d.lower], upperdir: d.upper, workdir: d.work });
      if (side === 'kernel') assert.throws(() => kernelMount(d), { code: 'EINVAL' });
      else await assert.rejects(open(), refusal('future'));
      assert.deepEqual(tree(d.work), ['work d755 0:0', 'work/incompat d755 0:0', 'work/incompat/future f644 0:0'], `${side}: left as it was`);

      fs.rmSync(`${d.work}/work/incompat/future`);
      if (side === 'kernel') {
        kernelMount(d);
        umount2(d.merged);
      } else await (await open()).close();
      assert.deepEqual(tree(d.work).filter((l) => !l.startsWith('index')), ['work d0 0:0'], `${side}: an empty incompat dir goes with the rest`);
    }
  });
});

/**
 * The child: opens the overlay in `mode`, then runs each step between two markers (a failing
 * access(2) of `/.strata-step-NAME`) so that strace's log says which syscalls each step made.
 */
const CHILD = `
import fs from 'node:fs';
import { openOverlay, openOverlayCore } from ${JSON.stringify(OVL_INDEX)};
const [lower, upper, work, mode] = process.argv.slice(2);
const mark = (name) => { try { fs.accessSync('/.strata-step-' + name); } catch {} };
const opts = { lowerdirs: [lower], upperdir: upper, workdir: work, fsync: mode };
const ovl = await openOverlay(opts);
const step = async (name, fn) => { mark(name); await fn(); mark('end'); };
const rd = await ovl.open('/dir/data', 'r');
await step('fsync-lower', () => rd.sync());
await step('chmod-dir', () => ovl.chmod('/dir', 0o700));
await step('chmod-file', () => ovl.chmod('/dir/data', 0o600));
await step('fsync-copied-up', () => rd.sync());
await step('chmod-empty', () => ovl.chmod('/empty', 0o600));
await step('chown-symlink', () => ovl.lchown('/link', 1, 1));
await step('syncfs', () => ovl.syncfs());
await rd.close();
await ovl.close();
fs.rmSync(work + '/work/incompat', { recursive: true, force: true }); // the user's way past a volatile mark
const core = openOverlayCore(opts);
const dir = core.lookup(core.root, 'dir');
const lowerOnly = core.lookup(core.root, 'lower-only');
await step('fsyncdir-upper', () => core.fsyncdir(dir, false));
await step('fdatasyncdir-upper', () => core.fsyncdir(dir, true));
await step('fsyncdir-lower', () => core.fsyncdir(lowerOnly, false));
`;

/** The sync calls (fsync, fdatasync, syncfs) each step of CHILD made, as `step: call call ...`. */
function syncsByStep(mode: FsyncMode): Record<string, string> {
  const d = layers();
  fs.mkdirSync(`${d.lower}/lower-only`);
  const script = path.join(tempDir('strata-ovl-durable-child-'), 'child.mts');
  fs.writeFileSync(script, CHILD);
  const log = `${script}.strace`;
  const r = spawnSync('strace', ['-f', '-qq', '-o', log, '-e', 'trace=fsync,fdatasync,syncfs,access,faccessat,faccessat2', process.execPath, '--import', 'tsx', script, d.lower, d.upper, d.work, mode], { encoding: 'utf8' });
  assert.equal(r.status, 0, `child failed: ${r.stderr}`);
  const out: Record<string, string> = {};
  let step: string | null = null;
  for (const line of fs.readFileSync(log, 'utf8').split('\n')) {
    const marker = /"\/\.strata-step-([a-z-]+)"/.exec(line);
    if (marker) step = marker[1] === 'end' ? null : marker[1]!;
    else if (step !== null) {
      const call = /^(?:\[pid\s+\d+\]\s+|\d+\s+)?(fsync|fdatasync|syncfs)\(/.exec(line);
      if (call) out[step] = `${out[step] ?? ''} ${call[1]}`.trim();
    }
  }
  return out;
}

describe('ovl engine: what each fsync= mode syncs (strace of the engine in a child)', () => {
  // The kernel's rules (fs/overlayfs copy_up.c, file.c, readdir.c, super.c as of 6.18): auto
  // fsyncs a copied-up file's data when it has any; strict fsyncs a copied-up regular file or
  // directory once its metadata is set, in place of the data sync; symlinks and other kinds never.
  // fsync(2) syncs an upper file, never a lower one; a directory's, its upper dir; syncfs the
  // upper filesystem. volatile syncs nothing at all.
  const upperSyncs = { 'fsync-copied-up': 'fsync', syncfs: 'syncfs', 'fsyncdir-upper': 'fsync', 'fdatasyncdir-upper': 'fdatasync' };
  it('auto: the data of a non-empty file copied up', () => {
    assert.deepEqual(syncsByStep('auto'), { 'chmod-file': 'fsync', ...upperSyncs });
  });
  it('strict: every copied-up file and directory, once complete', () => {
    assert.deepEqual(syncsByStep('strict'), { 'chmod-dir': 'fsync', 'chmod-file': 'fsync', 'chmod-empty': 'fsync', ...upperSyncs });
  });
  it('volatile: nothing', () => {
    assert.deepEqual(syncsByStep('volatile'), {});
  });
});

/** ext4's own record of each fsync(2)/fdatasync(2) reaching it (the kernel overlay's internal ones included). */
const TRACE = '/sys/kernel/tracing';
const SYNC_EVENT = `${TRACE}/events/ext4/ext4_sync_file_enter/enable`;

/**
 * The ext4 syncs on the filesystem `dev` during `fn`, as `name datasync` (names of the objects in
 * `upper`, found by inode number).
 */
function ext4Syncs(dev: number, upper: string, fn: () => void): string[] {
  fs.writeFileSync(`${TRACE}/trace`, '');
  fs.writeFileSync(SYNC_EVENT, '1');
  // recording may have been left off (tracing_on 0) by another tracer's user: on for this, then as it was
  const wasOn = fs.readFileSync(`${TRACE}/tracing_on`, 'utf8').trim();
  fs.writeFileSync(`${TRACE}/tracing_on`, '1');
  try {
    fn();
  } finally {
    fs.writeFileSync(`${TRACE}/tracing_on`, wasOn);
    fs.writeFileSync(SYNC_EVENT, '0');
  }
  const names = new Map<number, string>();
  const walk = (rel: string) => {
    for (const n of fs.readdirSync(path.join(upper, rel))) {
      const r = rel === '' ? n : `${rel}/${n}`;
      const st = fs.lstatSync(path.join(upper, r));
      names.set(st.ino, r);
      if (st.isDirectory()) walk(r);
    }
  };
  walk('');
  const mine = `dev ${major(dev)},${minor(dev)} `;
  return [...fs.readFileSync(`${TRACE}/trace`, 'utf8').matchAll(/dev (\d+,\d+) ino (\d+) parent \d+ datasync (\d)/g)]
    .filter((m) => `dev ${m[1]} ` === mine)
    .map((m) => `${names.get(Number(m[2])) ?? `ino ${m[2]}`} ${m[3] === '1' ? 'fdatasync' : 'fsync'}`);
}

describe('ovl engine: the same objects synced as by the kernel overlay, seen by ext4', () => {
  it('auto, strict and volatile: copy-ups of a dir, a file, an empty file and a symlink, then fsync(2) of the dir and the file', (t) => {
    if (!fs.existsSync(SYNC_EVENT)) return t.skip('no ext4 tracepoints here');
    const root = fs.realpathSync(tempDir('strata-ovl-ext4-'));
    const img = `${root}/img`;
    const mnt = `${root}/fs`;
    fs.mkdirSync(mnt);
    fs.writeFileSync(img, '');
    fs.truncateSync(img, 64 << 20);
    sh('mkfs.ext4', ['-q', img]);
    sh('mount', ['-o', 'loop', img, mnt]);
    try {
      const dev = fs.statSync(mnt).dev;
      for (const mode of ['auto', 'strict', 'volatile'] as FsyncMode[]) {
        const [k, e] = ['kernel', 'engine'].map((side) => {
          fs.mkdirSync(`${mnt}/${side}-${mode}`);
          return layers(`${mnt}/${side}-${mode}`);
        }) as [Dirs, Dirs];
        sh('sync', []);
        kernelMount(k, `,fsync=${mode}`);
        const kernel = ext4Syncs(dev, k.upper, () => {
          fs.chmodSync(`${k.merged}/dir`, 0o700);
          fs.chmodSync(`${k.merged}/dir/data`, 0o600);
          fs.chmodSync(`${k.merged}/empty`, 0o600);
          fs.lchownSync(`${k.merged}/link`, 1, 1);
          for (const p of ['dir', 'dir/data']) {
            const fd = fs.openSync(`${k.merged}/${p}`, 'r');
            fs.fsyncSync(fd);
            fs.fdatasyncSync(fd);
            fs.closeSync(fd);
          }
        });
        umount2(k.merged);
        const core = openOverlayCore({ lowerdirs: [e.lower], upperdir: e.upper, workdir: e.work, fsync: mode });
        const engine = ext4Syncs(dev, e.upper, () => {
          const dir = core.lookup(core.root, 'dir');
          core.setattr(dir, { mode: 0o700 });
          const data = core.lookup(dir, 'data');
          core.setattr(data, { mode: 0o600 });
          core.setattr(core.lookup(core.root, 'empty'), { mode: 0o600 });
          core.setattr(core.lookup(core.root, 'link'), { uid: 1, gid: 1 });
          core.fsyncdir(dir, false);
          core.fsyncdir(dir, true);
          const file = core.open(data, fs.constants.O_RDONLY);
          file.fsync(false);
          file.fsync(true);
          file.close();
        });
        core.close();
        assert.deepEqual(engine, kernel, mode);
        if (mode === 'auto') assert.deepEqual(kernel, ['dir/data fsync', 'dir fsync', 'dir fdatasync', 'dir/data fsync', 'dir/data fdatasync'], 'what the kernel syncs in auto');
        if (mode === 'volatile') assert.deepEqual(kernel, [], 'volatile syncs nothing');
      }
    } finally {
      sh('umount', [mnt]);
    }
  });
});
