// CPU reference for src/kernels/matmul.ts, float64 loops, a direct port of the math:
//   gemm:  out[M,N] (+)= op(a)[M,K] · op(b)[K,N] (+ bias[N]), optional GELU epilogue
//   matmulForward / matmulBackward in llm.c's form (weight [C,OC] as in HF Conv1D: y = x·W + b)

export interface GemmRefOptions {
  M: number;
  N: number;
  K: number;
  transA?: boolean;
  transB?: boolean;
  accumulate?: boolean;
  bias?: ArrayLike<number> | null;
  gelu?: boolean;
  lda?: number;
  ldb?: number;
  ldc?: number;
}

/** GPT-2's tanh GELU. */
export function geluRef(x: number): number {
  const u = Math.sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x);
  return 0.5 * x * (1 + Math.tanh(u));
}

/**
 * Returns out (a copy of `outInit` with the M×N block at leading dimension ldc updated) and, with
 * gelu, preact laid out the same way (other elements 0).
 */
export function gemmRef(
  outInit: ArrayLike<number>,
  a: ArrayLike<number>,
  b: ArrayLike<number>,
  o: GemmRefOptions,
): { out: Float64Array; preact: Float64Array } {
  const { M, N, K } = o;
  const lda = o.lda ?? (o.transA ? M : K);
  const ldb = o.ldb ?? (o.transB ? K : N);
  const ldc = o.ldc ?? N;
  const out = Float64Array.from(outInit);
  const preact = new Float64Array(out.length);
  for (let m = 0; m < M; m++) {
    for (let n = 0; n < N; n++) {
      let s = 0;
      for (let k = 0; k < K; k++) {
        const av = o.transA ? a[k * lda + m]! : a[m * lda + k]!;
        const bv = o.transB ? b[n * ldb + k]! : b[k * ldb + n]!;
        s += av * bv;
      }
      const i = m * ldc + n;
      if (o.accumulate) s += out[i]!;
      if (o.bias) s += o.bias[n]!;
      if (o.gelu) {
        preact[i] = s;
        s = geluRef(s);
      }
      out[i] = s;
    }
  }
  return { out, preact };
}

/** out[BT,OC] = inp[BT,C] · weight[C,OC] + bias[OC] */
export function matmulForwardRef(
  inp: ArrayLike<number>,
  weight: ArrayLike<number>,
  bias: ArrayLike<number> | null,
  BT: number,
  C: number,
  OC: number,
): Float64Array {
  return gemmRef(new Float64Array(BT * OC), inp, weight, { M: BT, N: OC, K: C, bias }).out;
}

/** dinp[BT,C] = dout · weightᵀ, dweight[C,OC] = inpᵀ · dout, dbias[OC] = Σ_bt dout (fresh, not accumulated). */
export function matmulBackwardRef(
  dout: ArrayLike<number>,
  inp: ArrayLike<number>,
  weight: ArrayLike<number>,
  BT: number,
  C: number,
  OC: number,
): { dinp: Float64Array; dweight: Float64Array; dbias: Float64Array } {
  const dinp = new Float64Array(BT * C);
  const dweight = new Float64Array(C * OC);
  const dbias = new Float64Array(OC);
  for (let bt = 0; bt < BT; bt++) {
    for (let o = 0; o < OC; o++) {
      const d = dout[bt * OC + o]!;
      dbias[o]! += d;
      for (let c = 0; c < C; c++) {
        dinp[bt * C + c]! += d * weight[c * OC + o]!;
        dweight[c * OC + o]! += d * inp[bt * C + c]!;
      }
    }
  }
  return { dinp, dweight, dbias };
}

/** dbias[N] += Σ_m dout[m, n] */
export function biasBackwardRef(dbiasInit: ArrayLike<number>, dout: ArrayLike<number>, M: number, N: number): Float64Array {
  const dbias = Float64Array.from(dbiasInit);
  for (let m = 0; m < M; m++) for (let n = 0; n < N; n++) dbias[n]! += dout[m * N + n]!;
  return dbias;
}
