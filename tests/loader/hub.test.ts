// hf:org/name[@revision] sources: the local Hugging Face cache as huggingface_hub lays it out
// (written here by the test), and the error when a model is absent and cannot be downloaded.
import { afterEach, describe, expect, it } from 'vitest';
import { copyFileSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { hubCacheDir, readCheckpoint, resolveCheckpoint } from '../../src/node';
import { loadTokenizer } from '../../src/train/tokenizer/load.node';
import { BYTE_TO_CHAR } from '../../src/train/tokenizer/bytes';
import { startHubServer } from '../helpers/hub-server';

const FIXTURE = path.resolve(__dirname, '../fixtures/gpt2-tiny/init.safetensors');
const SHA = '0123456789abcdef0123456789abcdef01234567';
const ENV = ['HF_HUB_CACHE', 'HF_HOME', 'HF_HUB_OFFLINE', 'HF_ENDPOINT'] as const;
const saved = Object.fromEntries(ENV.map((k) => [k, process.env[k]]));
afterEach(() => {
  for (const k of ENV) if (saved[k] === undefined) delete process.env[k];
  else process.env[k] = saved[k];
});

/** A BioMedLM-style byte-level BPE tokenizer.json: 28896 entries, <|endoftext|> = 28895. */
function biomedlmStyleTokenizer(): object {
  const chars = Array.from({ length: 256 }, (_, b) => BYTE_TO_CHAR[b]!);
  const vocab: Record<string, number> = {};
  chars.forEach((c, i) => (vocab[c] = i));
  const merges: string[] = [];
  for (let a = 0; merges.length < 28895 - 256; a++) {
    for (let b = 0; b < 256 && merges.length < 28895 - 256; b++) {
      vocab[chars[a]! + chars[b]!] = 256 + merges.length;
      merges.push(`${chars[a]} ${chars[b]}`);
    }
  }
  return {
    version: '1.0',
    added_tokens: [{ id: 28895, content: '<|endoftext|>', special: true, single_word: false, lstrip: false, rstrip: false, normalized: false }],
    normalizer: null,
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
    post_processor: null,
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: { type: 'BPE', vocab: { ...vocab, '<|endoftext|>': 28895 }, merges },
  };
}

/** models--org--tiny with refs/main and refs/v1 -> SHA, files as symlinks into blobs/ (as huggingface_hub writes them). */
function writeCache(): string {
  const cache = mkdtempSync(path.join(tmpdir(), 'mqg-hub-'));
  const repo = path.join(cache, 'models--org--tiny');
  const snap = path.join(repo, 'snapshots', SHA);
  mkdirSync(path.join(repo, 'blobs'), { recursive: true });
  mkdirSync(path.join(repo, 'refs'), { recursive: true });
  mkdirSync(snap, { recursive: true });
  writeFileSync(path.join(repo, 'refs', 'main'), SHA);
  writeFileSync(path.join(repo, 'refs', 'v1'), SHA + '\n');
  copyFileSync(FIXTURE, path.join(repo, 'blobs', 'aaaa'));
  symlinkSync('../../blobs/aaaa', path.join(snap, 'model.safetensors'));
  writeFileSync(path.join(snap, 'config.json'), JSON.stringify({ model_type: 'gpt2', n_layer: 2, n_head: 4, n_embd: 64, n_positions: 64, vocab_size: 512 }));
  writeFileSync(path.join(snap, 'tokenizer.json'), JSON.stringify(biomedlmStyleTokenizer()));
  return cache;
}

/** A stand-in Hub serving `files` as org/`name` at SHA, the environment pointed at it, and an empty cache. */
async function standInHub(name: string, files: Record<string, Buffer>) {
  const hub = await startHubServer({ kind: 'model', repo: `org/${name}`, sha: SHA, files });
  process.env.HF_ENDPOINT = hub.url;
  delete process.env.HF_HUB_OFFLINE;
  return { ...hub, cache: mkdtempSync(path.join(tmpdir(), `mqg-hub-${name}-`)) };
}

describe('hf: sources', () => {
  it('finds the cache from HF_HUB_CACHE, else HF_HOME/hub, else ~/.cache/huggingface/hub', () => {
    expect(hubCacheDir({ HF_HUB_CACHE: '/a', HF_HOME: '/b' })).toBe('/a');
    expect(hubCacheDir({ HF_HOME: '/b' })).toBe(path.join('/b', 'hub'));
    expect(hubCacheDir({})).toMatch(/\.cache\/huggingface\/hub$/);
  });

  it('reads a cached snapshot by branch, tag or commit, and reports its tokenizer.json', async () => {
    const cache = writeCache();
    process.env.HF_HUB_CACHE = cache;
    const expected = await readCheckpoint(FIXTURE);
    for (const src of ['hf:org/tiny', 'hf:org/tiny@v1', `hf:org/tiny@${SHA}`]) {
      const ck = await readCheckpoint(src);
      expect(ck.config).toEqual(expected.config);
      for (const [k, v] of expected.params) expect(Buffer.from(ck.params.get(k)!.buffer).equals(Buffer.from(v.buffer)), `${src} ${k}`).toBe(true);
      expect(ck.resolved.hub).toMatchObject({ repo: 'org/tiny', revision: src.split('@')[1] ?? 'main', commit: SHA, cacheDir: cache });
    }
    const r = await resolveCheckpoint('hf:org/tiny', { cacheDir: cache });
    expect(r.tokenizerPath).toBe(path.join(cache, 'models--org--tiny', 'snapshots', SHA, 'tokenizer.json'));
    // A BioMedLM-style tokenizer.json loads from there: 28896 entries, <|endoftext|> = 28895.
    const tok = loadTokenizer(r.tokenizerPath!);
    expect(tok.vocabSize).toBe(28896);
    expect(tok.eotToken).toBe(28895);
    expect(tok.decode(tok.encode('aspirin 81 mg'))).toBe('aspirin 81 mg');
  });

  it('a model absent from the cache: offline is an error naming the repo and the cache searched', async () => {
    const cache = writeCache();
    process.env.HF_HUB_OFFLINE = '1';
    await expect(readCheckpoint('hf:raidium/MQG@main', { cacheDir: cache })).rejects.toThrow(
      new RegExp(`hf:raidium/MQG@main is not in the Hugging Face cache \\(looked for ${cache}/models--raidium--MQG/refs/main\\), and downloading is off \\(HF_HUB_OFFLINE\\)`),
    );
  });

  it('a model absent from the cache with the Hub unreachable: an error naming the repo, the cache and the endpoint', async () => {
    const cache = writeCache();
    delete process.env.HF_HUB_OFFLINE;
    process.env.HF_ENDPOINT = 'http://127.0.0.1:9';
    await expect(readCheckpoint('hf:raidium/MQG', { cacheDir: cache })).rejects.toThrow(
      new RegExp(`hf:raidium/MQG@main is not in the Hugging Face cache \\(looked for ${cache}/models--raidium--MQG/refs/main\\), and downloading it from http://127\\.0\\.0\\.1:9 failed`),
    );
  });

  it('rejects malformed ids', async () => {
    await expect(readCheckpoint('hf:')).rejects.toThrow(/hf:: expected hf:org\/name, hf:org\/name@revision or hf:org\/name\[@revision\]\/sub\/folder/);
    await expect(readCheckpoint('hf:a/b@c@d')).rejects.toThrow(/expected hf:org\/name/);
    await expect(readCheckpoint('hf:a/b/../c')).rejects.toThrow(/hf:a\/b\/\.\.\/c: expected hf:org\/name/);
    await expect(readCheckpoint('hf:a/b@%E0%A4%A')).rejects.toThrow(/expected hf:org\/name/);
  });

  it('a model in a sub-folder of its repository (hf:org/name[@rev]/folder, as raidium/MQG keeps it): downloads that folder only, then reads it from the cache', async () => {
    const folder = 'stanford-crfm-BioMedLM-3epochs-v100-16';
    const files: Record<string, Buffer> = {
      'README.md': Buffer.from('not fetched'),
      [`${folder}/config.json`]: Buffer.from(JSON.stringify({ model_type: 'gpt2', n_layer: 2, n_head: 4, n_embd: 64, n_positions: 64, vocab_size: 512 })),
      [`${folder}/model.safetensors`]: readFileSync(FIXTURE),
      'other/model.safetensors': Buffer.from('not fetched'),
    };
    const { requests, server, cache } = await standInHub('mqg', files);
    try {
      const expected = await readCheckpoint(FIXTURE);
      for (const src of [`hf:org/mqg/${folder}`, `hf:org/mqg@main/${folder}/`, `hf:org/mqg@${SHA}/${folder}`]) {
        const ck = await readCheckpoint(src, { cacheDir: cache });
        for (const [k, v] of expected.params) expect(Buffer.from(ck.params.get(k)!.buffer).equals(Buffer.from(v.buffer)), `${src} ${k}`).toBe(true);
        expect(ck.resolved.dir).toBe(path.join(cache, 'models--org--mqg', 'snapshots', SHA, folder));
      }
      expect([...new Set(requests.filter((r) => r.includes('/resolve/')).map((r) => r.replace(/.*\/resolve\/[^/]+\//, '')))].sort()).toEqual([`${folder}/config.json`, `${folder}/model.safetensors`]);
      await expect(readCheckpoint('hf:org/mqg', { cacheDir: cache })).rejects.toThrow(/hf:org\/mqg@main has no weights we read/);
      await expect(readCheckpoint('hf:org/mqg/nope', { cacheDir: cache })).rejects.toThrow(/hf:org\/mqg@main\/nope has no weights we read/);
    } finally {
      server.close();
    }
  });

  it('downloads an absent model into the cache layout (refs, snapshots -> blobs) with progress, from a local stand-in Hub', async () => {
    const files: Record<string, Buffer> = {
      'config.json': Buffer.from(JSON.stringify({ model_type: 'gpt2', n_layer: 2, n_head: 4, n_embd: 64, n_positions: 64, vocab_size: 512 })),
      'model.safetensors': readFileSync(FIXTURE),
      'README.md': Buffer.from('not fetched'),
    };
    const { requests, server, cache } = await standInHub('net', files);
    try {
      const progress: [string, number, number][] = [];
      const ck = await readCheckpoint('hf:org/net', { cacheDir: cache, onProgress: (f, l, t) => void progress.push([f, l, t]) });
      const expected = await readCheckpoint(FIXTURE);
      for (const [k, v] of expected.params) expect(Buffer.from(ck.params.get(k)!.buffer).equals(Buffer.from(v.buffer)), k).toBe(true);
      const repo = path.join(cache, 'models--org--net');
      expect(readFileSync(path.join(repo, 'refs', 'main'), 'utf8')).toBe(SHA);
      const weights = path.join(repo, 'snapshots', SHA, 'model.safetensors');
      expect(lstatSync(weights).isSymbolicLink()).toBe(true);
      expect(readlinkSync(weights)).toMatch(/blobs/);
      expect(ck.resolved.hub).toMatchObject({ repo: 'org/net', revision: 'main', commit: SHA, cacheDir: cache });
      const total = files['config.json']!.length + files['model.safetensors']!.length;
      expect(progress.at(-1)).toEqual(['', total, total]);
      expect(progress.some(([f, l]) => f === 'model.safetensors' && l > 0 && l < total)).toBe(true);
      expect(requests.some((r) => r.includes('README.md'))).toBe(false);
      // A second load finds it in the cache: no request.
      const before = requests.length;
      await readCheckpoint('hf:org/net', { cacheDir: cache });
      expect(requests.length).toBe(before);
    } finally {
      server.close();
    }
  });
});
