/**
 * Registry failures as one line each, in the words docker prints for them.
 *
 * A registry says what went wrong in a JSON body (the distribution spec's error codes):
 *
 *   HTTP/1.1 404 Not Found
 *   {"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":…}]}
 *
 * which Go's distribution client renders as `manifest unknown: manifest unknown` (the code in
 * lower case with spaces, then the message). A 5xx, or a 4xx without such a body, becomes
 * `received unexpected HTTP status: 500 Internal Server Error`. `RegistryError` keeps the HTTP
 * status and the registry's first error code, so callers can branch (pull turns `UNAUTHORIZED`,
 * `DENIED` and `NAME_UNKNOWN` into docker's "pull access denied …" line) and the retry policy
 * can tell transient failures from final ones.
 */
import http from 'node:http';
import { StrataError } from '../errors/index.js';

/** One entry of a registry's `{"errors":[…]}` body. */
export interface RegistryErrorEntry {
  code: string;
  message: string;
}

export class RegistryError extends StrataError {
  /** The HTTP status, when a response caused it. */
  readonly status: number | undefined;
  /** The registry's error codes (`MANIFEST_UNKNOWN`, `UNAUTHORIZED`, …), first one first. */
  readonly registryCodes: readonly string[];
  /** Seconds the registry asked us to wait (`Retry-After`), if it did. */
  readonly retryAfter: number | undefined;

  constructor(
    code: string,
    message: string,
    opts: { status?: number; registryCodes?: readonly string[]; retryAfter?: number; cause?: unknown } = {},
  ) {
    super(code, message, opts.cause !== undefined ? { cause: opts.cause } : undefined);
    this.status = opts.status;
    this.registryCodes = opts.registryCodes ?? [];
    this.retryAfter = opts.retryAfter;
  }

  /** Whether the registry named `code` (e.g. `MANIFEST_UNKNOWN`) among its errors. */
  hasRegistryCode(code: string): boolean {
    return this.registryCodes.includes(code);
  }
}

/** A connection that failed or broke (refused, reset, timed out, TLS): always worth retrying. */
export class NetworkError extends StrataError {
  constructor(message: string, cause?: unknown) {
    super('REGISTRY_UNREACHABLE', message, cause !== undefined ? { cause } : undefined);
  }
}

/** Go's `ErrorCode.Error()`: `MANIFEST_UNKNOWN` → `manifest unknown`. */
function codeText(code: string): string {
  return code.toLowerCase().replace(/_/g, ' ');
}

/** The default message of the codes docker's client fills in when a body gives none. */
const DEFAULT_MESSAGES: Record<string, string> = {
  UNAUTHORIZED: 'authentication required',
  DENIED: 'requested access to the resource is denied',
  TOOMANYREQUESTS: 'too many requests',
  MANIFEST_UNKNOWN: 'manifest unknown',
  NAME_UNKNOWN: 'repository name not known to registry',
  BLOB_UNKNOWN: 'blob unknown to registry',
};

/** `"<code text>: <message>"` for each entry, as Go joins them. */
export function formatEntries(entries: readonly RegistryErrorEntry[]): string {
  return entries.map((e) => `${codeText(e.code)}: ${e.message || DEFAULT_MESSAGES[e.code] || codeText(e.code)}`).join(', ');
}

/** The entries of a `{"errors":[…]}` body (or docker's old `{"details":"…"}` form), if it is one. */
export function parseErrorBody(status: number, body: Buffer): RegistryErrorEntry[] {
  let doc: unknown;
  try {
    doc = JSON.parse(body.toString('utf8'));
  } catch {
    return [];
  }
  if (typeof doc !== 'object' || doc === null) return [];
  const d = doc as { errors?: unknown; details?: unknown };
  if (typeof d.details === 'string' && d.details !== '') {
    const code = status === 401 ? 'UNAUTHORIZED' : status === 429 ? 'TOOMANYREQUESTS' : 'UNKNOWN';
    return [{ code, message: d.details }];
  }
  if (!Array.isArray(d.errors)) return [];
  return d.errors
    .filter((e): e is Record<string, unknown> => typeof e === 'object' && e !== null && typeof (e as { code?: unknown }).code === 'string')
    .map((e) => ({ code: String(e.code).toUpperCase(), message: typeof e.message === 'string' ? e.message : '' }));
}

/** `Retry-After` as seconds: a number, or an HTTP date (its distance from now). */
export function parseRetryAfter(value: string | string[] | undefined, now = Date.now()): number | undefined {
  const v = Array.isArray(value) ? value[0] : value;
  if (v === undefined || v.trim() === '') return undefined;
  if (/^\s*\d+\s*$/.test(v)) return Number(v);
  const t = Date.parse(v);
  return Number.isNaN(t) ? undefined : Math.max(0, Math.ceil((t - now) / 1000));
}

/**
 * The error for a response that was not what the request wanted, as docker's distribution
 * client words it (`HandleErrorResponse`): a 4xx with an error body gives its entries; a 401 or
 * 429 without one gives the code's default text; anything else (every 5xx) gives
 * `received unexpected HTTP status: <code> <reason>`.
 */
export function responseError(status: number, body: Buffer, headers: http.IncomingHttpHeaders = {}): RegistryError {
  const retryAfter = parseRetryAfter(headers['retry-after']);
  const opts = (codes: string[]) => ({ status, registryCodes: codes, ...(retryAfter !== undefined ? { retryAfter } : {}) });
  if (status >= 400 && status < 500) {
    const bearer = bearerError(headers['www-authenticate']);
    const entries = parseErrorBody(status, body);
    // A Bearer challenge's own error is the precise one (docker shows it first); the body's
    // codes still count for callers that branch on them.
    const shown = bearer ? [bearer] : entries;
    if (shown.length > 0) return new RegistryError(errorCodeFor(shown[0]!.code), formatEntries(shown), opts([...new Set([...shown, ...entries].map((e) => e.code))]));
    if (status === 401) return new RegistryError('REGISTRY_UNAUTHORIZED', formatEntries([{ code: 'UNAUTHORIZED', message: '' }]), opts(['UNAUTHORIZED']));
    if (status === 429) return new RegistryError('REGISTRY_TOO_MANY_REQUESTS', formatEntries([{ code: 'TOOMANYREQUESTS', message: '' }]), opts(['TOOMANYREQUESTS']));
  }
  return new RegistryError('REGISTRY_HTTP_STATUS', `received unexpected HTTP status: ${status} ${http.STATUS_CODES[status] ?? ''}`.trimEnd(), opts([]));
}

/** RFC 6750 errors in a Bearer challenge (`error="invalid_token"`), as docker reads them first. */
function bearerError(header: string | string[] | undefined): RegistryErrorEntry | undefined {
  const text = Array.isArray(header) ? header.join(', ') : header;
  if (!text || !/^\s*bearer\b/i.test(text)) return undefined;
  const err = /\berror="([^"]*)"/i.exec(text)?.[1];
  const description = /\berror_description="([^"]*)"/i.exec(text)?.[1] ?? '';
  if (err === 'invalid_token') return { code: 'UNAUTHORIZED', message: description };
  if (err === 'insufficient_scope') return { code: 'DENIED', message: description };
  return undefined;
}

/** strata's stable code for a registry error code. */
function errorCodeFor(registryCode: string): string {
  switch (registryCode) {
    case 'UNAUTHORIZED':
      return 'REGISTRY_UNAUTHORIZED';
    case 'DENIED':
      return 'REGISTRY_DENIED';
    case 'TOOMANYREQUESTS':
      return 'REGISTRY_TOO_MANY_REQUESTS';
    case 'MANIFEST_UNKNOWN':
      return 'MANIFEST_UNKNOWN';
    case 'NAME_UNKNOWN':
      return 'REGISTRY_NAME_UNKNOWN';
    case 'BLOB_UNKNOWN':
      return 'BLOB_UNKNOWN';
    default:
      return 'REGISTRY_ERROR';
  }
}
