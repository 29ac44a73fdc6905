// Open a WebGPU adapter through Dawn and print its name and features. Exit 1 when none opens.
// Used by scripts/setup.sh before anything is built, so it is plain JavaScript.
process.env.XDG_RUNTIME_DIR ??= '/tmp';
const quiet = process.argv.includes('--quiet');
try {
  const { create, globals } = await import('webgpu');
  Object.assign(globalThis, globals);
  const gpu = create([]);
  const adapter = await gpu.requestAdapter();
  if (!adapter) throw new Error('requestAdapter returned null');
  // Some old drivers list an adapter that cannot create a device: open one to be sure.
  const device = await adapter.requestDevice();
  device.destroy();
  const info = adapter.info;
  const name = [info.vendor, info.architecture, info.device, info.description].filter(Boolean).join(' / ');
  if (!quiet) {
    console.log(`[setup] WebGPU adapter: ${name}`);
    console.log(`[setup] features: ${[...adapter.features].sort().join(', ')}`);
  }
  process.exit(0);
} catch (e) {
  if (!quiet) console.error(`[setup] no WebGPU adapter: ${e.message}`);
  process.exit(1);
}
