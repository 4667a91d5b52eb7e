/**
 * Owner names for tar headers (`uname` / `gname`), as dockerd fills them.
 *
 * dockerd 20.10 builds its headers with Go's `tar.FileInfoHeader`, which looks the uid and gid
 * up in the daemon host's user and group databases (`os/user`) and caches what it finds; a
 * lookup that fails leaves the field empty. Docker 23.0 and later use `FileInfoHeaderNoLookups`
 * and always leave both fields empty. The same files therefore give different layer bytes, and
 * different DiffIDs, under the two versions, so the choice is the caller's.
 *
 * The lookup reads `/etc/passwd` and `/etc/group` the way Go's pure-Go `os/user` does (the
 * NSS "files" source): lines are trimmed, blank and `#` lines skipped, the first line whose id
 * column equals the decimal id wins, and names starting with `+` or `-` never match.
 */
import fs from 'node:fs';

/** Maps ids to names for tar headers; `''` means "no name". */
export interface NameResolver {
  uname(uid: number): string;
  gname(gid: number): string;
}

/**
 * How `uname`/`gname` are filled: `'lookup'` (dockerd 20.10: host passwd/group, the default),
 * `'empty'` (Docker ≥ 23.0), or a resolver of the caller's own.
 */
export type NamesOption = 'lookup' | 'empty' | NameResolver;

export const EMPTY_NAMES: NameResolver = { uname: () => '', gname: () => '' };

/** Builds the resolver for an option. A `'lookup'` resolver reads each file once, lazily. */
export function nameResolver(opt: NamesOption | undefined, files?: { passwd?: string; group?: string }): NameResolver {
  if (opt === 'empty') return EMPTY_NAMES;
  if (opt === undefined || opt === 'lookup') return new FileNameResolver(files?.passwd ?? '/etc/passwd', files?.group ?? '/etc/group');
  return opt;
}

/** Go's readColonFile: trimmed, non-empty, non-comment lines. */
function colonLines(file: string): string[] {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return []; // Go: the lookup fails, the name stays empty
  }
  const out: string[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    out.push(line);
  }
  return out;
}

const isDecimal = (s: string): boolean => /^[+-]?\d+$/.test(s);
const colons = (s: string): number => s.split(':').length - 1;

class FileNameResolver implements NameResolver {
  private users?: Map<string, string>;
  private groups?: Map<string, string>;

  constructor(
    private readonly passwdFile: string,
    private readonly groupFile: string,
  ) {}

  uname(uid: number): string {
    if (!this.users) {
      // Go's matchUserIndexValue: at least 6 colons, column 2 is the uid; first match wins.
      this.users = new Map();
      for (const line of colonLines(this.passwdFile)) {
        if (colons(line) < 6) continue;
        const parts = line.split(':');
        const name = parts[0]!;
        if (name === '' || name[0] === '+' || name[0] === '-') continue;
        if (!isDecimal(parts[2]!) || !isDecimal(parts[3]!)) continue;
        if (!this.users.has(parts[2]!)) this.users.set(parts[2]!, name);
      }
    }
    return this.users.get(String(uid)) ?? '';
  }

  gname(gid: number): string {
    if (!this.groups) {
      // Go's matchGroupIndexValue: at least 3 colons, column 2 is the gid; first match wins.
      this.groups = new Map();
      for (const line of colonLines(this.groupFile)) {
        if (colons(line) < 3) continue;
        const parts = line.split(':');
        const name = parts[0]!;
        if (name === '' || name[0] === '+' || name[0] === '-') continue;
        if (!isDecimal(parts[2]!)) continue;
        if (!this.groups.has(parts[2]!)) this.groups.set(parts[2]!, name);
      }
    }
    return this.groups.get(String(gid)) ?? '';
  }
}
