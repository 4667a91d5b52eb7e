/**
 * `strata rw create|ls|mount|umount|diff|rm`, run as a user runs them (a child process per call),
 * on overlay2 and on vfs: a container's life — create on an image, mount, write, diff, unmount,
 * remove — with the mount outliving each process.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { strata, type CliResult } from '../helpers/cli.js';
import { makeTar, sh, tempDir } from '../helpers/tmp.js';
import { dockerInit, openLayerStore, type LayerStore } from '../../src/layer/index.js';

const CLI_ENTRY = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'helpers', 'cli-entry.ts');


async function* bytes(b: Buffer): AsyncGenerator<Buffer> {
  yield b;
}

async function withStore<T>(root: string, driver: string, readOnly: boolean, fn: (s: LayerStore) => Promise<T> | T): Promise<T> {
  const store = await openLayerStore({ root, driver, readOnly });
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}

function ok(args: string[]): CliResult {
  const r = strata(args);
  assert.equal(r.status, 0, `strata ${args.join(' ')} failed: ${r.stderr}`);
  return r;
}

function fails(args: string[], re: RegExp): CliResult {
  const r = strata(args);
  assert.equal(r.status, 1, `strata ${args.join(' ')}: expected exit 1, got ${r.status}: ${r.stderr}`);
  assert.equal(r.stderr.split('\n').filter((l) => l !== '').length, 1, `one line expected on stderr, got:\n${r.stderr}`);
  assert.match(r.stderr.trimEnd(), re);
  return r;
}

/** How many mounts sit on `p` now (from /proc/self/mountinfo). */
function mountsAt(p: string): number {
  return fs
    .readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter((l) => l.split(' ')[4] === p).length;
}

interface MountJson {
  name: string;
  mountId: string;
  initId?: string;
  parent?: string;
  handles: number;
}

for (const driver of ['overlay2', 'vfs']) {
  describe(`strata rw (${driver})`, () => {
    test('create, ls, mount, write, diff, umount, rm: the whole life of a container layer', async () => {
      const root = tempDir();
      const g = ['--root', root, '-s', driver];
      const driverDir = (id: string) => (driver === 'overlay2' ? path.join(root, 'overlay2', id) : path.join(root, 'vfs', 'dir', id));
      const { base, top } = await withStore(root, driver, false, async (s) => {
        const b = await s.register(bytes(makeTar({ 'bin/': '', 'bin/sh': '#!/bin/sh\n', 'etc/': '', 'etc/motd': 'hello\n' })));
        const t = await s.register(bytes(makeTar({ 'etc/': '', 'etc/os-release': 'ID=strata\n' })), b.chainId);
        return { base: b.chainId, top: t.chainId };
      });

      // create: JSON MountInfo, with an init layer; then one with none, on no layer; then a name taken.
      const web = JSON.parse(ok([...g, 'rw', 'create', '--json', 'web-1', top.slice(7, 19)]).stdout) as MountJson;
      assert.match(web.mountId, /^[0-9a-f]{64}$/);
      assert.deepEqual(web, { name: 'web-1', mountId: web.mountId, initId: `${web.mountId}-init`, parent: top, handles: 1 });
      assert.ok(fs.statSync(driverDir(web.mountId)).isDirectory() && fs.statSync(driverDir(`${web.mountId}-init`)).isDirectory());
      const loneId = ok([...g, 'rw', 'create', '--no-init', 'lone']).stdout;
      assert.match(loneId, /^[0-9a-f]{64}\n$/);
      assert.equal(fs.existsSync(driverDir(`${loneId.trim()}-init`)), false);
      fails([...g, 'rw', 'create', 'web-1', base], /^strata: mount already exists with name: web-1$/);

      // ls: JSON and text.
      const ls = JSON.parse(ok([...g, 'rw', 'ls', '--json']).stdout) as MountJson[];
      assert.deepEqual(ls, [
        { name: 'lone', mountId: loneId.trim(), handles: 0 },
        { ...web, handles: 0 },
      ]);
      if (driver === 'overlay2') {
        const rows = ok([...g, 'rw', 'ls']).stdout.trimEnd().split('\n').map((l) => l.split(/ {3,}/));
        assert.deepEqual(rows, [
          ['NAME', 'MOUNT ID', 'PARENT', 'INIT'],
          ['lone', loneId.slice(0, 12), 'no'],
          ['web-1', web.mountId.slice(0, 12), top.slice(7, 19), 'yes'],
        ]);
      }

      // mount: the path stays mounted after the command; the image and the init files are there.
      const rootfs = ok([...g, 'rw', 'mount', 'web-1']).stdout.trim();
      if (driver === 'overlay2') {
        assert.equal(rootfs, path.join(driverDir(web.mountId), 'merged'));
        assert.equal(mountsAt(rootfs), 1);
        assert.equal(ok([...g, 'rw', 'mount', 'web-1']).stdout.trim(), rootfs, 'mounting again gives the same root');
        assert.equal(mountsAt(rootfs), 1, '…and does not mount twice');
      } else {
        assert.equal(rootfs, driverDir(web.mountId));
      }
      assert.equal(fs.readFileSync(path.join(rootfs, 'etc/motd'), 'utf8'), 'hello\n');
      assert.equal(fs.readFileSync(path.join(rootfs, 'etc/os-release'), 'utf8'), 'ID=strata\n');
      assert.equal(fs.readlinkSync(path.join(rootfs, 'etc/mtab')), '/proc/mounts');
      assert.ok(fs.statSync(path.join(rootfs, 'etc/hosts')).isFile());

      // A container writes: change, add, delete, a new tree.
      fs.appendFileSync(path.join(rootfs, 'etc/motd'), 'more\n');
      fs.writeFileSync(path.join(rootfs, 'etc/motd2'), 'hi\n');
      fs.rmSync(path.join(rootfs, 'bin/sh'));
      fs.mkdirSync(path.join(rootfs, 'srv/data'), { recursive: true });
      fs.writeFileSync(path.join(rootfs, 'srv/data/f'), 'f\n');

      // diff: exactly those changes, not the init layer's files.
      const expected = [
        ['C', '/bin'],
        ['D', '/bin/sh'],
        ['C', '/etc'],
        ['C', '/etc/motd'],
        ['A', '/etc/motd2'],
        ['A', '/srv'],
        ['A', '/srv/data'],
        ['A', '/srv/data/f'],
      ] as const;
      assert.equal(ok([...g, 'rw', 'diff', 'web-1']).stdout, expected.map(([k, p]) => `${k} ${p}\n`).join(''));
      assert.deepEqual(JSON.parse(ok([...g, 'rw', 'diff', '--json', 'web-1']).stdout), expected.map(([kind, p]) => ({ kind, path: p })));

      // umount: gone from the mount table; a second umount says it is not mounted (overlay2).
      assert.equal(ok([...g, 'rw', 'umount', 'web-1']).stdout, '');
      if (driver === 'overlay2') {
        assert.equal(mountsAt(rootfs), 0);
        fails([...g, 'rw', 'umount', 'web-1'], /^strata: read-write layer web-1 is not mounted$/);
        ok([...g, 'rw', 'mount', 'web-1']); // mounted again: rm must unmount it
        assert.equal(mountsAt(rootfs), 1);
      }

      // rm: unmounted and deleted with its init layer; the image's layers stay.
      assert.equal(ok([...g, 'rw', 'rm', 'web-1']).stdout, '');
      assert.equal(mountsAt(rootfs), 0);
      assert.equal(fs.existsSync(driverDir(web.mountId)), false);
      assert.equal(fs.existsSync(driverDir(`${web.mountId}-init`)), false);
      assert.equal(fs.existsSync(path.join(root, 'image', driver, 'layerdb', 'mounts', 'web-1')), false);
      fails([...g, 'rw', 'rm', 'web-1'], /^strata: mount does not exist: web-1$/);
      await withStore(root, driver, true, (s) => {
        assert.deepEqual(s.layers().map((l) => l.chainId).sort(), [base, top].sort());
        assert.deepEqual(s.mounts().map((m) => m.name), ['lone']);
      });
    });
  });
}

test('rw diff waits for readers to finish (overlay2 mounts to diff, and its mount counts are per process)', async () => {
  // Two `rw diff`s that overlap under the shared lock unmount each other's trees mid-walk and
  // print wrong diffs; so rw diff takes the exclusive lock. A reader holds the shared lock here.
  const root = tempDir();
  await withStore(root, 'overlay2', false, async (s) => {
    const b = await s.register(bytes(makeTar({ 'etc/': '', 'etc/motd': 'hello\n' })));
    const rw = await s.createRWLayer('c1', b.chainId, { init: dockerInit() });
    const dir = await rw.mount();
    try {
      fs.writeFileSync(path.join(dir, 'new'), 'x');
    } finally {
      await rw.unmount();
    }
  });
  const reader = spawn('flock', ['-s', path.join(root, 'strata.lock'), '-c', 'echo locked; read line'], { stdio: ['pipe', 'pipe', 'inherit'] });
  await new Promise<void>((resolve) => reader.stdout.once('data', () => resolve()));
  const child = spawn(process.execPath, ['--import', 'tsx', CLI_ENTRY, '--root', root, '-s', 'overlay2', 'rw', 'diff', 'c1'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
    if (stderr.includes('waiting')) reader.stdin.end('go\n');
  });
  const status = await new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  reader.stdin.end();
  assert.equal(status, 0, stderr);
  assert.equal(stderr, `strata: waiting for the lock on ${root}…\n`, 'it waited for the reader');
  assert.equal(stdout, 'A /new\n');
});
