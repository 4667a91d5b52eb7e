/**
 * Filesystem names for statfs f_type magics, as dockerd reports them ("Backing Filesystem").
 * The names follow moby's graphdriver FsNames table.
 */
const FS_NAMES: Record<number, string> = {
  0x61756673: 'aufs',
  0x9123683e: 'btrfs',
  0xff534d42: 'cifs',
  0x28cd3d45: 'cramfs',
  0xf15f: 'ecryptfs',
  0xef53: 'extfs',
  0x65735546: 'fuse',
  0x47504653: 'gpfs',
  0x3153464a: 'jfs',
  0x6969: 'nfs',
  0x5346544e: 'ntfs',
  0x794c7630: 'overlayfs',
  0x858458f6: 'ramfs',
  0x52654973: 'reiserfs',
  0x517b: 'smb',
  0x73717368: 'squashfs',
  0x01021994: 'tmpfs',
  0xa501fcf5: 'vxfs',
  0x58465342: 'xfs',
  0x2fc12fc1: 'zfs',
};

/** The name dockerd would print for a statfs type, or `<unknown>` with the hex magic. */
export function fsNameOf(magic: number | bigint): string {
  const n = Number(magic) >>> 0;
  return FS_NAMES[n] ?? `<unknown 0x${n.toString(16)}>`;
}
