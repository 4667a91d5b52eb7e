/**
 * Comparing two sides: structured differences (so tests can ask "was the merged-dir nlink among
 * them?") and a readable rendering of them, one line per difference. Paths and values are byte
 * strings (bytes.ts), rendered by `showByteString`.
 */
import { showByteString } from './bytes.js';
import type { Observation } from './executor.js';

export type DiffArea = 'outcome' | 'prestat' | 'merged' | 'readdir' | 'upper' | 'devs';

export interface DiffItem {
  area: DiffArea;
  /** Union path (merged, readdir), path inside upper (upper), '' otherwise; a byte string. */
  path: string;
  /** The field that differs; `exists` when the path is on one side only. */
  field: string;
  ref: string | undefined;
  cand: string | undefined;
}

/** A difference a comparison accepts on purpose, with the reason (e.g. a FUSE mount's statfs magic). */
export interface KnownDifference {
  why: string;
  matches(item: DiffItem): boolean;
}

function diffRecords(area: DiffArea, a: Map<string, Record<string, string>>, b: Map<string, Record<string, string>>): DiffItem[] {
  const out: DiffItem[] = [];
  const paths = [...new Set([...a.keys(), ...b.keys()])].sort();
  for (const p of paths) {
    const ea = a.get(p);
    const eb = b.get(p);
    if (!ea || !eb) {
      out.push({ area, path: p, field: 'exists', ref: ea ? describe(ea) : undefined, cand: eb ? describe(eb) : undefined });
      continue;
    }
    for (const f of [...new Set([...Object.keys(ea), ...Object.keys(eb)])]) {
      if (ea[f] !== eb[f]) out.push({ area, path: p, field: f, ref: ea[f], cand: eb[f] });
    }
  }
  return out;
}

function describe(e: Record<string, string>): string {
  return Object.entries(e).map(([k, v]) => `${k}=${v}`).join(' ');
}

export function diffOutcomes(ref: string, cand: string): DiffItem[] {
  return ref === cand ? [] : [{ area: 'outcome', path: '', field: 'result', ref, cand }];
}

export function diffObservations(ref: Observation, cand: Observation): DiffItem[] {
  const out = diffRecords('prestat', ref.merged.prestat, cand.merged.prestat);
  out.push(...diffRecords('merged', ref.merged.entries, cand.merged.entries));
  const wrap = (m: Map<string, string[]>) => new Map([...m].map(([k, v]) => [k, { entries: v.join(' ') }]));
  out.push(...diffRecords('readdir', wrap(ref.merged.readdirs), wrap(cand.merged.readdirs)));
  if (ref.merged.devs !== cand.merged.devs) out.push({ area: 'devs', path: '', field: 'st_dev', ref: ref.merged.devs, cand: cand.merged.devs });
  out.push(...diffRecords('upper', ref.upper, cand.upper));
  return out;
}

export function dropKnown(items: DiffItem[], known: readonly KnownDifference[]): DiffItem[] {
  return items.filter((i) => !known.some((k) => k.matches(i)));
}

/** One line per difference: `merged "/a/n\xe9" nlink: kernel="1" strata-api="2"`. */
export function renderItems(items: readonly DiffItem[], refName: string, candName: string, limit = 40): string {
  const show = (v: string | undefined) => (v === undefined ? '(absent)' : showByteString(v));
  const lines = items.slice(0, limit).map((i) => `  ${i.area} ${i.path ? showByteString(i.path) : '-'} ${i.field}: ${refName}=${show(i.ref)} ${candName}=${show(i.cand)}`);
  if (items.length > limit) lines.push(`  ... ${items.length - limit} more`);
  return lines.join('\n');
}
