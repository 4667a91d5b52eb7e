/**
 * Layer archives: how a layer travels as a tar stream and lands on disk, byte for byte as dockerd
 * does it.
 *
 * Registering a layer (what `docker load` and `docker pull` do for each layer):
 *
 *   const input = decompress(fs.createReadStream('layer.tar.gz'));         // compression.ts
 *   let diffId;
 *   const reader = new TarReader(hashing(input, (d) => (diffId = d)));     // tar/, ../digest
 *   const packer = createTarSplitWriter(`${tx}/tar-split.json.gz`);          // tarsplit/
 *   const { size } = await applyLayer(recordTarSplit(reader, packer), diffDir,
 *                                     { whiteouts: 'overlay' });             // apply/
 *   await packer.close();
 *
 * Exporting it again (`docker save`): `assembleTar(tarSplit, rootFileGetter(diffDir))` replays the
 * original bytes, so the output hashes to the DiffID. Committing a container (`docker commit`):
 * `writeLayerTar(upperDir)` writes what dockerd's overlay2 Diff writes (diff/), and
 * `changes(new, old)` lists what `docker diff` lists.
 *
 * Whiteouts have two forms — `.wh.` entries in tars, 0/0 devices and an opaque xattr on overlay
 * disks — and whiteout.ts names both. Each sub-folder's index states its own contract.
 */
export * from './tar/index.js';
export * from './tarsplit/index.js';
export * from './apply/index.js';
export * from './diff/index.js';
export * from './whiteout.js';
export { directorySize } from './size.js';
export { sniffCompression, decompress, compress, type Compression } from './compression.js';
export { goCleanPath, goQuote } from './gostrings.js';
