/** The layer-store suite (store-suite.ts) on vfs, the driver moby's own layer tests use. */
import path from 'node:path';
import { openVfs } from '../../src/driver/vfs/index.js';
import { runStoreSuite } from './store-suite.js';

runStoreSuite({
  name: 'vfs',
  // No one-second sleep at the end of each diff (moby's naive-diff quirk): commits are many here.
  open: (root) => openVfs(path.join(root, 'vfs'), [], { sleepToNextSecond: false }),
  home: (root) => path.join(root, 'vfs'),
  idsDir: (root) => path.join(root, 'vfs', 'dir'),
  layerDir: (root, id) => path.join(root, 'vfs', 'dir', id),
  filesDir: (root, id) => path.join(root, 'vfs', 'dir', id),
});
