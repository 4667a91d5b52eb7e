/**
 * The imagedb: where Docker keeps image configs, by content, and a few facts about each image.
 *
 * An image ID is the SHA-256 of the image's config bytes, so the store is a plain
 * content-addressed directory: the file name *is* the hash of the file. Next to it, per image,
 * a directory of small metadata files that are not part of the image's identity. Worked example
 * — an image built on an imported base, tagged `built:1`, as dockerd 20.10 left it:
 *
 *   image/overlay2/imagedb/                          0700
 *   ├── content/sha256/                              0700
 *   │   ├── 469789f7…badde         {"architecture":"amd64",…}   0600  the base's config
 *   │   └── 5ca0cdc5…2fc4          {"architecture":"amd64",…}   0600  sha256(file) == name
 *   └── metadata/sha256/                             0700
 *       ├── 469789f7…badde/                          0700
 *       │   └── lastUpdated        2026-11-23T10:22:17.129039642Z   0600  set when tagged
 *       └── 5ca0cdc5…2fc4/
 *           ├── parent             sha256:7d444ff1…9378             0600  legacy builder's parent
 *           └── lastUpdated        2026-11-23T10:22:20.121048274Z   0600
 *
 *   const db = ImageDb.open(imageDbPath('/var/lib/docker', 'overlay2'));  // makes the dirs if new
 *   const id = db.set(configBytes);      // sha256:5ca0cdc5…; content/sha256/5ca0cdc5… (0600)
 *   db.get(id)                           // the bytes, re-hashed: 'failed to verify: …' if changed
 *   db.walk()                            // [sha256:469789f7…, sha256:5ca0cdc5…] (temp files skipped)
 *   db.setParent(id, baseId);            // metadata/sha256/5ca0cdc5…/parent
 *   db.getParent(id)                     // 'sha256:469789f7…'
 *   db.setLastUpdated(id);               // time.Now() in local time, RFC3339Nano
 *   db.delete(id);                       // metadata dir, then the content file
 *
 * **Every write is atomic** (moby's `AtomicWriteFile`): the bytes go to
 * `.tmp-<name><random digits>` in the same directory, are fsync'd, chmod'ed to 0600 and renamed
 * over the target; strata then fsyncs the directory too. A crash leaves the old file or the new
 * one, plus at worst a `.tmp-…` file that `walk` never lists. A failed write removes its temp
 * file: nothing of it is left.
 *
 * **Metadata belongs to existing, intact images**: `setMetadata` (and so `setParent`,
 * `setLastUpdated`) first reads and verifies the image's content and refuses if it is missing
 * or does not verify; `getMetadata` does the same.
 *
 * What this store does not know: whether a config parses (`../config.ts`), whether its layers
 * exist, which images are children of which, or tags — that is the image store's job, as
 * `image/store.go` sits on `image/fs.go` in moby. Everything here is synchronous (a config is a
 * few KiB); there is no locking: one writer per data root, the caller's business.
 */
export {
  ImageDb,
  imageDbPath,
  IMAGEDB_FILE_MODE,
  IMAGEDB_DIR_MODE,
  PARENT_KEY,
  LAST_UPDATED_KEY,
} from './store.js';
export { ImageDbError, type ImageDbErrorCode, goErrorText } from './errors.js';
export { atomicWriteFile } from './atomic.js';
export {
  type GoTime,
  type GoTimeLayout,
  GO_ZERO_TIME,
  parseGoTime,
  formatGoTime,
  normalizeGoTime,
  goTimeAt,
  goTimeNowLocal,
  goTimeNowUTC,
  goUnixEpochLocal,
} from './gotime.js';
