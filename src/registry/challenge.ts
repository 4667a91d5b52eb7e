/**
 * `WWW-Authenticate` challenges (RFC 7235), as registries send them on a 401:
 *
 *   parseChallenges('Bearer realm="https://auth.docker.io/token",service="registry.docker.io"')
 *   // [{ scheme: 'bearer', params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io' } }]
 *   parseChallenges('Basic realm="Registry Realm"')   // [{ scheme: 'basic', params: { realm: 'Registry Realm' } }]
 *
 * One header may carry several challenges (`Basic realm="a", Bearer realm="b"`), and a response
 * may carry several headers. Scheme and parameter names are case-insensitive (kept in lower
 * case); quoted values may contain commas and `\"`.
 */
export interface Challenge {
  scheme: string;
  params: Record<string, string>;
}

const TOKEN = /[!#$%&'*+\-.^_`|~0-9A-Za-z]+/y;

/** Every challenge of one or more `WWW-Authenticate` values. */
export function parseChallenges(header: string | string[] | undefined): Challenge[] {
  if (header === undefined) return [];
  const values = Array.isArray(header) ? header : [header];
  return values.flatMap(parseOne);
}

function parseOne(s: string): Challenge[] {
  const out: Challenge[] = [];
  let i = 0;
  const skipSpace = () => {
    while (i < s.length && (s[i] === ' ' || s[i] === '\t')) i++;
  };
  const token = (): string | undefined => {
    TOKEN.lastIndex = i;
    const m = TOKEN.exec(s);
    if (!m) return undefined;
    i = TOKEN.lastIndex;
    return m[0];
  };
  let current: Challenge | undefined;
  while (i < s.length) {
    skipSpace();
    if (s[i] === ',') {
      i++;
      continue;
    }
    const start = i;
    const word = token();
    if (word === undefined) {
      i++; // not a token: skip the character
      continue;
    }
    skipSpace();
    if (s[i] === '=' && current) {
      i++;
      skipSpace();
      let value = '';
      if (s[i] === '"') {
        i++;
        while (i < s.length && s[i] !== '"') {
          if (s[i] === '\\' && i + 1 < s.length) i++;
          value += s[i];
          i++;
        }
        i++; // closing quote
      } else {
        value = token() ?? '';
      }
      current.params[word.toLowerCase()] = value;
      continue;
    }
    if (s[i] === '=' && !current) {
      // token68 or a parameter without a scheme: not a challenge we can use.
      i = start + word.length + 1;
      continue;
    }
    current = { scheme: word.toLowerCase(), params: {} };
    out.push(current);
  }
  return out;
}
