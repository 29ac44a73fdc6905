// lavapipe (Mesa's software Vulkan) compiles shaders for 256-bit vectors (8-lane subgroups) unless
// LP_NATIVE_VECTOR_WIDTH says otherwise. On CPUs with AVX-512, 512-bit vectors (16 lanes) run our
// kernels faster on the whole: on an AMD EPYC (Zen 4), the f16 mqg-tiny training step 1.1-1.6× in five
// bench runs (`npm run bench` measures both widths), matmul 1024³ f32 1.4× in interleaved A/B runs
// though 0.9-1.4× across bench runs. gpu/node.ts sets it before Dawn loads the driver, only where the CPU has AVX-512
// and the variable is unset (LP_NATIVE_VECTOR_WIDTH=256 keeps Mesa's default); no other driver reads
// it. vitest.config.ts uses the same rule to run the kernel-variant suites at the other width too.
// No side effects: safe to import from a config file.

/** Whether a /proc/cpuinfo text lists AVX-512 Foundation among the CPU flags. */
function cpuinfoHasAvx512(cpuinfo: string): boolean {
  return /^flags\s*:.*\bavx512f\b/m.test(cpuinfo);
}

/** The width to set, or undefined to leave lavapipe's default (already chosen, no AVX-512, or no /proc/cpuinfo). */
export function lavapipeVectorWidth(env: Record<string, string | undefined>, cpuinfo: () => string): string | undefined {
  if (env.LP_NATIVE_VECTOR_WIDTH !== undefined) return undefined;
  try {
    return cpuinfoHasAvx512(cpuinfo()) ? '512' : undefined;
  } catch {
    return undefined; // no /proc/cpuinfo (not Linux): no lavapipe to configure either
  }
}
