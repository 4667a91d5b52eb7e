/**
 * The README's main job runs, start to end, on a fresh data root (the compiled CLI in dist/,
 * as `npm ci` builds it), and leaves a data root that fsck finds clean.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { tempDir } from './helpers/tmp.js';

const repo = path.dirname(path.dirname(fileURLToPath(import.meta.url)));

test('npm run main-job: build, load, create, mount, change, diff, commit, save', () => {
  const root = tempDir('strata-main-job-root-');
  const build = spawnSync('npx', ['tsc', '-p', '.'], { cwd: repo, encoding: 'utf8' });
  assert.equal(build.status, 0, `tsc: ${build.stdout}${build.stderr}`);
  const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(repo, 'scripts/main-job.ts')], {
    cwd: repo,
    encoding: 'utf8',
    env: { ...process.env, STRATA_ROOT: root },
  });
  assert.equal(r.status, 0, `main job failed:\n${r.stdout}\n${r.stderr}`);
  for (const want of ['Loaded image: strata-demo/web:v1', 'A /srv/app/health', 'D /etc/os-release', 'C /srv/app/index.html', 'main job: v2 page', 'all good']) {
    assert.ok(r.stdout.includes(want), `the output shows ${JSON.stringify(want)}:\n${r.stdout}`);
  }
});
