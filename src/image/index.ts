/**
 * The image store: what turns a stack of layers into a named image, in Docker's files.
 *
 *   image/overlay2/
 *   ├── imagedb/content/sha256/<id>        the config JSON; its SHA-256 is the image ID (imagedb/)
 *   ├── imagedb/metadata/sha256/<id>/      parent, lastUpdated
 *   ├── repositories.json                  names → image IDs (references.ts, reference/)
 *   ├── distribution/                      registry blob ↔ DiffID mappings (distribution.ts)
 *   └── layerdb/                           the layers the configs' rootfs.diff_ids name (src/layer)
 *
 * How the pieces meet, for an image whose layers are already registered:
 *
 *   const bytes = fs.readFileSync('config.json');
 *   const config = parseNewImageConfig(bytes);            // rootfs and history checked as moby does
 *   const top = topChainIdOf(config);                     // ChainID of rootfs.diff_ids: the layer to hold
 *   const id = ImageDb.open(imageDbPath(root, 'overlay2')).set(bytes);   // sha256:… = imageId(bytes)
 *   const refs = openReferenceStore(repositoriesJsonPath(root, 'overlay2'));
 *   refs.addTag(parseNormalizedNamed('app:1'), id, true); // {"Repositories":{"app":{"app:1":"sha256:…"}}}
 *   v1Layers(config)                                      // `docker save`'s <v1id>/ dirs and json files
 *
 * Every file is written as dockerd writes it (bytes, modes, key order) and read as it reads it;
 * each module's tests compare with dockerd 20.10. `store.ts` ties them to the layer store
 * (`openImageStore`: images holding their top layers, `resolve` of names and ID prefixes), and
 * `archive/` reads and writes image archives: `source.ts` (a docker-save tar, OCI archive or
 * layout directory, read in place or spooled), `docker-save.ts` and `oci-layout.ts` (writers).
 * The verbs that use them (load, save, commit, rmi) are in `src/engine/`.
 */
export * from './imagedb/index.js';
export * from './reference/index.js';
export * from './references.js';
export * from './config.js';
export * from './v1.js';
export * from './store.js';
export * from './distribution.js';
