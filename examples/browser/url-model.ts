// The demo's ?model=URL mode: a Hugging Face model directory on the web, loaded tensor by tensor by
// ranged GETs and quantized as it arrives (loadModelFromUrl), then evaluated in the tab:
//   ?model=URL            the directory (config.json, model.safetensors[.index.json] and shards);
//                         another origin must allow CORS and expose Content-Range
//   &quantize=q4_0|q8_0|none   the block weights' type (default q4_0)
//   &tokens=a,b,c,...     the mean next-token loss over this sequence (one row of n-1 positions)
//   &prompt=a,b,c&new=N   N greedy tokens after this prompt (default 8)
// The results are shown and set on window.mqgDemo.url for tests.
import { createGPU, generate, loadModelFromUrl, type QuantType, type UrlLoadProgress } from '../../src/browser';

export interface UrlDemoState extends UrlLoadProgress {
  model: string;
  quantize: string;
  precision: string;
  /** Mean loss over &tokens, when given. */
  loss?: number;
  /** Greedy continuation of &prompt, when given. */
  generated?: number[];
  done: boolean;
}

const $ = (id: string) => document.getElementById(id)!;
const mib = (n: number) => (n / 2 ** 20).toFixed(2);

function tokenIds(params: URLSearchParams, key: string): number[] | undefined {
  const v = params.get(key);
  if (!v) return undefined;
  const ids = v.split(',').map(Number);
  const bad = ids.findIndex((t) => !Number.isInteger(t) || t < 0);
  if (bad >= 0) throw new Error(`&${key}: "${v.split(',')[bad]}" (item ${bad}) is not a token id`);
  return ids;
}

export async function evaluateUrlModel(params: URLSearchParams): Promise<void> {
  const demo = (window as unknown as { mqgDemo: { url?: UrlDemoState; error: string } }).mqgDemo;
  if (!('gpu' in navigator)) throw new Error('This browser has no WebGPU (navigator.gpu is missing).');
  const url = params.get('model')!;
  const q = params.get('quantize') ?? 'q4_0';
  if (!['q4_0', 'q8_0', 'none'].includes(q)) throw new Error(`&quantize=${q}: use q4_0, q8_0 or none`);
  const tokens = tokenIds(params, 'tokens'), prompt = tokenIds(params, 'prompt');
  const state: UrlDemoState = { model: url, quantize: q, precision: '', bytes: 0, totalBytes: 0, tensors: 0, totalTensors: 0, done: false };
  demo.url = state;
  for (const id of ['start', 'pause']) ($(id) as HTMLButtonElement).hidden = true;
  ($('chart') as HTMLCanvasElement).hidden = true;
  $('mode').textContent = `model ${url}, quantized ${q} as it arrives`;
  const gpu = await createGPU();
  state.precision = gpu.precision;
  $('precision').textContent = gpu.precision;
  $('adapter').textContent = gpu.adapterName;
  $('status').textContent = 'loading…';
  const model = await loadModelFromUrl(gpu, url, {
    training: false,
    quantize: q === 'none' ? undefined : (q as QuantType),
    onProgress: (p) => {
      Object.assign(state, p);
      $('status').textContent = `loading: ${mib(p.bytes)} of ${mib(p.totalBytes)} MiB fetched, ${p.tensors}/${p.totalTensors} tensors`;
    },
  });
  const lines = [`loaded: ${state.tensors} tensors, ${mib(state.bytes)} MiB fetched of ${mib(state.totalBytes)} MiB of weight files`];
  if (tokens) {
    if (tokens.length < 2) throw new Error('&tokens: give at least two token ids');
    state.loss = await model.forward(tokens.slice(0, -1), tokens.slice(1), 1, tokens.length - 1);
    lines.push(`loss over ${tokens.length - 1} positions: ${state.loss.toFixed(6)}`);
  }
  if (prompt) {
    state.generated = await generate(model, prompt, { maxNewTokens: Number(params.get('new') ?? 8), temperature: 0 });
    lines.push(`greedy after [${prompt.join(', ')}]: [${state.generated.join(', ')}]`);
  }
  $('samples').textContent = lines.join('\n');
  $('status').textContent = 'done';
  state.done = true;
}
