/**
 * The harness proved on real systems: two kernel mounts of two identical fixtures must agree on
 * everything (no false positives from inode numbers, times or workdirs), and the harness must see
 * a real behavioural difference when there is one (redirect_dir=follow vs on), and names that are
 * not UTF-8 reach the kernel and come back as the same bytes; a side that cannot be closed leaves
 * nothing mounted behind.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { describe, it } from 'node:test';
import { tempDir } from '../../helpers/tmp.js';
import { expectNoDivergence, expectScenarioAgrees } from './check.js';
import { bytesOf } from './bytes.js';
import { mountsBelow } from '../../../src/sys/index.js';
import type { SideSpec } from './executor.js';
import { NAME_FF_FE, NAME_LATIN1, NAME_UTF8, buildFixture, generateFixture, type FixtureDesc } from './fixture.js';
import { FsExecutor } from './fs-executor.js';
import { runComparison } from './runner.js';
import { SCENARIOS } from './scenarios.js';
import { kernelSide } from './sides.js';

describe('differential harness: kernel vs kernel', () => {
  it('identical fixtures on two kernel mounts never diverge (fixed seeds, both redirect configs)', async () => {
    const ops = await expectNoDivergence({ ref: kernelSide('kernel-a'), cand: kernelSide('kernel-b'), workDir: tempDir('ovl-diff-'), seeds: [11, 12], configs: ['follow', 'on'], count: 60 });
    assert.equal(ops, 2 * 2 * 60, 'every generated operation was compared');
  });

  it('every scenario agrees between two kernel mounts', async () => {
    const workDir = tempDir('ovl-diff-');
    for (const s of SCENARIOS) await expectScenarioAgrees({ ref: kernelSide('kernel-a'), cand: kernelSide('kernel-b'), workDir }, s, 'on');
  });

  it('finds the real difference between redirect_dir=follow and redirect_dir=on', async () => {
    const rename = SCENARIOS.find((s) => s.name.startsWith('renaming lower dirs'))!;
    const r = await runComparison({ ref: kernelSide('follow'), cand: kernelSide('on', 'on'), config: 'follow', workDir: tempDir('ovl-diff-'), fixture: rename.fixture, ops: rename.ops });
    assert.ok(r.divergence, 'a lower dir rename behaves differently with and without redirects');
    assert.equal(r.divergence.opIndex, 0, 'the first rename is where they differ');
    assert.deepEqual(r.divergence.items[0], { area: 'outcome', path: '', field: 'result', ref: 'ERR EXDEV', cand: 'ok' });
    assert.ok(
      r.divergence.items.some((i) => i.area === 'upper' && i.path === '/a2' && /trusted\.overlay\.redirect="a"/.test(i.cand ?? '')),
      `the redirect xattr shows in the upper diff:\n${JSON.stringify(r.divergence.items, null, 1)}`,
    );
  });

  it('a side that cannot be unmounted fails the comparison and leaves no mount or file behind', async () => {
    const workDir = tempDir('ovl-diff-');
    // the kernel overlay, with an unmount that fails as a wedged FUSE server's fusermount3 would
    const stuck: SideSpec = {
      name: 'stuck',
      async open(dirs, config) {
        await kernelSide().open(dirs, config);
        return new FsExecutor('stuck', dirs, () => {
          throw new Error('cannot unmount');
        });
      },
    };
    const run = runComparison({ ref: kernelSide(), cand: stuck, config: 'on', workDir, fixture: generateFixture(5), ops: { count: 5, seed: 5 } });
    await assert.rejects(run, /cannot unmount/);
    assert.deepEqual(mountsBelow(workDir), [], 'the stuck mount was detached');
    assert.deepEqual(fs.readdirSync(workDir), [], 'the fixtures were removed');
  });

  it('names that are not UTF-8 go to the kernel and come back as the same bytes', async () => {
    const t = '1000000000000000000';
    const fixture: FixtureDesc = {
      seed: 0,
      upper: [],
      lowers: [[
        { path: NAME_UTF8, kind: 'dir', mode: 0o755, uid: 0, gid: 0, mtimeNs: t },
        { path: `${NAME_UTF8}/${NAME_FF_FE}`, kind: 'file', mode: 0o644, uid: 0, gid: 0, mtimeNs: t, size: 5, contentSeed: 1 },
        { path: 's', kind: 'symlink', mode: 0o777, uid: 0, gid: 0, mtimeNs: t, target: `${NAME_UTF8}/${NAME_FF_FE}` },
      ]],
    };
    const dirs = buildFixture(fixture, `${tempDir('ovl-diff-')}/f`);
    assert.deepEqual(fs.readdirSync(dirs.lowers[0]!, { encoding: 'buffer' }).map((b) => b.toString('hex')).sort(), ['636166c3a9', '73'], 'the lower holds the exact bytes');
    const ex = await kernelSide().open(dirs, 'on');
    try {
      assert.equal(await ex.run({ op: 'readdir', path: `/${NAME_UTF8}` }), `ok ${NAME_FF_FE}:file`);
      assert.equal(await ex.run({ op: 'readlink', path: '/s' }), `ok ${NAME_UTF8}/${NAME_FF_FE}`);
      assert.equal(await ex.run({ op: 'symlink', target: `/${NAME_LATIN1}`, path: `/${NAME_LATIN1}` }), 'ok');
      assert.equal(await ex.run({ op: 'rename', from: '/s', to: `/${NAME_UTF8}/${NAME_LATIN1}`, flags: [] }), 'ok');
      const obs = await ex.observe();
      assert.equal(obs.merged.entries.get(`/${NAME_UTF8}/${NAME_FF_FE}`)?.type, 'file', 'the merged tree is walked by bytes');
      assert.equal(obs.merged.entries.get(`/${NAME_LATIN1}`)?.target, `/${NAME_LATIN1}`, 'a target that is not UTF-8 reads back unchanged');
      assert.deepEqual(obs.merged.readdirs.get('/'), [`${NAME_UTF8}:dir`, `${NAME_LATIN1}:symlink`]);
      assert.equal(obs.upper.get(`/${NAME_UTF8}/${NAME_LATIN1}`)?.target, `${NAME_UTF8}/${NAME_FF_FE}`, 'the moved symlink is in upper under its bytes');
      assert.equal(obs.upper.get('/s')?.type, 'whiteout', 'its old name is whited out');
      const onDisk = fs.lstatSync(Buffer.concat([Buffer.from(`${dirs.upper}/`), bytesOf(NAME_LATIN1)]), { throwIfNoEntry: false });
      assert.ok(onDisk?.isSymbolicLink(), 'upper has a symlink under the 2-byte name 6e e9');
    } finally {
      await ex.close();
    }
  });

  it('fixture symlinks never reach the host: absolute targets and .. resolve inside the union', async () => {
    const t = '1000000000000000000';
    const escape = `/ovl-diff-escape-${process.pid}`;
    const fixture: FixtureDesc = {
      seed: 0,
      upper: [],
      lowers: [[
        { path: 's', kind: 'symlink', mode: 0o777, uid: 0, gid: 0, mtimeNs: t, target: '/etc/hostname' },
        { path: 'up', kind: 'symlink', mode: 0o777, uid: 0, gid: 0, mtimeNs: t, target: `../../../../../..${escape}` },
      ]],
    };
    const before = fs.statSync('/etc/hostname').mode;
    const dirs = buildFixture(fixture, `${tempDir('ovl-diff-')}/f`);
    const ex = await kernelSide().open(dirs, 'follow');
    try {
      assert.equal(await ex.run({ op: 'chmod', path: '/s', mode: 0o600 }), 'ERR ENOENT', 'union /etc does not exist');
      assert.equal(await ex.run({ op: 'open', path: '/s', flags: ['WRONLY', 'CREAT'], mode: 0o600, h: 1 }), 'ERR ENOENT');
      assert.equal(await ex.run({ op: 'open', path: '/up', flags: ['WRONLY', 'CREAT'], mode: 0o600, h: 2 }), 'ok', 'the target is created in the union');
      assert.equal(await ex.run({ op: 'close', h: 2 }), 'ok');
      const obs = await ex.observe();
      assert.equal(obs.merged.entries.get(escape)?.type, 'file', `the union got ${escape}`);
      assert.ok(fs.existsSync(`${dirs.upper}${escape}`), 'the new file is in upper');
    } finally {
      await ex.close();
    }
    assert.ok(!fs.existsSync(escape), `nothing was created on the host at ${escape}`);
    assert.equal(fs.statSync('/etc/hostname').mode, before, "the host's /etc/hostname is untouched");
  });
});
