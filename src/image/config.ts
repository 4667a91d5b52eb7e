/**
 * The image config: the JSON document an image ID names.
 *
 * An image is a list of layers plus a config, and the **image ID is the SHA-256 of the config's
 * exact bytes** — not of what they mean. So strata never re-writes a config it read: the imagedb
 * keeps the bytes, `docker save` copies them. Parsing is for reading fields; marshalling is only
 * for configs strata makes itself (commit, import), and then it must write the bytes dockerd
 * would have written, or the same image gets another ID. Worked example — the config of an
 * imported image, as dockerd 20.10 stored it (`imagedb/content/sha256/469789f7…`, 893 bytes):
 *
 *   {"architecture":"amd64","comment":"Imported from -","config":{"Hostname":"",…,"Labels":null},
 *    "container_config":{"Hostname":"",…},"created":"2026-11-23T10:22:17.12688207Z",
 *    "docker_version":"20.10.24+dfsg1","history":[{"created":"…","comment":"Imported from -"}],
 *    "os":"linux","rootfs":{"type":"layers","diff_ids":["sha256:6accd2b6…2819"]}}
 *
 *   const bytes = fs.readFileSync(file);
 *   imageId(bytes)                        // sha256:469789f7…: the bytes' hash, nothing else
 *   const img = parseImageConfig(bytes);  // img.os 'linux', img.rootfs.diff_ids ['sha256:6accd2b6…']
 *   marshalImageConfig(img).equals(bytes) // true: Go's encoder, reproduced
 *
 * What dockerd's marshaller does, and so this one:
 * - **top-level keys sorted** (`Image.MarshalJSON` goes through a map), `Size` first (capitals
 *   sort before lower case), then `architecture` … `variant`;
 * - nested `config` / `container_config` in **Go struct order** (`Hostname`, `Domainname`, …,
 *   `Labels`), with `ExposedPorts`, `Healthcheck`, `ArgsEscaped`, `NetworkDisabled`,
 *   `MacAddress`, `StopSignal`, `StopTimeout`, `Shell` left out when empty;
 * - `container_config` and `created` are **always** written (a struct and a `time.Time`), the
 *   zero time as `0001-01-01T00:00:00Z`; every other top-level key only when non-empty;
 * - `null` for an absent list or map (`"Env":null`), `[]`/`{}` for an empty one — the model keeps
 *   the difference (`null` vs `[]`) where the output shows it;
 * - strings escaped as Go does (`&` → `\u0026`, `<` → `\u003c`, `>` → `\u003e`), non-ASCII as is;
 * - times as RFC3339Nano (trailing fractional zeros dropped);
 * - no trailing newline.
 *
 * Reading follows Go's `json.Unmarshal` into moby's `image.Image`: keys match fields exactly or
 * else case-insensitively; `null` leaves a string/number/bool as it was and empties a list, map
 * or pointer; `Cmd`, `Entrypoint`, `Shell` accept a single string (`"sh"` → `["sh"]`); a value of
 * the wrong JSON type is an error, as is a config without `rootfs`. Keys dockerd does not know
 * are kept in `extra` (on the config and on its nested objects) for readers, and — as in
 * dockerd — not written back.
 *
 * Known differences from Go, all in input no Docker writes: numbers must be integers within
 * ±2^53 (Go takes int64, and refuses `1.0`, which JSON.parse cannot tell from `1`); invalid
 * UTF-8 is replaced per WHATWG rather than per byte; syntax errors read as V8 words them.
 */
import { goJsonString } from '../archive/gostrings.js';
import { type Digest, chainIds, parseDigest, sha256Of } from '../digest/index.js';
import { StrataError } from '../errors/index.js';
import { GO_ZERO_TIME, formatGoTime, parseGoTime } from './imagedb/gotime.js';

// ---------------------------------------------------------------------------------------------
// The model

/** `container.HealthConfig` (v20.10). Durations are integer nanoseconds. */
export interface HealthConfig {
  /** `[]` inherit, `["NONE"]`, `["CMD", …]`, `["CMD-SHELL", cmd]`; omitted when empty. */
  Test: string[];
  Interval: number;
  Timeout: number;
  StartPeriod: number;
  Retries: number;
  /** Keys dockerd does not know (read only; never written). */
  extra?: Record<string, unknown>;
}

/**
 * `container.Config` (v20.10), the `config` and `container_config` of an image. `null` is Go's
 * nil (written `null`) for the lists and maps that are always written; the omitempty ones are
 * plain arrays, left out when empty. `ExposedPorts` and `Volumes` are sets (Go maps to `{}`).
 */
export interface ContainerConfig {
  Hostname: string;
  Domainname: string;
  User: string;
  AttachStdin: boolean;
  AttachStdout: boolean;
  AttachStderr: boolean;
  /** Port specs such as `80/tcp`; written as `{"80/tcp":{}}`, sorted; omitted when empty. */
  ExposedPorts: string[];
  Tty: boolean;
  OpenStdin: boolean;
  StdinOnce: boolean;
  Env: string[] | null;
  Cmd: string[] | null;
  /** Omitted when null. */
  Healthcheck: HealthConfig | null;
  /** Omitted when false. */
  ArgsEscaped: boolean;
  Image: string;
  /** Paths; written as `{"/data":{}}`, sorted. */
  Volumes: string[] | null;
  WorkingDir: string;
  Entrypoint: string[] | null;
  /** Omitted when false. */
  NetworkDisabled: boolean;
  /** Omitted when empty. */
  MacAddress: string;
  OnBuild: string[] | null;
  Labels: Record<string, string> | null;
  /** Omitted when empty. */
  StopSignal: string;
  /** Seconds; omitted when null (0 is written). */
  StopTimeout: number | null;
  /** Omitted when empty. */
  Shell: string[];
  /** Keys dockerd does not know (read only; never written). */
  extra?: Record<string, unknown>;
}

/** One `history` entry: a build step, with or without a layer. */
export interface HistoryEntry {
  /** RFC3339Nano; always written (the zero time when unknown). */
  created: string;
  author: string;
  created_by: string;
  comment: string;
  /** True when the step made no layer (it then has no `diff_ids` entry). */
  empty_layer: boolean;
  extra?: Record<string, unknown>;
}

/** `rootfs`: the layers, bottom first, by DiffID. */
export interface RootFS {
  type: string;
  /** `sha256:<hex>` DiffIDs as written (not validated, as dockerd does not); omitted when empty. */
  diff_ids: string[];
  extra?: Record<string, unknown>;
}

/**
 * moby's `image.V1Image`: the fields an image config shares with the legacy V1 JSON that
 * `docker save` writes next to each layer. `parent` here is the V1 parent (64 hex, only in V1
 * JSON); `created` is RFC3339Nano, `GO_ZERO_TIME` when unknown.
 */
export interface V1Image {
  id: string;
  parent: string;
  comment: string;
  created: string;
  container: string;
  container_config: ContainerConfig;
  docker_version: string;
  author: string;
  config: ContainerConfig | null;
  architecture: string;
  variant: string;
  os: string;
  Size: number;
}

/**
 * moby's `image.Image`: a `V1Image` plus the fields of the content-addressed config. Here
 * `parent` is the parent **image** ID (`sha256:<hex>`, set by the legacy builder), which is the
 * field Go reads the `parent` key into.
 */
export interface ImageConfig extends V1Image {
  rootfs: RootFS;
  history: HistoryEntry[];
  'os.version': string;
  'os.features': string[];
  /** Top-level keys dockerd does not know (read only; never written). */
  extra?: Record<string, unknown>;
}

// ---------------------------------------------------------------------------------------------
// Errors

/**
 * Stable codes:
 * - `IMAGE_CONFIG_SYNTAX`: the bytes are not JSON.
 * - `IMAGE_CONFIG_TYPE`: a value of the wrong JSON type, or a time or number Go would refuse
 *   (`json: cannot unmarshal number into Go struct field Image.architecture of type string`).
 * - `IMAGE_CONFIG_NO_ROOTFS`: `invalid image JSON, no RootFS key`.
 * - `IMAGE_CONFIG_HISTORY`: `too many non-empty layers in History section`.
 * - `IMAGE_CONFIG_MARSHAL`: a model value that cannot be written (a bad time, a non-integer).
 */
export type ImageConfigErrorCode =
  | 'IMAGE_CONFIG_SYNTAX'
  | 'IMAGE_CONFIG_TYPE'
  | 'IMAGE_CONFIG_NO_ROOTFS'
  | 'IMAGE_CONFIG_HISTORY'
  | 'IMAGE_CONFIG_MARSHAL';

export class ImageConfigError extends StrataError {
  declare readonly code: ImageConfigErrorCode;
  constructor(code: ImageConfigErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}

// ---------------------------------------------------------------------------------------------
// Zero values

/** A `container.Config` with Go's zero values (what `"container_config":{}` reads as). */
export function newContainerConfig(init: Partial<ContainerConfig> = {}): ContainerConfig {
  return {
    Hostname: '',
    Domainname: '',
    User: '',
    AttachStdin: false,
    AttachStdout: false,
    AttachStderr: false,
    ExposedPorts: [],
    Tty: false,
    OpenStdin: false,
    StdinOnce: false,
    Env: null,
    Cmd: null,
    Healthcheck: null,
    ArgsEscaped: false,
    Image: '',
    Volumes: null,
    WorkingDir: '',
    Entrypoint: null,
    NetworkDisabled: false,
    MacAddress: '',
    OnBuild: null,
    Labels: null,
    StopSignal: '',
    StopTimeout: null,
    Shell: [],
    ...init,
  };
}

function newHealthConfig(): HealthConfig {
  return { Test: [], Interval: 0, Timeout: 0, StartPeriod: 0, Retries: 0 };
}

/** A history entry with Go's zero values. */
export function newHistoryEntry(init: Partial<HistoryEntry> = {}): HistoryEntry {
  return { created: GO_ZERO_TIME, author: '', created_by: '', comment: '', empty_layer: false, ...init };
}

/** A V1Image with Go's zero values for everything not in `init`. */
export function newV1Image(init: Partial<V1Image> = {}): V1Image {
  return {
    id: '',
    parent: '',
    comment: '',
    created: GO_ZERO_TIME,
    container: '',
    container_config: newContainerConfig(),
    docker_version: '',
    author: '',
    config: null,
    architecture: '',
    variant: '',
    os: '',
    Size: 0,
    ...init,
  };
}

/**
 * An image config with Go's zero values for everything not in `init` (`rootfs` defaults to
 * `{type: 'layers', diff_ids: []}`, as `image.NewRootFS()`).
 */
export function newImageConfig(init: Partial<ImageConfig> = {}): ImageConfig {
  return {
    ...newV1Image(),
    rootfs: { type: 'layers', diff_ids: [] },
    history: [],
    'os.version': '',
    'os.features': [],
    ...init,
  };
}

// ---------------------------------------------------------------------------------------------
// Reading (Go's json.Unmarshal into image.Image)

type Json = unknown;

/** Go's name for the JSON type of `v`, as in its UnmarshalTypeError. */
function kind(v: Json): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'boolean') return 'bool';
  return typeof v;
}

function isObject(v: Json): v is Record<string, Json> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Where a value sits, for messages: Go prints `<innermost struct>.<field path>`. */
interface At {
  struct: string;
  path: string;
}

/**
 * Go's UnmarshalTypeError text. A JSON type that does not fit is named by kind (`number`,
 * `string`, …); a number that does not fit an integer field also shows its value (`number 1.5`).
 */
function typeError(v: Json, at: At, goType: string, showNumber = false): ImageConfigError {
  const what = showNumber && typeof v === 'number' ? `number ${v}` : kind(v);
  return new ImageConfigError('IMAGE_CONFIG_TYPE', `json: cannot unmarshal ${what} into Go struct field ${at.struct}.${at.path} of type ${goType}`);
}

function sub(at: At, field: string, struct?: string): At {
  return { struct: struct ?? at.struct, path: at.path ? `${at.path}.${field}` : field };
}

/** Go's case folding for field names (ASCII, plus K ↔ U+212A and s ↔ U+017F). */
function fold(s: string): string {
  return s.replace(/\u212a/g, 'k').replace(/\u017f/g, 's').replace(/[A-Z]/g, (c) => c.toLowerCase());
}

/**
 * Decodes a JSON object into struct fields: each key goes to the field of that exact name, else
 * to the first field (in struct order) whose name matches ignoring case, else into `extra`.
 */
function decodeFields(obj: Record<string, Json>, fields: readonly string[], set: (field: string, v: Json) => void): Record<string, unknown> | undefined {
  let extra: Record<string, unknown> | undefined;
  const folded = fields.map(fold);
  for (const key of Object.keys(obj)) {
    let field = fields.includes(key) ? key : undefined;
    if (field === undefined) {
      const k = fold(key);
      const i = folded.indexOf(k);
      if (i >= 0) field = fields[i];
    }
    if (field === undefined) (extra ??= Object.create(null) as Record<string, unknown>)[key] = obj[key];
    else set(field, obj[key]);
  }
  return extra === undefined ? undefined : Object.fromEntries(Object.entries(extra));
}

function decString(v: Json, cur: string, at: At): string {
  if (v === null) return cur;
  if (typeof v !== 'string') throw typeError(v, at, 'string');
  return v;
}

function decBool(v: Json, cur: boolean, at: At): boolean {
  if (v === null) return cur;
  if (typeof v !== 'boolean') throw typeError(v, at, 'bool');
  return v;
}

function decInt(v: Json, cur: number, at: At, goType: string): number {
  if (v === null) return cur;
  if (typeof v !== 'number') throw typeError(v, at, goType);
  if (!Number.isSafeInteger(v)) throw typeError(v, at, goType, true);
  return v;
}

function decTime(v: Json, cur: string, at: At): string {
  if (v === null) return cur;
  const t = typeof v === 'string' ? parseGoTime(v, 'json') : `not a JSON string`;
  if (typeof t === 'string') {
    throw new ImageConfigError('IMAGE_CONFIG_TYPE', `parsing time ${JSON.stringify(v)} of ${at.struct}.${at.path} as "2006-01-02T15:04:05Z07:00": ${t}`);
  }
  return formatGoTime(t);
}

/** `[]string`: a `null` element reads as `""`. */
function decStrings(v: Json, at: At, goType = '[]string'): string[] | null {
  if (v === null) return null;
  if (!Array.isArray(v)) throw typeError(v, at, goType);
  return v.map((e) => {
    if (e === null) return '';
    if (typeof e !== 'string') throw typeError(e, at, 'string');
    return e;
  });
}

/** `strslice.StrSlice`: a list of strings, or one string. */
function decStrSlice(v: Json, at: At): string[] | null {
  if (typeof v === 'string') return [v];
  return decStrings(v, at, 'strslice.StrSlice');
}

/** `map[K]struct{}` read as the list of its keys. */
function decSet(v: Json, at: At, goType: string): string[] | null {
  if (v === null) return null;
  if (!isObject(v)) throw typeError(v, at, goType);
  for (const e of Object.values(v)) if (e !== null && !isObject(e)) throw typeError(e, at, 'struct {}');
  return Object.keys(v);
}

function decStringMap(v: Json, at: At): Record<string, string> | null {
  if (v === null) return null;
  if (!isObject(v)) throw typeError(v, at, 'map[string]string');
  return Object.fromEntries(
    Object.entries(v).map(([k, e]) => {
      if (e === null) return [k, ''];
      if (typeof e !== 'string') throw typeError(e, at, 'string');
      return [k, e];
    }),
  );
}

const HEALTH_FIELDS = ['Test', 'Interval', 'Timeout', 'StartPeriod', 'Retries'] as const;

function decHealth(v: Json, cur: HealthConfig | null, at: At): HealthConfig | null {
  if (v === null) return null;
  if (!isObject(v)) throw typeError(v, at, 'container.HealthConfig');
  const h: HealthConfig = cur ? { ...cur } : newHealthConfig();
  const inner = { struct: 'HealthConfig', path: at.path };
  const extra = decodeFields(v, HEALTH_FIELDS, (f, x) => {
    const a = sub(inner, f);
    if (f === 'Test') h.Test = decStrings(x, a) ?? [];
    else h[f as 'Interval' | 'Timeout' | 'StartPeriod' | 'Retries'] = decInt(x, h[f as 'Interval'], a, f === 'Retries' ? 'int' : 'time.Duration');
  });
  if (extra) h.extra = { ...h.extra, ...extra };
  return h;
}

const CONFIG_FIELDS = [
  'Hostname', 'Domainname', 'User', 'AttachStdin', 'AttachStdout', 'AttachStderr', 'ExposedPorts', 'Tty', 'OpenStdin',
  'StdinOnce', 'Env', 'Cmd', 'Healthcheck', 'ArgsEscaped', 'Image', 'Volumes', 'WorkingDir', 'Entrypoint',
  'NetworkDisabled', 'MacAddress', 'OnBuild', 'Labels', 'StopSignal', 'StopTimeout', 'Shell',
] as const;
type ConfigField = (typeof CONFIG_FIELDS)[number];

/** Decodes into a copy of `base` (Go decodes into the existing struct: unmentioned fields stay). */
function decContainerConfig(v: Record<string, Json>, base: ContainerConfig, at: At): ContainerConfig {
  const c: ContainerConfig = { ...base };
  const inner = { struct: 'Config', path: at.path };
  const extra = decodeFields(v, CONFIG_FIELDS, (field, x) => {
    const f = field as ConfigField;
    const a = sub(inner, f);
    switch (f) {
      case 'Hostname': case 'Domainname': case 'User': case 'Image': case 'WorkingDir': case 'MacAddress': case 'StopSignal':
        c[f] = decString(x, c[f], a);
        break;
      case 'AttachStdin': case 'AttachStdout': case 'AttachStderr': case 'Tty': case 'OpenStdin': case 'StdinOnce':
      case 'ArgsEscaped': case 'NetworkDisabled':
        c[f] = decBool(x, c[f], a);
        break;
      case 'Env': case 'OnBuild':
        c[f] = decStrings(x, a);
        break;
      case 'Cmd': case 'Entrypoint':
        c[f] = decStrSlice(x, a);
        break;
      case 'Shell':
        c.Shell = decStrSlice(x, a) ?? [];
        break;
      case 'ExposedPorts':
        c.ExposedPorts = decSet(x, a, 'nat.PortSet') ?? [];
        break;
      case 'Volumes':
        c.Volumes = decSet(x, a, 'map[string]struct {}');
        break;
      case 'Labels':
        c.Labels = decStringMap(x, a);
        break;
      case 'Healthcheck':
        c.Healthcheck = decHealth(x, c.Healthcheck, a);
        break;
      case 'StopTimeout':
        c.StopTimeout = x === null ? null : decInt(x, 0, a, 'int');
        break;
    }
  });
  if (extra) c.extra = { ...c.extra, ...extra };
  return c;
}

const HISTORY_FIELDS = ['created', 'author', 'created_by', 'comment', 'empty_layer'] as const;

function decHistory(v: Json, at: At): HistoryEntry[] {
  if (v === null) return [];
  if (!Array.isArray(v)) throw typeError(v, at, '[]image.History');
  return v.map((e) => {
    const h = newHistoryEntry();
    if (e === null) return h;
    if (!isObject(e)) throw typeError(e, at, 'image.History');
    const inner = { struct: 'History', path: at.path };
    const extra = decodeFields(e, HISTORY_FIELDS, (f, x) => {
      const a = sub(inner, f);
      if (f === 'created') h.created = decTime(x, h.created, a);
      else if (f === 'empty_layer') h.empty_layer = decBool(x, h.empty_layer, a);
      else h[f as 'author' | 'created_by' | 'comment'] = decString(x, h[f as 'author'], a);
    });
    if (extra) h.extra = extra;
    return h;
  });
}

function decRootFS(v: Record<string, Json>, base: RootFS | null, at: At): RootFS {
  const r: RootFS = base ? { ...base } : { type: '', diff_ids: [] };
  const inner = { struct: 'RootFS', path: at.path };
  const extra = decodeFields(v, ['type', 'diff_ids'], (f, x) => {
    const a = sub(inner, f);
    if (f === 'type') r.type = decString(x, r.type, a);
    else r.diff_ids = decStrings(x, a, '[]layer.DiffID') ?? [];
  });
  if (extra) r.extra = { ...r.extra, ...extra };
  return r;
}

/** image.Image's JSON fields, in Go's field order (V1Image's promoted, then Image's own). */
const IMAGE_FIELDS = [
  'id', 'parent', 'comment', 'created', 'container', 'container_config', 'docker_version', 'author', 'config',
  'architecture', 'variant', 'os', 'Size', 'rootfs', 'history', 'os.version', 'os.features',
] as const;
type ImageField = (typeof IMAGE_FIELDS)[number];

/**
 * Reads a config as dockerd's `image.NewFromJSON` does (restoring the image store, `docker
 * load`): Go's `json.Unmarshal` into `image.Image`, then a config without a `rootfs` object is
 * refused with `invalid image JSON, no RootFS key` (`IMAGE_CONFIG_NO_ROOTFS`). Times come out
 * in Go's RFC3339Nano form. Throws `ImageConfigError` (`IMAGE_CONFIG_SYNTAX`, `…_TYPE`).
 */
export function parseImageConfig(bytes: Uint8Array | string): ImageConfig {
  const text = typeof bytes === 'string' ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('utf8');
  let doc: Json;
  try {
    doc = JSON.parse(text) as Json;
  } catch (e) {
    throw new ImageConfigError('IMAGE_CONFIG_SYNTAX', `invalid image JSON: ${(e as Error).message}`, { cause: e });
  }
  if (doc !== null && !isObject(doc)) {
    throw new ImageConfigError('IMAGE_CONFIG_TYPE', `json: cannot unmarshal ${kind(doc)} into Go value of type image.Image`);
  }
  const img = newImageConfig();
  let rootfs: RootFS | null = null;
  const top: At = { struct: 'Image', path: '' };
  const extra =
    doc === null
      ? undefined
      : decodeFields(doc, IMAGE_FIELDS, (field, x) => {
          const f = field as ImageField;
          const a = sub(top, f);
          switch (f) {
            case 'id': case 'parent': case 'comment': case 'container': case 'docker_version': case 'author':
            case 'architecture': case 'variant': case 'os': case 'os.version':
              img[f] = decString(x, img[f], a);
              break;
            case 'created':
              img.created = decTime(x, img.created, a);
              break;
            case 'Size':
              img.Size = decInt(x, img.Size, a, 'int64');
              break;
            case 'container_config':
              if (x === null) break;
              if (!isObject(x)) throw typeError(x, a, 'container.Config');
              img.container_config = decContainerConfig(x, img.container_config, a);
              break;
            case 'config':
              if (x === null) img.config = null;
              else if (!isObject(x)) throw typeError(x, a, 'container.Config');
              else img.config = decContainerConfig(x, img.config ?? newContainerConfig(), a);
              break;
            case 'rootfs':
              if (x === null) rootfs = null;
              else if (!isObject(x)) throw typeError(x, a, 'image.RootFS');
              else rootfs = decRootFS(x, rootfs, a);
              break;
            case 'history':
              img.history = decHistory(x, a);
              break;
            case 'os.features':
              img['os.features'] = decStrings(x, a) ?? [];
              break;
          }
        });
  if (rootfs === null) throw new ImageConfigError('IMAGE_CONFIG_NO_ROOTFS', 'invalid image JSON, no RootFS key');
  img.rootfs = rootfs;
  if (extra) img.extra = extra;
  return img;
}

/**
 * The check `image.Store.Create` adds before storing a new config: there may not be more
 * history entries with a layer (`empty_layer` false) than there are `diff_ids`. Throws
 * `IMAGE_CONFIG_HISTORY` (`too many non-empty layers in History section`).
 */
export function checkHistory(img: ImageConfig): void {
  const layers = img.history.filter((h) => !h.empty_layer).length;
  if (layers > img.rootfs.diff_ids.length) throw new ImageConfigError('IMAGE_CONFIG_HISTORY', 'too many non-empty layers in History section');
}

/**
 * Reads a config about to be stored as a new image (`image.Store.Create`): `parseImageConfig`
 * plus `checkHistory`. Loading a store that already holds a config skips the history check, as
 * dockerd's restore does: use `parseImageConfig` there.
 */
export function parseNewImageConfig(bytes: Uint8Array | string): ImageConfig {
  const img = parseImageConfig(bytes);
  checkHistory(img);
  return img;
}

/** The image ID of a config: `sha256:` + the SHA-256 of its exact bytes. */
export function imageId(bytes: Uint8Array | string): Digest {
  return sha256Of(bytes);
}

/**
 * The DiffIDs of `img`'s layers as validated digests (bottom first). A DiffID that is not
 * `sha256:<64 lowercase hex>` throws `INVALID_DIGEST` (dockerd would find no such layer).
 */
export function diffIdsOf(img: ImageConfig): Digest[] {
  return img.rootfs.diff_ids.map((d) => parseDigest(d));
}

/** The ChainID of `img`'s whole layer stack (`RootFS.ChainID()`), undefined with no layers. */
export function topChainIdOf(img: ImageConfig): Digest | undefined {
  const chains = chainIds(diffIdsOf(img));
  return chains[chains.length - 1];
}

// ---------------------------------------------------------------------------------------------
// Writing (Go's json.Marshal)

function marshalError(path: string, what: string): ImageConfigError {
  return new ImageConfigError('IMAGE_CONFIG_MARSHAL', `cannot marshal ${path}: ${what}`);
}

function encString(v: unknown, path: string): string {
  if (typeof v !== 'string') throw marshalError(path, `expected a string, got ${kind(v)}`);
  return goJsonString(v);
}

function encBool(v: unknown, path: string): string {
  if (typeof v !== 'boolean') throw marshalError(path, `expected a boolean, got ${kind(v)}`);
  return v ? 'true' : 'false';
}

function encInt(v: unknown, path: string): string {
  if (typeof v !== 'number' || !Number.isSafeInteger(v)) throw marshalError(path, `expected an integer, got ${String(v)}`);
  return String(v);
}

function encStrings(v: readonly string[] | null, path: string): string {
  if (v === null) return 'null';
  if (!Array.isArray(v)) throw marshalError(path, `expected a list of strings or null, got ${kind(v)}`);
  return '[' + v.map((s, i) => encString(s, `${path}[${i}]`)).join(',') + ']';
}

/** Go's map key order: byte order of the UTF-8 strings. */
function goKeyCompare(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

function encSet(v: readonly string[] | null, path: string): string {
  if (v === null) return 'null';
  if (!Array.isArray(v)) throw marshalError(path, `expected a list of strings or null, got ${kind(v)}`);
  const keys = [...new Set(v)].sort(goKeyCompare);
  return '{' + keys.map((k) => encString(k, path) + ':{}').join(',') + '}';
}

function encStringMap(v: Record<string, string> | null, path: string): string {
  if (v === null) return 'null';
  if (typeof v !== 'object' || Array.isArray(v)) throw marshalError(path, `expected an object or null, got ${kind(v)}`);
  const keys = Object.keys(v).sort(goKeyCompare);
  return '{' + keys.map((k) => encString(k, path) + ':' + encString(v[k], `${path}.${k}`)).join(',') + '}';
}

function encTime(v: unknown, path: string): string {
  if (v === '') return goJsonString(GO_ZERO_TIME);
  if (typeof v !== 'string') throw marshalError(path, `expected an RFC 3339 time, got ${kind(v)}`);
  const t = parseGoTime(v, 'json');
  if (typeof t === 'string') throw marshalError(path, `${JSON.stringify(v)}: ${t}`);
  return goJsonString(formatGoTime(t));
}

function encObject(members: Array<[string, string]>): string {
  return '{' + members.map(([k, v]) => goJsonString(k) + ':' + v).join(',') + '}';
}

function marshalHealth(h: HealthConfig, path: string): string {
  const m: Array<[string, string]> = [];
  if (h.Test.length > 0) m.push(['Test', encStrings(h.Test, `${path}.Test`)]);
  for (const f of ['Interval', 'Timeout', 'StartPeriod', 'Retries'] as const) {
    const s = encInt(h[f], `${path}.${f}`);
    if (h[f] !== 0) m.push([f, s]);
  }
  return encObject(m);
}

/**
 * A `container.Config` as Go's `json.Marshal` writes it: struct order, the omitempty fields
 * (`ExposedPorts`, `Healthcheck`, `ArgsEscaped`, `NetworkDisabled`, `MacAddress`,
 * `StopSignal`, `StopTimeout`, `Shell`) only when set, maps with sorted keys.
 */
export function marshalContainerConfig(c: ContainerConfig, path = 'config'): string {
  const p = (f: string) => `${path}.${f}`;
  const m: Array<[string, string]> = [
    ['Hostname', encString(c.Hostname, p('Hostname'))],
    ['Domainname', encString(c.Domainname, p('Domainname'))],
    ['User', encString(c.User, p('User'))],
    ['AttachStdin', encBool(c.AttachStdin, p('AttachStdin'))],
    ['AttachStdout', encBool(c.AttachStdout, p('AttachStdout'))],
    ['AttachStderr', encBool(c.AttachStderr, p('AttachStderr'))],
  ];
  if (c.ExposedPorts.length > 0) m.push(['ExposedPorts', encSet(c.ExposedPorts, p('ExposedPorts'))]);
  m.push(
    ['Tty', encBool(c.Tty, p('Tty'))],
    ['OpenStdin', encBool(c.OpenStdin, p('OpenStdin'))],
    ['StdinOnce', encBool(c.StdinOnce, p('StdinOnce'))],
    ['Env', encStrings(c.Env, p('Env'))],
    ['Cmd', encStrings(c.Cmd, p('Cmd'))],
  );
  if (c.Healthcheck !== null) m.push(['Healthcheck', marshalHealth(c.Healthcheck, p('Healthcheck'))]);
  if (c.ArgsEscaped) m.push(['ArgsEscaped', 'true']);
  m.push(
    ['Image', encString(c.Image, p('Image'))],
    ['Volumes', encSet(c.Volumes, p('Volumes'))],
    ['WorkingDir', encString(c.WorkingDir, p('WorkingDir'))],
    ['Entrypoint', encStrings(c.Entrypoint, p('Entrypoint'))],
  );
  if (c.NetworkDisabled) m.push(['NetworkDisabled', 'true']);
  if (c.MacAddress !== '') m.push(['MacAddress', encString(c.MacAddress, p('MacAddress'))]);
  m.push(['OnBuild', encStrings(c.OnBuild, p('OnBuild'))], ['Labels', encStringMap(c.Labels, p('Labels'))]);
  if (c.StopSignal !== '') m.push(['StopSignal', encString(c.StopSignal, p('StopSignal'))]);
  if (c.StopTimeout !== null) m.push(['StopTimeout', encInt(c.StopTimeout, p('StopTimeout'))]);
  if (c.Shell.length > 0) m.push(['Shell', encStrings(c.Shell, p('Shell'))]);
  return encObject(m);
}

/**
 * The members `json.Marshal(V1Image)` writes, in struct order, each as [key, JSON text]:
 * `id`, `parent`, `comment` if set; `created` always; `container` if set; `container_config`
 * always; `docker_version`, `author`, `config`, `architecture`, `variant`, `os`, `Size` if set.
 */
export function v1ImageMembers(v: V1Image): Array<[string, string]> {
  const m: Array<[string, string]> = [];
  const str = (k: keyof V1Image) => {
    const s = v[k];
    if (s !== '') m.push([k, encString(s, k)]);
  };
  str('id');
  str('parent');
  str('comment');
  m.push(['created', encTime(v.created, 'created')]);
  str('container');
  m.push(['container_config', marshalContainerConfig(v.container_config, 'container_config')]);
  str('docker_version');
  str('author');
  if (v.config !== null) m.push(['config', marshalContainerConfig(v.config, 'config')]);
  str('architecture');
  str('variant');
  str('os');
  const size = encInt(v.Size, 'Size');
  if (v.Size !== 0) m.push(['Size', size]);
  return m;
}

/** `json.Marshal(V1Image)`: an object in struct order (the `json` file of a saved layer). */
export function marshalV1Image(v: V1Image): string {
  return encObject(v1ImageMembers(v));
}

/**
 * Members as Go writes a `map[string]*json.RawMessage`: keys sorted by bytes, last one of a
 * duplicated key wins (a map assignment).
 */
export function marshalSortedMembers(members: Array<[string, string]>): string {
  const map = new Map<string, string>();
  for (const [k, v] of members) map.set(k, v);
  return encObject([...map.entries()].sort((a, b) => goKeyCompare(a[0], b[0])));
}

/**
 * The V1Image inside `img` (Go's `img.V1Image`): its V1 fields, with `parent` empty — the
 * config's `parent` key is the image's own parent ID, which Go reads into `Image.Parent`.
 */
export function v1ImageOf(img: ImageConfig): V1Image {
  return {
    id: img.id,
    parent: '',
    comment: img.comment,
    created: img.created,
    container: img.container,
    container_config: img.container_config,
    docker_version: img.docker_version,
    author: img.author,
    config: img.config,
    architecture: img.architecture,
    variant: img.variant,
    os: img.os,
    Size: img.Size,
  };
}

/**
 * The config bytes dockerd writes for `img` (`json.Marshal(&image.Image{…})` → `MarshalJSON`):
 * top-level keys sorted, nested objects in struct order, Go's escaping, no trailing newline.
 * Unknown keys (`extra`) are not written, as in dockerd. `imageId()` of the result is the ID
 * dockerd gives the same image. Throws `IMAGE_CONFIG_MARSHAL` for a value Go could not write.
 */
export function marshalImageConfig(img: ImageConfig): Buffer {
  const m = v1ImageMembers({ ...v1ImageOf(img), parent: img.parent });
  const r = img.rootfs;
  if (r === null || typeof r !== 'object') throw marshalError('rootfs', 'a config needs a rootfs');
  const rootfs: Array<[string, string]> = [['type', encString(r.type, 'rootfs.type')]];
  if (r.diff_ids.length > 0) rootfs.push(['diff_ids', encStrings(r.diff_ids, 'rootfs.diff_ids')]);
  m.push(['rootfs', encObject(rootfs)]);
  if (img.history.length > 0) {
    const items = img.history.map((h, i) => {
      const p = `history[${i}]`;
      const e: Array<[string, string]> = [['created', encTime(h.created, `${p}.created`)]];
      if (h.author !== '') e.push(['author', encString(h.author, `${p}.author`)]);
      if (h.created_by !== '') e.push(['created_by', encString(h.created_by, `${p}.created_by`)]);
      if (h.comment !== '') e.push(['comment', encString(h.comment, `${p}.comment`)]);
      if (encBool(h.empty_layer, `${p}.empty_layer`) === 'true') e.push(['empty_layer', 'true']);
      return encObject(e);
    });
    m.push(['history', '[' + items.join(',') + ']']);
  }
  if (img['os.version'] !== '') m.push(['os.version', encString(img['os.version'], 'os.version')]);
  if (img['os.features'].length > 0) m.push(['os.features', encStrings(img['os.features'], 'os.features')]);
  return Buffer.from(marshalSortedMembers(m), 'utf8');
}
