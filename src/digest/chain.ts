/**
 * ChainIDs: the name of a layer *stack*.
 *
 * A DiffID names one layer's uncompressed tar. A ChainID names that layer together with
 * everything under it, so the same tar applied on two different parents gets two different
 * layer directories (`layerdb/sha256/<chainID hex>/`). Docker's `createChainIDFromParent`
 * (and image-spec's `identity.ChainID`, the same maths):
 *
 *   ChainID(L1) = DiffID(L1)                                  (used as is, not re-hashed)
 *   ChainID(Ln) = sha256( ChainID(Ln-1) + " " + DiffID(Ln) )  (full "sha256:…" strings)
 */
import type { Digest } from './digest.js';
import { sha256Of } from './sha256.js';

/**
 * The ChainID of a layer with DiffID `diffId` on top of the stack whose ChainID is `parent`.
 * With no parent the result is `diffId` itself; otherwise it is the SHA-256 of the ASCII text
 * `parent + " " + diffId`. Inputs are trusted to be valid digests (use `parseDigest` at the edge).
 */
export function chainId(parent: Digest | undefined, diffId: Digest): Digest {
  return parent === undefined ? diffId : sha256Of(parent + ' ' + diffId);
}

/**
 * The ChainID of every prefix of `diffIds` (bottom layer first): element `i` is the ChainID of
 * layers `0..i`, so the last element names the whole stack. An empty list gives an empty list.
 */
export function chainIds(diffIds: readonly Digest[]): Digest[] {
  const out: Digest[] = [];
  let parent: Digest | undefined;
  for (const d of diffIds) {
    parent = chainId(parent, d);
    out.push(parent);
  }
  return out;
}
