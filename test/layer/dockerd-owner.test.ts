/**
 * A data root a running dockerd owns: strata refuses to open it for writing (one line, exit 1)
 * unless `--ignore-dockerd`, and reads it. Both signs are checked: the dockerd process (with its
 * PID in the message) and, for a dockerd strata cannot see, the bolt lock on its network store.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { strata } from '../helpers/cli.js';
import { tempDir } from '../helpers/tmp.js';
import { startDockerd } from '../oracle/dockerd.js';
import { dockerdOwning } from '../../src/layer/dockerd.js';
import { openLayerStore } from '../../src/layer/index.js';
import { LOCK_EX, tryFlock } from '../../src/sys/index.js';

test('a live dockerd: writes refused unless --ignore-dockerd, reads allowed', async () => {
  const d = await startDockerd();
  try {
    const owner = dockerdOwning(d.root);
    assert.ok(owner?.pid !== undefined && owner.pid > 0, `the dockerd is found with its pid: ${JSON.stringify(owner)}`);
    const r = strata(['--root', d.root, 'tag', 'x', 'y:1']);
    assert.equal(r.status, 1, `a write under dockerd exits 1: ${r.stderr}`);
    assert.match(r.stderr, new RegExp(`^strata: data root ${d.root} is in use by a running dockerd \\(pid ${owner.pid}\\): stop it first, or only read \\(--ignore-dockerd to write anyway\\)\\n$`));
    const images = strata(['--root', d.root, '--json', 'images']);
    assert.equal(images.status, 0, `reading works: ${images.stderr}`);
    assert.deepEqual(JSON.parse(images.stdout), []);
    const forced = strata(['--root', d.root, '--ignore-dockerd', 'prune']);
    assert.equal(forced.status, 0, `--ignore-dockerd opens for writing: ${forced.stderr}`);
    await assert.rejects(openLayerStore({ root: d.root }), (e: Error & { code?: string }) => e.code === 'STORE_OWNED_BY_DOCKERD');
  } finally {
    await d.stop();
  }
  assert.equal(dockerdOwning(d.root), undefined, 'a stopped dockerd owns nothing');
});

test('the network store held by another process (a dockerd strata cannot see) counts too', () => {
  const root = tempDir('strata-dockerd-owner-');
  const db = path.join(root, 'network/files/local-kv.db');
  fs.mkdirSync(path.dirname(db), { recursive: true });
  fs.writeFileSync(db, '');
  assert.equal(dockerdOwning(root), undefined, 'an unlocked network store is no dockerd');
  const fd = fs.openSync(db, 'r+');
  try {
    assert.ok(tryFlock(fd, LOCK_EX), 'this test holds the lock as bolt does');
    assert.deepEqual(dockerdOwning(root), {}, 'held: owned, pid unknown');
  } finally {
    fs.closeSync(fd);
  }
  assert.equal(dockerdOwning(root), undefined, 'released: free');
});
