// The one place that owns the WebGPU device: adapter selection, the pipeline cache (keyed by
// source), bind group and uniform caches, command recording, readback and the profiler.
// Kernel modules never touch raw WebGPU: they describe kernels as data and call `Step.dispatch`.

import { BindingError, DeviceLostError, GPUInitError, GPUValidationError, MQGError, DisposedError } from '../util/errors';
import { type BindingInfo, type KernelLayout, type KernelSource, dtypeMatches, packUniform, reflectKernel } from './kernel';
import { type DType, DTYPE_BYTES, Tensor, alignUp } from './tensor';
import { f16ToFloat32Array, float32ToF16Array } from '../util/f16';

/** Storage precision of weights and activations: `f16` (f32 accumulation and master weights) or `f32`. */
export type Precision = 'f16' | 'f32';

// `Symbol.dispose` where the runtime predates explicit resource management (Node < 20.4, older
// browsers), and in the types where the consumer's `lib` lacks it (as @types/node declares it).
(Symbol as { dispose?: symbol }).dispose ??= Symbol.for('Symbol.dispose');
declare global {
  interface SymbolConstructor {
    readonly dispose: unique symbol;
  }
}

/**
 * Options of {@link createGPU}. Every field is optional.
 */
export interface CreateGPUOptions {
  /** Storage precision. Default `'auto'`: f16 storage where the adapter has `shader-f16`, else f32. */
  precision?: 'auto' | Precision;
  /**
   * Adopt this device instead of requesting one (e.g. to share it with TensorFlow.js or a renderer).
   * It is checked against what the library needs ({@link REQUIRED_LIMITS}; `shader-f16` for
   * precision `'f16'`); `'auto'` uses f16 only if the device was created with `shader-f16`.
   * Features are used where the device has them (`shader-f16`, `subgroups`, `timestamp-query`), and
   * larger `maxStorageBufferBindingSize` / `maxBufferSize` limits let larger models fit, so request
   * the adapter's limits when you create it. `destroy()` then releases the library's resources but
   * leaves the device to its owner. Default: none (a device is requested from `gpu`).
   */
  device?: GPUDevice;
  /** The adapter `device` came from (for its name and info); optional with `device`. */
  adapter?: GPUAdapter;
  /** A `navigator.gpu`-like object. Default: the browser's `navigator.gpu`, or Dawn in Node. */
  gpu?: GPU;
  /** Passed to `requestAdapter`. Default: the implementation's choice. */
  powerPreference?: GPUPowerPreference;
  /** Record GPU timestamps per kernel (needs `timestamp-query`). Default false. */
  profile?: boolean;
  /** Directory (Node) or callback that receives every kernel's WGSL. Default: `$MQG_DUMP_WGSL` in Node, else none. */
  dumpWgsl?: string | ((name: string, code: string) => void);
  /**
   * One compute pass per dispatch, labelled with the kernel (default: only when profiling, or with
   * $MQG_PASS_PER_DISPATCH=1). Otherwise consecutive dispatches share one pass, which costs less
   * CPU to record; WebGPU orders the dispatches of a pass the same way.
   */
  passPerDispatch?: boolean;
}

/** What the adapter reports about itself (see `mqg doctor`). */
export interface AdapterSummary {
  /** GPUAdapterInfo.vendor (empty where the implementation hides it). */
  vendor: string;
  /** GPUAdapterInfo.architecture. */
  architecture: string;
  /** GPUAdapterInfo.device. */
  device: string;
  /** GPUAdapterInfo.description. */
  description: string;
  /** Every feature the adapter offers, sorted (the device enables those the library uses). */
  features: string[];
  /** The adapter's limits, for each limit the device reports. */
  limits: Record<string, number>;
}

type GPUProvider = () => Promise<GPU>;
type WgslDumper = (dir: string, name: string, code: string) => void;

let defaultProvider: GPUProvider | undefined;
let fileDumper: WgslDumper | undefined;
let platformHint = 'This needs a browser with WebGPU (navigator.gpu), or Node.js with the package\'s Node entry (which opens Dawn).';

/**
 * Set by the Node entries: opens Dawn, writes dumped WGSL files, and says how to fix a missing
 * adapter where it runs. Browsers use navigator.gpu. Internal: not exported from the package.
 */
export function registerPlatform(provider: GPUProvider, dumper?: WgslDumper, hint?: string): void {
  defaultProvider = provider;
  fileDumper = dumper;
  if (hint) platformHint = hint;
}

/** The hint that follows "no WebGPU adapter" errors, for the platform this runs on. */
export function setupHint(): string {
  return platformHint;
}

/**
 * Limits the kernels need at least (the WebGPU defaults). A device given to `createGPU({ device })`
 * with less is refused, naming the limit.
 */
export const REQUIRED_LIMITS: Readonly<Record<string, number>> = {
  maxStorageBuffersPerShaderStage: 8,
  maxComputeWorkgroupStorageSize: 16384,
  maxComputeInvocationsPerWorkgroup: 256,
  maxComputeWorkgroupSizeX: 256,
  maxStorageBufferBindingSize: 128 * 2 ** 20,
};

/** Values per writeBuffer of a large f16 upload (2 MiB of f16, an even count so every chunk but the last is 4-byte sized). */
const F16_UPLOAD_CHUNK = 1 << 20;

const WANTED_FEATURES: GPUFeatureName[] = ['shader-f16', 'subgroups' as GPUFeatureName, 'timestamp-query'];
const RAISED_LIMITS = [
  'maxBufferSize',
  'maxStorageBufferBindingSize',
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupSizeY',
  'maxComputeWorkgroupSizeZ',
  'maxComputeWorkgroupsPerDimension',
  'maxStorageBuffersPerShaderStage',
] as const;

/**
 * Open a WebGPU device (or adopt `options.device`) and wrap it in a {@link GPUContext}.
 * In Node the package's Node entries open Dawn; in a browser `navigator.gpu` is used.
 * Throws {@link GPUInitError} naming what is missing (no WebGPU, no adapter, a feature or limit).
 */
export async function createGPU(options: CreateGPUOptions = {}): Promise<GPUContext> {
  const requested = options.precision ?? 'auto';
  if (!['auto', 'f16', 'f32'].includes(requested)) {
    throw new GPUInitError(`precision must be auto, f16 or f32, got "${requested}"`);
  }
  if (options.device) return adoptDevice(options.device, requested, options);
  const gpu = options.gpu ?? (globalThis as any).navigator?.gpu ?? (defaultProvider ? await defaultProvider() : undefined);
  if (!gpu) throw new GPUInitError(`WebGPU is not available here (no navigator.gpu, no Dawn). ${setupHint()}`);
  const adapter = await gpu.requestAdapter({ powerPreference: options.powerPreference });
  if (!adapter) throw new GPUInitError(`No WebGPU adapter found. ${setupHint()}`);

  const hasF16 = adapter.features.has('shader-f16');
  if (requested === 'f16' && !hasF16) {
    throw new GPUInitError(
      `precision "f16" was requested but the adapter (${describeAdapter(adapter)}) does not offer shader-f16; use precision "auto" or "f32"`,
    );
  }
  const requiredFeatures = WANTED_FEATURES.filter((f) => adapter.features.has(f));
  const requiredLimits: Record<string, number> = {};
  for (const name of RAISED_LIMITS) {
    const v = (adapter.limits as any)[name];
    if (typeof v === 'number') requiredLimits[name] = v;
  }
  let device: GPUDevice;
  try {
    device = await adapter.requestDevice({ requiredFeatures, requiredLimits, label: 'mqg' });
  } catch (e) {
    throw new GPUInitError(`requestDevice failed on ${describeAdapter(adapter)}: ${(e as Error).message}`);
  }
  const precision: Precision = requested === 'auto' ? (hasF16 ? 'f16' : 'f32') : requested;
  const ctx = new GPUContext(gpu, adapter, device, precision, options);
  return ctx;
}

function adoptDevice(device: GPUDevice, requested: 'auto' | Precision, options: CreateGPUOptions): GPUContext {
  for (const [name, min] of Object.entries(REQUIRED_LIMITS)) {
    const v = (device.limits as any)[name];
    if (typeof v === 'number' && v < min) {
      throw new GPUInitError(`the device given to createGPU has ${name} = ${v}; mqg-webgpu needs at least ${min}`);
    }
  }
  const hasF16 = device.features.has('shader-f16');
  if (requested === 'f16' && !hasF16) {
    throw new GPUInitError('precision "f16" was requested but the device given to createGPU was created without the shader-f16 feature');
  }
  // Without its adapter, the device stands in for one: its own info, features and limits.
  const info = (device as { adapterInfo?: GPUAdapterInfo }).adapterInfo;
  const adapter = options.adapter ?? ({ info, features: device.features, limits: device.limits } as unknown as GPUAdapter);
  const precision: Precision = requested === 'auto' ? (hasF16 ? 'f16' : 'f32') : requested;
  return new GPUContext(options.gpu, adapter, device, precision, options, false);
}

function describeAdapter(adapter: GPUAdapter): string {
  const info = adapter.info;
  return [info?.vendor, info?.architecture, info?.device, info?.description].filter((s) => s).join(' / ') || 'unknown adapter';
}

interface CompiledKernel {
  id: number;
  name: string;
  layout: KernelLayout;
  pipeline: GPUComputePipeline;
  bindGroupLayout: GPUBindGroupLayout;
}

/** What a binding accepts: a tensor, a whole buffer, a buffer range, a uniform struct's values, or a texture (texture_2d<u32> bindings). */
export type BindingValue = Tensor | GPUBuffer | GPUTexture | { buffer: GPUBuffer; offset?: number; size?: number } | Record<string, number>;
export type Bindings = Record<string, BindingValue>;

function isTexture(v: unknown): v is GPUTexture {
  return typeof (v as GPUTexture)?.createView === 'function';
}

/**
 * A WebGPU device with the library's caches: pipelines (keyed by WGSL source), bind groups,
 * uniforms, command recording, readback and the optional profiler. Made by {@link createGPU}.
 * Release it with `destroy()` (or a `using` declaration); any use after that throws
 * {@link DisposedError}.
 */
export class GPUContext {
  /** What the adapter reports about itself. */
  readonly adapterInfo: AdapterSummary;
  /** The device has `shader-f16` (f16 storage is possible). */
  readonly hasF16: boolean;
  /** The device has `subgroups` (faster matmul and attention variants). */
  readonly hasSubgroups: boolean;
  /** The device has `timestamp-query` (the profiler works). */
  readonly hasTimestamps: boolean;
  /** The device's limits, by name. */
  readonly limits: Record<string, number>;
  /** Set when the device is lost; every later call throws it. */
  lost: DeviceLostError | undefined;
  /** uploadF16Chunks' conversion buffer (2 MiB), made on the first large f16 upload. */
  private f16Scratch: Uint16Array | undefined;
  /** Per-kernel GPU timestamps, when created with `profile: true`. @internal */
  readonly profiler: Profiler | undefined;
  /** See CreateGPUOptions.passPerDispatch; may be changed between steps (benchmarks compare both). */
  passPerDispatch: boolean;

  private readonly pipelines = new Map<string, CompiledKernel>();
  /** Fast path: kernel modules keep their KernelSource objects, so most look-ups never hash the code. */
  private readonly bySource = new WeakMap<KernelSource, CompiledKernel>();
  private readonly bindGroups = new Map<string, GPUBindGroup>();
  private readonly uniforms = new Map<string, GPUBuffer>();
  private readonly bufferIds = new WeakMap<GPUBuffer | GPUTexture, number>();
  private readonly views = new WeakMap<GPUTexture, GPUTextureView>();
  private nextId = 1;
  private readonly errors: string[] = [];
  private readonly pendingScopes: Promise<void>[] = [];
  private readonly dump: ((name: string, code: string) => void) | undefined;

  /** @internal Use {@link createGPU}. */
  constructor(
    /** Held so the Dawn instance outlives the device (undefined for an adopted device). */
    readonly gpu: GPU | undefined,
    /** The adapter (for an adopted device without one: a stand-in with the device's info, features and limits). */
    readonly adapter: GPUAdapter,
    /** The WebGPU device every kernel runs on. */
    readonly device: GPUDevice,
    /** Storage precision of models made on this context (ModelOptions.precision can override it). */
    readonly precision: Precision,
    options: CreateGPUOptions = {},
    /** Whether destroy() destroys the device (false for a device the caller owns). */
    private readonly ownsDevice = true,
  ) {
    this.hasF16 = device.features.has('shader-f16');
    this.hasSubgroups = device.features.has('subgroups');
    this.hasTimestamps = device.features.has('timestamp-query');
    this.limits = {};
    for (const k in device.limits) this.limits[k] = (device.limits as any)[k];
    const info = adapter.info;
    this.adapterInfo = {
      vendor: info?.vendor ?? '',
      architecture: info?.architecture ?? '',
      device: info?.device ?? '',
      description: info?.description ?? '',
      features: [...adapter.features].sort(),
      limits: Object.fromEntries(Object.keys(this.limits).map((k) => [k, (adapter.limits as any)[k]])),
    };
    device.lost.then((info) => {
      if (info.reason !== 'destroyed' || !this.destroyed) {
        this.lost = new DeviceLostError(`GPU device lost (${info.reason}): ${info.message}`);
      } else {
        this.lost = new DeviceLostError('GPU device was destroyed');
      }
    });
    device.addEventListener('uncapturederror', (ev: Event) => {
      this.errors.push((ev as GPUUncapturedErrorEvent).error.message);
    });
    const dumpOpt = options.dumpWgsl ?? (globalThis as any).process?.env?.MQG_DUMP_WGSL;
    if (typeof dumpOpt === 'function') this.dump = dumpOpt;
    else if (typeof dumpOpt === 'string' && dumpOpt) {
      this.dump = fileDumper
        ? (name, code) => fileDumper!(dumpOpt, name, code)
        : (name, code) => console.log(`// ---- ${name} ----\n${code}`);
    }
    if (options.profile) {
      if (!this.hasTimestamps) throw new GPUInitError('profiling needs the timestamp-query feature, which this adapter lacks');
      this.profiler = new Profiler(this);
    }
    this.passPerDispatch = options.passPerDispatch ?? (!!options.profile || (globalThis as any).process?.env?.MQG_PASS_PER_DISPATCH === '1');
  }

  private destroyed = false;

  /** "vendor / architecture / device / description" of the adapter, for logs. */
  get adapterName(): string {
    return describeAdapter(this.adapter);
  }

  /** The WGSL storage type for activations and weights at this precision. */
  get storageType(): 'f16' | 'f32' {
    return this.precision;
  }

  /** Whether destroy() was called. */
  get isDestroyed(): boolean {
    return this.destroyed;
  }

  /** Throws if the context was destroyed, the device was lost, or an earlier asynchronous validation error was reported. */
  check(): void {
    if (this.destroyed) throw new DisposedError('this GPUContext was destroyed; create a new one with createGPU()');
    if (this.lost) throw this.lost;
    if (this.errors.length) {
      const msg = this.errors.splice(0).join('\n');
      throw new GPUValidationError(`WebGPU error: ${msg}`);
    }
  }

  // ---------------------------------------------------------------- buffers and tensors

  /** A small number naming a buffer in cache keys. @internal */
  id(buffer: GPUBuffer | GPUTexture): number {
    let id = this.bufferIds.get(buffer);
    if (id === undefined) this.bufferIds.set(buffer, (id = this.nextId++));
    return id;
  }

  /** A texture's default view, made once per texture. @internal */
  private textureView(t: GPUTexture): GPUTextureView {
    let view = this.views.get(t);
    if (!view) this.views.set(t, (view = t.createView({ label: t.label })));
    return view;
  }

  /**
   * A GPU buffer of at least `size` bytes (rounded up to 16), usage storage | copy-src | copy-dst
   * by default. Throws {@link GPUInitError} above the device's maxBufferSize.
   */
  createBuffer(size: number, label: string, usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST): GPUBuffer {
    this.check();
    const max = this.limits.maxBufferSize!;
    if (size > max) throw new GPUInitError(`buffer "${label}" needs ${size} bytes; the device allows at most ${max}`);
    return this.device.createBuffer({ size: alignUp(Math.max(size, 16), 16), usage, label });
  }

  /** Allocate a tensor, optionally filled from `data` (numbers are converted to the dtype). */
  tensor(shape: readonly number[], dtype: DType, label: string, data?: ArrayLike<number>): Tensor {
    const numel = shape.reduce((a, b) => a * b, 1);
    const t = new Tensor(this.createBuffer(numel * DTYPE_BYTES[dtype], label), shape, dtype, label);
    if (data) this.upload(t, data);
    return t;
  }

  /** Write host data into a tensor (converted to its dtype). Queued: it lands before the next submit. */
  upload(t: Tensor, data: ArrayLike<number>): void {
    this.check();
    if (data.length !== t.numel) {
      throw new RangeError(`upload to "${t.label}": ${data.length} values for ${t.numel} elements`);
    }
    let bytes: ArrayBufferView;
    switch (t.dtype) {
      case 'f32': bytes = data instanceof Float32Array ? data : Float32Array.from(data as ArrayLike<number>); break;
      case 'f16':
        if (data instanceof Float32Array && data.length > F16_UPLOAD_CHUNK) return this.uploadF16Chunks(t, data);
        bytes = float32ToF16Array(data);
        break;
      case 'i32': bytes = data instanceof Int32Array ? data : Int32Array.from(data); break;
      case 'u32': bytes = data instanceof Uint32Array ? data : Uint32Array.from(data); break;
    }
    this.writeBytes(t.buffer, t.offset, bytes);
  }

  /**
   * A large f32 -> f16 upload, converted F16_UPLOAD_CHUNK values at a time into one reused buffer:
   * a fresh array as large as the tensor costs a page fault per 4 KiB on first touch, more than the
   * conversion itself (a 2.7B model's load spent ~20 s there).
   */
  private uploadF16Chunks(t: Tensor, data: Float32Array): void {
    const scratch = (this.f16Scratch ??= new Uint16Array(F16_UPLOAD_CHUNK));
    for (let i = 0; i < data.length; i += F16_UPLOAD_CHUNK) {
      const n = Math.min(F16_UPLOAD_CHUNK, data.length - i);
      this.writeBytes(t.buffer, t.offset + 2 * i, float32ToF16Array(data.subarray(i, i + n), scratch.subarray(0, n)));
    }
  }

  /** Write raw bytes; the size is padded to a multiple of 4 as writeBuffer requires. */
  writeBytes(buffer: GPUBuffer, offset: number, bytes: ArrayBufferView): void {
    let src = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    if (src.byteLength % 4) {
      const padded = new Uint8Array(alignUp(src.byteLength, 4));
      padded.set(src);
      src = padded;
    }
    this.device.queue.writeBuffer(buffer, offset, src as Uint8Array<ArrayBuffer>);
  }

  /** Read a tensor back as numbers: f16 is widened to Float32Array. Waits for queued work. */
  async download(t: Tensor): Promise<Float32Array | Int32Array | Uint32Array> {
    const bytes = await this.readBytes(t.buffer, t.offset, t.byteLength);
    switch (t.dtype) {
      case 'f32': return new Float32Array(bytes.buffer, bytes.byteOffset, t.numel);
      case 'f16': return f16ToFloat32Array(new Uint16Array(bytes.buffer, bytes.byteOffset, t.numel));
      case 'i32': return new Int32Array(bytes.buffer, bytes.byteOffset, t.numel);
      case 'u32': return new Uint32Array(bytes.buffer, bytes.byteOffset, t.numel);
    }
  }

  /** Copy `size` bytes at `offset` of a buffer back to the CPU. Waits for queued work. */
  async readBytes(buffer: GPUBuffer, offset: number, size: number): Promise<Uint8Array> {
    this.check();
    const start = offset - (offset % 4);
    const len = alignUp(size + (offset - start), 4);
    const staging = this.device.createBuffer({ size: Math.max(len, 4), usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST, label: 'readback' });
    const enc = this.device.createCommandEncoder({ label: 'readback' });
    enc.copyBufferToBuffer(buffer, start, staging, 0, len);
    this.device.queue.submit([enc.finish()]);
    try {
      await this.guard(staging.mapAsync(GPUMapMode.READ));
      const out = new Uint8Array(staging.getMappedRange().slice(offset - start, offset - start + size));
      staging.unmap();
      return out;
    } finally {
      staging.destroy();
      await this.flushScopes();
      this.check();
    }
  }

  /**
   * Push the uploads queued by writeBuffer (upload, writeBytes) to the GPU and wait for them, so
   * their staging copies do not pile up while many are written (e.g. a model streamed in tensor by tensor).
   */
  async flushUploads(): Promise<void> {
    this.check();
    this.device.queue.submit([]);
    await this.sync();
  }

  /** Resolve once the GPU finished all submitted work; raises any pending error. */
  async sync(): Promise<void> {
    this.check();
    await this.guard(this.device.queue.onSubmittedWorkDone());
    await this.flushScopes();
    this.check();
  }

  /** Race a GPU promise against device loss so a lost device raises instead of hanging. */
  private async guard<T>(p: Promise<T>): Promise<T> {
    const lost = this.device.lost.then((info) => {
      throw new DeviceLostError(`GPU device lost (${info.reason}): ${info.message}`);
    });
    return Promise.race([p, lost]);
  }

  private async flushScopes(): Promise<void> {
    const scopes = this.pendingScopes.splice(0);
    await Promise.all(scopes);
  }

  // ---------------------------------------------------------------- kernels

  /** The compiled pipeline of a kernel, from the cache when its source and entry point were compiled before. @internal */
  kernel(src: KernelSource): CompiledKernel {
    const hit = this.bySource.get(src);
    if (hit) return hit;
    const key = `${src.entryPoint ?? ''}\u0000${src.code}`;
    let k = this.pipelines.get(key);
    if (k) {
      this.bySource.set(src, k);
      return k;
    }
    this.check();
    const layout = reflectKernel(src);
    this.dump?.(src.name, src.code);
    const entries: GPUBindGroupLayoutEntry[] = layout.bindings.map((b) => (b.kind === 'texture'
      ? { binding: b.binding, visibility: GPUShaderStage.COMPUTE, texture: { sampleType: 'uint', viewDimension: '2d' } }
      : { binding: b.binding, visibility: GPUShaderStage.COMPUTE, buffer: { type: b.kind } }));
    const bindGroupLayout = this.device.createBindGroupLayout({ label: src.name, entries });
    const module = this.device.createShaderModule({ label: src.name, code: src.code });
    const pipeline = this.device.createComputePipeline({
      label: src.name,
      layout: this.device.createPipelineLayout({ label: src.name, bindGroupLayouts: [bindGroupLayout] }),
      compute: { module, entryPoint: layout.entryPoint },
    });
    k = { id: this.nextId++, name: src.name, layout, pipeline, bindGroupLayout };
    this.pipelines.set(key, k);
    this.bySource.set(src, k);
    return k;
  }

  /** Check bindings against the kernel's reflected layout and return a (cached) bind group. */
  /** The bind group for a kernel's bindings (cached). @internal */
  bindGroup(k: CompiledKernel, bindings: Bindings): GPUBindGroup {
    const expected = k.layout.bindings;
    for (const name of Object.keys(bindings)) {
      if (!expected.some((b) => b.name === name)) {
        throw new BindingError(
          `kernel "${k.name}": unexpected binding "${name}" (the WGSL declares: ${expected.map((b) => b.name).join(', ')})`,
        );
      }
    }
    const entries: GPUBindGroupEntry[] = [];
    let key = `${k.id}`;
    for (const b of expected) {
      const v = bindings[b.name];
      if (v === undefined) throw new BindingError(`kernel "${k.name}": missing binding "${b.name}" (${b.kind})`);
      if (b.kind === 'texture' || isTexture(v)) {
        if (!isTexture(v) || b.kind !== 'texture') throw new BindingError(`kernel "${k.name}": binding "${b.name}" is a ${b.kind}${b.kind === 'texture' ? '' : ' buffer'}; got ${isTexture(v) ? `texture "${v.label}"` : 'no texture'}`);
        entries.push({ binding: b.binding, resource: this.textureView(v) });
        key += `|t${this.id(v)}`;
        continue;
      }
      const r = this.resolve(k, b, v);
      entries.push({ binding: b.binding, resource: { buffer: r.buffer, offset: r.offset, size: r.size } });
      key += `|${this.id(r.buffer)}:${r.offset}:${r.size}`;
    }
    let bg = this.bindGroups.get(key);
    if (!bg) {
      bg = this.device.createBindGroup({ label: k.name, layout: k.bindGroupLayout, entries });
      if (this.bindGroups.size > 65536) this.bindGroups.clear();
      this.bindGroups.set(key, bg);
    }
    return bg;
  }

  private resolve(k: CompiledKernel, b: BindingInfo, v: BindingValue): { buffer: GPUBuffer; offset: number; size: number } {
    const isBuffer = (x: unknown): x is GPUBuffer => typeof (x as GPUBuffer)?.mapAsync === 'function';
    if (v instanceof Tensor) {
      if (b.kind === 'uniform') throw new BindingError(`kernel "${k.name}": binding "${b.name}" is a uniform struct; pass its field values, not ${v}`);
      if (!dtypeMatches(b.elementType, v.dtype)) {
        throw new BindingError(`kernel "${k.name}": binding "${b.name}" holds ${b.elementType} but was given ${v}`);
      }
      this.checkRange(k, b, v.buffer, v.offset, v.bindingSize);
      return { buffer: v.buffer, offset: v.offset, size: v.bindingSize };
    }
    if (isBuffer(v) || isBuffer((v as any).buffer)) {
      const buffer = isBuffer(v) ? v : (v as any).buffer as GPUBuffer;
      const offset = isBuffer(v) ? 0 : (v as any).offset ?? 0;
      const size = isBuffer(v) ? buffer.size : (v as any).size ?? buffer.size - offset;
      const need = b.kind === 'uniform' ? GPUBufferUsage.UNIFORM : GPUBufferUsage.STORAGE;
      if (!(buffer.usage & need)) {
        throw new BindingError(`kernel "${k.name}": binding "${b.name}" needs a ${b.kind} buffer; "${buffer.label}" lacks that usage`);
      }
      this.checkRange(k, b, buffer, offset, size);
      return { buffer, offset, size };
    }
    if (b.kind !== 'uniform') {
      throw new BindingError(`kernel "${k.name}": binding "${b.name}" is a ${b.kind} buffer; got a plain object`);
    }
    return { buffer: this.uniformBuffer(k, b, v as Record<string, number>), offset: 0, size: alignUp(b.uniformSize!, 16) };
  }

  private checkRange(k: CompiledKernel, b: BindingInfo, buffer: GPUBuffer, offset: number, size: number): void {
    const max = b.kind === 'uniform' ? this.limits.maxUniformBufferBindingSize! : this.limits.maxStorageBufferBindingSize!;
    if (size > max) {
      throw new BindingError(
        `kernel "${k.name}": binding "${b.name}" is ${size} bytes, over the device's ${max}-byte limit per binding; split the tensor`,
      );
    }
    if (offset % this.limits.minStorageBufferOffsetAlignment! !== 0) {
      throw new BindingError(`kernel "${k.name}": binding "${b.name}" offset ${offset} is not ${this.limits.minStorageBufferOffsetAlignment}-byte aligned`);
    }
    if (offset + size > buffer.size) {
      throw new BindingError(`kernel "${k.name}": binding "${b.name}" range ${offset}+${size} runs past buffer "${buffer.label}" (${buffer.size} bytes)`);
    }
  }

  /** Uniform values become immutable buffers cached by content: a repeated step re-uses them all. */
  private uniformBuffer(k: CompiledKernel, b: BindingInfo, values: Record<string, number>): GPUBuffer {
    const bytes = packUniform(k.name, b, values);
    let key = `${k.id}:${b.name}:`;
    const words = new Uint32Array(bytes.buffer);
    for (let i = 0; i < words.length; i++) key += words[i]!.toString(36) + ',';
    let buf = this.uniforms.get(key);
    if (!buf) {
      buf = this.device.createBuffer({ size: bytes.byteLength, usage: GPUBufferUsage.UNIFORM, mappedAtCreation: true, label: `${k.name}.${b.name}` });
      new Uint8Array(buf.getMappedRange()).set(bytes);
      buf.unmap();
      if (this.uniforms.size > 16384) this.uniforms.clear(); // buffers stay alive while bind groups hold them
      this.uniforms.set(key, buf);
    }
    return buf;
  }

  // ---------------------------------------------------------------- recording

  /** Start recording a step: every dispatch goes into one command encoder, submitted once. */
  step(label = 'step'): Step {
    this.check();
    return new Step(this, label);
  }

  /** Record, submit and forget one dispatch (tests and one-off work). */
  run(src: KernelSource, bindings: Bindings, grid: Grid): void {
    const s = this.step(src.name);
    s.dispatch(src, bindings, grid);
    s.submit();
  }

  /** @internal */
  submitCommands(label: string, cmd: GPUCommandBuffer): void {
    this.check();
    this.device.pushErrorScope('out-of-memory');
    this.device.pushErrorScope('validation');
    this.device.queue.submit([cmd]);
    const collect = (e: GPUError | null) => {
      if (e) this.errors.push(`${e.message} (in step "${label}")`);
    };
    this.pendingScopes.push(this.device.popErrorScope().then(collect), this.device.popErrorScope().then(collect));
  }

  /**
   * Release the GPU resources: the device itself (unless it was adopted with
   * `createGPU({ device })`), which frees every tensor and model made on it. Idempotent.
   */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    for (const b of this.uniforms.values()) b.destroy();
    this.uniforms.clear();
    this.bindGroups.clear();
    this.pipelines.clear();
    if (this.ownsDevice) this.device.destroy();
  }

  /** `using gpu = await createGPU()` destroys it at the end of the scope. */
  [Symbol.dispose](): void {
    this.destroy();
  }
}

export type Grid = number | [number, number?, number?];

export class Step {
  private readonly encoder: GPUCommandEncoder;
  private submitted = false;
  /** The open compute pass that dispatches share (when the context does not want one per dispatch). */
  private pass: GPUComputePassEncoder | undefined;

  constructor(readonly ctx: GPUContext, readonly label: string) {
    this.encoder = ctx.device.createCommandEncoder({ label });
  }

  /**
   * Record one dispatch. `grid` counts workgroups. With passPerDispatch (always when profiling)
   * each dispatch gets its own compute pass labelled with the kernel's name, so a validation error
   * names the kernel and the profiler can time it; otherwise it joins the step's open pass.
   */
  dispatch(src: KernelSource, bindings: Bindings, grid: Grid, cost?: DispatchCost): void {
    if (this.submitted) throw new Error(`step "${this.label}" was already submitted`);
    const k = this.ctx.kernel(src);
    const bg = this.ctx.bindGroup(k, bindings);
    const [x, y = 1, z = 1] = typeof grid === 'number' ? [grid] : grid;
    const max = this.ctx.limits.maxComputeWorkgroupsPerDimension!;
    for (const n of [x, y, z]) {
      if (!Number.isInteger(n) || n < 0 || n > max) {
        throw new BindingError(`kernel "${k.name}": dispatch grid [${x}, ${y}, ${z}] is outside 0..${max} per dimension`);
      }
    }
    if (x * y * z === 0) return;
    if (!this.ctx.passPerDispatch) {
      this.pass ??= this.encoder.beginComputePass({ label: this.label });
      this.pass.setPipeline(k.pipeline);
      this.pass.setBindGroup(0, bg);
      this.pass.dispatchWorkgroups(x, y, z);
      return;
    }
    this.endPass();
    const timestampWrites = this.ctx.profiler?.slot(k.name, cost ?? { bytes: bindingBytes(bindings) });
    const pass = this.encoder.beginComputePass({ label: k.name, timestampWrites });
    pass.setPipeline(k.pipeline);
    pass.setBindGroup(0, bg);
    pass.dispatchWorkgroups(x, y, z);
    pass.end();
  }

  private endPass(): void {
    this.pass?.end();
    this.pass = undefined;
  }

  copy(src: Tensor, dst: Tensor): void {
    if (src.byteLength !== dst.byteLength) throw new RangeError(`copy ${src} -> ${dst}: sizes differ`);
    this.endPass();
    this.encoder.copyBufferToBuffer(src.buffer, src.offset, dst.buffer, dst.offset, alignUp(src.byteLength, 4));
  }

  /** Zero a tensor (its byte range rounded to 4). */
  clear(t: Tensor): void {
    this.endPass();
    this.encoder.clearBuffer(t.buffer, t.offset, alignUp(t.byteLength, 4));
  }

  submit(): void {
    if (this.submitted) throw new Error(`step "${this.label}" was already submitted`);
    this.submitted = true;
    this.endPass();
    this.ctx.profiler?.resolve(this.encoder);
    this.ctx.submitCommands(this.label, this.encoder.finish());
  }
}

export interface KernelTime {
  name: string;
  ms: number;
  /** Work of the dispatch, as its launcher declared it (flops), or bytes of its bindings. */
  flops?: number;
  bytes?: number;
}

/** What a dispatch does, for the profiler's GFLOP/s and GB/s. */
export interface DispatchCost {
  flops?: number;
  bytes?: number;
}

/** Bytes bound to a dispatch (read or written): the memory traffic of a kernel that touches each element once. */
function bindingBytes(bindings: Bindings): number {
  let n = 0;
  for (const v of Object.values(bindings)) {
    if (v instanceof Tensor) n += v.byteLength;
    else if ((v as { size?: number }).size !== undefined && typeof (v as { buffer?: unknown }).buffer === 'object') n += (v as { size: number }).size;
  }
  return n;
}

/** GPU time of each kernel pass, from timestamp queries written at the start and end of each pass. */
export class Profiler {
  private readonly capacity = 4096;
  private readonly querySet: GPUQuerySet;
  private readonly resolveBuf: GPUBuffer;
  private names: string[] = [];
  private costs: DispatchCost[] = [];
  private pending: { buffer: GPUBuffer; names: string[]; costs: DispatchCost[] }[] = [];

  constructor(private readonly ctx: GPUContext) {
    this.querySet = ctx.device.createQuerySet({ type: 'timestamp', count: this.capacity, label: 'profiler' });
    this.resolveBuf = ctx.device.createBuffer({ size: this.capacity * 8, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC, label: 'profiler' });
  }

  /** While true, no timestamps are written (benchmarks time steps without the profiler's cost). */
  paused = false;

  /** @internal */
  slot(name: string, cost: DispatchCost = {}): GPUComputePassTimestampWrites | undefined {
    const i = this.names.length;
    if (this.paused || 2 * i + 2 > this.capacity) return undefined;
    this.names.push(name);
    this.costs.push(cost);
    return { querySet: this.querySet, beginningOfPassWriteIndex: 2 * i, endOfPassWriteIndex: 2 * i + 1 };
  }

  /** @internal */
  resolve(enc: GPUCommandEncoder): void {
    const n = this.names.length;
    if (!n) return;
    const buffer = this.ctx.device.createBuffer({ size: n * 16, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST, label: 'profiler-read' });
    enc.resolveQuerySet(this.querySet, 0, 2 * n, this.resolveBuf, 0);
    enc.copyBufferToBuffer(this.resolveBuf, 0, buffer, 0, n * 16);
    this.pending.push({ buffer, names: this.names, costs: this.costs });
    this.names = [];
    this.costs = [];
  }

  /** Kernel times of every step submitted since the last call, in dispatch order. */
  async collect(): Promise<KernelTime[]> {
    const out: KernelTime[] = [];
    for (const { buffer, names, costs } of this.pending.splice(0)) {
      await buffer.mapAsync(GPUMapMode.READ);
      const ts = new BigUint64Array(buffer.getMappedRange());
      names.forEach((name, i) => out.push({ name, ms: Number(ts[2 * i + 1]! - ts[2 * i]!) / 1e6, ...costs[i] }));
      buffer.unmap();
      buffer.destroy();
    }
    return out;
  }
}
