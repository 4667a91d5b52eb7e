/**
 * Is a dockerd running on this data root? strata's lock (lock.ts) keeps strata processes apart,
 * but dockerd does not know it: a writable open under a live dockerd would change files dockerd
 * holds in memory (its layer counts, its image list) and corrupt both views. So a writable open
 * checks first and refuses (`STORE_OWNED_BY_DOCKERD`) unless told to ignore it; reading is allowed.
 *
 * Two signs, either enough:
 * - dockerd keeps its network store, `<root>/network/files/local-kv.db`, open as a bolt database,
 *   which holds an exclusive flock for as long as the daemon runs: if a shared flock on it fails,
 *   someone holds it — this works even for a dockerd in another PID namespace.
 * - a process named `dockerd` whose `--data-root` (or `-g`/`--graph`, else `data-root` in its
 *   daemon.json, else /var/lib/docker) is this root: gives the PID for the message.
 */
import fs from 'node:fs';
import path from 'node:path';
import { LOCK_SH, tryFlock, flock, LOCK_UN } from '../sys/index.js';

export interface DockerdOwner {
  /** The dockerd's PID, when it is visible in /proc. */
  pid?: number;
}

/** The bolt file dockerd's libnetwork keeps locked while the daemon runs. */
const NETWORK_DB = path.join('network', 'files', 'local-kv.db');

function boltLocked(root: string): boolean {
  let fd: number;
  try {
    fd = fs.openSync(path.join(root, NETWORK_DB), 'r');
  } catch {
    return false;
  }
  try {
    if (!tryFlock(fd, LOCK_SH)) return true;
    flock(fd, LOCK_UN);
    return false;
  } finally {
    fs.closeSync(fd);
  }
}

/** The data root a dockerd command line uses. */
function dataRootOf(args: string[]): string {
  let configFile = '/etc/docker/daemon.json';
  for (let i = 1; i < args.length; i++) {
    const a = args[i]!;
    const m = /^--?(data-root|graph|g|config-file)(?:=(.*))?$/.exec(a);
    if (!m) continue;
    const value = m[2] ?? args[++i] ?? '';
    if (m[1] === 'config-file') configFile = value;
    else return value;
  }
  try {
    const conf = JSON.parse(fs.readFileSync(configFile, 'utf8')) as { 'data-root'?: unknown; graph?: unknown };
    const v = conf['data-root'] ?? conf.graph;
    if (typeof v === 'string' && v !== '') return v;
  } catch {
    /* no daemon.json: the default */
  }
  return '/var/lib/docker';
}

function same(a: string, b: string): boolean {
  try {
    return fs.realpathSync(a) === fs.realpathSync(b);
  } catch {
    return path.resolve(a) === path.resolve(b);
  }
}

function dockerdPid(root: string): number | undefined {
  let pids: string[];
  try {
    pids = fs.readdirSync('/proc').filter((n) => /^\d+$/.test(n));
  } catch {
    return undefined;
  }
  for (const pid of pids) {
    try {
      if (fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim() !== 'dockerd') continue;
      const args = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
      const dataRoot = dataRootOf(args);
      const cwd = fs.readlinkSync(`/proc/${pid}/cwd`);
      if (same(path.resolve(cwd, dataRoot), root)) return Number(pid);
    } catch {
      /* gone, or not ours to read */
    }
  }
  return undefined;
}

/** A running dockerd that owns `root`, or undefined. */
export function dockerdOwning(root: string): DockerdOwner | undefined {
  const pid = dockerdPid(root);
  if (pid !== undefined) return { pid };
  return boltLocked(root) ? {} : undefined;
}
