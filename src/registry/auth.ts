/**
 * Authorization for registry requests, as the registry's challenge asks for it:
 *
 *   const auth = new Authenticator(transport, { username: 'u', password: 'p' });
 *   auth.learn(res.headers['www-authenticate']);       // from the 401 of `GET /v2/`
 *   await auth.header(['repository:team/app:pull'], signal);
 *   //  Basic challenge  → 'Basic dTpw'
 *   //  Bearer challenge → 'Bearer eyJ…': a token from the challenge's realm for exactly those
 *   //                     scopes (anonymous, or with the user's basic credentials / identity
 *   //                     token), cached per scope set until shortly before it expires
 *   //  no challenge     → undefined (an open registry)
 *
 * A token server's refusal is the registry's kind of error (`unauthorized: …`), never retried
 * with the same credentials. `forget(scopes)` drops a cached token a registry refused (it may
 * have been revoked or have expired early).
 */
import { StrataError } from '../errors/index.js';
import { parseChallenges, type Challenge } from './challenge.js';
import { RegistryError, responseError } from './errors.js';
import { readBody, type Transport } from './transport.js';

/** What a user can authenticate with: docker's `AuthConfig`. */
export interface Credentials {
  username?: string;
  password?: string;
  /** An OAuth refresh token (`identitytoken` in config.json), exchanged at the realm. */
  identityToken?: string;
  /** A bearer token to send as is (`registrytoken`). */
  registryToken?: string;
}

interface CachedToken {
  token: string;
  expires: number;
}

/** A token without `expires_in` lives this long (the distribution spec's default). */
const DEFAULT_TOKEN_SECONDS = 60;
/** Renew a token this long before it expires. */
const RENEW_MARGIN_MS = 10_000;
const MAX_TOKEN_RESPONSE = 1 << 20;

export class Authenticator {
  readonly #transport: Transport;
  readonly #creds: Credentials | undefined;
  readonly #userAgent: string;
  #challenges: Challenge[] = [];
  readonly #tokens = new Map<string, CachedToken>();
  readonly #pending = new Map<string, Promise<string>>();

  constructor(transport: Transport, credentials: Credentials | undefined, userAgent: string) {
    this.#transport = transport;
    this.#creds = credentials && Object.values(credentials).some((v) => v) ? credentials : undefined;
    this.#userAgent = userAgent;
  }

  /** The credentials in use, if any. */
  get credentials(): Credentials | undefined {
    return this.#creds;
  }

  /** Takes the challenges of a 401's `WWW-Authenticate`; true if it taught something usable. */
  learn(header: string | string[] | undefined): boolean {
    const found = parseChallenges(header).filter((c) => c.scheme === 'bearer' || c.scheme === 'basic');
    if (found.length === 0) return false;
    this.#challenges = found;
    return true;
  }

  /** Whether the registry asked for authentication at all. */
  get challenged(): boolean {
    return this.#challenges.length > 0;
  }

  /** The `Authorization` value for a request needing `scopes`, or undefined when none is needed. */
  async header(scopes: readonly string[], signal?: AbortSignal): Promise<string | undefined> {
    if (this.#creds?.registryToken) return `Bearer ${this.#creds.registryToken}`;
    const bearer = this.#challenges.find((c) => c.scheme === 'bearer');
    if (bearer?.params.realm) return `Bearer ${await this.#token(bearer, scopes, signal)}`;
    if (this.#challenges.some((c) => c.scheme === 'basic')) return this.basicHeader();
    return undefined;
  }

  /** `Basic base64(user:password)`, if a username was given. */
  basicHeader(): string | undefined {
    if (!this.#creds?.username) return undefined;
    return `Basic ${Buffer.from(`${this.#creds.username}:${this.#creds.password ?? ''}`).toString('base64')}`;
  }

  /** Drops the cached token for `scopes` (the registry refused it). */
  forget(scopes: readonly string[]): void {
    this.#tokens.delete(scopeKey(scopes));
  }

  #token(challenge: Challenge, scopes: readonly string[], signal: AbortSignal | undefined): Promise<string> {
    const key = scopeKey(scopes);
    const cached = this.#tokens.get(key);
    if (cached && cached.expires - RENEW_MARGIN_MS > Date.now()) return Promise.resolve(cached.token);
    // Concurrent layer transfers share one token request per scope set.
    let p = this.#pending.get(key);
    if (!p) {
      p = this.#fetchToken(challenge, scopes, signal).finally(() => this.#pending.delete(key));
      this.#pending.set(key, p);
    }
    return p;
  }

  async #fetchToken(challenge: Challenge, scopes: readonly string[], signal: AbortSignal | undefined): Promise<string> {
    let realm: URL;
    try {
      realm = new URL(challenge.params.realm!);
    } catch {
      throw new StrataError('REGISTRY_BAD_CHALLENGE', `the registry's token realm is not a URL: ${JSON.stringify(challenge.params.realm)}`);
    }
    const service = challenge.params.service;
    const headers: Record<string, string> = { 'user-agent': this.#userAgent, accept: 'application/json' };
    let res;
    if (this.#creds?.identityToken) {
      // OAuth2 refresh-token grant, as docker does with an identity token.
      const form = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: this.#creds.identityToken, client_id: 'strata' });
      if (service) form.set('service', service);
      if (scopes.length) form.set('scope', scopes.join(' '));
      res = await this.#transport.request({
        method: 'POST',
        url: realm,
        headers: { ...headers, 'content-type': 'application/x-www-form-urlencoded' },
        body: Buffer.from(form.toString()),
        signal,
      });
    } else {
      const url = new URL(realm);
      if (service) url.searchParams.set('service', service);
      for (const s of scopes) url.searchParams.append('scope', s);
      const basic = this.basicHeader();
      if (basic) {
        url.searchParams.set('account', this.#creds!.username!);
        headers.authorization = basic;
      }
      res = await this.#transport.request({ method: 'GET', url, headers, signal });
    }
    if (res.status !== 200) {
      const body = await readBody(res, MAX_TOKEN_RESPONSE).catch(() => Buffer.alloc(0));
      throw tokenError(res.status, body, res.headers);
    }
    const body = await readBody(res, MAX_TOKEN_RESPONSE);
    let doc: { token?: unknown; access_token?: unknown; expires_in?: unknown; issued_at?: unknown };
    try {
      doc = JSON.parse(body.toString('utf8')) as typeof doc;
    } catch {
      throw new StrataError('REGISTRY_BAD_TOKEN', `the token server at ${realm.origin} answered with something that is not JSON`);
    }
    const token = typeof doc.access_token === 'string' && doc.access_token ? doc.access_token : typeof doc.token === 'string' ? doc.token : '';
    if (!token) throw new StrataError('REGISTRY_BAD_TOKEN', `the token server at ${realm.origin} returned no token`);
    const seconds = typeof doc.expires_in === 'number' && doc.expires_in > DEFAULT_TOKEN_SECONDS ? doc.expires_in : DEFAULT_TOKEN_SECONDS;
    const issued = typeof doc.issued_at === 'string' ? Date.parse(doc.issued_at) : NaN;
    const start = Number.isNaN(issued) || issued > Date.now() ? Date.now() : issued;
    this.#tokens.set(scopeKey(scopes), { token, expires: start + seconds * 1000 });
    return token;
  }
}

function scopeKey(scopes: readonly string[]): string {
  return [...scopes].sort().join(' ');
}

function tokenError(status: number, body: Buffer, headers: Parameters<typeof responseError>[2]): RegistryError {
  const e = responseError(status, body, headers);
  if (status === 401 && e.message === 'unauthorized: authentication required') {
    return new RegistryError('REGISTRY_UNAUTHORIZED', 'unauthorized: incorrect username or password', { status, registryCodes: ['UNAUTHORIZED'] });
  }
  return e;
}

