/**
 * `docker save` as dockerd 20.10 writes it (moby `image/tarexport/save.go`, v20.10), streamed.
 *
 * dockerd builds a temp dir and tars it. For each image (in its own order), for each layer
 * (bottom first) it makes a legacy V1 layer directory named by the layer's V1 ID (`../v1.ts`):
 *
 *   <v1id>/VERSION      "1.0"
 *   <v1id>/json         the V1 JSON (v1Layers)
 *   <v1id>/layer.tar    the layer's exact tar
 *
 * then `<config hex>.json` (the config bytes as stored), and at the end `manifest.json` and —
 * when any image has a tag — `repositories`. Worked example: the fixture's `strata-oracle/base:1`
 * (one layer) gives exactly dockerd's 2 332 672 bytes:
 *
 *   469789f7…badde.json                  0100644 root/root  2026-11-23 10:22:17   (config.created)
 *   54fd3abd…13e60/                      040755                 "
 *   54fd3abd…13e60/VERSION               0100644                "
 *   54fd3abd…13e60/json                  0100644                "
 *   54fd3abd…13e60/layer.tar             0100644                "
 *   manifest.json                        0100644            1970-01-01 00:00:00
 *   repositories                         0100644            1970-01-01 00:00:00
 *
 *   manifest.json  [{"Config":"469789f7…badde.json","RepoTags":["strata-oracle/base:1"],
 *                    "Layers":["54fd3abd…13e60/layer.tar"]}]\n
 *   repositories   {"strata-oracle/base":{"1":"54fd3abd…13e60"}}\n
 *
 *   for await (const chunk of dockerSaveArchive([base])) out.write(chunk);
 *
 * The details, all from save.go and `archive.Tar`:
 * - members in `filepath.Walk` order, headers as `tarout.ts` describes;
 * - `manifest.json` is `json.Encoder` output (newline): `Config`, `RepoTags` (`null` when
 *   none), `Layers`, then `Parent` only when the image's parent is saved in the same archive
 *   (`LayerSources` only for foreign layers, which strata never has);
 * - `repositories` maps familiar name → tag → top V1 ID, keys sorted;
 * - the layer directory, its files and the config file get the image's `created` time (moby's
 *   `system.Chtimes`, so before 1970 → 0); `manifest.json` and `repositories` the epoch;
 * - a layer directory already written (same V1 ID, e.g. bottom layers two images share) is not
 *   written again; a layer whose DiffID is already in the archive under another V1 ID gets a
 *   directory of its own whose `layer.tar` is a symlink `../<first v1id>/layer.tar` — and since
 *   save.go sets no times on that directory, its members carry the time of the save (`now`).
 *
 * What this cannot reproduce: dockerd iterates its images in Go map order (random), so with
 * several images the order of `manifest.json` entries and which V1 directory holds the real
 * `layer.tar` vary from run to run there; here they follow the input order.
 */
import { digestHex, type Digest } from '../../digest/index.js';
import { goJsonString } from '../../archive/gostrings.js';
import { type V1Layer, type V1Options, v1Layers } from '../v1.js';
import { type PreparedImage, type SaveImage, type SaveLayer, type SaveOptions, prepareImages, savedParent } from './save-types.js';
import { type TarOutMember, sortWalkOrder, writeTarMembers } from './tarout.js';

export interface DockerSaveOptions extends SaveOptions, V1Options {
  /**
   * Seconds since 1970: the mtime of the members dockerd writes without setting times (the
   * directory of a layer whose DiffID was saved already). Default: the clock when the archive starts.
   */
  now?: number;
}

/** One `manifest.json` entry (moby `manifestItem`). */
export interface ManifestItem {
  config: string;
  repoTags: string[];
  layers: string[];
  parent?: Digest;
}

/** What was written so far: V1 directories, and where each DiffID's real `layer.tar` is. */
interface SaveState {
  savedV1: Set<string>;
  diffIdPaths: Map<string, string>;
  now: number;
  members: TarOutMember[];
}

/** The members of one V1 layer directory (none if it was written already). */
function layerMembers(l: V1Layer, layer: SaveLayer, mtime: number, st: SaveState): void {
  if (st.savedV1.has(l.v1Id)) return;
  st.savedV1.add(l.v1Id);
  const dir = l.v1Id;
  const earlier = st.diffIdPaths.get(l.diffId);
  const t = earlier ? st.now : mtime;
  st.members.push(
    { name: dir, kind: 'dir', mtime: t },
    { name: `${dir}/VERSION`, kind: 'file', mtime: t, data: Buffer.from('1.0') },
    { name: `${dir}/json`, kind: 'file', mtime: t, data: l.json },
  );
  if (earlier) {
    st.members.push({ name: `${dir}/layer.tar`, kind: 'symlink', mtime: t, target: `../${earlier}` });
  } else {
    st.members.push({ name: `${dir}/layer.tar`, kind: 'layer', mtime: t, layer });
    st.diffIdPaths.set(l.diffId, `${dir}/layer.tar`);
  }
}

/** Writes one image's layer directories and config; returns its manifest entry. */
function saveImage(p: PreparedImage, st: SaveState, opts: V1Options): { item: ManifestItem; top: string } {
  const img = p.image;
  const v1 = v1Layers(img.config, opts);
  v1.forEach((l, i) => layerMembers(l, img.layers[i]!, p.createdSeconds, st));
  const config = `${digestHex(img.id)}.json`;
  st.members.push({ name: config, kind: 'file', mtime: p.createdSeconds, data: img.configBytes });
  const item: ManifestItem = {
    config,
    repoTags: p.refs.map((r) => r.familiarString()),
    layers: v1.map((l) => `${l.v1Id}/layer.tar`),
  };
  return { item, top: v1[v1.length - 1]!.v1Id };
}

/** Go's `json.Encoder` output for `[]manifestItem` (with its newline). */
export function manifestJson(items: readonly ManifestItem[]): Buffer {
  const list = (xs: string[]) => '[' + xs.map(goJsonString).join(',') + ']';
  const entry = (m: ManifestItem) =>
    '{"Config":' + goJsonString(m.config) +
    ',"RepoTags":' + (m.repoTags.length > 0 ? list(m.repoTags) : 'null') +
    ',"Layers":' + list(m.layers) +
    (m.parent ? ',"Parent":' + goJsonString(m.parent) : '') +
    '}';
  return Buffer.from('[' + items.map(entry).join(',') + ']\n', 'utf8');
}

function byteOrder(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/** Go's `json.Encoder` output for `map[string]map[string]string` (keys sorted, newline). */
export function repositoriesJson(repos: ReadonlyMap<string, ReadonlyMap<string, string>>): Buffer {
  const obj = (m: ReadonlyMap<string, string>) =>
    '{' + [...m.keys()].sort(byteOrder).map((k) => goJsonString(k) + ':' + goJsonString(m.get(k)!)).join(',') + '}';
  const text = '{' + [...repos.keys()].sort(byteOrder).map((k) => goJsonString(k) + ':' + obj(repos.get(k)!)).join(',') + '}\n';
  return Buffer.from(text, 'utf8');
}

/** Every member of the archive, in `filepath.Walk` order. */
export function dockerSaveMembers(images: readonly SaveImage[], opts: DockerSaveOptions = {}): TarOutMember[] {
  const prepared = prepareImages(images);
  const st: SaveState = { savedV1: new Set(), diffIdPaths: new Map(), now: opts.now ?? Math.floor(Date.now() / 1000), members: [] };
  const ids = new Set<string>(prepared.map((p) => p.image.id));
  const items: ManifestItem[] = [];
  const repos = new Map<string, Map<string, string>>();
  for (const p of prepared) {
    const { item, top } = saveImage(p, st, opts);
    const parent = savedParent(p.image, ids);
    items.push(parent ? { ...item, parent } : item);
    for (const ref of p.refs) {
      const name = ref.familiarName();
      if (!repos.has(name)) repos.set(name, new Map());
      repos.get(name)!.set(ref.tag!, top);
    }
  }
  if (repos.size > 0) st.members.push({ name: 'repositories', kind: 'file', mtime: 0, data: repositoriesJson(repos) });
  st.members.push({ name: 'manifest.json', kind: 'file', mtime: 0, data: manifestJson(items) });
  return sortWalkOrder(st.members);
}

/** The archive `docker save` (dockerd 20.10) writes for these images, streamed. */
export async function* dockerSaveArchive(images: SaveImage[], opts: DockerSaveOptions = {}): AsyncGenerator<Buffer> {
  opts.signal?.throwIfAborted();
  yield* writeTarMembers(dockerSaveMembers(images, opts), opts);
}
