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
