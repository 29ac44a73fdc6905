// `mqg questions --examples` from a Hub dataset: the first questions of a cached hf://datasets split
// (a parquet file) go into every prompt sent to the endpoint, as a local file's would.
import { copyFileSync, mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { generateQuestions, QUESTIONS_DEFAULTS } from '../../src/train/questions/run.node';
import { startChatServer, type ChatServer } from '../helpers/chat-server';
import { KEY, simple, writeBook } from '../questions/scripted';
import { SHA } from './stand-in-hub';

const saved = { cache: process.env.HF_HUB_CACHE, offline: process.env.HF_HUB_OFFLINE };
let server: ChatServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
  for (const [k, v] of [['HF_HUB_CACHE', saved.cache], ['HF_HUB_OFFLINE', saved.offline]] as const) if (v === undefined) delete process.env[k];
  else process.env[k] = v;
});

describe('questions --examples hf://datasets/...', () => {
  it('puts the split\'s first questions into each prompt', async () => {
    const cache = mkdtempSync(path.join(tmpdir(), 'mqg-hubex-'));
    const repo = path.join(cache, 'datasets--org--ex');
    mkdirSync(path.join(repo, 'blobs'), { recursive: true });
    mkdirSync(path.join(repo, 'refs'), { recursive: true });
    mkdirSync(path.join(repo, 'snapshots', SHA, 'data'), { recursive: true });
    writeFileSync(path.join(repo, 'refs', 'main'), SHA);
    copyFileSync(path.resolve(__dirname, '../fixtures/parquet/list-letter.snappy.parquet'), path.join(repo, 'blobs', 'b'));
    symlinkSync('../../../blobs/b', path.join(repo, 'snapshots', SHA, 'data', 'train-00000-of-00001.parquet'));
    process.env.HF_HUB_CACHE = cache;
    process.env.HF_HUB_OFFLINE = '1';
    server = await startChatServer((c) => ({ content: simple(c.marker) }));
    const dir = mkdtempSync(path.join(tmpdir(), 'mqg-hubex-'));
    await generateQuestions({
      ...QUESTIONS_DEFAULTS, text: [writeBook(dir)], out: path.join(dir, 'out'), generator: 'llm', endpoint: server.url, model: 'scripted', apiKey: KEY,
      limit: 2, concurrency: 1, timeout: 5, retries: 0, backoff: 0.05, examples: 'hf://datasets/org/ex', exampleCount: 2,
    });
    expect(server.calls.length).toBe(2);
    for (const c of server.calls) {
      const prompt = c.body.messages!.map((m) => m.content).join('\n');
      expect(prompt).toContain('Question: Which vitamin deficiency causes scurvy?\nA. Vitamin A\nB. Vitamin B12\nC. Vitamin C\nD. Vitamin D\nE. Vitamin K\nAnswer: C');
      expect(prompt).toContain('Question: Which organ secretes insulin?');
      expect(prompt).not.toContain('anaphylaxis');
    }
  });
});
