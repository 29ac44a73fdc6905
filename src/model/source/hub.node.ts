/**
 * `hf:org/name[@revision]`: a model in the local Hugging Face cache, laid out as Python's
 * huggingface_hub lays it out (Node):
 *   <cache>/models--org--name/refs/<revision>      the commit a branch or tag points to
 *   <cache>/models--org--name/snapshots/<commit>/  the files (symlinks into blobs/)
 * with <cache> = $HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub. A revision may
 * also be a commit sha. A model absent from the cache is downloaded into it with @huggingface/hub
 * (only config, tokenizer and the weights the directory loader would pick), unless
 * HF_HUB_OFFLINE=1; $HF_ENDPOINT and $HF_TOKEN are honoured as huggingface_hub does.
 */

import { existsSync, readFileSync, promises as fsp } from 'node:fs';
import { homedir } from 'node:os';
import * as nodePath from 'node:path';
import { CheckpointError } from '../../util/errors';

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

/** `hf:org/name[@revision]` -> its parts; undefined for anything else. */
export function parseHubId(source: string): { repo: string; revision: string } | undefined {
  if (!source.startsWith('hf:')) return undefined;
  const [repo, revision = 'main', ...rest] = source.slice(3).split('@');
  if (!repo || !REPO.test(repo) || rest.length || !revision) {
    throw new CheckpointError(`${source}: expected hf:org/name or hf:org/name@revision`);
  }
  return { repo, revision };
}

export function repoFolder(cacheDir: string, repo: string): string {
  return nodePath.join(cacheDir, `models--${repo.replace(/\//g, '--')}`);
}

/** The snapshot directory of repo@revision in the cache, if it is there. */
export function findSnapshot(cacheDir: string, repo: string, revision: string): { dir: string; commit: string } | undefined {
  const folder = repoFolder(cacheDir, repo);
  let commit = revision;
  if (!COMMIT.test(revision)) {
    const ref = nodePath.join(folder, 'refs', revision);
    if (!existsSync(ref)) return undefined;
    commit = readFileSync(ref, 'utf8').trim();
  }
  const dir = nodePath.join(folder, 'snapshots', commit);
  return existsSync(dir) ? { dir, commit } : undefined;
}

export async function resolveHubModel(repo: string, revision: string, opts: HubOptions = {}): Promise<{ dir: string; repo: string; revision: string; commit: string; cacheDir: string }> {
  const cacheDir = opts.cacheDir ?? hubCacheDir();
  const found = findSnapshot(cacheDir, repo, revision);
  if (found) return { ...found, repo, revision, cacheDir };
  const where = `hf:${repo}@${revision} is not in the Hugging Face cache (looked for ${nodePath.join(repoFolder(cacheDir, repo), COMMIT.test(revision) ? 'snapshots' : 'refs', revision)})`;
  const offline = ['1', 'true', 'yes', 'on'].includes((process.env.HF_HUB_OFFLINE ?? '').toLowerCase());
  if (opts.download === false || offline) {
    throw new CheckpointError(`${where}, and downloading is off${offline ? ' (HF_HUB_OFFLINE)' : ''}`);
  }
  // @huggingface/hub announces each file with console.debug (stdout); keep stdout for our output.
  const debug = console.debug;
  console.debug = () => undefined;
  try {
    await downloadModel(repo, revision, cacheDir, opts.onProgress ?? progressBar());
  } catch (e) {
    if (e instanceof CheckpointError) throw e;
    const cause = (e as { cause?: { code?: string; message?: string } }).cause;
    throw new CheckpointError(`${where}, and downloading it from ${hubUrl()} failed: ${(e as Error).message}${cause ? ` (${cause.code ?? cause.message})` : ''}`);
  } finally {
    console.debug = debug;
  }
  const got = findSnapshot(cacheDir, repo, revision);
  if (!got) throw new CheckpointError(`${where}, and the download did not create it`);
  return { ...got, repo, revision, cacheDir };
}

function hubUrl(): string {
  return process.env.HF_ENDPOINT ?? 'https://huggingface.co';
}

/** Files worth fetching: config, tokenizer, and one set of weights (the directory loader's first choice). */
const SIDE_FILES = ['config.json', 'generation_config.json', 'tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'vocab.json', 'merges.txt'];
const WEIGHTS = ['model.safetensors.index.json', 'model.safetensors', 'pytorch_model.bin.index.json', 'pytorch_model.bin'];

async function downloadModel(repo: string, revision: string, cacheDir: string, onProgress: (file: string, loaded: number, total: number) => void): Promise<void> {
  const hub = await import('@huggingface/hub');
  const common = { repo: { type: 'model' as const, name: repo }, hubUrl: hubUrl(), accessToken: process.env.HF_TOKEN };
  const info = await hub.modelInfo({ name: repo, revision, hubUrl: common.hubUrl, accessToken: common.accessToken, additionalFields: ['sha'] });
  const commit = info.sha;
  const listing = new Map<string, number>();
  for await (const f of hub.listFiles({ ...common, revision: commit })) if (f.type === 'file') listing.set(f.path, f.lfs?.size ?? f.size);
  const weights = WEIGHTS.find((w) => listing.has(w));
  if (!weights) throw new CheckpointError(`hf:${repo}@${revision} has no weights we read (${WEIGHTS.join(', ')})`);
  const wanted = [...SIDE_FILES.filter((f) => listing.has(f)), weights];
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
    if (f.endsWith('.index.json')) {
      const shards = [...new Set(Object.values((JSON.parse(await fsp.readFile(local, 'utf8')) as { weight_map: Record<string, string> }).weight_map))];
      total += shards.reduce((a, s) => a + (listing.get(s) ?? 0), 0);
      for (const s of shards) await get(s);
    }
  }
  const ref = nodePath.join(repoFolder(cacheDir, repo), 'refs', revision);
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
    if (pct === last) return;
    last = pct;
    const bar = '#'.repeat(Math.floor(pct / 4)).padEnd(25, '.');
    const gb = (n: number) => (n / 1e9).toFixed(2);
    process.stderr.write(`\r[${bar}] ${String(pct).padStart(3)}% ${gb(loaded)}/${gb(total)} GB ${file}`.padEnd(90) + (pct === 100 && !file ? '\n' : ''));
  };
}
