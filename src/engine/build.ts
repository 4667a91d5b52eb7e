/**
 * An image from plain directories, as a `docker save` archive — what `docker import` and a
 * Dockerfile of `COPY` steps make, without a daemon: each directory becomes one layer (its tar as
 * dockerd's `archive.Tar` writes it), stacked in order, under a config like `docker import`'s.
 *
 *   const archive = imageArchive({ layers: ['/tmp/rootfs', '/tmp/app-files'], tag: 'app:1', scratchDir: '/tmp' });
 *   await pipeline(archive, fs.createWriteStream('/tmp/app.tar'));
 *   // then: strata load -i /tmp/app.tar   (or docker load -i /tmp/app.tar)
 *
 * Layer tars are written to temporary files in `scratchDir` first (their size and DiffID go into
 * headers and the config before their bytes), so memory stays small for any tree; they are
 * removed when the archive ends or the consumer stops.
 */
import fs from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { writeLayerTar } from '../archive/diff/index.js';
import { chainIds, hashing, type Digest } from '../digest/index.js';
import { dockerSaveArchive } from '../image/archive/docker-save.js';
import type { SaveLayer } from '../image/archive/save-types.js';
import { imageId, marshalImageConfig, newContainerConfig, newHistoryEntry, newImageConfig } from '../image/config.js';
import { goTimeNowUTC } from '../image/imagedb/index.js';
import { hostPlatform } from './platform.js';

export interface BuildOptions {
  /** Directories, bottom layer first. */
  layers: string[];
  /** `name:tag` for the archive's RepoTags. */
  tag?: string;
  /** Written to each layer's history entry. */
  comment?: string;
  /** The image's default command. */
  cmd?: string[];
  /** Where the layer tars wait (a private temp dir is made inside). */
  scratchDir: string;
}

/** A `docker save` archive of an image made of `opts.layers`, streamed. */
export async function* imageArchive(opts: BuildOptions): AsyncGenerator<Buffer> {
  const scratch = fs.mkdtempSync(path.join(opts.scratchDir, '.strata-build-'));
  try {
    const layers: { tar: string; diffId: Digest; size: number }[] = [];
    for (const [i, dir] of opts.layers.entries()) {
      const tar = path.join(scratch, `${i}.tar`);
      let diffId!: Digest;
      let size = 0;
      await pipeline(
        hashing(writeLayerTar(dir, { whiteouts: 'none' }), (d, n) => ((diffId = d), (size = n))),
        fs.createWriteStream(tar),
      );
      layers.push({ tar, diffId, size });
    }
    const created = goTimeNowUTC();
    const config = newImageConfig({
      architecture: hostPlatform().architecture,
      os: 'linux',
      created,
      config: newContainerConfig({ Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'], Cmd: opts.cmd ?? null }),
      rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) },
      history: layers.map((_, i) => newHistoryEntry({ created, created_by: `strata build: layer ${i} from ${opts.layers[i]}`, comment: opts.comment ?? '' })),
    });
    const configBytes = marshalImageConfig(config);
    const chains = chainIds(layers.map((l) => l.diffId));
    const saveLayers: SaveLayer[] = layers.map((l, i) => ({
      diffId: l.diffId,
      chainId: chains[i]!,
      tarSize: l.size,
      tarStream: (o) => fs.createReadStream(l.tar, { highWaterMark: 1 << 20, ...(o?.signal ? { signal: o.signal } : {}) }),
    }));
    yield* dockerSaveArchive([{ id: imageId(configBytes), configBytes, config, repoTags: opts.tag ? [opts.tag] : [], layers: saveLayers }]);
  } finally {
    fs.rmSync(scratch, { recursive: true, force: true });
  }
}
