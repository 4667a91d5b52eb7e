/**
 * When a registry request is worth repeating, and how long to wait first.
 *
 * Retried: a connection that failed or broke (`NetworkError`), 429 Too Many Requests, and the
 * server errors that say "try again" (500, 502, 503, 504). Never retried: 401/403 (the same
 * credentials will fail again), 404, other 4xx, a digest that does not match — those are
 * answers, not accidents. The wait doubles from `baseMs` (0.5 s, 1 s, 2 s, 4 s…, ±20 %, at most
 * `maxMs`) unless the registry sent `Retry-After`, which is honoured up to `maxRetryAfterMs`.
 *
 *   await withRetries((attempt) => fetchManifest(), { policy: DEFAULT_RETRY, signal,
 *                     onRetry: (e, ms) => log(`retrying in ${ms} ms: ${e.message}`) });
 *
 * `STRATA_REGISTRY_RETRIES` (attempts in all, ≥ 1) and `STRATA_REGISTRY_BACKOFF_MS` (the first
 * wait) override the defaults — for slow links, and for tests that want failures fast.
 */
import { RegistryError, NetworkError } from './errors.js';

export interface RetryPolicy {
  /** Attempts in all (1 = no retry). */
  attempts: number;
  baseMs: number;
  maxMs: number;
  /** The longest `Retry-After` obeyed; a longer one is cut to this. */
  maxRetryAfterMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { attempts: 5, baseMs: 500, maxMs: 10_000, maxRetryAfterMs: 60_000 };

/** The default policy with the environment's overrides. */
export function retryPolicyFromEnv(env: NodeJS.ProcessEnv = process.env): RetryPolicy {
  const attempts = Number(env.STRATA_REGISTRY_RETRIES);
  const base = Number(env.STRATA_REGISTRY_BACKOFF_MS);
  return {
    ...DEFAULT_RETRY,
    ...(Number.isInteger(attempts) && attempts >= 1 ? { attempts } : {}),
    ...(Number.isFinite(base) && base >= 0 && env.STRATA_REGISTRY_BACKOFF_MS !== '' && env.STRATA_REGISTRY_BACKOFF_MS !== undefined ? { baseMs: base } : {}),
  };
}

const RETRY_STATUS = new Set([429, 500, 502, 503, 504]);

/** Whether `e` is a transient failure. */
export function isRetryable(e: unknown): boolean {
  if (e instanceof NetworkError) return true;
  return e instanceof RegistryError && e.status !== undefined && RETRY_STATUS.has(e.status);
}

/** Milliseconds to wait before attempt `attempt + 1` (attempt counts from 0) after `e`. */
export function retryDelay(e: unknown, attempt: number, policy: RetryPolicy): number {
  if (e instanceof RegistryError && e.retryAfter !== undefined) return Math.min(e.retryAfter * 1000, policy.maxRetryAfterMs);
  const exp = Math.min(policy.maxMs, policy.baseMs * 2 ** attempt);
  return Math.round(exp * (0.8 + Math.random() * 0.4));
}

/** Resolves after `ms`, or rejects with the abort reason. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = () => {
      clearTimeout(t);
      reject(signal!.reason);
    };
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

export interface RetryOptions {
  policy: RetryPolicy;
  signal?: AbortSignal | undefined;
  /** Told before each wait: the failure and how long the wait will be. */
  onRetry?: ((e: unknown, delayMs: number, attempt: number) => void) | undefined;
}

/** Runs `fn` until it succeeds, fails for good, or the attempts run out (the last error is thrown). */
export async function withRetries<T>(fn: (attempt: number) => Promise<T>, opts: RetryOptions): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (e) {
      if (opts.signal?.aborted) throw opts.signal.reason;
      if (!isRetryable(e) || attempt + 1 >= opts.policy.attempts) throw e;
      const ms = retryDelay(e, attempt, opts.policy);
      opts.onRetry?.(e, ms, attempt);
      await sleep(ms, opts.signal);
    }
  }
}
