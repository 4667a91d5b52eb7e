/**
 * `RegistryClient`: the OCI distribution protocol against one registry — what a pull and a push
 * say to it, with authentication, retries and verification built in.
 *
 *   const reg = await RegistryClient.open('127.0.0.1:5000', { signal });   // ping /v2/: scheme, challenge
 *   const m = await reg.getManifest('team/app', 'v1');                    // bytes, digest (checked), media type
 *   const cfg = await reg.getBlob('team/app', configDescriptor);           // small blob, checked
 *   await reg.downloadBlob('team/app', layerDescriptor, '/root/tmp/x');    // to a file: Range resume, checked
 *   await reg.blobExists('team/app', digest);                              // HEAD → size | undefined
 *   await reg.mountBlob('team/app', digest, 'other/repo');                 // cross-repository mount
 *   await reg.uploadBlob('team/app', () => gzipChunks());                 // POST, PATCH (streamed, hashed), PUT
 *   await reg.putManifest('team/app', 'v1', bytes, mediaType);             // Docker-Content-Digest checked
 *   reg.close();
 *
 * Every request:
 * - carries the `Authorization` the registry's challenge asks for (auth.ts), for the scope of the
 *   repository it touches (`repository:team/app:pull`, or `pull,push` on a push client); a 401
 *   teaches the challenge and the request is sent once more with fresh credentials;
 * - follows redirects itself (blob stores, CDNs), dropping `Authorization` when the host changes;
 * - is retried on network errors, 429 and 5xx with backoff and `Retry-After` (retry.ts); a blob
 *   download that breaks resumes where it stopped with `Range: bytes=N-`.
 *
 * Docker Hub's address, insecure registries and extra CAs come from endpoint.ts and transport.ts.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import { parseDigest, sha256Of, type Digest } from '../digest/index.js';
import { StrataError } from '../errors/index.js';
import { Authenticator, type Credentials } from './auth.js';
import { endpointFor, type Endpoint } from './endpoint.js';
import { NetworkError, RegistryError, responseError } from './errors.js';
import { MANIFEST_ACCEPT, type Descriptor } from './manifest.js';
import { retryPolicyFromEnv, withRetries, isRetryable, retryDelay, sleep, type RetryPolicy } from './retry.js';
import { Transport, bodyChunks, certsDir, discard, readBody, readCertsDir, type HttpResponse } from './transport.js';
import { loadCredentials } from './credentials.js';

export interface RegistryClientOptions {
  /** `--insecure-registry` values (plus `STRATA_INSECURE_REGISTRIES`). */
  insecureRegistries?: readonly string[];
  /** Credentials to use; `undefined`: those docker's config.json has for the registry; `null`: none. */
  credentials?: Credentials | null;
  /** Whether requests to the target repositories ask for push access too. */
  push?: boolean;
  signal?: AbortSignal | undefined;
  retry?: RetryPolicy;
  /** Told before each retry wait. */
  onRetry?: (e: unknown, delayMs: number) => void;
  userAgent?: string;
  env?: NodeJS.ProcessEnv;
}

export interface FetchedManifest {
  bytes: Buffer;
  /** sha256 of `bytes`. */
  digest: Digest;
  /** The response's Content-Type. */
  contentType: string;
}

export interface DownloadOptions {
  signal?: AbortSignal | undefined;
  /** Bytes of the blob on disk so far (after a resume, counting what was there). */
  onProgress?: (bytes: number) => void;
  /** Told each time a broken transfer is resumed (the offset it resumes from). */
  onResume?: (offset: number) => void;
}

export interface UploadOptions {
  signal?: AbortSignal | undefined;
  /** Bytes sent so far. */
  onProgress?: (bytes: number) => void;
}

const MAX_MANIFEST = 4 << 20;
const MAX_ERROR_BODY = 1 << 20;
const MAX_REDIRECTS = 10;

interface SendOptions {
  method: string;
  url: URL;
  scopes: readonly string[];
  headers?: Record<string, string>;
  body?: Buffer | (() => AsyncIterable<Uint8Array>);
  signal?: AbortSignal | undefined;
}

export class RegistryClient {
  readonly endpoint: Endpoint;
  readonly #transport: Transport;
  readonly #auth: Authenticator;
  readonly #retry: RetryPolicy;
  readonly #push: boolean;
  readonly #signal: AbortSignal | undefined;
  readonly #userAgent: string;
  readonly #onRetry: ((e: unknown, delayMs: number) => void) | undefined;
  #base: URL;

  private constructor(endpoint: Endpoint, transport: Transport, auth: Authenticator, base: URL, opts: RegistryClientOptions) {
    this.endpoint = endpoint;
    this.#transport = transport;
    this.#auth = auth;
    this.#base = base;
    this.#retry = opts.retry ?? retryPolicyFromEnv(opts.env);
    this.#push = opts.push ?? false;
    this.#signal = opts.signal;
    this.#userAgent = opts.userAgent ?? 'strata';
    this.#onRetry = opts.onRetry;
  }

  /**
   * Connects to the registry of `domain` (a reference's domain): reads its TLS files and the
   * credentials, then pings `/v2/` — over HTTPS, and for an insecure registry over plain HTTP if
   * HTTPS fails — to learn the scheme and the authentication challenge.
   */
  static async open(domain: string, opts: RegistryClientOptions = {}): Promise<RegistryClient> {
    const env = opts.env ?? process.env;
    const endpoint = endpointFor(domain, { ...(opts.insecureRegistries ? { insecureRegistries: opts.insecureRegistries } : {}), env });
    const transport = new Transport({ address: endpoint.address, tls: readCertsDir(endpoint.address, certsDir(env)), verify: endpoint.secure });
    try {
      const creds = opts.credentials === null ? undefined : (opts.credentials ?? loadCredentials(endpoint.credentialKey, env));
      const auth = new Authenticator(transport, creds, opts.userAgent ?? 'strata');
      const client = new RegistryClient(endpoint, transport, auth, new URL(`https://${endpoint.address}`), opts);
      await client.#ping();
      return client;
    } catch (e) {
      transport.close();
      throw e;
    }
  }

  /** The credentials found or given for this registry, if any. */
  get credentials(): Credentials | undefined {
    return this.#auth.credentials;
  }

  /** `https://host` or `http://host`: what the ping settled on. */
  get baseUrl(): string {
    return this.#base.origin;
  }

  close(): void {
    this.#transport.close();
  }

  #retrying<T>(fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    return withRetries(fn, { policy: this.#retry, signal: signal ?? this.#signal, onRetry: (e, ms) => this.#onRetry?.(e, ms) });
  }

  async #ping(): Promise<void> {
    const tryBase = async (base: URL) => {
      const res = await this.#transport.request({ method: 'GET', url: new URL('/v2/', base), headers: { 'user-agent': this.#userAgent }, signal: this.#signal });
      await discard(res);
      if (res.status === 401) this.#auth.learn(res.headers['www-authenticate']);
      else if (res.status >= 500) throw responseError(res.status, Buffer.alloc(0), res.headers);
      this.#base = base;
    };
    await this.#retrying(async () => {
      try {
        await tryBase(new URL(`https://${this.endpoint.address}`));
      } catch (e) {
        if (this.endpoint.secure || !(e instanceof NetworkError)) throw e;
        await tryBase(new URL(`http://${this.endpoint.address}`));
      }
    });
  }

  /**
   * Checks the credentials as `docker login` does: the registry (or its token server) must
   * accept them. Throws `unauthorized: …` when it does not.
   */
  async login(): Promise<void> {
    if (!this.#auth.challenged) return;
    await this.#retrying(async () => {
      const res = await this.#send({ method: 'GET', url: new URL('/v2/', this.#base), scopes: [] });
      await this.#expect(res, [200]);
      await discard(res);
    });
  }

  #scope(repo: string): string {
    return `repository:${repo}:${this.#push ? 'pull,push' : 'pull'}`;
  }

  #url(repo: string, rest: string): URL {
    return new URL(`/v2/${repo}/${rest}`, this.#base);
  }

  /** One request with authorization, redirects and one re-authentication on 401. */
  async #send(opts: SendOptions): Promise<HttpResponse> {
    let reauthenticated = false;
    for (;;) {
      const res = await this.#sendFollowing(opts);
      if (res.status !== 401 || reauthenticated) return res;
      const learned = this.#auth.learn(res.headers['www-authenticate']);
      if (!learned) return res;
      await discard(res);
      this.#auth.forget(opts.scopes);
      reauthenticated = true;
    }
  }

  async #sendFollowing(opts: SendOptions): Promise<HttpResponse> {
    const signal = opts.signal ?? this.#signal;
    let url = opts.url;
    let method = opts.method;
    let authorization = await this.#auth.header(opts.scopes, signal);
    for (let hop = 0; ; hop++) {
      const headers: Record<string, string> = { 'user-agent': this.#userAgent, ...opts.headers };
      if (authorization) headers.authorization = authorization;
      const body = opts.body === undefined || method === 'GET' || method === 'HEAD' ? undefined : Buffer.isBuffer(opts.body) ? opts.body : opts.body();
      const res = await this.#transport.request({ method, url, headers, ...(body !== undefined ? { body } : {}), signal });
      const location = res.headers.location;
      if (![301, 302, 303, 307, 308].includes(res.status) || !location || (method !== 'GET' && method !== 'HEAD')) return res;
      await discard(res);
      if (hop >= MAX_REDIRECTS) throw new StrataError('REGISTRY_REDIRECT_LOOP', `${opts.url.href}: stopped after ${MAX_REDIRECTS} redirects`);
      const next = new URL(location, url);
      // Credentials for the registry are not for a blob store elsewhere (S3 presigned URLs refuse them).
      if (next.host !== url.host) authorization = undefined;
      if (res.status === 303) method = 'GET';
      url = next;
    }
  }

  /** Throws the registry's error unless `res.status` is one of `ok`. */
  async #expect(res: HttpResponse, ok: readonly number[]): Promise<void> {
    if (ok.includes(res.status)) return;
    const body = res.status >= 400 && res.status < 500 && res.status !== 416 ? await readBody(res, MAX_ERROR_BODY).catch(() => Buffer.alloc(0)) : Buffer.alloc(0);
    if (body.length === 0) await discard(res);
    throw responseError(res.status, body, res.headers);
  }

  /**
   * The manifest or index `reference` (a tag or a digest) of `repo`, asking for every type strata
   * reads. Its digest is the SHA-256 of the bytes; a digest reference, and a `Docker-Content-Digest`
   * header, must agree with it.
   */
  async getManifest(repo: string, reference: string, signal?: AbortSignal): Promise<FetchedManifest> {
    return this.#retrying(async () => {
      const res = await this.#send({ method: 'GET', url: this.#url(repo, `manifests/${reference}`), scopes: [this.#scope(repo)], headers: { accept: MANIFEST_ACCEPT.join(', ') }, signal });
      await this.#expect(res, [200]);
      const bytes = await readBody(res, MAX_MANIFEST);
      const digest = sha256Of(bytes);
      const expected = reference.includes(':') ? reference : headerDigest(res);
      if (expected !== undefined && expected !== digest) {
        throw new StrataError('DIGEST_MISMATCH', `manifest verification failed for digest ${expected}: the registry sent a manifest that hashes to ${digest}`);
      }
      return { bytes, digest, contentType: String(res.headers['content-type'] ?? '') };
    }, signal);
  }

  /** A small blob (a config) in memory, checked against its descriptor's digest and size. */
  async getBlob(repo: string, desc: Descriptor, signal?: AbortSignal): Promise<Buffer> {
    return this.#retrying(async () => {
      const res = await this.#send({ method: 'GET', url: this.#url(repo, `blobs/${desc.digest}`), scopes: [this.#scope(repo)], signal });
      await this.#expect(res, [200]);
      const bytes = await readBody(res, Math.max(desc.size, 0) + 1);
      const digest = sha256Of(bytes);
      if (digest !== desc.digest || bytes.length !== desc.size) throw verificationFailed(desc.digest);
      return bytes;
    }, signal);
  }

  /**
   * Downloads blob `desc` into `file` (created or truncated), verifying digest and size over the
   * whole. A transfer that breaks is resumed from the bytes already in the file with
   * `Range: bytes=N-` (a registry that answers 200 instead starts it over). Attempts that made
   * progress do not count against the retry limit.
   */
  async downloadBlob(repo: string, desc: Descriptor, file: string, opts: DownloadOptions = {}): Promise<void> {
    const signal = opts.signal ?? this.#signal;
    const fh = await fs.promises.open(file, 'w', 0o600);
    try {
      let hash = crypto.createHash('sha256');
      let offset = 0;
      let failures = 0;
      for (;;) {
        const before = offset;
        try {
          const headers: Record<string, string> = {};
          if (offset > 0) {
            headers.range = `bytes=${offset}-`;
            opts.onResume?.(offset);
          }
          const res = await this.#send({ method: 'GET', url: this.#url(repo, `blobs/${desc.digest}`), scopes: [this.#scope(repo)], headers, signal });
          if (res.status === 416 && offset === desc.size) {
            await discard(res);
            break;
          }
          await this.#expect(res, offset > 0 ? [200, 206] : [200]);
          if (offset > 0 && (res.status === 200 || contentRangeStart(res) !== offset)) {
            // Range ignored (or answered for other bytes): start over.
            if (res.status === 206) {
              res.body.destroy();
              throw new NetworkError(`${desc.digest}: the registry answered a range request with other bytes`);
            }
            hash = crypto.createHash('sha256');
            offset = 0;
            await fh.truncate(0);
          }
          for await (const chunk of bodyChunks(res, signal)) {
            if (offset + chunk.length > desc.size) {
              res.body.destroy();
              throw verificationFailed(desc.digest);
            }
            await writeAll(fh, chunk, offset);
            hash.update(chunk);
            offset += chunk.length;
            opts.onProgress?.(offset);
          }
          break;
        } catch (e) {
          if (signal?.aborted) throw signal.reason;
          if (!isRetryable(e)) throw e;
          if (offset === before) failures++;
          else failures = 1;
          if (failures >= this.#retry.attempts) throw e;
          const ms = retryDelay(e, failures - 1, this.#retry);
          this.#onRetry?.(e, ms);
          await sleep(ms, signal);
        }
      }
      if (offset !== desc.size || `sha256:${hash.digest('hex')}` !== desc.digest) throw verificationFailed(desc.digest);
    } finally {
      await fh.close();
    }
  }

  /** HEAD of a blob in `repo`: its size if the registry has it there, else undefined. */
  async blobExists(repo: string, digest: Digest, signal?: AbortSignal): Promise<number | undefined> {
    return this.#retrying(async () => {
      const res = await this.#send({ method: 'HEAD', url: this.#url(repo, `blobs/${digest}`), scopes: [this.#scope(repo)], signal });
      await discard(res);
      if (res.status === 404) return undefined;
      await this.#expect(res, [200]);
      const len = Number(res.headers['content-length']);
      return Number.isSafeInteger(len) ? len : 0;
    }, signal);
  }

  /** The first bytes of a blob (a ranged GET), to see its compression. */
  async blobHead(repo: string, digest: Digest, bytes: number, signal?: AbortSignal): Promise<Buffer> {
    return this.#retrying(async () => {
      const res = await this.#send({ method: 'GET', url: this.#url(repo, `blobs/${digest}`), scopes: [this.#scope(repo)], headers: { range: `bytes=0-${bytes - 1}` }, signal });
      await this.#expect(res, [200, 206]);
      const parts: Buffer[] = [];
      let n = 0;
      for await (const chunk of bodyChunks(res, signal)) {
        parts.push(chunk);
        n += chunk.length;
        if (n >= bytes) break;
      }
      res.body.destroy();
      return Buffer.concat(parts).subarray(0, bytes);
    }, signal);
  }

  /**
   * Asks the registry to mount blob `digest` from repository `from` (same registry) into `repo`.
   * True if it did (201); false if it started an upload instead (202, cancelled here) or refused.
   */
  async mountBlob(repo: string, digest: Digest, from: string, signal?: AbortSignal): Promise<boolean> {
    return this.#retrying(async () => {
      const url = this.#url(repo, 'blobs/uploads/');
      url.searchParams.set('mount', digest);
      url.searchParams.set('from', from);
      const res = await this.#send({ method: 'POST', url, scopes: [this.#scope(repo), `repository:${from}:pull`], headers: { 'content-length': '0' }, body: Buffer.alloc(0), signal });
      if (res.status === 201) {
        await discard(res);
        return true;
      }
      if (res.status === 202) {
        await discard(res);
        await this.#cancelUpload(res, repo, signal);
        return false;
      }
      if (res.status >= 400 && res.status < 500 && res.status !== 401 && res.status !== 429) {
        await discard(res);
        return false;
      }
      await this.#expect(res, [201, 202]);
      return false;
    }, signal);
  }

  async #cancelUpload(res: HttpResponse, repo: string, signal: AbortSignal | undefined): Promise<void> {
    const location = res.headers.location;
    if (!location) return;
    try {
      const del = await this.#send({ method: 'DELETE', url: new URL(location, res.url), scopes: [this.#scope(repo)], signal });
      await discard(del);
    } catch {
      /* an abandoned upload session expires on its own */
    }
  }

  async #startUpload(repo: string, signal: AbortSignal | undefined): Promise<URL> {
    const res = await this.#send({ method: 'POST', url: this.#url(repo, 'blobs/uploads/'), scopes: [this.#scope(repo)], headers: { 'content-length': '0' }, body: Buffer.alloc(0), signal });
    await this.#expect(res, [202]);
    await discard(res);
    return uploadLocation(res);
  }

  async #finishUpload(repo: string, location: URL, digest: Digest, body: Buffer | undefined, signal: AbortSignal | undefined): Promise<void> {
    const url = new URL(location);
    url.searchParams.set('digest', digest);
    const data = body ?? Buffer.alloc(0);
    const res = await this.#send({
      method: 'PUT',
      url,
      scopes: [this.#scope(repo)],
      headers: { 'content-type': 'application/octet-stream', 'content-length': String(data.length) },
      body: data,
      signal,
    });
    await this.#expect(res, [201, 204]);
    await discard(res);
    const got = headerDigest(res);
    if (got !== undefined && got !== digest) throw new StrataError('DIGEST_MISMATCH', `the registry stored blob ${digest} as ${got}`);
  }

  /** Uploads a blob already in memory (a config): POST, then one PUT with the bytes. */
  async uploadBlobBytes(repo: string, bytes: Buffer, signal?: AbortSignal): Promise<Digest> {
    const digest = sha256Of(bytes);
    await this.#retrying(async () => {
      const location = await this.#startUpload(repo, signal);
      await this.#finishUpload(repo, location, digest, bytes, signal);
    }, signal);
    return digest;
  }

  /**
   * Uploads the blob `source()` yields, hashing it on the way: POST to open a session, one
   * streamed PATCH, then `PUT ?digest=`. A retry calls `source` again, so it must give the same
   * bytes each time. Returns the blob's digest and size.
   */
  async uploadBlob(repo: string, source: () => AsyncIterable<Uint8Array>, opts: UploadOptions = {}): Promise<{ digest: Digest; size: number }> {
    const signal = opts.signal ?? this.#signal;
    return this.#retrying(async () => {
      const location = await this.#startUpload(repo, signal);
      let hash = crypto.createHash('sha256');
      let size = 0;
      // Restartable: a re-sent request (after a 401) hashes from the start again.
      const hashed = async function* (): AsyncGenerator<Uint8Array> {
        hash = crypto.createHash('sha256');
        size = 0;
        for await (const chunk of source()) {
          hash.update(chunk);
          size += chunk.length;
          opts.onProgress?.(size);
          yield chunk;
        }
      };
      const res = await this.#send({ method: 'PATCH', url: location, scopes: [this.#scope(repo)], headers: { 'content-type': 'application/octet-stream' }, body: hashed, signal });
      await this.#expect(res, [202, 204]);
      await discard(res);
      const digest = `sha256:${hash.digest('hex')}` as Digest;
      await this.#finishUpload(repo, res.headers.location ? uploadLocation(res) : location, digest, undefined, signal);
      return { digest, size };
    }, signal);
  }

  /** PUTs a manifest under `reference` (a tag); returns its digest, checked against the registry's. */
  async putManifest(repo: string, reference: string, bytes: Buffer, mediaType: string, signal?: AbortSignal): Promise<Digest> {
    const digest = sha256Of(bytes);
    await this.#retrying(async () => {
      const res = await this.#send({
        method: 'PUT',
        url: this.#url(repo, `manifests/${reference}`),
        scopes: [this.#scope(repo)],
        headers: { 'content-type': mediaType, 'content-length': String(bytes.length) },
        body: bytes,
        signal,
      });
      await this.#expect(res, [200, 201, 202, 204]);
      await discard(res);
      const got = headerDigest(res);
      if (got !== undefined && got !== digest) throw new StrataError('DIGEST_MISMATCH', `the registry stored the manifest as ${got}, but its bytes hash to ${digest}`);
    }, signal);
    return digest;
  }
}

function headerDigest(res: HttpResponse): Digest | undefined {
  const v = res.headers['docker-content-digest'];
  const s = Array.isArray(v) ? v[0] : v;
  if (!s) return undefined;
  try {
    return parseDigest(s.trim());
  } catch {
    return undefined;
  }
}

function contentRangeStart(res: HttpResponse): number | undefined {
  const m = /^bytes (\d+)-/.exec(String(res.headers['content-range'] ?? ''));
  return m ? Number(m[1]) : undefined;
}

function uploadLocation(res: HttpResponse): URL {
  const location = res.headers.location;
  if (!location) throw new StrataError('REGISTRY_PROTOCOL', `${res.url.href}: the registry started an upload without a Location`);
  return new URL(location, res.url);
}

/** docker's wording for a blob whose bytes are not what its digest says. */
function verificationFailed(digest: Digest): StrataError {
  return new StrataError('DIGEST_MISMATCH', `filesystem layer verification failed for digest ${digest}`);
}

async function writeAll(fh: fs.promises.FileHandle, chunk: Buffer, position: number): Promise<void> {
  let off = 0;
  while (off < chunk.length) off += (await fh.write(chunk, off, chunk.length - off, position + off)).bytesWritten;
}

