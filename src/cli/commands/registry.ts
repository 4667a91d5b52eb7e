/**
 * Registry verbs, as docker spells them:
 *
 *   strata pull REF [--platform os/arch[/variant]] [-q]      per-layer progress, then Digest/Status/REF
 *   strata push REF [--compression gzip|zstd] [-q]           `<id>: Pushed`, then `TAG: digest: … size: N`
 *   strata login [SERVER] -u USER (-p PASS | --password-stdin)   `Login Succeeded`
 *   strata logout [SERVER]
 *
 * pull, push and login take `--insecure-registry HOST[:PORT]` (repeatable; also the env
 * `STRATA_INSECURE_REGISTRIES`). Layer lines go to stdout as docker's do: redrawn in place on a
 * terminal, one line per status change elsewhere; `--json` prints only the result document and
 * `-q` only the reference. Ctrl-C stops the transfer, leaves nothing registered, exits 130.
 */
import type { Command } from 'commander';
import { StrataError } from '../../errors/index.js';
import { parseNormalizedNamed } from '../../image/reference/index.js';
import { pullImage, type PullProgress } from '../../engine/pull.js';
import { pushImage, type PushProgress } from '../../engine/push.js';
import { parsePlatform } from '../../engine/platform.js';
import { RegistryClient, endpointFor, credentialHost, saveCredentials, removeCredentials, DOCKER_HUB_CREDENTIAL_KEY } from '../../registry/index.js';
import { emit } from '../output.js';
import { humanSize, interruptible } from '../store.js';
import { withEngineFor, type Globals } from '../engine.js';
import { packageVersion } from '../version.js';

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/**
 * Layer lines as docker draws them. On a terminal each layer keeps its line, redrawn in place
 * (at most 10 times a second per layer); elsewhere every status change is one line and byte
 * counts are not printed.
 */
class LayerLines {
  readonly #out = process.stdout;
  readonly #tty: boolean;
  readonly #quiet: boolean;
  readonly #ids: string[] = [];
  readonly #text = new Map<string, string>();
  readonly #last = new Map<string, number>();
  readonly #status = new Map<string, string>();

  constructor(quiet: boolean) {
    this.#quiet = quiet;
    this.#tty = !quiet && this.#out.isTTY === true;
  }

  line(text: string): void {
    if (!this.#quiet) this.#out.write(`${text}\n`);
  }

  update(id: string, status: string, current?: number, total?: number): void {
    if (this.#quiet) return;
    const counting = current !== undefined && total !== undefined;
    if (!this.#tty) {
      if (counting && this.#status.get(id) === status) return;
      this.#status.set(id, status);
      if (status !== 'Downloading' && status !== 'Extracting' && status !== 'Pushing') this.#out.write(`${id}: ${status}\n`);
      return;
    }
    const now = Date.now();
    if (counting && current < total && this.#status.get(id) === status && now - (this.#last.get(id) ?? 0) < 100) return;
    this.#last.set(id, now);
    this.#status.set(id, status);
    const text = counting ? `${id}: ${status} ${bar(current, total)} ${humanSize(current)}/${humanSize(total)}` : `${id}: ${status}`;
    const index = this.#ids.indexOf(id);
    if (index < 0) {
      this.#ids.push(id);
      this.#text.set(id, text);
      this.#out.write(`${text}\n`);
      return;
    }
    this.#text.set(id, text);
    const up = this.#ids.length - index;
    this.#out.write(`\x1b[${up}A\r\x1b[2K${text}\x1b[${up}B\r`);
  }
}

function bar(current: number, total: number): string {
  const width = 50;
  const fill = total > 0 ? Math.min(width, Math.floor((current / total) * width)) : width;
  return `[${'='.repeat(Math.max(0, fill - 1))}${fill > 0 && fill < width ? '>' : fill === width ? '=' : ''}${' '.repeat(width - fill)}]`;
}

function userAgent(): string {
  return `strata/${packageVersion()}`;
}

/** The registry a login names: Docker Hub without SERVER, else its host[:port]. */
function loginTarget(server: string | undefined): { domain: string; key: string } {
  if (server === undefined || server === '' || /^(https?:\/\/)?(index\.)?docker\.io(\/|$)/.test(server) || server === DOCKER_HUB_CREDENTIAL_KEY) {
    return { domain: 'docker.io', key: DOCKER_HUB_CREDENTIAL_KEY };
  }
  const host = credentialHost(server);
  return { domain: host, key: endpointFor(host).credentialKey };
}

async function readStdin(): Promise<string> {
  const parts: Buffer[] = [];
  for await (const chunk of process.stdin as AsyncIterable<Buffer>) parts.push(chunk);
  return Buffer.concat(parts).toString('utf8');
}

export function register(program: Command, globals: () => Globals): void {
  program
    .command('pull')
    .description('pull an image from a registry')
    .argument('<REF>', 'name[:tag] or name@digest, e.g. busybox, 127.0.0.1:5000/app:1')
    .option('--platform <os/arch[/variant]>', 'the platform to pick from a multi-platform image (default: this host)')
    .option('-q, --quiet', 'print only the reference')
    .option('--insecure-registry <HOST>', 'allow HTTPS without verification, then HTTP, for HOST[:PORT] (repeatable)', collect, [])
    .action(async (refText: string, opts: { platform?: string; quiet?: boolean; insecureRegistry: string[] }) => {
      const g = globals();
      const platform = opts.platform ? parsePlatform(opts.platform) : undefined;
      const lines = new LayerLines(g.json || (opts.quiet ?? false));
      if (parseNormalizedNamed(refText).isNameOnly()) lines.line('Using default tag: latest');
      const result = await withEngineFor(g, false, (engine) =>
        interruptible((signal) =>
          pullImage(engine, refText, {
            signal,
            insecure: opts.insecureRegistry,
            ...(platform ? { platform } : {}),
            onProgress: (e: PullProgress) => {
              if (e.kind === 'start') lines.line(`${e.tagOrDigest}: Pulling from ${e.repository}`);
              else if (e.kind === 'layer') lines.update(e.id, e.status, e.current, e.total);
              else if (!g.json) process.stderr.write(`strata: ${e.message}; retrying in ${Math.max(1, Math.round(e.delayMs / 1000))} s\n`);
            },
          }),
        ),
      );
      if (g.json) {
        emit(g, { ref: result.ref, id: result.id, digest: result.digest, layers: result.layers }, () => '');
        return;
      }
      if (!opts.quiet) {
        lines.line(`Digest: ${result.digest}`);
        lines.line(`Status: ${result.status === 'up-to-date' ? 'Image is up to date' : 'Downloaded newer image'} for ${result.familiarRef}`);
      }
      process.stdout.write(`${result.ref}\n`);
    });

  program
    .command('push')
    .description('push an image to a registry')
    .argument('<REF>', 'name[:tag] of a local image, e.g. 127.0.0.1:5000/app:1')
    .option('--compression <gzip|zstd>', 'how new layer blobs are compressed (zstd gives an OCI manifest)', 'gzip')
    .option('-q, --quiet', 'print only the digest line')
    .option('--insecure-registry <HOST>', 'allow HTTPS without verification, then HTTP, for HOST[:PORT] (repeatable)', collect, [])
    .action(async (refText: string, opts: { compression: string; quiet?: boolean; insecureRegistry: string[] }) => {
      if (opts.compression !== 'gzip' && opts.compression !== 'zstd') {
        throw new StrataError('INVALID_COMPRESSION', `unknown compression ${JSON.stringify(opts.compression)}: gzip or zstd`);
      }
      const g = globals();
      const lines = new LayerLines(g.json || (opts.quiet ?? false));
      const result = await withEngineFor(g, false, (engine) =>
        interruptible((signal) =>
          pushImage(engine, refText, {
            signal,
            insecure: opts.insecureRegistry,
            compression: opts.compression as 'gzip' | 'zstd',
            onProgress: (e: PushProgress) => {
              if (e.kind === 'start') lines.line(`The push refers to repository [${e.repository}]`);
              else if (e.kind === 'layer') lines.update(e.id, e.status, e.current, e.total);
              else if (!g.json) process.stderr.write(`strata: ${e.message}; retrying in ${Math.max(1, Math.round(e.delayMs / 1000))} s\n`);
            },
          }),
        ),
      );
      emit(g, { ref: result.ref, digest: result.digest, size: result.size, layers: result.layers }, (r) => `${result.tag}: digest: ${r.digest} size: ${r.size}\n`);
    });

  program
    .command('login')
    .description("log in to a registry (credentials in docker's config.json)")
    .argument('[SERVER]', 'registry host[:port]; default: Docker Hub')
    .option('-u, --username <USER>', 'user name')
    .option('-p, --password <PASS>', 'password (prefer --password-stdin)')
    .option('--password-stdin', 'read the password from stdin')
    .option('--insecure-registry <HOST>', 'allow HTTPS without verification, then HTTP, for HOST[:PORT] (repeatable)', collect, [])
    .action(async (server: string | undefined, opts: { username?: string; password?: string; passwordStdin?: boolean; insecureRegistry: string[] }) => {
      const g = globals();
      if (opts.password !== undefined && opts.passwordStdin) throw new StrataError('LOGIN_USAGE', '--password and --password-stdin are mutually exclusive');
      if (!opts.username) throw new StrataError('LOGIN_USAGE', opts.passwordStdin ? 'Must provide --username with --password-stdin' : 'a user name is required: -u USER');
      let password = opts.password;
      if (opts.passwordStdin) {
        if (process.stdin.isTTY) throw new StrataError('LOGIN_USAGE', '--password-stdin: stdin is a terminal; pipe the password in');
        password = (await readStdin()).replace(/\r?\n$/, '');
      } else if (password !== undefined && !g.json) {
        process.stderr.write('WARNING! Using --password via the CLI is insecure. Use --password-stdin.\n');
      }
      if (password === undefined || password === '') throw new StrataError('LOGIN_USAGE', 'a password is required: -p PASS or --password-stdin');
      const target = loginTarget(server);
      const client = await RegistryClient.open(target.domain, {
        credentials: { username: opts.username, password },
        insecureRegistries: opts.insecureRegistry,
        userAgent: userAgent(),
      });
      try {
        await client.login();
      } finally {
        client.close();
      }
      const file = saveCredentials(target.key, { username: opts.username, password });
      emit(g, { server: target.key, username: opts.username, stored: file }, () => 'Login Succeeded\n');
    });

  program
    .command('logout')
    .description('forget the credentials of a registry')
    .argument('[SERVER]', 'registry host[:port]; default: Docker Hub')
    .action((server: string | undefined) => {
      const g = globals();
      const target = loginTarget(server);
      const removed = removeCredentials(target.key);
      emit(g, { server: target.key, removed }, () => (removed ? `Removing login credentials for ${target.key}\n` : `Not logged in to ${target.key}\n`));
    });
}

