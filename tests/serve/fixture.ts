// What the serve tests share: a tiny model with its tokenizer saved as a checkpoint directory
// (model.safetensors, tokenizer.json beside it), the same with a proposition head, and small HTTP
// clients for JSON answers and server-sent events.
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GPT2, makeConfig } from '../../src/index';
import { saveModel } from '../../src/node';
import type { GPUContext } from '../../src/gpu/context';
import { saveTokenizer } from '../../src/train/tokenizer/load.node';
import { trainBpe } from '../../src/train/tokenizer/train';
import { modelFileBytes } from '../../src/train/weights.node';
import { HEAD_BIAS, HEAD_WEIGHT } from '../../src/model/mc-head';
import { randn } from '../helpers/gpu';

export interface TinyCheckpoints {
  /** A checkpoint directory without a head. */
  plain: string;
  /** The same body with a proposition head. */
  withHead: string;
}

/** A 1-layer, 32-wide model with a 128-token context and a 300-token BPE of the bundled questions. */
export async function tinyCheckpoints(gpu: GPUContext): Promise<TinyCheckpoints> {
  const dir = mkdtempSync(join(tmpdir(), 'mqg-serve-'));
  const tok = trainBpe([readFileSync('data/corpus/questions.txt', 'utf8')], 300, { name: 'bpe-300' });
  const plain = join(dir, 'plain'), withHead = join(dir, 'head');
  for (const d of [plain, withHead]) {
    mkdirSync(d);
    saveTokenizer(join(d, 'tokenizer.json'), tok);
  }
  const config = makeConfig({ nLayer: 1, nHead: 2, nEmbd: 32, nPositions: 128, vocabSize: tok.vocabSize });
  const model = new GPT2(gpu, config);
  model.initRandom(7);
  await saveModel(model, join(plain, 'model.safetensors'));
  const head = [
    { name: HEAD_WEIGHT, dtype: 'F32' as const, shape: [1, 32], data: randn(32, 5, 0.5) },
    { name: HEAD_BIAS, dtype: 'F32' as const, shape: [1], data: new Float32Array([0.1]) },
  ];
  writeFileSync(join(withHead, 'model.safetensors'), modelFileBytes(config, await model.weights(), { mcq_head: 'proposition' }, head));
  model.destroy();
  return { plain, withHead };
}

export interface JsonAnswer {
  status: number;
  headers: Headers;
  body: any;
}

/** POST a JSON body (or a raw string) and read the JSON answer. */
export async function post(url: string, body: unknown, headers: Record<string, string> = {}): Promise<JsonAnswer> {
  const r = await fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/json', ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body) });
  return { status: r.status, headers: r.headers, body: await r.json() };
}

export async function get(url: string, headers: Record<string, string> = {}): Promise<JsonAnswer> {
  const r = await fetch(url, { headers });
  return { status: r.status, headers: r.headers, body: await r.json() };
}

/** POST and read a whole server-sent-event answer: the JSON events, and whether it ended with [DONE]. */
export async function postStream(url: string, body: unknown): Promise<{ status: number; type: string | null; events: any[]; done: boolean }> {
  const r = await fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
  const text = await r.text();
  const data = text.split('\n\n').filter((e) => e.startsWith('data: ')).map((e) => e.slice(6));
  return {
    status: r.status,
    type: r.headers.get('content-type'),
    events: data.filter((d) => d !== '[DONE]').map((d) => JSON.parse(d)),
    done: data[data.length - 1] === '[DONE]' && text.endsWith('data: [DONE]\n\n'),
  };
}
