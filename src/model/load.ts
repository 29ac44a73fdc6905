// Models from memory and from the web (browser-safe): checkpoint bytes, an ArrayBuffer, a Blob or
// File, a fetch Response, or a URL, in one call, through the loader pipeline (source/open.ts:
// any format, config decided in one place, tensors streamed into the model one at a time; a Blob
// or File is read tensor by tensor, never whole). The Node loadModel (io.node.ts) adds file paths,
// Hugging Face directories and hf: ids on top of this; the browser entry exports loadModelFrom as
// its loadModel.

import type { GPUContext } from '../gpu/context';
import { type GPT2Config } from './config';
import { CheckpointError } from '../util/errors';
import type { GPT2, ModelOptions } from './gpt2';
import { blobSource, bytesSource, type ByteSource } from './source/bytes';
import type { HFGPT2ConfigJson } from './source/config';
import { buildModel } from './source/load';
import { openCheckpointFrom } from './source/open';
import type { SafetensorsDType } from './source/safetensors';
import { saveGPT2Weights } from './source/safetensors-write';

/**
 * Where a model's weights come from in memory or on the web: safetensors (HF GPT-2 names) or
 * llm.c `.bin` bytes, a `Blob`/`File` holding them, a fetch `Response`, or a `URL` (or URL
 * string) to fetch. In Node, `loadModel` from the package root also takes file paths.
 */
export type ModelSource = Uint8Array | ArrayBuffer | Blob | Response | URL | string;

/** Options of `loadModel`: the model's options plus how to read the checkpoint. */
export interface LoadModelOptions extends ModelOptions {
  /**
   * The model config (our GPT2Config or a Hugging Face config.json object), for safetensors
   * without the config in `__metadata__`; must agree with the metadata where both exist.
   * Default: the metadata's. llm.c files carry their own config.
   */
  config?: GPT2Config | HFGPT2ConfigJson;
  /** Name used in error messages. Default: the URL, the File's name, or `<checkpoint buffer>`. */
  fileName?: string;
  /** The fetch used for URLs. Default: `globalThis.fetch`. */
  fetch?: typeof fetch;
}

/** Turn any in-memory or web {@link ModelSource} into random-access bytes, with a name for errors. */
export async function modelByteSource(
  source: ModelSource,
  fetchImpl: typeof fetch | undefined = (globalThis as { fetch?: typeof fetch }).fetch,
): Promise<ByteSource> {
  if (source instanceof Uint8Array) return bytesSource(source, '<checkpoint buffer>');
  if (source instanceof ArrayBuffer) return bytesSource(new Uint8Array(source), '<checkpoint buffer>');
  if (typeof Blob !== 'undefined' && source instanceof Blob) return blobSource(source, (source as { name?: string }).name || '<checkpoint blob>');
  if (typeof Response !== 'undefined' && source instanceof Response) return responseSource(source, source.url || '<checkpoint response>');
  if (typeof source === 'string' || source instanceof URL) {
    const base = (globalThis as { location?: { href: string } }).location?.href;
    let url: URL;
    try {
      url = new URL(String(source), base);
    } catch {
      throw new CheckpointError(`not a checkpoint URL: "${String(source)}" (pass bytes, a Blob/File, a Response or an absolute URL)`);
    }
    if (!fetchImpl) throw new CheckpointError(`cannot fetch ${url.href}: no fetch here (pass options.fetch)`);
    let res: Response;
    try {
      res = await fetchImpl(url.href);
    } catch (e) {
      throw new CheckpointError(`cannot fetch checkpoint ${url.href}: ${(e as Error).message}`);
    }
    return responseSource(res, url.href);
  }
  throw new CheckpointError(`unsupported model source (${Object.prototype.toString.call(source)}): pass bytes, an ArrayBuffer, a Blob/File, a Response or a URL`);
}

async function responseSource(res: Response, name: string): Promise<ByteSource> {
  if (!res.ok) throw new CheckpointError(`cannot fetch checkpoint ${name}: HTTP ${res.status} ${res.statusText}`.trim());
  return blobSource(await res.blob(), name);
}

/**
 * Build a model from checkpoint bytes, a Blob/File, a Response or a URL (safetensors with HF GPT-2
 * names, F32/F16/BF16, PyTorch or llm.c `.bin`). Works in browsers and in Node.
 * Throws {@link CheckpointError} naming the source and the tensor or field at fault.
 */
export async function loadModelFrom(gpu: GPUContext, source: ModelSource, options: LoadModelOptions = {}): Promise<GPT2> {
  const file = await modelByteSource(source, options.fetch);
  const what = options.fileName ?? file.name;
  const given = options.config;
  const full = given && 'paddedVocabSize' in given ? (given as GPT2Config) : undefined;
  const ck = await openCheckpointFrom({
    what,
    files: [file],
    config: full,
    configJson: given && !full ? { json: given as HFGPT2ConfigJson, where: 'the config given to loadModel' } : undefined,
  });
  try {
    return await buildModel(gpu, ck, options);
  } finally {
    await ck.close();
  }
}

/** Options of {@link modelToSafetensors}. */
export interface SerializeModelOptions {
  /** Tensor dtype. Default `'F32'` (the f32 master weights, lossless). */
  dtype?: SafetensorsDType;
  /** Extra `__metadata__` entries (cannot override the config keys). Default none. */
  metadata?: Record<string, string>;
}

/**
 * The model as safetensors bytes with HF GPT-2 names and its config in `__metadata__` (what
 * `saveModel` writes in Node): save it in a browser with a Blob download or the File System
 * Access API, and load it back with `loadModel(gpu, bytes)`.
 */
export async function modelToSafetensors(model: GPT2, options: SerializeModelOptions = {}): Promise<Uint8Array> {
  return saveGPT2Weights(model.config, await model.weights(), options.dtype ?? 'F32', options.metadata ?? {});
}
