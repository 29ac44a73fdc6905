// What kind of adapter a context runs on. One rule for every room that cares: the tuners (which
// candidates to try), the kernels (which variants a CPU adapter runs well) and the memory budget
// (a software adapter's "GPU" memory is the machine's memory).

/** True for CPU implementations of WebGPU (lavapipe/llvmpipe, SwiftShader, WARP, a fallback adapter),
 *  from the adapter's info or, where only that is known, its name. */
export function isSoftwareAdapter(gpu: { adapterName?: string; adapterInfo?: unknown }): boolean {
  const info = (gpu.adapterInfo ?? {}) as Partial<Pick<GPUAdapterInfo, 'architecture' | 'device' | 'description'>>;
  const text = `${info.architecture ?? ''} ${info.device ?? ''} ${info.description ?? ''} ${gpu.adapterName ?? ''}`;
  return /software|cpu|llvmpipe|lavapipe|swiftshader|warp|fallback/i.test(text);
}
