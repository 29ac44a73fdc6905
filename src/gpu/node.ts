// Node platform hooks: WebGPU through Dawn (npm `webgpu`), WGSL dumps written to files, and a
// setup hint that fits where the code runs (a repository checkout or an installed package).
// Imported by every Node entry point; browser bundles never see it.

import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { registerPlatform } from './context';

let dawn: GPU | undefined;

/**
 * lavapipe (Mesa's software Vulkan) compiles shaders for 256-bit vectors (8-lane subgroups) unless
 * LP_NATIVE_VECTOR_WIDTH says otherwise. On CPUs with AVX-512, 512-bit vectors (16-lanes) run our
 * kernels faster: matmul 1024³ f32 ~1.4×, an f32 mqg-tiny training step ~1.5× (bench/, measured
 * on AMD EPYC Zen 4). Set before Dawn loads the driver, only where the CPU has AVX-512 and the
 * variable is unset (LP_NATIVE_VECTOR_WIDTH=256 keeps Mesa's default); no effect on other drivers.
 * The kernels' variants for 16-lane subgroups are chosen by tuning (matmul-tune.ts, attention-tune.ts).
 */
export function lavapipeVectorWidth(env: Record<string, string | undefined>, cpuinfo: () => string): string | undefined {
  if (env.LP_NATIVE_VECTOR_WIDTH !== undefined) return undefined;
  try {
    return /^flags\s*:.*\bavx512f\b/m.test(cpuinfo()) ? '512' : undefined;
  } catch {
    return undefined; // no /proc/cpuinfo (not Linux): no lavapipe to configure either
  }
}

async function dawnGPU(): Promise<GPU> {
  if (!dawn) {
    const env = (globalThis as any).process.env as Record<string, string | undefined>;
    env.XDG_RUNTIME_DIR ??= '/tmp';
    const width = lavapipeVectorWidth(env, () => readFileSync('/proc/cpuinfo', 'utf8'));
    if (width) env.LP_NATIVE_VECTOR_WIDTH = width;
    const { create, globals } = await import('webgpu');
    Object.assign(globalThis, globals);
    dawn = create([]);
  }
  return dawn;
}

/** A checkout has scripts/setup.sh beside package.json; the published package does not. */
function inCheckout(): boolean {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++, dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return existsSync(join(dir, 'scripts', 'setup.sh'));
  }
  return false;
}

const DRIVERS =
  'Dawn needs a Vulkan (Linux), Metal (macOS) or D3D12 (Windows) driver; without a GPU on Debian/Ubuntu, install Mesa\'s ' +
  'software driver, lavapipe (Mesa 24+: `apt-get install mesa-vulkan-drivers`, from bookworm-backports on Debian 12).';

registerPlatform(
  dawnGPU,
  (dir, name, code) => {
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, `${name.replace(/[^\w.-]+/g, '_')}.wgsl`), code);
  },
  inCheckout()
    ? `Run \`npm run setup\`: on Debian/Ubuntu it installs a software Vulkan driver new enough for Dawn (Mesa 24+); elsewhere install your GPU vendor's driver. ${DRIVERS}`
    : `${DRIVERS} \`npx mqg doctor\` shows what the adapter offers.`,
);
