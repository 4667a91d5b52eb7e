/**
 * The size of the tar a tar-split reassembles to, without reassembling it.
 *
 * `docker save` (and strata's writers) put each layer into an outer tar as a member, and a tar
 * header carries the member's size *before* its content. Reading the whole layer once just to
 * count it would double the work, but the tar-split already knows: reassembly writes every
 * Segment's payload verbatim and, for every File entry, exactly `size` bytes read from disk
 * (`assembleTar` refuses a file whose content differs). So
 *
 *   tar bytes = Σ Segment payload lengths + Σ File sizes
 *
 * Worked example — the one-file layer from `index.ts` (header 512 B, "hello\n", padding, end
 * marker, 8192 B of record fill, the final empty Segment):
 *
 *   {"type":2,"payload":"<512 B>","position":0}                 512
 *   {"type":1,"name":"data/a","size":6,"payload":"…","position":1}  6
 *   {"type":2,"payload":"<506 B + 1024 B>","position":2}        1530
 *   {"type":2,"payload":"<8192 B>","position":3}                8192
 *   {"type":2,"payload":"","position":4}                           0
 *
 *   await tarSizeOf(`${layerDir}/tar-split.json.gz`)   // 10240: the reassembled tar's length
 *
 * Only the small gzip'd JSON is read; the layer's files are not touched. Entries of other types
 * are ignored, as reassembly ignores them. Malformed input fails as `readTarSplit` does
 * (`TARSPLIT_CORRUPT`, `TARSPLIT_DUPLICATE_PATH`).
 */
import { EntryType } from './entry.js';
import { readTarSplit, type TarSplitSource } from './unpacker.js';

/**
 * The byte length of the tar a tar-split record reassembles to: every segment payload plus every
 * file entry's size. Reads only the (small, gzip'd JSON) tar-split.
 */
export async function tarSizeOf(tarSplit: TarSplitSource): Promise<number> {
  let size = 0;
  for await (const e of readTarSplit(tarSplit)) size += entryBytes(e.type, e.payload, e.size);
  return size;
}

/** The bytes one entry contributes to the reassembled tar. */
function entryBytes(type: number, payload: Buffer | null, fileSize: number | undefined): number {
  if (type === EntryType.Segment) return payload?.length ?? 0;
  if (type === EntryType.File) return fileSize ?? 0;
  return 0;
}
