/**
 * Driver options: the `key=value` strings given to a driver at start (dockerd's
 * `--storage-opt overlay2.size=10G`, strata's `--storage-opt`), parsed and validated exactly as
 * moby 20.10 does before the driver touches the disk.
 *
 *   parseKeyValue(' overlay2.size = 50M ')      // { key: 'overlay2.size', value: '50M' }
 *   parseSize('50M')                            // 52428800 (binary units, go-units RAMInBytes)
 *   parseOverlay2Options(['OVERLAY2.SIZE=1g'])  // { size: 1073741824 } (overlay2 lower-cases keys)
 *   parseVfsOptions(['SIZE=1g'])                // throws `unknown option SIZE for vfs` (vfs does not)
 *
 * Every failure is a StrataError whose message is the one dockerd prints for the same input.
 */
import { goQuote } from '../archive/gostrings.js';
import { StrataError } from '../errors/index.js';

/**
 * Go's `strings.TrimSpace`: Unicode White_Space at both ends. It differs from `String.trim` in two
 * code points: Go trims U+0085 (NEL) and keeps U+FEFF (BOM); JavaScript does the opposite.
 */
const GO_SPACE = '\\t\\n\\v\\f\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';
const GO_TRIM = new RegExp(`^[${GO_SPACE}]+|[${GO_SPACE}]+$`, 'g');
function goTrimSpace(s: string): string {
  return s.replace(GO_TRIM, '');
}

/** Go's `%q` of a string, for messages that quote the offending input as strconv does. */
function quote(s: string): string {
  return goQuote(Buffer.from(s, 'utf8'));
}

/**
 * Splits one driver option at its first `=` and trims both sides (moby's
 * `parsers.ParseKeyValueOpt`): `' a = b=c '` gives `{ key: 'a', value: 'b=c' }`. The key keeps its
 * case — lower-casing is each driver's choice (overlay2 does, vfs does not). Without an `=` it
 * throws `Unable to parse key/value option: <opt>` (code `DRIVER_OPTION_SYNTAX`).
 */
export function parseKeyValue(opt: string): { key: string; value: string } {
  const eq = opt.indexOf('=');
  if (eq === -1) throw new StrataError('DRIVER_OPTION_SYNTAX', `Unable to parse key/value option: ${opt}`);
  return { key: goTrimSpace(opt.slice(0, eq)), value: goTrimSpace(opt.slice(eq + 1)) };
}

/**
 * go-units v0.4.0 `RAMInBytes`, the parser behind every size option in dockerd 20.10.
 * `^(\d+(\.\d+)*) ?([kKmMgGtTpP])?[iI]?[bB]?$`: a number, one optional space, an optional binary
 * prefix (k = 1024 … p = 1024⁵), an optional `i`, an optional `b`, all case-insensitive; the
 * product is truncated toward zero. Each of `50M`, `50m`, `50 MiB`, `50mb` is 52428800; `1.5g` is
 * 1610612736; `0.5k` is 512; `7` and `7b` are 7; `1.2.3` matches the pattern but is no number.
 */
const SIZE_RE = /^(\d+(\.\d+)*) ?([kKmMgGtTpP])?[iI]?[bB]?$/;
const BINARY: Record<string, number> = { k: 2 ** 10, m: 2 ** 20, g: 2 ** 30, t: 2 ** 40, p: 2 ** 50 };

/**
 * The number of bytes a size string means, as go-units `RAMInBytes` (v0.4.0, vendored by moby
 * 20.10) computes it — see `SIZE_RE` above for the grammar. Text that does not match throws
 * `invalid size: '<s>'` (code `SIZE_INVALID`); text that matches but is not a Go float (`1.2.3`)
 * throws strconv's `strconv.ParseFloat: parsing "1.2.3": invalid syntax`. One deliberate
 * difference: Go wraps sizes of 2⁶³ bytes and more around to garbage; strata refuses anything
 * above 2⁵³−1 (8 PiB, the largest exact JavaScript integer) with `invalid size: '<s>'`
 * (code `SIZE_OUT_OF_RANGE`).
 */
export function parseSize(s: string): number {
  const m = SIZE_RE.exec(s);
  if (!m) throw new StrataError('SIZE_INVALID', `invalid size: '${s}'`);
  const num = m[1]!;
  if (num.indexOf('.') !== num.lastIndexOf('.')) {
    throw new StrataError('SIZE_INVALID', `strconv.ParseFloat: parsing ${quote(num)}: invalid syntax`);
  }
  let size = Number(num);
  if (!Number.isFinite(size)) {
    // Only a number of more than 308 digits gets here; Go says the same.
    throw new StrataError('SIZE_INVALID', `strconv.ParseFloat: parsing ${quote(num)}: value out of range`);
  }
  const unit = m[3]?.toLowerCase();
  if (unit !== undefined) size *= BINARY[unit]!;
  const bytes = Math.trunc(size);
  if (bytes > Number.MAX_SAFE_INTEGER) throw new StrataError('SIZE_OUT_OF_RANGE', `invalid size: '${s}'`);
  return bytes;
}

/** Go's `strconv.ParseBool`. */
function parseGoBool(value: string): boolean {
  switch (value) {
    case '1': case 't': case 'T': case 'true': case 'TRUE': case 'True':
      return true;
    case '0': case 'f': case 'F': case 'false': case 'FALSE': case 'False':
      return false;
    default:
      throw new StrataError('DRIVER_OPTION_BAD_VALUE', `strconv.ParseBool: parsing ${quote(value)}: invalid syntax`);
  }
}

/** What overlay2 takes from its options. */
export interface Overlay2Options {
  /** `overlay2.size`: the default quota, in bytes, of every read-write layer (xfs project quotas). */
  size?: number;
}

/**
 * overlay2's start options, as moby 20.10's overlay2 `parseOptions`: each is split by
 * `parseKeyValue` and its key lower-cased. `overlay2.size=<size>` sets `size` (see `parseSize`;
 * the last one given wins). `overlay2.override_kernel_check=<bool>` must be a Go bool
 * (`true`, `0`, `F`, …; else `strconv.ParseBool: parsing "<v>": invalid syntax`) and is then
 * ignored, as 20.10 ignores it (moby HEAD no longer knows it). Any other key throws
 * `overlay2: unknown option <key>` (code `DRIVER_OPTION_UNKNOWN`), with the key lower-cased.
 * Whether a size can be honoured (xfs with project quotas) is the driver's question, not this one's.
 */
export function parseOverlay2Options(options: readonly string[]): Overlay2Options {
  const out: Overlay2Options = {};
  for (const opt of options) {
    const { key: rawKey, value } = parseKeyValue(opt);
    const key = rawKey.toLowerCase();
    switch (key) {
      case 'overlay2.override_kernel_check':
        parseGoBool(value);
        break;
      case 'overlay2.size':
        out.size = parseSize(value);
        break;
      default:
        throw new StrataError('DRIVER_OPTION_UNKNOWN', `overlay2: unknown option ${key}`);
    }
  }
  return out;
}

/** What vfs takes from its options. */
export interface VfsOptions {
  /** `size`: the quota, in bytes, of every layer (needs project quotas). */
  size?: number;
}

/**
 * vfs's start options, as moby 20.10's vfs `parseOptions`: `size=<size>` (see `parseSize`; the
 * last one wins) and nothing else. Keys are NOT lower-cased — vfs compares them as given — so
 * `SIZE=1G` throws `unknown option SIZE for vfs` (code `DRIVER_OPTION_UNKNOWN`). Whether the
 * filesystem can enforce the size is the driver's question, not this one's.
 */
export function parseVfsOptions(options: readonly string[]): VfsOptions {
  const out: VfsOptions = {};
  for (const opt of options) {
    const { key, value } = parseKeyValue(opt);
    if (key !== 'size') throw new StrataError('DRIVER_OPTION_UNKNOWN', `unknown option ${key} for vfs`);
    out.size = parseSize(value);
  }
  return out;
}
