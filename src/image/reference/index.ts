/**
 * Image references: the names people give images (`ubuntu`, `ubuntu:22.04`,
 * `myreg:5000/team/app@sha256:…`), parsed exactly as Docker 20.10 parses them
 * (`github.com/docker/distribution/reference` v2.8).
 *
 * A reference is a **name** (an optional registry domain and a path), an optional **tag** and an
 * optional **digest**. What the user types is the *familiar* form; Docker works with the
 * *normalised* one, which always names the registry — and Docker Hub's official images live
 * under `library/`. The round trip, as `docker tag` and the image store do it:
 *
 *   const ref = parseNormalizedNamed('ubuntu');    // what `docker tag x ubuntu` parses
 *   ref.domain; ref.path;                          // 'docker.io', 'library/ubuntu'
 *   ref.string();                                  // 'docker.io/library/ubuntu' (no tag yet)
 *   const tagged = tagNameOnly(ref);               // a bare name means ':latest'
 *   tagged.string();                               // 'docker.io/library/ubuntu:latest'
 *   tagged.familiarName();                         // 'ubuntu'          → repositories.json key
 *   tagged.familiarString();                       // 'ubuntu:latest'   → the tag's key inside it
 *
 *   parseNormalizedNamed('user/app:v1').familiarString();        // 'user/app:v1' (domain docker.io)
 *   parseNormalizedNamed('myreg:5000/team/app').name();          // 'myreg:5000/team/app'
 *   withTag(parseNormalizedNamed('a'), '2').familiarString();    // 'a:2'
 *
 * The first path element counts as a registry only if it contains `.` or `:` or is `localhost`,
 * so `user/app` is on Docker Hub and `myreg.example/app` is not. Input that is not a reference
 * throws `ReferenceError` (code `INVALID_REFERENCE`) carrying Go's exact text:
 *
 *   parseNormalizedNamed('Ubuntu')     // invalid reference format: repository name must be lowercase
 *   parseNormalizedNamed('a::b')       // invalid reference format
 *   parseNormalizedNamed('<64 hex>')   // invalid repository name (<64 hex>), cannot specify 64-byte hexadecimal strings
 *
 * and where a string may also be an image ID (`docker rmi`, `docker tag <source>`),
 * `parseAnyReference` tells them apart: 64 hex digits or `sha256:<64 hex>` give a
 * `DigestReference`, anything else a named `Reference`.
 *
 * Everything here is pure and synchronous. The reference store that maps references to image
 * IDs (`repositories.json`) is `../references.ts`.
 */
export {
  Reference,
  DigestReference,
  type ReferenceParts,
  parse,
  parseNormalizedNamed,
  parseNamed,
  parseAnyReference,
  parseDockerRef,
  withName,
  withTag,
  withDigest,
  trimNamed,
  tagNameOnly,
  isNameOnly,
  familiarName,
  familiarString,
  DEFAULT_DOMAIN,
  LEGACY_DEFAULT_DOMAIN,
  OFFICIAL_REPO_NAME,
  DEFAULT_TAG,
} from './reference.js';
export { ReferenceError, type ReferenceErrorReason } from './errors.js';
export {
  NAME_TOTAL_LENGTH_MAX,
  REFERENCE_RE,
  ANCHORED_NAME_RE,
  ANCHORED_TAG_RE,
  ANCHORED_DIGEST_RE,
  ANCHORED_IDENTIFIER_RE,
  goDigestProblem,
} from './grammar.js';
