// Skinny GEMM (M from 1, a decode step, to a few rows) for f32 / f16 weights: the WGSL and its spec.
// gemm (matmul.ts) picks it by shape and dispatches it; this module only generates code.
//
//   out[m,n] (+)= Σ_k a[m,k] · B(k,n) (+ bias[n]) (→ preact, out = act(preact))
//     a   [M,K]  row-major, leading dimension lda (the activations: small)
//     NN: b [K,N] (B(k,n) = b[k*ldb + n], the HF Conv1D weight [in, out])
//     NT: b [N,K] (B(k,n) = b[n*ldb + k], the tied lm_head: logits = x · wteᵀ, wte [Vp, C])
//
// One pass; every weight element is loaded once per group of `mr` rows (M = 1: once). Why not the
// tiled gemm: at M = 1 its 32-row tiles compute 31 rows of nothing and it loads b through scalar
// loads. Here a lane streams its weights with the widest loads WGSL offers: on lavapipe each load
// a lane issues is a per-lane loop with a bounds check (~10 instructions per 32-bit component,
// fewer per component for a vec4), so f32 comes as vec4<f32> (4 values) and f16 as vec4<u32>
// (8 halves, unpacked in pairs) when the leading dimension and offset allow ("wide"); else scalar.
//
//   NN: a lane owns cw adjacent columns (f32: 4·v, f16: 8·v) and mr rows; per 4 k it loads one
//       vec4 of a per row and 4·v wide words of b. Columns past the last whole group: scalar loads.
//   NT: a lane owns v rows of b (v output columns) and mr rows; per chunk of kc k (f32: 4, f16: 8)
//       it loads one wide word per b row and the matching a values; partial sums stay vec4 until
//       the end. The K tail (K % kc) is scalar.
// Accumulation in f32. Rows of a past M and b rows past N are clamped for loads, never written.

import { type ActFn, type FloatType, actWgsl } from './matmul-wgsl';

/** The tunable shape of the kernel: lanes per workgroup, rows per lane, wide words per lane per k. */
export interface GemvVariant {
  /** Lanes per workgroup (a multiple of 8). */
  wg: number;
  /** Rows of a (and out) per lane: the weight is loaded once per mr rows. 1-8. */
  mr: number;
  /** NN: wide words of b per lane per k (columns = v·4 f32, v·8 f16); NT: rows of b per lane. 1-4. */
  v: number;
  /** gemm takes this kernel for M <= maxM (0: never). */
  maxM: number;
}

export interface GemvSpec {
  variant: GemvVariant;
  transB: boolean;
  /** a loaded as vec4 (f32) / vec2<u32> (f16): lda and its offset are multiples of 4. */
  wideA: boolean;
  /** b loaded as vec4<f32> / vec4<u32>: ldb and its offset are multiples of 4 (f32) or 8 (f16). */
  wideB: boolean;
  accumulate: boolean;
  a: FloatType;
  b: FloatType;
  out: FloatType;
  bias: FloatType | null;
  /** Forward activation epilogue: preact gets the sum, out = act(sum). */
  act: { fn: ActFn; preact: FloatType } | null;
}

/** Elements of b in one wide word: vec4<f32> or vec4<u32> of 8 halves. */
export function gemvWideElems(b: FloatType): number {
  return b === 'f32' ? 4 : 8;
}

export function gemvVariantProblem(v: GemvVariant): string {
  const ok = v.wg >= 8 && v.wg <= 256 && v.wg % 8 === 0 && v.mr >= 1 && v.mr <= 8 && v.v >= 1 && v.v <= 4 && v.maxM >= 0 && Number.isInteger(v.maxM);
  return ok ? '' : `gemv variant ${JSON.stringify(v)} is not valid (wg a multiple of 8 up to 256, mr 1-8, v 1-4, maxM >= 0)`;
}

export function gemvName(s: GemvSpec): string {
  const v = s.variant;
  const act = s.act ? `_${s.act.fn}${s.act.preact}` : '';
  return `gemv_${s.transB ? 'NT' : 'NN'}_w${v.wg}_r${v.mr}_v${v.v}_${s.wideA ? 'v' : 's'}${s.wideB ? 'v' : 's'}_${s.a}${s.b}_${s.out}${s.bias ? `_bias${s.bias}` : ''}${act}${s.accumulate ? '_acc' : ''}`;
}

/** Columns (NN) or b rows (NT) one workgroup covers along N. */
export function gemvColumnsPerWorkgroup(s: Pick<GemvSpec, 'variant' | 'transB' | 'b'>): number {
  return s.variant.wg * (s.transB ? s.variant.v : s.variant.v * gemvWideElems(s.b));
}

const PARAMS = /* wgsl */ `struct Params {
  M: u32, N: u32, K: u32,
  lda: u32, ldb: u32, ldc: u32,
  offA: u32, offB: u32, offC: u32, offBias: u32, offP: u32,
}`;

/** a: decl, aOne(i) -> f32 (element i) and aFour(i) -> vec4<f32> (elements i..i+3, i % 4 == 0 when wide). */
function aAccess(t: FloatType, wide: boolean): string {
  if (!wide) {
    return `@group(0) @binding(1) var<storage, read> a: array<${t}>;
fn aOne(i: u32) -> f32 { return f32(a[i]); }
fn aFour(i: u32) -> vec4<f32> { return vec4<f32>(f32(a[i]), f32(a[i + 1u]), f32(a[i + 2u]), f32(a[i + 3u])); }`;
  }
  if (t === 'f32') {
    return `@group(0) @binding(1) var<storage, read> a: array<vec4<f32>>;
fn aOne(i: u32) -> f32 { return a[i >> 2u][i & 3u]; }
fn aFour(i: u32) -> vec4<f32> { return a[i >> 2u]; }`;
  }
  return `@group(0) @binding(1) var<storage, read> a: array<vec2<u32>>;
fn aOne(i: u32) -> f32 { return unpack2x16float(a[i >> 2u][(i >> 1u) & 1u])[i & 1u]; }
fn aFour(i: u32) -> vec4<f32> { let w = a[i >> 2u]; return vec4<f32>(unpack2x16float(w.x), unpack2x16float(w.y)); }`;
}

/** b: decl, bOne(i) -> f32, and when wide bWide(i) -> the wide word at element i as vec4s (f32: one, f16: two). */
function bAccess(t: FloatType, wide: boolean): string {
  if (!wide) return `@group(0) @binding(2) var<storage, read> b: array<${t}>;\nfn bOne(i: u32) -> f32 { return f32(b[i]); }`;
  if (t === 'f32') {
    return `@group(0) @binding(2) var<storage, read> b: array<vec4<f32>>;
fn bOne(i: u32) -> f32 { return b[i >> 2u][i & 3u]; }`;
  }
  return `@group(0) @binding(2) var<storage, read> b: array<vec4<u32>>;
fn bOne(i: u32) -> f32 { return unpack2x16float(b[i >> 3u][(i >> 1u) & 3u])[i & 1u]; }`;
}

function header(s: GemvSpec): string {
  const anyF16 = [s.a, s.b, s.out, s.bias, s.act?.preact].includes('f16');
  return [
    anyF16 ? 'enable f16;' : '',
    PARAMS,
    `@group(0) @binding(0) var<storage, read_write> out: array<${s.out}>;`,
    aAccess(s.a, s.wideA),
    bAccess(s.b, s.wideB),
    s.bias ? `@group(0) @binding(3) var<storage, read> bias: array<${s.bias}>;` : '',
    s.act ? `@group(0) @binding(4) var<storage, read_write> preact: array<${s.act.preact}>;` : '',
    `@group(0) @binding(5) var<uniform> params: Params;`,
    s.act ? actWgsl(s.act.fn) : '',
    `fn store(m: u32, n: u32, v: f32) {
  let i = params.offC + m * params.ldc + n;
  var x = v;
  ${s.accumulate ? 'x += f32(out[i]);' : ''}
  ${s.bias ? 'x += f32(bias[params.offBias + n]);' : ''}
  ${s.act ? `preact[params.offP + m * params.ldc + n] = ${s.act.preact}(x);\n  x = act(x);` : ''}
  out[i] = ${s.out}(x);
}`,
  ].filter((l) => l).join('\n');
}

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

/** NN body: lane columns c0.., rows m0..; acc[r*Q + q] holds columns c0+4q..c0+4q+3 of row r. */
function nnBody(s: GemvSpec): string {
  const { mr, v } = s.variant;
  const W = gemvWideElems(s.b), CW = v * W, Q = CW / 4;
  const rows = range(mr);
  const aRow = rows.map((r) => `  let ar${r} = params.offA + min(m0 + ${r}u, params.M - 1u) * params.lda;`).join('\n');
  // one k step of the wide path: load v words of b row k, FMA into every row's accumulators
  const wideStep = (kExpr: string, aOf: (r: number) => string) => {
    const L: string[] = [];
    for (let j = 0; j < v; j++) {
      const idx = `bRow + ${j * W}u`;
      if (s.b === 'f32') L.push(`      let b${j}_0 = b[(${idx}) >> 2u];`);
      else L.push(`      let w${j} = b[(${idx}) >> 3u];`, `      let b${j}_0 = vec4<f32>(unpack2x16float(w${j}.x), unpack2x16float(w${j}.y));`, `      let b${j}_1 = vec4<f32>(unpack2x16float(w${j}.z), unpack2x16float(w${j}.w));`);
    }
    for (const r of rows) for (let q = 0; q < Q; q++) L.push(`      acc[${r * Q + q}] += ${aOf(r)} * b${Math.floor(q / (W / 4))}_${q % (W / 4)};`);
    return `    {\n      let bRow = params.offB + (${kExpr}) * params.ldb + c0;\n${L.join('\n')}\n    }`;
  };
  const widePath = s.wideB
    ? `  if (c0 + ${CW}u <= params.N) {
    let K4 = params.K & ~3u;
    for (var k = 0u; k < K4; k += 4u) {
${rows.map((r) => `      let a${r} = aFour(ar${r} + k);`).join('\n')}
${range(4).map((kk) => wideStep(`k + ${kk}u`, (r) => `a${r}[${kk}]`)).join('\n')}
    }
    for (var k = K4; k < params.K; k++) {
${rows.map((r) => `      let a${r} = aOne(ar${r} + k);`).join('\n')}
${wideStep('k', (r) => `a${r}`)}
    }
    // a loop, not unrolled stores: each inlined store costs lavapipe's compiler seconds
    for (var r = 0u; r < ${mr}u; r++) {
      if (m0 + r >= params.M) { break; }
      for (var c = 0u; c < ${CW}u; c++) { store(m0 + r, c0 + c, acc[r * ${Q}u + (c >> 2u)][c & 3u]); }
    }
    return;
  }`
    : '';
  // scalar path: misaligned b, or the last columns; one column at a time
  const scalarPath = `  for (var c = 0u; c < ${CW}u; c++) {
    let n = c0 + c;
    if (n >= params.N) { break; }
${rows.map((r) => `    var s${r} = 0.0;`).join('\n')}
    for (var k = 0u; k < params.K; k++) {
      let bk = bOne(params.offB + k * params.ldb + n);
${rows.map((r) => `      s${r} += aOne(ar${r} + k) * bk;`).join('\n')}
    }
${rows.map((r) => `    if (m0 + ${r}u < params.M) { store(m0 + ${r}u, n, s${r}); }`).join('\n')}
  }`;
  return `@compute @workgroup_size(${s.variant.wg})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let c0 = (wid.x * ${s.variant.wg}u + lid.x) * ${CW}u;
  let m0 = wid.y * ${mr}u;
  if (c0 >= params.N) { return; }
${aRow}
  var acc: array<vec4<f32>, ${mr * Q}>;
${widePath}
${scalarPath}
}`;
}

/** NT body: lane owns b rows n0..n0+v-1; acc[r*v + j] partial sums (vec4) of row r, column n0+j. */
function ntBody(s: GemvSpec): string {
  const { mr, v } = s.variant;
  const KC = s.wideB ? gemvWideElems(s.b) : 4;
  const rows = range(mr), cols = range(v);
  const L: string[] = [];
  for (const r of rows) {
    L.push(`      let a${r}_0 = aFour(ar${r} + k);`);
    if (KC === 8) L.push(`      let a${r}_1 = aFour(ar${r} + k + 4u);`);
  }
  for (const j of cols) {
    if (!s.wideB) L.push(`      let b${j}_0 = vec4<f32>(bOne(br${j} + k), bOne(br${j} + k + 1u), bOne(br${j} + k + 2u), bOne(br${j} + k + 3u));`);
    else if (s.b === 'f32') L.push(`      let b${j}_0 = b[(br${j} + k) >> 2u];`);
    else L.push(`      let w${j} = b[(br${j} + k) >> 3u];`, `      let b${j}_0 = vec4<f32>(unpack2x16float(w${j}.x), unpack2x16float(w${j}.y));`, `      let b${j}_1 = vec4<f32>(unpack2x16float(w${j}.z), unpack2x16float(w${j}.w));`);
  }
  for (const r of rows) for (const j of cols) for (let h = 0; h < KC / 4; h++) L.push(`      acc[${r * v + j}] += a${r}_${h} * b${j}_${h};`);
  return `@compute @workgroup_size(${s.variant.wg})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let n0 = (wid.x * ${s.variant.wg}u + lid.x) * ${v}u;
  let m0 = wid.y * ${mr}u;
  if (n0 >= params.N) { return; }
${rows.map((r) => `  let ar${r} = params.offA + min(m0 + ${r}u, params.M - 1u) * params.lda;`).join('\n')}
${cols.map((j) => `  let br${j} = params.offB + min(n0 + ${j}u, params.N - 1u) * params.ldb;`).join('\n')}
  var acc: array<vec4<f32>, ${mr * v}>;
  let KC = params.K - params.K % ${KC}u;
  for (var k = 0u; k < KC; k += ${KC}u) {
${L.join('\n')}
  }
${rows.map((r) => cols.map((j) => `  var t${r}_${j} = dot(acc[${r * v + j}], vec4<f32>(1.0));`).join('\n')).join('\n')}
  for (var k = KC; k < params.K; k++) {
${cols.map((j) => `    let bt${j} = bOne(br${j} + k);`).join('\n')}
${rows.map((r) => `    let at${r} = aOne(ar${r} + k);\n${cols.map((j) => `    t${r}_${j} += at${r} * bt${j};`).join('\n')}`).join('\n')}
  }
${rows.map((r) => cols.map((j) => `  if (m0 + ${r}u < params.M && n0 + ${j}u < params.N) { store(m0 + ${r}u, n0 + ${j}u, t${r}_${j}); }`).join('\n')).join('\n')}
}`;
}

export function gemvWgsl(s: GemvSpec): string {
  return `${header(s)}\n${s.transB ? ntBody(s) : nnBody(s)}`;
}
