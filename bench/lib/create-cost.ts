/**
 * What creating a small file costs on a filesystem right now, in µs. On ext4 it is ~10–20 µs
 * normally and up to ~50× that for minutes after many files were deleted anywhere on the disk: the
 * inode allocator skips every inode freed in the last 60 s (300 s more while its inode table block
 * is dirty), checking each (`recently_deleted`). Benchmarks that create files are only meaningful
 * when this is low. The probe files are left behind (deleting them would cause the very effect).
 */
import fs from 'node:fs';
import path from 'node:path';

export function createCostUs(dir: string): number {
  const probe = fs.mkdtempSync(path.join(dir, 'probe-'));
  const n = 1000;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) {
    if (i % 25 === 0) fs.mkdirSync(path.join(probe, `d${i}`));
    fs.writeFileSync(path.join(probe, `d${i - (i % 25)}`, `f${i}`), 'x');
  }
  return Number(process.hrtime.bigint() - t0) / n / 1000;
}
