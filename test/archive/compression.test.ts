import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { compress, decompress, sniffCompression, type Compression, type ByteInput } from '../../src/archive/compression.js';
import { isStrataError, type StrataError } from '../../src/errors/index.js';
import { chunked, sh, tempDir } from '../helpers/tmp.js';

/** Compressible but not trivial: text lines with random words, plus a random block. */
function sample(size: number): Buffer {
  const words = ['layer', 'overlay', 'whiteout', 'digest', 'chain', 'tar', 'split', 'mount'];
  const parts: string[] = [];
  let len = 0;
  while (len < size / 2) {
    const line = `${words[crypto.randomInt(words.length)]} ${crypto.randomInt(1e9)} ${words[crypto.randomInt(words.length)]}\n`;
    parts.push(line);
    len += line.length;
  }
  return Buffer.concat([Buffer.from(parts.join('')), crypto.randomBytes(size - len)]).subarray(0, size);
}

const DATA = sample(3 * 1024 * 1024 + 77);

async function collect(it: AsyncIterable<Buffer>): Promise<Buffer> {
  const out: Buffer[] = [];
  for await (const c of it) out.push(c);
  return Buffer.concat(out);
}

async function inflate(input: ByteInput, opts?: Parameters<typeof decompress>[1]): Promise<{ data: Buffer; format?: Compression }> {
  let format: Compression | undefined;
  const data = await collect(decompress(input, { ...opts, onCompression: (f) => (format = f) }));
  return { data, format };
}

/** Runs `cmd args` with `input` on stdin and returns stdout. */
function cli(cmd: string, args: string[], input: Buffer): Buffer {
  return sh(cmd, args, { input });
}

async function expectError(p: Promise<unknown>, code: string, message: RegExp): Promise<StrataError> {
  let caught: unknown;
  try {
    await p;
  } catch (e) {
    caught = e;
  }
  assert.ok(isStrataError(caught, code), `expected ${code}, got ${caught instanceof Error ? `${caught.name}: ${caught.message}` : String(caught)}`);
  assert.ok(!caught.message.includes('\n'), `one-line message: ${JSON.stringify(caught.message)}`);
  assert.match(caught.message, message);
  return caught;
}

describe('sniffCompression', () => {
  test('recognises Docker’s magic numbers', () => {
    const cases: Array<[number[], Compression]> = [
      [[0x1f, 0x8b, 0x08, 0, 0, 0, 0, 0, 0, 0xff], 'gzip'],
      [[0x1f, 0x8b, 0x08], 'gzip'],
      [[0x1f, 0x8b, 0x07, 0], 'none'], // deflate is method 8; Docker checks the method byte too
      [[0x1f, 0x8b], 'none'],
      [[0x42, 0x5a, 0x68, 0x39], 'bzip2'],
      [[0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00, 0, 4], 'xz'],
      [[0xfd, 0x37, 0x7a, 0x58, 0x5a], 'none'],
      [[0x28, 0xb5, 0x2f, 0xfd, 0x24, 0x00], 'zstd'],
      [[0x28, 0xb5, 0x2f, 0xfd], 'zstd'],
      [[0x50, 0x2a, 0x4d, 0x18, 4, 0, 0, 0], 'zstd'], // skippable frame 0x184D2A50
      [[0x5f, 0x2a, 0x4d, 0x18, 0, 0, 0, 0, 1, 2], 'zstd'], // 0x184D2A5F
      [[0x60, 0x2a, 0x4d, 0x18, 0, 0, 0, 0], 'none'], // 0x184D2A60 is not skippable
      [[0x50, 0x2a, 0x4d, 0x18, 4, 0, 0], 'none'], // skippable needs 8 bytes, as in Docker
      [[], 'none'],
      [[...Buffer.from('ustar\0')], 'none'],
    ];
    for (const [bytes, expected] of cases) {
      assert.equal(sniffCompression(Buffer.from(bytes)), expected, Buffer.from(bytes).toString('hex'));
    }
  });

  test('recognises what the real tools write', () => {
    const small = Buffer.from('hello\n');
    assert.equal(sniffCompression(cli('gzip', ['-c'], small)), 'gzip');
    assert.equal(sniffCompression(cli('pigz', ['-c'], small)), 'gzip');
    assert.equal(sniffCompression(cli('zstd', ['-c', '-q'], small)), 'zstd');
    assert.equal(sniffCompression(cli('xz', ['-c'], small)), 'xz');
    assert.equal(sniffCompression(cli('bzip2', ['-c'], small)), 'bzip2');
    const dir = tempDir();
    fs.writeFileSync(path.join(dir, 'a'), small);
    assert.equal(sniffCompression(sh('tar', ['-cf', '-', '-C', dir, 'a'])), 'none');
  });
});

describe('decompress: round trips with the system tools', () => {
  const tools: Array<[string, string[], Compression]> = [
    ['gzip', ['-c', '-6'], 'gzip'],
    ['gzip', ['-c', '-1', '-n'], 'gzip'],
    ['pigz', ['-c', '-9'], 'gzip'],
    ['pigz', ['-c', '-i', '-b', '128'], 'gzip'], // independent blocks
    ['zstd', ['-c', '-q', '-3'], 'zstd'],
    ['zstd', ['-c', '-q', '-19', '--no-check'], 'zstd'],
    ['zstd', ['-c', '-q', '-1', '-T2', '--long=27'], 'zstd'],
    ['xz', ['-c', '-1'], 'xz'],
    ['bzip2', ['-c'], 'bzip2'],
  ];
  for (const [cmd, args, format] of tools) {
    test(`${cmd} ${args.join(' ')} → strata`, async () => {
      const packed = cli(cmd, args, DATA);
      const { data, format: seen } = await inflate(chunked(packed, 1 << 20));
      assert.equal(seen, format);
      assert.ok(data.equals(DATA));
    });
  }

  test('strata gzip → gzip -dc and pigz -dc; every level', async () => {
    for (const level of [undefined, 0, 1, 6, 9]) {
      const packed = await collect(compress(chunked(DATA, 100_000), 'gzip', level));
      assert.equal(sniffCompression(packed), 'gzip');
      assert.ok(cli('gzip', ['-dc'], packed).equals(DATA), `gzip level ${level}`);
      assert.ok(cli('pigz', ['-dc'], packed).equals(DATA), `pigz level ${level}`);
    }
  });

  test('strata zstd → zstd -dc (with checksum); several levels', async () => {
    for (const level of [undefined, 1, 3, 19, -1]) {
      const packed = await collect(compress(chunked(DATA, 100_000), 'zstd', level));
      assert.equal(sniffCompression(packed), 'zstd');
      assert.ok(cli('zstd', ['-dc', '-q'], packed).equals(DATA), `level ${level}`);
      assert.equal(packed[4]! & 0x04, 0x04, 'frame header has Content_Checksum_flag');
    }
  });

  test('strata compress → strata decompress, large and empty inputs', async () => {
    for (const format of ['gzip', 'zstd'] as const) {
      const big = Buffer.concat([DATA, Buffer.alloc(5 << 20), DATA]);
      const packed = compress(chunked(big, 1 << 20), format);
      assert.ok((await inflate(packed)).data.equals(big), format);
      const empty = await collect(compress([], format));
      assert.equal(sniffCompression(empty), format);
      const back = await inflate(empty);
      assert.equal(back.format, format);
      assert.equal(back.data.length, 0);
      assert.equal(cli(format, ['-dc', '-q'], empty).length, 0);
    }
  });

  test('the CLIs’ compression of an empty file decompresses to nothing', async () => {
    for (const [cmd, args] of [
      ['gzip', ['-c']],
      ['zstd', ['-c', '-q']],
      ['xz', ['-c']],
      ['bzip2', ['-c']],
    ] as const) {
      const { data } = await inflate(cli(cmd, [...args], Buffer.alloc(0)));
      assert.equal(data.length, 0, cmd);
    }
  });
});

describe('decompress: stream shapes', () => {
  test('uncompressed input passes through unchanged, chunk for chunk', async () => {
    const pieces = [...chunked(DATA, 300_000)];
    const out: Buffer[] = [];
    let format: Compression | undefined;
    for await (const c of decompress(pieces, { onCompression: (f) => (format = f) })) out.push(c);
    assert.equal(format, 'none');
    assert.ok(Buffer.concat(out).equals(DATA));
    assert.equal(out.length, pieces.length);
  });

  test('an empty source yields nothing; empty chunks are skipped', async () => {
    assert.deepEqual(await inflate([]), { data: Buffer.alloc(0), format: 'none' });
    const gz = cli('gzip', ['-c'], Buffer.from('abc'));
    const { data } = await inflate([Buffer.alloc(0), gz.subarray(0, 1), Buffer.alloc(0), gz.subarray(1)]);
    assert.equal(data.toString(), 'abc');
  });

  test('sniffing works when the magic is split over tiny chunks', async () => {
    for (const [cmd, args] of [
      ['gzip', ['-c']],
      ['zstd', ['-c', '-q']],
      ['xz', ['-c']],
    ] as const) {
      const packed = cli(cmd, [...args], DATA.subarray(0, 50_000));
      for (const size of [1, 3, 7]) {
        const { data } = await inflate(chunked(packed, size));
        assert.ok(data.equals(DATA.subarray(0, 50_000)), `${cmd} in ${size}-byte chunks`);
      }
    }
    const short = Buffer.from('hi'); // shorter than the sniff window
    assert.deepEqual((await inflate([short.subarray(0, 1), short.subarray(1)])).data, short);
  });

  test('accepts a Node readable stream, a Uint8Array, and a sync iterable', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'layer.tar.zst');
    fs.writeFileSync(file, cli('zstd', ['-c', '-q'], DATA));
    assert.ok((await inflate(fs.createReadStream(file, { highWaterMark: 1 << 20 }))).data.equals(DATA));
    assert.ok((await inflate(new Uint8Array(fs.readFileSync(file)))).data.equals(DATA));
    assert.ok((await inflate([fs.readFileSync(file)][Symbol.iterator]())).data.equals(DATA));
    // and the output composes with streams
    const viaReadable = await collect(Readable.from(decompress(fs.createReadStream(file))));
    assert.ok(viaReadable.equals(DATA));
  });

  test('output comes in chunks of at most 1 MiB', async () => {
    const zeros = Buffer.alloc(10 << 20);
    for (const packed of [cli('gzip', ['-c'], zeros), cli('zstd', ['-c', '-q'], zeros)]) {
      let total = 0;
      for await (const c of decompress([packed])) {
        assert.ok(c.length <= 1 << 20 && c.length > 0);
        total += c.length;
      }
      assert.equal(total, zeros.length);
    }
  });
});

describe('decompress: multi-member and multi-frame streams', () => {
  test('concatenated gzip members decode to the concatenation (as Go’s gzip.Reader)', async () => {
    const a = cli('gzip', ['-c'], Buffer.from('first member\n'));
    const b = cli('pigz', ['-c'], DATA);
    const c = await collect(compress([Buffer.from('third, from strata\n')], 'gzip'));
    const empty = cli('gzip', ['-c'], Buffer.alloc(0));
    const { data } = await inflate(chunked(Buffer.concat([a, empty, b, c]), 4093));
    assert.ok(data.equals(Buffer.concat([Buffer.from('first member\n'), DATA, Buffer.from('third, from strata\n')])));
    // the CLI agrees
    assert.ok(cli('gzip', ['-dc'], Buffer.concat([a, b, c])).equals(data));
  });

  test('concatenated zstd frames, with skippable frames between them', async () => {
    const a = cli('zstd', ['-c', '-q'], Buffer.from('one\n'));
    const b = cli('zstd', ['-c', '-q'], DATA);
    const skip = Buffer.alloc(8 + 5);
    skip.writeUInt32LE(0x184d2a5a, 0);
    skip.writeUInt32LE(5, 4);
    const { data, format } = await inflate(chunked(Buffer.concat([skip, a, skip, b, skip]), 65_536));
    assert.equal(format, 'zstd');
    assert.ok(data.equals(Buffer.concat([Buffer.from('one\n'), DATA])));
  });
});

describe('decompress: corrupt and truncated input', () => {
  const gz = cli('gzip', ['-c'], DATA);
  const zst = cli('zstd', ['-c', '-q'], DATA);

  test('gzip: truncated anywhere → "gzip data is truncated"', async () => {
    for (const cut of [3, 10, 11, 100, gz.length >> 1, gz.length - 8, gz.length - 1]) {
      await expectError(inflate([gz.subarray(0, cut)]), 'CORRUPT_COMPRESSED_DATA', /^gzip data is truncated$/);
    }
  });

  test('gzip: corrupt header, data, checksum, length → "gzip data is corrupt: …"', async () => {
    const flags = Buffer.from(gz);
    flags[3] = 0xe0; // reserved FLG bits
    await expectError(inflate([flags]), 'CORRUPT_COMPRESSED_DATA', /^gzip data is corrupt: unknown header flags set$/);
    const crc = Buffer.from(gz);
    crc[crc.length - 6]! ^= 0xff;
    await expectError(inflate([crc]), 'CORRUPT_COMPRESSED_DATA', /^gzip data is corrupt: incorrect data check$/);
    const len = Buffer.from(gz);
    len[len.length - 2]! ^= 0xff;
    await expectError(inflate([len]), 'CORRUPT_COMPRESSED_DATA', /^gzip data is corrupt: incorrect length check$/);
    const body = Buffer.from(gz);
    for (let i = 0; i < 64; i++) body[1000 + i * 97]! ^= 0x55;
    await expectError(inflate(chunked(body, 4096)), 'CORRUPT_COMPRESSED_DATA', /^gzip data is corrupt: /);
  });

  test('gzip: data after the last member is an error, zeros included (Go rejects it too)', async () => {
    await expectError(inflate([gz, Buffer.from('garbage')]), 'CORRUPT_COMPRESSED_DATA', /^gzip data is corrupt: incorrect header check$/);
    await expectError(inflate([Buffer.concat([gz, Buffer.alloc(512)])]), 'CORRUPT_COMPRESSED_DATA', /^gzip data is corrupt: unexpected data after/);
    await expectError(inflate([gz, Buffer.alloc(3), Buffer.from('junk')]), 'CORRUPT_COMPRESSED_DATA', /^gzip data is corrupt: /);
    await expectError(inflate([gz, Buffer.from([0x1f])]), 'CORRUPT_COMPRESSED_DATA', /^gzip data is truncated$/);
  });

  test('zstd: truncated → "zstd data is truncated"', async () => {
    for (const cut of [4, 6, 20, zst.length >> 1, zst.length - 1]) {
      await expectError(inflate(chunked(zst.subarray(0, cut), 65_536)), 'CORRUPT_COMPRESSED_DATA', /^zstd data is truncated$/);
    }
  });

  test('zstd: corrupt data, bad frame header, trailing garbage → "zstd data is corrupt: …"', async () => {
    const body = Buffer.from(zst);
    for (let i = 0; i < 64; i++) body[1000 + i * 131]! ^= 0x55;
    await expectError(inflate(chunked(body, 65_536)), 'CORRUPT_COMPRESSED_DATA', /^zstd data is corrupt: /);
    const header = Buffer.from(zst);
    header[4] = 0xff; // frame header descriptor with the reserved bit set
    await expectError(inflate([header]), 'CORRUPT_COMPRESSED_DATA', /^zstd data is corrupt: /);
    await expectError(inflate([zst, Buffer.from('garbage!')]), 'CORRUPT_COMPRESSED_DATA', /^zstd data is corrupt: unknown frame descriptor$/);
    const checksum = Buffer.from(zst);
    checksum[checksum.length - 1]! ^= 0xff;
    await expectError(inflate([checksum]), 'CORRUPT_COMPRESSED_DATA', /^zstd data is corrupt: .*checksum/);
  });

  test('xz and bzip2: truncated and corrupt give one-line errors', async () => {
    for (const cmd of ['xz', 'bzip2']) {
      const packed = cli(cmd, ['-c'], DATA);
      await expectError(inflate([packed.subarray(0, packed.length >> 1)]), 'CORRUPT_COMPRESSED_DATA', new RegExp(`^${cmd} data is truncated$`));
      const bad = Buffer.from(packed);
      for (let i = 0; i < 32; i++) bad[2000 + i * 1001]! ^= 0x55;
      await expectError(inflate([bad]), 'CORRUPT_COMPRESSED_DATA', new RegExp(`^${cmd} data is corrupt: \\S`));
    }
  });

  test('xz without the xz command → UNSUPPORTED_COMPRESSION', async () => {
    const packed = cli('xz', ['-c'], Buffer.from('hello\n'));
    const saved = process.env.PATH;
    process.env.PATH = tempDir();
    try {
      await expectError(inflate([packed]), 'UNSUPPORTED_COMPRESSION', /^data is compressed with xz, .*xz command.*not installed$/);
    } finally {
      process.env.PATH = saved;
    }
  });
});

describe('decompress: limits, errors and cleanup', () => {
  const zeros = Buffer.alloc(64 << 20);

  test('maxOutputBytes stops a decompression bomb (gzip, zstd, xz, none)', async () => {
    const bombs = [cli('gzip', ['-c', '-9'], zeros), cli('zstd', ['-c', '-q', '-19'], zeros), cli('xz', ['-c'], zeros)];
    for (const bomb of bombs) {
      assert.ok(bomb.length < 200_000, 'a real bomb: small in, 64 MiB out');
      await expectError(inflate([bomb], { maxOutputBytes: 5 << 20 }), 'DECOMPRESSION_LIMIT', /^decompressed data exceeds 5242880 bytes$/);
    }
    await expectError(inflate(chunked(zeros, 1 << 20), { maxOutputBytes: 1000 }), 'DECOMPRESSION_LIMIT', /^decompressed data exceeds 1000 bytes$/);
  });

  test('output exactly at the limit is fine', async () => {
    const data = DATA.subarray(0, 2_000_000);
    for (const packed of [cli('gzip', ['-c'], data), cli('zstd', ['-c', '-q'], data), data]) {
      assert.ok((await inflate([packed], { maxOutputBytes: data.length })).data.equals(data));
      await expectError(inflate([packed], { maxOutputBytes: data.length - 1 }), 'DECOMPRESSION_LIMIT', /exceeds 1999999 bytes/);
    }
    await assert.rejects(inflate([data], { maxOutputBytes: -1 }), RangeError);
  });

  test('an error from the source passes through unchanged', async () => {
    for (const packed of [cli('gzip', ['-c'], DATA), cli('zstd', ['-c', '-q'], DATA), cli('xz', ['-c'], DATA), DATA]) {
      const boom = new Error('network went away');
      async function* source() {
        yield packed.subarray(0, 100_000);
        throw boom;
      }
      await assert.rejects(inflate(source()), (e) => e === boom);
    }
  });

  test('breaking out of the loop closes the source stream', async () => {
    const dir = tempDir();
    const gz = path.join(dir, 'a.gz');
    const zst = path.join(dir, 'a.zst');
    const xz = path.join(dir, 'a.xz');
    fs.writeFileSync(gz, cli('gzip', ['-c'], Buffer.concat([DATA, DATA, DATA])));
    fs.writeFileSync(zst, cli('zstd', ['-c', '-q'], Buffer.concat([DATA, DATA, DATA])));
    fs.writeFileSync(xz, cli('xz', ['-c'], Buffer.concat([DATA, DATA, DATA])));
    for (const file of [gz, zst, xz]) {
      const rs = fs.createReadStream(file, { highWaterMark: 64 * 1024 });
      for await (const _ of decompress(rs)) break;
      assert.ok(rs.destroyed, `${path.basename(file)}: source destroyed`);
    }
    // and the xz helper process is gone (killed, then reaped)
    const helpers = () =>
      fs
        .readFileSync(`/proc/${process.pid}/task/${process.pid}/children`, 'utf8')
        .split(' ')
        .filter((p) => p.trim() !== '')
        .filter((p) => {
          try {
            return /^(xz|bzip2)$/.test(fs.readFileSync(`/proc/${p}/comm`, 'utf8').trim());
          } catch {
            return false;
          }
        });
    for (let i = 0; i < 100 && helpers().length > 0; i++) await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(helpers(), []);
  });

  test('abort rejects with the signal’s reason, also while the source is stalled', async () => {
    const gz = cli('gzip', ['-c'], DATA);
    for (const packed of [gz, cli('zstd', ['-c', '-q'], DATA), cli('bzip2', ['-c'], DATA), DATA]) {
      const ac = new AbortController();
      let returned = false;
      const source: AsyncIterable<Buffer> = {
        [Symbol.asyncIterator]() {
          let sent = false;
          return {
            next: () => {
              if (sent) return new Promise<IteratorResult<Buffer>>(() => {}); // stalls forever
              sent = true;
              return Promise.resolve({ done: false, value: packed.subarray(0, 200_000) });
            },
            return: () => {
              returned = true;
              return Promise.resolve({ done: true, value: undefined });
            },
          };
        },
      };
      setTimeout(() => ac.abort(), 50);
      // bzip2 cannot emit anything before its first 900 kB block is complete, so it may never
      // produce a chunk here; the others yield some output first. Either way abort ends it.
      await assert.rejects(inflate(source, { signal: ac.signal }), { name: 'AbortError' });
      assert.ok(returned, 'source iterator closed');
    }
    const ac = new AbortController();
    ac.abort(new Error('stop now'));
    await assert.rejects(inflate([gz], { signal: ac.signal }), /stop now/);
  });

  test('compress rejects a bad level with INVALID_COMPRESSION_LEVEL', async () => {
    await expectError(collect(compress([DATA], 'gzip', 10)), 'INVALID_COMPRESSION_LEVEL', /gzip level/);
    await expectError(collect(compress([DATA], 'gzip', 1.5)), 'INVALID_COMPRESSION_LEVEL', /gzip level/);
    await expectError(collect(compress([DATA], 'zstd', 99)), 'INVALID_COMPRESSION_LEVEL', /zstd level/);
  });
});
