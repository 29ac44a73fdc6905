// Node: data sources named as Hugging Face's own tools name them, `hf://datasets/ORG/NAME[@REV][/PATH]`,
// found in the local Hub cache (datasets--ORG--NAME, as huggingface_hub lays it out) or downloaded into
// it by the model source's Hub client (src/model/source/hub.node.ts, kind 'dataset'); and the data
// files of a source (a Hub dataset, a local directory or file), picked by the Hub's split naming.
//
// PATH is a file, a directory, or a glob (`*` within a name, `**` across directories). A revision
// holding "/" is written URL-encoded, as the Hub writes it: @refs%2Fconvert%2Fparquet.
// Splits as the `datasets` library names them in file and directory names: a name (or its synonyms:
// validation = valid, val, dev; test = testing, eval, evaluation; train = training) bounded by
// "-", "_", ".", " ", a digit or "/": data/train-00000-of-00001.parquet, test.jsonl,
// validation-*.csv, default/train/0000.parquet, anatomy_test.csv.

import { existsSync, readdirSync, statSync } from 'node:fs';
import * as nodePath from 'node:path';
import { resolveHubRepo, type HubOptions } from '../../model/source/hub.node';
import { DataError } from '../../util/errors';
import { tableExtension, TABLE_EXTENSIONS } from './tabular.node';

export const HUB_DATASET_PREFIX = 'hf://datasets/';

export interface HubDatasetId {
  repo: string;
  revision: string;
  /** The path inside the repository ('' = all of it). */
  path: string;
}

const NAME = /^[\w.-]+$/;

/** `hf://datasets/ORG/NAME[@REV][/PATH]` -> its parts; undefined for anything that does not start so. */
export function parseHubDatasetId(source: string): HubDatasetId | undefined {
  if (!source.startsWith(HUB_DATASET_PREFIX)) return undefined;
  const bad = () => new DataError(`${source}: expected hf://datasets/ORG/NAME[@REVISION][/PATH]`);
  const [org, nameRev, ...rest] = source.slice(HUB_DATASET_PREFIX.length).split('/');
  if (!org || !nameRev || !NAME.test(org)) throw bad();
  const [name, rev, ...more] = nameRev.split('@');
  if (!name || !NAME.test(name) || more.length || rev === '') throw bad();
  let revision = 'main';
  if (rev !== undefined) {
    try {
      revision = decodeURIComponent(rev);
    } catch {
      throw bad();
    }
  }
  const path = rest.filter(Boolean).join('/');
  if (path.split('/').includes('..')) throw bad();
  return { repo: `${org}/${name}`, revision, path };
}

const SPLIT_SYNONYMS: Record<string, string[]> = {
  train: ['train', 'training'],
  validation: ['validation', 'valid', 'val', 'dev'],
  test: ['test', 'testing', 'eval', 'evaluation'],
};

const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Does a repository path belong to `split` by its file or directory names? */
export function inSplit(path: string, split: string): boolean {
  const words = SPLIT_SYNONYMS[split.toLowerCase()] ?? [split];
  return words.some((w) => new RegExp(`(^|[-._ 0-9/])${escapeRe(w)}([-._ 0-9/]|$)`, 'i').test(path));
}

/** The standard splits that some of `paths` belong to. */
export function splitsOf(paths: readonly string[]): string[] {
  return Object.keys(SPLIT_SYNONYMS).filter((s) => paths.some((p) => inSplit(p, s)));
}

function globRegExp(glob: string): RegExp {
  const re = glob.split('/').map((part) => (part === '**' ? '.*' : part.split('*').map(escapeRe).join('[^/]*'))).join('/');
  return new RegExp(`^${re.replace(/\.\*\//g, '(.*/)?')}$`);
}

function dataFilter(under: string): (p: string) => boolean {
  const inPath = under === '' ? () => true : under.includes('*') ? (p: string) => globRegExp(under).test(p) : (p: string) => p === under || p.startsWith(under.replace(/\/$/, '') + '/');
  return (p) => inPath(p) && tableExtension(p) !== undefined;
}

/** A path relative to `under` (a path inside the repository that names the split, data/test-*.parquet, is not split again). */
function relativeTo(under: string): (p: string) => string {
  return (p) => (under && !under.includes('*') && p !== under ? p.slice(under.replace(/\/$/, '').length + 1) : p);
}

/** The data files among `paths` (repository-relative, "/"-separated) under `under` and in `split`. */
export function pickDataFiles(paths: readonly string[], under: string, split: string | undefined, name: string): string[] {
  const data = paths.filter(dataFilter(under)).sort();
  if (!data.length) {
    throw new DataError(`${name}: no data files (${TABLE_EXTENSIONS.join(', ')})${under ? ` under ${under}` : ''}${paths.length ? `; it holds ${shownPaths(paths)}` : ''}`);
  }
  const rel = relativeTo(under);
  const found = splitsOf(data.map(rel));
  if (split === undefined) {
    if (found.length > 1) throw new DataError(`${name} holds the splits ${found.join(', ')}: choose one with --split`);
    return data;
  }
  const chosen = data.filter((p) => inSplit(rel(p), split));
  if (!chosen.length) {
    throw new DataError(`${name}: no files of split "${split}" (${found.length ? `its splits: ${found.join(', ')}` : `its data files: ${shownPaths(data)}`})`);
  }
  return chosen;
}

/** Whether `paths` hold any data file under `under` (in `split`, when given): a cached snapshot lacking them is fetched. */
function hasDataFiles(paths: readonly string[], under: string, split: string | undefined): boolean {
  const rel = relativeTo(under);
  return paths.some((p) => dataFilter(under)(p) && (split === undefined || inSplit(rel(p), split)));
}

function shownPaths(paths: readonly string[]): string {
  return paths.slice(0, 6).join(', ') + (paths.length > 6 ? `, ... (${paths.length} in all)` : '');
}

/** Every file under dir, as "/"-separated paths relative to it (symlinks followed, as the cache's snapshots are). */
function filesUnder(dir: string, prefix = ''): string[] {
  const out: string[] = [];
  for (const e of readdirSync(nodePath.join(dir, prefix), { withFileTypes: true })) {
    const rel = prefix ? `${prefix}/${e.name}` : e.name;
    if (e.name.startsWith('.')) continue;
    const full = nodePath.join(dir, rel);
    if (e.isDirectory() || (e.isSymbolicLink() && existsSync(full) && statSync(full).isDirectory())) out.push(...filesUnder(dir, rel));
    else out.push(rel);
  }
  return out;
}

/** A local source that exists and, when a directory, holds data files (checked before anything is loaded); its files. */
export function checkLocalSource(source: string, flag?: string): string[] {
  if (!existsSync(source)) throw new DataError(`${flag ? `${flag}: ` : ''}no such file or directory: ${source}`);
  if (!statSync(source).isDirectory()) return [source];
  const all = filesUnder(source);
  if (!all.some((p) => tableExtension(p))) throw new DataError(`${flag ? `${flag} ` : ''}${source} is a directory, not a multiple-choice file, and holds none (${TABLE_EXTENSIONS.join(', ')})`);
  return all;
}

export interface DataSourceOptions extends HubOptions {
  split?: string;
}

/** The files a source names: a Hub dataset (cached or downloaded), a directory, or a file; absolute paths. */
export async function dataSourceFiles(source: string, opts: DataSourceOptions = {}): Promise<{ files: string[]; label: string }> {
  const id = parseHubDatasetId(source);
  if (!id) {
    const all = checkLocalSource(source);
    if (!statSync(source).isDirectory()) return { files: [source], label: nodePath.basename(source).replace(/\.[^.]*$/, '') };
    const files = pickDataFiles(all, '', opts.split, source).map((p) => nodePath.join(source, p));
    return { files, label: nodePath.basename(nodePath.resolve(source)) };
  }
  const name = `hf://datasets/${id.repo}@${id.revision}`;
  const pick = (paths: readonly string[]) => pickDataFiles(paths, id.path, opts.split, `${name}${id.path ? `/${id.path}` : ''}`);
  const snap = await resolveHubRepo({
    kind: 'dataset', repo: id.repo, revision: id.revision, name,
    pick: (listing) => pick([...listing.keys()]),
    // a snapshot cached for another split or path lacks these files: fetch them
    incomplete: (dir) => !hasDataFiles(filesUnder(dir), id.path, opts.split),
    fail: (m) => new DataError(m),
  }, opts);
  return { files: pick(filesUnder(snap.dir)).map((p) => nodePath.join(snap.dir, p)), label: id.repo };
}
