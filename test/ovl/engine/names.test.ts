/**
 * File names that are not UTF-8 (and ones that are, beyond ASCII): the same changes, given as
 * Buffer paths, through the kernel overlay and through strata's path API on identical layers; the
 * merged listings, file contents and the upper dirs (whiteouts, copied-up names, redirect bytes)
 * must agree byte for byte. Then the kernel mounts what strata wrote and sees the same names.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { MNT_DETACH, lgetxattr, mountFs, umount2 } from '../../../src/sys/index.js';
import { openOverlay, type Overlay } from '../../../src/ovl/index.js';
import { tempDir } from '../../helpers/tmp.js';

/** A path from raw bytes given as a latin1 string ('\xe9' is the single byte 0xe9). */
const b = (latin1: string): Buffer => Buffer.from(latin1, 'latin1');
const LATIN1_DIR = 'r\xe9p'; // "rép" in latin1: 0xe9 alone is not UTF-8
const UTF8_FILE = 'caf\xc3\xa9'; // "café" in UTF-8
const BAD_FILE = '\xff\xfename';

interface Layers {
  lowers: string[];
  upper: string;
  work: string;
}

/** Two lowers with names of every kind, built with Buffer paths. */
function build(root: string): Layers {
  const l0 = path.join(root, 'l0');
  const l1 = path.join(root, 'l1');
  const upper = path.join(root, 'upper');
  const work = path.join(root, 'work');
  for (const d of [l0, l1, upper, work]) fs.mkdirSync(d);
  const at = (base: string, rel: string) => b(base + '/' + rel);
  fs.mkdirSync(at(l1, LATIN1_DIR));
  fs.writeFileSync(at(l1, `${LATIN1_DIR}/${BAD_FILE}`), 'low bad');
  fs.writeFileSync(at(l1, `${LATIN1_DIR}/${UTF8_FILE}`), 'low utf8');
  fs.mkdirSync(at(l0, LATIN1_DIR));
  fs.writeFileSync(at(l0, `${LATIN1_DIR}/top\xe9`), 'top');
  fs.symlinkSync(at('', `${LATIN1_DIR}/${BAD_FILE}`).subarray(1), at(l0, 'link\xff'));
  fs.mkdirSync(at(l0, 'moved\xfe'));
  fs.writeFileSync(at(l0, 'moved\xfe/inside'), 'in');
  return { lowers: [l0, l1], upper, work };
}

/** The same changes on either side: `p` makes a side's path from union bytes. */
interface Ops {
  write(rel: string, data: string): Promise<void>;
  unlink(rel: string): Promise<void>;
  mkdir(rel: string): Promise<void>;
  rename(from: string, to: string): Promise<void>;
  symlink(target: string, rel: string): Promise<void>;
}

async function change(o: Ops): Promise<void> {
  await o.write(`/${LATIN1_DIR}/${BAD_FILE}`, 'changed'); // copy-up of a non-UTF-8 name in a non-UTF-8 dir
  await o.unlink(`/${LATIN1_DIR}/${UTF8_FILE}`); // whiteout with UTF-8 bytes
  await o.mkdir(`/new\xe9`);
  await o.write(`/new\xe9/\x80\x81`, 'fresh');
  await o.rename('/moved\xfe', '/renamed\xfd'); // redirect xattr with non-UTF-8 bytes
  await o.symlink(`${LATIN1_DIR}/top\xe9`, '/sym\xe9');
}

function kernelOps(merged: string): Ops {
  const m = (rel: string) => b(merged + rel);
  return {
    write: async (rel, data) => fs.writeFileSync(m(rel), data),
    unlink: async (rel) => fs.unlinkSync(m(rel)),
    mkdir: async (rel) => fs.mkdirSync(m(rel)),
    rename: async (f, t) => fs.renameSync(m(f), m(t)),
    symlink: async (target, rel) => fs.symlinkSync(b(target), m(rel)),
  };
}

function apiOps(ovl: Overlay): Ops {
  return {
    write: (rel, data) => ovl.writeFile(b(rel), data),
    unlink: (rel) => ovl.unlink(b(rel)),
    mkdir: (rel) => ovl.mkdir(b(rel)),
    rename: (f, t) => ovl.rename(b(f), b(t)),
    symlink: (target, rel) => ovl.symlink(b(target), b(rel)),
  };
}

/** A real tree by bytes: each name (latin1) → type, content or target, and the overlay xattrs. */
function realTree(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (rel: string) => {
    for (const name of fs.readdirSync(b(dir + rel), { encoding: 'buffer' })) {
      const r = rel + '/' + name.toString('latin1');
      const p = b(dir + r);
      const st = fs.lstatSync(p);
      const redirect = lgetxattr(p, 'trusted.overlay.redirect');
      const opaque = lgetxattr(p, 'trusted.overlay.opaque');
      const x = `${redirect ? ` redirect=${JSON.stringify(redirect.toString('latin1'))}` : ''}${opaque ? ` opaque=${opaque.toString()}` : ''}`;
      if (st.isDirectory()) {
        out[r] = 'dir' + x;
        walk(r);
      } else if (st.isSymbolicLink()) out[r] = 'symlink ' + fs.readlinkSync(p, 'latin1');
      else if (st.isCharacterDevice()) out[r] = `char ${st.rdev}`;
      else out[r] = 'file ' + fs.readFileSync(p, 'latin1') + x;
    }
  };
  walk('');
  return out;
}

/** The merged view through the API, by bytes. */
async function apiTree(ovl: Overlay): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const walk = async (rel: string) => {
    for (const d of await ovl.readdir(b(rel || '/'), { encoding: 'buffer' })) {
      const r = rel + '/' + d.name.toString('latin1');
      if (d.type === 'dir') {
        out[r] = 'dir';
        await walk(r);
      } else if (d.type === 'symlink') out[r] = 'symlink ' + (await ovl.readlink(b(r), { encoding: 'buffer' })).toString('latin1');
      else out[r] = 'file ' + (await ovl.readFile(b(r))).toString('latin1');
    }
  };
  await walk('');
  return out;
}

/** The merged view of a mount, in the same form (no xattrs: the union hides them). */
function mountTree(merged: string): Record<string, string> {
  const t = realTree(merged);
  for (const k of Object.keys(t)) t[k] = t[k]!.replace(/ (redirect|opaque)=.*$/, '');
  return t;
}

function mountKernel(l: Layers): string {
  const merged = fs.realpathSync(tempDir('strata-ovl-names-m-'));
  mountFs('overlay', merged, [...l.lowers.map((x): [string, string] => ['lowerdir+', x]), ['upperdir', l.upper], ['workdir', l.work], ['redirect_dir', 'on']]);
  return merged;
}

describe('ovl engine: names that are not UTF-8', () => {
  let k: Layers;
  let s: Layers;
  let kMerged: string;
  let ovl: Overlay;
  const mounts: string[] = [];

  before(async () => {
    k = build(fs.realpathSync(tempDir('strata-ovl-names-k-')));
    s = build(fs.realpathSync(tempDir('strata-ovl-names-s-')));
    kMerged = mountKernel(k);
    mounts.push(kMerged);
    ovl = await openOverlay({ lowerdirs: s.lowers, upperdir: s.upper, workdir: s.work, redirectDir: 'on' });
  });
  after(async () => {
    await ovl?.close();
    for (const m of mounts) umount2(m, MNT_DETACH);
  });

  it('reads every name as the kernel does, byte for byte', async () => {
    const view = await apiTree(ovl);
    assert.deepEqual(view, mountTree(kMerged), 'merged views before changes');
    assert.equal(view[`/${LATIN1_DIR}/${BAD_FILE}`], 'file low bad', 'a lower file under a non-UTF-8 dir, merged');
    assert.equal((await ovl.stat(b(`/link\xff`))).size, 'low bad'.length, 'a symlink with non-UTF-8 bytes is followed');
  });

  it('text paths are UTF-8, and readdir decodes names as fs.readdir does', async () => {
    const viaReplacement = await ovl.readdir(`/${LATIN1_DIR.replace('\xe9', '\ufffd')}`).catch((e: { code: string }) => e.code);
    assert.equal(viaReplacement, 'ENOENT', 'U+FFFD (bytes ef bf bd) is not the byte 0xe9');
    const names = (await ovl.readdir(b(`/${LATIN1_DIR}`))).map((d) => d.name).sort();
    assert.deepEqual(names, ['caf\u00e9', 'top\ufffd', '\ufffd\ufffdname'], 'UTF-8 decoded, invalid bytes as U+FFFD');
    const err = await ovl.readFile(b('/missing\xff')).catch((e: Error & { path?: string }) => e);
    assert.equal((err as { path?: string }).path, '/missing\ufffd', 'errors carry the path as text');
  });

  it('changes leave the same upper dir as the kernel, and the kernel reads it back', async () => {
    await change(kernelOps(kMerged));
    await change(apiOps(ovl));
    assert.deepEqual(await apiTree(ovl), mountTree(kMerged), 'merged views after changes');
    const upper = realTree(s.upper);
    assert.deepEqual(upper, realTree(k.upper), 'upper dirs');
    assert.equal(upper['/renamed\xfd'], 'dir redirect="moved\xfe"', 'the redirect holds the raw bytes');
    assert.equal(upper[`/${LATIN1_DIR}/${UTF8_FILE}`], 'char 0', 'a whiteout under the UTF-8 name');

    const view = await apiTree(ovl);
    await ovl.close();
    const again = mountKernel(s);
    mounts.push(again);
    assert.deepEqual(mountTree(again), view, 'the kernel over strata\'s upper');
  });
});
