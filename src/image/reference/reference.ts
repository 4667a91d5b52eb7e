/**
 * The reference value and the parsers of `github.com/docker/distribution/reference` v2.8:
 * `Parse`, `ParseNormalizedNamed`, `ParseNamed`, `ParseAnyReference`, `ParseDockerRef`,
 * `WithName`, `WithTag`, `WithDigest`, `TrimNamed`, `TagNameOnly`, `IsNameOnly`,
 * `FamiliarName`, `FamiliarString`.
 *
 * Go spreads one idea over five types (repository, taggedReference, canonicalReference,
 * reference, digestReference) and tells them apart with type assertions. Here a named reference
 * is one `Reference` whose `tag` and `digest` are present or not, and the digest-only form (an
 * image ID) is a `DigestReference`.
 */
import { ReferenceError, type ReferenceErrorReason } from './errors.js';
import {
  ANCHORED_DIGEST_RE,
  ANCHORED_DOMAIN_RE,
  ANCHORED_IDENTIFIER_RE,
  ANCHORED_REMOTE_NAME_RE,
  ANCHORED_NAME_RE,
  ANCHORED_TAG_RE,
  DIGEST_INVALID_FORMAT,
  DIGEST_INVALID_LENGTH,
  NAME_TOTAL_LENGTH_MAX,
  REFERENCE_RE,
  goDigestProblem,
  goToLower,
} from './grammar.js';

/** The registry a name without a domain belongs to. */
export const DEFAULT_DOMAIN = 'docker.io';
/** The old spelling of `docker.io`, normalised to it. */
export const LEGACY_DEFAULT_DOMAIN = 'index.docker.io';
/** The namespace of official images: `ubuntu` is `docker.io/library/ubuntu`. */
export const OFFICIAL_REPO_NAME = 'library';
/** The tag a reference without one gets (`TagNameOnly`). */
export const DEFAULT_TAG = 'latest';

const MSG = {
  format: 'invalid reference format',
  uppercase: 'repository name must be lowercase',
  normalizedUppercase: 'invalid reference format: repository name must be lowercase',
  nameEmpty: 'repository name must have at least one component',
  nameTooLong: `repository name must not be more than ${NAME_TOTAL_LENGTH_MAX} characters`,
  notCanonical: 'repository name must be canonical',
  tag: 'invalid tag format',
  digest: 'invalid digest format',
} as const;

function fail(reason: ReferenceErrorReason, message: string, input: string): never {
  throw new ReferenceError(reason, message, input);
}

/** The parts of a named reference. `domain` may be empty (a reference from `parse('foo')`). */
export interface ReferenceParts {
  domain: string;
  path: string;
  tag?: string | undefined;
  digest?: string | undefined;
}

/**
 * A named image reference: `[domain/]path[:tag][@digest]`, e.g. for `ubuntu:22.04` after
 * `parseNormalizedNamed`: domain `docker.io`, path `library/ubuntu`, tag `22.04`.
 *
 * Immutable. The constructor checks every part against the grammar (and the 255-character name
 * limit) and throws `ReferenceError` (`invalid reference format`, `invalid tag format`,
 * `invalid digest format`), so a `Reference` is always one that Go could have produced.
 */
export class Reference {
  readonly kind = 'named' as const;
  /** The registry host[:port], `docker.io` for Docker Hub; `''` in `parse` results and familiar forms. */
  readonly domain: string;
  /** The repository path within the registry, e.g. `library/ubuntu`. */
  readonly path: string;
  /** The tag, if the reference has one. */
  readonly tag: string | undefined;
  /** The digest (`algorithm:hex`), if the reference has one. */
  readonly digest: string | undefined;

  constructor(parts: ReferenceParts) {
    const { domain, path, tag, digest } = parts;
    const name = domain === '' ? path : `${domain}/${path}`;
    // An empty domain is allowed with any valid path: Go's familiar forms (`user/app`) and
    // `parse('foo')` have that shape.
    if ((domain !== '' && !ANCHORED_DOMAIN_RE.test(domain)) || !ANCHORED_REMOTE_NAME_RE.test(path)) fail('format', MSG.format, name);
    if (name.length > NAME_TOTAL_LENGTH_MAX) fail('name-too-long', MSG.nameTooLong, name);
    if (tag !== undefined && !ANCHORED_TAG_RE.test(tag)) fail('tag', MSG.tag, tag);
    if (digest !== undefined && !ANCHORED_DIGEST_RE.test(digest)) fail('digest', MSG.digest, digest);
    this.domain = domain;
    this.path = path;
    this.tag = tag;
    this.digest = digest;
  }

  /** Go's `Name()`: `domain/path`, or just `path` when there is no domain. */
  name(): string {
    return this.domain === '' ? this.path : `${this.domain}/${this.path}`;
  }

  /** Go's `String()`: the full form, `name[:tag][@digest]`, e.g. `docker.io/library/a:2`. */
  string(): string {
    return this.name() + (this.tag !== undefined ? ':' + this.tag : '') + (this.digest !== undefined ? '@' + this.digest : '');
  }

  /**
   * Go's `Familiar()`: the same reference with `docker.io/` dropped and, for a two-element
   * `library/<x>` path on `docker.io`, `library/` too (`docker.io/library/foo/bar` stays
   * `library/foo/bar`).
   */
  familiar(): Reference {
    if (this.domain !== DEFAULT_DOMAIN) return this;
    const split = this.path.split('/');
    const path = split.length === 2 && split[0] === OFFICIAL_REPO_NAME ? split[1]! : this.path;
    return new Reference({ domain: '', path, tag: this.tag, digest: this.digest });
  }

  /** Go's `FamiliarName`: the name as Docker shows it, e.g. `ubuntu`, `user/app`, `host:5000/x`. */
  familiarName(): string {
    return this.familiar().name();
  }

  /** Go's `FamiliarString`: the whole reference as Docker shows it, e.g. `ubuntu:22.04`. */
  familiarString(): string {
    return this.familiar().string();
  }

  /** Go's `IsNameOnly`: neither a tag nor a digest. */
  isNameOnly(): boolean {
    return this.tag === undefined && this.digest === undefined;
  }

  /** Same domain, path, tag and digest. */
  equals(other: Reference | DigestReference): boolean {
    return (
      other.kind === 'named' && other.domain === this.domain && other.path === this.path && other.tag === this.tag && other.digest === this.digest
    );
  }

  /** The full form (`string()`), so a Reference prints as Go's does with `%s`. */
  toString(): string {
    return this.string();
  }
}

/**
 * A reference that is only a digest: what `parseAnyReference` returns for an image ID given as
 * 64 hex digits or `sha256:<64 hex>` (or any digest go-digest accepts).
 */
export class DigestReference {
  readonly kind = 'digest' as const;
  /** `algorithm:hex`, e.g. `sha256:4f…`. */
  readonly digest: string;

  constructor(digest: string) {
    const problem = goDigestProblem(digest);
    if (problem !== undefined) fail(checksumReason(problem), problem, digest);
    this.digest = digest;
  }

  string(): string {
    return this.digest;
  }

  /** A digest has no familiar form: the same as `string()`. */
  familiarString(): string {
    return this.digest;
  }

  equals(other: Reference | DigestReference): boolean {
    return other.kind === 'digest' && other.digest === this.digest;
  }

  toString(): string {
    return this.digest;
  }
}

function checksumReason(problem: string): ReferenceErrorReason {
  return problem === DIGEST_INVALID_FORMAT ? 'checksum-format' : problem === DIGEST_INVALID_LENGTH ? 'checksum-length' : 'checksum-algorithm';
}

/**
 * Go's `Parse`: the reference exactly as written, not normalised: `parse('ubuntu')` has no
 * domain, and `parse('a/b')` takes `a` as the domain. Errors: `repository name must have at
 * least one component` (empty input), `repository name must be lowercase` (it would parse if
 * lowered), `invalid reference format`, `repository name must not be more than 255 characters`,
 * and go-digest's `invalid checksum digest format` / `invalid checksum digest length` /
 * `unsupported digest algorithm` for the digest part.
 */
export function parse(s: string): Reference {
  const m = REFERENCE_RE.exec(s);
  if (!m) {
    if (s === '') fail('name-empty', MSG.nameEmpty, s);
    if (REFERENCE_RE.test(goToLower(s))) fail('uppercase', MSG.uppercase, s);
    fail('format', MSG.format, s);
  }
  const name = m[1]!;
  if (name.length > NAME_TOTAL_LENGTH_MAX) fail('name-too-long', MSG.nameTooLong, s);
  const nm = ANCHORED_NAME_RE.exec(name)!;
  const digest = m[3];
  if (digest !== undefined) {
    const problem = goDigestProblem(digest);
    if (problem !== undefined) fail(checksumReason(problem), problem, s);
  }
  return new Reference({ domain: nm[1] ?? '', path: nm[2]!, tag: m[2], digest });
}

/**
 * Go's `splitDockerDomain`: the first `/`-separated element is a domain only if it contains `.`
 * or `:` or is `localhost`; otherwise the domain is `docker.io`. `index.docker.io` becomes
 * `docker.io`, and a single-element name on `docker.io` gets `library/`.
 */
function splitDockerDomain(name: string): [domain: string, remainder: string] {
  const i = name.indexOf('/');
  let domain: string;
  let remainder: string;
  const first = i === -1 ? '' : name.slice(0, i);
  if (i === -1 || (!/[.:]/.test(first) && first !== 'localhost')) {
    domain = DEFAULT_DOMAIN;
    remainder = name;
  } else {
    domain = first;
    remainder = name.slice(i + 1);
  }
  if (domain === LEGACY_DEFAULT_DOMAIN) domain = DEFAULT_DOMAIN;
  if (domain === DEFAULT_DOMAIN && !remainder.includes('/')) remainder = `${OFFICIAL_REPO_NAME}/${remainder}`;
  return [domain, remainder];
}

/**
 * Go's `ParseNormalizedNamed`: what `docker tag`, `docker pull` and the daemon use. Adds
 * `docker.io` and `library/` as Docker does (`ubuntu` → `docker.io/library/ubuntu`), keeps a
 * tag or digest as given (no `latest` is added: see `tagNameOnly`). Refuses a bare 64-hex
 * string (`invalid repository name (<s>), cannot specify 64-byte hexadecimal strings`), an
 * upper-case repository name (`invalid reference format: repository name must be lowercase`;
 * an upper-case *domain* is fine) and everything `parse` refuses (on the normalised string, so
 * the 255-character limit counts `docker.io/library/`).
 */
export function parseNormalizedNamed(s: string): Reference {
  if (ANCHORED_IDENTIFIER_RE.test(s)) {
    fail('hex-name', `invalid repository name (${s}), cannot specify 64-byte hexadecimal strings`, s);
  }
  const [domain, remainder] = splitDockerDomain(s);
  const tagSep = remainder.indexOf(':');
  const remoteName = tagSep > -1 ? remainder.slice(0, tagSep) : remainder;
  if (goToLower(remoteName) !== remoteName) fail('uppercase', MSG.normalizedUppercase, s);
  try {
    return parse(`${domain}/${remainder}`);
  } catch (e) {
    // Same error, but naming what the caller gave rather than the normalised string.
    if (e instanceof ReferenceError) throw new ReferenceError(e.reason, e.message, s);
    throw e;
  }
}

/**
 * Go's `ParseNamed`: `parseNormalizedNamed`, but only for the full form: `docker.io/library/foo`
 * is fine, `foo` and `docker.io/foo` give `repository name must be canonical`.
 */
export function parseNamed(s: string): Reference {
  const ref = parseNormalizedNamed(s);
  if (ref.string() !== s) fail('not-canonical', MSG.notCanonical, s);
  return ref;
}

/**
 * Go's `ParseAnyReference`: an image ID (64 hex digits, which become `sha256:<hex>`, or any
 * valid digest such as `sha256:<hex>`) gives a `DigestReference`; anything else goes through
 * `parseNormalizedNamed`. So `sha256:abc` (too short to be a digest) is the tag `abc` of the
 * repository `sha256`.
 */
export function parseAnyReference(s: string): Reference | DigestReference {
  if (ANCHORED_IDENTIFIER_RE.test(s)) return new DigestReference('sha256:' + s);
  if (goDigestProblem(s) === undefined) return new DigestReference(s);
  return parseNormalizedNamed(s);
}

/**
 * Go's `ParseDockerRef` (containerd's and BuildKit's normalisation): `parseNormalizedNamed`, then
 * a reference with both a tag and a digest keeps only the digest, and a bare name gets `latest`.
 */
export function parseDockerRef(s: string): Reference {
  const named = parseNormalizedNamed(s);
  if (named.tag !== undefined && named.digest !== undefined) return withDigest(withName(named.name()), named.digest);
  return tagNameOnly(named);
}

/**
 * Go's `WithName`: a name-only reference from `[domain/]path`, split as `parse` splits it (not
 * normalised). `repository name must not be more than 255 characters` or
 * `invalid reference format`.
 */
export function withName(name: string): Reference {
  if (name.length > NAME_TOTAL_LENGTH_MAX) fail('name-too-long', MSG.nameTooLong, name);
  const m = ANCHORED_NAME_RE.exec(name);
  if (!m) fail('format', MSG.format, name);
  return new Reference({ domain: m[1] ?? '', path: m[2]! });
}

/** Go's `WithTag`: `ref` with its tag set to `tag` (a digest is kept); `invalid tag format`. */
export function withTag(ref: Reference, tag: string): Reference {
  if (!ANCHORED_TAG_RE.test(tag)) fail('tag', MSG.tag, tag);
  return new Reference({ domain: ref.domain, path: ref.path, tag, digest: ref.digest });
}

/**
 * Go's `WithDigest`: `ref` with its digest set (a tag is kept). Checks only the reference
 * grammar's digest pattern (`invalid digest format`), not go-digest's stricter rules.
 */
export function withDigest(ref: Reference, digest: string): Reference {
  if (!ANCHORED_DIGEST_RE.test(digest)) fail('digest', MSG.digest, digest);
  return new Reference({ domain: ref.domain, path: ref.path, tag: ref.tag, digest });
}

/** Go's `TrimNamed`: the name alone, without tag or digest. */
export function trimNamed(ref: Reference): Reference {
  return ref.isNameOnly() ? ref : new Reference({ domain: ref.domain, path: ref.path });
}

/** Go's `TagNameOnly`: a name-only reference gets the tag `latest`; others are returned as is. */
export function tagNameOnly(ref: Reference): Reference {
  return ref.isNameOnly() ? withTag(ref, DEFAULT_TAG) : ref;
}

/** Go's `IsNameOnly`. */
export function isNameOnly(ref: Reference): boolean {
  return ref.isNameOnly();
}

/** Go's `FamiliarName`, e.g. `ubuntu` for `docker.io/library/ubuntu:22.04`. */
export function familiarName(ref: Reference): string {
  return ref.familiarName();
}

/** Go's `FamiliarString`, e.g. `ubuntu:22.04`; a digest reference is its digest. */
export function familiarString(ref: Reference | DigestReference): string {
  return ref.familiarString();
}
