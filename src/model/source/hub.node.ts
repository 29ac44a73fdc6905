/**
 * `hf:org/name[@revision]`: a model in the local Hugging Face cache, laid out as Python's
 * huggingface_hub lays it out (Node):
 *   <cache>/models--org--name/refs/<revision>      the commit a branch or tag points to
 *   <cache>/models--org--name/snapshots/<commit>/  the files (symlinks into blobs/)
 * with <cache> = $HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub. A revision may
 * also be a commit sha. A model absent from the cache is downloaded into it with @huggingface/hub
 * (only config, tokenizer and the weights the directory loader would pick), unless
 * HF_HUB_OFFLINE=1; $HF_ENDPOINT and $HF_TOKEN are honoured as huggingface_hub does.
 * Dataset repositories (`datasets--org--name`, the Hub's /api/datasets and /datasets/.../resolve) go
 * through the same cache lookup and download (resolveHubRepo with kind 'dataset'; the caller picks
 * the files), for src/train/data/hub-dataset.node.ts.
 */

import { existsSync, readFileSync, promises as fsp } from 'node:fs';
import { homedir } from 'node:os';
import * as nodePath from 'node:path';
import { CheckpointError, MQGError } from '../../util/errors';

export interface HubOptions {
  /** The cache directory (default: hubCacheDir()). */
  cacheDir?: string;
  /** Download a model missing from the cache (default: yes, unless HF_HUB_OFFLINE is set). */
  download?: boolean;
  /** Download progress (default: a bar on stderr). */
  onProgress?: (file: string, loaded: number, total: number) => void;
}

export function hubCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.HF_HUB_CACHE) return env.HF_HUB_CACHE;
  return nodePath.join(env.HF_HOME ?? nodePath.join(homedir(), '.cache', 'huggingface'), 'hub');
}

const REPO = /^[\w.-]+(\/[\w.-]+)?$/;
const COMMIT = /^[0-9a-f]{40}$/;

/**
 * `hf:org/name[@revision][/sub/folder]` -> its parts; undefined for anything else. A revision with a
 * `/` (refs/pr/1) is written URL-encoded (`@refs%2Fpr%2F1`), as in hf://datasets ids; the sub-folder
 * is transformers' `subfolder` (a repository keeping its model in a folder, e.g. raidium/MQG).
 */
export function parseHubId(source: string): { repo: string; revision: string; subfolder?: string } | undefined {
  if (!source.startsWith('hf:')) return undefined;
  const m = /^hf:([\w.-]+(?:\/[\w.-]+)?)(?:@([^/@]+))?(?:\/([^@]+))?$/.exec(source);
  const subfolder = m?.[3]?.replace(/\/+$/, '');
  let revision = 'main';
  try {
    if (m?.[2]) revision = decodeURIComponent(m[2]);
  } catch {
    revision = '';
  }
  if (!m || !REPO.test(m[1]!) || !revision || (subfolder !== undefined && !/^[\w.-]+(\/[\w.-]+)*$/.test(subfolder)) || subfolder?.split('/').some((p) => p === '..' || p === '.')) {
    throw new CheckpointError(`${source}: expected hf:org/name, hf:org/name@revision or hf:org/name[@revision]/sub/folder`);
  }
  return subfolder ? { repo: m[1]!, revision, subfolder } : { repo: m[1]!, revision };
}

/** A Hub repository's kind: models and datasets share the cache layout under different prefixes. */
export type HubRepoKind = 'model' | 'dataset';

export function repoFolder(cacheDir: string, repo: string, kind: HubRepoKind = 'model'): string {
  return nodePath.join(cacheDir, `${kind}s--${repo.replace(/\//g, '--')}`);
}

/** The snapshot directory of repo@revision in the cache, if it is there. */
export function findSnapshot(cacheDir: string, repo: string, revision: string, kind: HubRepoKind = 'model'): { dir: string; commit: string } | undefined {
  const folder = repoFolder(cacheDir, repo, kind);
  let commit = revision;
  if (!COMMIT.test(revision)) {
    const ref = nodePath.join(folder, 'refs', revision);
    if (!existsSync(ref)) return undefined;
    commit = readFileSync(ref, 'utf8').trim();
  }
  const dir = nodePath.join(folder, 'snapshots', commit);
  return existsSync(dir) ? { dir, commit } : undefined;
}

/** repo@revision's model directory in the cache (its `subfolder` when given), downloaded first when absent. */
export async function resolveHubModel(repo: string, revision: string, opts: HubOptions = {}, subfolder?: string): Promise<{ dir: string; repo: string; revision: string; commit: string; cacheDir: string }> {
  const name = `hf:${repo}@${revision}${subfolder ? `/${subfolder}` : ''}`;
  const prefix = subfolder ? `${subfolder}/` : '';
  const r = await resolveHubRepo(
    {
      kind: 'model', repo, revision, name,
      // the folder's files only (names relative to it), fetched by their path in the repository
      pick: (listing) => pickModelFiles(new Map([...listing].filter(([f]) => f.startsWith(prefix)).map(([f, n]) => [f.slice(prefix.length), n])), name).map((f) => prefix + f),
      more: async (path, local) => (await indexShards(path, local)).map((f) => prefix + f),
      recursive: !!subfolder,
      // a snapshot cached for another folder of the same repository lacks this one's weights
      incomplete: (snapshot) => !WEIGHTS.some((w) => existsSync(nodePath.join(snapshot, subfolder ?? '', w))),
      fail: (m) => new CheckpointError(m),
    },
    opts,
  );
  return subfolder ? { ...r, dir: nodePath.join(r.dir, subfolder) } : r;
}

/** What resolveHubRepo needs to know about one repository. */
export interface HubRepoRequest {
  kind: HubRepoKind;
  repo: string;
  revision: string;
  /** How messages name it ("hf:org/name@main", "hf://datasets/org/name@main"). */
  name: string;
  /** From the repository's file listing (path -> size), the files to fetch; it throws (through `fail`) when nothing fits. */
  pick: (listing: Map<string, number>) => string[];
  /** A downloaded file that names more files to fetch (a sharded checkpoint's index): those files. */
  more?: (path: string, localPath: string) => Promise<string[]>;
  /** When to download even though a snapshot is cached (e.g. the cached one lacks the files asked for). */
  incomplete?: (snapshotDir: string) => boolean;
  /** List the files of every folder (default: datasets only; a model's files sit at its root unless a sub-folder is asked for). */
  recursive?: boolean;
  /** The error class of the caller's layer. */
  fail: (message: string) => Error;
}

/** repo@revision's snapshot in the cache, downloaded into it first when absent (or `incomplete`). */
export async function resolveHubRepo(req: HubRepoRequest, opts: HubOptions = {}): Promise<{ dir: string; repo: string; revision: string; commit: string; cacheDir: string }> {
  const { kind, repo, revision, fail } = req;
  const cacheDir = opts.cacheDir ?? hubCacheDir();
  const found = findSnapshot(cacheDir, repo, revision, kind);
  if (found && !req.incomplete?.(found.dir)) return { ...found, repo, revision, cacheDir };
  const looked = nodePath.join(repoFolder(cacheDir, repo, kind), COMMIT.test(revision) ? 'snapshots' : 'refs', revision);
  const where = found ? `${req.name} is in the Hugging Face cache (${found.dir}) without the files asked for` : `${req.name} is not in the Hugging Face cache (looked for ${looked})`;
  const offline = ['1', 'true', 'yes', 'on'].includes((process.env.HF_HUB_OFFLINE ?? '').toLowerCase());
  if (opts.download === false || offline) {
    throw fail(`${where}, and downloading is off${offline ? ' (HF_HUB_OFFLINE)' : ''}`);
  }
  // @huggingface/hub announces each file with console.debug (stdout); keep stdout for our output.
  const debug = console.debug;
  console.debug = () => undefined;
  try {
    await downloadRepo(req, cacheDir, opts.onProgress ?? progressBar());
  } catch (e) {
    if (e instanceof MQGError) throw e;
    const cause = (e as { cause?: { code?: string; message?: string } }).cause;
    throw fail(`${where}, and downloading it from ${hubUrl()} failed: ${(e as Error).message}${cause ? ` (${cause.code ?? cause.message})` : ''}`);
  } finally {
    console.debug = debug;
  }
  const got = findSnapshot(cacheDir, repo, revision, kind);
  if (!got) throw fail(`${where}, and the download did not create it`);
  return { ...got, repo, revision, cacheDir };
}

function hubUrl(): string {
  return process.env.HF_ENDPOINT ?? 'https://huggingface.co';
}

/** Files worth fetching: config, tokenizer, and one set of weights (the directory loader's first choice). */
const SIDE_FILES = ['config.json', 'generation_config.json', 'tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'vocab.json', 'merges.txt'];
const WEIGHTS = ['model.safetensors.index.json', 'model.safetensors', 'pytorch_model.bin.index.json', 'pytorch_model.bin'];

/** The model files worth fetching: config, tokenizer, and one set of weights. */
function pickModelFiles(listing: Map<string, number>, name: string): string[] {
  const weights = WEIGHTS.find((w) => listing.has(w));
  if (!weights) throw new CheckpointError(`${name} has no weights we read (${WEIGHTS.join(', ')})`);
  return [...SIDE_FILES.filter((f) => listing.has(f)), weights];
}

/** A sharded checkpoint's index names its shards. */
async function indexShards(path: string, localPath: string): Promise<string[]> {
  if (!path.endsWith('.index.json')) return [];
  return [...new Set(Object.values((JSON.parse(await fsp.readFile(localPath, 'utf8')) as { weight_map: Record<string, string> }).weight_map))];
}

async function downloadRepo(req: HubRepoRequest, cacheDir: string, onProgress: (file: string, loaded: number, total: number) => void): Promise<void> {
  const { kind, repo, revision } = req;
  const hub = await import('@huggingface/hub');
  const common = { repo: { type: kind, name: repo }, hubUrl: hubUrl(), accessToken: process.env.HF_TOKEN };
  const infoArgs = { name: repo, revision, hubUrl: common.hubUrl, accessToken: common.accessToken, additionalFields: ['sha'] as ['sha'] };
  const info = kind === 'model' ? await hub.modelInfo(infoArgs) : await hub.datasetInfo(infoArgs);
  const commit = info.sha;
  const listing = new Map<string, number>();
  for await (const f of hub.listFiles({ ...common, revision: commit, recursive: req.recursive ?? kind === 'dataset' })) if (f.type === 'file') listing.set(f.path, f.lfs?.size ?? f.size);
  // a picker's error names the repository and what it lacks
  const wanted = req.pick(listing);
  let total = wanted.reduce((a, f) => a + listing.get(f)!, 0);
  let loaded = 0;
  let current = '';
  // Count body bytes as they stream to disk, for the progress bar.
  const countingFetch: typeof fetch = async (input, init) => {
    const res = await fetch(input, init);
    if (!res.body) return res;
    const counter = new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, ctl) {
        loaded += chunk.byteLength;
        onProgress(current, loaded, total);
        ctl.enqueue(chunk);
      },
    });
    return new Response(res.body.pipeThrough(counter), { status: res.status, statusText: res.statusText, headers: res.headers });
  };
  const get = async (path: string): Promise<string> => {
    current = path;
    return hub.downloadFileToCacheDir({ ...common, path, revision: commit, cacheDir, fetch: countingFetch });
  };
  for (const f of wanted) {
    const local = await get(f);
    const extra = (await req.more?.(f, local)) ?? [];
    total += extra.reduce((a, s) => a + (listing.get(s) ?? 0), 0);
    for (const s of extra) await get(s);
  }
  const ref = nodePath.join(repoFolder(cacheDir, repo, kind), 'refs', revision);
  if (!COMMIT.test(revision)) {
    await fsp.mkdir(nodePath.dirname(ref), { recursive: true });
    await fsp.writeFile(ref, commit);
  }
  onProgress('', total, total);
}

/** A one-line progress bar on stderr (only redrawn when the percentage changes). */
function progressBar(): (file: string, loaded: number, total: number) => void {
  let last = -1;
  return (file, loaded, total) => {
    const pct = total > 0 ? Math.min(100, Math.floor((loaded / total) * 100)) : 0;
    if (pct === last && file) return; // the closing call (file '') always ends the line
    last = pct;
    const bar = '#'.repeat(Math.floor(pct / 4)).padEnd(25, '.');
    const gb = (n: number) => (n / 1e9).toFixed(2);
    process.stderr.write(`\r[${bar}] ${String(pct).padStart(3)}% ${gb(loaded)}/${gb(total)} GB ${file}`.padEnd(90) + (pct === 100 && !file ? '\n' : ''));
  };
}
