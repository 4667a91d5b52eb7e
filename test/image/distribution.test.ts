/**
 * `distribution/` as moby 20.10 writes it (spec 8.4): file bytes, modes, the 50-entry cap, an
 * equal entry moved to the end, and removal deleting the list's file when it empties.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { tempDir } from '../helpers/tmp.js';
import { DistributionStore, MAX_V2_METADATA, marshalV2Metadata } from '../../src/image/distribution.js';
import { sha256Of, type Digest } from '../../src/digest/index.js';

const diffId = sha256Of('layer');
const blob = (i: number) => sha256Of(`blob ${i}`);

test('files and bytes as moby writes them', () => {
  const root = path.join(tempDir('strata-dist-'), 'distribution');
  const d = new DistributionStore(root);
  d.add(diffId, { Digest: blob(1), SourceRepository: 'docker.io/library/busybox', HMAC: '' });
  assert.equal(fs.readFileSync(path.join(root, 'diffid-by-digest/sha256', blob(1).slice(7)), 'utf8'), diffId);
  const list = fs.readFileSync(path.join(root, 'v2metadata-by-diffid/sha256', diffId.slice(7)), 'utf8');
  assert.equal(list, `[{"Digest":"${blob(1)}","SourceRepository":"docker.io/library/busybox","HMAC":""}]`);
  assert.equal(fs.statSync(root).mode & 0o777, 0o700, 'store root 0700');
  assert.equal(fs.statSync(path.join(root, 'diffid-by-digest/sha256')).mode & 0o777, 0o755, 'dirs 0755');
  assert.equal(fs.statSync(path.join(root, 'diffid-by-digest/sha256', blob(1).slice(7))).mode & 0o777, 0o644, 'files 0644');
  assert.equal(d.diffIdOf(blob(1)), diffId);
  assert.equal(d.diffIdOf(blob(2)), undefined);
  assert.equal(marshalV2Metadata([{ Digest: blob(1), SourceRepository: 'a<b>&c', HMAC: '' }]), `[{"Digest":"${blob(1)}","SourceRepository":"a\\u003cb\\u003e\\u0026c","HMAC":""}]`, 'Go escapes <, >, &');
});

test('at most 50 entries, an equal entry moves to the end, remove empties and deletes', () => {
  const d = new DistributionStore(path.join(tempDir('strata-dist-'), 'distribution'));
  for (let i = 0; i < 60; i++) d.add(diffId, { Digest: blob(i), SourceRepository: 'r', HMAC: '' });
  let list = d.metadataOf(diffId);
  assert.equal(list.length, MAX_V2_METADATA);
  assert.equal(list[0]!.Digest, blob(10), 'the oldest were dropped');
  d.add(diffId, { Digest: blob(20), SourceRepository: 'r', HMAC: '' });
  list = d.metadataOf(diffId);
  assert.equal(list.length, MAX_V2_METADATA);
  assert.equal(list[list.length - 1]!.Digest, blob(20), 'moved to the end');
  for (const m of list) d.remove(m);
  assert.deepEqual(d.metadataOf(diffId), []);
  assert.equal(fs.existsSync(path.join(d.root, 'v2metadata-by-diffid/sha256', diffId.slice(7))), false, 'the empty list file is gone');
  assert.equal(d.diffIdOf(blob(20) as Digest), undefined);
});
