/**
 * What every checkpoint reader returns (safetensors.ts, torch.ts, llmc.ts): a file's tensors by
 * stored name, each read only when asked. Types only, so the readers and the index over them
 * (tensors.ts) share them without importing each other. Browser-safe.
 */

import type { GPT2Config } from '../config';

export type TensorFormat = 'safetensors' | 'torch' | 'llmc';

export interface TensorEntry {
  /** The name stored in the file. */
  name: string;
  /** The file it is in (for messages). */
  file: string;
  /** F32, F16, BF16 (readable as parameters) or another stored type. */
  dtype: string;
  shape: number[];
  /** Tensors with equal keys are the same bytes (a storage shared by a tied lm_head and wte). */
  storageKey: string;
  /** Its values, widened to f32 and laid out row-major: one tensor in memory at a time. */
  read(): Promise<Float32Array>;
}

export interface TensorFile {
  name: string;
  format: TensorFormat;
  tensors: TensorEntry[];
  /** safetensors `__metadata__` (empty for other formats). */
  metadata: Record<string, string>;
  /** Config fields the file itself states (the llm.c header's sizes). */
  config?: Partial<GPT2Config>;
  close(): Promise<void>;
}
