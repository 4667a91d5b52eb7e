/**
 * A throw-away dockerd for tests: the oracle that strata is compared against.
 *
 *   const d = await startDockerd();                 // fresh data root under /tmp
 *   await d.docker(['import', '-', 'img:1'], { input: tarBytes });
 *   const { stdout } = await d.docker(['save', 'img:1']);
 *   await d.stop();                                  // nothing left running or mounted
 *
 * Each daemon is fully private: its own data root, exec root, pidfile, unix socket, daemon.json
 * and client config, and its own containerd (dockerd 20.10 supervises one under
 * `<exec-root>/containerd/`, with its state there and its root in `<data-root>/containerd/`),
 * so daemons started in parallel, or left over by a killed run, never collide.
 *
 * Networking is off (`--bridge=none --iptables=false --ip6tables=false`): containers and
 * classic-builder RUN steps work with `--network none` (which is what they get by default here,
 * too: without a bridge, "default" networking ends up with only a loopback interface).
 *
 * Cleanup is layered, because a failing test must not leave daemons behind:
 * 1. `stop()`: SIGTERM, wait, SIGKILL if needed, kill any containerd/shim/container process
 *    still running for this daemon, unmount everything under its dirs, remove the temp dir.
 * 2. A process 'exit' hook and SIGINT/SIGTERM/SIGHUP handlers do the same synchronously.
 * 3. dockerd runs under `setpriv --pdeathsig TERM`, so if the test process is SIGKILLed the
 *    kernel sends dockerd SIGTERM and it shuts down (and unmounts) by itself.
 * 4. `startDockerd` first reaps harness dirs (`/tmp/strata-dockerd-*`) whose owner died.
 */
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import http from 'node:http';
import { spawn, spawnSync } from 'node:child_process';

/** Debian's docker.io client. `/usr/local/bin/docker` (first on PATH) is a different, newer one. */
export const DOCKER_CLIENT = '/usr/bin/docker';
/** Debian installs the daemon as /usr/sbin/dockerd. */
export const DOCKERD = ['/usr/sbin/dockerd', '/usr/bin/dockerd'].find((p) => fs.existsSync(p)) ?? '/usr/sbin/dockerd';
const TMP_PREFIX = 'strata-dockerd-';

export interface StartDockerdOptions {
  /** Use this data root (e.g. a `cp -a` copy of a fixture's). Default: `<tmp>/root`, fresh. */
  dataRoot?: string;
  /** Default `overlay2`. */
  storageDriver?: string;
  /** Extra dockerd flags, appended last. */
  extraArgs?: string[];
  /** How long to wait for the API to answer. Default 60 s. */
  startTimeoutMs?: number;
  /** dockerd `--log-level`. Default `info`. */
  logLevel?: 'debug' | 'info' | 'warn' | 'error';
}

export interface DockerRunOptions {
  input?: Buffer | string;
  cwd?: string;
  /** Extra environment for the client. */
  env?: Record<string, string>;
  /** Kill the client after this long. Default: none. */
  timeoutMs?: number;
}

export interface DockerResult {
  stdout: Buffer;
  stderr: string;
}

export interface StopOptions {
  /**
   * Remove the data root too. Default: true for the fresh temp data root, false for a
   * caller-supplied `dataRoot` (which is never deleted unless this is set to true).
   * The temp dir holding exec-root, socket, pidfile and log is always removed.
   */
  remove?: boolean;
  /** How long to wait after SIGTERM before SIGKILL. Default 30 s. */
  timeoutMs?: number;
  /** Copy the daemon log here before the temp dir is removed. */
  saveLogTo?: string;
}

export interface Dockerd {
  /** The data root (`--data-root`). */
  readonly root: string;
  /** The exec root (`--exec-root`): containerd state, runtime state, netns. */
  readonly execRoot: string;
  /** Path of the API unix socket. */
  readonly socket: string;
  /** `unix://<socket>`, for DOCKER_HOST. */
  readonly host: string;
  /** The private temp dir holding exec root, socket, pidfile, daemon.json and the log. */
  readonly tmpDir: string;
  readonly logFile: string;
  readonly pid: number;
  /** `docker version --format '{{json .}}'`, taken once the daemon answered. */
  readonly version: DockerVersion;
  /** Environment for running the client yourself (DOCKER_HOST, DOCKER_BUILDKIT=0, DOCKER_CONFIG). */
  readonly env: Record<string, string>;
  /** Runs `/usr/bin/docker ...args` against this daemon. Throws `DockerCommandError` on non-zero exit. */
  docker(args: string[], opts?: DockerRunOptions): Promise<DockerResult>;
  /** The last `lines` lines of the daemon log. */
  logTail(lines?: number): string;
  /** Stops the daemon and cleans up (idempotent). */
  stop(opts?: StopOptions): Promise<void>;
}

export interface DockerVersion {
  Client: { Version: string; ApiVersion: string; GitCommit: string; GoVersion: string };
  Server: {
    Version: string;
    ApiVersion: string;
    GitCommit: string;
    GoVersion: string;
    KernelVersion: string;
    Components: { Name: string; Version: string; Details?: Record<string, string> }[];
  };
}

export class DockerCommandError extends Error {
  readonly code = 'DOCKER_COMMAND_FAILED';
  constructor(
    readonly args: string[],
    readonly exitCode: number | null,
    readonly signal: NodeJS.Signals | null,
    readonly stderr: string,
    readonly stdout: Buffer,
  ) {
    super(
      `docker ${args.join(' ')} failed (${signal ? `signal ${signal}` : `exit ${exitCode}`}): ${stderr.trim() || stdout.toString('utf8', 0, 2000).trim()}`,
    );
    this.name = 'DockerCommandError';
  }
}

export class DockerdStartError extends Error {
  readonly code = 'DOCKERD_START_FAILED';
  constructor(message: string) {
    super(message);
    this.name = 'DockerdStartError';
  }
}

// ---------------------------------------------------------------------------------------------
// Process and mount helpers (synchronous: they are also used from the 'exit' hook)

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
  // A zombie still answers kill(0); treat it as dead.
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/** Whether `pid` is alive and still the dockerd of `tmpDir` (guards against pid reuse). */
function isOurDaemon(pid: number, tmpDir: string): boolean {
  if (!isAlive(pid)) return false;
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(tmpDir + '/');
  } catch {
    return false;
  }
}

/** Start time of a process in clock ticks since boot (field 22 of /proc/<pid>/stat), or null: guards against pid reuse. */
export function procStartTime(pid: number): string | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null;
  } catch {
    return null;
  }
}

interface ProcInfo {
  pid: number;
  ppid: number;
  cmdline: string;
}

function listProcs(): ProcInfo[] {
  const out: ProcInfo[] = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const pid = Number(name);
    try {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      const cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
      out.push({ pid, ppid, cmdline });
    } catch {
      /* gone */
    }
  }
  return out;
}

/**
 * Processes (other than this one) whose command line names one of `dirs`, plus all their
 * descendants. For a daemon, `dirs` is its private temp dir: that catches dockerd itself
 * (`--exec-root <tmp>/exec`), its containerd (`--config <tmp>/exec/containerd/...`), the shims
 * (`-address <tmp>/exec/containerd/containerd.sock`, re-parented to init) and, as descendants,
 * the containers' processes. Never matches by program name, and never by the data root (a
 * strata process may well name that one).
 */
export function processesUsing(dirs: string[]): number[] {
  const procs = listProcs();
  const set = new Set<number>();
  for (const p of procs) {
    if (p.pid === process.pid) continue;
    if (dirs.some((d) => p.cmdline.includes(d + '/') || p.cmdline.includes(d + ' ') || p.cmdline.endsWith(d))) set.add(p.pid);
  }
  let grew = true;
  while (grew) {
    grew = false;
    for (const p of procs) {
      if (!set.has(p.pid) && set.has(p.ppid)) {
        set.add(p.pid);
        grew = true;
      }
    }
  }
  set.delete(process.pid);
  return [...set];
}

function killAll(pids: number[], signal: NodeJS.Signals): void {
  for (const pid of pids) {
    try {
      process.kill(pid, signal);
    } catch {
      /* already gone */
    }
  }
}

function unescapeMountPath(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

/** Mount points at or below any of `dirs`, in reverse mount order (children before parents). */
export function mountsUnder(dirs: string[]): string[] {
  const text = fs.readFileSync('/proc/self/mountinfo', 'utf8');
  const res: string[] = [];
  for (const line of text.split('\n')) {
    const f = line.split(' ');
    if (f.length < 5) continue;
    const mp = unescapeMountPath(f[4]!);
    if (dirs.some((d) => mp === d || mp.startsWith(d + '/'))) res.push(mp);
  }
  return res.reverse();
}

/** Unmounts everything at or below `dirs` (lazily as a last resort). Returns what could not be. */
export function unmountUnder(dirs: string[]): string[] {
  for (let round = 0; round < 8; round++) {
    const mps = mountsUnder(dirs);
    if (mps.length === 0) return [];
    for (const mp of mps) {
      const r = spawnSync('umount', [mp], { stdio: 'ignore' });
      if (r.status !== 0 && round >= 2) spawnSync('umount', ['-l', mp], { stdio: 'ignore' });
    }
  }
  return mountsUnder(dirs);
}

// ---------------------------------------------------------------------------------------------
// Registry of live daemons, for the exit hook and signal handlers

interface LiveDaemon {
  tmpDir: string;
  root: string;
  execRoot: string;
  pid: number;
  removeRoot: boolean;
}

const live = new Set<LiveDaemon>();
let hooksInstalled = false;

function cleanupSync(d: LiveDaemon, removeRoot: boolean, graceMs: number): string[] {
  const dirs = [d.tmpDir, d.execRoot, d.root];
  const own = [d.tmpDir, d.execRoot];
  if (isOurDaemon(d.pid, d.tmpDir)) {
    killAll([d.pid], 'SIGTERM');
    const until = Date.now() + graceMs;
    while (isOurDaemon(d.pid, d.tmpDir) && Date.now() < until) sleepSync(50);
  }
  for (let i = 0; i < 3; i++) {
    const pids = processesUsing(own);
    if (pids.length === 0) break;
    killAll(pids, 'SIGKILL');
    sleepSync(100);
  }
  const left = unmountUnder(dirs);
  try {
    fs.rmSync(d.tmpDir, { recursive: true, force: true });
    if (removeRoot) fs.rmSync(d.root, { recursive: true, force: true });
  } catch {
    /* best effort; reported through `left` if mounts remain */
  }
  return left;
}

function onExit(): void {
  for (const d of [...live]) {
    live.delete(d);
    cleanupSync(d, d.removeRoot, 10_000);
  }
}

function onSignal(sig: NodeJS.Signals): void {
  onExit();
  process.removeListener('SIGINT', onSignal);
  process.removeListener('SIGTERM', onSignal);
  process.removeListener('SIGHUP', onSignal);
  process.kill(process.pid, sig);
}

function installHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  process.on('exit', onExit);
  // Only add signal handlers if nobody else handles these signals (then they re-raise).
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    if (process.listenerCount(sig) === 0) process.on(sig, onSignal);
  }
}

/**
 * Reaps harness temp dirs whose owning process is gone (a test run that was SIGKILLed): kills
 * what still runs for them, unmounts, removes. A fresh temp data root inside is removed too.
 */
export function reapStaleDaemons(): void {
  let names: string[];
  try {
    names = fs.readdirSync(os.tmpdir());
  } catch {
    return;
  }
  for (const name of names) {
    if (!name.startsWith(TMP_PREFIX)) continue;
    const dir = path.join(os.tmpdir(), name);
    let owner: { ownerPid: number; ownerStart: string | null; dockerdPid: number; root: string; execRoot: string; removeRoot: boolean };
    try {
      owner = JSON.parse(fs.readFileSync(path.join(dir, 'owner.json'), 'utf8'));
    } catch {
      // No owner file: either being created right now or garbage. Only reap if old.
      try {
        if (Date.now() - fs.statSync(dir).mtimeMs < 10 * 60_000) continue;
      } catch {
        continue;
      }
      if (mountsUnder([dir]).length === 0) fs.rmSync(dir, { recursive: true, force: true });
      continue;
    }
    if (isAlive(owner.ownerPid) && procStartTime(owner.ownerPid) === owner.ownerStart) continue;
    cleanupSync(
      { tmpDir: dir, root: owner.root, execRoot: owner.execRoot, pid: owner.dockerdPid, removeRoot: owner.removeRoot },
      owner.removeRoot,
      10_000,
    );
  }
}

// ---------------------------------------------------------------------------------------------

function ping(socket: string, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.get({ socketPath: socket, path: '/_ping', timeout: timeoutMs }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('error', () => resolve(false));
    req.on('timeout', () => {
      req.destroy();
      resolve(false);
    });
  });
}

function tail(file: string, lines: number): string {
  try {
    const text = fs.readFileSync(file, 'utf8');
    return text.split('\n').slice(-lines - 1).join('\n');
  } catch {
    return '(no log)';
  }
}

/** Runs a client command with the given environment. */
export function runDocker(env: Record<string, string>, args: string[], opts: DockerRunOptions = {}): Promise<DockerResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(DOCKER_CLIENT, args, {
      cwd: opts.cwd,
      env: { ...cleanEnv(), ...env, ...opts.env },
      stdio: ['pipe', 'pipe', 'pipe'],
      timeout: opts.timeoutMs,
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', reject);
    child.stdin.on('error', () => {
      /* EPIPE if docker exits before reading all input; the exit status tells */
    });
    child.on('close', (code, signal) => {
      const stdout = Buffer.concat(out);
      const stderr = Buffer.concat(err).toString('utf8');
      if (code === 0) resolve({ stdout, stderr });
      else reject(new DockerCommandError(args, code, signal, stderr, stdout));
    });
    if (opts.input !== undefined) child.stdin.end(opts.input);
    else child.stdin.end();
  });
}

/** The environment minus anything that could point the client at another daemon or config. */
function cleanEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const k of Object.keys(env)) {
    if (/^DOCKER_/.test(k)) delete env[k];
  }
  return env;
}

/**
 * Starts a private dockerd and waits until `docker version` answers. Rejects with the log tail if
 * dockerd exits or does not answer in time (and leaves nothing behind in that case).
 */
export async function startDockerd(opts: StartDockerdOptions = {}): Promise<Dockerd> {
  for (const bin of [DOCKERD, DOCKER_CLIENT]) {
    if (!fs.existsSync(bin)) throw new DockerdStartError(`${bin} not found: apt-get install docker.io`);
  }
  if (process.getuid?.() !== 0) throw new DockerdStartError('startDockerd needs root');
  reapStaleDaemons();
  installHooks();

  const tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), TMP_PREFIX));
  const root = opts.dataRoot ? path.resolve(opts.dataRoot) : path.join(tmpDir, 'root');
  const removeRoot = !opts.dataRoot;
  const execRoot = path.join(tmpDir, 'exec');
  const socket = path.join(tmpDir, 'docker.sock');
  const pidfile = path.join(tmpDir, 'docker.pid');
  const logFile = path.join(tmpDir, 'dockerd.log');
  const configFile = path.join(tmpDir, 'daemon.json');
  const clientConfig = path.join(tmpDir, 'client');
  fs.mkdirSync(root, { recursive: true });
  fs.mkdirSync(clientConfig);
  // An empty daemon.json so that a host /etc/docker/daemon.json cannot change anything.
  fs.writeFileSync(configFile, '{}\n');
  fs.writeFileSync(path.join(clientConfig, 'config.json'), '{}\n');

  const args = [
    '--config-file', configFile,
    '--data-root', root,
    '--exec-root', execRoot,
    '--pidfile', pidfile,
    '-H', `unix://${socket}`,
    '--storage-driver', opts.storageDriver ?? 'overlay2',
    '--bridge=none',
    '--iptables=false',
    '--ip6tables=false',
    '--ip-forward=false',
    '--ip-masq=false',
    '--userland-proxy=false',
    '--log-level', opts.logLevel ?? 'info',
    ...(opts.extraArgs ?? []),
  ];
  const logFd = fs.openSync(logFile, 'a');
  // setpriv (util-linux) execs dockerd with PR_SET_PDEATHSIG=SIGTERM: if this process dies without
  // running its hooks, dockerd still shuts down cleanly.
  const useSetpriv = fs.existsSync('/usr/bin/setpriv');
  const child = spawn(useSetpriv ? '/usr/bin/setpriv' : DOCKERD, useSetpriv ? ['--pdeathsig', 'TERM', '--', DOCKERD, ...args] : args, {
    stdio: ['ignore', logFd, logFd],
    detached: true,
    env: { ...cleanEnv(), PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin' },
  });
  fs.closeSync(logFd);
  const pid = child.pid;
  if (pid === undefined) {
    fs.rmSync(tmpDir, { recursive: true, force: true });
    throw new DockerdStartError(`could not spawn ${DOCKERD}`);
  }
  child.unref();
  let exited: string | null = null;
  child.on('exit', (code, signal) => {
    exited = signal ? `signal ${signal}` : `exit code ${code}`;
  });
  child.on('error', (e) => {
    exited = String(e);
  });

  const rec: LiveDaemon = { tmpDir, root, execRoot, pid, removeRoot };
  live.add(rec);
  fs.writeFileSync(
    path.join(tmpDir, 'owner.json'),
    JSON.stringify({ ownerPid: process.pid, ownerStart: procStartTime(process.pid), dockerdPid: pid, root, execRoot, removeRoot }),
  );

  const env: Record<string, string> = {
    DOCKER_HOST: `unix://${socket}`,
    DOCKER_BUILDKIT: '0',
    DOCKER_CONFIG: clientConfig,
    DOCKER_CLI_HINTS: 'false',
  };

  const fail = async (why: string): Promise<never> => {
    const log = tail(logFile, 30);
    live.delete(rec);
    cleanupSync(rec, removeRoot, 10_000);
    throw new DockerdStartError(`dockerd ${why}\n--- ${logFile} (tail) ---\n${log}`);
  };

  const timeout = opts.startTimeoutMs ?? 60_000;
  const deadline = Date.now() + timeout;
  let version: DockerVersion | undefined;
  for (;;) {
    if (exited) return fail(`exited during start-up (${exited})`);
    if (Date.now() > deadline) return fail(`did not answer within ${timeout} ms`);
    if (await ping(socket)) {
      try {
        const r = await runDocker(env, ['version', '--format', '{{json .}}'], { timeoutMs: 20_000 });
        version = JSON.parse(r.stdout.toString('utf8')) as DockerVersion;
        break;
      } catch (e) {
        if (Date.now() > deadline) return fail(`answered /_ping but not docker version: ${(e as Error).message}`);
      }
    }
    await sleep(100);
  }

  let stopped: Promise<void> | undefined;
  const d: Dockerd = {
    root,
    execRoot,
    socket,
    host: `unix://${socket}`,
    tmpDir,
    logFile,
    pid,
    version,
    env,
    docker: (a, o) => runDocker(env, a, o),
    logTail: (lines = 40) => tail(logFile, lines),
    stop: (so: StopOptions = {}) => {
      stopped ??= (async () => {
        const dirs = [tmpDir, execRoot, root];
        const own = [tmpDir, execRoot];
        if (isOurDaemon(pid, tmpDir)) {
          killAll([pid], 'SIGTERM');
          const until = Date.now() + (so.timeoutMs ?? 30_000);
          while (isOurDaemon(pid, tmpDir) && Date.now() < until) await sleep(50);
          if (isOurDaemon(pid, tmpDir)) killAll([pid], 'SIGKILL');
        }
        for (let i = 0; i < 5; i++) {
          const pids = processesUsing(own);
          if (pids.length === 0) break;
          killAll(pids, i === 0 ? 'SIGTERM' : 'SIGKILL');
          await sleep(i === 0 ? 500 : 100);
        }
        const left = unmountUnder(dirs);
        live.delete(rec);
        if (left.length) throw new Error(`dockerd stop: still mounted: ${left.join(', ')}`);
        if (so.saveLogTo) await fsp.copyFile(logFile, so.saveLogTo).catch(() => undefined);
        await fsp.rm(tmpDir, { recursive: true, force: true });
        if (so.remove ?? removeRoot) await fsp.rm(root, { recursive: true, force: true });
      })();
      return stopped;
    },
  };
  return d;
}
