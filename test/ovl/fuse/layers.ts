/**
 * Layer fixtures for the FUSE tests: the same small two-layer stack, built identically (times
 * included) as often as needed, so that strata's mount and the kernel overlay can work on twins.
 */
import fs from 'node:fs';
import path from 'node:path';
import { AT_FDCWD, AT_SYMLINK_NOFOLLOW, utimensat } from '../../../src/sys/index.js';
import { sh } from '../../helpers/tmp.js';
import type { Snapshot } from '../../helpers/tree-snapshot.js';

const T0 = 1_600_000_000_000_000_000n;

/** Two lower layers and empty upper/work dirs under `dir`, identical (times included) on every call. */
export function buildLayers(dir: string) {
  const [l1, l2, upper, work, mnt] = ['l1', 'l2', 'upper', 'work', 'mnt'].map((n) => path.join(dir, n)) as [string, string, string, string, string];
  const files: Record<string, string> = {
    'l2/a.txt': 'lower a\n',
    'l2/b.txt': 'lower b\n',
    'l2/d/f': 'deep file\n',
    'l2/d/g': 'another\n',
    'l2/shadowed': 'from l2\n',
    'l1/shadowed': 'from l1\n',
    'l1/top.txt': 'top layer\n',
    'l1/d/h': 'merged dir entry\n',
  };
  for (const d of [l1, l2, upper, work, mnt, path.join(l2, 'empty')]) fs.mkdirSync(d, { recursive: true });
  for (const [rel, data] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    fs.writeFileSync(path.join(dir, rel), data);
  }
  fs.symlinkSync('a.txt', path.join(l2, 'link'));
  for (const l of [l1, l2]) {
    for (const rel of sh('find', [l, '-mindepth', '1']).toString().trim().split('\n')) utimensat(AT_FDCWD, rel, T0, T0, AT_SYMLINK_NOFOLLOW);
  }
  return { l1, l2, upper, work, mnt, opts: `lowerdir=${l1}:${l2},upperdir=${upper},workdir=${work}` };
}

/** The same changes, made through any overlay mount. */
export function changeThrough(mnt: string): void {
  fs.writeFileSync(path.join(mnt, 'new.txt'), 'created\n');
  fs.appendFileSync(path.join(mnt, 'd', 'f'), 'appended\n');
  fs.unlinkSync(path.join(mnt, 'a.txt'));
  fs.rmdirSync(path.join(mnt, 'empty'));
  fs.mkdirSync(path.join(mnt, 'newdir'));
  fs.renameSync(path.join(mnt, 'b.txt'), path.join(mnt, 'newdir', 'b-moved.txt'));
  fs.chmodSync(path.join(mnt, 'd', 'g'), 0o600);
  fs.symlinkSync('top.txt', path.join(mnt, 'newlink'));
  sh('setfattr', ['-n', 'user.note', '-v', 'hi', path.join(mnt, 'top.txt')]);
  fs.writeFileSync(path.join(mnt, 'shadowed'), 'rewritten\n');
}

/** A snapshot without what legitimately differs between two runs: times, origin file handles, uuids. */
export function comparable(s: Snapshot): Snapshot {
  for (const e of s.values()) {
    e.mtimeNs = '';
    // a lower file's handle, and the upper root's per-mount uuid, differ between two fixtures
    for (const name of ['trusted.overlay.origin', 'trusted.overlay.uuid']) if (e.xattrs[name] !== undefined) e.xattrs[name] = 'present';
  }
  return s;
}
