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
