/**
 * Registry credentials where docker keeps them: `$DOCKER_CONFIG/config.json` (default
 * `~/.docker/config.json`), read and written as the docker CLI does.
 *
 *   saveCredentials('127.0.0.1:5000', { username: 'u', password: 'p' });
 *   // config.json (mode 0600, tab-indented, no trailing newline, other keys kept):
 *   // {
 *   //         "auths": {
 *   //                 "127.0.0.1:5000": {
 *   //                         "auth": "dTpw"
 *   //                 }
 *   //         }
 *   // }
 *   loadCredentials('127.0.0.1:5000')     // { username: 'u', password: 'p' }
 *   removeCredentials('127.0.0.1:5000')   // true: the entry is gone
 *
 * Keys are matched as docker matches them: exactly, or by host once a scheme and path are
 * stripped (`https://reg.example/v1/` is `reg.example`). When config.json names a credential
 * helper (`credHelpers[host]`, else `credsStore`), the secret lives in
 * `docker-credential-<helper>` (`get`/`store`/`erase`, JSON on stdin/stdout) instead.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { goJsonString } from '../archive/gostrings.js';
import { StrataError } from '../errors/index.js';
import type { Credentials } from './auth.js';

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type ConfigFile = { [k: string]: Json };

/** `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`. */
export function dockerConfigPath(env: NodeJS.ProcessEnv = process.env): string {
  const dir = env.DOCKER_CONFIG || path.join(env.HOME || os.homedir(), '.docker');
  return path.join(dir, 'config.json');
}

function readConfig(file: string): ConfigFile {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw new StrataError('DOCKER_CONFIG_UNREADABLE', `cannot read ${file}: ${(e as Error).message}`);
  }
  if (text.trim() === '') return {};
  try {
    const doc = JSON.parse(text) as unknown;
    if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new Error('not a JSON object');
    return doc as ConfigFile;
  } catch (e) {
    throw new StrataError('DOCKER_CONFIG_INVALID', `${file} is not valid JSON: ${(e as Error).message}`);
  }
}

/** docker's `ConvertToHostname`: `https://host/v1/` → `host`. */
export function credentialHost(key: string): string {
  return key.replace(/^[a-z]+:\/\//i, '').split('/')[0]!;
}

function objectAt(doc: ConfigFile, key: string): Record<string, Json> {
  const v = doc[key];
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? v : {};
}

function helperFor(doc: ConfigFile, key: string): string | undefined {
  const helpers = objectAt(doc, 'credHelpers');
  const h = helpers[credentialHost(key)] ?? helpers[key];
  if (typeof h === 'string' && h) return h;
  return typeof doc.credsStore === 'string' && doc.credsStore ? doc.credsStore : undefined;
}

function runHelper(helper: string, verb: 'get' | 'store' | 'erase', input: string): string {
  const r = spawnSync(`docker-credential-${helper}`, [verb], { input, encoding: 'utf8' });
  if (r.error) {
    const why = (r.error as NodeJS.ErrnoException).code === 'ENOENT' ? 'executable file not found in $PATH' : r.error.message;
    throw new StrataError('CREDENTIAL_HELPER', `error ${verb === 'get' ? 'getting' : verb === 'store' ? 'storing' : 'erasing'} credentials - err: exec: "docker-credential-${helper}": ${why}`);
  }
  if (r.status !== 0) {
    const out = (r.stdout || r.stderr).trim();
    throw new StrataError('CREDENTIAL_HELPER', `error ${verb === 'get' ? 'getting' : verb === 'store' ? 'storing' : 'erasing'} credentials - err: docker-credential-${helper} ${verb}: ${out || `exit status ${r.status}`}`);
  }
  return r.stdout;
}

/** The auths entry for `key`: exact, else the first whose host matches. */
function findAuth(auths: Record<string, Json>, key: string): [string, Record<string, Json>] | undefined {
  const exact = auths[key];
  if (typeof exact === 'object' && exact !== null && !Array.isArray(exact)) return [key, exact];
  const host = credentialHost(key);
  for (const [k, v] of Object.entries(auths)) {
    if (credentialHost(k) === host && typeof v === 'object' && v !== null && !Array.isArray(v)) return [k, v];
  }
  return undefined;
}

/** The credentials stored for registry `key` (a host[:port], or Docker Hub's URL), if any. */
export function loadCredentials(key: string, env: NodeJS.ProcessEnv = process.env): Credentials | undefined {
  const doc = readConfig(dockerConfigPath(env));
  const helper = helperFor(doc, key);
  if (helper) {
    let out: string;
    try {
      out = runHelper(helper, 'get', key);
    } catch (e) {
      // A helper that has nothing for this server says so on stdout and exits 1: no credentials.
      if (/credentials not found/i.test((e as Error).message)) return undefined;
      throw e;
    }
    const got = JSON.parse(out) as { Username?: string; Secret?: string };
    if (!got.Secret) return undefined;
    return got.Username === '<token>' ? { identityToken: got.Secret } : { username: got.Username ?? '', password: got.Secret };
  }
  const found = findAuth(objectAt(doc, 'auths'), key);
  if (!found) return undefined;
  const entry = found[1];
  const creds: Credentials = {};
  if (typeof entry.auth === 'string' && entry.auth) {
    const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
    const i = decoded.indexOf(':');
    if (i < 0) throw new StrataError('DOCKER_CONFIG_INVALID', `${dockerConfigPath(env)}: the auth of ${found[0]} is not base64 of user:password`);
    creds.username = decoded.slice(0, i);
    creds.password = decoded.slice(i + 1);
  } else {
    if (typeof entry.username === 'string' && entry.username) creds.username = entry.username;
    if (typeof entry.password === 'string' && entry.password) creds.password = entry.password;
  }
  if (typeof entry.identitytoken === 'string' && entry.identitytoken) creds.identityToken = entry.identitytoken;
  if (typeof entry.registrytoken === 'string' && entry.registrytoken) creds.registryToken = entry.registrytoken;
  return Object.keys(creds).length > 0 ? creds : undefined;
}

/** Go's `json.MarshalIndent(v, "", "\t")` for a JSON value whose key order is already right. */
export function marshalIndentTabs(v: Json, indent = ''): string {
  if (v === null || typeof v === 'boolean' || typeof v === 'number') return JSON.stringify(v);
  if (typeof v === 'string') return goJsonString(v);
  const inner = indent + '\t';
  if (Array.isArray(v)) {
    if (v.length === 0) return '[]';
    return `[\n${v.map((x) => inner + marshalIndentTabs(x, inner)).join(',\n')}\n${indent}]`;
  }
  const keys = Object.keys(v);
  if (keys.length === 0) return '{}';
  return `{\n${keys.map((k) => `${inner}${goJsonString(k)}: ${marshalIndentTabs(v[k]!, inner)}`).join(',\n')}\n${indent}}`;
}

function sortedObject(o: Record<string, Json>): Record<string, Json> {
  return Object.fromEntries(Object.keys(o).sort().map((k) => [k, o[k]!]));
}

/** Writes config.json atomically, mode 0600, `auths` first and sorted as Go's map marshalling. */
function writeConfig(file: string, doc: ConfigFile): void {
  const out: ConfigFile = { auths: sortedObject(objectAt(doc, 'auths')) };
  for (const [k, v] of Object.entries(doc)) if (k !== 'auths') out[k] = v;
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.tmp-${process.pid}`);
  try {
    fs.writeFileSync(tmp, marshalIndentTabs(out), { mode: 0o600 });
    fs.chmodSync(tmp, 0o600);
    fs.renameSync(tmp, file);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw new StrataError('DOCKER_CONFIG_UNWRITABLE', `cannot write ${file}: ${(e as Error).message}`);
  }
}

/** Stores `username`/`password` for registry `key`, as `docker login` does. Returns the file written (or the helper used). */
export function saveCredentials(key: string, creds: { username: string; password: string }, env: NodeJS.ProcessEnv = process.env): string {
  const file = dockerConfigPath(env);
  const doc = readConfig(file);
  const helper = helperFor(doc, key);
  const auths = { ...objectAt(doc, 'auths') };
  if (helper) {
    runHelper(helper, 'store', JSON.stringify({ ServerURL: key, Username: creds.username, Secret: creds.password }));
    auths[key] = {}; // docker keeps an empty entry so `docker info` lists the registry
    writeConfig(file, { ...doc, auths });
    return `docker-credential-${helper}`;
  }
  const existing = findAuth(auths, key);
  if (existing && existing[0] !== key) delete auths[existing[0]];
  auths[key] = { auth: Buffer.from(`${creds.username}:${creds.password}`).toString('base64') };
  writeConfig(file, { ...doc, auths });
  return file;
}

/** Forgets the credentials of registry `key`, as `docker logout`; false if there were none. */
export function removeCredentials(key: string, env: NodeJS.ProcessEnv = process.env): boolean {
  const file = dockerConfigPath(env);
  const doc = readConfig(file);
  const auths = { ...objectAt(doc, 'auths') };
  const found = findAuth(auths, key);
  const helper = helperFor(doc, key);
  if (helper) {
    try {
      runHelper(helper, 'erase', key);
    } catch {
      if (!found) return false;
    }
  }
  if (!found) return helper !== undefined;
  delete auths[found[0]];
  writeConfig(file, { ...doc, auths });
  return true;
}
