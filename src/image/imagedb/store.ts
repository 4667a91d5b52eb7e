/**
 * `ImageDb`: moby's `image/fs.go` store (v20.10) over `<root>/image/<driver>/imagedb/`.
 */
import fs from 'node:fs';
import path from 'node:path';
import { type Digest, digestFromHex, isDigest, sha256Of } from '../../digest/index.js';
import { fsyncDir, mkdirAll, removeAll } from '../../layer/metadata/fsutil.js';
import { errCode } from '../../layer/metadata/errors.js';
import { atomicWriteFile } from './atomic.js';
import { ImageDbError, goErrorText } from './errors.js';
import { formatGoTime, goTimeNowLocal, parseGoTime } from './gotime.js';

/** Mode of the content and metadata files. */
export const IMAGEDB_FILE_MODE = 0o600;
/** Mode of every directory the store creates. */
export const IMAGEDB_DIR_MODE = 0o700;

/** The metadata key holding the parent image ID. */
export const PARENT_KEY = 'parent';
/** The metadata key holding the time the image was last tagged. */
export const LAST_UPDATED_KEY = 'lastUpdated';

const HEX64 = /^[0-9a-f]{64}$/;

/** `<dataRoot>/image/<driver>/imagedb`, where dockerd keeps it. */
export function imageDbPath(dataRoot: string, driver: string): string {
  return path.join(dataRoot, 'image', driver, 'imagedb');
}

function checkId(id: unknown): asserts id is Digest {
  if (!isDigest(id)) throw new ImageDbError('IMAGEDB_BAD_ID', `invalid image ID ${JSON.stringify(id)}: expected sha256:<64 lowercase hex>`);
}

function checkKey(id: Digest, key: unknown): asserts key is string {
  if (typeof key !== 'string' || key === '' || key === '.' || key === '..' || key.includes('/') || key.includes('\0') || key.startsWith('.tmp-')) {
    throw new ImageDbError('IMAGEDB_BAD_KEY', `invalid metadata key ${JSON.stringify(key)} for ${id}: must be a plain file name`, { id });
  }
}

/**
 * The first component of `dir` that exists and is not a directory: the path Go's `MkdirAll`
 * names in its ENOTDIR error (it climbs until `Stat` succeeds, then refuses a non-directory).
 */
function notADirectory(dir: string): string {
  const parts: string[] = [];
  for (let p = dir; ; p = path.dirname(p)) {
    parts.unshift(p);
    if (path.dirname(p) === p) break;
  }
  for (const p of parts) {
    try {
      if (!fs.statSync(p).isDirectory()) return p;
    } catch {
      return dir;
    }
  }
  return dir;
}

export class ImageDb {
  /** The `imagedb` directory. */
  readonly root: string;

  private constructor(root: string) {
    this.root = root;
  }

  /**
   * Opens the store at `root` (`<dataRoot>/image/<driver>/imagedb`), creating
   * `content/sha256/` and `metadata/sha256/` (and any missing parents) with mode 0700, as
   * `NewFSStoreBackend` does. Existing directories are left as they are. Throws
   * `IMAGEDB_INIT` (`failed to create storage backend: mkdir …: not a directory`).
   */
  static open(root: string): ImageDb {
    for (const sub of ['content', 'metadata']) {
      const dir = path.join(root, sub, 'sha256');
      try {
        mkdirAll(dir, IMAGEDB_DIR_MODE);
      } catch (e) {
        const text = errCode(e) === 'ENOTDIR' ? `mkdir ${notADirectory(dir)}: not a directory` : goErrorText(e);
        throw new ImageDbError('IMAGEDB_INIT', `failed to create storage backend: ${text}`, { cause: e });
      }
    }
    return new ImageDb(root);
  }

  /** `content/sha256/<hex>`: the config bytes of image `id`. */
  contentPath(id: Digest): string {
    return path.join(this.root, 'content', 'sha256', id.slice(7));
  }

  /** `metadata/sha256/<hex>/`: the metadata files of image `id`. */
  metadataDir(id: Digest): string {
    return path.join(this.root, 'metadata', 'sha256', id.slice(7));
  }

  /**
   * Every image ID with a content file, in name order. Names that are not 64 lowercase hex
   * digits (`.tmp-…` files of an interrupted write, strays) are skipped, as Walk skips them;
   * a name that is valid but whose content does not verify is still listed — `get` reports it.
   */
  walk(): Digest[] {
    const dir = path.join(this.root, 'content', 'sha256');
    let names: string[];
    try {
      names = fs.readdirSync(dir);
    } catch (e) {
      throw new ImageDbError('IMAGEDB_READ', goErrorText(e), { cause: e });
    }
    return names
      .filter((n) => HEX64.test(n))
      .sort()
      .map((n) => digestFromHex(n));
  }

  /**
   * The config bytes of image `id`, after checking that they hash to `id`. Throws
   * `IMAGEDB_NOT_FOUND` / `IMAGEDB_READ` (`failed to get digest <id>: open …: …`) or
   * `IMAGEDB_VERIFY` (`failed to verify: <id>`).
   */
  get(id: Digest): Buffer {
    checkId(id);
    let content: Buffer;
    try {
      content = fs.readFileSync(this.contentPath(id));
    } catch (e) {
      const code = errCode(e) === 'ENOENT' ? 'IMAGEDB_NOT_FOUND' : 'IMAGEDB_READ';
      throw new ImageDbError(code, `failed to get digest ${id}: ${goErrorText(e, this.contentPath(id))}`, { id, cause: e });
    }
    if (sha256Of(content) !== id) throw new ImageDbError('IMAGEDB_VERIFY', `failed to verify: ${id}`, { id });
    return content;
  }

  /** True when image `id` has a content file (not verified: use `get` for that). */
  has(id: Digest): boolean {
    checkId(id);
    try {
      return fs.statSync(this.contentPath(id)).isFile();
    } catch {
      return false;
    }
  }

  /**
   * Stores `data` (a config, byte for byte) and returns its ID, `sha256:` + the SHA-256 of the
   * bytes. Written with `atomicWriteFile` at mode 0600; storing bytes that are already there
   * rewrites the same file. Throws `IMAGEDB_EMPTY_DATA` (`invalid empty data`) or
   * `IMAGEDB_WRITE` (`failed to write digest data: …`), and then nothing has changed.
   */
  set(data: Uint8Array | string): Digest {
    const buf = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    if (buf.length === 0) throw new ImageDbError('IMAGEDB_EMPTY_DATA', 'invalid empty data');
    const id = sha256Of(buf);
    try {
      atomicWriteFile(this.contentPath(id), buf, IMAGEDB_FILE_MODE);
    } catch (e) {
      throw new ImageDbError('IMAGEDB_WRITE', `failed to write digest data: ${goErrorText(e)}`, { id, cause: e });
    }
    return id;
  }

  /**
   * Removes image `id`: first its metadata directory (if any), then its content file, then
   * fsyncs both parents. Throws `IMAGEDB_NOT_FOUND` (`remove …: no such file or directory`)
   * when there was no content file — after removing any metadata, as dockerd does.
   */
  delete(id: Digest): void {
    checkId(id);
    const meta = this.metadataDir(id);
    try {
      removeAll(meta);
      fsyncDir(path.dirname(meta));
    } catch (e) {
      throw new ImageDbError('IMAGEDB_WRITE', goErrorText(e), { id, cause: e });
    }
    const file = this.contentPath(id);
    try {
      fs.unlinkSync(file);
    } catch (e) {
      throw new ImageDbError(errCode(e) === 'ENOENT' ? 'IMAGEDB_NOT_FOUND' : 'IMAGEDB_WRITE', goErrorText(e), { id, cause: e });
    }
    try {
      fsyncDir(path.dirname(file));
    } catch (e) {
      throw new ImageDbError('IMAGEDB_WRITE', goErrorText(e), { id, cause: e });
    }
  }

  /**
   * Writes metadata `key` of image `id` (`metadata/sha256/<hex>/<key>`, dir 0700, file 0600,
   * with `atomicWriteFile`). Fails — writing nothing — when the image's content is missing
   * (`IMAGEDB_NOT_FOUND`) or does not verify (`IMAGEDB_VERIFY`), as SetMetadata does.
   */
  setMetadata(id: Digest, key: string, data: Uint8Array | string): void {
    checkId(id);
    checkKey(id, key);
    this.get(id);
    const dir = this.metadataDir(id);
    try {
      mkdirAll(dir, IMAGEDB_DIR_MODE);
      atomicWriteFile(path.join(dir, key), data, IMAGEDB_FILE_MODE);
    } catch (e) {
      throw new ImageDbError('IMAGEDB_WRITE', goErrorText(e), { id, key, cause: e });
    }
  }

  /**
   * Metadata `key` of image `id`, as bytes. The image's content is verified first (its errors
   * as `get`); a missing key is `IMAGEDB_NO_METADATA` (`failed to read metadata: open …`).
   */
  getMetadata(id: Digest, key: string): Buffer {
    checkId(id);
    checkKey(id, key);
    this.get(id);
    const file = path.join(this.metadataDir(id), key);
    try {
      return fs.readFileSync(file);
    } catch (e) {
      const code = errCode(e) === 'ENOENT' ? 'IMAGEDB_NO_METADATA' : 'IMAGEDB_READ';
      throw new ImageDbError(code, `failed to read metadata: ${goErrorText(e, file)}`, { id, key, cause: e });
    }
  }

  /** Removes metadata `key` of image `id`; nothing to remove is fine. The content is not checked. */
  deleteMetadata(id: Digest, key: string): void {
    checkId(id);
    checkKey(id, key);
    const file = path.join(this.metadataDir(id), key);
    try {
      let existed = true;
      try {
        fs.lstatSync(file);
      } catch {
        existed = false;
      }
      removeAll(file);
      if (existed) fsyncDir(path.dirname(file));
    } catch (e) {
      throw new ImageDbError('IMAGEDB_WRITE', goErrorText(e), { id, key, cause: e });
    }
  }

  /**
   * Records `parent` as the parent image of `id` (`parent` file: `sha256:<hex>`, no newline).
   * Whether `parent` exists is the image store's business (dockerd checks it there).
   */
  setParent(id: Digest, parent: Digest): void {
    checkId(parent);
    this.setMetadata(id, PARENT_KEY, parent);
  }

  /**
   * The parent image ID of `id`, or undefined when it has none. A `parent` file that does not
   * hold exactly `sha256:<64 hex>` is `IMAGEDB_BAD_VALUE` (dockerd would find no such image).
   */
  getParent(id: Digest): Digest | undefined {
    const raw = this.optionalMetadata(id, PARENT_KEY);
    if (raw === undefined) return undefined;
    const text = raw.toString('utf8');
    if (!isDigest(text)) throw new ImageDbError('IMAGEDB_BAD_VALUE', `invalid parent of ${id}: ${JSON.stringify(text)} is not an image ID`, { id, key: PARENT_KEY });
    return text;
  }

  /** Removes the parent record of `id` (when its parent image is deleted). */
  deleteParent(id: Digest): void {
    this.deleteMetadata(id, PARENT_KEY);
  }

  /**
   * Sets `lastUpdated` of `id` to `time` (an RFC 3339 time, rewritten as Go would format it)
   * or, by default, to now in the host's local zone — `time.Now().Format(RFC3339Nano)`, as
   * dockerd does whenever it tags an image. Returns the text written.
   */
  setLastUpdated(id: Digest, time?: string): string {
    let text: string;
    if (time === undefined) text = goTimeNowLocal();
    else {
      const t = parseGoTime(time, 'nano');
      if (typeof t === 'string') throw new ImageDbError('IMAGEDB_BAD_VALUE', `invalid lastUpdated time ${JSON.stringify(time)}: ${t}`, { id, key: LAST_UPDATED_KEY });
      text = formatGoTime(t);
    }
    this.setMetadata(id, LAST_UPDATED_KEY, text);
    return text;
  }

  /**
   * The `lastUpdated` text of `id` exactly as stored (e.g. `2026-11-23T10:22:20.121048274Z`), or
   * undefined when there is none or it is empty (dockerd then reports the zero time). Text
   * Go's `time.Parse(RFC3339Nano, …)` refuses is `IMAGEDB_BAD_VALUE`.
   */
  getLastUpdated(id: Digest): string | undefined {
    const raw = this.optionalMetadata(id, LAST_UPDATED_KEY);
    if (raw === undefined || raw.length === 0) return undefined;
    const text = raw.toString('utf8');
    const t = parseGoTime(text, 'nano');
    if (typeof t === 'string') throw new ImageDbError('IMAGEDB_BAD_VALUE', `invalid lastUpdated of ${id}: ${t}`, { id, key: LAST_UPDATED_KEY });
    return text;
  }

  /** The metadata keys image `id` has, sorted (temp files of interrupted writes skipped). */
  metadataKeys(id: Digest): string[] {
    checkId(id);
    try {
      return fs
        .readdirSync(this.metadataDir(id))
        .filter((n) => !n.startsWith('.tmp-'))
        .sort();
    } catch (e) {
      if (errCode(e) === 'ENOENT') return [];
      throw new ImageDbError('IMAGEDB_READ', goErrorText(e), { id, cause: e });
    }
  }

  private optionalMetadata(id: Digest, key: string): Buffer | undefined {
    try {
      return this.getMetadata(id, key);
    } catch (e) {
      if (e instanceof ImageDbError && e.code === 'IMAGEDB_NO_METADATA') return undefined;
      throw e;
    }
  }
}
