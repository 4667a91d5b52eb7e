/**
 * overlay2: mounting a 125-layer container stack, and applying a layer, each against its anchor
 * measured in the same run.
 *
 * - get (mount) of a 125-layer image + RW layer. Anchor: the mount dockerd 20.10 makes for such a
 *   stack — its option string is too long for a page, so it mounts with relative paths from the
 *   driver home (mount(8) run in `home`, as its docker-mountfrom helper does). strata uses the new
 *   mount API with one `lowerdir+` per layer.
 * - applyDiff of a ~200 MB layer (debootstrap minbase rootfs) with what the layer store adds
 *   around it (DiffID hashing, tar-split). Anchor: `docker import` of the same tar into a dockerd
 *   started for the run (socket transfer, hashing, tar-split, apply, image config).
 *
 *   npx tsx bench/overlay2.ts [TAR]
 */
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { openOverlay2, relativeMountData } from '../src/driver/overlay2/index.js';
import { TarReader } from '../src/archive/tar/index.js';
import { recordTarSplit, createTarSplitWriter } from '../src/archive/tarsplit/index.js';
import { hashing } from '../src/digest/index.js';
import * as sys from '../src/sys/index.js';
import { startDockerd } from '../test/oracle/dockerd.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const tarPath = process.argv[2] ?? execFileSync('bash', [path.join(import.meta.dirname, 'rootfs.sh')], { encoding: 'utf8' }).trim();
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const ms = (t0: bigint) => Number(process.hrtime.bigint() - t0) / 1e6;

const root = fs.mkdtempSync('/var/tmp/strata-bench-ovl-');
const driver = await openOverlay2(path.join(root, 'overlay2'), []);
try {
  // 125 image layers, each with one file, and a container layer on top.
  let parent = '';
  for (let i = 0; i < 125; i++) {
    await driver.create(`L${i}`, parent);
    fs.writeFileSync(path.join(driver.home, `L${i}`, 'diff', `f${i}`), `${i}\n`);
    parent = `L${i}`;
  }
  await driver.createReadWrite('rw', parent);

  const ours: number[] = [];
  const anchor: number[] = [];
  const lower = fs.readFileSync(path.join(driver.home, 'rw', 'lower'), 'utf8');
  const indexOff = fs.existsSync('/sys/module/overlay/parameters/index') ? 'index=off,' : '';
  const data = relativeMountData({ home: driver.home, id: 'rw', lowers: lower.split(':'), readOnly: false, indexOff, userxattr: '', lowerdirPlus: false });
  const target = path.join(driver.home, 'rw', 'merged');
  for (let i = 0; i < RUNS * 4; i++) {
    let t0 = process.hrtime.bigint();
    const m = await driver.get('rw');
    ours.push(ms(t0));
    if (fs.readdirSync(m).length !== 125) throw new Error('the strata mount does not show 125 files');
    await driver.put('rw');
    fs.mkdirSync(target, { recursive: true });
    t0 = process.hrtime.bigint();
    execFileSync('mount', ['-t', 'overlay', 'overlay', '-o', data, path.relative(driver.home, target)], { cwd: driver.home });
    anchor.push(ms(t0));
    if (fs.readdirSync(target).length !== 125) throw new Error('the anchor mount does not show 125 files');
    sys.umount2(target, sys.constants.MNT_DETACH);
    fs.rmdirSync(target);
  }
  console.log(`get of 125 layers + RW:  strata ${median(ours).toFixed(2)} ms   dockerd-style mount(8) ${median(anchor).toFixed(2)} ms   ratio ${(median(ours) / median(anchor)).toFixed(2)}x`);

  // applyDiff against docker import.
  const dockerd = await startDockerd();
  try {
    const strata: number[] = [];
    const docker: number[] = [];
    fs.readFileSync(tarPath);
    for (let i = 0; i < RUNS; i++) {
      const id = `apply${i}`;
      let t0 = process.hrtime.bigint();
      await driver.create(id, '');
      const packer = createTarSplitWriter(path.join(root, `${id}.tar-split.json.gz`));
      const reader = new TarReader(hashing(fs.createReadStream(tarPath, { highWaterMark: 1 << 20 }), () => undefined));
      await driver.applyDiff(id, '', recordTarSplit(reader, packer));
      await packer.close();
      strata.push(ms(t0));
      await driver.remove(id);
      t0 = process.hrtime.bigint();
      const out = await dockerd.docker(['import', tarPath]);
      docker.push(ms(t0));
      await dockerd.docker(['rmi', out.stdout.toString().trim()]);
    }
    const mb = fs.statSync(tarPath).size / 1e6;
    console.log(`applyDiff ${mb.toFixed(0)} MB layer:   strata ${(median(strata) / 1000).toFixed(3)} s   docker import ${(median(docker) / 1000).toFixed(3)} s   ratio ${(median(strata) / median(docker)).toFixed(2)}x`);
  } finally {
    await dockerd.stop({ remove: true });
  }
} finally {
  await driver.cleanup();
  fs.rmSync(root, { recursive: true, force: true });
}
