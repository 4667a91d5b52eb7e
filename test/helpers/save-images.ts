import fs from 'node:fs';
import { TarReader } from '../../src/archive/tar/index.js';
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

/** One member of a tar, every header field a comparison needs. */
export interface TarMember {
  name: string;
  type: string;
  mode: number;
  uid: number;
  gid: number;
  uname: string;
  gname: string;
  size: number;
  mtime: number;
  linkname: string;
  /** `key=hexvalue`, sorted, comma-joined. */
  xattrs: string;
  /** The header block(s) as written. */
  raw: Buffer;
  content: Buffer;
}

/** Every member of an in-memory tar, in order. */
export async function tarMembers(tar: Buffer): Promise<TarMember[]> {
  const out: TarMember[] = [];
  for await (const e of new TarReader([tar])) {
    const h = e.header;
    const xattrs = [...h.xattrs].map(([k, v]) => `${k}=${v.toString('hex')}`).sort().join(',');
    out.push({
      name: h.name, type: h.type, mode: h.mode, uid: h.uid, gid: h.gid, uname: h.uname, gname: h.gname,
      size: h.size, mtime: h.mtime.sec, linkname: h.linkname, xattrs, raw: e.raw, content: await e.readAll(),
    });
  }
  return out;
}
