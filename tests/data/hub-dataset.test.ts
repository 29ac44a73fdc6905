// hf://datasets/ORG/NAME[@REV][/PATH] sources: downloaded from a stand-in Hub on loopback into the
// cache layout huggingface_hub writes (datasets--org--name/refs, snapshots -> blobs), only the files of
// the split asked for; read again from the cache with the Hub down; the Hub's split naming; ids.
import { afterEach, describe, expect, it } from 'vitest';
import { copyFileSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { inSplit, parseHubDatasetId, pickDataFiles } from '../../src/train/data/hub-dataset.node';
import { readMcqSource } from '../../src/train/data/mcq-source.node';
import { SHA, standInHub } from './stand-in-hub';

const PQ = path.resolve(__dirname, '../fixtures/parquet');
const ENV = ['HF_HUB_CACHE', 'HF_HOME', 'HF_HUB_OFFLINE', 'HF_ENDPOINT'] as const;
const saved = Object.fromEntries(ENV.map((k) => [k, process.env[k]]));
afterEach(() => {
  for (const k of ENV) if (saved[k] === undefined) delete process.env[k];
  else process.env[k] = saved[k];
});

const quiet = { onProgress: () => undefined };

describe('hf://datasets sources', () => {
  it('parses ids as Hugging Face tools write them', () => {
    expect(parseHubDatasetId('hf://datasets/org/name')).toEqual({ repo: 'org/name', revision: 'main', path: '' });
    expect(parseHubDatasetId('hf://datasets/org/name@v1.0/data/test-*.parquet')).toEqual({ repo: 'org/name', revision: 'v1.0', path: 'data/test-*.parquet' });
    expect(parseHubDatasetId('hf://datasets/org/name@refs%2Fconvert%2Fparquet/default')).toEqual({ repo: 'org/name', revision: 'refs/convert/parquet', path: 'default' });
    expect(parseHubDatasetId('data/mcq.jsonl')).toBeUndefined();
    for (const bad of ['hf://datasets/org', 'hf://datasets/org/name@', 'hf://datasets/org/na me', 'hf://datasets/org/name@a@b', 'hf://datasets/org/name/../x']) {
      expect(() => parseHubDatasetId(bad), bad).toThrow(/expected hf:\/\/datasets\/ORG\/NAME\[@REVISION\]\[\/PATH\]/);
    }
  });

  it('picks files by the Hub\'s split naming', () => {
    const files = ['README.md', 'data/train-00000-of-00002.parquet', 'data/train-00001-of-00002.parquet', 'data/validation-00000-of-00001.parquet', 'test.jsonl', 'dev/x.csv', 'anatomy_test.csv', 'contest.csv', 'latest-notes.json'];
    expect(pickDataFiles(files, '', 'train', 'r')).toEqual(['data/train-00000-of-00002.parquet', 'data/train-00001-of-00002.parquet']);
    expect(pickDataFiles(files, '', 'validation', 'r')).toEqual(['data/validation-00000-of-00001.parquet', 'dev/x.csv']);
    expect(pickDataFiles(files, '', 'test', 'r')).toEqual(['anatomy_test.csv', 'test.jsonl']);
    expect(() => pickDataFiles(files, '', undefined, 'r')).toThrow(/^r holds the splits train, validation, test: choose one with --split$/);
    expect(() => pickDataFiles(files, '', 'extra', 'r')).toThrow(/^r: no files of split "extra" \(its splits: train, validation, test\)$/);
    // a directory per split (the Hub's parquet conversion), a path naming one split, a glob
    expect(pickDataFiles(['default/train/0000.parquet', 'default/test/0000.parquet'], 'default', 'test', 'r')).toEqual(['default/test/0000.parquet']);
    expect(pickDataFiles(files, 'data/validation-00000-of-00001.parquet', undefined, 'r')).toEqual(['data/validation-00000-of-00001.parquet']);
    expect(pickDataFiles(files, 'data/train-*.parquet', undefined, 'r')).toHaveLength(2);
    expect(() => pickDataFiles(['README.md'], '', undefined, 'r')).toThrow(/^r: no data files \(\.jsonl, \.json, \.csv, \.parquet\); it holds README\.md$/);
    expect(inSplit('data/training_set.csv', 'train')).toBe(true);
    expect(inSplit('data/trains.csv', 'train')).toBe(false);
  });

  it('downloads only the split asked for into the cache layout, fetches another split later, and reads from the cache with the Hub down', async () => {
    const hub = await standInHub();
    const cache = mkdtempSync(path.join(tmpdir(), 'mqg-hubds-'));
    try {
      process.env.HF_ENDPOINT = hub.url;
      delete process.env.HF_HUB_OFFLINE;
      const test = await readMcqSource('hf://datasets/org/med', { split: 'test', cacheDir: cache, ...quiet });
      // MedMCQA's Hub export, detected, its 0-based "cop" read as such
      expect(test.records.map((r) => [r.id, r.answer, r.source, r.chapter])).toEqual([['m1', [2], 'medmcqa', 'Biochemistry / Vitamins'], ['m2', [1], 'medmcqa', 'Physiology']]);
      const repo = path.join(cache, 'datasets--org--med');
      expect(readFileSync(path.join(repo, 'refs', 'main'), 'utf8')).toBe(SHA);
      const f = path.join(repo, 'snapshots', SHA, 'data', 'test-00000-of-00001.parquet');
      expect(test.files).toEqual([f]);
      expect(lstatSync(f).isSymbolicLink()).toBe(true);
      expect(readlinkSync(f)).toMatch(/blobs/);
      // the files fetched (the client may read one in several ranged GETs)
      const fetched = () => [...new Set(hub.requests.filter((r) => r.includes('/resolve/')))];
      expect(fetched()).toEqual([`GET /datasets/org/med/resolve/${SHA}/data/test-00000-of-00001.parquet`]);
      expect(existsSync(path.join(repo, 'snapshots', SHA, 'data', 'train-00000-of-00001.parquet'))).toBe(false);

      // the same split again: from the cache, no request
      let before = hub.requests.length;
      await readMcqSource('hf://datasets/org/med', { split: 'test', cacheDir: cache, ...quiet });
      expect(hub.requests.length).toBe(before);
      // another split: the cached snapshot lacks it, so it is fetched
      const train = await readMcqSource('hf://datasets/org/med', { split: 'train', cacheDir: cache, ...quiet });
      expect(train.records.map((r) => r.answer)).toEqual([[2], [1], [0]]);
      expect(fetched()).toHaveLength(2);
      before = hub.requests.length;
      await readMcqSource('hf://datasets/org/med/validation.jsonl', { cacheDir: cache, ...quiet });
      expect(hub.requests.length).toBeGreaterThan(before);
      // a split the repository does not have: named from its listing, nothing fetched
      before = fetched().length;
      await expect(readMcqSource('hf://datasets/org/med', { split: 'extra', cacheDir: cache, ...quiet })).rejects.toThrow(
        /^hf:\/\/datasets\/org\/med@main: no files of split "extra" \(its splits: train, validation, test\)$/,
      );
      expect(fetched()).toHaveLength(before);
    } finally {
      await new Promise((r) => hub.server.close(r));
    }
    // the Hub gone: what is cached reads as before, by branch or commit, through HF_HUB_CACHE
    process.env.HF_HUB_CACHE = cache;
    for (const src of ['hf://datasets/org/med', `hf://datasets/org/med@${SHA}`]) {
      const r = await readMcqSource(src, { split: 'train' });
      expect(r.records.map((x) => x.question)[0], src).toBe('Which vitamin deficiency causes scurvy?');
    }
    expect((await readMcqSource('hf://datasets/org/med/data/test-00000-of-00001.parquet')).records).toHaveLength(2);
    expect((await readMcqSource('hf://datasets/org/med', { split: 'validation' })).records).toEqual([{ id: 'v1', question: 'Q?', options: ['a', 'b', 'c'], answer: [2], source: 's', chapter: 'c' }]);
    await expect(readMcqSource('hf://datasets/org/med')).rejects.toThrow(`hf://datasets/org/med@main holds the splits train, validation, test: choose one with --split`);
  });

  it('reads a cache written by huggingface_hub (a parquet-conversion revision, a split per directory) without a Hub', async () => {
    const cache = mkdtempSync(path.join(tmpdir(), 'mqg-hubds-'));
    const repo = path.join(cache, 'datasets--org--conv');
    const snap = path.join(repo, 'snapshots', SHA);
    mkdirSync(path.join(repo, 'blobs'), { recursive: true });
    mkdirSync(path.join(repo, 'refs', 'refs', 'convert'), { recursive: true });
    mkdirSync(path.join(snap, 'default', 'test'), { recursive: true });
    writeFileSync(path.join(repo, 'refs', 'refs', 'convert', 'parquet'), SHA);
    copyFileSync(path.join(PQ, 'ae-index.zstd.parquet'), path.join(repo, 'blobs', 'b1'));
    symlinkSync('../../../../blobs/b1', path.join(snap, 'default', 'test', '0000.parquet'));
    process.env.HF_HUB_CACHE = cache;
    process.env.HF_HUB_OFFLINE = '1';
    const r = await readMcqSource('hf://datasets/org/conv@refs%2Fconvert%2Fparquet/default', { split: 'test', columns: 'question=question,options=A,B,C,D,E,answer=label' });
    expect(r.records.map((x) => [x.options[x.answer[0]!], x.source])).toEqual([['Vitamin C', 'org/conv'], ['Pancreas', 'org/conv'], ['Adrenaline', 'org/conv']]);
    // absent and offline: one line naming the dataset and the cache searched
    await expect(readMcqSource('hf://datasets/org/absent', { split: 'test' })).rejects.toThrow(
      `hf://datasets/org/absent@main is not in the Hugging Face cache (looked for ${path.join(cache, 'datasets--org--absent', 'refs', 'main')}), and downloading is off (HF_HUB_OFFLINE)`,
    );
    // cached but without the split asked for, and offline
    await expect(readMcqSource('hf://datasets/org/conv@refs%2Fconvert%2Fparquet/default', { split: 'train' })).rejects.toThrow(
      `hf://datasets/org/conv@refs/convert/parquet is in the Hugging Face cache (${snap}) without the files asked for, and downloading is off (HF_HUB_OFFLINE)`,
    );
  });

  it('an absent dataset with the Hub unreachable: an error naming the dataset, the cache and the endpoint', async () => {
    const cache = mkdtempSync(path.join(tmpdir(), 'mqg-hubds-'));
    delete process.env.HF_HUB_OFFLINE;
    process.env.HF_ENDPOINT = 'http://127.0.0.1:9';
    await expect(readMcqSource('hf://datasets/org/med', { cacheDir: cache, ...quiet })).rejects.toThrow(
      new RegExp(`^hf://datasets/org/med@main is not in the Hugging Face cache \\(looked for ${cache}/datasets--org--med/refs/main\\), and downloading it from http://127\\.0\\.0\\.1:9 failed`),
    );
  });
});
