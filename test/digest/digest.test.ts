import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import {
  DIGEST_EMPTY,
  DIGEST_EMPTY_TAR,
  Sha256,
  chainId,
  chainIds,
  digestFromHex,
  digestHex,
  hashing,
  isDigest,
  isValidMountId,
  parseDigest,
  randomCacheId,
  sha256File,
  sha256Of,
  type Digest,
} from '../../src/digest/index.js';
import { isStrataError } from '../../src/errors/index.js';
import { chunked, sh, tempDir } from '../helpers/tmp.js';

const HEX64 = 'b9e281681c39bb78493a5a93ea6afefcf20eac9f1b40e37ac22f37cc3ae8b9c8';

function expectInvalid(input: string, pattern: RegExp): void {
  assert.throws(
    () => parseDigest(input),
    (e: unknown) => {
      assert.ok(isStrataError(e, 'INVALID_DIGEST'), `expected INVALID_DIGEST, got ${String(e)}`);
      assert.ok(!e.message.includes('\n'), 'message is one line');
      assert.match(e.message, pattern);
      return true;
    },
  );
}

describe('Digest', () => {
  test('parseDigest accepts canonical sha256 digests and returns them unchanged', () => {
    const d = parseDigest('sha256:' + HEX64);
    assert.equal(d, 'sha256:' + HEX64);
    assert.equal(digestHex(d), HEX64);
    assert.equal(digestFromHex(HEX64), d);
    assert.ok(isDigest(d));
  });

  test('parseDigest rejects other algorithms, wrong lengths, uppercase and junk with INVALID_DIGEST', () => {
    expectInvalid('sha512:' + HEX64 + HEX64, /unsupported algorithm "sha512"/);
    expectInvalid('SHA256:' + HEX64, /unsupported algorithm "SHA256"/);
    expectInvalid('sha256:' + HEX64.slice(1), /expected 64 hex digits.*got 63/);
    expectInvalid('sha256:' + HEX64 + '0', /got 65/);
    expectInvalid('sha256:', /got 0/);
    expectInvalid('sha256:' + HEX64.toUpperCase(), /lowercase/);
    expectInvalid('sha256:' + HEX64.slice(0, 63) + 'g', /not hex/);
    expectInvalid(HEX64, /expected "sha256:"/);
    expectInvalid('', /expected "sha256:"/);
    expectInvalid('sha256:' + HEX64 + '\n', /not hex/);
    expectInvalid(' sha256:' + HEX64, /unsupported algorithm/);
    assert.equal(isDigest('sha256:' + HEX64.toUpperCase()), false);
    assert.equal(isDigest(42), false);
    assert.throws(() => digestFromHex('abc'), (e: unknown) => isStrataError(e, 'INVALID_DIGEST'));
  });

  test('error messages for absurd input stay short and on one line', () => {
    assert.throws(
      () => parseDigest('x'.repeat(10_000) + '\n' + 'y'),
      (e: unknown) => isStrataError(e, 'INVALID_DIGEST') && e.message.length < 200 && !e.message.includes('\n'),
    );
  });
});

describe('SHA-256', () => {
  test('the empty-layer constants are what their definitions say', () => {
    assert.equal(sha256Of(Buffer.alloc(0)), DIGEST_EMPTY);
    assert.equal(DIGEST_EMPTY, 'sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    assert.equal(sha256Of(Buffer.alloc(1024)), DIGEST_EMPTY_TAR);
    assert.equal(DIGEST_EMPTY_TAR, 'sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef');
    assert.equal(sha256Of('hello\n'), 'sha256:5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03');
  });

  test('Sha256 fed in pieces equals the one-shot digest, and counts bytes', () => {
    const data = crypto.randomBytes(3 * 1024 * 1024 + 17);
    const h = new Sha256();
    for (const piece of chunked(data, 65_521)) h.update(piece);
    assert.equal(h.size, data.length);
    assert.equal(h.digest(), sha256Of(data));
  });

  test('sha256File matches coreutils sha256sum (multi-MiB, exact 1 MiB, and empty files)', async () => {
    const dir = tempDir();
    const cases: Array<[string, Buffer]> = [
      ['big', crypto.randomBytes(5 * 1024 * 1024 + 3)],
      ['mib', crypto.randomBytes(1024 * 1024)],
      ['empty', Buffer.alloc(0)],
    ];
    for (const [name, data] of cases) {
      const file = path.join(dir, name);
      fs.writeFileSync(file, data);
      const expected = 'sha256:' + sh('sha256sum', [file]).toString().split(' ')[0];
      assert.equal(await sha256File(file), expected, name);
    }
    assert.equal(await sha256File(path.join(dir, 'empty')), DIGEST_EMPTY);
  });

  test('sha256File rejects with the fs error for a missing file', async () => {
    await assert.rejects(sha256File(path.join(tempDir(), 'nope')), { code: 'ENOENT' });
  });

  test('hashing passes chunks through unchanged and reports digest and size at the end', async () => {
    const data = crypto.randomBytes(2_500_000);
    const pieces = [...chunked(data, 1 << 20)];
    const seen: Buffer[] = [];
    let reported: [Digest, number] | undefined;
    for await (const c of hashing(pieces, (d, n) => (reported = [d, n]))) {
      assert.equal(reported, undefined, 'not reported before the end');
      seen.push(c);
    }
    assert.equal(seen.length, pieces.length);
    seen.forEach((c, i) => assert.equal(c, pieces[i], 'same Buffer object, no copy'));
    assert.deepEqual(reported, [sha256Of(data), data.length]);
  });

  test('hashing accepts plain Uint8Arrays and an empty source', async () => {
    let d: Digest | undefined;
    const out: Buffer[] = [];
    for await (const c of hashing([new Uint8Array([104, 105])], (x) => (d = x))) out.push(c);
    assert.ok(Buffer.isBuffer(out[0]));
    assert.equal(d, sha256Of('hi'));
    let e: Digest | undefined;
    for await (const _ of hashing([], (x) => (e = x))) assert.fail('no chunks');
    assert.equal(e, DIGEST_EMPTY);
  });

  test('hashing never reports a partial digest (early break, source error)', async () => {
    let called = false;
    for await (const _ of hashing([Buffer.from('a'), Buffer.from('b')], () => (called = true))) break;
    assert.equal(called, false);
    async function* failing() {
      yield Buffer.from('a');
      throw new Error('disk on fire');
    }
    await assert.rejects(async () => {
      for await (const _ of hashing(failing(), () => (called = true))) {
        /* drain */
      }
    }, /disk on fire/);
    assert.equal(called, false);
  });
});

describe('ChainID', () => {
  test('matches the layer directory observed in a Docker data root (spec vector)', () => {
    const parent = parseDigest('sha256:b9e281681c39bb78493a5a93ea6afefcf20eac9f1b40e37ac22f37cc3ae8b9c8');
    const diff = parseDigest('sha256:665bd7d461b34939291e701b0f4b5087502441424ebe7121defe947c9766c568');
    assert.equal(chainId(parent, diff), 'sha256:f4516c546bfb25456c76cfa65c57247efe7ceb5e988e52095b8ce8132ff3f2e8');
  });

  test('the first layer’s ChainID is its DiffID, not re-hashed', () => {
    assert.equal(chainId(undefined, DIGEST_EMPTY_TAR), DIGEST_EMPTY_TAR);
    assert.equal(chainId(undefined, DIGEST_EMPTY), DIGEST_EMPTY);
  });

  test('chainIds gives the ChainID of every prefix', () => {
    const a = parseDigest('sha256:b9e281681c39bb78493a5a93ea6afefcf20eac9f1b40e37ac22f37cc3ae8b9c8');
    const b = parseDigest('sha256:665bd7d461b34939291e701b0f4b5087502441424ebe7121defe947c9766c568');
    const ids = chainIds([a, b, DIGEST_EMPTY_TAR]);
    assert.equal(ids.length, 3);
    assert.equal(ids[0], a);
    assert.equal(ids[1], 'sha256:f4516c546bfb25456c76cfa65c57247efe7ceb5e988e52095b8ce8132ff3f2e8');
    assert.equal(ids[2], sha256Of(ids[1] + ' ' + DIGEST_EMPTY_TAR));
    assert.deepEqual(chainIds([]), []);
    // the worked example in src/digest/index.ts
    assert.equal(
      chainIds([DIGEST_EMPTY_TAR, DIGEST_EMPTY_TAR])[1],
      'sha256:170b376f64fb30995c140276be3d71dfb256b308d86183ca3b22aa93a79ad548',
    );
  });
});

describe('random IDs', () => {
  test('randomCacheId is 64 lowercase hex and different every time', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 200; i++) {
      const id = randomCacheId();
      assert.match(id, /^[a-f0-9]{64}$/);
      assert.ok(isValidMountId(id));
      seen.add(id);
    }
    assert.equal(seen.size, 200);
  });

  test('randomCacheId draws again while the first 12 characters are all digits (Docker GenerateRandomID)', () => {
    const draws = [
      '123456789012' + 'ab'.repeat(26), // 12 digits: rejected
      '000000000000' + '00'.repeat(26), // rejected
      '12345678901a' + 'cd'.repeat(26), // 11 digits then a letter: accepted
    ];
    let calls = 0;
    const id = randomCacheId((n) => {
      assert.equal(n, 32);
      return Buffer.from(draws[calls++]!, 'hex');
    });
    assert.equal(calls, 3);
    assert.equal(id, draws[2]);
  });

  test('isValidMountId accepts 64 hex with an optional -init suffix, nothing else', () => {
    const id = 'a'.repeat(63) + 'f';
    assert.ok(isValidMountId(id));
    assert.ok(isValidMountId(id + '-init'));
    assert.ok(!isValidMountId(id.toUpperCase()));
    assert.ok(!isValidMountId(id.slice(1)));
    assert.ok(!isValidMountId(id + '0'));
    assert.ok(!isValidMountId(id + '-init-init'));
    assert.ok(!isValidMountId(id + '-INIT'));
    assert.ok(!isValidMountId(id + '\n'));
    assert.ok(!isValidMountId('../' + id.slice(3)));
    assert.ok(!isValidMountId('k1x9abcdefghijklmnopqrstu')); // BuildKit's 25-char base-36 IDs
    assert.ok(!isValidMountId(''));
  });
});
