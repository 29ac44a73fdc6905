// The browser demo: the library, unchanged, trains mqg-tiny in the tab. Only device acquisition
// differs from Node (createGPU finds navigator.gpu). Exposes window.mqgDemo for automated tests.
// ?lora=R fine-tunes with LoRA instead: the base (trained first for ?pretrain=N steps, if given) is
// frozen and only rank-R adapters on c_attn and c_fc train; "Download adapter" saves them as PEFT files.
// ?model=URL loads a Hugging Face model directory from the web instead (url-model.ts).
import {
  createGPU, DataLoader, GPT2, generate, learningRate, presetConfig, trainBpe, serializeAdapterConfig, serializeAdapterWeights,
} from '../../src/browser';
import { evaluateUrlModel, type UrlDemoState } from './url-model';

const $ = (id: string) => document.getElementById(id)!;
const state = {
  running: false, step: 0, losses: [] as number[], samples: [] as string[], error: '', precision: '', ready: false,
  /** LoRA mode: trainable (adapter) and frozen (base) parameter counts, and the PEFT files' sizes once saved. */
  lora: null as null | { trainable: number; frozen: number; files?: Record<string, number> },
  /** ?model=URL mode: load progress and the evaluation's results (url-model.ts). */
  url: undefined as undefined | UrlDemoState,
};
(window as unknown as { mqgDemo: typeof state }).mqgDemo = state;

// URL parameters let a test run a short, small session: ?batch=4&seq=32&sampleEvery=10&steps=100
const params = new URLSearchParams(location.search);
const num = (k: string, d: number) => Number(params.get(k) ?? d);
const B = num('batch', 8), T = num('seq', 64), STEPS = num('steps', 2000), SAMPLE_EVERY = num('sampleEvery', 25);
const LORA = num('lora', 0), PRETRAIN = num('pretrain', 0);

function draw(): void {
  const c = $('chart') as HTMLCanvasElement;
  const g = c.getContext('2d')!;
  g.clearRect(0, 0, c.width, c.height);
  const L = state.losses;
  if (L.length < 2) return;
  const lo = Math.min(...L), hi = Math.max(...L);
  const x = (i: number) => 40 + ((c.width - 50) * i) / (L.length - 1);
  const y = (v: number) => 10 + ((c.height - 30) * (hi - v)) / Math.max(1e-6, hi - lo);
  g.strokeStyle = '#ccc';
  g.fillStyle = '#444';
  g.font = '11px sans-serif';
  for (const v of [lo, (lo + hi) / 2, hi]) {
    g.beginPath(); g.moveTo(40, y(v)); g.lineTo(c.width - 10, y(v)); g.stroke();
    g.fillText(v.toFixed(2), 2, y(v) + 4);
  }
  g.strokeStyle = '#1f77b4';
  g.lineWidth = 2;
  g.beginPath();
  L.forEach((v, i) => (i ? g.lineTo(x(i), y(v)) : g.moveTo(x(i), y(v))));
  g.stroke();
}

async function main(): Promise<void> {
  if (!('gpu' in navigator)) {
    $('error').textContent = 'This browser has no WebGPU (navigator.gpu is missing). Try a recent Chrome or Edge, or Firefox/Safari with WebGPU enabled.';
    state.error = 'no-webgpu';
    return;
  }
  $('status').textContent = 'loading corpus…';
  const texts = await Promise.all(['topics.txt', 'questions.txt'].map((f) => fetch(`../../data/corpus/${f}`).then((r) => r.text())));
  $('status').textContent = 'training tokenizer…';
  const tok = trainBpe(texts, num('vocab', 1024));
  const ids: number[] = [];
  for (const text of texts) for (const doc of text.split('\n\n')) ids.push(tok.eotToken, ...tok.encode(doc));
  const gpu = await createGPU();
  state.precision = gpu.precision;
  $('precision').textContent = gpu.precision;
  $('adapter').textContent = gpu.adapterName;
  const config = presetConfig('mqg-tiny', tok.vocabSize);
  const loader = new DataLoader(Uint16Array.from(ids), { B, T, seed: 1 });
  let model = new GPT2(gpu, config);
  model.initRandom(1337);
  if (model.dtype === 'f16') model.setLossScale({ initScale: 2 ** 14 });
  await model.prepare(B, T); // first use of this adapter: tunes the kernels (once, cached)
  if (LORA > 0) {
    // a base to adapt: a few full steps here (a real session would load a pretrained checkpoint)
    for (let i = 0; i < PRETRAIN; i++) {
      $('status').textContent = `pretraining the base: step ${i + 1}/${PRETRAIN}`;
      const b = loader.nextBatch();
      await model.trainStep(b.inputs, b.targets, B, T, { lr: 2e-3, weightDecay: 0.1, gradClip: 1, beta2: 0.95 });
    }
    const base = await model.weights();
    model.destroy();
    model = new GPT2(gpu, config, { lora: { r: LORA, alpha: 2 * LORA, targets: ['c_attn', 'c_fc'] } });
    model.loadWeights(base);
    if (model.dtype === 'f16') model.setLossScale({ initScale: 2 ** 14 });
    await model.prepare(B, T);
    state.lora = { trainable: model.lora!.numel, frozen: model.params.slots.reduce((n, p) => n + p.numel, 0) };
    $('mode').textContent = `LoRA r=${LORA} on c_attn, c_fc: ${state.lora.trainable} trainable, ${state.lora.frozen} frozen parameters`;
    ($('download') as HTMLButtonElement).hidden = false;
    ($('download') as HTMLButtonElement).onclick = () => void downloadAdapter();
  }
  async function downloadAdapter(): Promise<void> {
    const c = model.lora!.config;
    const files: [string, BlobPart][] = [['adapter_config.json', serializeAdapterConfig(c)], ['adapter_model.safetensors', serializeAdapterWeights(await model.lora!.weights(), c) as BlobPart]];
    state.lora!.files = {};
    for (const [name, data] of files) {
      const blob = new Blob([data]);
      state.lora!.files[name] = blob.size;
      const a = document.createElement('a');
      a.href = URL.createObjectURL(blob);
      a.download = name;
      a.click();
      URL.revokeObjectURL(a.href);
    }
  }
  state.ready = true;
  $('status').textContent = 'ready';
  ($('start') as HTMLButtonElement).onclick = () => {
    state.running = true;
    ($('start') as HTMLButtonElement).disabled = true;
    ($('pause') as HTMLButtonElement).disabled = false;
    $('status').textContent = 'training';
    void loop();
  };
  ($('pause') as HTMLButtonElement).onclick = () => {
    state.running = false;
    ($('start') as HTMLButtonElement).disabled = false;
    ($('pause') as HTMLButtonElement).disabled = true;
    $('status').textContent = 'paused';
  };
  async function loop(): Promise<void> {
    while (state.running && state.step < STEPS) {
      const t0 = performance.now();
      const b = loader.nextBatch();
      const peak = LORA > 0 ? 1e-2 : 2e-3; // adapters start at zero (B = 0) and take a larger step
      const lr = learningRate(state.step, { lr: peak, minLr: peak / 10, warmup: LORA > 0 ? 0 : 20, steps: STEPS, schedule: 'cosine' });
      const loss = await model.trainStep(b.inputs, b.targets, B, T, { lr, weightDecay: LORA > 0 ? 0 : 0.1, gradClip: 1, beta2: 0.95 });
      const ms = performance.now() - t0;
      state.step++;
      state.losses.push(loss);
      $('step').textContent = String(state.step);
      $('loss').textContent = loss.toFixed(3);
      $('tps').textContent = String(Math.round((B * T * 1000) / ms));
      draw();
      if (state.step % SAMPLE_EVERY === 0) {
        const out = await generate(model, [tok.eotToken, ...tok.encode('Question:')], { maxNewTokens: 40, temperature: 0.8, topK: 40, seed: state.step, stopToken: tok.eotToken });
        const text = 'Question:' + tok.decode(out.filter((t) => t !== tok.eotToken));
        state.samples.push(text);
        $('samples').textContent = `step ${state.step}: ${text}`;
      }
    }
  }
}

(params.has('model') ? evaluateUrlModel(params) : main()).catch((e) => {
  state.error = String(e?.message ?? e);
  $('error').textContent = `Error: ${state.error}`;
});
