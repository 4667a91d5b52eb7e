/**
 * The dockerd fixture: a real Docker 20.10 data root with an imported base image, a built image
 * on top of it, a created and an exited container, and `docker save` archives of both images.
 * Later strata tests compare against it.
 *
 *   const fx = await dockerFixture();
 *   for (const l of fx.images.built.layers) {
 *     // l.diffDir is overlay2/<cacheId>/diff, l.tarSplit the layerdb tar-split.json.gz,
 *     // l.savedLayerTar the exact layer tar (sha256 == l.diffId) from `docker save`
 *   }
 *   const copy = await copyFixtureDataRoot(fx, dest);   // never start dockerd on fx.dataRoot itself
 *
 * It is built once per recipe and Docker version, cached on disk under
 * `/var/tmp/strata-oracle/<key>/` (override the parent with STRATA_ORACLE_DIR; set
 * STRATA_ORACLE_REBUILD=1 to force a rebuild). The key hashes this file's source (the recipe),
 * the versions of dockerd, the client, containerd and runc, the busybox binary and the kernel
 * release. A lock file (`<key>.lock`, owner pid inside, stale if the owner died) keeps two
 * processes from building at once; `fixture.json` is written last (write aside + rename), so a
 * directory without it is a partial build and is rebuilt.
 *
 * Needs root, docker.io, busybox-static (for /bin/busybox), attr (setfattr), GNU tar, coreutils.
 */
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import crypto from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { startDockerd, mountsUnder, DOCKERD, DOCKER_CLIENT, type Dockerd, type DockerVersion } from './dockerd.js';

/** Bump to invalidate every cached fixture (the source hash does that too). */
export const FIXTURE_FORMAT = 1;

export const BASE_REF = 'strata-oracle/base:1';
export const BUILT_REF = 'strata-oracle/built:1';
export const CREATED_CONTAINER = 'strata-created';
export const EXITED_CONTAINER = 'strata-exited';

/** One layer of an image, as the data root and `docker save` have it. All paths absolute. */
export interface FixtureLayer {
  index: number;
  diffId: string;
  chainId: string;
  parentChainId: string | null;
  cacheId: string;
  /** Content of layerdb `size` (bytes; directory.Size of the diff dir for overlay2). */
  size: number;
  /** `image/overlay2/layerdb/sha256/<chain hex>/` */
  layerDbDir: string;
  /** `.../tar-split.json.gz` */
  tarSplit: string;
  /** `overlay2/<cacheId>/` */
  overlayDir: string;
  /** `overlay2/<cacheId>/diff` */
  diffDir: string;
  /** Member name in the saved archive, e.g. `<v1 id>/layer.tar`. */
  savedLayerMember: string;
  /** That member extracted (under the image's `savedDir`). */
  savedLayerTar: string;
  /** The history `created_by` of the step that made it ('' for the imported base). */
  createdBy: string;
  /** What the recipe put in this layer, for humans and for picking a layer in a test. */
  contains: string[];
}

export interface FixtureHistoryEntry {
  created: string;
  created_by?: string;
  comment?: string;
  empty_layer?: boolean;
}

export interface FixtureImage {
  ref: string;
  /** `sha256:<hex>` */
  id: string;
  /** `image/overlay2/imagedb/content/sha256/<hex>` */
  configPath: string;
  layers: FixtureLayer[];
  history: FixtureHistoryEntry[];
  /** The `docker save` output. */
  savedArchive: string;
  /** Where it was extracted. */
  savedDir: string;
  /** `docker image inspect` output. */
  inspectPath: string;
}

export interface FixtureChange {
  kind: 'A' | 'C' | 'D';
  path: string;
}

export interface FixtureContainer {
  name: string;
  /** 64 hex */
  id: string;
  state: 'created' | 'exited';
  exitCode: number;
  image: string;
  /** `layerdb/mounts/<id>/mount-id` */
  mountId: string;
  /** `layerdb/mounts/<id>/init-id` (`<mountId>-init`) */
  initId: string;
  /** ChainID from `layerdb/mounts/<id>/parent` */
  parentChainId: string;
  /** `image/overlay2/layerdb/mounts/<id>/` */
  mountDbDir: string;
  /** `overlay2/<mountId>/diff` (the RW layer) */
  diffDir: string;
  /** `overlay2/<mountId>-init/diff` */
  initDiffDir: string;
  /** `docker diff` output as printed: in Go map order, so it differs from run to run. */
  dockerDiff: string;
  dockerDiffPath: string;
  /** `dockerDiff` parsed, sorted by path (byte order). */
  changes: FixtureChange[];
  /** `docker container inspect` output. */
  inspectPath: string;
  /** The command it was given. */
  command: string[];
}

export interface DockerFixture {
  format: number;
  key: string;
  /** The fixture dir. */
  dir: string;
  /** The (stopped) dockerd data root. Copy it before starting a daemon on it. */
  dataRoot: string;
  /** The tar (GNU tar, pax, with xattrs) that was `docker import`ed as the base. */
  baseTar: string;
  /** The build context, with its Dockerfile. */
  contextDir: string;
  buildLog: string;
  dockerdLog: string;
  /** `docker version --format '{{json .}}'` of the daemon that built it. */
  version: DockerVersion;
  kernel: string;
  builtAt: string;
  buildSeconds: number;
  images: { base: FixtureImage; built: FixtureImage };
  containers: { created: FixtureContainer; exited: FixtureContainer };
  /** Dockerfile steps that produced no layer (history `empty_layer: true`). */
  emptyLayerSteps: string[];
}

// ---------------------------------------------------------------------------------------------
// The recipe

/** Fixed mtime for everything the recipe creates: 2020-01-01T00:00:00Z. */
const T0 = 1577836800;
const BUSYBOX = '/bin/busybox';
const APPLETS = [
  'ash', 'cat', 'chmod', 'chown', 'cp', 'echo', 'env', 'false', 'find', 'grep', 'head', 'id', 'ln', 'ls',
  'mkdir', 'mkfifo', 'mv', 'printf', 'rm', 'rmdir', 'sed', 'seq', 'sleep', 'stat', 'sync', 'test', 'touch',
  'true', 'wc',
];
const LONG_LINK_TARGET = '/' + 'long-symlink-target-segment/'.repeat(5) + 'end'; // 144 bytes
const LONG_NAME = 'n'.repeat(60) + '-long-file-name-' + 'm'.repeat(60) + '.txt'; // 140 bytes
const DEEP_DIR = 'deep/' + ['level-one', 'level-two', 'level-three', 'level-four', 'level-five'].map((s) => s + '-' + 'd'.repeat(20)).join('/');
const UNICODE_NAME = 'café-日本語-ü.txt';
const LATIN1_NAME = Buffer.concat([Buffer.from('caf'), Buffer.from([0xe9]), Buffer.from('-latin1.txt')]);
const SPECIAL_NAME = 'a<b&c>.txt';
/** VFS_CAP_REVISION_2 | EFFECTIVE, permitted = CAP_NET_RAW (13): 20 bytes. */
const CAP_V2 = '0x' + '01000002' + '00200000' + '00000000' + '00000000' + '00000000';
/** VFS_CAP_REVISION_3 | EFFECTIVE, permitted = CAP_NET_BIND_SERVICE (10), rootid 100000: 24 bytes. */
const CAP_V3 = '0x' + '01000003' + '00040000' + '00000000' + '00000000' + '00000000' + 'a0860100';

/** What the base layer holds (it is `docker import`ed from a GNU tar of this tree). */
const BASE_CONTAINS = [
  'bin/busybox (static) with bin/sh as a hardlink and applets as symlinks',
  'etc/passwd, etc/group',
  'tmp/ sticky 1777; data/sgid-dir/ 2775; data/suid 4755',
  'data/hello.txt, data/empty (0 bytes), data/big.bin (256 KiB), data/with space.txt',
  'data/hard-a + data/hard-b hardlinks',
  'data/link-rel -> hello.txt, data/link-abs -> /data/hello.txt, data/link-dangling, data/link-long (144-byte target)',
  'data/fifo (FIFO 0644)',
  'devs/null (char 1:3), devs/blk (block 7:200)',
  `${DEEP_DIR}/${LONG_NAME} (140-byte name, 300-byte path)`,
  `unicode/${UNICODE_NAME}, unicode/caf\\xe9-latin1.txt (not UTF-8)`,
  `special/${SPECIAL_NAME}`,
  'caps/ping: security.capability v2 (cap_net_raw) + user.comment; caps/v3cap: security.capability v3 rootid 100000',
  'xattr/user-only: user.mime_type + binary user.bin',
  'ids/uid70000 (70000:70001), ids/uid3000000 (3000000:3000001, pax uid/gid records)',
  'todelete/ (deleted later), opaque/ (re-created later)',
  'tar written with 10240-byte record padding (GNU tar default)',
];

interface Step {
  instruction: string;
  /** Whether dockerd is expected to record a layer (false: history empty_layer). */
  layer: boolean;
  contains: string[];
}

const STEPS: Step[] = [
  {
    instruction: `RUN rm /data/delete-me && rm -r /todelete && rm "/unicode/${UNICODE_NAME}"`,
    layer: true,
    contains: ['whiteout of a file (data/delete-me)', 'whiteout of a directory (todelete)', 'whiteout with a non-ASCII name (pax path)'],
  },
  {
    instruction: 'RUN rm -rf /opaque && mkdir /opaque && echo new > /opaque/new && mkdir /opaque/sub && touch /opaque/sub/deeper',
    layer: true,
    contains: ['opaque directory (opaque/ re-created: trusted.overlay.opaque=y, .wh..wh..opq)'],
  },
  {
    instruction:
      'RUN ln /data/hello.txt /data/hello-hardlink && ln -s ../data/hello.txt /etc/hello-symlink' +
      ` && ln -s ${LONG_LINK_TARGET}/x /data/new-long-symlink && mkfifo -m 0640 /data/new-fifo` +
      ' && mkdir -p /newdir/sub && echo n > /newdir/sub/n && ln /newdir/sub/n /newdir/n-hardlink',
    layer: true,
    contains: [
      'new hardlink to a copied-up lower file (data/hello-hardlink, data/hello.txt)',
      'new symlink (etc/hello-symlink), new long symlink (pax linkpath)',
      'new FIFO (data/new-fifo 0640)',
      'new dirs with a hardlink pair (newdir/sub/n, newdir/n-hardlink)',
    ],
  },
  {
    instruction:
      'RUN chmod 0600 /data/chmod-me && chown 70000:70001 /data/chown-me && echo overwritten > /data/overwrite-me' +
      ' && chmod 0750 /caps/ping /caps/v3cap',
    layer: true,
    contains: [
      'chmod-only change (data/chmod-me)',
      'chown-only change (data/chown-me 70000:70001)',
      'file overwritten in place (data/overwrite-me)',
      'copied-up files keeping security.capability (caps/ping v2, caps/v3cap v3 -> exported as v2)',
    ],
  },
  { instruction: 'RUN true', layer: false, contains: ['no filesystem change'] },
  { instruction: 'ENV STRATA_ORACLE=1', layer: false, contains: ['metadata only'] },
  {
    instruction: 'COPY context-dir/ /copied/',
    layer: true,
    contains: ['COPY of a directory tree from the build context (files, subdir, symlink, 0755 script)'],
  },
  {
    instruction: 'COPY --chown=1234:5678 single.txt /copied/owned.txt',
    layer: true,
    contains: ['COPY --chown of one file (1234:5678)'],
  },
  {
    instruction:
      'RUN chown 3000000:3000001 /copied/owned.txt && mkdir -m 1777 /sticky && rm /newdir/n-hardlink /data/fifo' +
      ' && rm -r /newdir/sub && echo appended >> /data/big.bin',
    layer: true,
    contains: [
      'uid/gid above 2097151 (pax uid/gid records)',
      'new sticky dir (sticky 1777)',
      'whiteouts of a hardlink, a FIFO and a dir made by an earlier built layer',
      'large file copied up and appended to (data/big.bin)',
    ],
  },
];

const DOCKERFILE = [`FROM ${BASE_REF}`, ...STEPS.map((s) => s.instruction)].join('\n') + '\n';

const EXITED_COMMAND = [
  'sh',
  '-c',
  'echo added > /added.txt && ln -s /added.txt /added-link && echo more >> /data/hello.txt && rm /data/empty' +
    ' && rm -r /deep && rm -rf /opaque && mkdir /opaque && echo again > /opaque/again' +
    ' && mkdir -p /var/lib/app && echo state > /var/lib/app/state && chmod 0700 /data/chown-me',
];
const CREATED_COMMAND = ['sh', '-c', 'echo never run'];

// ---------------------------------------------------------------------------------------------
// Small helpers

function run(cmd: string, args: string[], opts: { cwd?: string } = {}): Buffer {
  const r = spawnSync(cmd, args, { cwd: opts.cwd, stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 1 << 30 });
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.stderr.toString()}`);
  return r.stdout;
}

function sha256File(p: string): string {
  return crypto.createHash('sha256').update(fs.readFileSync(p)).digest('hex');
}

function deterministicBytes(n: number, seed: string): Buffer {
  const out = Buffer.alloc(n);
  for (let off = 0, i = 0; off < n; i++) off += crypto.createHash('sha256').update(`${seed}:${i}`).digest().copy(out, off);
  return out;
}

/** Sets the fixed mtime on everything below (and including) `dir`, not following symlinks. */
function setTimes(dir: string | Buffer): void {
  const walk = (p: Buffer): void => {
    const st = fs.lstatSync(p);
    if (st.isDirectory()) {
      for (const name of fs.readdirSync(p, { encoding: 'buffer' })) walk(Buffer.concat([p, Buffer.from('/'), name]));
    }
    fs.lutimesSync(p, T0, T0);
  };
  walk(Buffer.isBuffer(dir) ? dir : Buffer.from(dir));
}

function write(root: string, rel: string, content: string | Buffer, mode = 0o644): string {
  const p = path.join(root, rel);
  fs.mkdirSync(path.dirname(p), { recursive: true });
  fs.writeFileSync(p, content);
  fs.chmodSync(p, mode);
  return p;
}

function mkdir(root: string, rel: string, mode = 0o755): string {
  const p = path.join(root, rel);
  fs.mkdirSync(p, { recursive: true });
  fs.chmodSync(p, mode);
  return p;
}

function requireTools(): void {
  if (process.getuid?.() !== 0) throw new Error('dockerFixture needs root');
  if (!fs.existsSync(BUSYBOX)) {
    throw new Error(`${BUSYBOX} not found: the docker fixture needs a static busybox for RUN steps; apt-get install busybox-static`);
  }
  for (const [bin, pkg] of [
    ['setfattr', 'attr'],
    ['tar', 'tar'],
    ['mkfifo', 'coreutils'],
    ['mknod', 'coreutils'],
  ] as const) {
    if (spawnSync('sh', ['-c', `command -v ${bin}`]).status !== 0) throw new Error(`${bin} not found: apt-get install ${pkg}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Building

/** Creates the base rootfs tree. */
function makeBaseRootfs(root: string): void {
  fs.mkdirSync(root, { recursive: true });
  fs.chmodSync(root, 0o755);
  mkdir(root, 'bin');
  fs.copyFileSync(BUSYBOX, path.join(root, 'bin/busybox'));
  fs.chmodSync(path.join(root, 'bin/busybox'), 0o755);
  fs.linkSync(path.join(root, 'bin/busybox'), path.join(root, 'bin/sh'));
  for (const a of APPLETS) fs.symlinkSync('busybox', path.join(root, 'bin', a));
  write(root, 'etc/passwd', 'root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000:user:/home/user:/bin/sh\n');
  write(root, 'etc/group', 'root:x:0:\nuser:x:1000:\n');
  mkdir(root, 'tmp', 0o1777);

  write(root, 'data/hello.txt', 'hello\n');
  write(root, 'data/empty', '');
  write(root, 'data/big.bin', deterministicBytes(256 * 1024, 'big'));
  write(root, 'data/with space.txt', 'spaces\n');
  write(root, 'data/hard-a', 'linked\n');
  fs.linkSync(path.join(root, 'data/hard-a'), path.join(root, 'data/hard-b'));
  fs.symlinkSync('hello.txt', path.join(root, 'data/link-rel'));
  fs.symlinkSync('/data/hello.txt', path.join(root, 'data/link-abs'));
  fs.symlinkSync('does-not-exist', path.join(root, 'data/link-dangling'));
  fs.symlinkSync(LONG_LINK_TARGET, path.join(root, 'data/link-long'));
  run('mkfifo', ['-m', '0644', path.join(root, 'data/fifo')]);
  write(root, 'data/suid', '#!/bin/sh\necho suid\n', 0o4755);
  mkdir(root, 'data/sgid-dir', 0o2775);
  write(root, 'data/sgid-dir/inside', 'in sgid dir\n');
  write(root, 'data/chmod-me', 'chmod me\n');
  write(root, 'data/chown-me', 'chown me\n');
  write(root, 'data/overwrite-me', 'original content\n');
  write(root, 'data/delete-me', 'bye\n');

  mkdir(root, 'devs');
  run('mknod', ['-m', '0666', path.join(root, 'devs/null'), 'c', '1', '3']);
  run('mknod', ['-m', '0660', path.join(root, 'devs/blk'), 'b', '7', '200']);

  write(root, `${DEEP_DIR}/${LONG_NAME}`, 'deep and long\n');
  write(root, `unicode/${UNICODE_NAME}`, 'unicode\n');
  fs.writeFileSync(Buffer.concat([Buffer.from(path.join(root, 'unicode') + '/'), LATIN1_NAME]), 'latin-1 name\n');
  write(root, `special/${SPECIAL_NAME}`, 'html specials\n');

  const ping = write(root, 'caps/ping', '#!/bin/sh\necho ping\n', 0o755);
  run('setfattr', ['-n', 'security.capability', '-v', CAP_V2, ping]);
  run('setfattr', ['-n', 'user.comment', '-v', 'strata', ping]);
  const v3 = write(root, 'caps/v3cap', '#!/bin/sh\necho v3\n', 0o755);
  run('setfattr', ['-n', 'security.capability', '-v', CAP_V3, v3]);
  const ux = write(root, 'xattr/user-only', 'user xattrs\n');
  run('setfattr', ['-n', 'user.mime_type', '-v', 'text/plain', ux]);
  run('setfattr', ['-n', 'user.bin', '-v', '0s//6AAAHD', ux]);

  fs.chownSync(write(root, 'ids/uid70000', 'high ids\n'), 70000, 70001);
  fs.chownSync(write(root, 'ids/uid3000000', 'very high ids\n'), 3000000, 3000001);

  write(root, 'todelete/a', 'a\n');
  write(root, 'todelete/sub/b', 'b\n');
  write(root, 'opaque/old1', 'old1\n');
  write(root, 'opaque/old2', 'old2\n');
  write(root, 'opaque/sub/old3', 'old3\n');
  setTimes(root);
}

function makeContext(ctx: string): void {
  fs.mkdirSync(ctx, { recursive: true });
  fs.writeFileSync(path.join(ctx, 'Dockerfile'), DOCKERFILE);
  write(ctx, 'context-dir/a.txt', 'from the build context\n');
  write(ctx, 'context-dir/sub/b.txt', 'nested\n');
  write(ctx, 'context-dir/run.sh', '#!/bin/sh\necho run\n', 0o755);
  write(ctx, 'context-dir/big.bin', deterministicBytes(64 * 1024 + 1, 'ctx'));
  fs.symlinkSync('a.txt', path.join(ctx, 'context-dir/link-to-a'));
  write(ctx, 'single.txt', 'single file\n');
  setTimes(ctx);
}

function parseDiff(text: string): FixtureChange[] {
  return text
    .split('\n')
    .filter((l) => l.length > 2)
    .map((l) => ({ kind: l[0] as FixtureChange['kind'], path: l.slice(2) }))
    .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

function readTrim(p: string): string {
  return fs.readFileSync(p, 'utf8').trim();
}

async function describeImage(dataRoot: string, dir: string, ref: string, id: string, name: string, stepsLayers: { createdBy: string; contains: string[] }[]): Promise<FixtureImage> {
  const hex = id.replace(/^sha256:/, '');
  const configPath = path.join(dataRoot, 'image/overlay2/imagedb/content/sha256', hex);
  const config = JSON.parse(fs.readFileSync(configPath, 'utf8')) as { rootfs: { diff_ids: string[] }; history: FixtureHistoryEntry[] };
  const savedArchive = path.join(dir, 'saved', `${name}.tar`);
  const savedDir = path.join(dir, 'saved', name);
  const manifest = JSON.parse(fs.readFileSync(path.join(savedDir, 'manifest.json'), 'utf8')) as { Layers: string[] }[];
  const members = manifest[0]!.Layers;
  const diffIds = config.rootfs.diff_ids;
  if (members.length !== diffIds.length) throw new Error(`${ref}: manifest has ${members.length} layers, config ${diffIds.length}`);
  const layers: FixtureLayer[] = [];
  let chain: string | null = null;
  for (let i = 0; i < diffIds.length; i++) {
    const diffId = diffIds[i]!;
    const chainId: string = chain === null ? diffId : 'sha256:' + crypto.createHash('sha256').update(`${chain} ${diffId}`).digest('hex');
    const layerDbDir = path.join(dataRoot, 'image/overlay2/layerdb/sha256', chainId.slice(7));
    const cacheId = readTrim(path.join(layerDbDir, 'cache-id'));
    if (readTrim(path.join(layerDbDir, 'diff')) !== diffId) throw new Error(`${layerDbDir}/diff does not hold ${diffId}`);
    const overlayDir = path.join(dataRoot, 'overlay2', cacheId);
    layers.push({
      index: i,
      diffId,
      chainId,
      parentChainId: chain,
      cacheId,
      size: Number(fs.readFileSync(path.join(layerDbDir, 'size'), 'utf8')),
      layerDbDir,
      tarSplit: path.join(layerDbDir, 'tar-split.json.gz'),
      overlayDir,
      diffDir: path.join(overlayDir, 'diff'),
      savedLayerMember: members[i]!,
      savedLayerTar: path.join(savedDir, members[i]!),
      createdBy: stepsLayers[i]?.createdBy ?? '',
      contains: stepsLayers[i]?.contains ?? [],
    });
    chain = chainId;
  }
  return { ref, id, configPath, layers, history: config.history, savedArchive, savedDir, inspectPath: path.join(dir, 'inspect', `${name}.json`) };
}

async function build(dir: string, key: string): Promise<DockerFixture> {
  const t0 = Date.now();
  const dataRoot = path.join(dir, 'data-root');
  const contextDir = path.join(dir, 'context');
  const baseTar = path.join(dir, 'base-rootfs.tar');
  const buildLog = path.join(dir, 'build.log');
  const dockerdLog = path.join(dir, 'dockerd.log');
  for (const sub of ['saved', 'inspect', 'containers']) fs.mkdirSync(path.join(dir, sub), { recursive: true });

  // 1. The base tree and its tar. GNU tar, pax format, all xattrs, numeric ids, sorted, no
  //    atime/ctime records and a fixed PaxHeaders name, so the tar (and the base DiffID) only
  //    depends on the recipe and the busybox binary.
  const rootfs = path.join(dir, 'base-rootfs');
  makeBaseRootfs(rootfs);
  run('tar', [
    '--create', '--file', baseTar, '--format=pax', '--xattrs', '--xattrs-include=*', '--numeric-owner', '--sort=name',
    '--pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime', '-C', rootfs, '.',
  ]);
  fs.rmSync(rootfs, { recursive: true, force: true });
  makeContext(contextDir);

  const d: Dockerd = await startDockerd({ dataRoot });
  try {
    const docker = (args: string[], opts?: { cwd?: string; input?: Buffer | string }) => d.docker(args, opts);
    const baseId = (await docker(['import', baseTar, BASE_REF])).stdout.toString().trim();
    const b = await docker(['build', '--network', 'none', '-t', BUILT_REF, contextDir]);
    fs.writeFileSync(buildLog, b.stdout.toString() + b.stderr);
    const builtId = (await docker(['image', 'inspect', '--format', '{{.Id}}', BUILT_REF])).stdout.toString().trim();

    await docker(['create', '--name', CREATED_CONTAINER, '--network', 'none', BUILT_REF, ...CREATED_COMMAND]);
    await docker(['run', '--name', EXITED_CONTAINER, '--network', 'none', BUILT_REF, ...EXITED_COMMAND]);

    const containers: Record<string, Omit<FixtureContainer, 'mountId' | 'initId' | 'parentChainId' | 'mountDbDir' | 'diffDir' | 'initDiffDir'>> = {};
    for (const [name, command] of [
      [CREATED_CONTAINER, CREATED_COMMAND],
      [EXITED_CONTAINER, EXITED_COMMAND],
    ] as const) {
      const insp = (await docker(['container', 'inspect', name])).stdout;
      const inspectPath = path.join(dir, 'inspect', `${name}.json`);
      fs.writeFileSync(inspectPath, insp);
      const c = (JSON.parse(insp.toString()) as { Id: string; State: { Status: string; ExitCode: number } }[])[0]!;
      const diff = (await docker(['diff', name])).stdout.toString();
      const dockerDiffPath = path.join(dir, 'containers', `${name}.diff.txt`);
      fs.writeFileSync(dockerDiffPath, diff);
      containers[name] = {
        name,
        id: c.Id,
        state: c.State.Status as 'created' | 'exited',
        exitCode: c.State.ExitCode,
        image: BUILT_REF,
        dockerDiff: diff,
        dockerDiffPath,
        changes: parseDiff(diff),
        inspectPath,
        command: [...command],
      };
    }

    for (const [name, ref] of [
      ['base', BASE_REF],
      ['built', BUILT_REF],
    ] as const) {
      fs.writeFileSync(path.join(dir, 'inspect', `${name}.json`), (await docker(['image', 'inspect', ref])).stdout);
      const archive = path.join(dir, 'saved', `${name}.tar`);
      await docker(['save', '-o', archive, ref]);
      fs.mkdirSync(path.join(dir, 'saved', name));
      run('tar', ['-xf', archive, '-C', path.join(dir, 'saved', name)]);
    }

    await d.stop({ saveLogTo: dockerdLog });
    const left = mountsUnder([dataRoot]);
    if (left.length) throw new Error(`still mounted after dockerd stopped: ${left.join(', ')}`);

    // 2. Describe what is on disk.
    const baseImage = await describeImage(dataRoot, dir, BASE_REF, baseId, 'base', [{ createdBy: '', contains: BASE_CONTAINS }]);
    const builtConfig = JSON.parse(fs.readFileSync(path.join(dataRoot, 'image/overlay2/imagedb/content/sha256', builtId.slice(7)), 'utf8')) as {
      history: FixtureHistoryEntry[];
    };
    // history[0] is the import; then one entry per Dockerfile step, in order.
    const stepHistory = builtConfig.history.slice(1);
    if (stepHistory.length !== STEPS.length) throw new Error(`built image has ${stepHistory.length} step history entries, recipe has ${STEPS.length}`);
    const stepLayers = [{ createdBy: '', contains: BASE_CONTAINS }];
    const emptyLayerSteps: string[] = [];
    STEPS.forEach((s, i) => {
      const h = stepHistory[i]!;
      const isLayer = !h.empty_layer;
      if (isLayer !== s.layer) throw new Error(`step ${JSON.stringify(s.instruction)}: expected layer=${s.layer}, dockerd recorded empty_layer=${!!h.empty_layer}`);
      if (isLayer) stepLayers.push({ createdBy: h.created_by ?? '', contains: s.contains });
      else emptyLayerSteps.push(s.instruction);
    });
    const builtImage = await describeImage(dataRoot, dir, BUILT_REF, builtId, 'built', stepLayers);
    if (builtImage.layers[0]!.diffId !== baseImage.layers[0]!.diffId) throw new Error('built image does not start with the base layer');

    const describeContainer = (c: (typeof containers)[string]): FixtureContainer => {
      const mountDbDir = path.join(dataRoot, 'image/overlay2/layerdb/mounts', c.id);
      const mountId = readTrim(path.join(mountDbDir, 'mount-id'));
      const initId = readTrim(path.join(mountDbDir, 'init-id'));
      return {
        ...c,
        mountId,
        initId,
        parentChainId: readTrim(path.join(mountDbDir, 'parent')),
        mountDbDir,
        diffDir: path.join(dataRoot, 'overlay2', mountId, 'diff'),
        initDiffDir: path.join(dataRoot, 'overlay2', initId, 'diff'),
      };
    };

    return {
      format: FIXTURE_FORMAT,
      key,
      dir,
      dataRoot,
      baseTar,
      contextDir,
      buildLog,
      dockerdLog,
      version: d.version,
      kernel: os.release(),
      builtAt: new Date().toISOString(),
      buildSeconds: (Date.now() - t0) / 1000,
      images: { base: baseImage, built: builtImage },
      containers: { created: describeContainer(containers[CREATED_CONTAINER]!), exited: describeContainer(containers[EXITED_CONTAINER]!) },
      emptyLayerSteps,
    };
  } catch (e) {
    await d.stop({ saveLogTo: dockerdLog }).catch(() => undefined);
    const log = fs.existsSync(dockerdLog) ? fs.readFileSync(dockerdLog, 'utf8').split('\n').slice(-30).join('\n') : '(no log)';
    (e as Error).message += `\n--- ${dockerdLog} (tail) ---\n${log}`;
    throw e;
  }
}

// ---------------------------------------------------------------------------------------------
// Cache, key and lock

function versionOf(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  return `${cmd}: ${(r.stdout ?? '').trim()} ${r.status}`;
}

/** The cache key: this file's source, tool versions, busybox, kernel. */
export function fixtureKey(): string {
  const h = crypto.createHash('sha256');
  h.update(`format ${FIXTURE_FORMAT}\n`);
  h.update(fs.readFileSync(fileURLToPath(import.meta.url)));
  h.update(versionOf(DOCKERD, ['--version']));
  h.update(versionOf(DOCKER_CLIENT, ['--version']));
  h.update(versionOf('containerd', ['--version']));
  h.update(versionOf('runc', ['--version']));
  h.update(versionOf('tar', ['--version']));
  h.update(fs.existsSync(BUSYBOX) ? sha256File(BUSYBOX) : 'no busybox');
  h.update(os.release());
  return h.digest('hex').slice(0, 16);
}

export function fixtureBaseDir(): string {
  return process.env.STRATA_ORACLE_DIR || '/var/tmp/strata-oracle';
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Takes `<lockPath>` (O_EXCL); waits while a live process holds it, breaks it if the holder died. */
async function acquireLock(lockPath: string, timeoutMs: number): Promise<() => void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const fd = fs.openSync(lockPath, 'wx');
      fs.writeSync(fd, JSON.stringify({ pid: process.pid, at: new Date().toISOString() }));
      fs.closeSync(fd);
      return () => fs.rmSync(lockPath, { force: true });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    let holder: number | undefined;
    try {
      holder = (JSON.parse(fs.readFileSync(lockPath, 'utf8')) as { pid: number }).pid;
    } catch {
      /* being written right now, or garbage */
    }
    if (holder !== undefined && !pidAlive(holder)) {
      fs.rmSync(lockPath, { force: true });
      continue;
    }
    if (holder === undefined) {
      try {
        if (Date.now() - fs.statSync(lockPath).mtimeMs > 5000) fs.rmSync(lockPath, { force: true });
      } catch {
        /* gone */
      }
    }
    if (Date.now() > deadline) {
      let cmd = '?';
      try {
        cmd = fs.readFileSync(`/proc/${holder}/cmdline`, 'utf8').replace(/\0/g, ' ').trim();
      } catch {
        /* gone */
      }
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${lockPath}, held by pid ${holder} (${cmd}); a build takes well under a minute`);
    }
    await sleep(500);
  }
}

function loadFixture(dir: string): DockerFixture | undefined {
  try {
    const file = path.join(dir, 'fixture.json');
    const fx = JSON.parse(fs.readFileSync(file, 'utf8')) as DockerFixture;
    if (fx.format !== FIXTURE_FORMAT || !fs.existsSync(fx.dataRoot)) return undefined;
    const now = new Date();
    fs.utimesSync(file, now, now); // "last used", for pruneOldFixtures
    return fx;
  } catch {
    return undefined;
  }
}

/**
 * Removes sibling fixtures (other keys: an older recipe or Docker) not used for a day, unless
 * their lock is held or something is mounted in them.
 */
function pruneOldFixtures(base: string, keep: string): void {
  for (const name of fs.readdirSync(base)) {
    if (!/^[0-9a-f]{16}$/.test(name) || name === keep || fs.existsSync(path.join(base, `${name}.lock`))) continue;
    const dir = path.join(base, name);
    let used: number;
    try {
      used = fs.statSync(path.join(dir, 'fixture.json')).mtimeMs;
    } catch {
      used = fs.statSync(dir).mtimeMs;
    }
    if (Date.now() - used < 24 * 3600_000 || mountsUnder([dir]).length) continue;
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

let memo: Promise<DockerFixture> | undefined;

/**
 * The fixture, built on first use and cached on disk. Concurrent callers (in this or other
 * processes) wait for one build.
 */
export function dockerFixture(): Promise<DockerFixture> {
  memo ??= (async () => {
    requireTools();
    const key = fixtureKey();
    const base = fixtureBaseDir();
    const dir = path.join(base, key);
    if (process.env.STRATA_ORACLE_REBUILD !== '1') {
      const fx = loadFixture(dir);
      if (fx) return fx;
    }
    fs.mkdirSync(base, { recursive: true });
    const release = await acquireLock(path.join(base, `${key}.lock`), 5 * 60_000);
    try {
      if (process.env.STRATA_ORACLE_REBUILD !== '1') {
        const fx = loadFixture(dir);
        if (fx) return fx;
      }
      // A partial build (its builder died) or a forced rebuild: start over.
      if (fs.existsSync(dir)) {
        if (mountsUnder([dir]).length) throw new Error(`${dir} has mounts below it; unmount them first`);
        await fsp.rm(dir, { recursive: true, force: true });
      }
      fs.mkdirSync(dir, { recursive: true });
      let fx: DockerFixture;
      try {
        fx = await build(dir, key);
      } catch (e) {
        // Keep the logs of a failed build next to the cache for a look, drop the rest.
        await fsp.rm(path.join(dir, 'data-root'), { recursive: true, force: true }).catch(() => undefined);
        throw e;
      }
      const tmp = path.join(dir, `fixture.json.tmp-${process.pid}`);
      const fd = fs.openSync(tmp, 'w');
      fs.writeSync(fd, JSON.stringify(fx, null, 2) + '\n');
      fs.fsyncSync(fd);
      fs.closeSync(fd);
      fs.renameSync(tmp, path.join(dir, 'fixture.json'));
      try {
        pruneOldFixtures(base, key);
      } catch {
        /* best effort */
      }
      return fx;
    } finally {
      release();
    }
  })();
  memo.catch(() => {
    memo = undefined;
  });
  return memo;
}

/**
 * Copies the fixture's data root to `dest` (`cp -a`: modes, owners, xattrs incl. trusted.*,
 * device nodes, hardlinks) so a test can start a dockerd on it or let strata write into it.
 * Returns `dest`.
 */
export async function copyFixtureDataRoot(fx: DockerFixture, dest: string): Promise<string> {
  await fsp.mkdir(path.dirname(dest), { recursive: true });
  if (fs.existsSync(dest)) throw new Error(`${dest} exists`);
  run('cp', ['-a', fx.dataRoot, dest]);
  return dest;
}
