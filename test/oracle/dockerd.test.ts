/**
 * The oracle harness itself: a private dockerd starts, runs containers and classic builds, and
 * stops without leaving processes, mounts or files; the cached fixture is what later strata tests
 * compare against (saved layer tars hash to their DiffIDs, tar-split reassembles them from the
 * overlay2 diff dirs byte for byte, whiteouts and opaque dirs are there in overlay form), and its
 * data root still opens in dockerd.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import crypto from 'node:crypto';
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { startDockerd, mountsUnder, processesUsing, DockerCommandError } from './dockerd.js';
import { dockerFixture, copyFixtureDataRoot, BASE_REF, BUILT_REF, CREATED_CONTAINER, EXITED_CONTAINER, type DockerFixture } from './fixtures.js';

const here = path.dirname(fileURLToPath(import.meta.url));

function sha256(buf: Buffer): string {
  return 'sha256:' + crypto.createHash('sha256').update(buf).digest('hex');
}

/** A minimal rootfs tar (static busybox as /bin/sh) made with GNU tar. */
function busyboxTar(dir: string): string {
  const root = path.join(dir, 'rootfs');
  fs.mkdirSync(path.join(root, 'bin'), { recursive: true });
  fs.copyFileSync('/bin/busybox', path.join(root, 'bin/busybox'));
  fs.chmodSync(path.join(root, 'bin/busybox'), 0o755);
  for (const a of ['sh', 'echo', 'cat', 'mkdir', 'rm', 'touch']) fs.symlinkSync('busybox', path.join(root, 'bin', a));
  const tar = path.join(dir, 'rootfs.tar');
  const r = spawnSync('tar', ['-cf', tar, '-C', root, '.']);
  assert.equal(r.status, 0, r.stderr?.toString());
  return tar;
}

function assertGone(dirs: string[], what: string): void {
  assert.deepEqual(mountsUnder(dirs), [], `${what}: mounts left`);
  assert.deepEqual(processesUsing(dirs), [], `${what}: processes left`);
}

test('dockerd starts, runs a container and a classic build with RUN, and stops cleanly', async () => {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-oracle-test-'));
  try {
    const d = await startDockerd();
    try {
      assert.match(d.version.Server.Version, /^20\.10\./);
      assert.equal(d.version.Server.ApiVersion, '1.41');
      assert.ok(fs.existsSync(d.socket));
      const info = (await d.docker(['info', '--format', '{{.Driver}} {{.DockerRootDir}}'])).stdout.toString().trim();
      assert.equal(info, `overlay2 ${d.root}`);

      await d.docker(['import', busyboxTar(work), 'harness:1']);
      const out = await d.docker(['run', '--rm', '--network', 'none', 'harness:1', 'sh', '-c', 'echo hello from $(cat /proc/self/comm)']);
      assert.equal(out.stdout.toString(), 'hello from cat\n');

      // stdin reaches the client
      const echo = await d.docker(['run', '--rm', '-i', '--network', 'none', 'harness:1', 'cat'], { input: 'piped\n' });
      assert.equal(echo.stdout.toString(), 'piped\n');

      // classic builder (DOCKER_BUILDKIT=0) with RUN steps, context from the cwd
      const ctx = path.join(work, 'ctx');
      fs.mkdirSync(ctx);
      fs.writeFileSync(path.join(ctx, 'Dockerfile'), 'FROM harness:1\nRUN mkdir /d && echo x > /d/f\nRUN rm /bin/touch\n');
      const b = await d.docker(['build', '--network', 'none', '-t', 'harness:2', '.'], { cwd: ctx });
      assert.match(b.stdout.toString(), /Step 3\/3 : RUN rm \/bin\/touch/);
      assert.doesNotMatch(b.stdout.toString() + b.stderr, /buildkit/i);
      const layers = JSON.parse((await d.docker(['image', 'inspect', '--format', '{{json .RootFS.Layers}}', 'harness:2'])).stdout.toString());
      assert.equal(layers.length, 3);

      // a failing command throws with docker's stderr
      await assert.rejects(d.docker(['image', 'inspect', 'no-such-image']), (e: unknown) => {
        assert.ok(e instanceof DockerCommandError);
        assert.equal(e.exitCode, 1);
        assert.match(e.stderr, /No such image/);
        return true;
      });
    } finally {
      await d.stop();
    }
    assertGone([d.tmpDir, d.root, d.execRoot], 'after stop');
    assert.equal(fs.existsSync(d.tmpDir), false);
    assert.equal(fs.existsSync(d.root), false);
    await d.stop(); // idempotent
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
});

/** Runs a child process that starts a dockerd and then ends as `how` says; returns what it printed. */
async function orphanDaemon(how: 'exit' | 'throw' | 'sigkill'): Promise<{ tmpDir: string; pid: number; root: string }> {
  const code = `
    import { startDockerd } from ${JSON.stringify(path.join(here, 'dockerd.js'))};
    const d = await startDockerd();
    await d.docker(['info']);
    process.stdout.write(JSON.stringify({ tmpDir: d.tmpDir, pid: d.pid, root: d.root }) + '\\n');
    if (${JSON.stringify(how)} === 'exit') process.exit(3);
    if (${JSON.stringify(how)} === 'throw') throw new Error('boom');
    setInterval(() => {}, 1000);
  `;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const line = await new Promise<string>((resolve, reject) => {
    child.stdout.on('data', (b: Buffer) => {
      out += b.toString();
      if (out.includes('\n')) resolve(out.split('\n')[0]!);
    });
    child.on('exit', () => (out.includes('\n') ? resolve(out.split('\n')[0]!) : reject(new Error(`child ended early: ${out}`))));
  });
  const info = JSON.parse(line) as { tmpDir: string; pid: number; root: string };
  if (how === 'sigkill') child.kill('SIGKILL');
  await new Promise((r) => (child.exitCode !== null || child.signalCode !== null ? r(null) : child.on('exit', r)));
  return info;
}

test('a test process that exits or throws without stop() leaves nothing behind', async () => {
  for (const how of ['exit', 'throw'] as const) {
    const o = await orphanDaemon(how);
    assertGone([o.tmpDir, o.root], how);
    assert.equal(fs.existsSync(o.tmpDir), false, `${how}: temp dir left`);
  }
});

test('a SIGKILLed test process: dockerd stops by itself (pdeathsig), the next start reaps its dir', async () => {
  const o = await orphanDaemon('sigkill');
  const until = Date.now() + 30_000;
  while (processesUsing([o.tmpDir]).length && Date.now() < until) await new Promise((r) => setTimeout(r, 200));
  assertGone([o.tmpDir, o.root], 'after SIGKILL');
  assert.equal(fs.existsSync(o.tmpDir), true, 'nothing ran the hooks, so the dir is still there');
  const d = await startDockerd();
  await d.stop();
  assert.equal(fs.existsSync(o.tmpDir), false, 'reaped by the next startDockerd');
});

test('the fixture builds (or loads from cache) and describes a data root with >= 4 layers', async (t) => {
  const t0 = Date.now();
  const fx: DockerFixture = await dockerFixture();
  t.diagnostic(`fixture ${fx.dir} ready in ${Date.now() - t0} ms (built in ${fx.buildSeconds} s)`);
  assert.ok(fx.images.built.layers.length >= 4, `only ${fx.images.built.layers.length} layers`);
  assert.equal(fx.images.base.layers.length, 1);
  assert.equal(fx.images.built.layers[0]!.diffId, fx.images.base.layers[0]!.diffId);
  assert.deepEqual(mountsUnder([fx.dir]), [], 'nothing may stay mounted in the fixture');
  assert.deepEqual(fx.emptyLayerSteps, ['RUN true', 'ENV STRATA_ORACLE=1']);
  assert.equal(fx.containers.created.state, 'created');
  assert.equal(fx.containers.exited.state, 'exited');
  // The base tar is what was imported, so its hash is the base DiffID.
  assert.equal(sha256(fs.readFileSync(fx.baseTar)), fx.images.base.layers[0]!.diffId);

  for (const img of [fx.images.base, fx.images.built]) {
    assert.equal(sha256(fs.readFileSync(img.configPath)), img.id, 'image ID is the config hash');
    for (const l of img.layers) {
      const db = l.layerDbDir;
      assert.equal(path.basename(db), l.chainId.slice(7));
      assert.equal(fs.readFileSync(path.join(db, 'diff'), 'utf8'), l.diffId);
      assert.equal(fs.readFileSync(path.join(db, 'cache-id'), 'utf8'), l.cacheId);
      assert.equal(fs.readFileSync(path.join(db, 'size'), 'utf8'), String(l.size));
      if (l.parentChainId) assert.equal(fs.readFileSync(path.join(db, 'parent'), 'utf8'), l.parentChainId);
      else assert.equal(fs.existsSync(path.join(db, 'parent')), false);
      assert.ok(fs.statSync(l.diffDir).isDirectory());
      assert.ok(fs.statSync(l.tarSplit).isFile());
    }
  }
  for (const c of [fx.containers.created, fx.containers.exited]) {
    assert.match(c.mountId, /^[0-9a-f]{64}$/);
    assert.equal(c.initId, `${c.mountId}-init`);
    assert.equal(c.parentChainId, fx.images.built.layers.at(-1)!.chainId);
    assert.ok(fs.statSync(c.diffDir).isDirectory());
    assert.ok(fs.statSync(c.initDiffDir).isDirectory());
  }
  assert.equal(fx.containers.created.changes.length, 0);
  const ex = fx.containers.exited.changes.map((c) => `${c.kind} ${c.path}`);
  for (const want of ['A /added.txt', 'C /data/hello.txt', 'D /data/empty', 'D /deep', 'C /opaque', 'A /opaque/again']) {
    assert.ok(ex.includes(want), `docker diff lacks ${want}: ${ex.join(', ')}`);
  }
});

test('each saved layer.tar hashes to its DiffID', async () => {
  const fx = await dockerFixture();
  for (const img of [fx.images.base, fx.images.built]) {
    for (const l of img.layers) assert.equal(sha256(fs.readFileSync(l.savedLayerTar)), l.diffId, `${img.ref} layer ${l.index}`);
  }
});

test('tar-split reassembles each layer.tar byte for byte from the overlay2 diff dir', async () => {
  const fx = await dockerFixture();
  for (const img of [fx.images.base, fx.images.built]) {
    for (const l of img.layers) {
      const r = spawnSync('/usr/bin/tar-split', ['asm', '--input', l.tarSplit, '--path', l.diffDir, '--output', '-'], { maxBuffer: 1 << 30 });
      assert.equal(r.status, 0, `tar-split asm failed for ${img.ref} layer ${l.index}: ${r.stderr?.toString()}`);
      const saved = fs.readFileSync(l.savedLayerTar);
      assert.equal(sha256(r.stdout), l.diffId, `${img.ref} layer ${l.index}`);
      assert.ok(r.stdout.equals(saved), `${img.ref} layer ${l.index}: differs from the saved layer.tar`);
    }
  }
});

/** Walks a tree with raw (Buffer) names, since some are not UTF-8; `rel` is decoded for messages. */
function walk(dir: Buffer, visit: (p: Buffer, rel: string, st: fs.Stats) => void, prefix = ''): void {
  for (const name of fs.readdirSync(dir, { encoding: 'buffer' })) {
    const p = Buffer.concat([dir, Buffer.from('/'), name]);
    const rel = prefix + name.toString();
    const st = fs.lstatSync(p);
    visit(p, rel, st);
    if (st.isDirectory()) walk(p, visit, rel + '/');
  }
}

/** One xattr through getfattr (attr package). Command-line args are UTF-8, so `p` must be too. */
function getxattr(p: Buffer, name: string): string | null {
  const r = spawnSync('getfattr', ['--absolute-names', '--only-values', '-h', '-n', name, p.toString()]);
  return r.status === 0 ? r.stdout.toString() : null;
}

test('diff dirs hold overlay whiteouts (char 0/0) and opaque dirs (trusted.overlay.opaque=y)', async () => {
  const fx = await dockerFixture();
  const whiteouts: string[] = [];
  const opaques: string[] = [];
  for (const l of fx.images.built.layers) {
    walk(Buffer.from(l.diffDir), (p, rel, st) => {
      if (st.isCharacterDevice() && st.rdev === 0) whiteouts.push(`${l.index}:${rel}`);
      if (st.isDirectory() && getxattr(p, 'trusted.overlay.opaque') === 'y') opaques.push(`${l.index}:${rel}`);
    });
  }
  for (const w of ['1:data/delete-me', '1:todelete', '7:data/fifo', '7:newdir/sub']) assert.ok(whiteouts.includes(w), `no whiteout ${w} in ${whiteouts.join(', ')}`);
  assert.deepEqual(opaques, ['2:opaque']);
  // and in the layer tar they are AUFS-style .wh. entries
  const tarList = spawnSync('tar', ['-tf', fx.images.built.layers[2]!.savedLayerTar]).stdout.toString().split('\n');
  assert.ok(tarList.includes('opaque/.wh..wh..opq'));
});

test('a copy of the fixture data root opens in dockerd with its images and containers', async () => {
  const fx = await dockerFixture();
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-oracle-copy-'));
  try {
    const root = await copyFixtureDataRoot(fx, path.join(work, 'root'));
    // cp -a kept the overlay metadata: the opaque xattr and the 0/0 whiteouts
    const rel = (p: string) => path.join(root, path.relative(fx.dataRoot, p));
    assert.equal(getxattr(Buffer.from(rel(path.join(fx.images.built.layers[2]!.diffDir, 'opaque'))), 'trusted.overlay.opaque'), 'y');
    const wh = fs.lstatSync(rel(path.join(fx.images.built.layers[1]!.diffDir, 'todelete')));
    assert.ok(wh.isCharacterDevice() && wh.rdev === 0);
    const d = await startDockerd({ dataRoot: root });
    try {
      const images = (await d.docker(['image', 'ls', '--format', '{{.Repository}}:{{.Tag}} {{.ID}}'])).stdout.toString();
      assert.match(images, new RegExp(`${BUILT_REF} ${fx.images.built.id.slice(7, 19)}`));
      assert.match(images, new RegExp(`${BASE_REF} ${fx.images.base.id.slice(7, 19)}`));
      const ps = (await d.docker(['ps', '-a', '--format', '{{.Names}} {{.State}}'])).stdout.toString().split('\n').sort();
      assert.deepEqual(ps.filter(Boolean), [`${CREATED_CONTAINER} created`, `${EXITED_CONTAINER} exited`]);
      // `docker diff` prints in Go map order, so compare as sets.
      const sorted = (t: string) => t.split('\n').filter(Boolean).sort();
      const diff = (await d.docker(['diff', EXITED_CONTAINER])).stdout.toString();
      assert.deepEqual(sorted(diff), sorted(fx.containers.exited.dockerDiff));
      const cat = await d.docker(['run', '--rm', '--network', 'none', BUILT_REF, 'cat', '/copied/a.txt', '/opaque/new']);
      assert.equal(cat.stdout.toString(), 'from the build context\nnew\n');
    } finally {
      await d.stop();
    }
    assertGone([d.tmpDir, root], 'copy daemon');
    assert.ok(fs.existsSync(root), 'a caller-supplied data root is kept');
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
});
