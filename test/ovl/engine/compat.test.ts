/**
 * On-disk compatibility both ways: what the engine leaves in upper, mounted by the kernel, looks
 * exactly like the engine's own view (atimes aside: reading a file through either view sets them); and an upper the kernel wrote (origins, impure dirs, shared
 * whiteouts, opaque dirs, redirects), opened by the engine, looks exactly like the kernel's view.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { MNT_DETACH, mountFs, umount2 } from '../../../src/sys/index.js';
import { openOverlay, RENAME_EXCHANGE } from '../../../src/ovl/index.js';
import { tempDir } from '../../helpers/tmp.js';
import { engineSideFor, kernelSideFor, same, twin, unionDump, type Copy, type Side, type Twin } from './twin.js';

async function changes(t: Twin): Promise<void> {
  const ops: [string, (s: Side) => Promise<unknown>][] = [
    ['chmod', (s) => s.chmod('/d/a', 0o600)],
    ['write', (s) => s.writeFile('/d/sub/f', 'changed')],
    ['unlink', (s) => s.unlink('/top.txt')],
    ['rmdir', (s) => s.unlink('/gone/x').then(() => s.rmdir('/gone'))],
    ['mkdir over whiteout', (s) => s.mkdir('/gone')],
    ['rename file', (s) => s.rename('/d/b', '/b-moved')],
    ['rename dir with redirect', (s) => s.rename('/d', '/d-moved')],
    ['rename dir elsewhere', (s) => s.rename('/e', '/gone/e')],
    ['exchange', (s) => s.rename('/b-moved', '/low.txt', RENAME_EXCHANGE)],
    ['link', (s) => s.link('/low.txt', '/low-link')],
  ];
  for (const [what, op] of ops) await same(t, what, op);
}

/** Mounts the kernel overlay over `c` (with a fresh work dir) and returns its side and a cleanup. */
function kernelOver(c: Copy): { side: Side; close: () => void } {
  const merged = fs.realpathSync(tempDir('strata-ovl-compat-'));
  mountFs('overlay', merged, [...c.lowers.map((l): [string, string] => ['lowerdir+', l]), ['upperdir', c.upper!], ['workdir', c.work!], ['redirect_dir', 'on']]);
  return { side: kernelSideFor(merged), close: () => umount2(merged, MNT_DETACH) };
}

describe('ovl engine: on-disk compatibility with the kernel', () => {
  let t: Twin;
  before(async () => {
    t = await twin({
      lowers: [{ 'top.txt': 't', 'd/a': 'a', 'd/b': 'b', 'd/sub/f': 'f', 'gone/x': 'x', e: { dir: true } }, { 'low.txt': 'l', 'd/c': 'c', 'gone/y': { whiteout: true } }],
      redirectDir: 'on',
    });
    await changes(t);
  });
  after(async () => {
    await t?.close();
  });

  it('the kernel reads the engine\'s upper as the engine does, and the engine reads the kernel\'s upper as the kernel does', async () => {
    const engineView = await unionDump(t.engine, t.edirs, { atime: false });
    const kernelView = await unionDump(t.kernel, t.kdirs, { atime: false });
    assert.deepEqual(engineView, kernelView, 'same views before switching');
    await t.close();

    // the kernel over the engine's layers
    const k = kernelOver(t.edirs);
    try {
      assert.deepEqual(await unionDump(k.side, t.edirs, { atime: false }), engineView, 'kernel view of the engine-written upper');
    } finally {
      k.close();
    }
    // the engine over the kernel's layers
    const ovl = await openOverlay({ lowerdirs: t.kdirs.lowers, upperdir: t.kdirs.upper!, workdir: t.kdirs.work!, redirectDir: 'on' });
    try {
      assert.deepEqual(await unionDump(engineSideFor(ovl), t.kdirs, { atime: false }), kernelView, 'engine view of the kernel-written upper');
    } finally {
      await ovl.close();
    }
    assert.ok(fs.existsSync(path.join(t.kdirs.work!, 'work')), 'work dir kept');
  });
});
