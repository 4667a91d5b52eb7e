/**
 * The main job, end to end on the default data root (/var/lib/strata as root), with nothing else
 * installed or running: build a small image from files made here, load it, create a container,
 * mount it, change files, show the diff, commit, and save the result.
 *
 *   npm run main-job            (after npm ci; STRATA_ROOT=DIR to use another data root)
 *
 * Every step runs the real `strata` command and prints it first, so the output doubles as a
 * tutorial. Re-running is fine: tags move to the new images, the container is removed at the end.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { imageArchive } from '../src/engine/build.js';

const repo = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const rootArgs = process.env.STRATA_ROOT ? ['--root', process.env.STRATA_ROOT] : [];

/** Runs `strata ...args`, echoing it; returns stdout. Stops the job on failure. */
function strata(...args: string[]): string {
  process.stdout.write(`\n$ strata ${args.map((a) => (/^[\w./:@=-]+$/.test(a) ? a : `'${a}'`)).join(' ')}\n`);
  const r = spawnSync(process.execPath, [path.join(repo, 'bin', 'strata.js'), ...rootArgs, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  process.stdout.write(r.stdout);
  if (r.status !== 0) {
    process.stderr.write(`main job: \`strata ${args.join(' ')}\` exited ${r.status}\n`);
    process.exit(1);
  }
  return r.stdout.trim();
}

function step(text: string): void {
  process.stdout.write(`\n# ${text}\n`);
}

async function main(): Promise<void> {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-main-job-'));
  try {
    step('1. Make the files of a small image: a base layer and an app layer');
    const base = path.join(work, 'base');
    const app = path.join(work, 'app');
    for (const d of ['etc', 'bin', 'tmp/cache']) fs.mkdirSync(path.join(base, d), { recursive: true });
    fs.writeFileSync(path.join(base, 'etc/os-release'), 'NAME="strata demo"\nID=strata-demo\n');
    fs.writeFileSync(path.join(base, 'etc/motd'), 'Welcome to the strata demo image.\n');
    fs.writeFileSync(path.join(base, 'tmp/cache/old.dat'), 'stale\n');
    fs.writeFileSync(path.join(base, 'bin/hello'), '#!/bin/sh\necho "hello from strata"\n', { mode: 0o755 });
    fs.mkdirSync(path.join(app, 'srv/app'), { recursive: true });
    fs.writeFileSync(path.join(app, 'srv/app/config.ini'), '[server]\nport = 8080\n');
    fs.writeFileSync(path.join(app, 'srv/app/index.html'), '<h1>v1</h1>\n');
    // an image is built before its containers run: diff, like Docker's, takes a same-size file whose
    // mtime matches to the second (a tar keeps no nanoseconds) as unchanged
    const built = new Date('2026-01-01T00:00:00Z');
    fs.utimesSync(path.join(app, 'srv/app/index.html'), built, built);
    process.stdout.write(`made ${base} and ${app}\n`);

    step('2. Build a docker-save archive of them (what `docker save` would write)');
    const archive = path.join(work, 'demo-v1.tar');
    await pipeline(imageArchive({ layers: [base, app], tag: 'strata-demo/web:v1', cmd: ['/bin/hello'], scratchDir: work }), fs.createWriteStream(archive));
    process.stdout.write(`wrote ${archive} (${fs.statSync(archive).size} bytes)\n`);

    step('3. Load it into the data root and list the images');
    strata('load', '-i', archive);
    strata('images');

    step('4. Create a container (a read-write layer on the image) and mount it');
    const name = `strata-demo-${process.pid}`;
    strata('create', 'strata-demo/web:v1', '--name', name);
    const rootfs = strata('mount', name);

    step('5. Change files in the mounted container: modify, add, delete, and re-create a directory');
    fs.writeFileSync(path.join(rootfs, 'srv/app/index.html'), '<h1>v2</h1>\n');
    fs.writeFileSync(path.join(rootfs, 'etc/motd'), 'Welcome to version 2.\n');
    fs.writeFileSync(path.join(rootfs, 'srv/app/health'), 'ok\n');
    fs.rmSync(path.join(rootfs, 'etc/os-release'));
    fs.rmSync(path.join(rootfs, 'tmp/cache'), { recursive: true });
    fs.mkdirSync(path.join(rootfs, 'tmp/cache'));
    fs.writeFileSync(path.join(rootfs, 'tmp/cache/new.dat'), 'fresh\n');
    process.stdout.write(`changed files under ${rootfs}\n`);

    step('6. What changed, as `docker diff` shows it');
    strata('diff', name);
    strata('umount', name);

    step('7. Commit the changes as a new image, and look at its history');
    strata('commit', name, 'strata-demo/web:v2', '-m', 'main job: v2 page');
    strata('history', 'strata-demo/web:v2');

    step('8. Save it as a docker-save archive (`docker load -i` reads it) and check the data root');
    const saved = path.join(os.tmpdir(), 'strata-demo-web-v2.tar');
    strata('save', 'strata-demo/web:v2', '-o', saved);
    process.stdout.write(`saved ${saved} (${fs.statSync(saved).size} bytes)\n`);
    strata('rm', name);
    strata('fsck', '-q');
    strata('df');
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

await main();
