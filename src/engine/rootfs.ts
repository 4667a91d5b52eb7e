/**
 * A container's or an image's whole filesystem, mounted for the length of a call — what `export`
 * and `cp` read. A container's RW layer is mounted (and unmounted after, balancing the mount); an
 * image gets a temporary RW layer without init (`strata-view-<random>`), deleted afterwards.
 *
 *   await withRootfs(engine, 'web', async (dir) => fs.readFileSync(`${dir}/etc/os-release`));
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { StrataError } from '../errors/index.js';
import type { Engine } from './engine.js';

/** Runs `fn` on the merged root of the container (by name or ID) or image `ref`. */
export async function withRootfs<T>(engine: Engine, ref: string, fn: (dir: string) => Promise<T>): Promise<T> {
  const container = engine.containers.find(ref);
  if (container) {
    const rw = engine.layers.getRWLayer(container.id);
    const dir = await rw.mount();
    try {
      return await fn(dir);
    } finally {
      await rw.unmount();
    }
  }
  const image = engine.images.get(engine.images.resolve(ref));
  const rw = await engine.layers.createRWLayer(`strata-view-${crypto.randomBytes(8).toString('hex')}`, image.topChainId);
  try {
    const dir = await rw.mount();
    try {
      return await fn(dir);
    } finally {
      await rw.unmount();
    }
  } finally {
    await engine.layers.releaseRWLayer(rw);
  }
}

/**
 * `p` inside `root` as the container would resolve it: every symlink on the way is followed
 * within `root` (an absolute target starts again at `root`, `..` stops at it), so no path can
 * lead out to the host — moby's `FollowSymlinkInScope`. The last component is not followed
 * (`cp` copies a symlink as a symlink). Returns a host path below `root`.
 */
export function scopedPath(root: string, p: string): string {
  const parts = p.split('/').filter((x) => x !== '' && x !== '.');
  const resolved: string[] = [];
  let hops = 0;
  while (parts.length > 0) {
    const part = parts.shift()!;
    if (part === '..') {
      resolved.pop();
      continue;
    }
    const host = path.join(root, ...resolved, part);
    const st = parts.length > 0 ? fs.lstatSync(host, { throwIfNoEntry: false }) : undefined;
    if (st?.isSymbolicLink()) {
      if (++hops > 255) throw new StrataError('TOO_MANY_LINKS', `too many levels of symbolic links: ${p}`);
      const target = fs.readlinkSync(host);
      if (target.startsWith('/')) resolved.length = 0;
      parts.unshift(...target.split('/').filter((x) => x !== '' && x !== '.'));
      continue;
    }
    resolved.push(part);
  }
  return path.join(root, ...resolved);
}
