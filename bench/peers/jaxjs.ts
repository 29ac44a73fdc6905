// Peer benchmark: jax-js (@jax-js/jax) on its WebAssembly backend, the CPU peer: no WebGPU, the
// same CPU cores lavapipe runs our kernels on.
//
// - `jaxMatmulBench`: wall time of np.matmul (n×n·n×n, f32) until its data is read, median of
//   several runs after a warm-up run (the readback of n² floats is included; at n=1024 it is ~1%).
// - `JaxGPT2.trainStep`: the same GPT-2 as ours (tied lm_head, pre-LN blocks, tanh GELU, causal
//   attention, mean cross-entropy) at the same shapes; one step is jit(valueAndGrad(loss)) and a
//   jit-compiled Adam update per parameter, then the scalar loss read back: forward, backward and
//   update, as our trainStep. Params follow our init (N(0, 0.02), LayerNorm 1/0, biases 0).
// jax-js owns arrays by reference counting: every use of an array consumes it; `.ref` keeps it.

import { blockUntilReady, defaultDevice, init, jit, nn, numpy as np, valueAndGrad } from '@jax-js/jax';
import { Rng } from '../../src/util/rng';

type A = np.Array;

// jax-js's einsum (used by its attention) calls iterator helpers (`matchAll(...).map`), which Node
// has from version 22 only. On older Node: the two it uses, on the shared iterator prototype.
const iteratorProto = Object.getPrototypeOf(Object.getPrototypeOf([][Symbol.iterator]())) as Record<string, unknown>;
if (typeof iteratorProto.map !== 'function') {
  Object.defineProperty(iteratorProto, 'map', {
    configurable: true,
    writable: true,
    value: function* <T, U>(this: Iterator<T>, f: (x: T, i: number) => U) {
      let i = 0;
      for (let r = this.next(); !r.done; r = this.next()) yield f(r.value, i++);
    },
  });
  Object.defineProperty(iteratorProto, 'filter', {
    configurable: true,
    writable: true,
    value: function* <T>(this: Iterator<T>, f: (x: T, i: number) => boolean) {
      let i = 0;
      for (let r = this.next(); !r.done; r = this.next()) if (f(r.value, i++)) yield r.value;
    },
  });
}

let ready: Promise<void> | undefined;

/** Start jax-js's wasm backend and make it the default device. */
export function initJaxWasm(): Promise<void> {
  ready ??= (async () => {
    const devices = await init('wasm');
    if (!devices.includes('wasm')) throw new Error(`jax-js: no wasm device (have ${devices.join(', ')})`);
    defaultDevice('wasm');
  })();
  return ready;
}

function randomArray(n: number, std: number, rng: Rng): Float32Array {
  const x = new Float32Array(n);
  for (let i = 0; i < n; i++) x[i] = rng.normal(0, std);
  return x;
}

/** GFLOP/s of an n³ f32 matmul on jax-js wasm (median of `runs`). */
export async function jaxMatmulBench(n: number, runs = 3): Promise<number> {
  await initJaxWasm();
  const rng = new Rng(7);
  const a = np.array(randomArray(n * n, 1, rng)).reshape([n, n]);
  const b = np.array(randomArray(n * n, 1, rng)).reshape([n, n]);
  const times: number[] = [];
  for (let i = 0; i <= runs; i++) {
    const t0 = performance.now();
    await np.matmul(a.ref, b.ref).data();
    if (i > 0) times.push(performance.now() - t0);
  }
  a.dispose();
  b.dispose();
  const ms = times.sort((x, y) => x - y)[Math.floor(times.length / 2)]!;
  return (2 * n ** 3) / (ms * 1e6);
}

export interface JaxGPT2Config {
  nLayer: number;
  nHead: number;
  nEmbd: number;
  vocabSize: number;
  maxT: number;
}

type Params = { [name: string]: A };

function layernorm(x: A, w: A, b: A): A {
  const mean = np.mean(x.ref, -1, { keepdims: true });
  const xc = x.sub(mean);
  const variance = np.mean(np.square(xc.ref), -1, { keepdims: true });
  return xc.mul(np.reciprocal(np.sqrt(variance.add(1e-5)))).mul(w).add(b);
}

export class JaxGPT2 {
  params: Params = {};
  private m: Params = {};
  private v: Params = {};
  private t = 0;
  readonly numParams: number;
  private readonly step: (p: Params, x0: A, targets: A) => [A, [Params, A]];
  private readonly embedGrad: (wte: A, wpe: A, dx0: A, inputs: A, positions: A) => [A, A];
  private readonly positions: Int32Array;
  private readonly embed: (wte: A, wpe: A, inputs: A, positions: A) => A;
  private readonly adam: (p: A, g: A, m: A, v: A, hyper: A) => A[];

  constructor(readonly cfg: JaxGPT2Config, B: number, T: number) {
    const { nLayer: L, nHead: NH, nEmbd: C, vocabSize: V, maxT } = cfg;
    const rng = new Rng(1);
    const shapes: [string, number[], number][] = [['wte', [V, C], 0.02], ['wpe', [maxT, C], 0.02]];
    for (let l = 0; l < L; l++) {
      shapes.push(
        [`h${l}.ln1w`, [C], 1], [`h${l}.ln1b`, [C], 0],
        [`h${l}.qkvw`, [C, 3 * C], 0.02], [`h${l}.qkvb`, [3 * C], 0],
        [`h${l}.projw`, [C, C], 0.02 / Math.sqrt(2 * L)], [`h${l}.projb`, [C], 0],
        [`h${l}.ln2w`, [C], 1], [`h${l}.ln2b`, [C], 0],
        [`h${l}.fcw`, [C, 4 * C], 0.02], [`h${l}.fcb`, [4 * C], 0],
        [`h${l}.fcprojw`, [4 * C, C], 0.02 / Math.sqrt(2 * L)], [`h${l}.fcprojb`, [C], 0],
      );
    }
    shapes.push(['lnfw', [C], 1], ['lnfb', [C], 0]);
    let count = 0;
    for (const [name, shape, init] of shapes) {
      const n = shape.reduce((a, b) => a * b, 1);
      count += n;
      const data = shape.length === 1 ? new Float32Array(n).fill(init) : randomArray(n, init, rng);
      this.params[name] = np.array(data).reshape(shape);
      this.m[name] = np.zeros(shape);
      this.v[name] = np.zeros(shape);
    }
    this.numParams = count;
    const hs = C / NH;
    this.positions = Int32Array.from({ length: B * T }, (_, i) => i % T);
    // The embedding lookup's gradient is a scatter, which jax-js cannot jit: the jitted step takes
    // the embedded input x0 and returns its gradient too; the lookup and its gradient run eagerly.
    const embed = (wte: A, wpe: A, inputs: A, positions: A) => np.take(wte, inputs, 0).add(np.take(wpe, positions, 0));
    const loss = (p: Params, x0: A, targets: A): A => {
      p.wpe!.dispose(); // wpe enters through x0
      let x = x0.reshape([B, T, C]);
      for (let l = 0; l < L; l++) {
        const w = (n: string) => p[`h${l}.${n}`]!;
        const h = layernorm(x.ref, w('ln1w'), w('ln1b'));
        const qkv = np.matmul(h, w('qkvw')).add(w('qkvb')); // [B,T,3C]
        const [q, k, v] = np.split(qkv, 3, -1).map((t) => t.reshape([B, T, NH, hs]));
        const y = nn.dotProductAttention(q!, k!, v!, { isCausal: true }).reshape([B, T, C]);
        x = x.add(np.matmul(y, w('projw')).add(w('projb')));
        const h2 = layernorm(x.ref, w('ln2w'), w('ln2b'));
        const fc = nn.gelu(np.matmul(h2, w('fcw')).add(w('fcb')), { approximate: true });
        x = x.add(np.matmul(fc, w('fcprojw')).add(w('fcprojb')));
      }
      const hf = layernorm(x, p.lnfw!, p.lnfb!).reshape([B * T, C]);
      const logits = np.matmul(hf, np.transpose(p.wte!)); // tied lm_head
      const logp = nn.logSoftmax(logits, -1);
      // targets as one-hot rows: the gradient of takeAlongAxis is a scatter, which jit cannot take
      return np.sum(logp.mul(nn.oneHot(targets, V))).mul(-1 / (B * T));
    };
    this.step = jit(valueAndGrad(loss, { argnums: [0, 1] })) as unknown as typeof this.step;
    this.embedGrad = (wte, wpe, dx0, inputs, positions) => {
      const [, g] = valueAndGrad((w: A, q: A) => embed(w, q, inputs, positions).mul(dx0).sum(), { argnums: [0, 1] })(wte, wpe);
      return g as [A, A];
    };
    this.embed = embed;
    this.adam = jit((p: A, g: A, m: A, v: A, hyper: A) => {
      // hyper = [lr, 1 - beta1^t, 1 - beta2^t]
      const h = np.split(hyper, 3);
      const m2 = m.mul(0.9).add(g.ref.mul(0.1));
      const v2 = v.mul(0.999).add(np.square(g).mul(0.001));
      const mhat = m2.ref.div(h[1]!);
      const vhat = v2.ref.div(h[2]!);
      return [p.sub(mhat.mul(h[0]!).div(np.sqrt(vhat).add(1e-8))), m2, v2];
    }) as unknown as typeof this.adam;
  }

  /** One training step (forward, backward, Adam); returns the loss, read back. */
  async trainStep(inputs: Int32Array, targets: Int32Array, lr = 1e-4): Promise<number> {
    const ids = np.array(inputs, { dtype: np.int32 }), pos = np.array(this.positions, { dtype: np.int32 });
    const x0 = this.embed(this.params.wte!.ref, this.params.wpe!.ref, ids.ref, pos.ref);
    const [loss, [grads, dx0]] = this.step(
      Object.fromEntries(Object.entries(this.params).map(([k, a]) => [k, a.ref])),
      x0,
      np.array(targets, { dtype: np.int32 }),
    );
    const [dwteEmbed, dwpe] = this.embedGrad(this.params.wte!.ref, this.params.wpe!.ref, dx0, ids, pos);
    grads.wte = grads.wte!.add(dwteEmbed);
    grads.wpe!.dispose();
    grads.wpe = dwpe;
    this.t += 1;
    for (const name of Object.keys(this.params)) {
      const hyper = np.array(new Float32Array([lr, 1 - 0.9 ** this.t, 1 - 0.999 ** this.t]));
      const [p, m, v] = this.adam(this.params[name]!, grads[name]!, this.m[name]!, this.v[name]!, hyper);
      this.params[name] = p!;
      this.m[name] = m!;
      this.v[name] = v!;
    }
    const out = (await loss.data())[0]!;
    await blockUntilReady([this.params, this.m, this.v]); // the update is done too
    return out;
  }

  dispose(): void {
    for (const set of [this.params, this.m, this.v]) for (const a of Object.values(set)) a.dispose();
  }
}
