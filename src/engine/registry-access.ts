/** What pull and push share: how to reach a registry, and opening a client with it. */
import { RegistryClient, type Credentials } from '../registry/index.js';

export interface RegistryAccess {
  signal?: AbortSignal;
  /** Registries that may be reached without TLS verification (`--insecure-registry`). */
  insecure?: readonly string[];
  /** Credentials; default: docker's config.json; `null`: anonymous. */
  credentials?: Credentials | null;
  env?: NodeJS.ProcessEnv;
}

/** A client for `domain` with `access`'s transport and credentials; each retry is told to `onRetry`. */
export function openClient(domain: string, access: RegistryAccess, onRetry: (message: string, delayMs: number) => void, push = false): Promise<RegistryClient> {
  return RegistryClient.open(domain, {
    ...(push ? { push: true } : {}),
    ...(access.insecure ? { insecureRegistries: access.insecure } : {}),
    ...(access.credentials !== undefined ? { credentials: access.credentials } : {}),
    ...(access.env ? { env: access.env } : {}),
    ...(access.signal ? { signal: access.signal } : {}),
    onRetry: (e, delayMs) => onRetry((e as Error).message, delayMs),
  });
}
