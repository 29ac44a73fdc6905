// Node platform hooks: WebGPU through Dawn (npm `webgpu`), and WGSL dumps written to files.
// Imported by the Node entry points only; browser bundles never see it.

import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { registerPlatform } from './context';

let dawn: GPU | undefined;

async function dawnGPU(): Promise<GPU> {
  if (!dawn) {
    (globalThis as any).process.env.XDG_RUNTIME_DIR ??= '/tmp';
    const { create, globals } = await import('webgpu');
    Object.assign(globalThis, globals);
    dawn = create([]);
  }
  return dawn;
}

registerPlatform(dawnGPU, (dir, name, code) => {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, `${name.replace(/[^\w.-]+/g, '_')}.wgsl`), code);
});
