/** The layer-store suite (store-suite.ts) on overlay2, the kernel's OverlayFS in Docker's layout. */
import path from 'node:path';
import { openOverlay2 } from '../../src/driver/overlay2/index.js';
import { runStoreSuite } from './store-suite.js';

runStoreSuite({
  name: 'overlay2',
  open: (root) => openOverlay2(path.join(root, 'overlay2'), []),
  home: (root) => path.join(root, 'overlay2'),
  idsDir: (root) => path.join(root, 'overlay2'),
  layerDir: (root, id) => path.join(root, 'overlay2', id),
  filesDir: (root, id) => path.join(root, 'overlay2', id, 'diff'),
});
