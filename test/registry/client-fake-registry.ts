/**
 * An in-process registry for the client's unit tests: just enough of the distribution API
 * (manifests, blobs with `Range`, uploads with mount, PATCH and PUT) plus optional Basic or
 * Bearer auth (its own token endpoint), a request log, and per-test interceptors that break
 * chosen requests. Real-registry behaviour is tested against docker-registry elsewhere; this
 * one exists to make the client's edge cases (a cut at byte N, a 503 with Retry-After, a token
 * that expires, a redirect to another host) happen exactly and quickly.
 */
import crypto from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface LoggedRequest {
  method: string;
  url: string;
  authorization?: string;
  range?: string;
  host?: string;
}

/** Returns true when it answered the request itself. */
export type Interceptor = (req: http.IncomingMessage, res: http.ServerResponse, body: Buffer) => boolean;

export interface FakeRegistryOptions {
  auth?: 'basic' | 'bearer';
  username?: string;
  password?: string;
  /** Bind address (127.0.0.x). */
  address?: string;
}

export function sha(b: Buffer | string): string {
  return `sha256:${crypto.createHash('sha256').update(b).digest('hex')}`;
}

export class FakeRegistry {
  readonly blobs = new Map<string, Map<string, Buffer>>();
  readonly manifests = new Map<string, Map<string, { bytes: Buffer; type: string }>>();
  readonly log: LoggedRequest[] = [];
  readonly interceptors: Interceptor[] = [];
  readonly tokensIssued: string[] = [];
  #uploads = new Map<string, { repo: string; parts: Buffer[] }>();
  #server!: http.Server;
  host = '';
  readonly opts: FakeRegistryOptions;

  constructor(opts: FakeRegistryOptions = {}) {
    this.opts = opts;
  }

  static async start(opts: FakeRegistryOptions = {}): Promise<FakeRegistry> {
    const r = new FakeRegistry(opts);
    r.#server = http.createServer((req, res) => {
      const parts: Buffer[] = [];
      req.on('data', (c: Buffer) => parts.push(c));
      req.on('end', () => r.#handle(req, res, Buffer.concat(parts)));
    });
    await new Promise<void>((resolve) => r.#server.listen(0, opts.address ?? '127.0.0.1', resolve));
    r.host = `${opts.address ?? '127.0.0.1'}:${(r.#server.address() as AddressInfo).port}`;
    return r;
  }

  async close(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  addBlob(repo: string, bytes: Buffer): string {
    const d = sha(bytes);
    if (!this.blobs.has(repo)) this.blobs.set(repo, new Map());
    this.blobs.get(repo)!.set(d, bytes);
    return d;
  }

  addManifest(repo: string, ref: string, bytes: Buffer, type: string): string {
    if (!this.manifests.has(repo)) this.manifests.set(repo, new Map());
    const d = sha(bytes);
    this.manifests.get(repo)!.set(ref, { bytes, type });
    this.manifests.get(repo)!.set(d, { bytes, type });
    return d;
  }

  requests(pattern: RegExp): LoggedRequest[] {
    return this.log.filter((r) => pattern.test(`${r.method} ${r.url}`));
  }

  #error(res: http.ServerResponse, status: number, code: string, message: string, headers: Record<string, string> = {}): void {
    const body = JSON.stringify({ errors: [{ code, message, detail: null }] });
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...headers });
    res.end(body);
  }

  #authorized(req: http.IncomingMessage, res: http.ServerResponse, scope: string | undefined): boolean {
    const a = req.headers.authorization ?? '';
    if (this.opts.auth === 'basic') {
      const want = `Basic ${Buffer.from(`${this.opts.username}:${this.opts.password}`).toString('base64')}`;
      if (a === want) return true;
      this.#error(res, 401, 'UNAUTHORIZED', 'authentication required', { 'www-authenticate': 'Basic realm="fake"' });
      return false;
    }
    if (this.opts.auth === 'bearer') {
      const token = a.startsWith('Bearer ') ? a.slice(7) : '';
      const grant = token ? Buffer.from(token, 'base64url').toString('utf8') : '';
      const scopes = grant.split(' ');
      if (token && (!scope || scopes.includes(scope) || scopes.some((s) => s.startsWith(scope.replace(/:pull$/, ':pull,'))))) return true;
      const challenge = `Bearer realm="http://${this.host}/token",service="fake"${scope ? `,scope="${scope}"` : ''}${token ? ',error="invalid_token"' : ''}`;
      this.#error(res, 401, 'UNAUTHORIZED', 'authentication required', { 'www-authenticate': challenge });
      return false;
    }
    return true;
  }

  #handle(req: http.IncomingMessage, res: http.ServerResponse, body: Buffer): void {
    this.log.push({
      method: req.method!,
      url: req.url!,
      ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}),
      ...(req.headers.range ? { range: req.headers.range } : {}),
      ...(req.headers.host ? { host: req.headers.host } : {}),
    });
    for (const i of this.interceptors) if (i(req, res, body)) return;
    const url = new URL(req.url!, `http://${this.host}`);
    if (url.pathname === '/token') return this.#token(req, res, url);
    if (url.pathname === '/v2/') {
      if (!this.#authorized(req, res, undefined)) return;
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': 2 });
      res.end('{}');
      return;
    }
    const m = /^\/v2\/(.+)\/(manifests|blobs)\/(.+)$/.exec(url.pathname);
    if (!m) {
      res.writeHead(404).end();
      return;
    }
    const [, repo, kind, rest] = m as unknown as [string, string, string, string];
    const write = req.method !== 'GET' && req.method !== 'HEAD';
    if (!this.#authorized(req, res, `repository:${repo}:${write ? 'pull,push' : 'pull'}`)) return;
    if (kind === 'manifests') return this.#manifest(req, res, repo, rest, body);
    if (rest.startsWith('uploads/')) return this.#upload(req, res, repo, rest.slice('uploads/'.length), url, body);
    return this.#blob(req, res, repo, rest);
  }

  #token(req: http.IncomingMessage, res: http.ServerResponse, url: URL): void {
    if (this.opts.username) {
      const want = `Basic ${Buffer.from(`${this.opts.username}:${this.opts.password}`).toString('base64')}`;
      if (req.headers.authorization !== want) {
        res.writeHead(401, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ details: 'incorrect username or password' }));
        return;
      }
    }
    const scopes = url.searchParams.getAll('scope').join(' ');
    this.tokensIssued.push(scopes);
    const token = Buffer.from(scopes || 'none').toString('base64url');
    const body = JSON.stringify({ token, expires_in: 300, issued_at: new Date().toISOString() });
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(body);
  }

  #manifest(req: http.IncomingMessage, res: http.ServerResponse, repo: string, ref: string, body: Buffer): void {
    if (req.method === 'PUT') {
      const d = this.addManifest(repo, ref, body, String(req.headers['content-type']));
      res.writeHead(201, { 'docker-content-digest': d, location: `/v2/${repo}/manifests/${d}`, 'content-length': 0 });
      res.end();
      return;
    }
    const got = this.manifests.get(repo)?.get(ref);
    if (!got) return this.#error(res, 404, 'MANIFEST_UNKNOWN', 'manifest unknown');
    res.writeHead(200, { 'content-type': got.type, 'docker-content-digest': sha(got.bytes), 'content-length': got.bytes.length });
    res.end(req.method === 'HEAD' ? undefined : got.bytes);
  }

  #blob(req: http.IncomingMessage, res: http.ServerResponse, repo: string, digest: string): void {
    const bytes = this.blobs.get(repo)?.get(digest);
    if (!bytes) return this.#error(res, 404, 'BLOB_UNKNOWN', 'blob unknown to registry');
    const range = /^bytes=(\d+)-(\d*)$/.exec(String(req.headers.range ?? ''));
    if (range && req.method === 'GET') {
      const start = Number(range[1]);
      const end = range[2] ? Number(range[2]) : bytes.length - 1;
      if (start >= bytes.length) {
        res.writeHead(416, { 'content-range': `bytes */${bytes.length}` }).end();
        return;
      }
      const part = bytes.subarray(start, end + 1);
      res.writeHead(206, { 'content-range': `bytes ${start}-${start + part.length - 1}/${bytes.length}`, 'content-length': part.length, 'docker-content-digest': digest });
      res.end(part);
      return;
    }
    res.writeHead(200, { 'content-length': bytes.length, 'docker-content-digest': digest, 'content-type': 'application/octet-stream' });
    res.end(req.method === 'HEAD' ? undefined : bytes);
  }

  #upload(req: http.IncomingMessage, res: http.ServerResponse, repo: string, id: string, url: URL, body: Buffer): void {
    if (req.method === 'POST') {
      const mount = url.searchParams.get('mount');
      const from = url.searchParams.get('from');
      if (mount && from) {
        const src = this.blobs.get(from)?.get(mount);
        if (src) {
          this.addBlob(repo, src);
          res.writeHead(201, { location: `/v2/${repo}/blobs/${mount}`, 'docker-content-digest': mount, 'content-length': 0 });
          res.end();
          return;
        }
      }
      const uuid = crypto.randomUUID();
      this.#uploads.set(uuid, { repo, parts: [] });
      res.writeHead(202, { location: `/v2/${repo}/blobs/uploads/${uuid}?_state=x`, 'content-length': 0 });
      res.end();
      return;
    }
    const up = this.#uploads.get(id);
    if (!up) return this.#error(res, 404, 'BLOB_UPLOAD_UNKNOWN', 'blob upload unknown to registry');
    if (req.method === 'DELETE') {
      this.#uploads.delete(id);
      res.writeHead(204).end();
      return;
    }
    up.parts.push(body);
    if (req.method === 'PATCH') {
      res.writeHead(202, { location: `/v2/${repo}/blobs/uploads/${id}?_state=y`, 'content-length': 0 });
      res.end();
      return;
    }
    const all = Buffer.concat(up.parts);
    const digest = url.searchParams.get('digest');
    if (digest !== sha(all)) return this.#error(res, 400, 'DIGEST_INVALID', 'provided digest did not match uploaded content');
    this.#uploads.delete(id);
    this.addBlob(repo, all);
    res.writeHead(201, { location: `/v2/${repo}/blobs/${digest}`, 'docker-content-digest': digest, 'content-length': 0 });
    res.end();
  }
}
