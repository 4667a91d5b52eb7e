/**
 * Names for bytes: digests, DiffIDs, ChainIDs, random IDs, and tar-split's CRC-64.
 *
 * Docker names everything in its layer store by content. A layer arrives as a tar stream; the
 * SHA-256 of that stream's exact bytes is its **DiffID** (`sha256:<64 hex>`). But a layer's
 * files only mean something on top of its parents, so the store's directory for a layer is named
 * by its **ChainID**, which folds in every DiffID below it. The graph driver's directory for the
 * same layer gets a third, random name (the **cache-id**), so that driver storage never leaks
 * content names. Worked example — an image of two layers, each an empty tar:
 *
 *   const diffIds = [DIGEST_EMPTY_TAR, DIGEST_EMPTY_TAR];   // sha256 of 1024 zero bytes
 *   // layer 1: ChainID = DiffID, not re-hashed
 *   chainId(undefined, diffIds[0])   // sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef
 *   // layer 2: sha256 of the text "sha256:5f70bf18… sha256:5f70bf18…" (parent chain, space, DiffID)
 *   chainId(chain1, diffIds[1])      // sha256:170b376f64fb30995c140276be3d71dfb256b308d86183ca3b22aa93a79ad548
 *   chainIds(diffIds)                // both at once: [chain1, chain2]
 *
 *   // so the layer store keeps layerdb/sha256/170b376f…/{diff,parent,cache-id,…}, whose
 *   // cache-id file holds randomCacheId(), e.g. 3f1c…(64 hex), the overlay2/<cache-id>/ dir.
 *
 * Hashing happens while bytes stream past, never on a second read:
 *
 *   let diffId!: Digest;
 *   for await (const chunk of hashing(decompress(blob), (d) => (diffId = d))) apply(chunk);
 *
 * and tar-split records each file's content as a CRC-64/GO-ISO (`Crc64`) rather than a hash.
 *
 * Everything here is synchronous and pure except `sha256File` (reads a file) and `randomCacheId`
 * (reads the system CSPRNG).
 */
export {
  type Digest,
  DIGEST_EMPTY,
  DIGEST_EMPTY_TAR,
  isDigest,
  parseDigest,
  digestHex,
  digestFromHex,
} from './digest.js';
export { Sha256, sha256Of, sha256File, hashing } from './sha256.js';
export { chainId, chainIds } from './chain.js';
export { randomCacheId, isValidMountId } from './ids.js';
export { Crc64, crc64 } from './crc64.js';
