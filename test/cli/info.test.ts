import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import * as sys from '../../src/sys/index.js';
import { strata } from '../helpers/cli.js';
import { tempDir } from '../helpers/tmp.js';

test('strata --version prints the package version', () => {
  const pkg = JSON.parse(fs.readFileSync('package.json', 'utf8')) as { version: string };
  const r = strata(['--version']);
  assert.equal(r.status, 0);
  assert.equal(r.stdout.trim(), pkg.version);
});

test('strata info --json reports each driver with a reason; overlay2 and vfs work on this machine', () => {
  const root = tempDir();
  const r = strata(['--root', root, 'info', '--json']);
  assert.equal(r.status, 0, r.stderr);
  const info = JSON.parse(r.stdout) as { root: string; kernel: string; drivers: { name: string; supported: boolean; reason: string; details: Record<string, string> }[] };
  assert.equal(info.root, root);
  assert.deepEqual(info.drivers.map((d) => d.name), ['overlay2', 'fuse-overlay', 'vfs']);
  for (const d of info.drivers) assert.ok(d.reason.length > 0 && !d.reason.includes('\n'));
  const overlay = info.drivers.find((d) => d.name === 'overlay2')!;
  assert.equal(overlay.supported, true, overlay.reason);
  assert.equal(overlay.details['Backing Filesystem'], 'extfs');
  assert.equal(info.drivers.find((d) => d.name === 'vfs')!.supported, true);
  assert.deepEqual(fs.readdirSync(root), [], 'the probe leaves nothing behind');
});

test('strata info says why overlay2 cannot work where the test mount fails (read-only filesystem)', () => {
  const base = tempDir();
  const ro = path.join(base, 'ro');
  fs.mkdirSync(ro);
  sys.mount(ro, ro, null, sys.MS_BIND);
  try {
    sys.mount(null, ro, null, sys.MS_BIND | sys.MS_REMOUNT | sys.MS_RDONLY);
    const r = strata(['--root', path.join(ro, 'root'), 'info', '--json']);
    assert.equal(r.status, 0, r.stderr);
    const overlay = (JSON.parse(r.stdout) as { drivers: { name: string; supported: boolean; reason: string }[] }).drivers[0]!;
    assert.equal(overlay.name, 'overlay2');
    assert.equal(overlay.supported, false);
    assert.match(overlay.reason, /^a test overlay mount failed: .*EROFS/);
  } finally {
    sys.umount2(ro, sys.MNT_DETACH);
  }
});

test('an unknown command is a one-line error and exit code 2', () => {
  const r = strata(['bogus']);
  assert.equal(r.status, 2);
  assert.equal(r.stderr.trim().split('\n').length, 1);
  assert.match(r.stderr, /^strata: unknown command 'bogus'/);
});
