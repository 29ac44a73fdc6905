// The memory budget a training run must fit: --max-memory, else what the adapter reports where Dawn
// exposes memory heaps (device-local heap sizes), else the machine's memory for a software adapter
// (lavapipe, SwiftShader: "GPU" memory is host memory). A hardware adapter that reports nothing has
// no known budget (no refusal without --max-memory).

import { totalmem } from 'node:os';
import type { GPUContext } from '../gpu/context';
import { UsageError } from '../util/errors';
import { isSoftwareAdapter } from '../gpu/adapter';

export interface MemoryBudget {
  bytes: number;
  source: string;
}

const UNITS: Record<string, number> = { '': 1, b: 1, k: 2 ** 10, kb: 2 ** 10, kib: 2 ** 10, m: 2 ** 20, mb: 2 ** 20, mib: 2 ** 20, g: 2 ** 30, gb: 2 ** 30, gib: 2 ** 30, t: 2 ** 40, tb: 2 ** 40, tib: 2 ** 40 };

/** "16G", "512MiB", "1073741824" -> bytes (binary units). UsageError naming the flag otherwise. */
export function parseBytes(text: string, flag = '--max-memory'): number {
  const m = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(text.trim());
  const unit = m ? UNITS[m[2]!.toLowerCase()] : undefined;
  if (!m || unit === undefined || !(Number(m[1]) > 0)) throw new UsageError(`${flag} must be a size such as 8G, 512M or a byte count; got "${text}"`);
  return Math.floor(Number(m[1]) * unit);
}

export function memoryBudget(gpu: Pick<GPUContext, 'adapterName'> & { adapterInfo?: unknown }, maxMemory?: string): MemoryBudget | undefined {
  if (maxMemory) return { bytes: parseBytes(maxMemory), source: `--max-memory ${maxMemory}` };
  const heaps = (gpu.adapterInfo as { memoryHeaps?: { size: number; properties: number }[] } | undefined)?.memoryHeaps;
  // DEVICE_LOCAL = 1 in Dawn's wgpu::HeapProperty
  const local = heaps?.filter((h) => (h.properties & 1) !== 0).reduce((n, h) => n + Number(h.size), 0);
  if (local) return { bytes: local, source: "the adapter's device-local memory heaps" };
  if (isSoftwareAdapter(gpu)) return { bytes: totalmem(), source: `this machine's memory (software adapter ${gpu.adapterName.split(' / ')[0]})` };
  return undefined;
}
