/** Shared helpers of the layer-store oracle tests (strata ⇄ dockerd on one data root). */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { DockerFixture, FixtureLayer } from '../oracle/fixtures.js';
import { unmountUnder } from '../driver/overlay2-helpers.js';

/** Every layer of the fixture's images once (the base image's layer is the built image's first). */
export function allLayers(fx: DockerFixture): FixtureLayer[] {
  const byChain = new Map<string, FixtureLayer>();
  for (const l of [...fx.images.base.layers, ...fx.images.built.layers]) byChain.set(l.chainId, l);
  return [...byChain.values()];
}

/** A scratch dir under /var/tmp (a real disk file system, as a data root has), removed at the end. */
export function varTmpScratch(prefix: string): { dir: string; dispose: () => void } {
  fs.mkdirSync('/var/tmp', { recursive: true });
  const dir = fs.mkdtempSync(path.join('/var/tmp', prefix));
  let done = false;
  const dispose = (): void => {
    if (done) return;
    done = true;
    unmountUnder(dir);
    fs.rmSync(dir, { recursive: true, force: true });
  };
  process.on('exit', () => {
    try {
      dispose();
    } catch {
      /* best effort */
    }
  });
  return { dir, dispose };
}

export async function collect(it: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of it) chunks.push(Buffer.from(c));
  return Buffer.concat(chunks);
}

export function sha256Digest(b: Buffer): string {
  return 'sha256:' + crypto.createHash('sha256').update(b).digest('hex');
}

/** The first offset where two buffers differ, for messages. */
export function firstDifference(a: Buffer, b: Buffer): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return a.length === b.length ? -1 : n;
}
