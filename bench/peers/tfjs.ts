// Peer benchmark: TensorFlow.js (tfjs-core + tfjs-backend-webgpu 4.22) on its WebGPU backend, in
// Node, through Dawn (npm `webgpu`) — the same WebGPU implementation and adapter our kernels use,
// so our figures can be reported as ratios measured in the same process/run.
//
// What is measured and how it is synchronised:
// - `tfjsMatmulBench`: wall time of `tf.matMul` (n×n·n×n, f32). After the timed dispatches the
//   backend's pending command encoder is flushed (tfjs batches up to 15 dispatches per submit and
//   keeps the rest unsubmitted) and we await `queue.onSubmittedWorkDone()`, so the time is GPU
//   execution, not dispatch, and contains no readback. Warm-up runs first (pipeline compilation);
//   the figure is the median of several samples.
// - `TfjsGPT2.trainStep`: one `optimizer.minimize(() => loss, true)` (forward + autodiff backward +
//   Adam update) followed by reading the scalar loss back (`await loss.data()`), i.e. the same
//   synchronisation as our one-submit-per-step + loss readback. `tokensPerSecond` reports the median
//   step time over `steps` timed steps after `warmup` untimed ones.
//
// What Node needed (see `initTfjsWebGPU`):
// 1. Dawn's WebGPU globals (GPUBufferUsage, GPUMapMode, GPUShaderStage, ...) on globalThis.
// 2. `navigator.gpu` *before* tfjs-backend-webgpu is loaded: it registers the 'webgpu' backend at
//    import time only if `navigator.gpu` exists, so it is imported dynamically afterwards. Node 20
//    has no `navigator`; we add a minimal one shaped like Node 21+'s (userAgent 'Node.js/NN', ...).
// 3. Gradients: tfjs-core's Node (CJS) build registers none (`@tensorflow/tfjs` normally does), so
//    `minimize` fails with "gradient function not found for Mean". See `registerTfjsGradients`.
// 4. WEBGPU_CPU_FORWARD=false (tfjs default true), so small ops whose inputs are still on the CPU
//    are not silently run by tfjs's CPU kernels: everything measured runs on the GPU.
// Nothing else: OffscreenCanvas/ImageData/HTMLCanvasElement are only touched by the pixel/canvas
// paths (fromPixels, toPixels, profiling canvas), which are never used here. Dawn prints two
// "maxDynamic*BuffersPerPipelineLayout artificially reduced" warnings on device creation (harmless).
// Also: tfjs binds whole tensors as storage buffers, and lavapipe's maxStorageBufferBindingSize is
// 128 MiB, so the 50257×768 f32 embedding (154 MB) is split by rows into shards (see `TfjsGPT2`).

import * as tf from '@tensorflow/tfjs-core';

export type Tf = typeof tf;

export interface TfjsInitOptions {
  /** tfjs default is true: small ops on CPU-resident inputs run on the CPU. We default to false. */
  cpuForward?: boolean;
  /** A `navigator.gpu`-like object to use; default: an existing `navigator.gpu`, else Dawn's `create([])`. */
  gpu?: GPU;
}

/**
 * Makes tfjs-backend-webgpu work in Node over Dawn and selects it. Idempotent.
 * Side effects on globalThis: Dawn's WebGPU globals; `navigator` (if Node has none: an object shaped
 * like Node 21+'s, with `gpu` added) or `navigator.gpu` (if `navigator` exists without one).
 * Note: our own `createGPU()` prefers `navigator.gpu`, so after this it opens the same Dawn instance.
 */
export async function initTfjsWebGPU(options: TfjsInitOptions = {}): Promise<Tf> {
  if (tf.findBackend('webgpu') && tf.getBackend() === 'webgpu') {
    tf.env().set('WEBGPU_CPU_FORWARD', options.cpuForward ?? false);
    return tf;
  }

  const g = globalThis as any;
  if (options.gpu || !g.navigator?.gpu) {
    g.process.env.XDG_RUNTIME_DIR ??= '/tmp';
    const { create, globals } = await import('webgpu');
    for (const [k, v] of Object.entries(globals)) if (!(k in g)) g[k] = v;
    const gpu = options.gpu ?? create([]);
    if (g.navigator == null) {
      const nav = {
        gpu,
        userAgent: `Node.js/${g.process.versions.node.split('.')[0]}`,
        language: 'en-US',
        languages: ['en-US'],
        platform: g.process.platform,
        hardwareConcurrency: (await import('node:os')).availableParallelism?.() ?? 1,
      };
      Object.defineProperty(globalThis, 'navigator', { value: nav, configurable: true, writable: true });
    } else {
      Object.defineProperty(g.navigator, 'gpu', { value: gpu, configurable: true, writable: true });
    }
  }
  // Registers 'webgpu' on load, if navigator.gpu exists. Must run after the globals above.
  await import('@tensorflow/tfjs-backend-webgpu');
  await registerTfjsGradients();
  if (!tf.findBackendFactory('webgpu')) {
    throw new Error(
      "tfjs-backend-webgpu did not register 'webgpu' with this tfjs-core: either navigator.gpu was " +
        'missing when it was first imported, or two copies of @tensorflow/tfjs-core are loaded (ESM vs CJS).',
    );
  }
  // The flag is registered by the backend module, so it can only be set after the import.
  tf.env().set('WEBGPU_CPU_FORWARD', options.cpuForward ?? false);
  if (!(await tf.setBackend('webgpu'))) throw new Error("tf.setBackend('webgpu') failed (no adapter/device?)");
  await tf.ready();
  return tf;
}

/**
 * tfjs-core's Node (CJS) bundle registers no gradients: the union package `@tensorflow/tfjs` does it
 * by importing `@tensorflow/tfjs-core/dist/register_all_gradients`, which exists only as ESM with
 * extensionless imports inside a non-"type: module" package, so Node cannot load it. We bundle it
 * with esbuild (a devDependency) at run time and import the result from a data: URL. The bundle
 * holds a second (ESM) copy of the tfjs-core modules the gradients use, but tfjs keeps its engine,
 * kernel and gradient registries and Tensor class on a global namespace, so both copies share them
 * and the gradients run on the same engine/backend. ~1 s, once per process; skipped if gradients
 * are already registered (e.g. @tensorflow/tfjs loaded).
 */
async function registerTfjsGradients(): Promise<void> {
  if (tf.getGradient('BatchMatMul') && tf.getGradient('Mean')) return;
  const { build } = await import('esbuild');
  const { createRequire } = await import('node:module');
  const entry = createRequire(import.meta.url).resolve('@tensorflow/tfjs-core/dist/register_all_gradients.js');
  const out = await build({
    entryPoints: [entry],
    bundle: true,
    write: false,
    format: 'esm',
    platform: 'neutral',
    mainFields: ['module', 'main'],
    logLevel: 'warning',
  });
  const code = out.outputFiles[0]!.text;
  await import(`data:text/javascript;base64,${Buffer.from(code).toString('base64')}`);
  if (!tf.getGradient('BatchMatMul')) throw new Error('registering tfjs-core gradients failed');
}

/** The WebGPU backend's internals we rely on for synchronisation (tfjs-backend-webgpu 4.22). */
interface WebGPUBackendInternals {
  queue: GPUQueue;
  device: GPUDevice;
  commandEncoder: GPUCommandEncoder | null;
  endComputePassEncoder(): void;
  submitQueue(): void;
  adapterInfo?: unknown;
}

function webgpuBackend(t: Tf): WebGPUBackendInternals {
  if (t.getBackend() !== 'webgpu') throw new Error(`tfjs backend is ${t.getBackend()}, not webgpu: call initTfjsWebGPU() first`);
  return t.backend() as unknown as WebGPUBackendInternals;
}

/**
 * Waits until all GPU work tfjs has recorded so far has finished: submits the backend's pending
 * (batched, not yet submitted) command encoder, then awaits `queue.onSubmittedWorkDone()`.
 */
export async function tfjsSync(t: Tf): Promise<void> {
  const b = webgpuBackend(t);
  if (b.commandEncoder) {
    b.endComputePassEncoder();
    b.submitQueue();
  }
  await b.queue.onSubmittedWorkDone();
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export interface TfjsMatmulResult {
  n: number;
  dtype: 'float32';
  /** matmuls per timed sample (more than 1 for small n, so a sample lasts ≥ ~targetSampleMs). */
  inner: number;
  /** median ms per matmul */
  ms: number;
  gflops: number;
  /** from the fastest sample (less sensitive to a busy host than the median) */
  bestGflops: number;
  /** ms per matmul for every sample */
  samplesMs: number[];
  /** median process CPU time (user + sys, all threads incl. lavapipe's) per matmul */
  cpuMs: number;
}

export interface TfjsMatmulOptions {
  warmup?: number;
  samples?: number;
  /** aim for samples at least this long (ms); sets `inner` from the warm-up timing. */
  targetSampleMs?: number;
}

/**
 * GFLOP/s of `tf.matMul` of two n×n f32 matrices (2n³ flops per matmul). tfjs has no f16 dtype,
 * so `dtype` can only be 'float32'.
 */
export async function tfjsMatmulBench(
  t: Tf,
  n: number,
  dtype: 'float32' = 'float32',
  options: TfjsMatmulOptions = {},
): Promise<TfjsMatmulResult> {
  if (dtype !== 'float32') throw new Error(`tfjs has no ${dtype as string} matmul; only float32`);
  const { warmup = 2, samples = 5, targetSampleMs = 200 } = options;
  const a = t.randomUniform([n, n], -1, 1, 'float32', 1);
  const b = t.randomUniform([n, n], -1, 1, 'float32', 2);
  await tfjsSync(t);
  const cpuMs: number[] = [];
  const runOnce = async (inner: number): Promise<number> => {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    for (let i = 0; i < inner; i++) t.matMul(a, b).dispose(); // dispose is deferred until after submit
    await tfjsSync(t);
    const ms = (performance.now() - t0) / inner;
    const c = process.cpuUsage(c0);
    cpuMs.push((c.user + c.system) / 1000 / inner);
    return ms;
  };
  try {
    let warmMs = Infinity;
    for (let i = 0; i < Math.max(1, warmup); i++) warmMs = await runOnce(1);
    const inner = Math.max(1, Math.min(1000, Math.ceil(targetSampleMs / Math.max(warmMs, 1e-3))));
    const samplesMs: number[] = [];
    cpuMs.length = 0;
    for (let i = 0; i < samples; i++) samplesMs.push(await runOnce(inner));
    const ms = median(samplesMs);
    const flops = 2 * n * n * n;
    return { n, dtype, inner, ms, gflops: flops / (ms * 1e6), bestGflops: flops / (Math.min(...samplesMs) * 1e6), samplesMs, cpuMs: median(cpuMs) };
  } finally {
    a.dispose();
    b.dispose();
  }
}

export interface TfjsGPT2Config {
  nLayer: number;
  nHead: number;
  nEmbd: number;
  vocabSize: number;
  maxT: number;
}

export interface TfjsGPT2Options {
  learningRate?: number;
  beta1?: number;
  beta2?: number;
  epsilon?: number;
  /** Decoupled (AdamW) weight decay on matrices (rank ≥ 2, incl. embeddings); 0 = plain Adam. */
  weightDecay?: number;
  /** seed for the N(0, 0.02) initialisation */
  seed?: number;
  /** Largest tensor bound as one storage buffer; defaults to the device's maxStorageBufferBindingSize. */
  maxBindingBytes?: number;
}

export interface TfjsThroughput {
  /** median ms per training step (forward + backward + update + loss readback) */
  msPerStep: number;
  tokensPerSecond: number;
  /** fastest timed step (less sensitive to a busy host than the median) */
  minMsPerStep: number;
  /** median process CPU time (user + sys, all threads incl. lavapipe's) per timed step */
  cpuMsPerStep: number;
  stepMs: number[];
  /** loss of every step, warm-up included */
  losses: number[];
}

interface Block {
  ln1g: tf.Variable; ln1b: tf.Variable;
  attnW: tf.Variable; attnB: tf.Variable;
  projW: tf.Variable; projB: tf.Variable;
  ln2g: tf.Variable; ln2b: tf.Variable;
  fcW: tf.Variable; fcB: tf.Variable;
  fcProjW: tf.Variable; fcProjB: tf.Variable;
}

let modelCount = 0;

/**
 * GPT-2 in tf.js ops: token + position embeddings, pre-LN blocks (causal multi-head attention as
 * matmul + additive mask + softmax + matmul; GELU(tanh) MLP of width 4C), final LN, lm_head tied
 * to the token embedding, mean cross-entropy. f32 throughout; Adam (AdamW with `weightDecay`).
 */
export class TfjsGPT2 {
  readonly config: TfjsGPT2Config;
  readonly optimizer: tf.AdamOptimizer;
  readonly variables: tf.Variable[] = [];
  private readonly t: Tf;
  /**
   * Token embedding (= lm_head), split by rows into shards that each fit one storage-buffer binding:
   * tfjs binds whole tensors, and a 50257×768 f32 table (154 MB) exceeds lavapipe's
   * maxStorageBufferBindingSize (128 MiB). One shard whenever the table fits.
   */
  private readonly wte: { w: tf.Variable; offset: number; rows: number }[] = [];
  private readonly wpe: tf.Variable;
  private readonly blocks: Block[] = [];
  private readonly lnfg: tf.Variable;
  private readonly lnfb: tf.Variable;
  private readonly masks = new Map<number, tf.Tensor2D>();
  private readonly lr: number;
  private readonly weightDecay: number;

  constructor(t: Tf, config: TfjsGPT2Config, options: TfjsGPT2Options = {}) {
    const { nLayer, nHead, nEmbd: C, vocabSize: V, maxT } = config;
    if (C % nHead) throw new Error(`nEmbd ${C} is not a multiple of nHead ${nHead}`);
    this.t = t;
    this.config = { ...config };
    this.lr = options.learningRate ?? 1e-3;
    this.weightDecay = options.weightDecay ?? 0;
    const prefix = `tfjsgpt2_${modelCount++}`;
    let seed = options.seed ?? 1234;
    const v = (name: string, shape: number[], init: 'normal' | 'zeros' | 'ones', std = 0.02): tf.Variable => {
      const value = t.tidy(() =>
        init === 'zeros' ? t.zeros(shape) : init === 'ones' ? t.ones(shape) : t.randomNormal(shape, 0, std, 'float32', seed++),
      );
      const variable = t.variable(value, true, `${prefix}/${name}`);
      value.dispose();
      this.variables.push(variable);
      return variable;
    };
    const projStd = 0.02 / Math.sqrt(2 * nLayer);
    const maxBinding: number =
      options.maxBindingBytes ?? (t.backend() as unknown as Partial<WebGPUBackendInternals>).device?.limits.maxStorageBufferBindingSize ?? 2 ** 27;
    const shards = Math.ceil((V * C * 4) / maxBinding);
    const rowsPerShard = Math.ceil(V / shards);
    for (let offset = 0, i = 0; offset < V; offset += rowsPerShard, i++) {
      const rows = Math.min(rowsPerShard, V - offset);
      this.wte.push({ w: v(shards > 1 ? `wte${i}` : 'wte', [rows, C], 'normal'), offset, rows });
    }
    this.wpe = v('wpe', [maxT, C], 'normal', 0.01);
    for (let l = 0; l < nLayer; l++) {
      this.blocks.push({
        ln1g: v(`h${l}/ln1g`, [C], 'ones'), ln1b: v(`h${l}/ln1b`, [C], 'zeros'),
        attnW: v(`h${l}/attnW`, [C, 3 * C], 'normal'), attnB: v(`h${l}/attnB`, [3 * C], 'zeros'),
        projW: v(`h${l}/projW`, [C, C], 'normal', projStd), projB: v(`h${l}/projB`, [C], 'zeros'),
        ln2g: v(`h${l}/ln2g`, [C], 'ones'), ln2b: v(`h${l}/ln2b`, [C], 'zeros'),
        fcW: v(`h${l}/fcW`, [C, 4 * C], 'normal'), fcB: v(`h${l}/fcB`, [4 * C], 'zeros'),
        fcProjW: v(`h${l}/fcProjW`, [4 * C, C], 'normal', projStd), fcProjB: v(`h${l}/fcProjB`, [C], 'zeros'),
      });
    }
    this.lnfg = v('lnfg', [C], 'ones');
    this.lnfb = v('lnfb', [C], 'zeros');
    this.optimizer = t.train.adam(this.lr, options.beta1 ?? 0.9, options.beta2 ?? 0.999, options.epsilon ?? 1e-8);
  }

  get numParams(): number {
    return this.variables.reduce((s, x) => s + x.size, 0);
  }

  private mask(T: number): tf.Tensor2D {
    let m = this.masks.get(T);
    if (!m) {
      const data = new Float32Array(T * T);
      for (let i = 0; i < T; i++) for (let j = i + 1; j < T; j++) data[i * T + j] = -1e9;
      m = this.t.keep(this.t.tensor2d(data, [T, T]));
      this.masks.set(T, m);
    }
    return m;
  }

  private layerNorm(x: tf.Tensor, g: tf.Tensor, b: tf.Tensor): tf.Tensor {
    const t = this.t;
    const { mean, variance } = t.moments(x, -1, true);
    return t.add(t.mul(t.mul(t.sub(x, mean), t.rsqrt(t.add(variance, 1e-5))), g), b);
  }

  private gelu(x: tf.Tensor): tf.Tensor {
    const t = this.t;
    const inner = t.mul(t.add(x, t.mul(t.pow(x, 3), 0.044715)), Math.sqrt(2 / Math.PI));
    return t.mul(t.mul(x, 0.5), t.add(t.tanh(inner), 1));
  }

  /** Linear layer on [N, in] → [N, out]. */
  private linear(x: tf.Tensor2D, w: tf.Tensor, b: tf.Tensor): tf.Tensor2D {
    return this.t.add(this.t.matMul(x, w as tf.Tensor2D), b) as tf.Tensor2D;
  }

  /** Logits [B*T, V] for token ids idx [B, T]. Call inside tidy/minimize. */
  logits(idx: tf.Tensor2D): tf.Tensor2D {
    const t = this.t;
    const [B, T] = idx.shape;
    const { nHead: H, nEmbd: C, maxT } = this.config;
    if (T > maxT) throw new Error(`T=${T} > maxT=${maxT}`);
    const hd = C / H;
    const N = B * T;
    const ids = t.reshape(idx, [N]);
    let tok: tf.Tensor; // [N, C]
    if (this.wte.length === 1) {
      tok = t.gather(this.wte[0]!.w, ids);
    } else {
      tok = t.addN(
        this.wte.map(({ w, offset, rows }) => {
          const local = t.sub(ids, t.scalar(offset, 'int32'));
          const inShard = t.cast(t.logicalAnd(t.greaterEqual(local, 0), t.less(local, rows)), 'float32');
          const clamped = t.minimum(t.maximum(local, t.scalar(0, 'int32')), t.scalar(rows - 1, 'int32'));
          return t.mul(t.gather(w, clamped), t.reshape(inShard, [N, 1]));
        }),
      );
    }
    const pos = t.slice(this.wpe, [0, 0], [T, C]); // [T, C]
    let x = t.reshape(t.add(t.reshape(tok, [B, T, C]), pos), [N, C]) as tf.Tensor2D;
    const mask = this.mask(T);
    const scale = 1 / Math.sqrt(hd);
    const heads = (y: tf.Tensor): tf.Tensor4D => t.transpose(t.reshape(y, [B, T, H, hd]), [0, 2, 1, 3]);
    for (const blk of this.blocks) {
      const h = this.layerNorm(x, blk.ln1g, blk.ln1b) as tf.Tensor2D;
      const qkv = this.linear(h, blk.attnW, blk.attnB); // [N, 3C]
      const [q, k, vv] = t.split(qkv, 3, 1);
      const att = t.softmax(t.add(t.mul(t.matMul(heads(q!), heads(k!), false, true), scale), mask), -1); // [B,H,T,T]
      const y = t.reshape(t.transpose(t.matMul(att, heads(vv!)), [0, 2, 1, 3]), [N, C]) as tf.Tensor2D;
      x = t.add(x, this.linear(y, blk.projW, blk.projB));
      const h2 = this.layerNorm(x, blk.ln2g, blk.ln2b) as tf.Tensor2D;
      const f = this.gelu(this.linear(h2, blk.fcW, blk.fcB)) as tf.Tensor2D;
      x = t.add(x, this.linear(f, blk.fcProjW, blk.fcProjB));
    }
    const xf = this.layerNorm(x, this.lnfg, this.lnfb) as tf.Tensor2D;
    // tied lm_head: [N, V]
    if (this.wte.length === 1) return t.matMul(xf, this.wte[0]!.w, false, true);
    return t.concat(this.wte.map(({ w }) => t.matMul(xf, w, false, true)), 1) as tf.Tensor2D;
  }

  /** Mean cross-entropy over the B*T positions. Call inside tidy/minimize. */
  loss(idx: tf.Tensor2D, targets: tf.Tensor1D): tf.Scalar {
    const t = this.t;
    const logits = this.logits(idx);
    const labels = t.cast(t.oneHot(targets, this.config.vocabSize), 'float32'); // [N, V]
    return t.losses.softmaxCrossEntropy(labels, logits, undefined, 0, t.Reduction.MEAN) as tf.Scalar;
  }

  /** One training step on inputs/targets (B*T token ids each); resolves to the loss (read back). */
  async trainStep(inputs: Int32Array, targets: Int32Array, B: number, T: number): Promise<number> {
    const t = this.t;
    if (inputs.length !== B * T || targets.length !== B * T) throw new Error(`inputs/targets must hold B*T=${B * T} ids`);
    const cost = t.tidy(() => {
      const idx = t.tensor2d(inputs, [B, T], 'int32');
      const tgt = t.tensor1d(targets, 'int32');
      if (this.weightDecay > 0) {
        // decoupled decay, applied before the Adam update as in torch.optim.AdamW
        const f = 1 - this.lr * this.weightDecay;
        for (const p of this.variables) if (p.rank >= 2) p.assign(t.mul(p, f));
      }
      return this.optimizer.minimize(() => this.loss(idx, tgt), true, this.variables)!;
    });
    try {
      return (await cost.data())[0]!;
    } finally {
      cost.dispose();
    }
  }

  /**
   * Throughput on one fixed random batch (seeded): `warmup` untimed steps, then `steps` timed steps,
   * each synchronised by its loss readback. Returns the median ms/step and B*T / median tokens/s.
   * `onStep` (optional) sees every step, warm-up included.
   */
  async tokensPerSecond(
    steps: number,
    B: number,
    T: number,
    warmup = 2,
    seed = 42,
    onStep?: (step: number, loss: number, ms: number) => void,
  ): Promise<TfjsThroughput> {
    const { inputs, targets } = randomBatch(this.config.vocabSize, B, T, seed);
    const losses: number[] = [];
    const stepMs: number[] = [];
    const cpuMs: number[] = [];
    for (let i = 0; i < warmup + steps; i++) {
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      losses.push(await this.trainStep(inputs, targets, B, T));
      if (i >= warmup) {
        stepMs.push(performance.now() - t0);
        const c = process.cpuUsage(c0);
        cpuMs.push((c.user + c.system) / 1000);
      }
      onStep?.(i, losses[i]!, performance.now() - t0);
    }
    const msPerStep = median(stepMs);
    return {
      msPerStep,
      tokensPerSecond: (B * T * 1000) / msPerStep,
      minMsPerStep: Math.min(...stepMs),
      cpuMsPerStep: median(cpuMs),
      stepMs,
      losses,
    };
  }

  dispose(): void {
    for (const m of this.masks.values()) m.dispose();
    this.masks.clear();
    this.optimizer.dispose();
    for (const v of this.variables) v.dispose();
    this.variables.length = 0;
  }
}

/** A reproducible random batch: inputs uniform in [0, vocab), targets = inputs shifted by one. */
export function randomBatch(vocabSize: number, B: number, T: number, seed = 42): { inputs: Int32Array; targets: Int32Array } {
  let s = seed >>> 0 || 1;
  const next = (): number => {
    s ^= s << 13; s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5; s >>>= 0;
    return s % vocabSize;
  };
  const tokens = new Int32Array(B * (T + 1));
  for (let i = 0; i < tokens.length; i++) tokens[i] = next();
  const inputs = new Int32Array(B * T);
  const targets = new Int32Array(B * T);
  for (let b = 0; b < B; b++) {
    inputs.set(tokens.subarray(b * (T + 1), b * (T + 1) + T), b * T);
    targets.set(tokens.subarray(b * (T + 1) + 1, (b + 1) * (T + 1)), b * T);
  }
  return { inputs, targets };
}
