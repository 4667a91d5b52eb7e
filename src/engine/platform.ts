/**
 * Platforms (`linux/amd64`, `linux/arm64/v8`) as OCI indexes and `--platform` name them, and the
 * host's, as Go's GOOS/GOARCH spell it.
 */
import { StrataError } from '../errors/index.js';

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

const GOARCH: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64', mips: 'mips', mipsel: 'mipsle' };

/** The platform strata runs on. */
export function hostPlatform(): Platform {
  const architecture = GOARCH[process.arch] ?? process.arch;
  return { os: process.platform === 'win32' ? 'windows' : process.platform, architecture, ...(architecture === 'arm64' ? { variant: 'v8' } : {}) };
}

/** `os/arch[/variant]` → Platform; a bad string is `INVALID_PLATFORM`. */
export function parsePlatform(s: string): Platform {
  const parts = s.toLowerCase().split('/');
  if (parts.length < 2 || parts.length > 3 || parts.some((p) => !/^[a-z0-9_.-]+$/.test(p))) {
    throw new StrataError('INVALID_PLATFORM', `invalid platform ${JSON.stringify(s)}: expected os/arch[/variant]`);
  }
  return { os: parts[0]!, architecture: parts[1]!, ...(parts[2] ? { variant: parts[2] } : {}) };
}

export function formatPlatform(p: Platform): string {
  return [p.os, p.architecture, p.variant].filter(Boolean).join('/');
}

/**
 * Whether an index entry's platform serves `want`: same OS and architecture, and the same
 * variant when both name one (arm64's `v8` is its default, so an entry without a variant matches).
 */
export function platformMatches(entry: Platform, want: Platform): boolean {
  if (entry.os !== want.os || entry.architecture !== want.architecture) return false;
  if (!entry.variant || !want.variant) return true;
  return entry.variant === want.variant;
}
