/**
 * Container verbs: a container here is a named read-write layer on an image (strata runs no
 * processes), kept where dockerd keeps its own, so these are docker's verbs on that layer:
 *
 *   strata create IMAGE [--name NAME]        prints the container ID
 *   strata ps                                CONTAINER ID, IMAGE, CREATED, NAMES
 *   strata mount CONTAINER                   prints the merged root; stays mounted until umount
 *   strata umount CONTAINER
 *   strata diff CONTAINER                    `docker diff`: C /etc, A /etc/motd, D /tmp/x
 *   strata commit CONTAINER [REPO[:TAG]] [-m MSG] [-a AUTHOR]    prints the new image ID
 *   strata export CONTAINER|IMAGE [-o FILE]  the whole filesystem as one tar
 *   strata cp CONTAINER|IMAGE:PATH DEST      a file or directory out (DEST `-`: a file's bytes to stdout)
 *   strata rm CONTAINER...                   the RW and init layers deleted (unmounted first)
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { writeLayerTar } from '../../archive/diff/index.js';
import { StrataError } from '../../errors/index.js';
import { commitContainer, createContainer, removeContainer } from '../../engine/container.js';
import type { ContainerRecord } from '../../engine/containers.js';
import type { Engine } from '../../engine/engine.js';
import { scopedPath, withRootfs } from '../../engine/rootfs.js';
import type { LayerMetadata } from '../../layer/index.js';
import { emit, errorLine, table } from '../output.js';
import { ExitCode, interruptible, refuseTerminal, shortId, writeAll, writeOutput } from '../store.js';
import { timeAgo, withEngineFor, type Globals } from '../engine.js';

interface ContainerSummary extends ContainerRecord {
  imageNames: string[];
  mountId: string;
}

function summary(engine: Engine, c: ContainerRecord): ContainerSummary {
  const names = engine.images.has(c.image) ? engine.images.references.references(c.image).map((r) => r.familiarString()) : [];
  let mountId = '';
  try {
    mountId = engine.layers.getMountId(c.id);
  } catch {
    /* reported by fsck */
  }
  return { ...c, imageNames: names, mountId };
}

async function copyOut(src: string, dest: string): Promise<void> {
  const st = fs.lstatSync(src, { throwIfNoEntry: false });
  if (!st) throw new StrataError('NO_SUCH_PATH', `no such file or directory: ${dest === '-' ? 'source' : src}`);
  if (dest === '-') {
    if (!st.isFile()) throw new StrataError('NOT_A_FILE', 'only a regular file can be copied to stdout');
    refuseTerminal('-', 'file contents');
    await writeAll(process.stdout, fs.createReadStream(src, { highWaterMark: 1 << 20 }));
    return;
  }
  const target = fs.statSync(dest, { throwIfNoEntry: false })?.isDirectory() ? path.join(dest, path.basename(src)) : dest;
  await fs.promises.cp(src, target, { recursive: true, preserveTimestamps: true, verbatimSymlinks: true, errorOnExist: false, force: true });
  if (st.isFile()) fs.chmodSync(target, st.mode & 0o7777);
}

export function register(program: Command, globals: () => Globals): void {
  program
    .command('create')
    .description("create a container: a read-write layer on IMAGE, over Docker's init layer")
    .argument('<IMAGE>')
    .option('--name <NAME>', 'its name (default: the first 12 digits of its ID)')
    .action((image: string, opts: { name?: string }) =>
      withEngineFor(globals(), false, async (engine) => {
        const rec = await createContainer(engine, image, opts.name !== undefined ? { name: opts.name } : {});
        emit(globals(), rec, (r) => `${r.id}\n`);
      }),
    );

  program
    .command('ps')
    .description('list containers')
    .action(() =>
      withEngineFor(globals(), true, (engine) => {
        const list = engine.containers.list().map((c) => summary(engine, c));
        emit(globals(), list, (l) =>
          table(
            ['CONTAINER ID', 'IMAGE', 'CREATED', 'NAMES'],
            l.map((c) => [shortId(c.id), c.imageNames[0] ?? shortId(c.image), timeAgo(c.created), c.name]),
          ),
        );
      }),
    );

  program
    .command('mount')
    .description("mount a container's filesystem and print where (it stays mounted)")
    .argument('<CONTAINER>')
    .action((ref: string) =>
      withEngineFor(globals(), false, async (engine) => {
        const c = engine.containers.get(ref);
        const dir = await engine.layers.getRWLayer(c.id).mount();
        emit(globals(), { name: c.name, id: c.id, path: dir }, (r) => `${r.path}\n`);
      }),
    );

  program
    .command('umount')
    .description('unmount a container mounted by `strata mount`')
    .argument('<CONTAINER>')
    .action((ref: string) =>
      withEngineFor(globals(), false, async (engine) => {
        await engine.layers.getRWLayer(engine.containers.get(ref).id).unmount();
      }),
    );

  program
    .command('diff')
    .description("what a container changed, as `docker diff` shows it")
    .argument('<CONTAINER>')
    .action((ref: string) =>
      // Exclusive: overlay2 mounts to compare, and its mount counts are per process (see rw diff).
      withEngineFor(globals(), false, async (engine) => {
        const changes = (await engine.layers.getRWLayer(engine.containers.get(ref).id).changes()).map((c) => ({ kind: c.kind, path: c.path }));
        emit(globals(), changes, (list) => list.map((c) => `${c.kind} ${c.path}\n`).join(''));
      }),
    );

  program
    .command('commit')
    .description("make an image of a container's changes")
    .argument('<CONTAINER>')
    .argument('[REPOSITORY[:TAG]]')
    .option('-m, --message <MSG>', 'commit message')
    .option('-a, --author <AUTHOR>', 'author')
    .action((ref: string, tag: string | undefined, opts: { message?: string; author?: string }) =>
      withEngineFor(globals(), false, (engine) =>
        interruptible(async (signal) => {
          const r = await commitContainer(engine, ref, { signal, ...(tag ? { tag } : {}), ...(opts.message ? { comment: opts.message } : {}), ...(opts.author ? { author: opts.author } : {}) });
          emit(globals(), r, (x) => `${x.id}\n`);
        }),
      ),
    );

  program
    .command('export')
    .description("write a container's (or an image's) whole filesystem as a tar")
    .argument('<CONTAINER|IMAGE>')
    .option('-o, --output <FILE>', 'write to FILE (atomically) instead of stdout')
    .action(async (ref: string, opts: { output?: string }) => {
      refuseTerminal(opts.output, 'a tar');
      await withEngineFor(globals(), false, (engine) =>
        interruptible((signal) =>
          withRootfs(engine, ref, async (dir) => {
            signal.throwIfAborted();
            await writeOutput(opts.output, writeLayerTar(dir, { whiteouts: 'none' }));
          }),
        ),
      );
    });

  program
    .command('cp')
    .description('copy a file or directory out of a container or image: cp NAME:PATH DEST')
    .argument('<SOURCE>', 'CONTAINER:PATH or IMAGE:PATH')
    .argument('<DEST>', 'a path on the host, or - for a file to stdout')
    .action((source: string, dest: string) => {
      const i = source.indexOf(':/');
      const j = i >= 0 ? i : source.lastIndexOf(':');
      if (j <= 0) throw new StrataError('INVALID_COPY_SOURCE', `invalid source ${JSON.stringify(source)}: expected CONTAINER:PATH or IMAGE:PATH`);
      const name = source.slice(0, j);
      const inner = source.slice(j + 1);
      return withEngineFor(globals(), false, (engine) => withRootfs(engine, name, (dir) => copyOut(scopedPath(dir, inner), dest)));
    });

  program
    .command('rm')
    .description('remove containers (their read-write and init layers)')
    .argument('<CONTAINER...>')
    .action((refs: string[]) =>
      withEngineFor(globals(), false, async (engine) => {
        const removed: { name: string; deleted: LayerMetadata[] }[] = [];
        let failed = false;
        for (const ref of refs) {
          try {
            removed.push({ name: ref, deleted: await removeContainer(engine, ref) });
            if (!globals().json) process.stdout.write(`${ref}\n`);
          } catch (e) {
            process.stderr.write(`${errorLine(e)}\n`);
            failed = true;
          }
        }
        if (globals().json) process.stdout.write(`${JSON.stringify(removed, null, 2)}\n`);
        if (failed) throw new ExitCode(1);
      }),
    );
}
