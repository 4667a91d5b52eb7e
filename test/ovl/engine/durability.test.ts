/**
 * Durability, the kernel's `fsync=` modes: what a copy-up, fsync(2) and syncfs(2) sync (counted
 * with strace in a child process that drives the engine), and the mark a volatile overlay leaves
 * in its work dir, which the kernel's next mount and the engine's next open must both refuse —
 * compared with the kernel's own mounts.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { mount, umount2 } from '../../../src/sys/index.js';
import { openOverlay, OvlOptionsError, type FsyncMode } from '../../../src/ovl/index.js';
import { tempDir } from '../../helpers/tmp.js';

const OVL_INDEX = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../src/ovl/index.ts');

interface Dirs {
  lower: string;
  upper: string;
  work: string;
  merged: string;
}

/** A fresh layer set: a lower with a file, an empty file, a dir and a symlink. */
function layers(): Dirs {
  const root = fs.realpathSync(tempDir('strata-ovl-durable-'));
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

/** Every path under `dir` with its type, permission bits and owner, sorted. */
function tree(dir: string): string[] {
  const out: string[] = [];
  const walk = (rel: string) => {
    for (const name of fs.readdirSync(path.join(dir, rel)).sort()) {
      const r = path.join(rel, name);
      const st = fs.lstatSync(path.join(dir, r));
      out.push(`${r} ${st.isDirectory() ? 'd' : st.isFile() ? 'f' : '?'}${(st.mode & 0o7777).toString(8)} ${st.uid}:${st.gid}`);
      if (st.isDirectory()) walk(r);
    }
  };
  walk('');
  return out;
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
