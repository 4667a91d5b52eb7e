/**
 * `overlay2.size` (xfs project quotas): Docker's errors on ext4 and on an xfs without project
 * quota. This machine's kernel mounts xfs but has no quota support (`-o prjquota` is refused),
 * so the enforcing path cannot run here; the test pins that fact too.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync, spawnSync } from 'node:child_process';
import { openOverlay2 } from '../../src/driver/overlay2/index.js';
import * as sys from '../../src/sys/index.js';
import { scratchRoot, unmountUnder, mountAt } from './overlay2-helpers.js';

const { root, dispose } = scratchRoot('strata-ov2-quota-');
after(dispose);

test('ext4: overlay2.size is refused with Docker\'s text', async () => {
  const home = path.join(root, 'overlay2');
  await assert.rejects(openOverlay2(home, ['overlay2.size=10M']), { message: 'Storage Option overlay2.size only supported for backingFS XFS. Found extfs' });
  await assert.rejects(openOverlay2(home, ['overlay2.size=ten']), { message: "invalid size: 'ten'" });
  const d = await openOverlay2(home, []);
  await assert.rejects(d.createReadWrite('rw', '', { storageOpt: { size: '1G' } }), { message: "--storage-opt is supported only for overlay over xfs with 'pquota' mount option" });
  assert.equal(fs.existsSync(path.join(home, 'backingFsBlockDev')), false);
});

test('xfs loop image without project quota: Docker\'s NewControl error; the driver works without the option', async () => {
  const img = path.join(root, 'xfs.img');
  const mnt = path.join(root, 'xfs');
  fs.mkdirSync(mnt);
  execFileSync('truncate', ['-s', '300M', img]);
  execFileSync('mkfs.xfs', ['-q', img]);
  // This kernel has no quota support: a prjquota mount fails outright.
  const pq = spawnSync('mount', ['-o', 'loop,prjquota', img, mnt], { encoding: 'utf8' });
  if (pq.status === 0) {
    unmountUnder(mnt);
    assert.fail('this kernel mounted xfs with prjquota: extend the test to the enforcing path');
  }
  execFileSync('mount', ['-o', 'loop', img, mnt]);
  try {
    assert.ok(mountAt(mnt)!.superOptions.split(',').includes('noquota'));
    const home = path.join(mnt, 'overlay2');
    await assert.rejects(openOverlay2(home, ['overlay2.size=50M']), {
      message: 'Storage option overlay2.size not supported. Filesystem does not support Project Quota: Filesystem does not support, or has not enabled quotas',
    });
    const d = await openOverlay2(home, []);
    assert.deepEqual(d.status()[0], ['Backing Filesystem', 'xfs']);
    // NewControl made the block device node, as moby does, even though quota is off.
    const dev = fs.lstatSync(path.join(home, 'backingFsBlockDev'));
    assert.ok(dev.isBlockDevice());
    assert.equal(dev.mode & 0o7777, 0o600);
    assert.equal(dev.rdev, fs.statSync(home).dev);
    await assert.rejects(d.createReadWrite('rw', '', { storageOpt: { size: '10M' } }), { message: "--storage-opt is supported only for overlay over xfs with 'pquota' mount option" });
    await d.create('base', '');
    fs.writeFileSync(path.join(home, 'base', 'diff', 'x'), 'x');
    await d.createReadWrite('rw', 'base');
    const m = await d.get('rw');
    try {
      assert.equal(fs.readFileSync(path.join(m, 'x'), 'utf8'), 'x');
    } finally {
      await d.put('rw');
    }
  } finally {
    unmountUnder(mnt);
    try {
      sys.umount2(mnt, sys.constants.MNT_DETACH);
    } catch {
      /* done */
    }
  }
});
