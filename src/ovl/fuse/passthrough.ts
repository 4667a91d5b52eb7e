/**
 * FUSE passthrough (Linux >= 6.9): an open file whose data the kernel reads and writes through a
 * backing file of the server's — no READ or WRITE requests at all.
 *
 * The kernel's rules, which this class keeps: all open files of one FUSE inode (one node ID) use the
 * same I/O mode — all passthrough to one backing file, or none (an open that breaks this fails
 * with EIO) — and a backing id must stay registered until the opens that name it are set up. So a
 * node's first open decides its mode, later opens follow it, and the backing id is closed when the
 * node's last open file is released.
 */
import { fuseBackingClose, fuseBackingOpen } from '../../sys/index.js';

/**
 * Errors of FUSE_DEV_IOC_BACKING_OPEN that will repeat for every file: no kernel support, no
 * CAP_SYS_ADMIN, an upper layer on a filesystem already stacked (ELOOP: the backing file's stack
 * depth must be below the mount's max_stack_depth).
 */
const UNSUPPORTED = new Set(['ENOTTY', 'EINVAL', 'EPERM', 'EOPNOTSUPP', 'ENOTSUP', 'ELOOP']);

interface NodeIo {
  /** The backing id the node's open files use, or 0 for cached (normal) I/O. */
  backingId: number;
  /** Open files of the node (OPEN/CREATE replies not yet RELEASEd). */
  files: number;
}

export class Passthrough {
  private readonly nodes = new Map<number, NodeIo>();

  /** `enabled`: the kernel agreed to FUSE_PASSTHROUGH at INIT. */
  constructor(
    private readonly devFd: number,
    private enabled: boolean,
  ) {}

  get active(): boolean {
    return this.enabled;
  }

  /**
   * An open file of `nodeid` is about to be answered; `backingFd` is the filesystem's offer (see
   * FuseOpened.backingFd). Returns the backing id to reply with, or 0 for cached I/O.
   */
  opened(nodeid: number, backingFd: number | undefined): number {
    const io = this.nodes.get(nodeid);
    if (io !== undefined) {
      io.files++;
      return io.backingId;
    }
    const backingId = this.enabled && backingFd !== undefined ? this.register(backingFd) : 0;
    this.nodes.set(nodeid, { backingId, files: 1 });
    return backingId;
  }

  /** An open file of `nodeid` was released. */
  released(nodeid: number): void {
    const io = this.nodes.get(nodeid);
    if (io === undefined || --io.files > 0) return;
    this.nodes.delete(nodeid);
    if (io.backingId !== 0) fuseBackingClose(this.devFd, io.backingId);
  }

  private register(fd: number): number {
    try {
      return fuseBackingOpen(this.devFd, fd);
    } catch (e) {
      // anything else (EMFILE, say) leaves just this file cached
      if (UNSUPPORTED.has((e as { code?: string }).code ?? '')) this.enabled = false;
      return 0;
    }
  }
}
