/**
 * fuse-overlay beyond the conformance suite: a container root is a real strata-overlay FUSE mount;
 * what a container changes lands in its `diff/` in the kernel's format; the kernel's overlay, given
 * the very same dirs, shows the very same tree; and `put` ends the daemon's mount.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { openFuseOverlay, FUSE_OVERLAY_FSTYPE } from '../../src/driver/fuse-overlay/index.js';
import { lgetxattr, mountOf } from '../../src/sys/index.js';
import { tempDir } from '../helpers/tmp.js';
import { mountOverlay } from '../helpers/layertar.js';
import { diffSnapshots, snapshotTree } from '../helpers/tree-snapshot.js';

function write(dir: string, rel: string, data: string): void {
  fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
  fs.writeFileSync(path.join(dir, rel), data);
}

test('fuse-overlay: a container root is a strata-overlay mount, its changes are kernel-format, and the kernel shows the same tree', async () => {
  const root = tempDir();
  const driver = await openFuseOverlay(path.join(root, 'fuse-overlay'), []);
  assert.equal(driver.name, 'fuse-overlay');
  await driver.create('base', '');
  const baseDiff = path.join(driver.home, 'base', 'diff');
  for (const [rel, data] of [['etc/a', 'a\n'], ['etc/b', 'b\n'], ['dir/sub/x', 'x\n'], ['keep/y', 'y\n']] as const) write(baseDiff, rel, data);
  await driver.create('app', 'base');
  write(path.join(driver.home, 'app', 'diff'), 'etc/c', 'c\n');
  await driver.createReadWrite('rw', 'app');

  const merged = await driver.get('rw');
  try {
    assert.equal(mountOf(merged)?.fsType, FUSE_OVERLAY_FSTYPE, 'the container root is a strata-overlay mount');
    assert.deepEqual(fs.readdirSync(merged).sort(), ['dir', 'etc', 'keep']);
    assert.equal(fs.readFileSync(path.join(merged, 'etc/c'), 'utf8'), 'c\n');
    fs.appendFileSync(path.join(merged, 'etc/a'), 'more\n');
    fs.unlinkSync(path.join(merged, 'etc/b'));
    fs.rmSync(path.join(merged, 'dir'), { recursive: true });
    fs.mkdirSync(path.join(merged, 'dir'));
    write(merged, 'dir/new', 'new\n');
  } finally {
    await driver.put('rw');
  }
  assert.equal(mountOf(merged)?.mountPoint === merged, false, 'put unmounted the container root');

  const upper = path.join(driver.home, 'rw', 'diff');
  const b = fs.lstatSync(path.join(upper, 'etc/b'));
  assert.ok(b.isCharacterDevice() && b.rdev === 0, 'a deleted lower file is a 0:0 whiteout in diff/');
  assert.equal(lgetxattr(path.join(upper, 'dir'), 'trusted.overlay.opaque')?.toString(), 'y', 'a re-created dir is opaque');
  assert.equal(fs.readFileSync(path.join(upper, 'etc/a'), 'utf8'), 'a\nmore\n', 'the changed file was copied up');

  // The same layers under the same FUSE mount again, and under the kernel: the same tree.
  const again = await driver.get('rw');
  let viaFuse;
  try {
    viaFuse = snapshotTree(again);
  } finally {
    await driver.put('rw');
  }
  const { LowerDir } = await driver.metadata('rw');
  const kernel = mountOverlay(path.join(root, 'kernel'), LowerDir!.split(':'), { upper });
  try {
    const viaKernel = snapshotTree(kernel.merged);
    assert.deepEqual(diffSnapshots(viaKernel, viaFuse), [], 'the kernel overlay and strata-overlay show the same tree');
  } finally {
    kernel.unmount();
  }
});
