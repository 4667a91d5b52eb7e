/**
 * The image and container verbs through the CLI, as a user runs them (a child process per call):
 * exit codes, `--json` shapes, and bad input — each a one-line error that registers nothing.
 */
import { describe, test, before } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { pipeline } from 'node:stream/promises';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { strata, type CliResult } from '../helpers/cli.js';
import { sh, tempDir } from '../helpers/tmp.js';
import { imageArchive } from '../../src/engine/build.js';

const CLI_ENTRY = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'helpers', 'cli-entry.ts');

function ok(args: string[], input?: Buffer): CliResult {
  const r = strata(args, input ? { input } : {});
  assert.equal(r.status, 0, `strata ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
  return r;
}

function fails(args: string[], re: RegExp, input?: Buffer): CliResult {
  const r = strata(args, input ? { input } : {});
  assert.equal(r.status, 1, `strata ${args.join(' ')}: expected exit 1, got ${r.status}: ${r.stderr}`);
  const lines = r.stderr.split('\n').filter((l) => l !== '' && !l.includes('waiting for the lock'));
  assert.equal(lines.length, 1, `one line expected on stderr, got:\n${r.stderr}`);
  assert.match(lines[0]!, re);
  return r;
}

function json<T>(args: string[]): T {
  return JSON.parse(ok(['--json', ...args]).stdout) as T;
}

interface ImageJson {
  id: string;
  repoTags: string[];
  layers: string[];
  size: number;
  created: string;
}

/** A two-layer image archive made from fresh directories. */
async function buildArchive(dir: string, tag: string, page = 'v1'): Promise<string> {
  const base = path.join(dir, `base-${page}`);
  const app = path.join(dir, `app-${page}`);
  fs.mkdirSync(path.join(base, 'etc'), { recursive: true });
  fs.mkdirSync(path.join(base, 'tmp/cache'), { recursive: true });
  fs.writeFileSync(path.join(base, 'etc/motd'), 'hello\n');
  fs.writeFileSync(path.join(base, 'etc/os-release'), 'ID=test\n');
  fs.writeFileSync(path.join(base, 'tmp/cache/old'), 'old\n');
  fs.symlinkSync('/etc', path.join(base, 'escape'));
  fs.mkdirSync(path.join(app, 'srv'), { recursive: true });
  fs.writeFileSync(path.join(app, 'srv/index.html'), `<h1>${page}</h1>\n`);
  // built well before the test changes it: diff, like Docker's, takes a same-size file whose mtime
  // matches to the second (a tar keeps no nanoseconds) as unchanged
  const built = new Date('2026-01-01T00:00:00Z');
  fs.utimesSync(path.join(app, 'srv/index.html'), built, built);
  const file = path.join(dir, `${tag.replace(/[/:]/g, '_')}.tar`);
  await pipeline(imageArchive({ layers: [base, app], tag, scratchDir: dir }), fs.createWriteStream(file));
  return file;
}

/** Nothing registered: no images, no layers, and no driver directories but `l/`. */
function assertEmpty(root: string): void {
  assert.deepEqual(json<ImageJson[]>(['--root', root, 'images']), [], 'no images');
  assert.deepEqual(json<unknown[]>(['--root', root, 'layer', 'ls']), [], 'no layers');
  const driverDir = path.join(root, 'overlay2');
  const left = fs.existsSync(driverDir) ? fs.readdirSync(driverDir).filter((n) => n !== 'l') : [];
  assert.deepEqual(left, [], 'no driver directories left');
  const tmp = path.join(root, 'tmp');
  assert.deepEqual(fs.existsSync(tmp) ? fs.readdirSync(tmp) : [], [], 'no spool left in tmp/');
}

describe('strata image verbs', () => {
  let dir: string;
  let archive: string;
  before(async () => {
    dir = tempDir('strata-cli-image-');
    archive = await buildArchive(dir, 'demo/web:v1');
  });

  test('load, images, tag, inspect, history; save and reload in both formats give the same IDs', () => {
    const root = path.join(dir, 'root1');
    const out = ok(['--root', root, 'load', '-i', archive]).stdout;
    assert.equal(out, 'Loaded image: demo/web:v1\n');
    const images = json<ImageJson[]>(['--root', root, 'images']);
    assert.equal(images.length, 1, 'one image');
    const img = images[0]!;
    assert.match(img.id, /^sha256:[0-9a-f]{64}$/);
    assert.deepEqual(img.repoTags, ['demo/web:v1']);
    assert.equal(img.layers.length, 2, 'two DiffIDs');
    assert.ok(img.size > 0, 'a size');
    assert.match(ok(['--root', root, 'images']).stdout, /^REPOSITORY\s+TAG\s+IMAGE ID\s+CREATED\s+SIZE\ndemo\/web\s+v1\s+[0-9a-f]{12}\s+/);

    // stdin that is a regular file (`strata load < file`) is read in place, not spooled.
    const fromFile = spawnSync(process.execPath, ['--import', 'tsx', CLI_ENTRY, '--root', path.join(dir, 'root-stdin-file'), 'load'], {
      stdio: [fs.openSync(archive, 'r'), 'pipe', 'pipe'],
      encoding: 'utf8',
    });
    assert.equal(fromFile.status, 0, `load < file: ${fromFile.stderr}`);
    assert.equal(fromFile.stdout, 'Loaded image: demo/web:v1\n');
    // Loading again changes nothing; stdin works too.
    assert.equal(ok(['--root', root, 'load'], fs.readFileSync(archive)).stdout, 'Loaded image: demo/web:v1\n');
    assert.equal(json<ImageJson[]>(['--root', root, 'images']).length, 1, 'still one image');

    ok(['--root', root, 'tag', 'demo/web:v1', 'other:latest']);
    assert.deepEqual(json<ImageJson[]>(['--root', root, 'images'])[0]!.repoTags.sort(), ['demo/web:v1', 'other:latest']);
    const inspected = json<Array<{ Id: string; RootFS: { Layers: string[] } }>>(['--root', root, 'inspect', 'other']);
    assert.equal(inspected[0]!.Id, img.id);
    assert.deepEqual(inspected[0]!.RootFS.Layers, img.layers);
    const hist = json<Array<{ id: string; size: number }>>(['--root', root, 'history', img.id.slice(7, 19)]);
    assert.equal(hist.length, 2, 'two history entries');
    assert.equal(hist[0]!.id, img.id);

    for (const format of ['docker', 'oci']) {
      const saved = path.join(dir, `saved-${format}.tar`);
      ok(['--root', root, 'save', 'demo/web:v1', '-o', saved, '--format', format]);
      const root2 = path.join(dir, `root-${format}`);
      const loaded = ok(['--root', root2, 'load', '-i', saved]).stdout;
      assert.equal(loaded, 'Loaded image: demo/web:v1\n', `${format}: tag kept`);
      const again = json<ImageJson[]>(['--root', root2, 'images']);
      assert.equal(again[0]!.id, img.id, `${format}: same image ID`);
      assert.deepEqual(again[0]!.layers, img.layers, `${format}: same DiffIDs`);
    }
    // Saving by ID: no tags, so loading prints the ID.
    const byId = path.join(dir, 'by-id.tar');
    ok(['--root', root, 'save', img.id, '-o', byId]);
    assert.equal(ok(['--root', path.join(dir, 'root-byid'), 'load', '-i', byId]).stdout, `Loaded image ID: ${img.id}\n`);
    // gzip'd archives load.
    const gz = path.join(dir, 'archive.tar.gz');
    fs.writeFileSync(gz, zlib.gzipSync(fs.readFileSync(archive)));
    assert.equal(ok(['--root', path.join(dir, 'root-gz'), 'load', '-i', gz]).stdout, 'Loaded image: demo/web:v1\n');
  });

  test('containers: create, ps, mount, diff, umount, commit, export, cp, rm', () => {
    const root = path.join(dir, 'root-c');
    ok(['--root', root, 'load', '-i', archive]);
    const id = ok(['--root', root, 'create', 'demo/web:v1', '--name', 'web']).stdout.trim();
    assert.match(id, /^[0-9a-f]{64}$/);
    fails(['--root', root, 'create', 'demo/web:v1', '--name', 'web'], /^strata: Conflict\. The container name "web" is already in use/);
    const ps = json<Array<{ id: string; name: string; image: string }>>(['--root', root, 'ps']);
    assert.deepEqual(ps.map((c) => [c.id, c.name]), [[id, 'web']]);

    const merged = ok(['--root', root, 'mount', 'web']).stdout.trim();
    fs.writeFileSync(path.join(merged, 'srv/index.html'), '<h1>v2</h1>\n');
    fs.writeFileSync(path.join(merged, 'srv/new'), 'new\n');
    fs.rmSync(path.join(merged, 'etc/os-release'));
    fs.rmSync(path.join(merged, 'tmp/cache'), { recursive: true });
    fs.mkdirSync(path.join(merged, 'tmp/cache'));
    const diff = json<Array<{ kind: string; path: string }>>(['--root', root, 'diff', 'web']);
    const has = (k: string, p: string) => diff.some((c) => c.kind === k && c.path === p);
    assert.ok(has('C', '/srv/index.html') && has('A', '/srv/new') && has('D', '/etc/os-release'), `diff: ${JSON.stringify(diff)}`);
    ok(['--root', root, 'umount', 'web']);

    const committed = json<{ id: string }>(['--root', root, 'commit', 'web', 'demo/web:v2', '-m', 'v2']);
    const images = json<ImageJson[]>(['--root', root, 'images']);
    const v2 = images.find((i) => i.id === committed.id);
    assert.ok(v2, 'the committed image is listed');
    assert.deepEqual(v2.repoTags, ['demo/web:v2']);
    assert.equal(v2.layers.length, 3, 'one layer more');

    // Saved together, the committed image keeps its parent (manifest.json `Parent`) in a new root.
    const pair = path.join(dir, 'pair.tar');
    ok(['--root', root, 'save', 'demo/web:v1', 'demo/web:v2', '-o', pair]);
    const pairRoot = path.join(dir, 'root-pair');
    ok(['--root', pairRoot, 'load', '-i', pair]);
    const [v1] = json<ImageJson[]>(['--root', root, 'images']).filter((i) => i.repoTags.includes('demo/web:v1'));
    const parentOf = json<Array<{ Parent: string }>>(['--root', pairRoot, 'inspect', 'demo/web:v2'])[0]!.Parent;
    assert.equal(parentOf, v1!.id, 'the parent survives save and load');

    // export: the flattened filesystem of the new image and of the container agree.
    const exported = path.join(dir, 'v2-rootfs.tar');
    ok(['--root', root, 'export', 'demo/web:v2', '-o', exported]);
    const names = sh('tar', ['-tf', exported]).toString().split('\n');
    assert.ok(names.includes('srv/new') && !names.includes('etc/os-release') && !names.includes('tmp/cache/old'), `export lists: ${names.join(' ')}`);
    // cp: a file out of the image, and a symlink pointing out of the rootfs is followed inside it.
    const copied = path.join(dir, 'index.html');
    ok(['--root', root, 'cp', 'demo/web:v2:/srv/index.html', copied]);
    assert.equal(fs.readFileSync(copied, 'utf8'), '<h1>v2</h1>\n');
    assert.equal(ok(['--root', root, 'cp', 'web:/escape/motd', '-']).stdout, 'hello\n', 'the symlink /escape -> /etc stays in the container');
    fails(['--root', root, 'cp', 'web:/escape/passwd', path.join(dir, 'x')], /no such file or directory/);

    // rmi refuses while a container uses the image.
    fails(['--root', root, 'rmi', 'demo/web:v1'], /conflict: unable to remove repository reference "demo\/web:v1" \(must force\) - container [0-9a-f]{12} is using its referenced image/);
    assert.equal(ok(['--root', root, 'rm', 'web']).stdout, 'web\n');
    assert.deepEqual(json<unknown[]>(['--root', root, 'ps']), []);
    fails(['--root', root, 'rm', 'web'], /^strata: No such container: web$/);
  });

  test('rmi, prune, df, fsck', () => {
    const root = path.join(dir, 'root-r');
    ok(['--root', root, 'load', '-i', archive]);
    const [img] = json<ImageJson[]>(['--root', root, 'images']);
    ok(['--root', root, 'tag', 'demo/web:v1', 'demo/web:copy']);
    assert.equal(ok(['--root', root, 'rmi', 'demo/web:copy']).stdout, 'Untagged: demo/web:copy\n');
    const df = json<Array<{ type: string; total: number }>>(['--root', root, 'df']);
    assert.deepEqual(df.map((r) => [r.type, r.total]), [['Images', 1], ['Containers', 0], ['Layers', 2]]);
    const report = json<{ damaged: unknown[]; layersChecked: number }>(['--root', root, 'fsck']);
    assert.deepEqual(report.damaged, []);
    assert.equal(report.layersChecked, 2);

    // Damage a file of the top layer: fsck names the layer and the image, exit 1.
    const top = json<Array<{ chainId: string; cacheId: string; depth: number }>>(['--root', root, 'layer', 'ls']).find((l) => l.depth === 2)!;
    fs.writeFileSync(path.join(root, 'overlay2', top.cacheId, 'diff/srv/index.html'), '<h1>vX</h1>\n');
    const bad = strata(['--root', root, 'fsck']);
    assert.equal(bad.status, 1, `fsck of a damaged root exits 1: ${bad.stdout}${bad.stderr}`);
    assert.match(bad.stdout, new RegExp(`damaged layer ${top.chainId}: .*needed by image ${img!.id.slice(7, 19)}`));
    fs.writeFileSync(path.join(root, 'overlay2', top.cacheId, 'diff/srv/index.html'), '<h1>v1</h1>\n');
    // `layer rm` will not delete a layer an image needs.
    fails(['--root', root, 'layer', 'rm', top.chainId], new RegExp(`^strata: layer ${top.chainId} is in use: the top layer of image ${img!.id.slice(7, 19)}$`));

    // The last tag removed: image and its layers deleted.
    const out = ok(['--root', root, 'rmi', 'demo/web:v1']).stdout.split('\n').filter(Boolean);
    assert.equal(out[0], 'Untagged: demo/web:v1');
    assert.equal(out[1], `Deleted: ${img!.id}`);
    assert.equal(out.length, 4, `untag, image, two layers: ${out.join(' | ')}`);
    assertEmpty(root);
    fails(['--root', root, 'rmi', 'demo/web:v1'], /^strata: No such image: demo\/web:v1$/);

    // prune: a dangling image goes, a tagged one stays.
    ok(['--root', root, 'load', '-i', archive]);
    ok(['--root', root, 'tag', 'demo/web:v1', 'keep:1']);
    ok(['--root', root, 'rmi', 'demo/web:v1']);
    assert.match(ok(['--root', root, 'prune']).stdout, /^Total reclaimed space: 0B\n$/);
    ok(['--root', root, 'rmi', 'keep:1']);
    assertEmpty(root);
  });

  test('bad input: one line, exit 1, nothing registered', async () => {
    const root = path.join(dir, 'root-bad');
    ok(['--root', root, 'df']); // makes the data root
    fails(['--root', root, 'load', '-i', path.join(dir, 'missing.tar')], /^strata: open .*missing\.tar: no such file or directory$/);
    const text = path.join(dir, 'text.tar');
    fs.writeFileSync(text, 'this is not an archive\n'.repeat(100));
    fails(['--root', root, 'load', '-i', text], /is not a tar archive/);
    const truncated = path.join(dir, 'truncated.tar');
    const full = fs.readFileSync(archive);
    fs.writeFileSync(truncated, full.subarray(0, Math.floor(full.length / 2)));
    fails(['--root', root, 'load', '-i', truncated], /truncated/);
    fails(['--root', root, 'load'], /truncated|not a tar archive/, full.subarray(0, Math.floor(full.length / 2)));

    // A manifest naming a layer that is not in the archive.
    const x = path.join(dir, 'x');
    fs.mkdirSync(x);
    sh('tar', ['-xf', archive, '-C', x]);
    const manifest = JSON.parse(fs.readFileSync(path.join(x, 'manifest.json'), 'utf8')) as Array<{ Layers: string[] }>;
    const layerTar = manifest[0]!.Layers[1]!;
    manifest[0]!.Layers[1] = 'feedface/layer.tar';
    fs.writeFileSync(path.join(x, 'manifest.json'), JSON.stringify(manifest));
    const missingLayer = path.join(dir, 'missing-layer.tar');
    sh('tar', ['-cf', missingLayer, '-C', x, '.']);
    fails(['--root', root, 'load', '-i', missingLayer], /layer feedface\/layer\.tar not found in archive/);
    manifest[0]!.Layers[1] = layerTar;
    fs.writeFileSync(path.join(x, 'manifest.json'), JSON.stringify(manifest));

    // A layer whose bytes do not hash to the config's DiffID (same length, one byte changed).
    const tarPath = path.join(x, layerTar);
    const orig = fs.readFileSync(tarPath);
    const changed = Buffer.from(orig);
    const at = changed.indexOf('<h1>v1');
    changed[at + 5] = '9'.charCodeAt(0);
    fs.writeFileSync(tarPath, changed);
    const mismatch = path.join(dir, 'mismatch.tar');
    sh('tar', ['-cf', mismatch, '-C', x, '.']);
    fails(['--root', root, 'load', '-i', mismatch], /^strata: invalid diffID for layer 1: expected "sha256:[0-9a-f]{64}", got "sha256:[0-9a-f]{64}"$/);
    fs.writeFileSync(tarPath, orig);

    // OCI layout: a blob missing, and a blob with wrong bytes.
    const oroot = path.join(dir, 'root-oci-src');
    ok(['--root', oroot, 'load', '-i', archive]);
    const oci = path.join(dir, 'oci.tar');
    ok(['--root', oroot, 'save', 'demo/web:v1', '--format', 'oci', '-o', oci]);
    const o = path.join(dir, 'o');
    fs.mkdirSync(o);
    sh('tar', ['-xf', oci, '-C', o]);
    fs.rmSync(path.join(o, 'manifest.json')); // the plain OCI layout path
    const idx = JSON.parse(fs.readFileSync(path.join(o, 'index.json'), 'utf8')) as { manifests: Array<{ digest: string }> };
    const man = JSON.parse(fs.readFileSync(path.join(o, 'blobs/sha256', idx.manifests[0]!.digest.slice(7)), 'utf8')) as { layers: Array<{ digest: string }> };
    const blob = path.join(o, 'blobs/sha256', man.layers[1]!.digest.slice(7));
    const blobBytes = fs.readFileSync(blob);
    ok(['--root', path.join(dir, 'root-oci-dir'), 'load', '-i', o]); // the layout directory loads
    fs.rmSync(blob);
    fails(['--root', root, 'load', '-i', o], /blob sha256:[0-9a-f]{64} \(layer 1\) not found in the layout/);
    const wrong = Buffer.from(blobBytes);
    wrong[wrong.indexOf('<h1>v1') + 5] = '9'.charCodeAt(0);
    fs.writeFileSync(blob, wrong);
    fails(['--root', root, 'load', '-i', o], /digest mismatch/);
    const idxFile = path.join(o, 'index.json');
    const idxDoc = JSON.parse(fs.readFileSync(idxFile, 'utf8')) as { manifests: Array<{ size: number }> };
    idxDoc.manifests[0]!.size += 1;
    fs.writeFileSync(idxFile, JSON.stringify(idxDoc));
    fails(['--root', root, 'load', '-i', o], /^strata: manifest sha256:[0-9a-f]{64}: size mismatch: expected \d+ bytes, got \d+$/);
    fails(['--root', root, 'load', '-i', archive, '--platform', 'linux/s390x'], /^strata: no image for platform linux\/s390x \(has: linux\/[a-z0-9]+\)$/);
    fails(['--root', root, 'load', '-i', dir], /no manifest\.json or index\.json/);
    fails(['--root', root, 'load', '-i', archive, '--platform', 'linux'], /invalid platform/);
    assertEmpty(root);

    // Other verbs' bad input.
    fails(['--root', root, 'save', 'nope:1', '-o', path.join(dir, 'n.tar')], /^strata: No such image: nope:1$/);
    assert.equal(fs.existsSync(path.join(dir, 'n.tar')), false, 'no output file for a failed save');
    fails(['--root', root, 'tag', 'nope', 'x:1'], /No such image: nope/);
    fails(['--root', root, 'create', 'nope'], /No such image: nope/);
    fails(['--root', root, 'commit', 'nope'], /No such container: nope/);
    fails(['--root', root, 'history', 'nope'], /No such image: nope/);
    const r = strata(['--root', root, 'inspect', 'nope']);
    assert.equal(r.status, 1, 'inspect of an unknown name exits 1');
    assertEmpty(root);
  });
});
