/**
 * `strata layer ls|inspect|add|rm|tree|export`, run as a user runs them (a child process per
 * call), on overlay2 and on vfs. Each test batches several assertions per call: a call costs
 * about half a second.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { strata, type CliResult } from '../helpers/cli.js';
import { makeTar, sh, tempDir } from '../helpers/tmp.js';
import { humanSize } from '../../src/cli/store.js';
import { dockerInit, openLayerStore, type LayerStore } from '../../src/layer/index.js';

const CLI_ENTRY = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'helpers', 'cli-entry.ts');
const sha256 = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

interface LayerJson {
  chainId: string;
  diffId: string;
  parent?: string;
  cacheId: string;
  size: number;
  totalSize: number;
  depth: number;
  references: { children: number; mounts: number; handles: number };
}

/** A call that must succeed. */
function ok(args: string[], opts: { input?: Buffer | string } = {}): CliResult {
  const r = strata(args, opts);
  assert.equal(r.status, 0, `strata ${args.join(' ')} failed: ${r.stderr}`);
  return r;
}

/** A call that must fail with exactly one line on stderr, matching `re`. */
function fails(args: string[], re: RegExp, opts: { input?: Buffer | string; code?: number } = {}): CliResult {
  const r = strata(args, opts);
  assert.equal(r.status, opts.code ?? 1, `strata ${args.join(' ')}: expected exit ${opts.code ?? 1}, got ${r.status}: ${r.stderr}`);
  const lines = r.stderr.split('\n').filter((l) => l !== '');
  assert.equal(lines.length, 1, `strata ${args.join(' ')}: one line expected on stderr, got:\n${r.stderr}`);
  assert.match(lines[0]!, re);
  return r;
}

const hex = (d: string) => d.slice('sha256:'.length);

/** One buffer as the async byte stream `register` takes. */
async function* bytes(b: Buffer): AsyncGenerator<Buffer> {
  yield b;
}

/** Sets a data root up through the library, in this process (a CLI call costs half a second). */
async function seed<T>(root: string, driver: string, fn: (store: LayerStore) => Promise<T>): Promise<T> {
  const store = await openLayerStore({ root, driver });
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}

/** What `layer ls --json` prints for a root, read through the library. */
async function lsJson(root: string, driver: string): Promise<string> {
  const store = await openLayerStore({ root, driver, readOnly: true });
  try {
    return `${JSON.stringify(store.layers(), null, 2)}\n`;
  } finally {
    await store.close();
  }
}

for (const driver of ['overlay2', 'vfs']) {
  describe(`strata layer (${driver})`, () => {
    const cli = (root: string) => ['--root', root, '-s', driver];

    test('add (file, gzip on stdin, --parent by prefix), ls, inspect, export: IDs, shapes and bytes', () => {
      const root = tempDir();
      const g = cli(root);
      const base = makeTar({ 'etc/': '', 'etc/motd': 'hello\n', 'bin/': '', 'bin/sh': '#!/bin/sh\necho hi\n' });
      const big = Buffer.alloc(1_234_567);
      for (let i = 0; i < big.length; i++) big[i] = (i * 7919 + (i >> 8)) & 0xff; // binary, not UTF-8
      const app = makeTar({ 'app/': '', 'app/blob': big });
      const dir = tempDir();
      fs.writeFileSync(path.join(dir, 'base.tar'), base);

      // The base from a file, plain JSON: ChainID = DiffID = sha256 of the tar.
      const a = JSON.parse(ok([...g, 'layer', 'add', '--json', path.join(dir, 'base.tar')]).stdout) as Record<string, unknown>;
      assert.deepEqual(Object.keys(a).sort(), ['cacheId', 'chainId', 'diffId', 'size']);
      assert.equal(a.diffId, sha256(base));
      assert.equal(a.chainId, sha256(base));
      assert.equal(a.size, 'hello\n'.length + '#!/bin/sh\necho hi\n'.length);
      assert.match(String(a.cacheId), /^[0-9a-f]{64}$/);

      // The child from gzip on stdin, its parent named by an 8-hex prefix: the DiffID is of the uncompressed tar.
      const gz = sh('gzip', ['-c'], { input: app });
      assert.equal(gz[0], 0x1f);
      const b = JSON.parse(ok([...g, 'layer', 'add', '--json', '--parent', hex(sha256(base)).slice(0, 8), '-'], { input: gz }).stdout) as Record<string, unknown>;
      assert.equal(b.diffId, sha256(app));
      assert.equal(b.parent, sha256(base));
      const appChain = sha256(Buffer.from(`${sha256(base)} ${sha256(app)}`));
      assert.equal(b.chainId, appChain, 'ChainID = sha256("<parent chain> <diffID>")');

      // ls --json: every layer with its facts; the text table with short IDs and docker's sizes.
      const ls = JSON.parse(ok([...g, 'layer', 'ls', '--json']).stdout) as LayerJson[];
      assert.deepEqual(ls.map((l) => l.chainId), [sha256(base), appChain].sort());
      const lb = ls.find((l) => l.chainId === sha256(base))!;
      const la = ls.find((l) => l.chainId === appChain)!;
      assert.deepEqual(lb, {
        chainId: sha256(base), diffId: sha256(base), cacheId: a.cacheId, size: a.size, totalSize: a.size, depth: 1,
        references: { children: 1, mounts: 0, handles: 0 },
      });
      assert.deepEqual(la, {
        chainId: appChain, diffId: sha256(app), parent: sha256(base), cacheId: b.cacheId, size: big.length,
        totalSize: big.length + (a.size as number), depth: 2, references: { children: 0, mounts: 0, handles: 0 },
      });
      if (driver === 'overlay2') {
        // The text table does not depend on the driver: checked once.
        const text = ok([...g, 'layer', 'ls']).stdout.trimEnd().split('\n');
        assert.match(text[0]!, /^CHAIN ID +DIFF ID +PARENT +SIZE +DEPTH$/);
        const rows = text.slice(1).map((l) => l.split(/ {3,}/));
        assert.deepEqual(
          rows.sort(),
          [
            [hex(sha256(base)).slice(0, 12), hex(sha256(base)).slice(0, 12), `${String(a.size)}B`, '1'], // no PARENT
            [hex(appChain).slice(0, 12), hex(sha256(app)).slice(0, 12), hex(sha256(base)).slice(0, 12), '1.23MB', '2'],
          ].sort(),
        );
      }

      // inspect: a full ID, bare hex, and a 4-hex prefix, in order; with the driver's data.
      const ins = JSON.parse(ok([...g, 'layer', 'inspect', appChain, hex(sha256(base)), hex(appChain).slice(0, 4)]).stdout) as (LayerJson & { driverData: Record<string, string> })[];
      assert.deepEqual(ins.map((l) => l.chainId), [appChain, sha256(base), appChain]);
      const { driverData, ...info } = ins[0]!;
      assert.deepEqual(info, la);
      if (driver === 'overlay2') {
        assert.deepEqual(Object.keys(driverData).sort(), ['LowerDir', 'MergedDir', 'UpperDir', 'WorkDir']);
        assert.equal(driverData.UpperDir, path.join(root, 'overlay2', String(b.cacheId), 'diff'));
        assert.equal(fs.readFileSync(path.join(driverData.UpperDir!, 'app', 'blob')).equals(big), true);
        assert.equal(ins[1]!.driverData.LowerDir, undefined, 'a base layer has no lower dirs');
      } else {
        assert.deepEqual(driverData, {});
      }

      // export to stdout: the base tar byte for byte (ASCII only, so the text capture is exact).
      assert.equal(base.toString('latin1'), base.toString('utf8'));
      const out = ok([...g, 'layer', 'export', hex(sha256(base)).slice(0, 6)]);
      assert.equal(sha256(Buffer.from(out.stdout, 'utf8')), sha256(base));
      assert.equal(out.stdout, base.toString('utf8'));

      // export -o FILE: the uncompressed app tar (it was added gzipped), binary content intact, no temp left.
      const file = path.join(dir, 'app-out.tar');
      const r = ok([...g, 'layer', 'export', appChain, '-o', file]);
      assert.equal(r.stdout, '');
      const exported = fs.readFileSync(file);
      assert.equal(sha256(exported), sha256(app));
      assert.ok(exported.equals(app));
      assert.deepEqual(fs.readdirSync(dir).sort(), ['app-out.tar', 'base.tar']);
    });

    test('export of an unknown layer or of a corrupted one fails cleanly: FILE untouched, no temp file', async () => {
      const root = tempDir();
      const g = cli(root);
      const tar = makeTar({ 'etc/': '', 'etc/motd': 'motd\n' });
      const { chainId, cacheId } = await seed(root, driver, async (s) => s.register(bytes(tar)));
      const dir = tempDir();
      const file = path.join(dir, 'out.tar');
      fs.writeFileSync(file, 'previous contents');
      fails([...g, 'layer', 'export', 'f'.repeat(64), '-o', file], /^strata: no such layer: f{64}$/);

      // A file of the layer changed behind the store's back (same size): the tar no longer
      // verifies, the export fails, and FILE keeps its old contents with no temp file left.
      const motd = driver === 'overlay2' ? path.join(root, 'overlay2', cacheId, 'diff', 'etc', 'motd') : path.join(root, 'vfs', 'dir', cacheId, 'etc', 'motd');
      fs.writeFileSync(motd, 'MOTD\n');
      fails([...g, 'layer', 'export', chainId, '-o', file], /^strata: (could not verify layer data for: sha256:|.*(crc|CRC|checksum))/);
      assert.equal(fs.readFileSync(file, 'utf8'), 'previous contents');
      assert.deepEqual(fs.readdirSync(dir), ['out.tar']);
      // Repaired: the export replaces FILE.
      fs.writeFileSync(motd, 'motd\n');
      ok([...g, 'layer', 'export', chainId, '-o', file]);
      assert.ok(fs.readFileSync(file).equals(tar));
      assert.deepEqual(fs.readdirSync(dir), ['out.tar']);
    });

    test('rm refuses layers with a child or an RW layer, cascades through unheld ancestors; tree shows it all', async () => {
      const root = tempDir();
      const g = cli(root);
      const tars = {
        base: makeTar({ 'etc/': '', 'etc/motd': 'base\n' }),
        mid: makeTar({ 'etc/': '', 'etc/mid': 'mid\n' }),
        top: makeTar({ 'etc/': '', 'etc/top': 'top\n' }),
        other: makeTar({ 'opt/': '', 'opt/other': 'other\n' }),
      };
      const { B, M, T, O, mountId, loneId } = await seed(root, driver, async (s) => {
        const B = (await s.register(bytes(tars.base))).chainId;
        const M = (await s.register(bytes(tars.mid), B)).chainId;
        const T = (await s.register(bytes(tars.top), M)).chainId;
        const O = (await s.register(bytes(tars.other))).chainId;
        const mountId = (await s.createRWLayer('web-1', M, { init: dockerInit() })).mountId;
        const loneId = (await s.createRWLayer('lone')).mountId; // on no layer at all
        return { B, M, T, O, mountId, loneId };
      });

      // tree: text and JSON.
      const s = (id: string) => hex(id).slice(0, 12);
      const roots = [B, O].sort();
      const blocks: Record<string, string> = {
        [B]: [
          `${s(B)} (5B)`,
          `└── ${s(M)} (4B)`,
          `    ├── ${s(T)} (4B)`,
          `    └── rw web-1 (mount-id ${mountId.slice(0, 12)})`,
        ].join('\n'),
        [O]: `${s(O)} (6B)`,
      };
      if (driver === 'overlay2') {
        assert.equal(ok([...g, 'layer', 'tree']).stdout, `${roots.map((id) => blocks[id]).join('\n')}\nrw lone (mount-id ${loneId.slice(0, 12)})\n`);
      }
      const leaf = (chainId: string, size: number) => ({ chainId, size, children: [], mounts: [] });
      const bNode = {
        chainId: B, size: 5, mounts: [],
        children: [{ chainId: M, size: 4, children: [leaf(T, 4)], mounts: [{ name: 'web-1', mountId, initId: `${mountId}-init` }] }],
      };
      assert.deepEqual(JSON.parse(ok([...g, 'layer', 'tree', '--json']).stdout), {
        children: roots.map((id) => (id === B ? bNode : leaf(O, 6))),
        mounts: [{ name: 'lone', mountId: loneId }],
      });

      // rm: held by a child; held by a child and an RW layer. Nothing is deleted.
      fails([...g, 'layer', 'rm', hex(B).slice(0, 12)], new RegExp(`^strata: layer ${B} is in use: held by 1 child layer$`));
      fails([...g, 'layer', 'rm', M], new RegExp(`^strata: layer ${M} is in use: held by 1 child layer, 1 read-write layer$`));
      // rw rm leaves the layers (in a new process nothing else holds M: it must not go with it).
      assert.equal(ok([...g, 'rw', 'rm', 'web-1']).stdout, '');
      assert.equal((JSON.parse(await lsJson(root, driver)) as LayerJson[]).length, 4);
      // Removing T cascades: M and B are held by nothing else; the ancestor named too is not an error.
      const r = ok([...g, 'layer', 'rm', hex(B), T]);
      assert.equal(r.stdout, `Deleted: ${T}\nDeleted: ${M}\nDeleted: ${B}\n`);
      assert.equal(r.stderr, '');
      assert.deepEqual((JSON.parse(await lsJson(root, driver)) as LayerJson[]).map((l) => l.chainId), [O]);
      assert.deepEqual(JSON.parse(ok([...g, 'layer', 'rm', '--json', O]).stdout), [{ chainId: O, diffId: O, size: 6, totalSize: 6 }]);
      // The driver and the layerdb hold nothing any more but the RW layer on nothing.
      const driverDir = driver === 'overlay2' ? path.join(root, 'overlay2') : path.join(root, 'vfs', 'dir');
      assert.deepEqual(fs.readdirSync(driverDir).filter((n) => n !== 'l'), [loneId]);
      assert.deepEqual(fs.readdirSync(path.join(root, 'image', driver, 'layerdb', 'sha256')), []);
    });

    test('a tar that fails to apply is one line and exit 1, and registers nothing (nor deletes the parent)', async () => {
      const root = tempDir();
      const g = cli(root);
      const base = makeTar({ 'etc/': '', 'etc/motd': 'base\n' });
      const B = await seed(root, driver, async (s) => (await s.register(bytes(base))).chainId);
      const before = await lsJson(root, driver);

      fails([...g, 'layer', 'add', '-'], /^strata: tar: /, { input: 'this is not a tar archive\n' });
      fails([...g, 'layer', 'add', '--parent', B], /^strata: tar: .*truncated/, { input: base.subarray(0, 700) });
      fails([...g, 'layer', 'add', '--parent', B], /^strata: gzip data is (corrupt|truncated)/, { input: sh('gzip', ['-c'], { input: base }).subarray(0, 40) });

      assert.equal(ok([...g, 'layer', 'ls', '--json']).stdout, before, 'nothing added, and the parent of the failed adds kept');
      assert.deepEqual(fs.readdirSync(path.join(root, 'image', driver, 'layerdb', 'tmp')), []);
      const driverDir = driver === 'overlay2' ? path.join(root, 'overlay2') : path.join(root, 'vfs', 'dir');
      assert.equal(fs.readdirSync(driverDir).filter((n) => n !== 'l').length, 1, 'only the base layer has driver data');
    });
  });
}

describe('strata layer (either driver)', () => {
  test('add sniffs zstd, xz and bzip2 too: the same layer as the plain tar', async () => {
    const root = tempDir();
    const tar = makeTar({ 'usr/': '', 'usr/share/': '', 'usr/share/doc': 'docs\n'.repeat(100) });
    await seed(root, 'overlay2', async (s) => s.register(bytes(tar)));
    for (const [cmd, magic] of [['zstd', 0x28], ['xz', 0xfd], ['bzip2', 0x42]] as const) {
      const packed = sh(cmd, ['-c'], { input: tar });
      assert.equal(packed[0], magic);
      assert.equal(ok(['--root', root, 'layer', 'add'], { input: packed }).stdout, `${sha256(tar)}\n`, cmd);
    }
    assert.equal((JSON.parse(await lsJson(root, 'overlay2')) as LayerJson[]).length, 1);
  });

  test('IDs: unknown, ambiguous and broken; files that cannot be read; nothing registered', async () => {
    const root = tempDir();
    const g = ['--root', root];
    // Two base layers whose ChainIDs (= sha256 of their tars) start with the same hex digit.
    const byFirst = new Map<string, Buffer>();
    let pair: [Buffer, Buffer] | undefined;
    for (let i = 0; !pair; i++) {
      const t = makeTar({ 'etc/': '', 'etc/motd': `motd number ${i}\n` });
      const other = byFirst.get(hex(sha256(t))[0]!);
      if (other) pair = [other, t];
      else byFirst.set(hex(sha256(t))[0]!, t);
    }
    const [t1, t2] = pair;
    await seed(root, 'overlay2', async (s) => {
      await s.register(bytes(t1));
      await s.register(bytes(t2));
    });
    const before = await lsJson(root, 'overlay2');
    let common = 0;
    while (hex(sha256(t1))[common] === hex(sha256(t2))[common]) common++;
    const amb = hex(sha256(t1)).slice(0, common);
    const uniq = hex(sha256(t1)).slice(0, common + 1);

    let r = fails([...g, 'layer', 'inspect', `sha256:${amb}`], new RegExp(`^strata: ambiguous layer prefix sha256:${amb}$`));
    assert.deepEqual(JSON.parse(r.stdout), []);
    r = strata([...g, 'layer', 'inspect', uniq, 'sha256:0000', 'nothex']);
    assert.equal(r.status, 1);
    assert.equal(r.stderr, 'strata: no such layer: sha256:0000\nstrata: no such layer: nothex\n', 'one line per unknown ID');
    assert.deepEqual((JSON.parse(r.stdout) as LayerJson[]).map((l) => l.chainId), [sha256(t1)], 'the layers found are still printed');

    const dir = tempDir();
    fails([...g, 'layer', 'add', path.join(dir, 'missing.tar')], /^strata: open .*missing\.tar: no such file or directory$/);
    fails([...g, 'layer', 'add', dir], /^strata: read .*: is a directory$/);
    fails([...g, 'layer', 'add', '--parent', amb], /^strata: ambiguous layer prefix/, { input: t1 });
    fails([...g, 'layer', 'rm', '1'.repeat(64)], /^strata: no such layer: 1{64}$/);

    // A layer whose files are damaged does not load: named, it says why rather than "no such layer".
    fs.rmSync(path.join(root, 'image', 'overlay2', 'layerdb', 'sha256', hex(sha256(t2)), 'cache-id'));
    r = strata([...g, 'layer', 'inspect', hex(sha256(t2))]);
    assert.equal(r.status, 1);
    assert.match(r.stderr, new RegExp(`^strata: layer ${sha256(t2)} exists on disk but did not load: .+\\n$`));
    r = ok([...g, 'layer', 'ls', '--json']);
    assert.deepEqual((JSON.parse(r.stdout) as LayerJson[]).map((l) => l.chainId), [sha256(t1)]);
    assert.match(r.stderr, new RegExp(`^strata: warning: skipped layer ${sha256(t2)}: .+\\n$`));
    assert.equal(before.includes(sha256(t2)), true);
  });

  test('usage errors exit 2; a busy data root is waited for, said once', async () => {
    const root = tempDir();
    fails(['--root', root, 'layer', 'inspect'], /^strata: missing required argument 'ID'$/, { code: 2 });
    fails(['--root', root, 'layer', 'ls', '--bogus'], /^strata: unknown option '--bogus'$/, { code: 2 });
    fails(['--root', path.join(root, 'missing'), 'layer', 'ls'], /^strata: data root .*missing does not exist$/);
    assert.equal(fs.existsSync(path.join(root, 'missing')), false, 'a reading command makes no data root');
    const r = strata(['--root', root, 'layer']);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /^Usage: strata layer/);

    // A terminal is neither a tar's destination nor its source (`script` gives the command one).
    const cmd = (args: string) => `'${process.execPath}' --import tsx '${CLI_ENTRY}' --root '${root}' ${args}; echo "rc=$?"`;
    const tty = sh('script', ['-qec', `${cmd('layer export abc')}; ${cmd('layer add')}`, '/dev/null'], { input: '' }).toString().replace(/\r/g, '');
    assert.equal(
      tty,
      'strata: refusing to write a tar to a terminal: redirect stdout or use -o FILE\nrc=1\n' +
        'strata: refusing to read a layer tar from a terminal: name a FILE or pipe the tar into stdin\nrc=1\n',
    );

    // Another process holds the data-root lock: ls says once that it waits, and works when the
    // lock is let go (here: as soon as it has said so).
    fs.writeFileSync(path.join(root, 'strata.lock'), '');
    const holder = spawn('flock', ['-x', path.join(root, 'strata.lock'), '-c', 'echo locked; read line'], { stdio: ['pipe', 'pipe', 'inherit'] });
    await new Promise<void>((resolve) => holder.stdout.once('data', () => resolve()));
    const child = spawn(process.execPath, ['--import', 'tsx', CLI_ENTRY, '--root', root, 'layer', 'ls', '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      if (stderr.includes('waiting')) holder.stdin.end('go\n');
    });
    const status = await new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
    holder.stdin.end();
    assert.equal(status, 0, stderr);
    assert.equal(stderr, `strata: waiting for the lock on ${root}…\n`);
    assert.deepEqual(JSON.parse(stdout), []);
  });

  test('sizes read as docker prints them', () => {
    assert.deepEqual(
      [0, 16, 999, 1000, 1024, 1_234_567, 1_980_000, 123_456_789, 5e9].map(humanSize),
      ['0B', '16B', '999B', '1kB', '1.02kB', '1.23MB', '1.98MB', '123MB', '5GB'],
    );
  });
});
