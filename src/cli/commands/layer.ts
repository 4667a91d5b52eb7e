/**
 * `strata layer …`: the read-only layers of the layer store.
 *
 *   strata layer ls                     CHAIN ID, DIFF ID, PARENT, SIZE, DEPTH (--json: LayerInfo[])
 *   strata layer inspect ID...          always JSON: LayerInfo + driverData, one per ID
 *   strata layer add [FILE|-] [--parent ID]   register a tar (gzip/zstd/xz/bzip2 sniffed); prints the ChainID
 *   strata layer rm ID...               `Deleted: <chainId>` per layer gone (ancestors left unheld go too)
 *   strata layer tree                   the parent/child forest with the RW layers on each layer
 *   strata layer export ID [-o FILE]    the layer's tar, byte for byte as registered (verified)
 *
 * An ID is a ChainID, its hex, or a unique prefix of either (see resolveLayerId).
 */
import fs from 'node:fs';
import type { Command } from 'commander';
import { decompress } from '../../archive/compression.js';
import type { Digest } from '../../digest/index.js';
import { StrataError, fileError } from '../../errors/index.js';
import type { LayerInfo, LayerMetadata, LayerStore, MountInfo } from '../../layer/index.js';
import { emit, errorLine, table } from '../output.js';
import { withEngineFor, type Globals } from '../engine.js';
import {
  ExitCode,
  humanSize,
  interruptible,
  refuseTerminal,
  resolveLayerId,
  shortId,
  warnProblems,
  withLayerStore,
  writeOutput,
} from '../store.js';


// ---- ls -----------------------------------------------------------------------------------------

function renderLs(layers: LayerInfo[]): string {
  return table(
    ['CHAIN ID', 'DIFF ID', 'PARENT', 'SIZE', 'DEPTH'],
    layers.map((l) => [shortId(l.chainId), shortId(l.diffId), l.parent ? shortId(l.parent) : '', humanSize(l.size), String(l.depth)]),
  );
}

// ---- inspect ------------------------------------------------------------------------------------

export type InspectedLayer = LayerInfo & { driverData: Record<string, string> };

async function inspect(store: LayerStore, refs: string[]): Promise<{ found: InspectedLayer[]; failed: boolean }> {
  const found: InspectedLayer[] = [];
  let failed = false;
  for (const ref of refs) {
    try {
      const info = store.layer(resolveLayerId(store, ref));
      found.push({ ...info, driverData: await store.driver.metadata(info.cacheId) });
    } catch (e) {
      process.stderr.write(`${errorLine(e)}\n`);
      failed = true;
    }
  }
  return { found, failed };
}

// ---- add ----------------------------------------------------------------------------------------

export interface AddedLayer {
  chainId: Digest;
  diffId: Digest;
  size: number;
  parent?: Digest;
  cacheId: string;
}

/** The input of `layer add`: the named file (opened now, so a bad name fails before the store is touched) or stdin. */
function openInput(file: string | undefined): NodeJS.ReadableStream & { destroy(): void } {
  if (file === undefined || file === '-') {
    if (process.stdin.isTTY) {
      throw new StrataError('INPUT_IS_TERMINAL', 'refusing to read a layer tar from a terminal: name a FILE or pipe the tar into stdin');
    }
    return process.stdin;
  }
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch (e) {
    throw fileError('open', file, e);
  }
  try {
    if (fs.fstatSync(fd).isDirectory()) throw new StrataError('EISDIR', `read ${file}: is a directory`);
  } catch (e) {
    fs.closeSync(fd);
    throw e;
  }
  return fs.createReadStream(file, { fd, highWaterMark: 1 << 20 });
}

async function add(store: LayerStore, input: NodeJS.ReadableStream, parentRef: string | undefined): Promise<AddedLayer> {
  const parent = parentRef === undefined ? undefined : resolveLayerId(store, parentRef);
  // Held for this process, never released: if registering fails, its clean-up drops the hold it
  // took on the parent, which would otherwise delete a parent that nothing else holds.
  if (parent) store.get(parent);
  const l = await store.register(decompress(input), parent);
  return { chainId: l.chainId, diffId: l.diffId, size: l.size, ...(l.parent ? { parent: l.parent } : {}), cacheId: l.cacheId };
}

// ---- rm -----------------------------------------------------------------------------------------

/** `imageOf`: the image whose top layer each ChainID is — those layers are in use by it. */
async function remove(store: LayerStore, refs: string[], json: boolean, imageOf: Map<string, string>): Promise<{ deleted: LayerMetadata[]; failed: boolean }> {
  let failed = false;
  const fail = (e: unknown) => {
    process.stderr.write(`${errorLine(e)}\n`);
    failed = true;
  };
  // Resolved first: removing one layer may take an ancestor named later on the command line with it.
  const ids: Digest[] = [];
  for (const ref of refs) {
    try {
      ids.push(resolveLayerId(store, ref));
    } catch (e) {
      fail(e);
    }
  }
  // Children before their parents: `layer rm <base> <top>` removes the chain, whatever the order.
  const depth = new Map(store.layers().map((l) => [l.chainId, l.depth]));
  ids.sort((a, b) => depth.get(b)! - depth.get(a)!);
  const deleted: LayerMetadata[] = [];
  const gone = new Set<string>();
  for (const id of ids) {
    if (gone.has(id)) continue;
    try {
      const image = imageOf.get(id);
      if (image) throw new StrataError('LAYER_IN_USE', `layer ${id} is in use: the top layer of image ${shortId(image)}`);
      for (const d of await store.remove(id)) {
        gone.add(d.chainId);
        deleted.push(d);
        if (!json) process.stdout.write(`Deleted: ${d.chainId}\n`);
      }
    } catch (e) {
      fail(e);
    }
  }
  return { deleted, failed };
}

// ---- tree ---------------------------------------------------------------------------------------

export interface TreeMount {
  name: string;
  mountId: string;
  initId?: string;
}

export interface TreeNode {
  chainId: Digest;
  size: number;
  children: TreeNode[];
  mounts: TreeMount[];
}

/** The forest: `children` are the base layers, `mounts` the RW layers on no layer at all. */
export interface Tree {
  children: TreeNode[];
  mounts: TreeMount[];
}

export function buildTree(layers: LayerInfo[], mounts: MountInfo[]): Tree {
  const nodes = new Map<string, TreeNode>();
  for (const l of layers) nodes.set(l.chainId, { chainId: l.chainId, size: l.size, children: [], mounts: [] });
  const top: Tree = { children: [], mounts: [] };
  for (const l of layers) {
    const node = nodes.get(l.chainId)!;
    (l.parent && nodes.has(l.parent) ? nodes.get(l.parent)!.children : top.children).push(node);
  }
  for (const m of mounts) {
    const tm: TreeMount = { name: m.name, mountId: m.mountId, ...(m.initId ? { initId: m.initId } : {}) };
    (m.parent && nodes.has(m.parent) ? nodes.get(m.parent)!.mounts : top.mounts).push(tm);
  }
  return top; // layers() and mounts() are sorted, so every list here is too
}

export function renderTree(tree: Tree): string {
  const lines: string[] = [];
  const mountLine = (m: TreeMount) => `rw ${m.name} (mount-id ${shortId(m.mountId)})`;
  const walk = (node: Tree, prefix: string) => {
    const items: [string, TreeNode | undefined][] = [
      ...node.children.map((c): [string, TreeNode] => [`${shortId(c.chainId)} (${humanSize(c.size)})`, c]),
      ...node.mounts.map((m): [string, undefined] => [mountLine(m), undefined]),
    ];
    items.forEach(([text, child], i) => {
      const last = i === items.length - 1;
      lines.push(`${prefix}${last ? '└── ' : '├── '}${text}`);
      if (child) walk(child, `${prefix}${last ? '    ' : '│   '}`);
    });
  };
  // The roots are printed flush left, each with its subtree below it.
  for (const root of tree.children) {
    lines.push(`${shortId(root.chainId)} (${humanSize(root.size)})`);
    walk(root, '');
  }
  for (const m of tree.mounts) lines.push(mountLine(m));
  return lines.length ? `${lines.join('\n')}\n` : '';
}

// ---- export -------------------------------------------------------------------------------------

async function exportLayer(store: LayerStore, ref: string, output: string | undefined): Promise<void> {
  const layer = store.get(resolveLayerId(store, ref)); // read-only stores give handles; closing drops them
  await interruptible((signal) => writeOutput(output, layer.tarStream({ signal })));
}

// ---- registration -------------------------------------------------------------------------------

export function register(program: Command, globals: () => Globals): void {
  const store = (readOnly: boolean) => {
    const g = globals();
    return { root: g.root, driver: g.driver, readOnly, ignoreDockerd: g.ignoreDockerd };
  };
  const layer = program.command('layer').description('read-only layers: list, inspect, add, remove, export');

  layer
    .command('ls')
    .description('list the layers')
    .action(() =>
      withLayerStore(store(true), (s) => {
        warnProblems(s);
        emit(globals(), s.layers(), renderLs);
      }),
    );

  layer
    .command('inspect')
    .description('show layers as JSON (with the driver data)')
    .argument('<ID...>', 'ChainIDs or unique prefixes')
    .action((refs: string[]) =>
      withLayerStore(store(true), async (s) => {
        const { found, failed } = await inspect(s, refs);
        process.stdout.write(`${JSON.stringify(found, null, 2)}\n`);
        if (failed) throw new ExitCode(1);
      }),
    );

  layer
    .command('add')
    .description('register a layer from a tar (gzip, zstd, xz, bzip2 or plain) in FILE or on stdin')
    .argument('[FILE]', 'the tar; `-` or nothing for stdin')
    .option('--parent <ID>', 'the layer to put it on')
    .action(async (file: string | undefined, opts: { parent?: string }) => {
      const input = openInput(file);
      try {
        const added = await withLayerStore(store(false), (s) => add(s, input, opts.parent));
        emit(globals(), added, (a) => `${a.chainId}\n`);
      } finally {
        if (input !== process.stdin) input.destroy();
      }
    });

  layer
    .command('rm')
    .description('remove layers nothing holds, and the ancestors this leaves unheld')
    .argument('<ID...>', 'ChainIDs or unique prefixes')
    .action((refs: string[]) =>
      // With the images loaded: each holds its top layer, so a layer an image needs is in use.
      withEngineFor(globals(), false, async (engine) => {
        const g = globals();
        const tops = new Map(engine.images.images().flatMap((i) => (i.topChainId ? [[i.topChainId as string, i.id as string] as const] : [])));
        const { deleted, failed } = await remove(engine.layers, refs, g.json, tops);
        if (g.json) process.stdout.write(`${JSON.stringify(deleted, null, 2)}\n`);
        if (failed) throw new ExitCode(1);
      }),
    );

  layer
    .command('tree')
    .description('show the layers as a tree, with the read-write layers on them')
    .action(() =>
      withLayerStore(store(true), (s) => {
        warnProblems(s);
        emit(globals(), buildTree(s.layers(), s.mounts()), renderTree);
      }),
    );

  layer
    .command('export')
    .description("write a layer's tar, exactly as it was registered")
    .argument('<ID>', 'ChainID or unique prefix')
    .option('-o, --output <FILE>', 'write to FILE (atomically) instead of stdout')
    .action(async (ref: string, opts: { output?: string }) => {
      refuseTerminal(opts.output, 'a tar');
      await withLayerStore(store(true), (s) => exportLayer(s, ref, opts.output));
    });
}
