// WGSL for the GEMM in matmul.ts, generated per compile-time choice: layout (transA, transB),
// storage dtypes, vectorised or scalar loads, bias and activation epilogue, and the kernel variant.
// Sizes, leading dimensions and element offsets travel in the uniform `params`, so one pipeline
// serves every shape.
//
//   out[M,N] (+)= op(a)[M,K] · op(b)[K,N] (+ bias[N])
//   activation forward:  preact = that, out = act(preact)        (preact written)
//   activation backward: out = that ⊙ act'(preact)               (preact read: the saved forward one)
//   a: [M,K] at a[offA + m*lda + k], or [K,M] at a[offA + k*lda + m] with transA
//   b: [K,N] at b[offB + k*ldb + n], or [N,K] at b[offB + n*ldb + k] with transB
//   out, preact: [M,N] at [offC + m*ldc + n] (preact at offP + m*ldc + n)
//
// Two kernel families, one pass each, accumulation always in f32:
//  - 'tiled': the classic GPU GEMM. A workgroup of wx×wy threads owns a (wy·tm)×(wx·tn) block of
//    out; each k-slab of bk is staged through workgroup memory, each thread keeps a tm×tn register
//    tile. The portable default.
//  - 'bcast': no workgroup memory. The lanes of a workgroup row share the same tm rows; each lane
//    owns tn adjacent columns and a tm×tn register tile. With subgroups, each group of 8 lanes
//    loads the A block cooperatively (one vec4 per lane per 8 rows) and hands values around with
//    subgroupBroadcast, so each A element is loaded once per 8 lanes. Made for lavapipe, where
//    every storage or workgroup load inside a loop runs a per-lane scalar loop (~8 instructions
//    per element), a broadcast from a constant lane is 2 instructions, and barriers are coroutine
//    switches: loads per FMA is what counts there.
//
// The k loop steps by 4 and masks k ≥ K (one loop: a separate tail would double the code LLVM
// compiles, which is seconds per pipeline on lavapipe). The register tile leaves through a private
// array in a loop over rows, so the epilogue (accumulate, bias, GELU, store) is a few sites, not
// tm×tn of them.
//
// Loads and stores come in groups of 4 consecutive elements: vectorised (vec4<f32>, or vec2<u32>
// holding 4 f16) when the operand's leading dimension and offset are multiples of 4, otherwise 4
// scalar accesses.
// Edges: row and column indices are clamped so every load is in range, k beyond K is zeroed, and
// stores are bounds-checked, so any shape is correct; tile multiples waste nothing.

export type FloatType = 'f16' | 'f32';

/** A kernel variant: the tiling, chosen per adapter by tuneMatmul. */
export type MatmulVariant =
  /** tm×tn per thread (multiples of 4), wx×wy threads, bk-deep slabs in workgroup memory. */
  | { kind: 'tiled'; tm: number; tn: number; wx: number; wy: number; bk: number }
  /**
   * wx×wy lanes; the wx lanes of a row share tm rows (multiple of 8 with subgroups), each lane owns
   * tn adjacent columns (multiple of 4). With subgroups, wx must be a multiple of the subgroup size
   * so that a subgroup never spans two rows of lanes.
   */
  | { kind: 'bcast'; tm: number; tn: number; wx: number; wy: number; subgroups: boolean; g?: number };

/** Everything that changes the generated code of one GEMM pipeline. */
export interface GemmSpec {
  variant: MatmulVariant;
  transA: boolean;
  transB: boolean;
  /** Load a (b) as vec4 / vec2<u32> words: leading dimension and offset are multiples of 4. */
  vecA: boolean;
  vecB: boolean;
  /** out (and preact) as vec4 / vec2<u32> words: ldc and both offsets are multiples of 4. */
  vecOut: boolean;
  /** out += product (read-modify-write) instead of out = product. */
  accumulate: boolean;
  a: FloatType;
  b: FloatType;
  out: FloatType;
  bias: FloatType | null;
  /** Activation epilogue: which function, preact's dtype, and forward (write preact, out = act) or backward (out ⊙= act'(preact)). */
  act: ActSpec | null;
  /** Low-rank epilogue (LoRA, see lowRankWgsl below): dtypes of u and e, or absent. */
  lowRank?: { u: FloatType; e: FloatType } | null;
}

/** What the epilogue (store4) depends on; qmatmul.ts's kernels share it. */
export type EpilogueSpec = Pick<GemmSpec, 'vecOut' | 'accumulate' | 'bias' | 'act' | 'lowRank'>;

/** The activation functions of the epilogue: 'tanh' = GPT-2's gelu_new / gelu_pytorch_tanh, 'erf' = exact GELU. */
export type ActFn = 'tanh' | 'erf' | 'relu' | 'silu';

export interface ActSpec {
  fn: ActFn;
  preact: FloatType;
  backward: boolean;
}

export function variantName(v: MatmulVariant): string {
  return v.kind === 'tiled'
    ? `tiled${v.tm}x${v.tn}_${v.wx}x${v.wy}_k${v.bk}`
    : `bcast${v.tm}x${v.tn}_${v.wx}x${v.wy}${v.subgroups ? `_sg${(v.g ?? 8) === 8 ? '' : v.g}` : ''}`;
}

export function specName(s: GemmSpec): string {
  const layout = `${s.transA ? 'T' : 'N'}${s.transB ? 'T' : 'N'}`;
  const act = s.act ? `_${s.act.backward ? 'd' : ''}${s.act.fn === 'tanh' ? 'gelu' : s.act.fn}${s.act.preact}` : '';
  const types = `${s.a}${s.b}_${s.out}${s.bias ? `_bias${s.bias}` : ''}${act}`;
  const vec = `${s.vecA ? 'v' : 's'}${s.vecB ? 'v' : 's'}${s.vecOut ? 'v' : 's'}`;
  const lowRank = s.lowRank ? `_lr${s.lowRank.u}${s.lowRank.e}` : '';
  return `gemm_${layout}_${variantName(s.variant)}_${vec}_${types}${lowRank}${s.accumulate ? '_acc' : ''}`;
}

/**
 * act(x) and act'(x) in f32 for the epilogue. Written without tanh and with clamped exp arguments
 * (as gelu.ts): 0.5 (1 + tanh(u)) = 1 / (1 + exp(-2u)) stays accurate where tanh(u) is near -1,
 * and sech²(u) = 4 s (1 - s) with s that value.
 */
export const ACT_WGSL: Record<ActFn, string> = {
  tanh: /* wgsl */ `
fn geluS(x: f32) -> f32 { return 1.0 / (1.0 + exp(-2.0 * clamp(0.7978845608028654 * (x + 0.044715 * x * x * x), -40.0, 40.0))); }
fn act(x: f32) -> f32 { return x * geluS(x); }
fn dact(x: f32) -> f32 {
  let s = geluS(x);
  let xc = clamp(x, -1e4, 1e4); // past that the second term is 0 anyway; keeps x² finite
  return s + 2.0 * xc * s * (1.0 - s) * 0.7978845608028654 * (1.0 + 0.134145 * xc * xc);
}`,
  // x Φ(x), Φ(x) = (1 + erf(x/√2)) / 2. erf by Abramowitz & Stegun 7.1.26 (|error| ≤ 1.5e-7).
  erf: /* wgsl */ `
fn erfAS(z: f32) -> f32 {
  let a = abs(z);
  let t = 1.0 / (1.0 + 0.3275911 * a);
  let p = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
  return sign(z) * (1.0 - p * exp(-min(a * a, 80.0)));
}
fn phi(x: f32) -> f32 { return 0.5 * (1.0 + erfAS(0.7071067811865476 * x)); }
fn act(x: f32) -> f32 { return x * phi(x); }
fn dact(x: f32) -> f32 { return phi(x) + x * 0.3989422804014327 * exp(-0.5 * min(x * x, 160.0)); }`,
  relu: /* wgsl */ `
fn act(x: f32) -> f32 { return max(x, 0.0); }
fn dact(x: f32) -> f32 { return select(0.0, 1.0, x > 0.0); }`,
  silu: /* wgsl */ `
fn sigm(x: f32) -> f32 { return 1.0 / (1.0 + exp(-clamp(x, -80.0, 80.0))); }
fn act(x: f32) -> f32 { return x * sigm(x); }
fn dact(x: f32) -> f32 { let s = sigm(x); return s * (1.0 + x * (1.0 - s)); }`,
};

const PARAMS = /* wgsl */ `struct Params {
  M: u32, N: u32, K: u32,
  lda: u32, ldb: u32, ldc: u32,
  offA: u32, offB: u32, offC: u32, offBias: u32, offP: u32,
}`;

/** The array element type of an operand and a WGSL function returning 4 consecutive values from element i. */
export function loader(name: string, fn: string, type: FloatType, vec: boolean): { decl: string; fn: string } {
  if (vec && type === 'f32') {
    return {
      decl: `array<vec4<f32>>`,
      fn: `fn ${fn}(i: u32) -> vec4<f32> { return ${name}[i >> 2u]; }`,
    };
  }
  if (vec) {
    // 4 halves as two u32 words: half the per-element loads of array<vec4<f16>>.
    return {
      decl: `array<vec2<u32>>`,
      fn: `fn ${fn}(i: u32) -> vec4<f32> { let w = ${name}[i >> 2u]; return vec4<f32>(unpack2x16float(w.x), unpack2x16float(w.y)); }`,
    };
  }
  return {
    decl: `array<${type}>`,
    fn: `fn ${fn}(i: u32) -> vec4<f32> { return vec4<f32>(f32(${name}[i]), f32(${name}[i + 1u]), f32(${name}[i + 2u]), f32(${name}[i + 3u])); }`,
  };
}

/**
 * Element access to a writable [M,N] operand: `read(i)` and `write(i, v)` of element i, and for
 * vectorised operands `read4(i)` / `write4(i, v)` of the 4 elements from i (i % 4 == 0).
 * f16 vectorised: vec2<u32> words of two halves; a single element is a read-modify-write of its
 * word, which is safe because each lane owns whole groups of 4 columns.
 */
export function writable(name: string, binding: number, type: FloatType, vec: boolean): string {
  const decl = (t: string) => `@group(0) @binding(${binding}) var<storage, read_write> ${name}: array<${t}>;`;
  if (!vec) {
    return `${decl(type)}
fn ${name}Read(i: u32) -> f32 { return f32(${name}[i]); }
fn ${name}Write(i: u32, v: f32) { ${name}[i] = ${type}(v); }`;
  }
  if (type === 'f32') {
    return `${decl('vec4<f32>')}
fn ${name}Read(i: u32) -> f32 { return ${name}[i >> 2u][i & 3u]; }
fn ${name}Write(i: u32, v: f32) { ${name}[i >> 2u][i & 3u] = v; }
fn ${name}Read4(i: u32) -> vec4<f32> { return ${name}[i >> 2u]; }
fn ${name}Write4(i: u32, v: vec4<f32>) { ${name}[i >> 2u] = v; }`;
  }
  return `${decl('vec2<u32>')}
fn ${name}Read(i: u32) -> f32 { return unpack2x16float(${name}[i >> 2u][(i >> 1u) & 1u])[i & 1u]; }
fn ${name}Write(i: u32, v: f32) {
  var pair = unpack2x16float(${name}[i >> 2u][(i >> 1u) & 1u]);
  pair[i & 1u] = v;
  ${name}[i >> 2u][(i >> 1u) & 1u] = pack2x16float(pair);
}
fn ${name}Read4(i: u32) -> vec4<f32> { let w = ${name}[i >> 2u]; return vec4<f32>(unpack2x16float(w.x), unpack2x16float(w.y)); }
fn ${name}Write4(i: u32, v: vec4<f32>) { ${name}[i >> 2u] = vec2<u32>(pack2x16float(v.xy), pack2x16float(v.zw)); }`;
}

/** Read-only element access to an [M,N] operand laid out like out: `read(i)`, and `read4(i)` when vectorised. */
export function readable(name: string, binding: number, type: FloatType, vec: boolean): string {
  const decl = (t: string) => `@group(0) @binding(${binding}) var<storage, read> ${name}: array<${t}>;`;
  if (!vec) return `${decl(type)}\nfn ${name}Read(i: u32) -> f32 { return f32(${name}[i]); }`;
  const l = loader(name, `${name}Read4`, type, true);
  const one = type === 'f32' ? `${name}[i >> 2u][i & 3u]` : `unpack2x16float(${name}[i >> 2u][(i >> 1u) & 1u])[i & 1u]`;
  return `@group(0) @binding(${binding}) var<storage, read> ${name}: ${l.decl};
fn ${name}Read(i: u32) -> f32 { return ${one}; }
${l.fn}`;
}

function header(s: GemmSpec, subgroups: boolean): string {
  const anyF16 = [s.a, s.b, s.out, s.bias, s.act?.preact, s.lowRank?.u, s.lowRank?.e].includes('f16');
  const la = loader('a', 'loadA4', s.a, s.vecA);
  const lb = loader('b', 'loadB4', s.b, s.vecB);
  const lines = [
    anyF16 ? 'enable f16;' : '',
    subgroups ? 'enable subgroups;' : '',
    PARAMS,
    writable('out', 0, s.out, s.vecOut),
    `@group(0) @binding(1) var<storage, read> a: ${la.decl};`,
    `@group(0) @binding(2) var<storage, read> b: ${lb.decl};`,
    s.bias ? `@group(0) @binding(3) var<storage, read> bias: array<${s.bias}>;` : '',
    s.act ? (s.act.backward ? readable('preact', 4, s.act.preact, s.vecOut) : writable('preact', 4, s.act.preact, s.vecOut)) : '',
    `@group(0) @binding(5) var<uniform> params: Params;`,
    la.fn,
    lb.fn,
    s.act ? ACT_WGSL[s.act.fn] : '',
    s.lowRank ? lowRankWgsl(s.lowRank.u, s.lowRank.e) : '',
    epilogueFn(s),
  ];
  return lines.filter((l) => l).join('\n');
}

/**
 * store4(m, n, v, b4): out[m, n..n+3] (+)= v (+ b4, the bias of those columns, loaded once per tile), through the activation (forward) or times its
 * derivative at preact (backward) when on. Columns past N are dropped; a whole in-range group is
 * one vector access when the output is vectorised.
 */
export function epilogueFn(s: EpilogueSpec): string {
  const fwd = s.act && !s.act.backward, bwd = s.act?.backward;
  const one = (x: string, i: string, c: string) =>
    [
      s.accumulate ? `${x} += outRead(${i});` : '',
      s.bias ? `${x} += b4[${c}];` : '',
      fwd ? `preactWrite(params.offP + (${i} - params.offC), ${x});\n      ${x} = act(${x});` : '',
      bwd ? `${x} *= dact(preactRead(params.offP + (${i} - params.offC)));` : '',
      `outWrite(${i}, ${x});`,
    ].filter((l) => l).join('\n      ');
  const whole = s.vecOut
    ? `if (n + 3u < params.N) {
    var x = v;
    ${s.accumulate ? 'x += outRead4(i);' : ''}
    ${s.bias ? 'x += b4;' : ''}
    ${fwd ? 'preactWrite4(params.offP + (i - params.offC), x);\n    x = vec4<f32>(act(x.x), act(x.y), act(x.z), act(x.w));' : ''}
    ${bwd ? 'let p = preactRead4(params.offP + (i - params.offC));\n    x *= vec4<f32>(dact(p.x), dact(p.y), dact(p.z), dact(p.w));' : ''}
    outWrite4(i, x);
    return;
  }`
    : '';
  return /* wgsl */ `
fn store4(m: u32, n: u32, product: vec4<f32>, b4: vec4<f32>) {
  if (m >= params.M || n >= params.N) { return; }
  let v = product${s.lowRank ? ' + lowRank4(m, n)' : ''};
  let i = params.offC + m * params.ldc + n;
  ${whole}
  for (var c = 0u; c < 4u; c++) {
    if (n + c < params.N) {
      var x = v[c];
      ${one('x', 'i + c', 'c')}
    }
  }
}`;
}

// ------------------------------------------------------------------------------------------------
// Low-rank epilogue (LoRA, src/kernels/lora.ts): before accumulate / bias / GELU each output gets
//   out[m, n] += Σ_{j<r} u[offU + m*ldu + j] · e[offE + n*sn + j*sj]
// u is [M, r] (r small: the adapter rank), e an [N, r] operand with strides (sn, sj), so both
// B [out, r] (sn = r, sj = 1) and Aᵀ of A [r, in] (sn = 1, sj = in) fit. r·(1 + 4) loads per group
// of 4 outputs: no extra pass over out.

export function lowRankWgsl(u: FloatType, e: FloatType): string {
  return /* wgsl */ `
struct LowRank { r: u32, ldu: u32, sn: u32, sj: u32, offU: u32, offE: u32 }
@group(0) @binding(6) var<storage, read> lowRankU: array<${u}>;
@group(0) @binding(7) var<storage, read> lowRankE: array<${e}>;
@group(0) @binding(8) var<uniform> lowRank: LowRank;
fn lowRank4(m: u32, n: u32) -> vec4<f32> {
  let last = params.N - 1u;
  let col = vec4<u32>(min(n, last), min(n + 1u, last), min(n + 2u, last), min(n + 3u, last)) * lowRank.sn + lowRank.offE;
  let row = lowRank.offU + m * lowRank.ldu;
  var acc = vec4<f32>();
  for (var j = 0u; j < lowRank.r; j++) {
    let o = j * lowRank.sj;
    acc = fma(vec4<f32>(f32(lowRankU[row + j])), vec4<f32>(f32(lowRankE[col.x + o]), f32(lowRankE[col.y + o]), f32(lowRankE[col.z + o]), f32(lowRankE[col.w + o])), acc);
  }
  return acc;
}
`;
}

const C4 = ['x', 'y', 'z', 'w'];

/**
 * Store a thread's tm×tn register tile (acc{i}_{j}: vec4 over 4 columns) at rows m.., columns n..
 * The tile goes through a private array and a loop over rows, so the epilogue is tn/4 store sites:
 * unrolled tm×tn times, its per-element accesses were most of LLVM's compile time on lavapipe.
 */
export function tileEpilogue(TM: number, TN: number, m: string, n: string, bias: boolean): string {
  const J4 = TN / 4;
  const L: string[] = [`  var tile: array<vec4<f32>, ${TM * J4}>;`];
  for (let i = 0; i < TM; i++) for (let j = 0; j < J4; j++) L.push(`  tile[${i * J4 + j}] = acc${i}_${j};`);
  L.push(`  let mt = ${m}; let nt = ${n};`);
  // The bias of each group of 4 columns, loaded once for all rows (clamped in range; columns past N are dropped by store4).
  for (let j = 0; j < J4; j++) {
    L.push(bias
      ? `  let bias${j} = vec4<f32>(${[0, 1, 2, 3].map((c) => `f32(bias[params.offBias + min(nt + ${4 * j + c}u, params.N - 1u)])`).join(', ')});`
      : `  let bias${j} = vec4<f32>();`);
  }
  L.push(`  for (var i = 0u; i < ${TM}u; i++) {`);
  for (let j = 0; j < J4; j++) {
    L.push(`    store4(mt + i, nt + ${4 * j}u, tile[i * ${J4}u + ${j}u], bias${j});`);
  }
  L.push('  }');
  return L.join('\n');
}

// ------------------------------------------------------------------------------------------------
// 'bcast': rows shared by each row of lanes, register tile per lane, no workgroup memory.

function bcastKernel(s: GemmSpec): string {
  const v = s.variant;
  if (v.kind !== 'bcast') throw new Error('bcastKernel: wrong variant');
  const { tm: TM, tn: TN, wx: WX, wy: WY, subgroups: SG } = v;
  const G = v.g ?? 8; // lanes that share the A block: 8, or 16 where subgroups have 16 lanes
  const R = TM / G; // A vec4 loads per lane per k-block with subgroups
  const J4 = TN / 4;
  const L: string[] = [];
  L.push(header(s, SG));
  L.push(`
@compute @workgroup_size(${WX}, ${WY})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u${SG ? ', @builtin(subgroup_invocation_id) sid: u32' : ''}) {
  let M = params.M; let N = params.N; let K = params.K;
  let lda = params.lda; let ldb = params.ldb;
  let m0 = (wid.y * ${WY}u + lid.y) * ${TM}u; // this row of lanes' first row
  let n0 = (wid.x * ${WX}u + lid.x) * ${TN}u; // this lane's first column`);

  // A addressing. With subgroups lane s of each group of 8 loads a share of the block; without,
  // every lane loads the whole block itself.
  if (SG) {
    L.push(`  let s = sid % ${G}u;`);
    if (!s.transA) {
      for (let r = 0; r < R; r++) L.push(`  let rowA${r} = params.offA + min(m0 + ${G * r}u + s, M - 1u) * lda;`);
    } else {
      // lane s loads rows m0 + G·r + 4(s % (G/4)) .. +3 at k + s / (G/4)
      L.push(`  let kq = s / ${G / 4}u;`);
      for (let r = 0; r < R; r++) L.push(`  let colA${r} = params.offA + min(m0 + ${G * r}u + 4u * (s % ${G / 4}u), (M - 1u) & ~3u);`);
    }
  } else if (!s.transA) {
    for (let i = 0; i < TM; i++) L.push(`  let rowA${i} = params.offA + min(m0 + ${i}u, M - 1u) * lda;`);
  }
  // B addressing
  if (!s.transB) {
    // 4 adjacent columns per load; clamped (to a multiple of 4) so loads stay in range.
    for (let j = 0; j < J4; j++) L.push(`  let colB${j} = params.offB + min(n0 + ${4 * j}u, (N - 1u) & ~3u);`);
  } else {
    for (let j = 0; j < TN; j++) L.push(`  let rowB${j} = params.offB + min(n0 + ${j}u, N - 1u) * ldb;`);
  }
  for (let i = 0; i < TM; i++) for (let j = 0; j < J4; j++) L.push(`  var acc${i}_${j} = vec4<f32>();`);

  const body = (): string => {
    const B: string[] = [];
    // k beyond K reads a clamped, in-range element and is zeroed here
    B.push(`    let km = vec4<bool>(k < K, k + 1u < K, k + 2u < K, k + 3u < K);`);
    // ---- A block: value (i, kk) = A[m0 + i, k + kk]
    const aval: string[][] = []; // aval[i][kk] expression
    if (SG && !s.transA) {
      for (let r = 0; r < R; r++) {
        B.push(`    let av${r} = select(vec4<f32>(), loadA4(rowA${r} + k), km);`);
      }
      for (let i = 0; i < TM; i++) aval.push([0, 1, 2, 3].map((kk) => `subgroupBroadcast(av${Math.floor(i / G)}.${C4[kk]}, ${i % G}u)`));
    } else if (SG && s.transA) {
      B.push(`    let kA = k + kq;`);
      for (let r = 0; r < R; r++) {
        B.push(`    let av${r} = select(vec4<f32>(), loadA4(colA${r} + min(kA, K - 1u) * lda), kA < K);`);
      }
      // row i = G·r + 4h + c sits in lane (G/4)·kk + h, component c
      for (let i = 0; i < TM; i++) {
        const r = Math.floor(i / G), h = (i % G) >> 2, c = i % 4;
        aval.push([0, 1, 2, 3].map((kk) => `subgroupBroadcast(av${r}.${C4[c]}, ${(G / 4) * kk + h}u)`));
      }
    } else if (!s.transA) {
      for (let i = 0; i < TM; i++) {
        B.push(`    let av${i} = select(vec4<f32>(), loadA4(rowA${i} + k), km);`);
        aval.push([0, 1, 2, 3].map((kk) => `av${i}.${C4[kk]}`));
      }
    } else {
      // transA without subgroups: rows are contiguous, one vec4 per 4 rows and k
      for (let kk = 0; kk < 4; kk++) {
        const kr = `min(k + ${kk}u, K - 1u)`;
        for (let q = 0; q < TM / 4; q++) {
          const ld = `loadA4(params.offA + (${kr}) * lda + min(m0 + ${4 * q}u, (M - 1u) & ~3u))`;
          B.push(`    let at${kk}_${q} = select(vec4<f32>(), ${ld}, km.${C4[kk]});`);
        }
      }
      for (let i = 0; i < TM; i++) aval.push([0, 1, 2, 3].map((kk) => `at${kk}_${i >> 2}.${C4[i % 4]}`));
    }
    // ---- B block: bval[kk][j4] = vec4 of B[k + kk, n0 + 4j4 .. +3]
    const bval: string[][] = [];
    if (!s.transB) {
      for (let kk = 0; kk < 4; kk++) {
        const kr = `min(k + ${kk}u, K - 1u)`;
        bval.push([]);
        for (let j = 0; j < J4; j++) {
          const ld = `loadB4(colB${j} + (${kr}) * ldb)`;
          B.push(`    let bv${kk}_${j} = select(vec4<f32>(), ${ld}, km.${C4[kk]});`);
          bval[kk]!.push(`bv${kk}_${j}`);
        }
      }
    } else {
      // each lane's column j: 4 consecutive k at once
      for (let j = 0; j < TN; j++) {
        const ld = `loadB4(rowB${j} + k)`;
        B.push(`    let bt${j} = select(vec4<f32>(), ${ld}, km);`);
      }
      for (let kk = 0; kk < 4; kk++) {
        bval.push([]);
        for (let j = 0; j < J4; j++) {
          bval[kk]!.push(`vec4<f32>(${[0, 1, 2, 3].map((c) => `bt${4 * j + c}.${C4[kk]}`).join(', ')})`);
        }
      }
    }
    // ---- FMAs
    for (let i = 0; i < TM; i++) {
      for (let kk = 0; kk < 4; kk++) {
        B.push(`    { let x = ${aval[i]![kk]};`);
        for (let j = 0; j < J4; j++) B.push(`      acc${i}_${j} = fma(vec4<f32>(x), ${bval[kk]![j]}, acc${i}_${j});`);
        B.push('    }');
      }
    }
    return B.join('\n');
  };

  // One loop, masked every iteration: a separate unmasked main loop plus a masked tail would be
  // ~2% faster on lavapipe but doubles the code LLVM has to compile (seconds per pipeline there).
  L.push(`  for (var k = 0u; k < K; k += 4u) {
${body()}
  }`);
  L.push(tileEpilogue(TM, TN, 'm0', 'n0', !!s.bias));
  L.push('}');
  return L.join('\n');
}

// ------------------------------------------------------------------------------------------------
// 'tiled': workgroup-memory tiling, tm×tn register tile per thread.

function tiledKernel(s: GemmSpec): string {
  const v = s.variant;
  if (v.kind !== 'tiled') throw new Error('tiledKernel: wrong variant');
  const { tm: TM, tn: TN, wx: WX, wy: WY, bk: BK } = v;
  const BM = WY * TM, BN = WX * TN, T = WX * WY;
  const BM4 = BM / 4, BN4 = BN / 4, BK4 = BK / 4;
  // Slab loads: groups of 4 along the operand's contiguous dimension.
  const loadsA = (BM * BK) / 4 / T, loadsB = (BN * BK) / 4 / T;
  if (!Number.isInteger(loadsA) || !Number.isInteger(loadsB)) throw new Error(`tiled variant ${variantName(v)}: slab not divisible by threads`);
  const L: string[] = [];
  L.push(header(s, false));
  L.push(`
// Slabs in workgroup memory, k-major: As[kk][m], Bs[kk][n], as vec4 along m and n.
var<workgroup> As: array<vec4<f32>, ${BK * BM4}>;
var<workgroup> Bs: array<vec4<f32>, ${BK * BN4}>;

@compute @workgroup_size(${WX}, ${WY})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid3: vec3u, @builtin(local_invocation_index) t: u32) {
  let M = params.M; let N = params.N; let K = params.K;
  let lda = params.lda; let ldb = params.ldb;
  let m0 = wid.y * ${BM}u;
  let n0 = wid.x * ${BN}u;
  let tx = lid3.x; let ty = lid3.y;`);
  for (let i = 0; i < TM; i++) for (let j = 0; j < TN / 4; j++) L.push(`  var acc${i}_${j} = vec4<f32>();`);
  L.push(`  for (var k0 = 0u; k0 < K; k0 += ${BK}u) {`);
  // ---- A slab
  for (let l = 0; l < loadsA; l++) {
    L.push(`    {
      let e = t + ${l * T}u;`);
    if (!s.transA) {
      // 4 consecutive k of one row, stored transposed
      L.push(`      let r = e / ${BK4}u; let kq = (e % ${BK4}u) * 4u;
      let kk = k0 + kq;
      let v = select(vec4<f32>(), loadA4(params.offA + min(m0 + r, M - 1u) * lda + min(kk, K - 1u)),
                     vec4<bool>(kk < K, kk + 1u < K, kk + 2u < K, kk + 3u < K));
      As[kq * ${BM4}u + r / 4u][r % 4u] = v.x;
      As[(kq + 1u) * ${BM4}u + r / 4u][r % 4u] = v.y;
      As[(kq + 2u) * ${BM4}u + r / 4u][r % 4u] = v.z;
      As[(kq + 3u) * ${BM4}u + r / 4u][r % 4u] = v.w;`);
    } else {
      // 4 consecutive m of one k
      L.push(`      let kq = e / ${BM4}u; let r4 = e % ${BM4}u;
      let kk = k0 + kq;
      As[kq * ${BM4}u + r4] = select(vec4<f32>(), loadA4(params.offA + min(kk, K - 1u) * lda + min(m0 + r4 * 4u, (M - 1u) & ~3u)), kk < K);`);
    }
    L.push('    }');
  }
  // ---- B slab
  for (let l = 0; l < loadsB; l++) {
    L.push(`    {
      let e = t + ${l * T}u;`);
    if (!s.transB) {
      L.push(`      let kq = e / ${BN4}u; let c4 = e % ${BN4}u;
      let kk = k0 + kq;
      Bs[kq * ${BN4}u + c4] = select(vec4<f32>(), loadB4(params.offB + min(kk, K - 1u) * ldb + min(n0 + c4 * 4u, (N - 1u) & ~3u)), kk < K);`);
    } else {
      L.push(`      let c = e / ${BK4}u; let kq = (e % ${BK4}u) * 4u;
      let kk = k0 + kq;
      let v = select(vec4<f32>(), loadB4(params.offB + min(n0 + c, N - 1u) * ldb + min(kk, K - 1u)),
                     vec4<bool>(kk < K, kk + 1u < K, kk + 2u < K, kk + 3u < K));
      Bs[kq * ${BN4}u + c / 4u][c % 4u] = v.x;
      Bs[(kq + 1u) * ${BN4}u + c / 4u][c % 4u] = v.y;
      Bs[(kq + 2u) * ${BN4}u + c / 4u][c % 4u] = v.z;
      Bs[(kq + 3u) * ${BN4}u + c / 4u][c % 4u] = v.w;`);
    }
    L.push('    }');
  }
  // ---- compute: this thread's rows ty*TM.., columns tx*TN..
  L.push(`    workgroupBarrier();
    for (var kk = 0u; kk < ${BK}u; kk++) {`);
  for (let q = 0; q < TM / 4; q++) L.push(`      let a${q} = As[kk * ${BM4}u + ty * ${TM / 4}u + ${q}u];`);
  for (let j = 0; j < TN / 4; j++) L.push(`      let b${j} = Bs[kk * ${BN4}u + tx * ${TN / 4}u + ${j}u];`);
  for (let i = 0; i < TM; i++) {
    for (let j = 0; j < TN / 4; j++) L.push(`      acc${i}_${j} = fma(vec4<f32>(a${i >> 2}.${C4[i % 4]}), b${j}, acc${i}_${j});`);
  }
  L.push(`    }
    workgroupBarrier();
  }`);
  L.push(tileEpilogue(TM, TN, `m0 + ty * ${TM}u`, `n0 + tx * ${TN}u`, !!s.bias));
  L.push('}');
  return L.join('\n');
}

export function gemmWgsl(s: GemmSpec): string {
  return s.variant.kind === 'tiled' ? tiledKernel(s) : bcastKernel(s);
}

/** Workgroups for an M×N output. */
export function gemmGrid(v: MatmulVariant, M: number, N: number): [number, number] {
  if (v.kind === 'tiled') return [Math.ceil(N / (v.wx * v.tn)), Math.ceil(M / (v.wy * v.tm))];
  return [Math.ceil(N / (v.wx * v.tn)), Math.ceil(M / (v.wy * v.tm))];
}

/** Rows of out one workgroup row covers (the unit for splitting M across dispatches). */
export function rowsPerWorkgroup(v: MatmulVariant): number {
  return v.wy * v.tm;
}

// ------------------------------------------------------------------------------------------------
// biasBackward: dbias[n] += Σ_m dout[offD + m*ldd + n] in a fixed order, one pass.
// A workgroup owns 4·BX columns (one vec4 group per x-thread); its BY y-threads each sum rows
// y, y+BY, y+2·BY, ... in order, then a fixed tree over y combines them.

export const BIAS_BX = 16;
export const BIAS_BY = 16;

export function biasBackwardWgsl(dbias: FloatType, dout: FloatType, vec: boolean): string {
  const ld = loader('dout', 'loadD4', dout, vec);
  return /* wgsl */ `${dbias === 'f16' || dout === 'f16' ? 'enable f16;' : ''}
struct Params { M: u32, N: u32, ldd: u32, offD: u32, offBias: u32 }
@group(0) @binding(0) var<storage, read_write> dbias: array<${dbias}>;
@group(0) @binding(1) var<storage, read> dout: ${ld.decl};
@group(0) @binding(2) var<uniform> params: Params;
${ld.fn}
var<workgroup> partial: array<vec4<f32>, ${BIAS_BX * BIAS_BY}>;

@compute @workgroup_size(${BIAS_BX}, ${BIAS_BY})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let n = (wid.x * ${BIAS_BX}u + lid.x) * 4u;
  let nc = min(n, (params.N - 1u) & ~3u); // in range; columns past N are dropped at the end
  var sum = vec4<f32>();
  for (var m = lid.y; m < params.M; m += ${BIAS_BY}u) {
    sum += loadD4(params.offD + m * params.ldd + nc);
  }
  partial[lid.y * ${BIAS_BX}u + lid.x] = sum;
  workgroupBarrier();
  for (var half = ${BIAS_BY / 2}u; half > 0u; half /= 2u) {
    if (lid.y < half) {
      partial[lid.y * ${BIAS_BX}u + lid.x] += partial[(lid.y + half) * ${BIAS_BX}u + lid.x];
    }
    workgroupBarrier();
  }
  if (lid.y == 0u) {
    let total = partial[lid.x];
    for (var c = 0u; c < 4u; c++) {
      if (n + c < params.N) {
        let i = params.offBias + n + c;
        dbias[i] = ${dbias}(f32(dbias[i]) + total[c]);
      }
    }
  }
}
`;
}

/** act(x) and dact(x) in WGSL, for other kernels with the same epilogue (gemv.ts). */
export function actWgsl(fn: ActFn): string {
  return ACT_WGSL[fn];
}
