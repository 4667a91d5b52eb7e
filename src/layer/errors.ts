/**
 * The layer store's errors: one class, `LayerStoreError`, whose messages are moby's `layer`
 * package texts where moby has one (so a user who knows Docker recognises them), and strata's own
 * where moby had no such case (locking, read-only stores, `layer rm` of a layer in use).
 */
import { StrataError } from '../errors/index.js';

/**
 * Stable codes and their texts:
 * - `LAYER_DOES_NOT_EXIST`  `layer does not exist` (moby ErrLayerDoesNotExist)
 * - `LAYER_NOT_RETAINED`    `layer not retained` (a handle released twice, or from another store)
 * - `MOUNT_DOES_NOT_EXIST`  `mount does not exist`
 * - `MOUNT_NAME_CONFLICT`   `mount already exists with name`
 * - `MAX_DEPTH_EXCEEDED`    `max depth exceeded` (a 126th layer)
 * - `LAYER_VERIFY`          `could not verify layer data for: <diffID>. This may be because …`
 * - `NOT_A_PARENT`          `layer ID '<id>' is not a parent of the specified layer: cannot provide diff to non-parent`
 * - `LAYER_IN_USE`          `layer <chainID> is in use: …` (removing a layer something still holds)
 * - `LAYER_BROKEN`          `layer <chainID> exists on disk but did not load: <why>`
 * - `STORE_LOCKED`          `data root <dir> is in use by another strata process` (lock: 'fail')
 * - `STORE_OWNED_BY_DOCKERD` `data root <dir> is in use by a running dockerd (pid N): …` (writable opens)
 * - `STORE_READ_ONLY`       `layer store opened read-only: cannot <op>`
 * - `STORE_CLOSED`          `layer store is closed`
 * - `NO_DATA_ROOT`          `data root <dir> does not exist` (a read-only open never creates one)
 */
export type LayerStoreErrorCode =
  | 'LAYER_DOES_NOT_EXIST'
  | 'LAYER_NOT_RETAINED'
  | 'MOUNT_DOES_NOT_EXIST'
  | 'MOUNT_NAME_CONFLICT'
  | 'MAX_DEPTH_EXCEEDED'
  | 'LAYER_VERIFY'
  | 'NOT_A_PARENT'
  | 'LAYER_IN_USE'
  | 'LAYER_BROKEN'
  | 'STORE_LOCKED'
  | 'STORE_OWNED_BY_DOCKERD'
  | 'STORE_READ_ONLY'
  | 'STORE_CLOSED'
  | 'NO_DATA_ROOT';

export class LayerStoreError extends StrataError {
  declare readonly code: LayerStoreErrorCode;
  constructor(code: LayerStoreErrorCode, message: string, cause?: unknown) {
    super(code, message, cause === undefined ? undefined : { cause });
  }
}

/** `layer does not exist`, naming the layer when one is known (moby's text first, then the ID). */
export function errLayerDoesNotExist(chainId?: string): LayerStoreError {
  return new LayerStoreError('LAYER_DOES_NOT_EXIST', chainId ? `layer does not exist: ${chainId}` : 'layer does not exist');
}

export function errMountDoesNotExist(name?: string): LayerStoreError {
  return new LayerStoreError('MOUNT_DOES_NOT_EXIST', name ? `mount does not exist: ${name}` : 'mount does not exist');
}

export function errVerify(diffId: string): LayerStoreError {
  return new LayerStoreError(
    'LAYER_VERIFY',
    `could not verify layer data for: ${diffId}. This may be because internal files in the layer store were modified. Re-pulling or rebuilding this image may resolve the issue`,
  );
}
