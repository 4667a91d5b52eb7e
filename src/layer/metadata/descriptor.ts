/**
 * `descriptor.json`: the distribution descriptor a layer was registered with. Docker writes it
 * only through `RegisterWithDescriptor`, which the Linux layer store never calls, so a Docker data
 * root on Linux has none; strata writes it only when asked and tolerates it when reading.
 */
import { goJsonString } from '../../archive/tarsplit/index.js';

/** An OCI platform, as `github.com/opencontainers/image-spec` `v1.Platform`. */
export interface Platform {
  architecture: string;
  os: string;
  'os.version'?: string;
  'os.features'?: string[];
  variant?: string;
}

/** `distribution.Descriptor` as moby 20.10 marshals it (every key omitempty). */
export interface Descriptor {
  mediaType?: string;
  size?: number;
  digest?: string;
  urls?: string[];
  annotations?: Record<string, string>;
  platform?: Platform;
}

const strList = (a: string[]) => '[' + a.map(goJsonString).join(',') + ']';

/**
 * The bytes Go's `json.Marshal` gives for `d`: keys in struct order, empty values left out,
 * annotation keys sorted, `<`, `>`, `&` escaped; no newline.
 */
export function marshalDescriptor(d: Descriptor): string {
  const parts: string[] = [];
  if (d.mediaType) parts.push(`"mediaType":${goJsonString(d.mediaType)}`);
  if (d.size) parts.push(`"size":${Math.trunc(d.size)}`);
  if (d.digest) parts.push(`"digest":${goJsonString(d.digest)}`);
  if (d.urls && d.urls.length) parts.push(`"urls":${strList(d.urls)}`);
  if (d.annotations && Object.keys(d.annotations).length) {
    const keys = Object.keys(d.annotations).sort((a, b) => (Buffer.compare(Buffer.from(a), Buffer.from(b))));
    parts.push(`"annotations":{${keys.map((k) => `${goJsonString(k)}:${goJsonString(d.annotations![k]!)}`).join(',')}}`);
  }
  if (d.platform) {
    const p = d.platform;
    const pp = [`"architecture":${goJsonString(p.architecture ?? '')}`, `"os":${goJsonString(p.os ?? '')}`];
    if (p['os.version']) pp.push(`"os.version":${goJsonString(p['os.version'])}`);
    if (p['os.features'] && p['os.features'].length) pp.push(`"os.features":${strList(p['os.features'])}`);
    if (p.variant) pp.push(`"variant":${goJsonString(p.variant)}`);
    parts.push(`"platform":{${pp.join(',')}}`);
  }
  return '{' + parts.join(',') + '}';
}

/** Parses `descriptor.json` text; throws a plain Error with the reason when it is not an object. */
export function parseDescriptor(text: string): Descriptor {
  const v: unknown = JSON.parse(text);
  if (v === null) return {};
  if (typeof v !== 'object' || Array.isArray(v)) throw new Error('descriptor is not a JSON object');
  return v as Descriptor;
}
