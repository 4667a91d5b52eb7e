/**
 * Names as bytes. File names on Linux are bytes, not text, and need not be UTF-8; the harness
 * carries every union path, name, symlink target and xattr value as a **byte string**: one JS
 * char per byte, as Node's `latin1` encoding gives them (`'caf\xc3\xa9'` is the 5 bytes of
 * "café", `'n\xe9'` two bytes that are not UTF-8). Byte strings compare and sort in byte order,
 * survive JSON (every char is <= U+00FF) and go to the system as Buffers, never as UTF-8 text,
 * so no name is changed on the way to the kernel or back.
 *
 *   bytesOf('n\xe9')                  // <Buffer 6e e9>
 *   byteString(Buffer.from('café'))   // 'caf\xc3\xa9'
 *   hostPath('/tmp/l0', 'a/n\xe9')    // <Buffer ... 2f 61 2f 6e e9>: '/tmp/l0' as UTF-8, then the bytes
 *   showByteString('caf\xc3\xa9/n\xe9') // '"café/n\\xe9"' for people
 */

/** The bytes of a byte string. */
export function bytesOf(s: string): Buffer {
  return Buffer.from(s, 'latin1');
}

/** The byte string of some bytes. */
export function byteString(b: Buffer): string {
  return b.toString('latin1');
}

/**
 * A host path for the system: `root` is an ordinary path (UTF-8 text, e.g. a temp dir), `rel` a
 * byte-string path below it (`a/h` or `/a/h`; '' is `root` itself).
 */
export function hostPath(root: string, rel: string): Buffer {
  const tail = rel.replace(/^\/+/, '');
  return tail === '' ? Buffer.from(root) : Buffer.concat([Buffer.from(root.replace(/\/+$/, '') + '/'), bytesOf(tail)]);
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** How many bytes a UTF-8 sequence starting with `lead` has (0: not a lead byte). */
function sequenceLength(lead: number): number {
  if (lead < 0x80) return 1;
  if (lead >= 0xc2 && lead <= 0xdf) return 2;
  if (lead >= 0xe0 && lead <= 0xef) return 3;
  if (lead >= 0xf0 && lead <= 0xf4) return 4;
  return 0;
}

/** JSON's escapes for the ASCII chars a JSON string cannot hold as they are. */
function escapeAscii(c: string): string {
  const s = JSON.stringify(c);
  return s.slice(1, -1);
}

/**
 * A byte string for people, quoted as JSON: valid UTF-8 shows as its characters, ASCII control
 * chars, `"` and `\` get JSON's escapes, and every byte that is not part of a valid UTF-8
 * sequence shows as `\xNN` (so `"n\xe9"` is the 2 bytes 6e e9, `"né"` the 3 bytes 6e c3 a9).
 * The one rendering of names, paths, targets and outcomes in every divergence report.
 */
export function showByteString(s: string): string {
  const b = bytesOf(s);
  let out = '';
  for (let i = 0; i < b.length; ) {
    const n = sequenceLength(b[i]!);
    if (n === 1) {
      out += escapeAscii(String.fromCharCode(b[i]!));
      i += 1;
      continue;
    }
    if (n > 1 && i + n <= b.length) {
      try {
        out += strictUtf8.decode(b.subarray(i, i + n));
        i += n;
        continue;
      } catch {
        // not a valid sequence (bad continuation byte, overlong form, surrogate): byte by byte
      }
    }
    out += `\\x${b[i]!.toString(16).padStart(2, '0')}`;
    i += 1;
  }
  return `"${out}"`;
}

/**
 * JSON of a value whose strings are byte strings, in ASCII only (chars U+0080..U+00FF as
 * `\u00NN`): a replay line or file that survives any terminal or editor, and `JSON.parse` gives the
 * same byte strings back.
 */
export function asciiJson(value: unknown, indent?: number): string {
  return JSON.stringify(value, null, indent).replace(/[\u0080-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
