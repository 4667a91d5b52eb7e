/**
 * Every hostile archive of hostile-archives.ts through the real `strata load` (a child process
 * per case, on a fresh data root). For each case:
 * - the outcome: exit 1 with exactly one stderr line matching the case and no stack trace, or —
 *   for odd but legitimate input — exit 0 with dockerd's lines on stdout and the case's check of
 *   what was stored;
 * - nothing outside the data root changed: a full snapshot of the directory around it (the
 *   canary dir with its secret and planted naive targets) before and after, and no canary at the
 *   host paths a deep traversal would reach;
 * - after a failure, nothing left registered: the data root holds nothing but its empty
 *   skeleton — no image, no layer, no driver directory, no intent, no spool in tmp/ — checked on
 *   disk before anything reopens the root (opening runs recovery, which would hide a leak);
 * - and the same data root still loads a good image.
 *
 * The CLI runs compiled: before the cases, every file of src/ is transformed to JavaScript with
 * esbuild (the transformer tsx itself runs on) into a temporary package next to the real one's
 * package.json, native addon and node_modules — what `npm run build` makes of the same sources —
 * so that a process starts in about a quarter of the time tsx's loader takes.
 */
import { describe, test, before } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { transformSync } from 'esbuild';
import type { Digest } from '../../src/digest/index.js';
import { openEngine } from '../../src/engine/engine.js';
import { loadImages } from '../../src/engine/load/load.js';
import { tempDir } from '../helpers/tmp.js';
import { collect } from '../helpers/layertar.js';
import { diffSnapshots, snapshotTree, type Snapshot } from '../helpers/tree-snapshot.js';
import { CANARY, archiveCases, benignTar, dockerSave, plain, type ArchiveCase, type ArchiveContext, type ArchiveInput, type LoadedView } from './hostile-archives.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
/**
 * A case that takes longer than this is killed and fails. A case takes about a second and a bomb a
 * few (it stops after 1 GiB of output — its message proves that); the margin is for a machine
 * shared with other work.
 */
const CASE_TIMEOUT_MS = 180_000;
/** Where a traversal with too many `../` would land. */
const HOST_CANARIES = [`/${CANARY}`, `/tmp/${CANARY}`, `/etc/${CANARY}`];

interface Run {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

function sources(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return sources(p);
    return e.name.endsWith('.ts') && !e.name.endsWith('.d.ts') ? [p] : [];
  });
}

/** The CLI compiled from the current sources into a temporary package; returns its entry script. */
function compileCli(): string {
  const out = tempDir('strata-hostile-cli-');
  for (const file of sources(path.join(REPO, 'src'))) {
    const { code } = transformSync(fs.readFileSync(file, 'utf8'), { loader: 'ts', format: 'esm', target: 'node20', sourcefile: file });
    const dest = path.join(out, path.relative(REPO, file)).replace(/\.ts$/, '.js');
    fs.mkdirSync(path.dirname(dest), { recursive: true });
    fs.writeFileSync(dest, code);
  }
  fs.copyFileSync(path.join(REPO, 'package.json'), path.join(out, 'package.json'));
  for (const shared of ['build', 'node_modules']) fs.symlinkSync(path.join(REPO, shared), path.join(out, shared));
  const entry = path.join(out, 'strata.js');
  fs.writeFileSync(entry, "import { main } from './src/cli/main.js';\nprocess.exitCode = await main(process.argv.slice(2));\n");
  return entry;
}

/** `strata --root ROOT [-s DRIVER] load …` in a child process, killed after CASE_TIMEOUT_MS. */
function strataLoad(cli: string, root: string, driver: string | undefined, input: ArchiveInput): Promise<Run> {
  const args = [cli, '--root', root, ...(driver ? ['-s', driver] : []), 'load'];
  if ('file' in input) args.push('-i', input.file);
  if ('dir' in input) args.push('-i', input.dir);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), CASE_TIMEOUT_MS);
    child.on('error', reject);
    child.on('close', (status, signal) => {
      clearTimeout(timer);
      resolve({ status, signal, stdout, stderr });
    });
    child.stdin.on('error', () => {}); // the CLI may stop reading early (a refused archive)
    child.stdin.end('stdin' in input ? input.stdin : undefined);
  });
}

/** base/{canary/{secret, sub/x, link -> secret}, work/, root/}: everything but work/ and root/ is watched. */
function context(): { base: string; root: string; ctx: ArchiveContext } {
  const base = tempDir('strata-hostile-load-');
  const canaryDir = path.join(base, 'canary');
  fs.mkdirSync(path.join(canaryDir, 'sub'), { recursive: true });
  fs.writeFileSync(path.join(canaryDir, 'secret'), 'canary secret\n');
  fs.writeFileSync(path.join(canaryDir, 'sub', 'x'), 'x\n');
  fs.symlinkSync('secret', path.join(canaryDir, 'link'));
  fs.mkdirSync(path.join(base, 'work'));
  return { base, root: path.join(base, 'root'), ctx: { canaryDir, canaryFile: path.join(canaryDir, 'secret'), workDir: path.join(base, 'work') } };
}

/** The base directory's own mtime changes when the data root is made in it; nothing else may. */
const baseDirTimes = (rel: string, field: string) => rel === '.' && field === 'mtimeNs';

function outside(base: string): Snapshot {
  return snapshotTree(base, { exclude: (rel) => rel === 'root' || rel === 'work' });
}

/** Every path below `dir` (relative, directories marked with a trailing '/'). */
function walk(dir: string, rel = ''): string[] {
  const out: string[] = [];
  for (const d of fs.readdirSync(path.join(dir, rel), { withFileTypes: true })) {
    const r = rel === '' ? d.name : `${rel}/${d.name}`;
    if (d.isDirectory()) out.push(`${r}/`, ...walk(dir, r));
    else out.push(r);
  }
  return out;
}

/** The empty skeleton a data root may keep after a failed load: directories, the lock, an empty repositories.json. */
function skeleton(driver: string): Set<string> {
  const img = `image/${driver}`;
  const dirs = ['image', img, `${img}/imagedb`, `${img}/imagedb/content`, `${img}/imagedb/content/sha256`, `${img}/imagedb/metadata`, `${img}/imagedb/metadata/sha256`,
    `${img}/layerdb`, `${img}/layerdb/sha256`, `${img}/layerdb/tmp`, 'strata', 'strata/intents', 'tmp', driver, driver === 'vfs' ? 'vfs/dir' : 'overlay2/l'];
  return new Set([...dirs.map((d) => `${d}/`), 'strata.lock', `${img}/repositories.json`]);
}

/** The data root holds nothing a load registered: no image, layer, driver directory, intent or spool. */
function assertNothingRegistered(root: string, driver: string, where: string): void {
  if (!fs.existsSync(root)) return; // failed before the data root was made
  const allowed = skeleton(driver);
  const extra = walk(root).filter((p) => !allowed.has(p));
  assert.deepEqual(extra, [], `${where}: the data root holds only its empty skeleton`);
  const repos = path.join(root, 'image', driver, 'repositories.json');
  if (fs.existsSync(repos)) {
    const doc = JSON.parse(fs.readFileSync(repos, 'utf8')) as { Repositories?: Record<string, unknown> };
    assert.deepEqual(doc.Repositories ?? {}, {}, `${where}: no repository in repositories.json`);
  }
}

function assertHostClean(where: string): void {
  for (const p of HOST_CANARIES) assert.equal(fs.existsSync(p), false, `${where}: ${p} must not exist`);
}

/** The driver strata picked for a root (the name of the image/<driver> directory). */
function driverOf(root: string, asked: string | undefined): string {
  if (asked) return asked;
  const dirs = fs.existsSync(path.join(root, 'image')) ? fs.readdirSync(path.join(root, 'image')) : [];
  return dirs[0] ?? 'overlay2';
}

/** Opens the data root in this process for a case's check of a successful load. */
async function withView<T>(root: string, driver: string, fn: (v: LoadedView) => Promise<T>): Promise<T> {
  const engine = await openEngine({ root, driver });
  try {
    const images = engine.images.images().map((r) => ({
      id: r.id as string,
      tags: engine.images.references.references(r.id).map((ref) => ref.familiarString()),
      layers: r.config.rootfs.diff_ids,
      top: r.topChainId,
    }));
    const chain = (index: number) => {
      const top = images[0]?.top;
      assert.ok(top, 'the image has layers');
      const chainIds: Digest[] = [];
      for (let c: Digest | undefined = top; c; c = engine.layers.layer(c).parent) chainIds.unshift(c);
      const id = chainIds[index];
      assert.ok(id, `the image has a layer ${index}`);
      return engine.layers.layer(id);
    };
    return await fn({
      root,
      images: images.map(({ id, tags, layers }) => ({ id, tags, layers })),
      layerDir: (i) => path.join(root, driver, driver === 'vfs' ? 'dir' : '', chain(i).cacheId, driver === 'vfs' ? '' : 'diff'),
      layerTar: (i) => collect(engine.layers.get(chain(i).chainId).tarStream()),
    });
  } finally {
    await engine.close();
  }
}

function checkOutcome(c: ArchiveCase, r: Run): void {
  assert.equal(r.signal, null, `${c.name}: finished within ${CASE_TIMEOUT_MS} ms (killed by ${r.signal})`);
  assert.ok(!r.stderr.includes('    at '), `${c.name}: no stack trace on stderr:\n${r.stderr}`);
  if ('error' in c.expect) {
    assert.equal(r.status, 1, `${c.name}: exit 1 expected, got ${r.status}; stdout ${JSON.stringify(r.stdout)} stderr ${JSON.stringify(r.stderr)}`);
    assert.equal(r.stdout, '', `${c.name}: nothing on stdout`);
    const lines = r.stderr.split('\n');
    assert.equal(lines.length, 2, `${c.name}: exactly one line on stderr: ${JSON.stringify(r.stderr)}`);
    assert.equal(lines[1], '', `${c.name}: the line ends the output`);
    assert.match(lines[0]!, c.expect.error, `${c.name}: the message`);
    c.expect.checkLine?.(lines[0]!);
  } else {
    assert.equal(r.status, 0, `${c.name}: exit 0 expected, got ${r.status}: ${r.stderr}`);
    assert.equal(r.stderr, '', `${c.name}: nothing on stderr`);
    const want = c.expect.loads;
    const got = r.stdout.split('\n').slice(0, -1);
    assert.equal(got.length, want.length, `${c.name}: stdout lines ${JSON.stringify(r.stdout)}`);
    want.forEach((w, i) => (typeof w === 'string' ? assert.equal(got[i], w) : assert.match(got[i]!, w)));
  }
}

const cases = archiveCases();

test('the catalogue has at least 50 named, distinct cases of every kind', () => {
  assert.ok(cases.length >= 50, `${cases.length} cases`);
  assert.equal(new Set(cases.map((c) => c.name)).size, cases.length, 'names are unique');
  const failing = cases.filter((c) => 'error' in c.expect).length;
  assert.ok(failing >= 40 && cases.length - failing >= 10, `${failing} refused, ${cases.length - failing} loaded`);
});

describe('hostile archives through strata load', { concurrency: 2 }, () => {
  let good: string;
  let cli: string;
  before(() => {
    cli = compileCli();
    good = path.join(tempDir('strata-hostile-good-'), 'good.tar');
    fs.writeFileSync(good, dockerSave({ images: [{ layers: [plain(benignTar('good'))], tags: ['good:1'] }] }));
  });

  for (const c of cases) {
    test(`${c.name} — ${c.about}`, async () => {
      const { base, root, ctx } = context();
      const input = c.build(ctx);
      const before = outside(base);
      assertHostClean(c.name);

      const r = await strataLoad(cli, root, c.driver, input);
      checkOutcome(c, r);
      assert.deepEqual(diffSnapshots(before, outside(base), baseDirTimes), [], `${c.name}: nothing outside the data root changed`);
      assertHostClean(c.name);
      const driver = driverOf(root, c.driver);
      const tmp = path.join(root, 'tmp');
      assert.deepEqual(fs.existsSync(tmp) ? fs.readdirSync(tmp) : [], [], `${c.name}: no spool left in tmp/`);

      if ('error' in c.expect) assertNothingRegistered(root, driver, c.name);
      else {
        const check = c.expect.check;
        if (check) await withView(root, driver, async (v) => check(v, ctx));
      }

      // The same data root still takes a good image.
      const engine = await openEngine({ root, driver });
      try {
        const before = engine.images.images().length;
        const { messages } = await loadImages(engine, good);
        assert.deepEqual(messages, ['Loaded image: good:1'], `${c.name}: a good image loads afterwards`);
        assert.equal(engine.images.images().length, before + 1, `${c.name}: one image more`);
      } finally {
        await engine.close();
      }
    });
  }
});
