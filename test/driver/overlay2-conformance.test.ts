/**
 * The driver conformance suite (test/driver/conformance.ts) against overlay2 on the kernel's
 * OverlayFS, with moby's 128-layer DeepLayerRead.
 */
import path from 'node:path';
import { initOverlay2 } from '../../src/driver/overlay2/index.js';
import { runConformance } from './conformance.js';

runConformance('overlay2', (root) => initOverlay2(path.join(root, 'overlay2'), []), { deepLayers: 128 });
