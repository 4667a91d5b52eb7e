/**
 * Byte strings in the harness: their bytes, host paths built from them, the one rendering for
 * people, and the ASCII replay JSON that gives them back unchanged.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { asciiJson, byteString, bytesOf, hostPath, showByteString } from './bytes.js';
import { NAME_FF_FE, NAME_LATIN1, NAME_UTF8 } from './fixture.js';
import { showOp } from './ops.js';

describe('differential harness: byte strings', () => {
  it('a byte string is its bytes, one char per byte', () => {
    assert.deepEqual([...bytesOf(NAME_UTF8)], [0x63, 0x61, 0x66, 0xc3, 0xa9], 'café in UTF-8');
    assert.deepEqual([...bytesOf(NAME_LATIN1)], [0x6e, 0xe9]);
    assert.equal(byteString(Buffer.from('café', 'utf8')), NAME_UTF8);
    assert.equal(byteString(Buffer.from([0xff, 0xfe])), NAME_FF_FE);
  });

  it('host paths keep the root as UTF-8 text and the rest as raw bytes', () => {
    assert.deepEqual(hostPath('/tmp/é', `a/${NAME_LATIN1}`), Buffer.concat([Buffer.from('/tmp/é/'), Buffer.from([0x61, 0x2f, 0x6e, 0xe9])]));
    assert.deepEqual(hostPath('/tmp/x/', `/${NAME_FF_FE}`), Buffer.from([...Buffer.from('/tmp/x/'), 0xff, 0xfe]));
    assert.deepEqual(hostPath('/tmp/x', ''), Buffer.from('/tmp/x'), 'an empty rest is the root itself');
    assert.deepEqual(hostPath('/tmp/x', '/'), Buffer.from('/tmp/x'), 'the union root is the root itself');
  });

  it('shows valid UTF-8 as text and every other byte as \\xNN', () => {
    assert.equal(showByteString(NAME_UTF8), '"café"');
    assert.equal(showByteString(NAME_LATIN1), '"n\\xe9"');
    assert.equal(showByteString(`/${NAME_UTF8}/${NAME_FF_FE}`), '"/café/\\xff\\xfe"');
    assert.equal(showByteString('a"b\\c\n'), '"a\\"b\\\\c\\n"', 'JSON escapes for quotes, backslashes and control chars');
    assert.equal(showByteString('\xe2\x82\xac\xe2\x82'), '"€\\xe2\\x82"', 'a cut-off sequence after a whole one');
    assert.equal(showByteString('\xc0\xaf'), '"\\xc0\\xaf"', 'an overlong form is not UTF-8');
    assert.equal(showByteString('\xed\xa0\x80'), '"\\xed\\xa0\\x80"', 'a surrogate is not UTF-8');
    assert.equal(showByteString('\xf0\x9f\x98\x80'), '"😀"', 'a 4-byte sequence');
  });

  it('operations render their byte-string paths readably', () => {
    assert.equal(showOp({ op: 'rename', from: `/${NAME_UTF8}`, to: `/${NAME_LATIN1}`, flags: ['NOREPLACE'] }), 'rename {"from":"/café","to":"/n\\xe9","flags":["NOREPLACE"]}');
  });

  it('replay JSON is ASCII and parses back to the same byte strings', () => {
    const value = { ops: [{ op: 'symlink', target: `${NAME_UTF8}/${NAME_FF_FE}`, path: `/${NAME_LATIN1}` }] };
    const text = asciiJson(value, 1);
    assert.ok(/^[\x00-\x7f]*$/.test(text), `only ASCII: ${text}`);
    assert.deepEqual(JSON.parse(text), value);
  });
});
