/**
 * The driver conformance suite (test/driver/conformance.ts) against fuse-overlay: overlay2's
 * layout mounted by strata-overlay (strata's OverlayFS through FUSE) — every container-root `get`
 * here is a real FUSE mount, each started as its own daemon.
 *
 * One difference from overlay2's run, stated: DeepLayerRead stacks 24 layers, not moby's 128
 * (every level is one daemon start, ~1–5 s from the TypeScript sources; the engine itself is tested
 * with 500 lowers in test/ovl/engine/layers.test.ts).
 */
import path from 'node:path';
import { initFuseOverlay } from '../../src/driver/fuse-overlay/index.js';
import { runConformance } from './conformance.js';

runConformance('fuse-overlay', (root) => initFuseOverlay(path.join(root, 'fuse-overlay'), []), { deepLayers: 24 });
