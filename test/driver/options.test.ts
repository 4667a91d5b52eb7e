/**
 * Driver options: key=value splitting, go-units sizes, and overlay2's and vfs's option checks,
 * each with the text dockerd 20.10 prints for the same input (moby's parsers.ParseKeyValueOpt,
 * go-units v0.4.0 RAMInBytes, overlay2 and vfs parseOptions), and checked against dockerd 20.10 itself.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DockerdStartError, startDockerd } from '../oracle/dockerd.js';
import { parseKeyValue, parseOverlay2Options, parseSize, parseVfsOptions } from '../../src/driver/options.js';
import { isStrataError } from '../../src/errors/index.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;
const TiB = 1024 * GiB;
const PiB = 1024 * TiB;

function fails(fn: () => unknown, code: string, message: string): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(isStrataError(e), `not a StrataError: ${String(e)}`);
    assert.equal(e.message, message);
    assert.equal(e.code, code);
    return true;
  });
}

test('parseKeyValue: split at the first =, both sides trimmed, case kept', () => {
  assert.deepEqual(parseKeyValue('overlay2.size=50M'), { key: 'overlay2.size', value: '50M' });
  assert.deepEqual(parseKeyValue('  Overlay2.Size \t=  50M \n'), { key: 'Overlay2.Size', value: '50M' });
  assert.deepEqual(parseKeyValue('a=b=c'), { key: 'a', value: 'b=c' });
  assert.deepEqual(parseKeyValue('a='), { key: 'a', value: '' });
  assert.deepEqual(parseKeyValue('=b'), { key: '', value: 'b' });
  assert.deepEqual(parseKeyValue('='), { key: '', value: '' });
});

test("parseKeyValue: trims what Go's TrimSpace trims (NEL yes, BOM no)", () => {
  assert.deepEqual(parseKeyValue('\u0085k\u00a0=\u3000v\u2028'), { key: 'k', value: 'v' });
  assert.deepEqual(parseKeyValue('\ufeffk=v\ufeff'), { key: '\ufeffk', value: 'v\ufeff' });
});

test('parseKeyValue: no = → `Unable to parse key/value option: <opt>`', () => {
  fails(() => parseKeyValue('overlay2.size'), 'DRIVER_OPTION_SYNTAX', 'Unable to parse key/value option: overlay2.size');
  fails(() => parseKeyValue(''), 'DRIVER_OPTION_SYNTAX', 'Unable to parse key/value option: ');
  fails(() => parseKeyValue(' size 50M '), 'DRIVER_OPTION_SYNTAX', 'Unable to parse key/value option:  size 50M ');
});

test('parseSize: the go-units RAMInBytes table (binary units, case-insensitive, optional i and b)', () => {
  const table: [string, number][] = [
    ['0', 0],
    ['7', 7],
    ['7b', 7],
    ['7B', 7],
    ['7i', 7],
    ['7ib', 7],
    ['007', 7],
    ['32', 32],
    ['32b', 32],
    ['32 b', 32],
    ['1k', KiB],
    ['1K', KiB],
    ['1kb', KiB],
    ['1KB', KiB],
    ['1KiB', KiB],
    ['1kib', KiB],
    ['1 KiB', KiB],
    ['10kb', 10 * KiB],
    ['50M', 50 * MiB],
    ['50M', 52428800],
    ['50m', 52428800],
    ['50 MiB', 52428800],
    ['50mb', 52428800],
    ['1g', GiB],
    ['1.5g', 1610612736],
    ['1.5G', 1.5 * GiB],
    ['2t', 2 * TiB],
    ['3P', 3 * PiB],
    ['0.5k', 512],
    ['1.1k', 1126], // 1126.4, truncated
    ['0.3', 0],
    ['4.99', 4],
    ['1.0000000000000001', 1],
  ];
  for (const [s, want] of table) assert.equal(parseSize(s), want, s);
});

test("parseSize: invalid → `invalid size: '<s>'`", () => {
  for (const s of ['', ' ', 'M', 'b', '-1', '+1', '-1k', '1e3', '0x10', '.5', '1.', '1..2', ' 1k', '1k ', '1  k', '1kk', '1kbb', '1iB2', '1bi', '1Ki B', '1E', '1Z', '1y', '12 34', '1,5', '１', '1k\n']) {
    fails(() => parseSize(s), 'SIZE_INVALID', `invalid size: '${s}'`);
  }
});

test('parseSize: matches the pattern but is no Go float → strconv.ParseFloat’s message', () => {
  fails(() => parseSize('1.2.3'), 'SIZE_INVALID', 'strconv.ParseFloat: parsing "1.2.3": invalid syntax');
  fails(() => parseSize('1.2.3M'), 'SIZE_INVALID', 'strconv.ParseFloat: parsing "1.2.3": invalid syntax');
  const huge = '9'.repeat(400);
  fails(() => parseSize(huge + 'k'), 'SIZE_INVALID', `strconv.ParseFloat: parsing "${huge}": value out of range`);
});

test('parseSize: above 2^53-1 bytes is refused (Go would wrap around past 2^63)', () => {
  assert.equal(parseSize('7p'), 7 * PiB); // 7 PiB < 2^53
  assert.equal(parseSize(String(Number.MAX_SAFE_INTEGER)), Number.MAX_SAFE_INTEGER);
  fails(() => parseSize('8p'), 'SIZE_OUT_OF_RANGE', "invalid size: '8p'");
  fails(() => parseSize('100000000000000000000'), 'SIZE_OUT_OF_RANGE', "invalid size: '100000000000000000000'");
});

test('overlay2 options: none, size, last size wins, keys lower-cased and trimmed', () => {
  assert.deepEqual(parseOverlay2Options([]), {});
  assert.deepEqual(parseOverlay2Options(['overlay2.size=50M']), { size: 52428800 });
  assert.deepEqual(parseOverlay2Options([' OVERLAY2.Size = 1.5g ']), { size: 1610612736 });
  assert.deepEqual(parseOverlay2Options(['overlay2.size=1G', 'overlay2.size=2G']), { size: 2 * GiB });
  assert.deepEqual(parseOverlay2Options(['overlay2.size=0']), { size: 0 });
});

test('overlay2 options: override_kernel_check is checked as a Go bool, then ignored', () => {
  for (const v of ['1', 't', 'T', 'true', 'TRUE', 'True', '0', 'f', 'F', 'false', 'FALSE', 'False', ' true ']) {
    assert.deepEqual(parseOverlay2Options([`overlay2.override_kernel_check=${v}`]), {}, v);
  }
  assert.deepEqual(parseOverlay2Options(['Overlay2.Override_Kernel_Check=true', 'overlay2.size=1k']), { size: 1024 });
  for (const v of ['yes', 'on', 'tRUE', '', '2']) {
    fails(
      () => parseOverlay2Options([`overlay2.override_kernel_check=${v}`]),
      'DRIVER_OPTION_BAD_VALUE',
      `strconv.ParseBool: parsing "${v}": invalid syntax`,
    );
  }
  fails(() => parseOverlay2Options(['overlay2.override_kernel_check=a"b']), 'DRIVER_OPTION_BAD_VALUE', 'strconv.ParseBool: parsing "a\\"b": invalid syntax');
});

test('overlay2 options: unknown key → `overlay2: unknown option <key>` (lower-cased)', () => {
  fails(() => parseOverlay2Options(['overlay2.mountopt=nodev']), 'DRIVER_OPTION_UNKNOWN', 'overlay2: unknown option overlay2.mountopt');
  fails(() => parseOverlay2Options(['Overlay2.MountOpt=x']), 'DRIVER_OPTION_UNKNOWN', 'overlay2: unknown option overlay2.mountopt');
  fails(() => parseOverlay2Options(['size=1G']), 'DRIVER_OPTION_UNKNOWN', 'overlay2: unknown option size');
  fails(() => parseOverlay2Options(['=1G']), 'DRIVER_OPTION_UNKNOWN', 'overlay2: unknown option ');
  // the first bad option stops the parse
  fails(() => parseOverlay2Options(['overlay2.size=1G', 'x=y', 'z']), 'DRIVER_OPTION_UNKNOWN', 'overlay2: unknown option x');
});

test('overlay2 options: syntax and size errors', () => {
  fails(() => parseOverlay2Options(['overlay2.size']), 'DRIVER_OPTION_SYNTAX', 'Unable to parse key/value option: overlay2.size');
  fails(() => parseOverlay2Options(['overlay2.size=']), 'SIZE_INVALID', "invalid size: ''");
  fails(() => parseOverlay2Options(['overlay2.size=10X']), 'SIZE_INVALID', "invalid size: '10X'");
  fails(() => parseOverlay2Options(['overlay2.size=-1']), 'SIZE_INVALID', "invalid size: '-1'");
});

test('vfs options: size only, keys compared as given (not lower-cased)', () => {
  assert.deepEqual(parseVfsOptions([]), {});
  assert.deepEqual(parseVfsOptions(['size=10kb']), { size: 10240 });
  assert.deepEqual(parseVfsOptions([' size = 1G ', 'size=2g']), { size: 2 * GiB });
  fails(() => parseVfsOptions(['SIZE=1G']), 'DRIVER_OPTION_UNKNOWN', 'unknown option SIZE for vfs');
  fails(() => parseVfsOptions(['overlay2.size=1G']), 'DRIVER_OPTION_UNKNOWN', 'unknown option overlay2.size for vfs');
  fails(() => parseVfsOptions(['size']), 'DRIVER_OPTION_SYNTAX', 'Unable to parse key/value option: size');
  fails(() => parseVfsOptions(['size=big']), 'SIZE_INVALID', "invalid size: 'big'");
});

// ---------------------------------------------------------------------------------------------
// Oracle: dockerd 20.10 refuses the same options with the same words.

/** Starts dockerd with `args` and returns the reason it gave for not starting ('' if it started). */
async function dockerdRefusal(args: string[], storageDriver = 'overlay2'): Promise<string> {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-opt-oracle-'));
  try {
    const d = await startDockerd({ dataRoot: root, storageDriver, extraArgs: args, startTimeoutMs: 30_000 });
    await d.stop();
    return '';
  } catch (e) {
    assert.ok(e instanceof DockerdStartError, String(e));
    const m = /error initializing graphdriver: (.*)$/m.exec(e.message);
    assert.ok(m, `no graphdriver error in:\n${e.message}`);
    return m[1]!;
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
}

test('oracle: dockerd 20.10 gives the same errors for the same overlay2 and vfs options', async () => {
  const overlay2Cases = ['Overlay2.MountOpt=nodev', 'overlay2.override_kernel_check=yes', 'overlay2.size=1.2.3', 'overlay2.size=10X', 'overlay2.size'];
  for (const opt of overlay2Cases) {
    const ours = (() => {
      try {
        parseOverlay2Options([opt]);
        return '';
      } catch (e) {
        return (e as Error).message;
      }
    })();
    assert.notEqual(ours, '', opt);
    assert.equal(await dockerdRefusal(['--storage-opt', opt]), ours, opt);
  }
  // vfs compares keys as given
  assert.throws(() => parseVfsOptions(['SIZE=1G']), { message: 'unknown option SIZE for vfs' });
  assert.equal(await dockerdRefusal(['--storage-opt', 'SIZE=1G'], 'vfs'), 'unknown option SIZE for vfs');
  // `1KiB` parses in both (dockerd then refuses the quota itself, on a filesystem without project quotas)
  assert.equal(parseOverlay2Options(['overlay2.size=1KiB']).size, 1024);
  assert.doesNotMatch(await dockerdRefusal(['--storage-opt', 'overlay2.size=1KiB']), /invalid size|ParseFloat|unknown option/);
});
