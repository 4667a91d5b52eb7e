/**
 * The `strata-overlay` command: strata's OverlayFS mounted through FUSE, with fuse-overlayfs's
 * command line, so that `mount -t fuse.strata-overlay` (through mount.fuse3), containers/storage's
 * `mount_program` and strata's fuse-overlay driver can all start it.
 *
 *   strata-overlay [SOURCE] MOUNTPOINT -o lowerdir=A:B,upperdir=U,workdir=W[,timeout=S] [-f]
 *
 * Without -f the command starts a detached daemon (its own session, stdio on /dev/null) that
 * mounts and serves, and exits 0 only once the mount is live — or prints one line and exits 1 if
 * the daemon could not mount. The daemon reports through a pipe on its fd 3. `umount MOUNTPOINT`
 * (or `fusermount3 -u`, or SIGTERM to the daemon) ends the mount; the daemon then closes the
 * engine and exits.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { packageVersion } from '../../cli/version.js';
import { DEFAULT_BUSY_POLL_US } from './busy-poll.js';
import { FuseError } from './errors.js';
import { DEFAULT_TIMEOUT, parseMountOptions, type StrataOverlayMountOptions } from './mount-options.js';
import { serveInWorker, type FuseServer } from './worker.js';

const NAME = 'strata-overlay';
/** The environment variable that tells a process it is the daemon, and which fd reports to the parent. */
const STATUS_FD_ENV = 'STRATA_OVERLAY_STATUS_FD';
/** How long the parent waits for the daemon's mount before giving up. */
const READY_TIMEOUT_MS = 60_000;

const USAGE = `usage: ${NAME} [SOURCE] MOUNTPOINT -o lowerdir=DIR[:DIR...][,upperdir=DIR,workdir=DIR][,OPTION...]

Mounts strata's OverlayFS (the Linux overlay's rules, in TypeScript) through FUSE.

  -o OPTIONS    comma-separated, may repeat:
                  lowerdir=A:B          lower layers, top first ("\\:" escapes a colon)
                  upperdir=DIR          the writable layer (without it the mount is read-only)
                  workdir=DIR           scratch dir on the same filesystem as upperdir
                  timeout=SECONDS       how long the kernel caches names and attributes (default ${DEFAULT_TIMEOUT})
                  redirect_dir=MODE     on, follow (default), nofollow or off
                  fsync=MODE            auto (default), strict or volatile: what reaches the disk when
                  volatile              fsync=volatile: sync nothing; marks the work dir until removed
                  passthrough=on|off    let the kernel do a copied-up file's reads and writes (default on, Linux >= 6.9)
                  busy_poll=USEC        poll up to this long for the next request before sleeping (default ${DEFAULT_BUSY_POLL_US}, 0: never)
                  fsname=NAME           the source shown in the mount table
                  ro, noexec, noatime, suid, dev, ...   generic mount options
  -f            stay in the foreground (default: serve from a background daemon)
  -d, -o debug  foreground, logging every FUSE request to stderr
  -s            accepted for libfuse compatibility (strata serves one request at a time)
  -h, --help    print this help
  -V, --version print the version

Unmount with \`umount MOUNTPOINT\` or \`fusermount3 -u MOUNTPOINT\`; the server then exits.
`;

interface Invocation {
  source: string;
  mountpoint: string;
  options: StrataOverlayMountOptions;
  foreground: boolean;
  debug: boolean;
}

/** Reads argv; returns a number for --help/--version (the exit code), else the invocation. */
export function parseArgs(argv: readonly string[], cwd = process.cwd()): Invocation | number {
  const optionArgs: string[] = [];
  const positional: string[] = [];
  let foreground = false;
  let debug = false;
  for (let k = 0; k < argv.length; k++) {
    const a = argv[k]!;
    if (a === '--') {
      positional.push(...argv.slice(k + 1));
      break;
    }
    if (a === '-h' || a === '--help') {
      process.stdout.write(USAGE);
      return 0;
    }
    if (a === '-V' || a === '--version') {
      process.stdout.write(`${NAME} ${packageVersion()}\n`);
      return 0;
    }
    if (a === '-f') foreground = true;
    else if (a === '-d') foreground = debug = true;
    else if (a === '-s') continue; // libfuse's "single-threaded": strata always serves one request at a time
    else if (a === '-o') {
      const v = argv[++k];
      if (v === undefined) throw new FuseError('FUSE_USAGE', '-o needs an argument');
      optionArgs.push(v);
    } else if (a.startsWith('-o')) optionArgs.push(a.slice(2));
    else if (a.startsWith('-') && a !== '-') throw new FuseError('FUSE_USAGE', `unknown flag ${a} (see --help)`);
    else positional.push(a);
  }
  if (positional.length === 0) throw new FuseError('FUSE_USAGE', 'no mount point given (see --help)');
  if (positional.length > 2) throw new FuseError('FUSE_USAGE', `too many arguments: ${positional.join(' ')}`);
  const mountpoint = path.resolve(cwd, positional[positional.length - 1]!);
  const options = parseMountOptions(optionArgs, cwd);
  const source = options.fsname ?? (positional.length === 2 ? positional[0]! : NAME);
  if (options.debug) foreground = debug = true;
  return { source, mountpoint, options, foreground, debug };
}

function checkMountpoint(dir: string): void {
  let st: fs.Stats;
  try {
    st = fs.statSync(dir);
  } catch (e) {
    throw new FuseError('FUSE_MOUNT', `mount point ${dir}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such directory' : (e as Error).message}`);
  }
  if (!st.isDirectory()) throw new FuseError('FUSE_MOUNT', `mount point ${dir} is not a directory`);
}

/** The module that builds the overlay's FuseOps inside the server thread. */
function overlayOpsModule(): string {
  const ext = path.extname(fileURLToPath(import.meta.url));
  return new URL(`./overlay-ops${ext}`, import.meta.url).href;
}

/** Mounts and serves in this process (the daemon, or -f). Resolves with the live server. */
function serve(inv: Invocation): Promise<FuseServer> {
  const { options } = inv;
  return serveInWorker({
    mountpoint: inv.mountpoint,
    mount: { source: inv.source, subtype: NAME, flags: options.flags, suid: options.suid, dev: options.dev },
    ops: { module: overlayOpsModule(), export: 'createOverlayFuseOps', args: options.overlay },
    timeout: options.timeout,
    passthrough: options.passthrough,
    busyPollUs: options.busyPollUs,
    debug: inv.debug,
  });
}

/** Serves until unmounted; SIGTERM/SIGINT/SIGHUP unmount (lazily: open files keep working until closed). */
async function serveUntilUnmounted(server: FuseServer): Promise<void> {
  const stop = () => {
    server.unmount({ lazy: true }).catch(() => undefined);
  };
  for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.on(sig, stop);
  await server.stopped;
}

/** The daemon: mount, tell the parent through `statusFd`, serve. */
async function runDaemon(inv: Invocation, statusFd: number): Promise<number> {
  const report = (line: string) => {
    try {
      fs.writeSync(statusFd, `${line}\n`);
      fs.closeSync(statusFd);
    } catch {
      /* the parent is gone: nobody to tell */
    }
  };
  let server: FuseServer;
  try {
    server = await serve(inv);
  } catch (e) {
    report(`error ${(e as Error).message}`);
    return 1;
  }
  report('ready');
  process.chdir('/'); // do not keep the caller's working directory busy
  await serveUntilUnmounted(server);
  return 0;
}

/** The parent: start the daemon detached and wait for its one status line. */
async function startDaemon(argv: readonly string[]): Promise<number> {
  const script = process.argv[1];
  if (script === undefined) throw new FuseError('FUSE_SERVER', 'cannot tell which script to run as the daemon');
  const child = spawn(process.execPath, [...process.execArgv, script, ...argv], {
    detached: true,
    stdio: ['ignore', 'ignore', 'ignore', 'pipe'],
    env: { ...process.env, [STATUS_FD_ENV]: '3' },
  });
  const status = child.stdio[3]!;
  const line = await new Promise<string>((resolve) => {
    let text = '';
    const timer = setTimeout(() => resolve('error the daemon did not report a live mount within 60 s'), READY_TIMEOUT_MS);
    status.on('data', (chunk: Buffer) => (text += chunk.toString()));
    status.on('close', () => {
      clearTimeout(timer);
      resolve(text.trim());
    });
    child.on('error', (e) => resolve(`error cannot start the daemon: ${e.message}`));
  });
  status.destroy();
  if (line === 'ready') {
    child.unref();
    return 0;
  }
  if (child.exitCode === null) child.kill('SIGTERM');
  process.stderr.write(`${NAME}: ${line.startsWith('error ') ? line.slice(6) : line === '' ? 'the daemon exited before the mount was live' : line}\n`);
  return 1;
}

/** Runs strata-overlay with `argv` (without node and script); returns the exit code. */
export async function main(argv: readonly string[]): Promise<number> {
  let inv: Invocation | number;
  try {
    inv = parseArgs(argv);
    if (typeof inv === 'number') return inv;
    checkMountpoint(inv.mountpoint);
  } catch (e) {
    process.stderr.write(`${NAME}: ${(e as Error).message}\n`);
    return e instanceof FuseError && e.code === 'FUSE_USAGE' ? 2 : 1;
  }

  const statusFd = process.env[STATUS_FD_ENV];
  if (statusFd !== undefined) {
    delete process.env[STATUS_FD_ENV];
    return runDaemon(inv, Number(statusFd));
  }
  if (!inv.foreground) return startDaemon(argv);
  let server: FuseServer;
  try {
    server = await serve(inv);
  } catch (e) {
    process.stderr.write(`${NAME}: ${(e as Error).message}\n`);
    return 1;
  }
  await serveUntilUnmounted(server);
  return 0;
}

/** Run as a program (`node cli.js ...`, or through tsx), not when imported. */
function isMainModule(): boolean {
  const script = process.argv[1];
  if (script === undefined) return false;
  try {
    return pathToFileURL(fs.realpathSync(script)).href === import.meta.url;
  } catch {
    return false;
  }
}

if (isMainModule()) process.exitCode = await main(process.argv.slice(2));
