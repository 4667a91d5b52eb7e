/**
 * Go's `time.Time` as text, to the character: what `time.Now().Format(time.RFC3339Nano)` writes
 * (the imagedb's `lastUpdated`), what `time.Time`'s JSON marshaller writes (every `created` in an
 * image config), and which strings Go 1.19 (the compiler of Docker 20.10) accepts back.
 *
 * RFC3339Nano is the layout `2006-01-02T15:04:05.999999999Z07:00`:
 * - the fraction is up to nine digits with **trailing zeros dropped**, and no `.` at all when the
 *   nanoseconds are zero (`…:05.1Z`, `…:05Z`);
 * - the zone is `Z` when the offset is zero (UTC, or any zone at +00:00), else `±hh:mm`;
 * - the wall clock is the one of the time's own location: `time.Now()` is local time, so a host
 *   in Berlin writes `2026-11-23T11:16:36.70343283+01:00` where a UTC host writes `…10:16:36…Z`.
 *
 * Parsing a time and formatting it again only changes the text (fraction trimmed, `+00:00`
 * becomes `Z`), never the wall clock or the offset: Go keeps the parsed offset as the location.
 */
import { StrataError } from '../../errors/index.js';

/** A Go time as its RFC 3339 parts: the wall clock in the zone `offsetMinutes` east of UTC. */
export interface GoTime {
  year: number;
  /** 1–12 */
  month: number;
  /** 1–31 */
  day: number;
  hour: number;
  minute: number;
  second: number;
  /** 0–999 999 999 */
  nanos: number;
  /** Zone offset east of UTC, in minutes (0 is written `Z`). */
  offsetMinutes: number;
}

/** The zero `time.Time` as Go writes it: what an absent `created` marshals to. */
export const GO_ZERO_TIME = '0001-01-01T00:00:00Z';

/**
 * How strictly to parse: `'json'` is Go 1.19's `Time.UnmarshalJSON` (layout RFC3339, which
 * accepts a fraction of any length, `.` or `,`, truncated to nanoseconds); `'nano'` is
 * `time.Parse(time.RFC3339Nano, s)` (as `GetLastUpdated` reads `lastUpdated`: at most nine digits).
 */
export type GoTimeLayout = 'json' | 'nano';

const RE = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:[.,](\d+))?(?:(Z)|([+-])(\d{2}):(\d{2}))$/;

function daysIn(month: number, year: number): number {
  if (month === 2) return (year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0)) ? 29 : 28;
  return [4, 6, 9, 11].includes(month) ? 30 : 31;
}

/**
 * Parses an RFC 3339 time as Go 1.19 does, or returns the reason it refuses (Go's wording where
 * it has one: `month out of range`, `day out of range`, …). Seconds 60 (leap) are refused, the
 * day is checked against the month, a zone offset up to 24:60 is accepted.
 */
export function parseGoTime(text: string, layout: GoTimeLayout = 'json'): GoTime | string {
  const m = RE.exec(text);
  if (!m) return `cannot parse ${JSON.stringify(text)} as RFC 3339`;
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  const frac = m[7];
  if (frac !== undefined && layout === 'nano' && frac.length > 9) return `cannot parse ${JSON.stringify(text)} as RFC3339Nano (more than nine fractional digits)`;
  if (month < 1 || month > 12) return 'month out of range';
  if (hour > 23) return 'hour out of range';
  if (minute > 59) return 'minute out of range';
  if (second > 59) return 'second out of range';
  if (day < 1 || day > daysIn(month, year)) return 'day out of range';
  const nanos = frac === undefined ? 0 : Number((frac + '00000000').slice(0, 9));
  let offsetMinutes = 0;
  if (m[8] !== 'Z') {
    const hh = Number(m[10]);
    const mm = Number(m[11]);
    if (hh > 24) return 'time zone offset hour out of range';
    if (mm > 60) return 'time zone offset minute out of range';
    offsetMinutes = (m[9] === '-' ? -1 : 1) * (hh * 60 + mm);
  }
  return { year, month, day, hour, minute, second, nanos, offsetMinutes };
}

function pad(n: number, width: number): string {
  return String(n).padStart(width, '0');
}

/** Formats `t` with Go's RFC3339Nano layout (fraction trimmed, `Z` for a zero offset). */
export function formatGoTime(t: GoTime): string {
  let s = `${pad(t.year, 4)}-${pad(t.month, 2)}-${pad(t.day, 2)}T${pad(t.hour, 2)}:${pad(t.minute, 2)}:${pad(t.second, 2)}`;
  if (t.nanos !== 0) s += '.' + pad(t.nanos, 9).replace(/0+$/, '');
  if (t.offsetMinutes === 0) return s + 'Z';
  const abs = Math.abs(t.offsetMinutes);
  return s + (t.offsetMinutes < 0 ? '-' : '+') + pad(Math.floor(abs / 60), 2) + ':' + pad(abs % 60, 2);
}

/**
 * What Go writes back for a time it read from `text` (`json` rules): `2026-11-23T08:16:36.500Z`
 * → `2026-11-23T08:16:36.5Z`, `…+00:00` → `…Z`. Throws a StrataError `GO_TIME_INVALID` for text
 * Go would refuse, and for a year Go's JSON marshaller refuses (outside 0–9999).
 */
export function normalizeGoTime(text: string): string {
  const t = parseGoTime(text, 'json');
  if (typeof t === 'string') throw new StrataError('GO_TIME_INVALID', `parsing time ${JSON.stringify(text)}: ${t}`);
  return formatGoTime(t);
}

/**
 * The Go time at `epochNanos` nanoseconds since 1970 (UTC), as the wall clock of the zone that
 * is `offsetMinutes` east of UTC; with `offsetMinutes` omitted, the host's local zone at that
 * instant (what Go's `time.Local` gives: both read the TZ database through `TZ`).
 */
export function goTimeAt(epochNanos: bigint, offsetMinutes?: number): GoTime {
  const ms = Number(epochNanos / 1_000_000n) - (epochNanos % 1_000_000n < 0n ? 1 : 0);
  const nanos = Number(((epochNanos % 1_000_000_000n) + 1_000_000_000n) % 1_000_000_000n);
  // The local offset can have seconds (historical local mean time): the wall clock keeps them,
  // the text drops them (Go writes offset/60 minutes, truncated).
  const offSeconds = offsetMinutes !== undefined ? offsetMinutes * 60 : Math.round(-new Date(ms).getTimezoneOffset() * 60);
  const wall = new Date(Math.floor(ms / 1000) * 1000 + offSeconds * 1000);
  return {
    year: wall.getUTCFullYear(),
    month: wall.getUTCMonth() + 1,
    day: wall.getUTCDate(),
    hour: wall.getUTCHours(),
    minute: wall.getUTCMinutes(),
    second: wall.getUTCSeconds(),
    nanos,
    offsetMinutes: Math.trunc(offSeconds / 60),
  };
}

// Wall-clock nanoseconds: Date.now() has milliseconds only, so a monotonic hrtime reading is
// anchored to it and re-anchored whenever the two drift apart by a millisecond or more (the
// system clock was set). Go's time.Now() has nanoseconds; the text then has the same shape.
let anchor: bigint | undefined;
function nowNanos(): bigint {
  const wall = BigInt(Date.now()) * 1_000_000n;
  const hr = process.hrtime.bigint();
  if (anchor === undefined || (anchor + hr - wall > 1_000_000n || wall - (anchor + hr) > 1_000_000n)) anchor = wall - hr;
  return anchor + hr;
}

/** `time.Now().Format(time.RFC3339Nano)` in the host's local zone: dockerd's `lastUpdated`. */
export function goTimeNowLocal(): string {
  return formatGoTime(goTimeAt(nowNanos()));
}

/** `time.Now().UTC()` as JSON writes it: the `created` of a config dockerd makes (commit, import). */
export function goTimeNowUTC(): string {
  return formatGoTime(goTimeAt(nowNanos(), 0));
}

/**
 * `time.Unix(0, 0)` (which is in the local zone) as JSON writes it: `1970-01-01T00:00:00Z` on a
 * UTC host, `1970-01-01T01:00:00+01:00` in Berlin. `docker save` puts it in the V1 JSON of every
 * layer but the top one, so the V1 IDs of those layers depend on the daemon's time zone.
 */
export function goUnixEpochLocal(): string {
  return formatGoTime(goTimeAt(0n));
}
