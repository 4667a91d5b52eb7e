/**
 * One tar-split entry and its JSON line, byte for byte as tar-split's `storage.Entry` goes through
 * Go's `json.Encoder` (spec 4.2), and back from any valid JSON as Go's `json.Decoder` reads it.
 */
import { isUtf8 } from 'node:buffer';
import { StrataError } from '../../errors/index.js';
import { goJsonString } from '../gostrings.js';

/** Entry types. Any other number is carried through decoding and ignored by reassembly. */
export const EntryType = {
  /** A file's content, stored elsewhere (on disk) and identified by name, size and CRC-64. */
  File: 1,
  /** Raw archive bytes, stored verbatim in `payload`. */
  Segment: 2,
} as const;

/**
 * tar-split's `storage.Entry`. A File carries its name either as `name` (when the raw bytes are
 * valid UTF-8) or as `nameRaw` (when not); `size` is the tar header's size (0 is omitted);
 * `payload` is the 8-byte big-endian CRC-64/GO-ISO of the content, or null when size is 0.
 * A Segment carries the raw archive bytes in `payload` (`""` when empty). `position` counts every
 * entry from 0.
 */
export interface TarSplitEntry {
  type: number;
  name?: string;
  nameRaw?: Buffer;
  size?: number;
  payload: Buffer | null;
  position: number;
}

/** The raw name bytes of an entry, as tar-split's `GetName` gives them (`name_raw` wins). */
export function entryNameBytes(e: TarSplitEntry): Buffer {
  if (e.nameRaw && e.nameRaw.length > 0) return e.nameRaw;
  return Buffer.from(e.name ?? '', 'utf8');
}

/** `name` or `name_raw` for these raw bytes, as tar-split's `SetName` picks. */
export function nameFields(nameBytes: Buffer): { name?: string; nameRaw?: Buffer } {
  if (nameBytes.length === 0) return {};
  return isUtf8(nameBytes) ? { name: nameBytes.toString('utf8') } : { nameRaw: nameBytes };
}

/**
 * The JSON line (with its `\n`) Go's `json.Encoder` writes for `e`: keys in the order
 * type, name, name_raw, size, payload, position; empty name, name_raw and zero size omitted;
 * payload base64 (std, padded) or `null`. A `name` that is set is written even if it came from
 * elsewhere; the packer never sets both.
 */
export function encodeEntry(e: TarSplitEntry): string {
  let s = '{"type":' + e.type;
  if (e.name) s += ',"name":' + goJsonString(e.name);
  if (e.nameRaw && e.nameRaw.length > 0) s += ',"name_raw":"' + e.nameRaw.toString('base64') + '"';
  if (e.size) s += ',"size":' + e.size;
  s += e.payload === null ? ',"payload":null' : ',"payload":"' + e.payload.toString('base64') + '"';
  return s + ',"position":' + e.position + '}\n';
}

/** Segment line, the hot case, without building an entry object. */
export function encodeSegment(payload: Buffer, position: number): string {
  return '{"type":2,"payload":"' + payload.toString('base64') + '","position":' + position + '}\n';
}

export function corrupt(message: string): StrataError {
  return new StrataError('TARSPLIT_CORRUPT', `tar-split: ${message}`);
}

const FIELDS = ['type', 'name', 'name_raw', 'size', 'payload', 'position'] as const;
type Field = (typeof FIELDS)[number];
const FIELD_SET: ReadonlySet<string> = new Set(FIELDS);

/** Go's case-insensitive key match (exact keys are preferred; K and ſ fold to k and s). */
function fieldOf(key: string): Field | undefined {
  if (FIELD_SET.has(key)) return key as Field;
  const folded = key.replace(/\u017f/g, 's').toLowerCase();
  return FIELD_SET.has(folded) ? (folded as Field) : undefined;
}

/**
 * A JSON string as Go decodes it into `[]byte`: std base64 with padding (CR/LF ignored). Node's
 * decoder skips what it does not understand, so a decoded length short of what the text length
 * promises means the text was not base64.
 */
function bytesField(v: unknown, key: string): Buffer | null {
  if (v === null) return null;
  if (typeof v !== 'string') throw corrupt(`"${key}" is not a base64 string`);
  const s = v.includes('\n') || v.includes('\r') ? v.replace(/[\r\n]/g, '') : v;
  if (s.length % 4 !== 0) throw corrupt(`"${key}" is not valid base64`);
  const b = Buffer.from(s, 'base64');
  const pad = s.endsWith('==') ? 2 : s.endsWith('=') ? 1 : 0;
  if (b.length !== (s.length / 4) * 3 - pad) throw corrupt(`"${key}" is not valid base64`);
  return b;
}

function intField(v: unknown, key: string, old: number): number {
  if (v === null) return old;
  if (typeof v !== 'number' || !Number.isSafeInteger(v)) throw corrupt(`"${key}" is not an integer`);
  return v;
}

/**
 * The entry Go's decoder makes of one parsed JSON value: keys matched case-insensitively,
 * unknown keys ignored, `null` clearing `name_raw`/`payload` and leaving other fields as they
 * were (a top-level `null` gives an entry of type 0). Anything that Go would refuse (wrong value types, bad base64, a value that is
 * not an object) fails with `TARSPLIT_CORRUPT`.
 */
export function entryFromJson(v: unknown): TarSplitEntry {
  const e: TarSplitEntry = { type: 0, payload: null, position: 0 };
  if (v === null) return e;
  if (typeof v !== 'object' || Array.isArray(v)) throw corrupt('entry is not a JSON object');
  const o = v as Record<string, unknown>;
  for (const key in o) {
    const val = o[key];
    switch (fieldOf(key)) {
      case 'type':
        e.type = intField(val, key, e.type);
        break;
      case 'name':
        if (val === null) break;
        if (typeof val !== 'string') throw corrupt('"name" is not a string');
        if (val) e.name = val;
        else delete e.name;
        break;
      case 'name_raw': {
        const b = bytesField(val, key);
        if (b && b.length > 0) e.nameRaw = b;
        else delete e.nameRaw;
        break;
      }
      case 'size':
        e.size = intField(val, key, e.size ?? 0);
        break;
      case 'payload':
        e.payload = bytesField(val, key);
        break;
      case 'position':
        e.position = intField(val, key, e.position);
        break;
      default:
    }
  }
  return e;
}
