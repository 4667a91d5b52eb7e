#!/usr/bin/env node
// The `strata-overlay` command: strata's OverlayFS mounted through FUSE (see src/ovl/fuse/cli.ts).
// The TypeScript sources are compiled to dist/ by `npm ci` (prepare).
import { main } from '../dist/ovl/fuse/cli.js';

process.exitCode = await main(process.argv.slice(2));
