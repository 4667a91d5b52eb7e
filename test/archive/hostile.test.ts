/**
 * Every hostile archive of hostile-tars.ts, through applyLayer and extractLayer, in both whiteout
 * modes. For each run: the expected StrataError (one-line message) or a contained result, and a
 * full snapshot (listing, types, modes, owners, contents, link counts, xattrs, file mtimes) of a
 * sentinel tree around and above the target that must not change, plus host canaries.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { decompress } from '../../src/archive/compression.js';
import { applyLayer, extractLayer } from '../../src/archive/apply/index.js';
import { TarReader } from '../../src/archive/tar/index.js';
import { StrataError } from '../../src/errors/index.js';
import { tempDir } from '../helpers/tmp.js';
import { diffSnapshots, snapshotTree, type Snapshot } from '../helpers/tree-snapshot.js';
import { CANARY, hostileCases, type HostileCase, type HostileContext, type WhiteoutModeName } from './hostile-tars.js';

const TARGET = 'target';
const FRESH = 'fresh';

interface Layout {
  base: string;
  work: string;
  target: string;
  fresh: string;
  ctx: HostileContext;
}

/** base/{above/secret, work/{sibling/..., target-evil/secret, target/}} */
function layout(): Layout {
  const base = tempDir('strata-hostile-');
  const above = path.join(base, 'above');
  const work = path.join(base, 'work');
  const sibling = path.join(work, 'sibling');
  fs.mkdirSync(path.join(sibling, 'sub'), { recursive: true });
  fs.mkdirSync(above);
  fs.writeFileSync(path.join(above, 'secret'), 'above secret\n');
  fs.writeFileSync(path.join(sibling, 'secret'), 'sibling secret\n');
  fs.writeFileSync(path.join(sibling, 'sub', 'x'), 'x\n');
  fs.symlinkSync('secret', path.join(sibling, 'link'));
  fs.mkdirSync(path.join(work, `${TARGET}-evil`));
  fs.writeFileSync(path.join(work, `${TARGET}-evil`, 'secret'), 'prefix trick\n');
  fs.mkdirSync(path.join(work, TARGET));
  return {
    base,
    work,
    target: path.join(work, TARGET),
    fresh: path.join(work, FRESH),
    ctx: { outsideDir: sibling, outsideFile: path.join(sibling, 'secret'), targetName: TARGET },
  };
}

function outside(l: Layout): Snapshot {
  return snapshotTree(l.base, { exclude: (rel) => rel === `work/${TARGET}` || rel === `work/${FRESH}` });
}

/** Directory mtimes legitimately change when extractLayer creates and removes its temp sibling. */
const ignoreDirTimes = (snap: Snapshot) => (rel: string, field: string) => field === 'mtimeNs' && snap.get(rel)?.type === 'dir';

const HOST_CANARIES = [`/${CANARY}`, `/etc/${CANARY}`, `/tmp/${CANARY}`, path.join(os.tmpdir(), CANARY)];

function assertHostClean(): void {
  for (const p of HOST_CANARIES) assert.equal(fs.existsSync(p), false, `${p} must not exist`);
}

async function run(c: HostileCase, mode: WhiteoutModeName, bytes: Buffer, fn: 'apply' | 'extract', l: Layout): Promise<unknown> {
  const reader = new TarReader(decompress([bytes]));
  const opts = { whiteouts: mode, ...c.options };
  try {
    if (fn === 'apply') await applyLayer(reader, l.target, opts);
    else await extractLayer(reader, l.fresh, opts);
    return undefined;
  } catch (e) {
    return e ?? new Error('undefined thrown');
  }
}

function checkOutcome(c: HostileCase, mode: WhiteoutModeName, err: unknown, dir: string, l: Layout, fn: string): void {
  const where = `${c.name} [${mode}, ${fn}]`;
  if ('error' in c.expect) {
    assert.ok(err, `${where}: expected an error, but the archive applied`);
    assert.ok(err instanceof StrataError, `${where}: expected a StrataError, got ${String(err)}`);
    const codes = Array.isArray(c.expect.error) ? c.expect.error : [c.expect.error];
    assert.ok(codes.includes(err.code), `${where}: code ${err.code} (${err.message}), expected ${codes.join('|')}`);
    assert.ok(err.message.length > 0 && !/[\r\n]/.test(err.message), `${where}: message must be one line: ${JSON.stringify(err.message)}`);
    assert.ok(!err.message.includes('    at '), `${where}: no stack in the message`);
  } else {
    assert.equal(err, undefined, `${where}: expected success, got ${String(err)}`);
    c.expect.contained(dir, mode, l.ctx);
  }
}

const cases = hostileCases();

test('the hostile catalogue has at least 25 named, distinct cases', () => {
  assert.ok(cases.length >= 25, `${cases.length} cases`);
  assert.equal(new Set(cases.map((c) => c.name)).size, cases.length);
});

for (const c of cases) {
  for (const mode of c.modes ?? (['overlay', 'delete'] as const)) {
    test(`hostile: ${c.name} [${mode}] — ${c.about}`, async () => {
      const l = layout();
      const bytes = c.build(l.ctx);
      assertHostClean();
      const before = outside(l);

      // applyLayer into an existing (empty) target.
      const err1 = await run(c, mode, bytes, 'apply', l);
      checkOutcome(c, mode, err1, l.target, l, 'applyLayer');
      const mid = outside(l);
      assert.deepEqual(diffSnapshots(before, mid, ignoreDirTimes(before)), [], `${c.name}: nothing outside the target changes (applyLayer)`);
      assertHostClean();

      // extractLayer into a fresh directory: all or nothing.
      const err2 = await run(c, mode, bytes, 'extract', l);
      checkOutcome(c, mode, err2, l.fresh, l, 'extractLayer');
      if (err2) assert.equal(fs.existsSync(l.fresh), false, `${c.name}: no target left behind`);
      const after = outside(l);
      assert.deepEqual(diffSnapshots(before, after, ignoreDirTimes(before)), [], `${c.name}: nothing outside the target changes (extractLayer)`);
      const leftovers = fs.readdirSync(l.work).filter((n) => n.includes('strata-tmp'));
      assert.deepEqual(leftovers, [], `${c.name}: no temporary directory left`);
      assertHostClean();
    });
  }
}

test('hostile: an existing target is refused by extractLayer and left alone', async () => {
  const l = layout();
  fs.mkdirSync(l.fresh);
  fs.writeFileSync(path.join(l.fresh, 'keep'), 'keep');
  const err = await extractLayer(new TarReader([Buffer.alloc(1024)]), l.fresh, { whiteouts: 'overlay' }).catch((e: unknown) => e);
  assert.ok(err instanceof StrataError && err.code === 'ARCHIVE_TARGET_EXISTS', String(err));
  assert.deepEqual(fs.readdirSync(l.fresh), ['keep']);
});

test('hostile: breakout message is moby\'s, on one line, naming the entry', async () => {
  const l = layout();
  const [c] = cases.filter((x) => x.name === 'dotdot-non-utf8-newline');
  const err = await run(c!, 'overlay', c!.build(l.ctx), 'apply', l);
  assert.ok(err instanceof StrataError);
  assert.equal(err.message, `"../\\xff\\n${CANARY}" is outside of ${JSON.stringify(l.target)}`);
});
