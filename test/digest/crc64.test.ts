import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { Crc64, crc64 } from '../../src/digest/index.js';
import { sh, tempDir } from '../helpers/tmp.js';

/**
 * An independent reference straight from the parameters (Go's hash/crc64 with the ISO table):
 * BigInt, table-driven, reflected polynomial 0xD800000000000000, init and final XOR all ones.
 */
const REF_TABLE = (() => {
  const t: bigint[] = [];
  for (let i = 0n; i < 256n; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1n ? (c >> 1n) ^ 0xd800000000000000n : c >> 1n;
    t.push(c);
  }
  return t;
})();

function refCrc64(data: Uint8Array): Buffer {
  let crc = 0xffffffffffffffffn;
  for (const b of data) crc = REF_TABLE[Number((crc ^ BigInt(b)) & 0xffn)]! ^ (crc >> 8n);
  const out = Buffer.alloc(8);
  out.writeBigUInt64BE(crc ^ 0xffffffffffffffffn);
  return out;
}

describe('CRC-64/GO-ISO', () => {
  test('spec vectors', () => {
    assert.equal(crc64(Buffer.from('123456789')).toString('hex'), 'b90956c775a41001');
    assert.equal(crc64(Buffer.from('hello\n')).toString('base64'), 'YUw+7uLYEAA=');
    assert.deepEqual([...crc64(Buffer.from('hello\n'))], [0x61, 0x4c, 0x3e, 0xee, 0xe2, 0xd8, 0x10, 0x00]);
    assert.equal(crc64(Buffer.from('x\n')).toString('base64'), 'YVMQAAAAAAA=');
    assert.equal(crc64(Buffer.alloc(0)).toString('hex'), '0000000000000000');
    assert.equal(new Crc64().update(Buffer.from('123456789')).hex(), 'b90956c775a41001');
  });

  test('equals the reference for every length 0..600 and every alignment', () => {
    const pool = crypto.randomBytes(700);
    for (let len = 0; len <= 600; len++) {
      for (const off of len % 37 === 0 ? [0, 1, 2, 3, 4, 5, 6, 7] : [len % 8]) {
        const v = pool.subarray(off, off + len);
        assert.deepEqual(crc64(v), refCrc64(v), `len ${len} offset ${off}`);
      }
    }
  });

  test('equals the reference on large inputs (word path), including all-ones and all-zeros data', () => {
    const cases = [crypto.randomBytes((1 << 20) + 13), Buffer.alloc(70_001, 0xff), Buffer.alloc(70_003, 0)];
    for (const data of cases) {
      assert.deepEqual(crc64(data), refCrc64(data));
      assert.deepEqual(crc64(data.subarray(3)), refCrc64(data.subarray(3)));
    }
  });

  test('streaming: any split gives the one-shot result; digest does not reset; reset does', () => {
    const data = crypto.randomBytes(300_000);
    const whole = crc64(data);
    for (const sizes of [[1], [7], [255, 256, 257], [4096], [65_537, 3], [1 << 20]]) {
      const c = new Crc64();
      let p = 0;
      for (let i = 0; p < data.length; i++) {
        const n = sizes[i % sizes.length]!;
        c.update(data.subarray(p, p + n));
        p += n;
      }
      assert.deepEqual(c.digest(), whole, `split ${sizes.join(',')}`);
      assert.deepEqual(c.digest(), whole, 'digest is repeatable');
    }
    const c = new Crc64().update(data);
    c.reset().update(Buffer.from('123456789'));
    assert.equal(c.hex(), 'b90956c775a41001');
    // Uint8Array (not Buffer) input
    assert.deepEqual(crc64(new Uint8Array(data.buffer, data.byteOffset + 1, 5000)), refCrc64(data.subarray(1, 5001)));
  });

  test('matches the payloads the tar-split binary writes for real files', () => {
    const dir = tempDir();
    const root = path.join(dir, 'root');
    fs.mkdirSync(root);
    const sizes = [1, 2, 7, 8, 9, 15, 16, 17, 255, 256, 257, 511, 512, 513, 1000, 4096, 65_537, (1 << 20) + 3, 3 << 20];
    const contents = new Map<string, Buffer>();
    sizes.forEach((size, i) => {
      const name = `f${i}`;
      const data = i % 3 === 2 ? Buffer.alloc(size, 0x5a) : crypto.randomBytes(size);
      fs.writeFileSync(path.join(root, name), data);
      contents.set(name, data);
    });
    fs.writeFileSync(path.join(root, 'hello'), 'hello\n');
    contents.set('hello', Buffer.from('hello\n'));
    const tarFile = path.join(dir, 'layer.tar');
    sh('tar', ['-cf', tarFile, '-C', root, '.']);
    const out = path.join(dir, 'tar-split.json.gz');
    sh('tar-split', ['disasm', '--no-stdout', '--output', out, tarFile]);
    const entries = zlib
      .gunzipSync(fs.readFileSync(out))
      .toString()
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as { type: number; name?: string; size?: number; payload: string | null });
    let checked = 0;
    for (const e of entries) {
      if (e.type !== 1 || !e.size) continue;
      const data = contents.get(e.name!.replace(/^\.\//, ''));
      assert.ok(data, `unexpected entry ${e.name}`);
      assert.equal(crc64(data).toString('base64'), e.payload, e.name);
      checked++;
    }
    assert.equal(checked, contents.size);
  });
});
