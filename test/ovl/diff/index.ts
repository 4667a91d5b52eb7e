/**
 * The differential harness: is strata's OverlayFS the kernel's? Random operations run on the
 * kernel overlay (the oracle) and on a candidate — strata's path API, strata-overlay through FUSE,
 * fuse-overlayfs, or a second kernel mount — over identical fresh layer stacks, and the two are
 * compared after EVERY operation: the operation's outcome, the attributes of every path seen
 * before (stat'ed first, as a program would, before any listing refreshes a FUSE mount's cached
 * attributes), the whole merged tree, every readdir, and the upper dir on disk. The first difference stops the run and is reported with everything
 * needed to reproduce it, then shrunk.
 *
 * One comparison, step by step:
 *
 *   import { generateFixture, runComparison, shrinkDivergence, renderDivergence, kernelSide, apiSide } from './index.js';
 *
 *   // 1. a layer stack as data, from a seed: 1..12 lowers, maybe a pre-populated upper, files of
 *   //    all sizes and modes, symlinks, hardlinks, fifos, xattrs, whiteouts, opaque and redirect dirs
 *   const fixture = generateFixture(42);
 *   // 2. build it twice, mount/open one side on each copy, run 200 generated operations
 *   const sides = { ref: kernelSide(), cand: apiSide(), workDir: tempDir() };
 *   const r = await runComparison({ ...sides, config: 'follow', fixture, ops: { count: 200, seed: 42 } });
 *   // 3. a divergence names the op, the diff (outcome / prestat / merged / readdir / upper), the fixture and
 *   //    the op list; shrinking drops operations and fixture entries while it stays the same kind
 *   if (r.divergence) console.log(renderDivergence(await shrinkDivergence(sides, r.divergence)));
 *
 * Names are bytes: every union path, name, symlink target and xattr value is a byte string (one
 * char per byte, Node's `latin1`), handed to the system and to strata's API as a Buffer, so the name
 * pools can hold names that are not UTF-8 (`'n\xe9'`, `'\xff\xfe'`) next to UTF-8 ones
 * (`'caf\xc3\xa9'`); reports show them with `showByteString` (`"café/n\xe9"`).
 *
 * Pieces: `rng.ts` (seeded generator), `bytes.ts` (byte strings, host paths, their rendering),
 * `fixture.ts` (descriptions, generation, building),
 * `ops.ts` (operations as JSON and their generator), `resolve.ts` (symlinks resolved inside the
 * union, so no fixture symlink reaches the host), `observe.ts` (normalised observations: inode
 * labels instead of numbers, time classes instead of times), `compare.ts` (structured diffs and
 * accepted known differences), `executor.ts` (the contract), `fs-executor.ts` (a mount through
 * node:fs and src/sys), `api-executor.ts` (strata's `Overlay`), `sides.ts` (kernel, FUSE
 * commands), `runner.ts` (the loop, rendering, shrinking), `scenarios.ts` (hand-written
 * regressions). The long run by hand is `scripts/ovl-fuzz.ts`.
 *
 * What the fixtures leave out, on purpose: a redirect whose target lower dir is still visible at
 * its own path (or is the target of a second redirect in the same layer). The kernel never writes
 * such a layer — a dir gets its redirect by a move, which hides the old place in the same layer —
 * and on it the kernel's answers depend on its inode cache rather than on its rules: two union
 * dirs share one lower dir, so each file in it has two union names that are one overlay inode
 * (a copy-up or O_TRUNC through one shows through the other, with `trusted.overlay.nlink` written
 * as for an indexed hardlink), and lstat of the second dir with the same origin is ESTALE. So
 * `generateFixture` hides each redirect's target in the redirect's own layer (a whiteout, or it
 * drops a redirect whose target is a plain dir of that layer); see `hideRedirectTargets`. Every
 * comparison is unchanged.
 */
export { Rng, contentBytes } from './rng.js';
export { asciiJson, byteString, bytesOf, hostPath, showByteString } from './bytes.js';
export { generateFixture, buildFixture, layerPaths, withoutEntry, type FixtureDesc, type FixtureEntry, type LayerDirs } from './fixture.js';
export { OpGenerator, showOp, type Op } from './ops.js';
export { observeMerged, observeUpper, InoLabels, type MergedObservation } from './observe.js';
export { diffObservations, diffOutcomes, renderItems, type DiffItem, type KnownDifference } from './compare.js';
export type { Executor, Observation, RedirectConfig, SideSpec } from './executor.js';
export { FsExecutor } from './fs-executor.js';
export { ApiExecutor, apiSide } from './api-executor.js';
export { kernelSide, fuseSide, fuseOverlayfsSide, strataFuseSide } from './sides.js';
export { runComparison, renderDivergence, shrinkDivergence, showFixture, type ComparisonSpec, type Divergence } from './runner.js';
export { SCENARIOS, type Scenario } from './scenarios.js';
