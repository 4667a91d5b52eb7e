/**
 * The reference grammar of `github.com/docker/distribution/reference` v2.8 (the version moby 20.10
 * vendors), and the digest rules of `github.com/opencontainers/go-digest` v1.0.0 that `Parse`
 * applies to the digest part:
 *
 *   reference        := name [ ":" tag ] [ "@" digest ]
 *   name             := [domain '/'] path-component ['/' path-component]*
 *   domain           := domain-component ['.' domain-component]* [':' port-number]
 *   domain-component := /([a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])/
 *   port-number      := /[0-9]+/
 *   path-component   := alpha-numeric [separator alpha-numeric]*
 *   alpha-numeric    := /[a-z0-9]+/
 *   separator        := [_.] | __ | [-]*   (the last one may be empty)
 *   tag              := /[\w][\w.-]{0,127}/
 *   digest           := /[A-Za-z][A-Za-z0-9]*([-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}/
 *
 * (no IPv6 `[…]` domains: distribution added them after v2.8).
 *
 * Go's regexp engine is linear-time; JavaScript's backtracks. The expressions below therefore
 * spell the same languages without ambiguity, so no input can make them slow: a separator of
 * `[-]*` between two alphanumeric runs is the same as "`-+` or nothing", and a domain component
 * `[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]` is the same as `[a-zA-Z0-9]+(-+[a-zA-Z0-9]+)*`.
 * The captures (name, tag, digest; domain, path) come out as Go's: each can only be one substring
 * in any match (a tag follows the last `:` after the last `/`, a domain is the first `/`-separated
 * segment, and `@` occurs once), so leftmost-first matching cannot choose differently.
 */

const ALPHANUMERIC = '[a-z0-9]+';
const SEPARATOR = '(?:[._]|__|-+)';
const PATH_COMPONENT = `${ALPHANUMERIC}(?:${SEPARATOR}${ALPHANUMERIC})*`;
const DOMAIN_COMPONENT = '[a-zA-Z0-9]+(?:-+[a-zA-Z0-9]+)*';
const DOMAIN = `${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*(?::[0-9]+)?`;
const REMOTE_NAME = `${PATH_COMPONENT}(?:/${PATH_COMPONENT})*`;
const NAME = `(?:${DOMAIN}/)?${REMOTE_NAME}`;
const TAG = '[\\w][\\w.-]{0,127}';
const DIGEST = '[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9A-Fa-f]{32,}';

/** Go's `ReferenceRegexp`: groups 1 name, 2 tag, 3 digest. */
export const REFERENCE_RE = new RegExp(`^(${NAME})(?::(${TAG}))?(?:@(${DIGEST}))?$`);
/** Go's `anchoredNameRegexp`: groups 1 domain, 2 path (the remote name). */
export const ANCHORED_NAME_RE = new RegExp(`^(?:(${DOMAIN})/)?(${REMOTE_NAME})$`);
/** A whole domain (`host[:port]`), anchored. */
export const ANCHORED_DOMAIN_RE = new RegExp(`^${DOMAIN}$`);
/** A whole remote name (path components joined by `/`), anchored. */
export const ANCHORED_REMOTE_NAME_RE = new RegExp(`^${REMOTE_NAME}$`);
/** Go's `anchoredTagRegexp`. */
export const ANCHORED_TAG_RE = new RegExp(`^${TAG}$`);
/** Go's `anchoredDigestRegexp` (the reference grammar's digest, not go-digest's). */
export const ANCHORED_DIGEST_RE = new RegExp(`^${DIGEST}$`);
/** Go's `anchoredIdentifierRegexp`: a bare 64-hex image ID. */
export const ANCHORED_IDENTIFIER_RE = /^[a-f0-9]{64}$/;

/** `NameTotalLengthMax`: the longest name (domain and path, without tag or digest). */
export const NAME_TOTAL_LENGTH_MAX = 255;

/**
 * Go's `strings.ToLower`, as far as it can matter here: ASCII is lowered as usual, other code
 * points one by one with Unicode's simple mapping (so `İ` U+0130 becomes a plain `i`, where
 * JavaScript's full mapping gives `i` + U+0307, and the Kelvin sign `K` becomes `k`).
 */
export function goToLower(s: string): string {
  if (/^[\x00-\x7f]*$/.test(s)) return s.toLowerCase();
  let out = '';
  for (const ch of s) {
    if (ch === '\u0130') {
      out += 'i';
      continue;
    }
    const lower = ch.toLowerCase();
    out += [...lower].length === 1 ? lower : ch;
  }
  return out;
}

/** go-digest's `DigestRegexpAnchored` (v1.0.0): lower-case algorithm, base64url-ish encoding. */
const GO_DIGEST_RE = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;

/** The algorithms go-digest knows (all linked into dockerd), with their hex lengths. */
const ALGORITHM_HEX_LENGTH: ReadonlyMap<string, number> = new Map([
  ['sha256', 64],
  ['sha384', 96],
  ['sha512', 128],
]);

/** go-digest's error texts. */
export const DIGEST_INVALID_FORMAT = 'invalid checksum digest format';
export const DIGEST_INVALID_LENGTH = 'invalid checksum digest length';
export const DIGEST_UNSUPPORTED = 'unsupported digest algorithm';

/**
 * go-digest's `Digest.Validate`: returns undefined for a valid digest, else the Go error text.
 * `sha256`/`sha384`/`sha512` need exactly 64/96/128 lower-case hex digits; another algorithm is
 * "unsupported" if it is well-formed, "invalid format" if not.
 */
export function goDigestProblem(s: string): string | undefined {
  const i = s.indexOf(':');
  if (i <= 0 || i + 1 === s.length) return DIGEST_INVALID_FORMAT;
  const algorithm = s.slice(0, i);
  const encoded = s.slice(i + 1);
  const size = ALGORITHM_HEX_LENGTH.get(algorithm);
  if (size === undefined) return GO_DIGEST_RE.test(s) ? DIGEST_UNSUPPORTED : DIGEST_INVALID_FORMAT;
  if (encoded.length !== size) return DIGEST_INVALID_LENGTH;
  return /^[a-f0-9]+$/.test(encoded) ? undefined : DIGEST_INVALID_FORMAT;
}
