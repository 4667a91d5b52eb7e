/**
 * The executor contract: one overlay under test (the kernel's, a FUSE mount, or strata's path API)
 * over its own freshly built copy of the fixture. Every operation gives an outcome string:
 * `ok`, `ok <normalised value>` or `ERR <errno name>`.
 */
import type { LayerDirs } from './fixture.js';
import type { MergedObservation, UpperEntry } from './observe.js';
import { errnoOf, observeUpper } from './observe.js';
import type { Op } from './ops.js';

export interface Observation {
  merged: MergedObservation;
  upper: Map<string, UpperEntry>;
}

export interface Executor {
  /** For reports: `kernel`, `strata-api`, `fuse-overlayfs`, ... */
  readonly name: string;
  readonly dirs: LayerDirs;
  run(op: Op): Promise<string>;
  observe(): Promise<Observation>;
  /** Closes handles and unmounts (or closes the engine). Safe to call twice. */
  close(): Promise<void>;
}

/** The redirect_dir setting a comparison runs with (index, metacopy and xino are always off). */
export type RedirectConfig = 'follow' | 'on';

/** How to start one side: builds nothing itself; `open` gets the built fixture dirs. */
export interface SideSpec {
  readonly name: string;
  open(dirs: LayerDirs, config: RedirectConfig): Promise<Executor>;
}

/** `ERR <code>` for an errno-style error; anything else is a harness or engine bug and is rethrown. */
export function errOutcome(e: unknown): string {
  const name = errnoOf(e);
  if (name !== null) return `ERR ${name}`;
  if (e instanceof Error) return `THROWN ${e.constructor.name}: ${e.message}`;
  return `THROWN ${String(e)}`;
}

export { observeUpper };
