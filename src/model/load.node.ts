// Node's loadModel: file paths (and whatever else the Node checkpoint loader resolves) go to the
// file loader; bytes, Blobs, Responses and http(s) URLs take the browser-safe path.

import { fileURLToPath } from 'node:url';
import type { GPUContext } from '../gpu/context';
import type { GPT2 } from './gpt2';
import type { ReadCheckpointOptions } from './checkpoint.node';
import { loadModel as loadModelFile } from './io.node';
import { loadModelFrom, type LoadModelOptions, type ModelSource } from './load';

/**
 * Build a model from a checkpoint: a file path or `file:` URL (safetensors with HF GPT-2 names,
 * with `config.json` beside it where the metadata lacks the config, or llm.c `.bin`), or, as in
 * browsers, bytes, an ArrayBuffer, a Blob, a Response or an http(s) URL.
 * Throws {@link CheckpointError} naming the file and the tensor or field at fault.
 */
export async function loadModel(gpu: GPUContext, source: ModelSource, options: LoadModelOptions & ReadCheckpointOptions = {}): Promise<GPT2> {
  const url = source instanceof URL ? source : typeof source === 'string' && /^(https?|file):\/\//i.test(source) ? new URL(source) : undefined;
  if (url?.protocol === 'file:') return loadModelFile(gpu, fileURLToPath(url), options);
  if (typeof source === 'string' && !url) return loadModelFile(gpu, source, options);
  return loadModelFrom(gpu, source, options);
}
