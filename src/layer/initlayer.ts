/**
 * Docker's init layer (moby `daemon/initlayer.Setup`): the layer between an image and a
 * container's RW layer that holds the mount points and files a container runtime bind-mounts
 * over — so they exist even in images without them, and never end up in a commit.
 *
 *   /dev/pts  /dev/shm  /proc  /sys                       directories 0755
 *   /.dockerenv  /etc/resolv.conf  /etc/hosts  /etc/hostname  /dev/console   empty files 0755
 *   /etc/mtab -> /proc/mounts                             symlink
 *
 * moby's exact steps, per path: first unlink every prefix of it (`/etc`, then `/etc/hosts`):
 * directories survive (unlink fails on them) while files and symlinks go, so a symlinked `/etc`
 * cannot point the writes elsewhere and an image's `/etc/mtab` file is replaced. Then, if the path
 * does not exist, create its missing parents (0755) and it, owned by the container's root.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { InitFunc } from './types.js';

const INIT_PATHS: [string, 'dir' | 'file' | { symlink: string }][] = [
  ['/dev/pts', 'dir'],
  ['/dev/shm', 'dir'],
  ['/proc', 'dir'],
  ['/sys', 'dir'],
  ['/.dockerenv', 'file'],
  ['/etc/resolv.conf', 'file'],
  ['/etc/hosts', 'file'],
  ['/etc/hostname', 'file'],
  ['/dev/console', 'file'],
  ['/etc/mtab', { symlink: '/proc/mounts' }],
];

function exists(p: string): boolean {
  try {
    fs.statSync(p);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw e;
  }
}

/** moby's `MkdirAllAndChownNew(dir, 0755, root)`: only directories it creates are chowned. */
function mkdirAllNew(dir: string, uid: number, gid: number): void {
  if (exists(dir)) return;
  mkdirAllNew(path.dirname(dir), uid, gid);
  fs.mkdirSync(dir, { mode: 0o755 });
  fs.chmodSync(dir, 0o755); // whatever the umask (dockerd's is 022)
  fs.chownSync(dir, uid, gid);
}

/**
 * The InitFunc dockerd uses for every container: pass it as `createRWLayer(..., { init })`.
 * `uid`/`gid` are the container's root in the host's terms (not 0 with user namespaces).
 */
export function dockerInit(opts: { uid?: number; gid?: number } = {}): InitFunc {
  const uid = opts.uid ?? 0;
  const gid = opts.gid ?? 0;
  return (root: string) => {
    for (const [rel, kind] of INIT_PATHS) {
      let prefix = root;
      for (const part of rel.split('/').slice(1)) {
        prefix = path.join(prefix, part);
        try {
          fs.unlinkSync(prefix);
        } catch {
          /* a directory, or nothing there: moby ignores the error too */
        }
      }
      const p = path.join(root, rel);
      if (exists(p)) continue;
      mkdirAllNew(path.dirname(p), uid, gid);
      if (kind === 'dir') {
        mkdirAllNew(p, uid, gid);
      } else if (kind === 'file') {
        const fd = fs.openSync(p, fs.constants.O_RDONLY | fs.constants.O_CREAT, 0o755);
        try {
          fs.fchmodSync(fd, 0o755);
          fs.fchownSync(fd, uid, gid);
        } finally {
          fs.closeSync(fd);
        }
      } else {
        fs.symlinkSync(kind.symlink, p);
      }
    }
  };
}
