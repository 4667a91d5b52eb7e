/**
 * Child process for metadata-crash.test.ts: writes to a layerdb as fast as it can — commits,
 * removals, mounts — until it is SIGKILLed. Everything it writes is derived from the DiffID (or
 * the mount name), so the parent can check any layer it finds for completeness and consistency.
 * It prints `ready` once loaded and starts writing when a line arrives on stdin.
 *
 *   node --import tsx test/layer/metadata-crash-child.ts <layerdb>
 */
import crypto from 'node:crypto';
import { MetadataStore } from '../../src/layer/metadata/index.js';
import { chainId as makeChainId, type Digest } from '../../src/digest/index.js';
import { expectedLayer, expectedMountId } from './metadata-crash-shared.js';

// Started ahead of time by the test: say "ready", then wait for a line on stdin before writing.
process.stdout.write('ready\n');
await new Promise((resolve) => process.stdin.once('data', resolve));
const db = new MetadataStore(process.argv[2]!);

const pick = <T>(a: T[]): T | undefined => a[crypto.randomInt(a.length || 1)];

for (;;) {
  const r = Math.random();
  const { layers, mounts } = db.list();
  if (r < 0.6 || layers.length === 0) {
    const diffId = ('sha256:' + crypto.randomBytes(32).toString('hex')) as Digest;
    const parent = Math.random() < 0.7 ? pick(layers) : undefined;
    const want = expectedLayer(diffId);
    const tx = db.startTransaction();
    try {
      const p = tx.tarSplitWriter({ level: 1 });
      for (const e of want.entries) p.add(e);
      await p.close();
      tx.setLayer({ diffId, size: want.size, cacheId: want.cacheId, ...(parent ? { parent } : {}) });
      tx.commit(makeChainId(parent, diffId));
    } finally {
      await tx.cancel();
    }
  } else if (r < 0.75) {
    const name = crypto.randomBytes(32).toString('hex');
    const mountId = expectedMountId(name);
    const parent = pick(layers);
    db.saveMount(name, { mountId, initId: `${mountId}-init`, ...(parent ? { parent } : {}) });
  } else if (r < 0.85) {
    const name = pick(mounts);
    if (name) db.removeMount(name);
  } else {
    const chain = pick(layers)!;
    const h = db.startRemove(chain);
    db.finishRemove(h);
  }
}
