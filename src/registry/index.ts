/**
 * The registry client: how strata speaks the OCI distribution protocol (Docker Hub, distribution,
 * Harbor, GHCR, …) so that layers can move between machines. `pull` and `push` in src/engine/
 * are built on it; this folder knows HTTP, auth and blobs, and nothing of the layer store.
 *
 * A pull, as the engine drives it, for `127.0.0.1:5000/team/app:v1`:
 *
 *   const reg = await RegistryClient.open('127.0.0.1:5000', { signal });
 *   //   endpoint.ts  loopback → insecure: HTTPS without verification, then plain HTTP
 *   //   transport.ts certs.d CAs (STRATA_CERTS_D), keep-alive agents
 *   //   credentials.ts  config.json's auths["127.0.0.1:5000"] (or a credential helper)
 *   //   GET /v2/ → 401 + `WWW-Authenticate: Bearer realm=…` teaches auth.ts what to send
 *   const top = await reg.getManifest('team/app', 'v1');       // Accept: the 4 manifest types
 *   let m = parseManifest(top.bytes, top.contentType);         // manifest.ts
 *   if (m.kind === 'index') m = parseManifest((await reg.getManifest('team/app', pickPlatform(m, host).digest)).bytes);
 *   const config = await reg.getBlob('team/app', m.config);    // digest checked = image ID
 *   for (const l of m.layers) await reg.downloadBlob('team/app', l, tmpFile);   // verified, Range-resumed
 *   reg.close();
 *
 * and a push of one layer: `blobExists` (HEAD: skip it), else `mountBlob` from a repository the
 * `distribution/` mappings name, else `uploadBlob` (POST, one streamed PATCH hashed on the way,
 * `PUT ?digest=`); then the config with `uploadBlobBytes`, then `putManifest`
 * (`imageManifestBytes`: schema 2 for gzip layers, OCI otherwise).
 *
 * Rules every request follows (client.ts): `Authorization` for the scope it needs (Basic, or a
 * Bearer token per scope set, cached until it expires; one re-authentication on a 401);
 * redirects followed by hand, dropping `Authorization` when the host changes; retries with
 * backoff on network errors, 429 and 5xx (retry.ts, honouring `Retry-After`), never on other
 * 4xx; every manifest and blob checked against its digest. Errors are one line in docker's
 * words (errors.ts): `unauthorized: authentication required`, `manifest unknown: manifest
 * unknown`, `toomanyrequests: …`, `received unexpected HTTP status: 500 Internal Server Error`.
 */
export { RegistryClient, type RegistryClientOptions, type FetchedManifest, type DownloadOptions, type UploadOptions } from './client.js';
export { Authenticator, type Credentials } from './auth.js';
export { parseChallenges, type Challenge } from './challenge.js';
export { endpointFor, isInsecure, splitHostPort, DOCKER_HUB_CREDENTIAL_KEY, type Endpoint, type EndpointOptions } from './endpoint.js';
export { RegistryError, NetworkError, responseError, parseErrorBody, parseRetryAfter, formatEntries, type RegistryErrorEntry } from './errors.js';
export { loadCredentials, saveCredentials, removeCredentials, dockerConfigPath, credentialHost, marshalIndentTabs } from './credentials.js';
export {
  MEDIA_TYPES,
  MANIFEST_ACCEPT,
  parseManifest,
  pickPlatform,
  isForeignLayer,
  imageManifestBytes,
  type Descriptor,
  type Manifest,
  type ImageManifest,
  type IndexManifest,
} from './manifest.js';
export { DEFAULT_RETRY, retryPolicyFromEnv, isRetryable, retryDelay, withRetries, sleep, type RetryPolicy, type RetryOptions } from './retry.js';
export { Transport, readCertsDir, certsDir, readBody, bodyChunks, discard, type TlsFiles, type HttpRequest, type HttpResponse, type TransportOptions } from './transport.js';
export { limiter } from './pool.js';
