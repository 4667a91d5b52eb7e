/**
 * Where a reference's registry is, and how it may be reached — dockerd's rules:
 *
 *   endpointFor('docker.io')        // { address: 'registry-1.docker.io', secure: true,
 *                                   //   credentialKey: 'https://index.docker.io/v1/' }
 *   endpointFor('127.0.0.1:5000')   // { address: '127.0.0.1:5000', secure: false, … }
 *   endpointFor('reg.example', { insecureRegistries: ['reg.example'] })   // secure: false
 *
 * A secure registry is spoken to over HTTPS, verified against the system's roots plus the CAs in
 * `/etc/docker/certs.d/<host[:port]>/*.crt` (`STRATA_CERTS_D` overrides the directory). An
 * insecure one — loopback (`localhost`, 127.0.0.0/8, `::1`), or named by `--insecure-registry` or
 * `STRATA_INSECURE_REGISTRIES` (a host, host:port, or an IPv4 CIDR) — is tried over HTTPS without
 * verifying the certificate first, then over plain HTTP, as dockerd does.
 */
import net from 'node:net';
import { DEFAULT_DOMAIN } from '../image/reference/index.js';

export interface Endpoint {
  /** The registry as references name it: `docker.io`, `127.0.0.1:5000`. */
  domain: string;
  /** host[:port] to connect to (Docker Hub's API lives at `registry-1.docker.io`). */
  address: string;
  /** False: HTTPS without verification, then plain HTTP, are allowed. */
  secure: boolean;
  /** The key of this registry in `config.json`'s `auths` (Docker Hub's is its old v1 URL). */
  credentialKey: string;
}

export interface EndpointOptions {
  /** Extra insecure registries (`--insecure-registry`): host, host:port or IPv4 CIDR. */
  insecureRegistries?: readonly string[];
  /** The environment to read `STRATA_INSECURE_REGISTRIES` from. Default: `process.env`. */
  env?: NodeJS.ProcessEnv;
}

/** Docker Hub's credentials key, as `docker login` writes it. */
export const DOCKER_HUB_CREDENTIAL_KEY = 'https://index.docker.io/v1/';
const DOCKER_HUB_ADDRESS = 'registry-1.docker.io';

/** The endpoint of the registry `domain` (a reference's domain, after normalisation). */
export function endpointFor(domain: string, opts: EndpointOptions = {}): Endpoint {
  const hub = domain === DEFAULT_DOMAIN || domain === 'index.docker.io' || domain === DOCKER_HUB_ADDRESS;
  const address = hub ? DOCKER_HUB_ADDRESS : domain;
  const insecure = [...(opts.insecureRegistries ?? []), ...envList(opts.env ?? process.env)];
  return {
    domain: hub ? DEFAULT_DOMAIN : domain,
    address,
    secure: !isInsecure(address, insecure),
    credentialKey: hub ? DOCKER_HUB_CREDENTIAL_KEY : domain,
  };
}

function envList(env: NodeJS.ProcessEnv): string[] {
  return (env.STRATA_INSECURE_REGISTRIES ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

/** `host:port` → [host, port]; `[::1]:5000` → ['::1', '5000']; no port → [host, undefined]. */
export function splitHostPort(address: string): [string, string | undefined] {
  const v6 = /^\[([^\]]+)\](?::(\d+))?$/.exec(address);
  if (v6) return [v6[1]!, v6[2]];
  const i = address.lastIndexOf(':');
  if (i > 0 && address.indexOf(':') === i) return [address.slice(0, i), address.slice(i + 1)];
  return [address, undefined];
}

function isLoopback(host: string): boolean {
  if (host === 'localhost' || host.endsWith('.localhost')) return true;
  if (net.isIPv4(host)) return host.startsWith('127.');
  if (net.isIPv6(host)) return host === '::1' || host === '0:0:0:0:0:0:0:1';
  return false;
}

function ipv4ToInt(ip: string): number {
  return ip.split('.').reduce((n, part) => ((n << 8) | Number(part)) >>> 0, 0);
}

function inCidr(host: string, cidr: string): boolean {
  const m = /^(\d+\.\d+\.\d+\.\d+)\/(\d+)$/.exec(cidr);
  if (!m || !net.isIPv4(host) || !net.isIPv4(m[1]!)) return false;
  const bits = Number(m[2]);
  if (bits > 32) return false;
  const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
  return (ipv4ToInt(host) & mask) === (ipv4ToInt(m[1]!) & mask);
}

/** Whether `address` (host[:port]) may be reached without TLS verification. */
export function isInsecure(address: string, insecureRegistries: readonly string[]): boolean {
  const [host] = splitHostPort(address);
  if (isLoopback(host)) return true;
  return insecureRegistries.some((entry) => {
    const e = entry.replace(/^[a-z]+:\/\//i, '').replace(/\/+$/, '');
    return e === address || e === host || inCidr(host, e);
  });
}
