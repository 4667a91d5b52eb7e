/**
 * The one error of reference parsing. Its message is the Go error's text, word for word, so that
 * what strata prints reads as what `docker` prints after its `Error parsing reference: "<s>" is
 * not a valid repository/tag: ` prefix.
 */
import { StrataError } from '../../errors/index.js';

/**
 * Why a reference was refused, one value per Go error:
 * - `format`: `invalid reference format` (`ErrReferenceInvalidFormat`);
 * - `uppercase`: `repository name must be lowercase` from `Parse`, or
 *   `invalid reference format: repository name must be lowercase` from `ParseNormalizedNamed`;
 * - `name-empty`: `repository name must have at least one component` (`Parse("")`);
 * - `name-too-long`: `repository name must not be more than 255 characters`;
 * - `not-canonical`: `repository name must be canonical` (`ParseNamed`);
 * - `hex-name`: `invalid repository name (<s>), cannot specify 64-byte hexadecimal strings`;
 * - `tag`: `invalid tag format` (`WithTag`);
 * - `digest`: `invalid digest format` (`WithDigest`);
 * - `checksum-format`, `checksum-length`, `checksum-algorithm`: go-digest's
 *   `invalid checksum digest format`, `invalid checksum digest length`,
 *   `unsupported digest algorithm`, for the digest part of a parsed reference.
 */
export type ReferenceErrorReason =
  | 'format'
  | 'uppercase'
  | 'name-empty'
  | 'name-too-long'
  | 'not-canonical'
  | 'hex-name'
  | 'tag'
  | 'digest'
  | 'checksum-format'
  | 'checksum-length'
  | 'checksum-algorithm';

/** A string that is not a valid image reference. `code` is always `INVALID_REFERENCE`. */
export class ReferenceError extends StrataError {
  declare readonly code: 'INVALID_REFERENCE';
  /** Which rule refused it (see `ReferenceErrorReason`). */
  readonly reason: ReferenceErrorReason;
  /** The text that was being parsed (the tag for `tag`, the digest for `digest`). */
  readonly input: string;

  constructor(reason: ReferenceErrorReason, message: string, input: string) {
    super('INVALID_REFERENCE', message);
    this.reason = reason;
    this.input = input;
  }
}
