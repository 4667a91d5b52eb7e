/**
 * The read side of `strata load`: random access to the members of an image archive — a
 * `docker save` tar, an OCI image layout as a tar, or an OCI layout directory — without ever
 * holding the archive in memory.
 *
 *   const src = await openArchive('ubuntu.tar', { spoolDir: `${root}/tmp`, signal });
 *   try {
 *     src.kind                                   // 'tar': indexed in place from its headers
 *     src.names()                                // regular files, in archive order:
 *                                                // ['0b1e…/VERSION', '0b1e…/json', '0b1e…/layer.tar',
 *                                                //  '7c3e…/VERSION', '7c3e…/json', 'a8f2….json',
 *                                                //  'manifest.json', 'repositories']
 *     const manifest = JSON.parse((await src.readFile('manifest.json')).toString());
 *     src.has('7c3e…/layer.tar')                 // true: a symlink to ../0b1e…/layer.tar (dockerd
 *                                                // 20.10 saves a layer shared by two images once)
 *     src.size('7c3e…/layer.tar')                // 77844480, the target's size
 *     for await (const chunk of src.open('7c3e…/layer.tar', { signal })) hash.update(chunk);
 *   } finally {
 *     await src.close();                         // closes the file (or removes the spool dir)
 *   }
 *
 * How the input is read (`kind`):
 * - 'directory': a path that is a directory (an OCI layout). names() are the regular files below
 *   it, sorted; symlinks are followed only when they resolve inside it.
 * - 'tar': a path to an uncompressed tar file. Only its headers are read (positional reads, the
 *   content skipped by offset arithmetic), so opening a 1 GiB archive takes milliseconds; open()
 *   then reads a member's byte range. A member whose content runs past the end of the file fails
 *   openArchive with ARCHIVE_TRUNCATED, so nothing is ever registered from a truncated archive.
 *   (Like Go's archive/tar, an archive may end without its two zero blocks: a cut that falls
 *   exactly between two members cannot be told from such an archive.)
 * - 'spooled': a stream (stdin), a compressed file (gzip, zstd, xz, bzip2 — sniffed, never
 *   guessed from the name) or a non-regular file (a FIFO): decompressed and unpacked into a new
 *   private directory made inside `spoolDir`, one numbered file per regular member, before
 *   openArchive resolves. The input is read to its very end (what follows the archive is
 *   dropped), so a writer piping into strata gets no EPIPE and gzip/zstd checksums are checked.
 *   close() — or a failing openArchive — removes that directory.
 *
 * Names are normalized (`./a//b/` → `a/b`, no leading `/`) and matched by their exact bytes (a
 * member named with bytes that are not UTF-8 is found by no name a caller can spell, as on the
 * disk dockerd unpacks to); a member whose name climbs out of the archive (`../x`) makes the
 * whole archive ARCHIVE_UNSAFE_PATH. A later member replaces an
 * earlier one of the same name, as extraction would. Symlinks resolve relative to their
 * directory (absolute ones from the archive root), hardlinks name archive members; at most 16
 * hops, and a link that dangles, loops or climbs out leaves its member absent.
 *
 * Errors are StrataErrors with one-line messages: ARCHIVE_INVALID (`x.txt is not a tar archive`,
 * `x.tar is empty`, a corrupt header), ARCHIVE_TRUNCATED (`archive is truncated: a/layer.tar needs
 * 1024 bytes past the end of x.tar`), ARCHIVE_MISSING_MEMBER (`file manifest.json not found in
 * archive`), ARCHIVE_MEMBER_TOO_LARGE, ARCHIVE_UNSAFE_PATH; a missing path keeps Node's code
 * (`open x.tar: no such file or directory`, ENOENT). Decompression errors (CORRUPT_COMPRESSED_DATA,
 * DECOMPRESSION_LIMIT) and the abort reason pass through unchanged.
 */
import fs from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { sniffCompression, type ByteInput } from '../../archive/compression.js';
import { directoryBackend } from './directory.js';
import { READ_CHUNK, readAt, readRange } from './io.js';
import { fileError } from '../../errors/index.js';
import { archiveError, missingMember, type MemberTable } from './members.js';
import { spoolTar } from './spool.js';
import { indexTarFile } from './tarindex.js';

export { type ArchiveErrorCode } from './members.js';

export interface ArchiveSource {
  /** How the input is read: 'directory' (an OCI layout dir), 'tar' (a seekable uncompressed tar file, indexed in place), 'spooled' (stdin or a compressed archive, unpacked into a private temp dir first). */
  readonly kind: 'directory' | 'tar' | 'spooled';
  /** Member names of regular files (links not resolved, not listed), normalized: no leading './' or '/', no trailing '/', '//' collapsed; a name that is not UTF-8 shows U+FFFD. In archive order (directory: sorted). */
  names(): string[];
  /** Whether `name` (normalized the same way) is a regular file, or a symlink/hardlink that resolves to one inside the archive. */
  has(name: string): boolean;
  /** Byte size of the member (after link resolution). Throws ARCHIVE_MISSING_MEMBER if absent. */
  size(name: string): number;
  /** The whole member, for small JSON files. Throws ARCHIVE_MISSING_MEMBER (`file <name> not found in archive`) or ARCHIVE_MEMBER_TOO_LARGE if size > maxBytes. */
  readFile(name: string, maxBytes?: number): Promise<Buffer>;
  /** The member's raw bytes (NOT decompressed), in chunks of up to 1 MiB, streamed from disk. Honors signal. Throws ARCHIVE_MISSING_MEMBER. */
  open(name: string, opts?: { signal?: AbortSignal }): AsyncGenerator<Buffer>;
  /** Removes the spool dir (if any) and closes fds. Idempotent. */
  close(): Promise<void>;
}

export interface OpenArchiveOptions {
  /** Where a spooled archive is unpacked: a new private dir (mkdtemp) is made INSIDE this dir and removed by close() (also on failure of openArchive). The caller passes `<dataRoot>/tmp` so the spool is on the data root's filesystem. */
  spoolDir: string;
  signal?: AbortSignal;
  /**
   * Bomb guard for a compressed archive: max decompressed bytes. Default 64 GiB. (decompress's
   * own guard applies as well: more than 100 times the compressed size past 1 GiB is refused.)
   */
  maxBytes?: number;
}

/** readFile's default limit. */
export const DEFAULT_READ_FILE_MAX = 16 << 20;
/** The default bomb guard: 64 GiB decompressed. */
export const DEFAULT_MAX_ARCHIVE_BYTES = 64 * 1024 ** 3;

/** A member found: its size and how to stream it. */
export interface Located {
  size: number;
  read(signal?: AbortSignal): AsyncGenerator<Buffer>;
}

/** What each kind of input provides; the ArchiveSource around it is common. */
export interface Backend {
  kind: ArchiveSource['kind'];
  names(): readonly string[];
  locate(name: string): Located | undefined;
  close(): Promise<void>;
}

/** input: a path (file or directory) or a readable stream (stdin). */
export async function openArchive(input: string | NodeJS.ReadableStream, opts: OpenArchiveOptions): Promise<ArchiveSource> {
  opts.signal?.throwIfAborted();
  if (typeof input !== 'string') return new Source(await spooled(input, 'input', opts));
  let st: fs.Stats;
  try {
    st = await fs.promises.stat(input);
  } catch (e) {
    throw fileError('open', input, e);
  }
  if (st.isDirectory()) return new Source(await directoryBackend(input));
  let fh: FileHandle;
  try {
    fh = await fs.promises.open(input, 'r');
  } catch (e) {
    throw fileError('open', input, e);
  }
  return new Source(await fileBackend(fh, st.isFile(), input, opts));
}

/** A regular file indexed in place, or anything else (compressed, a FIFO) spooled. Owns `fh`. */
async function fileBackend(fh: FileHandle, regular: boolean, file: string, opts: OpenArchiveOptions): Promise<Backend> {
  let owned = true;
  try {
    if (regular) {
      const { size } = await fh.stat();
      if (size === 0) throw archiveError('ARCHIVE_INVALID', `${file} is empty`);
      const head = await readAt(fh, 0, 512);
      if (sniffCompression(head) === 'none') {
        const table = await indexTarFile(fh, size, file, opts.signal);
        owned = false;
        return tarBackend(fh, table, file);
      }
    }
    owned = false; // the stream closes the file from here on
    return await spooled(fh.createReadStream({ highWaterMark: READ_CHUNK }), file, opts);
  } finally {
    if (owned) await fh.close().catch(() => {});
  }
}

function tarBackend(fh: FileHandle, table: MemberTable<number>, file: string): Backend {
  return {
    kind: 'tar',
    names: () => table.names(),
    locate(name) {
      const m = table.lookup(name);
      return m && { size: m.size, read: (signal) => readRange(fh, m.loc, m.size, `${name} in ${file}`, signal) };
    },
    close: () => fh.close(),
  };
}

/** Unpacks `input` into a new directory inside spoolDir; the directory goes again on failure. */
async function spooled(input: ByteInput, label: string, opts: OpenArchiveOptions): Promise<Backend> {
  let dir: string;
  try {
    await fs.promises.mkdir(opts.spoolDir, { recursive: true, mode: 0o700 });
    dir = await fs.promises.mkdtemp(path.join(opts.spoolDir, 'archive-'));
  } catch (e) {
    (input as { destroy?: () => void }).destroy?.();
    throw fileError('mkdtemp', opts.spoolDir, e);
  }
  try {
    const table = await spoolTar(input, dir, label, { signal: opts.signal, maxBytes: opts.maxBytes ?? DEFAULT_MAX_ARCHIVE_BYTES });
    return {
      kind: 'spooled',
      names: () => table.names(),
      locate(name) {
        const m = table.lookup(name);
        return m && { size: m.size, read: (signal) => readSpoolFile(m.loc, m.size, name, signal) };
      },
      close: () => fs.promises.rm(dir, { recursive: true, force: true }),
    };
  } catch (e) {
    await fs.promises.rm(dir, { recursive: true, force: true });
    throw e;
  }
}

async function* readSpoolFile(file: string, size: number, name: string, signal?: AbortSignal): AsyncGenerator<Buffer> {
  const fh = await fs.promises.open(file, 'r');
  try {
    yield* readRange(fh, 0, size, name, signal);
  } finally {
    await fh.close();
  }
}

/** The ArchiveSource contract over a backend: lookups, limits, closing once. */
class Source implements ArchiveSource {
  private closing: Promise<void> | undefined;

  constructor(private readonly backend: Backend) {}

  get kind(): ArchiveSource['kind'] {
    return this.backend.kind;
  }

  names(): string[] {
    return [...this.backend.names()];
  }

  has(name: string): boolean {
    return this.locate(name) !== undefined;
  }

  size(name: string): number {
    return this.get(name).size;
  }

  async readFile(name: string, maxBytes = DEFAULT_READ_FILE_MAX): Promise<Buffer> {
    const m = this.get(name);
    if (m.size > maxBytes) {
      throw archiveError('ARCHIVE_MEMBER_TOO_LARGE', `file ${name} in archive is ${m.size} bytes, more than the ${maxBytes} allowed`);
    }
    const parts: Buffer[] = [];
    for await (const chunk of m.read()) parts.push(chunk);
    return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
  }

  async *open(name: string, opts: { signal?: AbortSignal } = {}): AsyncGenerator<Buffer> {
    opts.signal?.throwIfAborted();
    yield* this.get(name).read(opts.signal);
  }

  close(): Promise<void> {
    this.closing ??= this.backend.close();
    return this.closing;
  }

  private locate(name: string): Located | undefined {
    if (this.closing) throw new Error('archive source used after close()');
    return this.backend.locate(name);
  }

  private get(name: string): Located {
    const m = this.locate(name);
    if (!m) throw missingMember(name);
    return m;
  }
}
