/**
 * What the image and container verbs share: the data root opened as an engine for one command
 * (read-only verbs under the shared lock, the rest exclusive), load problems as warnings, and
 * docker's "2 hours ago".
 */
import fs from 'node:fs';
import { withEngine, type Engine } from '../engine/engine.js';
import { warnProblems } from './store.js';

export interface Globals {
  root: string;
  driver?: string | undefined;
  json: boolean;
  /** `--ignore-dockerd`: write even while a dockerd runs on the data root. */
  ignoreDockerd?: boolean;
}

/**
 * Runs `fn` on the data root of `--root`/`--driver`, warning once about anything that did not
 * load. A read on a root that does not exist yet starts it empty (as dockerd's first start does),
 * so `strata images` or `df` on a new machine answers "nothing" instead of failing.
 */
export function withEngineFor<T>(g: Globals, readOnly: boolean, fn: (engine: Engine) => Promise<T> | T): Promise<T> {
  return withEngine(
    {
      root: g.root,
      ...(g.driver ? { driver: g.driver } : {}),
      readOnly: readOnly && fs.existsSync(g.root),
      ignoreDockerd: g.ignoreDockerd ?? false,
      onWait: () => process.stderr.write(`strata: waiting for the lock on ${g.root}…\n`),
    },
    (engine) => {
      warnEngineProblems(engine);
      return fn(engine);
    },
  );
}

function warnEngineProblems(engine: Engine): void {
  warnProblems(engine.layers);
  for (const p of engine.images.problems) process.stderr.write(`strata: warning: skipped image ${p.id}: ${p.reason}\n`);
}

/** go-units' `HumanDuration(now - t) + " ago"`, as `docker images` prints CREATED. */
export function timeAgo(iso: string, now = Date.now()): string {
  const t = Date.parse(iso);
  if (Number.isNaN(t) || iso.startsWith('0001-')) return 'N/A';
  const seconds = Math.floor((now - t) / 1000);
  const minutes = Math.floor(seconds / 60);
  const hours = Math.round(seconds / 3600);
  let s: string;
  if (seconds < 1) s = 'Less than a second';
  else if (seconds === 1) s = '1 second';
  else if (seconds < 60) s = `${seconds} seconds`;
  else if (minutes === 1) s = 'About a minute';
  else if (minutes < 60) s = `${minutes} minutes`;
  else if (hours === 1) s = 'About an hour';
  else if (hours < 48) s = `${hours} hours`;
  else if (hours < 24 * 7 * 2) s = `${Math.floor(hours / 24)} days`;
  else if (hours < 24 * 30 * 2) s = `${Math.floor(hours / 24 / 7)} weeks`;
  else if (hours < 24 * 365 * 2) s = `${Math.floor(hours / 24 / 30)} months`;
  else s = `${Math.floor(seconds / 3600 / 24 / 365)} years`;
  return `${s} ago`;
}
