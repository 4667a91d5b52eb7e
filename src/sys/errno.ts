import { native } from './native.js';

/** The name of an errno number (positive or negative), as the addon's errors use it: errnoName(-2) === 'ENOENT'. */
export function errnoName(errno: number): string {
  return native.errnoName(errno);
}
