/**
 * A reverse proxy in front of a test registry that breaks chosen requests on purpose, and keeps a
 * log of every request so tests can say what the client did ("retried twice", "resumed with
 * `Range: bytes=N-`", "waited for Retry-After").
 *
 *   const reg = await startRegistry();
 *   const proxy = await startFaultProxy(reg);                   // http://127.0.0.1:PORT → reg
 *   proxy.addRule({ path: /\/blobs\/sha256:/, times: 1, fault: { kind: 'cut', afterBytes: 4096 } });
 *   proxy.addRule({ path: /\/manifests\//, times: 2, fault: { kind: 'status', status: 429, retryAfter: 1 } });
 *   // … strata pull 127.0.0.1:PORT/app:1 …
 *   proxy.requests.filter((r) => r.path.includes('/blobs/'))   // method, range, status, fault, bytes, times
 *   await proxy.close();
 *
 * Faults (each rule: optional method and path test, a number of `times`, then it is spent; the
 * first unspent matching rule wins):
 * - `status`: answer 401/404/429/500/… with distribution's JSON error body (401 adds the
 *   registry's `WWW-Authenticate`, 429 an optional `Retry-After`); the registry is not asked.
 * - `cut`: forward the registry's answer, but after `afterBytes` body bytes close the connection
 *   (`how: 'close'`, the default: a FIN once those bytes are sent, so the client gets exactly them
 *   and then an early end) or reset it (`how: 'reset'`: an RST, which also throws away whatever
 *   the client's kernel had not yet handed to it — how many bytes arrive is then up to timing).
 * - `corrupt`: forward the answer with one body byte flipped (same length, so only a digest check
 *   can tell).
 * - `stall`: forward `afterBytes` body bytes, then stop (the registry is left blocked in its
 *   write) until `resume()`; `waitForStall()` resolves when it happens. A test kills the registry
 *   while a blob is stalled, resumes, and the client sees the registry's connection end mid-body.
 *
 * Everything else is forwarded as is, keeping the client's `Host` (and telling the registry the
 * client's scheme in `X-Forwarded-Proto`), so the `Location` URLs the registry hands out point
 * back at the proxy. When the registry cannot be reached the client's connection is reset, as if
 * the registry's port were closed; when the registry's connection ends mid-answer, the client's
 * is closed after the bytes that came.
 */
import http from 'node:http';
import https from 'node:https';
import fs from 'node:fs';
import type net from 'node:net';
import type { Registry } from './registry.js';

export type Fault =
  | { kind: 'status'; status: number; retryAfter?: number | string; body?: unknown; headers?: Record<string, string> }
  | { kind: 'cut'; afterBytes: number; how?: 'close' | 'reset' }
  | { kind: 'corrupt'; atByte?: number }
  | { kind: 'stall'; afterBytes: number };

export interface FaultRule {
  /** `GET`, `HEAD`, …; any when absent. */
  method?: string;
  /** Tested against the path with its query; a string matches as a substring. */
  path?: RegExp | string;
  /** How many matching requests the rule breaks; default: all of them. */
  times?: number;
  fault: Fault;
}

export interface ActiveRule extends FaultRule {
  /** Requests this rule has broken so far. */
  hits: number;
}

export interface RequestRecord {
  seq: number;
  method: string;
  /** Path and query, as the client sent it. */
  path: string;
  /** The request's `Range` header, if any. */
  range?: string;
  /** Whether the request carried an `Authorization` header (and which scheme). */
  authorization?: string;
  /** Status sent to the client; 0 when the connection was reset before any. */
  status: number;
  /** Which fault was applied, if any. */
  fault?: Fault['kind'];
  /** Body bytes sent to the client. */
  bytes: number;
  /** The response's `Content-Length`, when known. */
  contentLength?: number;
  /** Whether the whole response reached the client. */
  complete: boolean;
  /** ms since the proxy started: request received, response finished (or broken). */
  start: number;
  end?: number;
}

export interface FaultProxy {
  readonly host: string;
  readonly url: string;
  readonly port: number;
  /** Every request so far, in arrival order. */
  readonly requests: RequestRecord[];
  addRule(rule: FaultRule): ActiveRule;
  clearRules(): void;
  /** Drops every rule and empties the request log (between tests). */
  reset(): void;
  /** Requests whose method matches and whose path matches `path` (substring or RegExp). */
  matching(method: string | undefined, path: RegExp | string): RequestRecord[];
  /** Resolves with the request when a `stall` fault stops a response (one already stalled: at once). */
  waitForStall(): Promise<RequestRecord>;
  /** Lets stalled responses go on. */
  resume(): void;
  close(): Promise<void>;
}

export interface FaultProxyOptions {
  /** Serve HTTPS with the registry's certificate (needs a TLS registry). Default: as the registry. */
  tls?: boolean;
}

/** distribution's error body for a status, from the kind of path (manifest, blob, other). */
function errorBody(status: number, path: string): unknown {
  const err = (code: string, message: string) => ({ errors: [{ code, message, detail: null }] });
  switch (status) {
    case 401:
      return err('UNAUTHORIZED', 'authentication required');
    case 403:
      return err('DENIED', 'requested access to the resource is denied');
    case 404:
      if (/\/manifests\//.test(path)) return err('MANIFEST_UNKNOWN', 'manifest unknown');
      if (/\/blobs\//.test(path)) return err('BLOB_UNKNOWN', 'blob unknown to registry');
      return err('NAME_UNKNOWN', 'repository name not known to registry');
    case 429:
      return err('TOOMANYREQUESTS', 'too many requests');
    default:
      return err('UNKNOWN', 'unknown error');
  }
}

function matches(rule: FaultRule, method: string, path: string): boolean {
  if (rule.method && rule.method.toUpperCase() !== method) return false;
  if (rule.path === undefined) return true;
  return typeof rule.path === 'string' ? path.includes(rule.path) : rule.path.test(path);
}

/** Resets a connection (RST on TCP); TLS sockets are just destroyed. */
function resetSocket(socket: net.Socket | null | undefined): void {
  if (!socket || socket.destroyed) return;
  try {
    socket.resetAndDestroy();
  } catch {
    socket.destroy();
  }
}

/** Starts the proxy on a loopback port in front of `upstream`. */
export async function startFaultProxy(upstream: Registry, opts: FaultProxyOptions = {}): Promise<FaultProxy> {
  const tls = opts.tls ?? upstream.tls;
  if (tls && !upstream.certFile) throw new Error('a TLS fault proxy needs a TLS registry (its certificate)');
  const ca = upstream.certFile ? fs.readFileSync(upstream.certFile) : undefined;
  const upstreamAgent = upstream.tls ? new https.Agent({ keepAlive: true, ca }) : new http.Agent({ keepAlive: true });
  const t0 = Date.now();
  const now = () => Date.now() - t0;
  const rules: ActiveRule[] = [];
  const requests: RequestRecord[] = [];
  const stalled: (() => void)[] = [];
  let stallWaiters: ((r: RequestRecord) => void)[] = [];
  let lastStalled: RequestRecord | undefined;
  const sockets = new Set<net.Socket>();
  let nextSeq = 0;

  const onStall = (rec: RequestRecord, go: () => void) => {
    stalled.push(go);
    lastStalled = rec;
    const ws = stallWaiters;
    stallWaiters = [];
    for (const w of ws) w(rec);
  };

  const handler = (req: http.IncomingMessage, res: http.ServerResponse) => {
    const method = req.method ?? 'GET';
    const path = req.url ?? '/';
    const rec: RequestRecord = { seq: nextSeq++, method, path, status: 0, bytes: 0, complete: false, start: now() };
    if (typeof req.headers.range === 'string') rec.range = req.headers.range;
    if (typeof req.headers.authorization === 'string') rec.authorization = req.headers.authorization.split(' ')[0] ?? '';
    requests.push(rec);
    const finish = (complete: boolean) => {
      if (rec.end !== undefined) return;
      rec.complete = complete;
      rec.end = now();
    };
    const breakClient = () => {
      finish(false);
      resetSocket(req.socket);
    };

    const rule = rules.find((r) => r.hits < (r.times ?? Infinity) && matches(r, method, path));
    if (rule) {
      rule.hits++;
      rec.fault = rule.fault.kind;
    }
    const fault = rule?.fault;

    if (fault?.kind === 'status') {
      req.resume();
      const body = method === 'HEAD' ? Buffer.alloc(0) : Buffer.from(JSON.stringify(fault.body ?? errorBody(fault.status, path)) + '\n');
      const headers: Record<string, string | number> = { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': body.length, 'Docker-Distribution-Api-Version': 'registry/2.0' };
      if (fault.status === 401) headers['WWW-Authenticate'] = 'Basic realm="strata-test"';
      if (fault.retryAfter !== undefined) headers['Retry-After'] = String(fault.retryAfter);
      Object.assign(headers, fault.headers ?? {});
      rec.status = fault.status;
      if (method === 'HEAD') headers['Content-Length'] = 0;
      res.writeHead(fault.status, headers);
      rec.bytes = body.length;
      res.end(body, () => finish(true));
      return;
    }

    const headers = { ...req.headers, 'x-forwarded-proto': tls ? 'https' : 'http' };
    const up = (upstream.tls ? https : http).request(
      `${upstream.url}${path}`,
      { method, headers, agent: upstreamAgent },
      (upRes) => {
        rec.status = upRes.statusCode ?? 0;
        const len = upRes.headers['content-length'];
        if (len !== undefined) rec.contentLength = Number(len);
        res.writeHead(upRes.statusCode ?? 502, upRes.statusMessage, upRes.rawHeaders);
        const flipAt = fault?.kind === 'corrupt' ? (fault.atByte ?? Math.floor((rec.contentLength ?? 2) / 2)) : -1;
        const limit = fault?.kind === 'cut' || fault?.kind === 'stall' ? fault.afterBytes : Infinity;
        let stalledHere = false;
        let cutting = false;
        upRes.on('data', (chunk: Buffer) => {
          if (rec.end !== undefined) return;
          if (flipAt >= rec.bytes && flipAt < rec.bytes + chunk.length) {
            chunk = Buffer.from(chunk);
            chunk[flipAt - rec.bytes] ^= 0xff;
          }
          if (!stalledHere && rec.bytes + chunk.length >= limit) {
            const head = chunk.subarray(0, limit - rec.bytes);
            const rest = chunk.subarray(limit - rec.bytes);
            rec.bytes += head.length;
            if (fault?.kind === 'cut') {
              // Break only once the head has left, so the client really has `afterBytes` bytes.
              cutting = true;
              const how = fault.how ?? 'close';
              res.write(head, () => {
                if (how === 'reset') return breakClient();
                finish(false);
                req.socket.end();
              });
              upRes.destroy();
              return;
            }
            stalledHere = true;
            res.write(head);
            upRes.pause();
            onStall(rec, () => {
              if (rec.end !== undefined) return;
              if (rest.length) {
                rec.bytes += rest.length;
                res.write(rest);
              }
              upRes.resume();
            });
            return;
          }
          rec.bytes += chunk.length;
          if (!res.write(chunk)) {
            upRes.pause();
            res.once('drain', () => upRes.resume());
          }
        });
        upRes.on('end', () => {
          if (rec.end !== undefined) return;
          res.end(() => finish(true));
        });
        // The registry's connection ended mid-body (killed): the client's ends the same way, with
        // a FIN after the bytes that came (as the kernel closes a killed process's sockets).
        const upstreamBroke = () => {
          if (cutting || upRes.complete || rec.end !== undefined) return;
          finish(false);
          req.socket.end();
        };
        upRes.on('close', upstreamBroke);
        upRes.on('error', upstreamBroke);
      },
    );
    up.on('error', breakClient);
    req.on('aborted', () => {
      finish(false);
      up.destroy();
    });
    res.on('close', () => {
      if (!res.writableFinished) {
        finish(false);
        up.destroy();
      }
    });
    req.pipe(up);
  };

  const server = tls
    ? https.createServer({ cert: fs.readFileSync(upstream.certFile!), key: fs.readFileSync(upstream.keyFile!) }, handler)
    : http.createServer(handler);
  server.on('connection', (s: net.Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  server.on('secureConnection', (s: net.Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as net.AddressInfo).port;
  const host = `127.0.0.1:${port}`;

  return {
    host,
    url: `${tls ? 'https' : 'http'}://${host}`,
    port,
    requests,
    addRule(rule) {
      const active: ActiveRule = { ...rule, hits: 0 };
      rules.push(active);
      return active;
    },
    clearRules() {
      rules.length = 0;
    },
    reset() {
      rules.length = 0;
      requests.length = 0;
    },
    matching(method, path) {
      return requests.filter((r) => (!method || r.method === method) && (typeof path === 'string' ? r.path.includes(path) : path.test(r.path)));
    },
    waitForStall() {
      if (lastStalled && stalled.length) return Promise.resolve(lastStalled);
      return new Promise((resolve) => stallWaiters.push(resolve));
    },
    resume() {
      lastStalled = undefined;
      for (const go of stalled.splice(0)) go();
    },
    close: async () => {
      for (const go of stalled.splice(0)) go();
      for (const s of sockets) s.destroy();
      upstreamAgent.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
