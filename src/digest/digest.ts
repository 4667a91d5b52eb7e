/**
 * The `Digest` value: `sha256:` followed by 64 lowercase hex digits.
 *
 * Docker names content by digest (DiffIDs, ChainIDs, image IDs). strata only ever produces and
 * accepts SHA-256 digests, and always in canonical form (lowercase hex), so a `Digest` can be
 * compared with `===` and used as a directory name (`digestHex`) without further checks.
 */
import { StrataError } from '../errors/index.js';

/** A validated `sha256:<64 lowercase hex>` string. Make one with `parseDigest` or a hasher. */
export type Digest = string & { readonly __digest: unique symbol };

const DIGEST_RE = /^sha256:[0-9a-f]{64}$/;
const HEX_RE = /^[0-9a-f]*$/;

/** SHA-256 of the empty byte string: the DiffID of a 0-byte layer stream. */
export const DIGEST_EMPTY = 'sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855' as Digest;

/**
 * SHA-256 of 1024 zero bytes: an empty tar (the end-of-archive marker alone). Docker's
 * `layer.DigestSHA256EmptyTar`, the DiffID of the empty layer.
 */
export const DIGEST_EMPTY_TAR = 'sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef' as Digest;

/** Quotes a value for an error message: JSON-escaped (so it stays on one line) and shortened. */
function quote(s: string): string {
  const q = JSON.stringify(s.length > 100 ? s.slice(0, 100) + '…' : s);
  return q;
}

/** True when `s` is a canonical `sha256:<64 lowercase hex>` digest. */
export function isDigest(s: unknown): s is Digest {
  return typeof s === 'string' && DIGEST_RE.test(s);
}

/**
 * Validates `s` and returns it as a `Digest`. It must be exactly `sha256:` followed by 64
 * lowercase hex digits; anything else (another algorithm, wrong length, uppercase, whitespace)
 * throws a `StrataError` with code `INVALID_DIGEST` whose one-line message says what is wrong.
 */
export function parseDigest(s: string): Digest {
  if (typeof s === 'string' && DIGEST_RE.test(s)) return s as Digest;
  if (typeof s !== 'string') throw new StrataError('INVALID_DIGEST', `invalid digest: expected a string, got ${typeof s}`);
  const colon = s.indexOf(':');
  if (colon < 0) {
    throw new StrataError('INVALID_DIGEST', `invalid digest ${quote(s)}: expected "sha256:" followed by 64 hex digits`);
  }
  const algorithm = s.slice(0, colon);
  const hex = s.slice(colon + 1);
  if (algorithm !== 'sha256') {
    throw new StrataError('INVALID_DIGEST', `invalid digest ${quote(s)}: unsupported algorithm ${quote(algorithm)} (only sha256 is supported)`);
  }
  if (!HEX_RE.test(hex)) {
    const what = /^[0-9a-fA-F]*$/.test(hex) ? 'hex digits must be lowercase' : 'the part after "sha256:" is not hex';
    throw new StrataError('INVALID_DIGEST', `invalid digest ${quote(s)}: ${what}`);
  }
  throw new StrataError('INVALID_DIGEST', `invalid digest ${quote(s)}: expected 64 hex digits after "sha256:", got ${hex.length}`);
}

/** The 64 hex digits of `d`, without the `sha256:` prefix (the form used in directory names). */
export function digestHex(d: Digest): string {
  return d.slice(7);
}

/**
 * Builds a `Digest` from 64 hex digits (as found in a directory name such as
 * `layerdb/sha256/<hex>`). Throws `INVALID_DIGEST` if `hex` is not 64 lowercase hex digits.
 */
export function digestFromHex(hex: string): Digest {
  return parseDigest('sha256:' + hex);
}
