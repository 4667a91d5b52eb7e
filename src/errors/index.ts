/**
 * Errors in strata.
 *
 * Every error a user can meet is a `StrataError`: it carries a stable `code` (for programs) and a
 * one-line `message` (for people). The CLI prints `strata: <message>` and exits non-zero; a stack
 * trace reaching the user is a bug. Sub-systems subclass it only when callers need to branch on
 * the class; otherwise the `code` is enough.
 *
 *   try { await applyLayer(tar, dir) }
 *   catch (e) { if (isStrataError(e, 'ARCHIVE_BREAKOUT')) ... }
 */
export class StrataError extends Error {
  /** Stable identifier, e.g. `TAR_BAD_CHECKSUM`. Never changes once published. */
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** True when `e` is a StrataError, optionally with the given code. */
export function isStrataError(e: unknown, code?: string): e is StrataError {
  return e instanceof StrataError && (code === undefined || e.code === code);
}

/**
 * A Node file error as one line, Go style: `open <file>: no such file or directory`, keeping the
 * errno code (`ENOENT`) as the StrataError's code.
 */
export function fileError(op: string, file: string, e: unknown): StrataError {
  const err = e as NodeJS.ErrnoException;
  const text = err.code ? err.message.replace(new RegExp(`^${err.code}: `), '').replace(/, \w+ '.*'$/s, '') : String(e);
  return new StrataError(err.code ?? 'IO', `${op} ${file}: ${text}`, { cause: e });
}
