/**
 * HTTP for the registry client: one request, one response, on `node:http`/`node:https` with
 * keep-alive agents — and the TLS choices a registry needs that global `fetch` cannot make
 * without a dependency (custom CAs, client certificates, an insecure registry's unverified
 * certificate):
 *
 *   const t = new Transport({ address: 'reg.example:5000', tls: readCertsDir('reg.example:5000'), verify: true });
 *   const res = await t.request({ method: 'GET', url: new URL('https://reg.example:5000/v2/'), headers: {} });
 *   res.status;                    // 200, 401, …
 *   await readBody(res, 1 << 20);  // or: for await (const chunk of bodyChunks(res)) …; or discard(res)
 *   t.close();
 *
 * Redirects are not followed here: the client follows them, because it must decide what
 * credentials go to the new host. A request to any host other than the registry's own goes
 * through a separate agent that verifies certificates against the system roots only.
 *
 * A connection that fails (refused, reset, TLS, no answer for 60 s) rejects with `NetworkError`;
 * an abort rejects with the signal's reason, and so does reading a body the signal aborted.
 */
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import path from 'node:path';
import tls from 'node:tls';
import type { Readable } from 'node:stream';
import { StrataError } from '../errors/index.js';
import { NetworkError } from './errors.js';

/** What `/etc/docker/certs.d/<host>` gives: extra CAs and an optional client certificate. */
export interface TlsFiles {
  ca: Buffer[];
  cert?: Buffer;
  key?: Buffer;
}

export interface HttpRequest {
  method: string;
  url: URL;
  headers: Record<string, string>;
  /** A whole body, or a stream of one (sent chunked unless `content-length` is set). */
  body?: Buffer | AsyncIterable<Uint8Array>;
  signal?: AbortSignal | undefined;
}

export interface HttpResponse {
  /** The request's method (a HEAD response has no body whatever its Content-Length says). */
  method: string;
  status: number;
  statusText: string;
  headers: http.IncomingHttpHeaders;
  body: Readable;
  url: URL;
}

/** No byte in either direction for this long: the connection is taken as dead. */
const IDLE_TIMEOUT_MS = 60_000;

/** The certs.d directory: `STRATA_CERTS_D`, else Docker's `/etc/docker/certs.d`. */
export function certsDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.STRATA_CERTS_D || '/etc/docker/certs.d';
}

/**
 * The TLS files for registry `address` (host[:port]) as dockerd reads them from
 * `<certs.d>/<address>/`: every `*.crt` is a CA; `<name>.cert` with `<name>.key` is a client
 * certificate. A missing directory gives none; an unreadable file is an error.
 */
export function readCertsDir(address: string, dir = certsDir()): TlsFiles {
  const hostDir = path.join(dir, address.replace(/[[\]]/g, ''));
  let names: string[];
  try {
    names = fs.readdirSync(hostDir).sort();
  } catch {
    return { ca: [] };
  }
  const read = (name: string) => {
    try {
      return fs.readFileSync(path.join(hostDir, name));
    } catch (e) {
      throw new StrataError('REGISTRY_TLS_FILES', `cannot read ${path.join(hostDir, name)}: ${(e as Error).message}`);
    }
  };
  const files: TlsFiles = { ca: names.filter((n) => n.endsWith('.crt')).map(read) };
  const cert = names.find((n) => n.endsWith('.cert'));
  if (cert) {
    const key = cert.replace(/\.cert$/, '.key');
    if (!names.includes(key)) throw new StrataError('REGISTRY_TLS_FILES', `missing key ${key} for certificate ${path.join(hostDir, cert)}`);
    files.cert = read(cert);
    files.key = read(key);
  }
  return files;
}

export interface TransportOptions {
  /** The registry's host[:port]: requests there use its TLS settings. */
  address: string;
  tls?: TlsFiles;
  /** Verify the registry's certificate (false only for insecure registries). */
  verify: boolean;
  /** Parallel connections per host (layer transfers run several at once). */
  maxSockets?: number;
}

export class Transport {
  readonly #address: string;
  readonly #httpAgent: http.Agent;
  readonly #registryTls: https.Agent;
  readonly #otherTls: https.Agent;

  constructor(opts: TransportOptions) {
    this.#address = opts.address;
    const common = { keepAlive: true, maxSockets: opts.maxSockets ?? 8 };
    this.#httpAgent = new http.Agent(common);
    const files = opts.tls ?? { ca: [] };
    // Extra CAs add to the system's roots, as Go's SystemCertPool + AppendCertsFromPEM.
    const ca = files.ca.length > 0 ? [...tls.rootCertificates, ...files.ca.map((c) => c.toString('utf8'))] : undefined;
    this.#registryTls = new https.Agent({
      ...common,
      rejectUnauthorized: opts.verify,
      ...(ca ? { ca } : {}),
      ...(files.cert && files.key ? { cert: files.cert, key: files.key } : {}),
    });
    this.#otherTls = new https.Agent(common);
  }

  /** Sends `req` and resolves with the response head; the body is the caller's to read or discard. */
  request(req: HttpRequest): Promise<HttpResponse> {
    const { url, signal } = req;
    signal?.throwIfAborted();
    const secure = url.protocol === 'https:';
    const agent = secure ? (url.host === this.#address ? this.#registryTls : this.#otherTls) : this.#httpAgent;
    return new Promise<HttpResponse>((resolve, reject) => {
      let settled = false;
      const fail = (e: unknown) => {
        if (settled) return;
        settled = true;
        reject(signal?.aborted ? signal.reason : e instanceof StrataError ? e : networkError(url, e));
      };
      const r = (secure ? https : http).request(url, { method: req.method, headers: req.headers, agent });
      const onAbort = () => r.destroy(signal!.reason as Error);
      signal?.addEventListener('abort', onAbort, { once: true });
      r.setTimeout(IDLE_TIMEOUT_MS, () => r.destroy(new NetworkError(`${req.method} ${url.href}: no response for ${IDLE_TIMEOUT_MS / 1000} s`)));
      r.on('error', fail);
      r.on('close', () => signal?.removeEventListener('abort', onAbort));
      r.on('response', (res) => {
        if (settled) {
          res.destroy();
          return;
        }
        settled = true;
        // Errors while the body is read (reset, timeout, abort) surface on the body stream.
        res.on('error', () => undefined);
        resolve({ method: req.method, status: res.statusCode ?? 0, statusText: res.statusMessage ?? '', headers: res.headers, body: res, url });
      });
      sendBody(r, req.body).catch((e: unknown) => r.destroy(e as Error));
    });
  }

  /** Drops idle connections; requests in flight finish. */
  close(): void {
    this.#httpAgent.destroy();
    this.#registryTls.destroy();
    this.#otherTls.destroy();
  }
}

function networkError(url: URL, e: unknown): NetworkError {
  const err = e as NodeJS.ErrnoException;
  const detail = err.code && !err.message.includes(err.code) ? `${err.code}: ${err.message}` : err.message;
  return new NetworkError(`${url.origin}: ${detail || String(e)}`, e);
}

async function sendBody(r: http.ClientRequest, body: HttpRequest['body']): Promise<void> {
  if (body === undefined) {
    r.end();
    return;
  }
  if (Buffer.isBuffer(body)) {
    r.end(body);
    return;
  }
  for await (const chunk of body) {
    if (r.destroyed) return;
    if (!r.write(chunk)) {
      await new Promise<void>((resolve) => {
        const done = () => {
          r.off('drain', done);
          r.off('close', done);
          resolve();
        };
        r.on('drain', done);
        r.on('close', done);
      });
    }
  }
  if (!r.destroyed) r.end();
}

/**
 * The response body's chunks, a broken connection turned into `NetworkError` (so it is retried)
 * and an aborted one into the signal's reason.
 */
export async function* bodyChunks(res: HttpResponse, signal?: AbortSignal): AsyncGenerator<Buffer> {
  try {
    for await (const chunk of res.body as AsyncIterable<Buffer>) yield chunk;
  } catch (e) {
    if (signal?.aborted) throw signal.reason;
    if (e instanceof StrataError) throw e;
    throw networkError(res.url, e);
  } finally {
    if (!res.body.readableEnded) res.body.destroy();
  }
}

/** The whole body, up to `limit` bytes (`REGISTRY_RESPONSE_TOO_LARGE` beyond). */
export async function readBody(res: HttpResponse, limit: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  let n = 0;
  for await (const chunk of bodyChunks(res)) {
    n += chunk.length;
    if (n > limit) throw new StrataError('REGISTRY_RESPONSE_TOO_LARGE', `${res.url.href}: response larger than ${limit} bytes`);
    parts.push(chunk);
  }
  return Buffer.concat(parts, n);
}

/** Reads and drops a (small) body so the connection can be reused; a big one is cut instead. */
export async function discard(res: HttpResponse): Promise<void> {
  const len = res.method === 'HEAD' || res.status === 204 || res.status === 304 ? 0 : Number(res.headers['content-length'] ?? NaN);
  if (!(len <= 64 * 1024)) {
    res.body.destroy();
    return;
  }
  try {
    for await (const _ of res.body) void _;
  } catch {
    /* the connection is gone; nothing to reuse */
  }
}
