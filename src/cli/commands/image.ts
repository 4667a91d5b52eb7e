/**
 * Image verbs, as docker spells them:
 *
 *   strata load [-i FILE] [--platform os/arch]   docker save archive, OCI archive or layout dir; stdin without -i
 *   strata save IMAGE... [-o FILE] [--format docker|oci]
 *   strata images [-q]                           REPOSITORY, TAG, IMAGE ID, CREATED, SIZE
 *   strata tag SOURCE TARGET
 *   strata rmi [-f] IMAGE...                     `Untagged: …`, `Deleted: …`
 *   strata inspect NAME...                       images (docker image inspect's shape) or containers
 *   strata history IMAGE                         IMAGE, CREATED, CREATED BY, SIZE, COMMENT
 *   strata prune [-a]                            dangling images (all unused with -a)
 *
 * Every one takes `--json`; load, save and prune show progress on a terminal.
 */
import fs from 'node:fs';
import type { Command } from 'commander';
import { chainIds } from '../../digest/index.js';
import { StrataError, fileError } from '../../errors/index.js';
import { diffIdsOf, marshalContainerConfig } from '../../image/config.js';
import type { ImageRecord } from '../../image/store.js';
import { parseNormalizedNamed } from '../../image/reference/index.js';
import { loadImages } from '../../engine/load/load.js';
import { parsePlatform } from '../../engine/platform.js';
import { pruneImages, removeImage, type DeleteRecord } from '../../engine/rmi.js';
import { saveImages, saveSelection } from '../../engine/save.js';
import type { Engine } from '../../engine/engine.js';
import { emit, errorLine, table } from '../output.js';
import { progressBar } from '../progress.js';
import { ExitCode, humanSize, interruptible, refuseTerminal, shortId, writeOutput } from '../store.js';
import { withEngineFor, timeAgo, type Globals } from '../engine.js';

/** What `images --json` gives per image. */
export interface ImageSummary {
  id: string;
  repoTags: string[];
  repoDigests: string[];
  /** DiffIDs, bottom first. */
  layers: string[];
  /** Bytes of all its layers. */
  size: number;
  created: string;
  parent?: string;
}

function summary(engine: Engine, img: ImageRecord): ImageSummary {
  const refs = engine.images.references.references(img.id);
  const parent = engine.images.parentOf(img.id);
  return {
    id: img.id,
    repoTags: refs.filter((r) => r.digest === undefined).map((r) => r.familiarString()),
    repoDigests: refs.filter((r) => r.digest !== undefined).map((r) => r.familiarString()),
    layers: img.config.rootfs.diff_ids,
    size: img.topChainId ? engine.layers.layer(img.topChainId).totalSize : 0,
    created: img.config.created,
    ...(parent ? { parent } : {}),
  };
}

function renderImages(list: ImageSummary[]): string {
  const rows: string[][] = [];
  for (const img of list) {
    const tags = img.repoTags.length ? img.repoTags : ['<none>:<none>'];
    for (const t of tags) {
      const i = t.lastIndexOf(':');
      rows.push([t.slice(0, i), t.slice(i + 1), shortId(img.id), timeAgo(img.created), humanSize(img.size)]);
    }
  }
  return table(['REPOSITORY', 'TAG', 'IMAGE ID', 'CREATED', 'SIZE'], rows);
}

function renderDeletes(records: DeleteRecord[]): string {
  return records.map((r) => (r.untagged ? `Untagged: ${r.untagged}\n` : `Deleted: ${r.deleted}\n`)).join('');
}

/** `docker image inspect`'s shape. */
function inspectImage(engine: Engine, img: ImageRecord): Record<string, unknown> {
  const s = summary(engine, img);
  const c = img.config;
  const top = img.topChainId ? engine.layers.layer(img.topChainId) : undefined;
  return {
    Id: img.id,
    RepoTags: s.repoTags,
    RepoDigests: s.repoDigests,
    Parent: s.parent ?? '',
    Comment: c.comment,
    Created: c.created,
    Container: c.container,
    ContainerConfig: JSON.parse(marshalContainerConfig(c.container_config, 'container_config')) as unknown,
    DockerVersion: c.docker_version,
    Author: c.author,
    Config: c.config === null ? null : (JSON.parse(marshalContainerConfig(c.config)) as unknown),
    Architecture: c.architecture,
    ...(c.variant ? { Variant: c.variant } : {}),
    Os: c.os,
    Size: s.size,
    VirtualSize: s.size,
    GraphDriver: { Name: engine.layers.driver.name, Data: top ? { cacheId: top.cacheId } : null },
    RootFS: { Type: c.rootfs.type, Layers: c.rootfs.diff_ids },
    Metadata: { LastTagTime: safe(() => engine.images.db.getLastUpdated(img.id)) ?? '0001-01-01T00:00:00Z' },
  };
}

function safe<T>(f: () => T): T | undefined {
  try {
    return f();
  } catch {
    return undefined;
  }
}

interface HistoryRow {
  id: string;
  created: string;
  createdBy: string;
  size: number;
  comment: string;
  emptyLayer: boolean;
}

function history(engine: Engine, img: ImageRecord): HistoryRow[] {
  const chains = chainIds(diffIdsOf(img.config));
  let layer = 0;
  const rows = img.config.history.map((h) => {
    const size = h.empty_layer ? 0 : chains[layer] && engine.layers.has(chains[layer]!) ? engine.layers.layer(chains[layer]!).size : 0;
    if (!h.empty_layer) layer++;
    return { id: '<missing>', created: h.created, createdBy: h.created_by, size, comment: h.comment, emptyLayer: h.empty_layer };
  });
  rows.reverse();
  if (rows[0]) rows[0].id = img.id;
  return rows;
}

export function register(program: Command, globals: () => Globals): void {
  program
    .command('load')
    .description('load images from a docker save archive, an OCI archive or an OCI layout directory')
    .option('-i, --input <FILE>', 'read FILE (a tar, compressed or not, or a layout directory) instead of stdin')
    .option('--platform <os/arch>', 'the platform to pick from a multi-platform index (default: this host)')
    .option('-q, --quiet', 'no progress bar')
    .action(async (opts: { input?: string; platform?: string; quiet?: boolean }) => {
      const platform = opts.platform ? parsePlatform(opts.platform) : undefined;
      let input: string | NodeJS.ReadableStream;
      if (opts.input !== undefined && opts.input !== '-') {
        try {
          fs.statSync(opts.input);
        } catch (e) {
          throw fileError('open', opts.input, e);
        }
        input = opts.input;
      } else {
        if (process.stdin.isTTY) throw new StrataError('INPUT_IS_TERMINAL', 'requested load from stdin, but stdin is empty: use -i FILE or pipe an archive in');
        // `strata load < file`: a regular file is read in place, as with -i, not spooled.
        input = fs.fstatSync(0).isFile() ? '/dev/stdin' : process.stdin;
      }
      const g = globals();
      const result = await withEngineFor(g, false, (engine) =>
        interruptible(async (signal) => {
          const bar = progressBar('Loading layers', 0, 'bytes', opts.quiet || g.json);
          try {
            return await loadImages(engine, input, { signal, ...(platform ? { platform } : {}), onProgress: (d, t) => bar.update(d, t) });
          } finally {
            bar.finish();
          }
        }),
      );
      emit(g, result.images, () => result.messages.map((m) => `${m}\n`).join(''));
    });

  program
    .command('save')
    .description('save images to a docker save archive (or an OCI image layout with --format oci)')
    .argument('<IMAGE...>', 'names, name:tag, or IDs')
    .option('-o, --output <FILE>', 'write to FILE (atomically) instead of stdout')
    .option('--format <FORMAT>', 'docker (as docker save) or oci (OCI image layout, also loadable by docker)', 'docker')
    .option('-q, --quiet', 'no progress bar')
    .action(async (names: string[], opts: { output?: string; format: string; quiet?: boolean }) => {
      if (opts.format !== 'docker' && opts.format !== 'oci') throw new StrataError('INVALID_FORMAT', `unknown format ${JSON.stringify(opts.format)}: docker or oci`);
      refuseTerminal(opts.output, 'an archive');
      const g = globals();
      await withEngineFor(g, true, (engine) =>
        interruptible(async (signal) => {
          const selection = saveSelection(engine, names);
          const total = selection.reduce((n, s) => n + summary(engine, engine.images.get(s.id)).size, 0);
          const bar = progressBar('Saving', total, 'bytes', opts.quiet || g.json || opts.output === undefined || opts.output === '-');
          try {
            await writeOutput(opts.output, saveImages(engine, selection, { format: opts.format as 'docker' | 'oci', signal, onProgress: (b) => bar.update(b) }));
          } finally {
            bar.finish();
          }
        }),
      );
    });

  program
    .command('images')
    .description('list images')
    .option('-q, --quiet', 'only IDs')
    .action((opts: { quiet?: boolean }) =>
      withEngineFor(globals(), true, (engine) => {
        const list = engine.images
          .images()
          .map((img) => summary(engine, img))
          .sort((a, b) => (a.created < b.created ? 1 : a.created > b.created ? -1 : 0));
        if (opts.quiet && !globals().json) process.stdout.write([...new Set(list.map((i) => `${shortId(i.id)}\n`))].join(''));
        else emit(globals(), list, renderImages);
      }),
    );

  program
    .command('tag')
    .description('name an image: SOURCE (name or ID) gets TARGET (name[:tag])')
    .argument('<SOURCE>')
    .argument('<TARGET>')
    .action((source: string, target: string) =>
      withEngineFor(globals(), false, (engine) => {
        const ref = parseNormalizedNamed(target);
        const id = engine.images.resolve(source);
        engine.images.references.addTag(ref, id, true);
        engine.images.db.setLastUpdated(id);
        emit(globals(), { id, tag: ref.familiarString() }, () => '');
      }),
    );

  program
    .command('rmi')
    .description('remove images (untag by name; delete with the last name or by ID)')
    .argument('<IMAGE...>')
    .option('-f, --force', 'remove even if used by a container or named in several repositories')
    .action((refs: string[], opts: { force?: boolean }) =>
      withEngineFor(globals(), false, async (engine) => {
        const all: DeleteRecord[] = [];
        let failed = false;
        for (const ref of refs) {
          try {
            const records = await removeImage(engine, ref, { force: opts.force ?? false });
            all.push(...records);
            if (!globals().json) process.stdout.write(renderDeletes(records));
          } catch (e) {
            process.stderr.write(`${errorLine(e)}\n`);
            failed = true;
          }
        }
        if (globals().json) process.stdout.write(`${JSON.stringify(all, null, 2)}\n`);
        if (failed) throw new ExitCode(1);
      }),
    );

  program
    .command('inspect')
    .description('show images or containers as JSON')
    .argument('<NAME...>')
    .action((names: string[]) =>
      withEngineFor(globals(), true, (engine) => {
        const out: unknown[] = [];
        let failed = false;
        for (const n of names) {
          try {
            const c = engine.containers.find(n);
            if (c) out.push({ Id: c.id, Name: c.name, Image: c.image, Created: c.created, GraphDriver: { Name: engine.layers.driver.name, Data: { mountId: engine.layers.getMountId(c.id) } } });
            else out.push(inspectImage(engine, engine.images.get(engine.images.resolve(n))));
          } catch (e) {
            process.stderr.write(`${errorLine(e)}\n`);
            failed = true;
          }
        }
        process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
        if (failed) throw new ExitCode(1);
      }),
    );

  program
    .command('history')
    .description("show an image's history, newest first")
    .argument('<IMAGE>')
    .action((ref: string) =>
      withEngineFor(globals(), true, (engine) => {
        const rows = history(engine, engine.images.get(engine.images.resolve(ref)));
        emit(globals(), rows, (list) =>
          table(
            ['IMAGE', 'CREATED', 'CREATED BY', 'SIZE', 'COMMENT'],
            list.map((r) => [r.id === '<missing>' ? r.id : shortId(r.id), timeAgo(r.created), r.createdBy.length > 45 ? `${r.createdBy.slice(0, 44)}…` : r.createdBy, humanSize(r.size), r.comment]),
          ),
        );
      }),
    );

  program
    .command('prune')
    .description('remove dangling images (untagged, without children); with -a, every image no container uses')
    .option('-a, --all', 'all unused images, not just dangling ones')
    .action((opts: { all?: boolean }) =>
      withEngineFor(globals(), false, async (engine) => {
        const report = await pruneImages(engine, { all: opts.all ?? false });
        emit(globals(), report, (r) =>
          (r.deleted.length ? `Deleted Images:\n${r.deleted.map((d) => (d.untagged ? `untagged: ${d.untagged}\n` : `deleted: ${d.deleted}\n`)).join('')}\n` : '') +
          `Total reclaimed space: ${humanSize(r.spaceReclaimed)}\n`,
        );
      }),
    );
}
