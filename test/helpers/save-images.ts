import fs from 'node:fs';
import type { Digest } from '../../src/digest/index.js';
import { parseImageConfig } from '../../src/image/config.js';
import type { SaveImage } from '../../src/image/archive/save-types.js';
import type { FixtureImage } from '../oracle/fixtures.js';

/** A SaveImage from a dockerd fixture image: config bytes from the imagedb, layers from `docker save`. */
export function fixtureImage(im: FixtureImage, repoTags: string[] = [im.ref]): SaveImage {
  const configBytes = fs.readFileSync(im.configPath);
  return {
    id: im.id as Digest,
    configBytes,
    config: parseImageConfig(configBytes),
    repoTags,
    layers: im.layers.map((l) => ({
      diffId: l.diffId as Digest,
      chainId: l.chainId as Digest,
      tarSize: fs.statSync(l.savedLayerTar).size,
      tarStream: ({ signal } = {}) => fs.createReadStream(l.savedLayerTar, { signal, highWaterMark: 64 * 1024 }),
    })),
  };
}

/** Everything a generator yields, as one Buffer. */
export async function collect(gen: AsyncIterable<Buffer>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of gen) parts.push(c);
  return Buffer.concat(parts);
}
