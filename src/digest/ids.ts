/**
 * Random IDs for graph-driver directories (cache-id, mount-id), as Docker makes them.
 */
import crypto from 'node:crypto';

const MOUNT_ID_RE = /^[a-f0-9]{64}(-init)?$/;
const ALL_DIGITS_12 = /^[0-9]{12}/;

/**
 * A fresh cache-id / mount-id: 64 lowercase hex characters from 32 bytes of crypto randomness,
 * drawn again while its first 12 characters are all decimal digits — Docker's
 * `stringid.GenerateRandomID`, which avoids IDs whose short (12-character) form would read as a
 * number. `random` is for tests; it defaults to `crypto.randomBytes`.
 */
export function randomCacheId(random: (size: number) => Buffer = crypto.randomBytes): string {
  for (;;) {
    const id = random(32).toString('hex');
    if (!ALL_DIGITS_12.test(id)) return id;
  }
}

/**
 * True when `s` is a 64-lowercase-hex ID, optionally with Docker's `-init` suffix (the init layer
 * of a container's RW layer). Note that BuildKit-registered layers use 25-character base-36 IDs,
 * which this deliberately rejects: strata only ever creates the 64-hex kind.
 */
export function isValidMountId(s: string): boolean {
  return MOUNT_ID_RE.test(s);
}
