// Models from memory and from the web (browser-safe): checkpoint bytes, an ArrayBuffer, a Blob or
// File, a fetch Response, or a URL, in one call. Parsing is the shared safetensors / llm.c code;
// the Node entry's loadModel adds file paths and Hugging Face sources on top of this.

import type { GPUContext } from '../gpu/context';
import { CheckpointError, type GPT2Config } from './config';
import { GPT2, type ModelOptions } from './gpt2';
import { saveGPT2Weights, type HFGPT2ConfigJson } from './hfnames';
import { loadCheckpointBytes } from './llmc';
import type { SafetensorsDType } from './safetensors';

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

/** Read any in-memory or web {@link ModelSource} into bytes, with a name for errors. */
export async function modelSourceBytes(
  source: ModelSource,
  fetchImpl: typeof fetch | undefined = (globalThis as { fetch?: typeof fetch }).fetch,
): Promise<{ bytes: Uint8Array; name: string }> {
  if (source instanceof Uint8Array) return { bytes: source, name: '<checkpoint buffer>' };
  if (source instanceof ArrayBuffer) return { bytes: new Uint8Array(source), name: '<checkpoint buffer>' };
  if (typeof Blob !== 'undefined' && source instanceof Blob) {
    const name = (source as { name?: string }).name || '<checkpoint blob>';
    return { bytes: new Uint8Array(await source.arrayBuffer()), name };
  }
  if (typeof Response !== 'undefined' && source instanceof Response) return responseBytes(source, source.url || '<checkpoint response>');
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
    return responseBytes(res, url.href);
  }
  throw new CheckpointError(`unsupported model source (${Object.prototype.toString.call(source)}): pass bytes, an ArrayBuffer, a Blob/File, a Response or a URL`);
}

async function responseBytes(res: Response, name: string): Promise<{ bytes: Uint8Array; name: string }> {
  if (!res.ok) throw new CheckpointError(`cannot fetch checkpoint ${name}: HTTP ${res.status} ${res.statusText}`.trim());
  return { bytes: new Uint8Array(await res.arrayBuffer()), name };
}

/**
 * Build a model from checkpoint bytes, a Blob/File, a Response or a URL (safetensors with HF GPT-2
 * names, F32/F16/BF16, or llm.c `.bin`). Works in browsers and in Node.
 * Throws {@link CheckpointError} naming the source and the tensor or field at fault.
 */
export async function loadModelFrom(gpu: GPUContext, source: ModelSource, options: LoadModelOptions = {}): Promise<GPT2> {
  const { bytes, name } = await modelSourceBytes(source, options.fetch);
  const ckpt = loadCheckpointBytes(bytes, { fileName: options.fileName ?? name, config: options.config });
  const model = new GPT2(gpu, ckpt.config, options);
  try {
    model.loadWeights(ckpt.params);
  } catch (e) {
    model.destroy();
    throw e;
  }
  return model;
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
