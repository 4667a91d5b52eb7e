/** The driver conformance suite (test/driver/conformance.ts) against vfs. */
import path from 'node:path';
import { openVfs } from '../../src/driver/vfs/index.js';
import { runConformance } from './conformance.js';

runConformance('vfs', (root) => openVfs(path.join(root, 'vfs'), [], { sleepToNextSecond: false }));
