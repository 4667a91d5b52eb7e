/**
 * d_type: overlayfs needs directory entries that carry their type. On an ext4 made without the
 * `filetype` feature the kernel still mounts an overlay (it only logs a warning), so — as dockerd —
 * strata reads the raw dirents itself and refuses such a backing filesystem with Docker's words.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { openOverlay2 } from '../../src/driver/overlay2/index.js';
import { NotSupportedError } from '../../src/driver/driver.js';
import * as sys from '../../src/sys/index.js';
import { sh, tempDir } from '../helpers/tmp.js';

const work = tempDir('strata-dtype-');
const img = path.join(work, 'nofiletype.img');
const mnt = path.join(work, 'mnt');
fs.mkdirSync(mnt);
fs.writeFileSync(img, '');
fs.truncateSync(img, 64 << 20);
sh('mkfs.ext4', ['-q', '-O', '^filetype', img]);
sh('mount', ['-o', 'loop', img, mnt]);
after(() => sh('umount', ['-d', mnt]));

test('direntTypes sees DT_UNKNOWN on ext4 without filetype, and real types on this machine\'s disk', () => {
  fs.writeFileSync(path.join(mnt, 'f'), '');
  assert.ok(sys.direntTypes(mnt).unknown > 0);
  const here = sys.direntTypes(work);
  assert.ok(here.entries > 0);
  assert.equal(here.unknown, 0);
  fs.rmSync(path.join(mnt, 'f'));
});

test('overlay2 refuses a backing filesystem without d_type, with dockerd\'s message', async () => {
  const root = path.join(mnt, 'root');
  fs.mkdirSync(root);
  await assert.rejects(openOverlay2(path.join(root, 'overlay2'), []), (e: unknown) => {
    assert.ok(e instanceof NotSupportedError);
    assert.equal(
      (e as Error).message,
      'overlay2: the backing extfs filesystem is formatted without d_type support, which leads to incorrect behavior. ' +
        'Reformat the filesystem (or use tune2fs) with -O filetype flag to enable d_type support. ' +
        'Backing filesystems without d_type support are not supported.',
    );
    return true;
  });
  assert.deepEqual(fs.readdirSync(root), [], 'nothing left behind');
});

test('an already initialised home on such a filesystem opens, reporting Supports d_type: false', async () => {
  const home = path.join(mnt, 'root2', 'overlay2');
  fs.mkdirSync(path.join(home, 'l'), { recursive: true });
  const d = await openOverlay2(home, []);
  try {
    assert.deepEqual(d.status().find(([k]) => k === 'Supports d_type'), ['Supports d_type', 'false']);
  } finally {
    await d.cleanup();
  }
});

test('on this machine\'s disk overlay2 reports Supports d_type: true', async () => {
  fs.mkdirSync(path.join(work, 'root'));
  const d = await openOverlay2(path.join(work, 'root', 'overlay2'), []);
  try {
    assert.deepEqual(d.status().find(([k]) => k === 'Supports d_type'), ['Supports d_type', 'true']);
  } finally {
    await d.cleanup();
  }
});
