/**
 * Attaching a FUSE connection to a directory, the way libfuse does for root without fusermount:
 * open /dev/fuse, then mount(2) a `fuse.<subtype>` filesystem whose options name that fd. From then
 * on the kernel queues requests (INIT first) on the fd; unmounting ends the connection.
 */
import fs from 'node:fs';
import { MNT_DETACH, MS_NODEV, MS_NOSUID, mount, umount2 } from '../../sys/index.js';
import { FuseError } from './errors.js';

export interface FuseMountOptions {
  /** What `mount`/`df` show as the source (fsname), e.g. `strata-overlay` or a layer path. */
  source: string;
  /** The filesystem type becomes `fuse.<subtype>`. */
  subtype: string;
  /** MS_* flags added to MS_NOSUID|MS_NODEV (e.g. MS_RDONLY, MS_NOEXEC, MS_NOATIME). */
  flags?: number;
  /** Allow set-user-ID binaries (drops MS_NOSUID), as libfuse's `suid` option for root. */
  suid?: boolean;
  /** Honour device nodes (drops MS_NODEV), as libfuse's `dev` option for root. */
  dev?: boolean;
}

/**
 * Opens /dev/fuse for reading and writing, non-blocking (the session busy-polls before it waits);
 * throws FuseError FUSE_DEVICE if it cannot.
 */
export function openFuseDevice(): number {
  try {
    return fs.openSync('/dev/fuse', fs.constants.O_RDWR | fs.constants.O_NONBLOCK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? 'EIO';
    throw new FuseError('FUSE_DEVICE', `cannot open /dev/fuse (${code}): ${code === 'ENOENT' ? 'the fuse module is not loaded' : 'FUSE is not available to this process'}`, { cause: e });
  }
}

/**
 * Mounts the FUSE connection `fd` on `mountpoint`: type `fuse.<subtype>`, MS_NOSUID|MS_NODEV (unless
 * `suid`/`dev`) plus `flags`, data `fd=N,rootmode=40000,user_id=U,group_id=G,allow_other,
 * default_permissions` — every user may enter, and the kernel checks permissions against the
 * attributes the server reports. Needs CAP_SYS_ADMIN. Throws FuseError FUSE_MOUNT on failure.
 */
export function mountFuse(fd: number, mountpoint: string, options: FuseMountOptions): void {
  const uid = process.getuid?.() ?? 0;
  const gid = process.getgid?.() ?? 0;
  const data = `fd=${fd},rootmode=40000,user_id=${uid},group_id=${gid},allow_other,default_permissions`;
  let flags = options.flags ?? 0;
  if (!options.suid) flags |= MS_NOSUID;
  if (!options.dev) flags |= MS_NODEV;
  try {
    mount(options.source, mountpoint, `fuse.${options.subtype}`, flags, data);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? 'EIO';
    const reason = (e as Error).message.replace(/^\w+: /, '').replace(/, mount .*$/s, '');
    throw new FuseError('FUSE_MOUNT', `cannot mount ${mountpoint}: ${reason} (${code})`, { cause: e });
  }
}

/**
 * Unmounts a FUSE mount. `lazy` (MNT_DETACH) detaches it at once even while files are open; the
 * server's read then fails with ENODEV once the last user is gone. Throws the SysError of umount2.
 */
export function unmountFuse(mountpoint: string, options: { lazy?: boolean } = {}): void {
  umount2(mountpoint, options.lazy ? MNT_DETACH : 0);
}
