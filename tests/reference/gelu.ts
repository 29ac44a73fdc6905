// CPU reference for GPT-2's tanh-approximated GELU, float64, a port of llm.c's gelu_forward /
// gelu_backward:  gelu(x) = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x³))).

const SCALE = Math.sqrt(2 / Math.PI);

export function geluRef(x: number): number {
  return 0.5 * x * (1 + Math.tanh(SCALE * (x + 0.044715 * x * x * x)));
}

/** d gelu / dx. cosh is taken as 1/sech² through tanh so large |x| gives 0, not inf/inf. */
export function geluGradRef(x: number): number {
  const u = SCALE * (x + 0.044715 * x * x * x);
  const t = Math.tanh(u);
  const sech2 = 1 - t * t;
  return 0.5 * (1 + t) + x * 0.5 * sech2 * SCALE * (1 + 3 * 0.044715 * x * x);
}

export function geluForwardRef(inp: ArrayLike<number>): Float64Array {
  const out = new Float64Array(inp.length);
  for (let i = 0; i < inp.length; i++) out[i] = geluRef(inp[i]!);
  return out;
}

/** dinp = gelu'(inp) * dout (overwrites, as llm.c's gelu_backward does on the GPU). */
export function geluBackwardRef(inp: ArrayLike<number>, dout: ArrayLike<number>): Float64Array {
  const dinp = new Float64Array(inp.length);
  for (let i = 0; i < inp.length; i++) dinp[i] = geluGradRef(inp[i]!) * dout[i]!;
  return dinp;
}

// The other MLP activations of HF's ACT2FN (src/kernels/gelu.ts), float64.

/** erf from its Taylor series (|x| < 2) and a continued fraction for erfc (|x| >= 2): ~1e-15 accuracy. */
export function erfRef(x: number): number {
  const ax = Math.abs(x);
  if (ax < 2) {
    let term = x, sum = x;
    for (let n = 1; n < 200; n++) {
      term *= (-x * x) / n;
      const add = term / (2 * n + 1);
      sum += add;
      if (Math.abs(add) < 1e-18 * Math.abs(sum)) break;
    }
    return (2 / Math.sqrt(Math.PI)) * sum;
  }
  return Math.sign(x) * (1 - erfcLarge(ax));
}

/** erfc(x) for x >= 2, Lentz's continued fraction. */
function erfcLarge(x: number): number {
  // erfc(x) = exp(-x²)/√π · 1/(x + 1/2/(x + 1/(x + 3/2/(x + ...))))
  let f = x, C = x, D = 0;
  for (let n = 1; n < 2000; n++) {
    const a = n / 2;
    D = x + a * D; D = 1 / D;
    C = x + a / C;
    const delta = C * D;
    f *= delta;
    if (Math.abs(delta - 1) < 1e-16) break;
  }
  return Math.exp(-x * x) / Math.sqrt(Math.PI) / f;
}

/** Φ(x) = (1 + erf(x/√2)) / 2, from the non-cancelling tail. */
export function normalCdfRef(x: number): number {
  const z = x / Math.SQRT2;
  if (z <= -2) return 0.5 * erfcLarge(-z);
  return 0.5 * (1 + erfRef(z));
}

export type ActivationName = 'gelu_new' | 'gelu_pytorch_tanh' | 'gelu' | 'relu' | 'silu';

export function activationRef(act: ActivationName, x: number): number {
  switch (act) {
    case 'gelu_new': case 'gelu_pytorch_tanh': return geluRef(x);
    case 'gelu': return x * normalCdfRef(x);
    case 'relu': return Math.max(x, 0);
    case 'silu': return x / (1 + Math.exp(-x));
  }
}

export function activationGradRef(act: ActivationName, x: number): number {
  switch (act) {
    case 'gelu_new': case 'gelu_pytorch_tanh': return geluGradRef(x);
    case 'gelu': return normalCdfRef(x) + (x * Math.exp(-0.5 * x * x)) / Math.sqrt(2 * Math.PI);
    case 'relu': return x > 0 ? 1 : 0;
    case 'silu': { const s = 1 / (1 + Math.exp(-x)); return s * (1 + x * (1 - s)); }
  }
}
