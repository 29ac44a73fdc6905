// Node platform hooks: WebGPU through Dawn (npm `webgpu`), WGSL dumps written to files, and a
// setup hint that fits where the code runs (a repository checkout or an installed package).
// Imported by every Node entry point; browser bundles never see it.

import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { registerPlatform } from './context';
import { lavapipeVectorWidth } from './lavapipe';

let dawn: GPU | undefined;

async function dawnGPU(): Promise<GPU> {
  if (!dawn) {
    const env = (globalThis as any).process.env as Record<string, string | undefined>;
    env.XDG_RUNTIME_DIR ??= '/tmp';
    const width = lavapipeVectorWidth(env, () => readFileSync('/proc/cpuinfo', 'utf8')); // see lavapipe.ts
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
