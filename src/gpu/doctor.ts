// `mqg doctor`: what the adapter is, what it offers, and whether each precision really computes.

import type { GPUContext } from './context';

const LIMITS_SHOWN = [
  'maxBufferSize',
  'maxStorageBufferBindingSize',
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupsPerDimension',
  'maxStorageBuffersPerShaderStage',
];

const probeSource = (t: 'f16' | 'f32') => ({
  name: `doctor_probe_${t}`,
  code: `${t === 'f16' ? 'enable f16;\n' : ''}
@group(0) @binding(0) var<storage, read_write> out: array<${t}>;
@group(0) @binding(1) var<storage, read> inp: array<${t}>;
@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) gid: vec3u) {
  if (gid.x < arrayLength(&inp)) { out[gid.x] = inp[gid.x] * ${t}(3) + ${t}(0.5); }
}`,
});

/** Run a tiny kernel in the given storage type and check its exact result. */
export async function precisionWorks(gpu: GPUContext, t: 'f16' | 'f32'): Promise<boolean> {
  if (t === 'f16' && !gpu.hasF16) return false;
  const values = [0, 1, -2, 0.25, 100, -0.125, 7, 10]; // 3v + 0.5 is exact in f16 for all of these
  const inp = gpu.tensor([values.length], t, 'doctor_in', values);
  const out = gpu.tensor([values.length], t, 'doctor_out');
  gpu.run(probeSource(t), { out, inp }, 1);
  const got = await gpu.download(out);
  inp.buffer.destroy();
  out.buffer.destroy();
  return values.every((v, i) => got[i] === v * 3 + 0.5);
}

/** What `mqg doctor` prints: the adapter, its features and limits, and whether f32 and f16 kernels compute exactly. */
export async function doctorReport(gpu: GPUContext): Promise<string> {
  const info = gpu.adapterInfo;
  const lines = [
    `adapter: ${gpu.adapterName}`,
    `vendor: ${info.vendor || '?'}  architecture: ${info.architecture || '?'}`,
    `features: ${info.features.join(', ')}`,
    `shader-f16: ${gpu.hasF16 ? 'yes' : 'no'}  subgroups: ${gpu.hasSubgroups ? 'yes' : 'no'}  timestamp-query: ${gpu.hasTimestamps ? 'yes' : 'no'}`,
    'limits:',
    ...LIMITS_SHOWN.map((k) => `  ${k}: ${gpu.limits[k]}`),
  ];
  const f32 = await precisionWorks(gpu, 'f32');
  const f16 = await precisionWorks(gpu, 'f16');
  lines.push(`f32 compute: ${f32 ? 'works' : 'FAILED'}`);
  lines.push(`f16 compute: ${f16 ? 'works' : gpu.hasF16 ? 'FAILED' : 'not offered (shader-f16 missing)'}`);
  lines.push(`precision auto -> ${gpu.hasF16 && f16 ? 'f16' : 'f32'}`);
  return lines.join('\n');
}
