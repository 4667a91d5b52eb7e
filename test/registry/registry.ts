/**
 * A throw-away OCI registry for tests: Debian's `docker-registry` (CNCF distribution 2.8) on a
 * loopback port, in one of three modes.
 *
 *   const reg = await startRegistry();                          // plain HTTP, no auth
 *   const sec = await startRegistry({ auth: 'htpasswd', tls: true });
 *   // sec.host = '127.0.0.1:41234', sec.url = 'https://127.0.0.1:41234'
 *   // sec.username / sec.password: the one htpasswd (bcrypt) user
 *   // sec.caDir/<host>/ca.crt: the self-signed certificate, laid out as Docker's certs.d
 *   //   (STRATA_CERTS_D=caDir for strata; `skopeo --cert-dir <caDir>/<host>`)
 *   await reg.kill();  await reg.restart();                     // SIGKILL, then the same port and data
 *   await reg.stop();                                           // nothing left running; temp files gone
 *
 * The registry listens on `127.0.0.1:0` (or `address:0`) the first time and the port it logs
 * (`listening on 127.0.0.1:N`) is written into the config for restarts. Its config is a small
 * YAML file in a private temp dir: filesystem storage (the temp dir, or `dataDir` — kept after stop), deletes
 * enabled, no upload purging, a fixed `http.secret` (so upload sessions survive a restart), and,
 * by mode, `auth.htpasswd` and `http.tls` (a P-256 certificate made with openssl for the IP
 * 127.0.0.1, as subjectAltName). Ready means `/v2/` answers (200, or 401 with auth).
 *
 * Every registry runs under `setpriv --pdeathsig KILL`, and an 'exit' hook kills those still
 * running, so a failed or killed test leaves none behind; the temp dirs of a test process that
 * was killed (no exit hook) are removed by the next `startRegistry` (`owner.json` names the pid).
 */
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import crypto from 'node:crypto';
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { procStartTime } from '../oracle/dockerd.js';

export const REGISTRY_BIN = '/usr/bin/docker-registry';
/** Not a prefix of the tests' own temp dirs (`strata-registry-home-…`): those are never reaped here. */
const TMP_PREFIX = 'strata-registryd-';

export interface StartRegistryOptions {
  /** `htpasswd`: one user with a bcrypt password; every request needs basic auth. */
  auth?: 'htpasswd';
  /** Serve HTTPS with a self-signed certificate for 127.0.0.1. */
  tls?: boolean;
  /** Storage root to use (and keep after stop); default: fresh, inside the temp dir. */
  dataDir?: string;
  /**
   * The IPv4 address to listen on; default 127.0.0.1. Another of this machine's addresses makes a
   * registry that clients do not count as loopback (so they must verify its certificate); the
   * certificate names 127.0.0.1 and this address.
   */
  address?: string;
  /** How long to wait for `/v2/` to answer. Default 20 s. */
  startTimeoutMs?: number;
}

export interface Registry {
  /** `127.0.0.1:PORT` (or `<address>:PORT`), as in image references. */
  readonly host: string;
  /** `http://127.0.0.1:PORT` or `https://…`. */
  readonly url: string;
  readonly port: number;
  readonly tls: boolean;
  /** With `auth: 'htpasswd'`. */
  readonly username?: string;
  readonly password?: string;
  /** With `tls`: a certs.d-style directory, `<caDir>/<host>/ca.crt`. */
  readonly caDir?: string;
  /** With `tls`: the certificate (also the CA: it is self-signed) and its key, PEM files. */
  readonly certFile?: string;
  readonly keyFile?: string;
  /** The storage root. */
  readonly dataDir: string;
  /** The private temp dir (config, certificate, htpasswd file, log). */
  readonly tmpDir: string;
  /** The registry's process id (changes on restart). */
  readonly pid: number;
  /** Headers for a request as the registry's user (Authorization with htpasswd, else none). */
  authHeaders(): Record<string, string>;
  /** GET/HEAD/… against the registry, trusting its certificate. */
  request(method: string, urlPath: string, headers?: Record<string, string>): Promise<RegistryResponse>;
  /** The last lines of the registry's log. */
  logTail(lines?: number): string;
  /** SIGTERM, wait; the temp dir (and the data, unless `dataDir` was given) removed. Idempotent. */
  stop(): Promise<void>;
  /** SIGKILL, wait until it is gone (data and config stay, for `restart`). */
  kill(): Promise<void>;
  /** Starts it again (after `kill`, or kills it first) on the same port with the same data. */
  restart(): Promise<void>;
}

export interface RegistryResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

export class RegistryStartError extends Error {
  readonly code = 'REGISTRY_START_FAILED';
  constructor(message: string) {
    super(message);
    this.name = 'RegistryStartError';
  }
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------------------
// Live registries, killed by the exit hook

const live = new Map<string, () => number | undefined>();
let hookInstalled = false;

function installExitHook(): void {
  if (hookInstalled) return;
  hookInstalled = true;
  process.on('exit', () => {
    for (const [tmpDir, pidOf] of live) {
      const pid = pidOf();
      if (pid !== undefined) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          /* gone */
        }
      }
      fs.rmSync(tmpDir, { recursive: true, force: true });
    }
  });
}


/**
 * Removes temp dirs of registries whose test process is gone (killed before its exit hook ran);
 * their registries died with it (pdeathsig). A dir without an owner file is left for an hour,
 * in case it is being made right now.
 */
function reapStale(): void {
  for (const name of fs.readdirSync(os.tmpdir())) {
    if (!name.startsWith(TMP_PREFIX)) continue;
    const dir = path.join(os.tmpdir(), name);
    try {
      const owner = JSON.parse(fs.readFileSync(path.join(dir, 'owner.json'), 'utf8')) as { pid: number; start: string | null };
      if (procStartTime(owner.pid) === owner.start) continue;
    } catch {
      try {
        if (Date.now() - fs.statSync(dir).mtimeMs < 3_600_000) continue;
      } catch {
        continue;
      }
    }
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------
// Files: certificate, htpasswd, config

/** A self-signed P-256 certificate for the IP 127.0.0.1 (and `address`), valid two days. */
function makeCertificate(dir: string, address: string): { certFile: string; keyFile: string } {
  const certFile = path.join(dir, 'registry.crt');
  const keyFile = path.join(dir, 'registry.key');
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', keyFile, '-out', certFile, '-days', '2', '-subj', '/CN=127.0.0.1',
    '-addext', `subjectAltName=IP:127.0.0.1${address === '127.0.0.1' ? '' : `,IP:${address}`}`,
    '-addext', 'basicConstraints=critical,CA:TRUE',
  ], { stdio: ['ignore', 'ignore', 'pipe'] });
  return { certFile, keyFile };
}

/** YAML by hand: the config is small and fixed in shape. */
function configYaml(o: { dataDir: string; addr: string; secret: string; htpasswd?: string; tls?: { certFile: string; keyFile: string } }): string {
  const lines = [
    'version: 0.1',
    'log:',
    '  level: info',
    '  formatter: text',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${JSON.stringify(o.dataDir)}`,
    '  delete:',
    '    enabled: true',
    '  maintenance:',
    '    uploadpurging:',
    '      enabled: false',
    'http:',
    `  addr: ${o.addr}`,
    `  secret: ${o.secret}`,
  ];
  if (o.tls) lines.push('  tls:', `    certificate: ${JSON.stringify(o.tls.certFile)}`, `    key: ${JSON.stringify(o.tls.keyFile)}`);
  if (o.htpasswd) lines.push('auth:', '  htpasswd:', '    realm: strata-test', `    path: ${JSON.stringify(o.htpasswd)}`);
  return lines.join('\n') + '\n';
}

// ---------------------------------------------------------------------------------------------

function httpRequest(
  url: string,
  method: string,
  headers: Record<string, string>,
  ca: Buffer | undefined,
  timeoutMs = 10_000,
): Promise<RegistryResponse> {
  return new Promise((resolve, reject) => {
    const mod = url.startsWith('https:') ? https : http;
    const req = mod.request(url, { method, headers, timeout: timeoutMs, ...(ca ? { ca } : {}), agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (b: Buffer) => chunks.push(b));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${url}: timed out`)));
    req.on('error', reject);
    req.end();
  });
}

function tail(file: string, lines: number): string {
  try {
    return fs.readFileSync(file, 'utf8').split('\n').slice(-lines - 1).join('\n');
  } catch {
    return '(no log)';
  }
}

function alive(child: ChildProcess | undefined): boolean {
  return !!child && child.exitCode === null && child.signalCode === null;
}

/** Waits for the child to exit, up to `ms`; true if it did. */
function waitExit(child: ChildProcess, ms: number): Promise<boolean> {
  if (!alive(child)) return Promise.resolve(true);
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(false), ms);
    child.once('exit', () => {
      clearTimeout(t);
      resolve(true);
    });
  });
}

/**
 * Starts a registry and waits until `/v2/` answers. Rejects with the log tail if it exits or does
 * not answer in time (and leaves nothing running then).
 */
export async function startRegistry(opts: StartRegistryOptions = {}): Promise<Registry> {
  if (!fs.existsSync(REGISTRY_BIN)) throw new RegistryStartError(`${REGISTRY_BIN} not found: apt-get install docker-registry apache2-utils`);
  installExitHook();
  reapStale();
  const tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), TMP_PREFIX));
  fs.writeFileSync(path.join(tmpDir, 'owner.json'), JSON.stringify({ pid: process.pid, start: procStartTime(process.pid) }));
  const dataDir = opts.dataDir ? path.resolve(opts.dataDir) : path.join(tmpDir, 'data');
  fs.mkdirSync(dataDir, { recursive: true });
  const configFile = path.join(tmpDir, 'config.yml');
  const logFile = path.join(tmpDir, 'registry.log');
  const secret = crypto.randomBytes(16).toString('hex');
  const timeout = opts.startTimeoutMs ?? 20_000;

  let username: string | undefined;
  let password: string | undefined;
  let htpasswd: string | undefined;
  if (opts.auth === 'htpasswd') {
    username = 'strata';
    password = `pw-${crypto.randomBytes(6).toString('hex')}`;
    htpasswd = path.join(tmpDir, 'htpasswd');
    // -B: bcrypt, the only scheme distribution's htpasswd accepts.
    fs.writeFileSync(htpasswd, execFileSync('htpasswd', ['-Bbn', username, password]));
  }
  const address = opts.address ?? '127.0.0.1';
  const cert = opts.tls ? makeCertificate(tmpDir, address) : undefined;
  const ca = cert ? fs.readFileSync(cert.certFile) : undefined;

  let child: ChildProcess | undefined;
  live.set(tmpDir, () => (alive(child) ? child!.pid : undefined));

  const writeConfig = (addr: string) =>
    fs.writeFileSync(configFile, configYaml({ dataDir, addr, secret, ...(htpasswd ? { htpasswd } : {}), ...(cert ? { tls: cert } : {}) }));

  /** Spawns the registry; resolves with its port once `/v2/` answers. */
  const launch = async (port: number): Promise<number> => {
    writeConfig(`${address}:${port}`);
    const logStart = fs.existsSync(logFile) ? fs.statSync(logFile).size : 0;
    const logFd = fs.openSync(logFile, 'a');
    const useSetpriv = fs.existsSync('/usr/bin/setpriv');
    const argv = [REGISTRY_BIN, 'serve', configFile];
    child = spawn(useSetpriv ? '/usr/bin/setpriv' : argv[0]!, useSetpriv ? ['--pdeathsig', 'KILL', '--', ...argv] : argv.slice(1), {
      stdio: ['ignore', logFd, logFd],
      env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', OTEL_SDK_DISABLED: 'true' },
    });
    fs.closeSync(logFd);
    const me = child;
    me.on('error', () => undefined);
    const deadline = Date.now() + timeout;
    let actual = port;
    for (;;) {
      if (!alive(me)) throw new RegistryStartError(`docker-registry exited during start-up (${me.exitCode ?? me.signalCode})\n${tail(logFile, 20)}`);
      if (Date.now() > deadline) {
        me.kill('SIGKILL');
        throw new RegistryStartError(`docker-registry did not answer within ${timeout} ms\n${tail(logFile, 20)}`);
      }
      if (actual === 0) {
        const log = fs.readFileSync(logFile, 'utf8').slice(logStart);
        const m = new RegExp(`listening on ${address.replace(/\./g, '\\.')}:(\\d+)`).exec(log);
        if (m) actual = Number(m[1]);
      }
      if (actual !== 0) {
        try {
          const r = await httpRequest(`${cert ? 'https' : 'http'}://${address}:${actual}/v2/`, 'GET', {}, ca, 2000);
          if (r.status === 200 || (htpasswd && r.status === 401)) return actual;
        } catch {
          /* not yet */
        }
      }
      await sleep(50);
    }
  };

  let port: number;
  try {
    port = await launch(0);
  } catch (e) {
    live.delete(tmpDir);
    fs.rmSync(tmpDir, { recursive: true, force: true });
    throw e;
  }
  const host = `${address}:${port}`;
  const url = `${cert ? 'https' : 'http'}://${host}`;
  let caDir: string | undefined;
  if (cert) {
    caDir = path.join(tmpDir, 'certs.d');
    fs.mkdirSync(path.join(caDir, host), { recursive: true });
    fs.copyFileSync(cert.certFile, path.join(caDir, host, 'ca.crt'));
  }

  const kill = async (): Promise<void> => {
    if (!child || !alive(child)) return;
    child.kill('SIGKILL');
    await waitExit(child, 10_000);
  };

  let stopped: Promise<void> | undefined;
  const reg: Registry = {
    host,
    url,
    port,
    tls: !!cert,
    ...(username ? { username, password } : {}),
    ...(caDir ? { caDir, certFile: cert!.certFile, keyFile: cert!.keyFile } : {}),
    dataDir,
    tmpDir,
    get pid() {
      return child?.pid ?? -1;
    },
    authHeaders: (): Record<string, string> => (username ? { Authorization: `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}` } : {}),
    request: (method, urlPath, headers = {}) => httpRequest(url + urlPath, method, { ...reg.authHeaders(), ...headers }, ca),
    logTail: (lines = 30) => tail(logFile, lines),
    kill,
    restart: async () => {
      await kill();
      await launch(port);
    },
    stop: () => {
      stopped ??= (async () => {
        if (child && alive(child)) {
          child.kill('SIGTERM');
          if (!(await waitExit(child, 10_000))) await kill();
        }
        live.delete(tmpDir);
        await fsp.rm(tmpDir, { recursive: true, force: true });
      })();
      return stopped;
    },
  };
  return reg;
}
