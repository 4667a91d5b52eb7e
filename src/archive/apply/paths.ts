/**
 * Path arithmetic on raw names.
 *
 * Tar names are bytes. Inside this folder they travel as "byte strings": JavaScript strings in
 * which each char is one byte (latin1), so that splitting on '/' and comparing are exact for any
 * encoding, and converting back (`Buffer.from(s, 'latin1')`) is lossless. These helpers follow Go's
 * `path/filepath` (Clean, Join, Dir, Base), because moby's apply is written with them.
 */

/** True when a cleaned relative path climbs out of its base (`..` or `../…`). */
export function escapes(cleanRel: string): boolean {
  return cleanRel === '..' || cleanRel.startsWith('../');
}

/**
 * The path of a cleaned tar name relative to the target directory, as `Join(dest, name)` places
 * it: a leading `/` is dropped (absolute names land inside), the root is `.`. Returns null when
 * the name escapes (`..`, `../x`).
 */
export function relativeToRoot(cleaned: string): string | null {
  const rel = cleaned.charCodeAt(0) === 0x2f ? cleaned.slice(1) : cleaned;
  if (escapes(rel)) return null;
  return rel === '' ? '.' : rel;
}

/** Go's filepath.Dir for a cleaned relative path: `a/b` → `a`, `a` → `.`. */
export function dirOf(rel: string): string {
  const i = rel.lastIndexOf('/');
  return i < 0 ? '.' : rel.slice(0, i);
}

/** Go's filepath.Base for a cleaned relative path. */
export function baseOf(rel: string): string {
  const i = rel.lastIndexOf('/');
  return i < 0 ? rel : rel.slice(i + 1);
}

/** Joins a resolved directory ('' is the root) and one name. */
export function joinRel(dir: string, name: string): string {
  return dir === '' ? name : `${dir}/${name}`;
}

export function bytesOf(s: string): Buffer {
  return Buffer.from(s, 'latin1');
}

export function byteString(b: Buffer): string {
  return b.toString('latin1');
}
