/**
 * Checkpoints over HTTP, browser-safe (fetch only): a ByteSource whose every read is one ranged GET
 * (`Range: bytes=a-b`, answered 206), and a Hugging Face model directory opened by URL
 * (config.json, then the shard index or the single weight file) as CheckpointInputs for the
 * loader pipeline (open.ts). The loader reads one tensor at a time, so the page holds one tensor's
 * bytes, never a whole file. A server that ignores Range (200 with the whole body) is an error
 * naming the URL: streaming a 5 GB file to pick out each tensor would download it once per tensor.
 */

import type { GPUContext } from '../../gpu/context';
import { CheckpointError } from '../../util/errors';
import type { GPT2, ModelOptions } from '../gpt2';
import { truncated, type ByteSource } from './bytes';
import type { HFGPT2ConfigJson } from './config';
import { buildModel } from './load';
import { openCheckpointFrom, type CheckpointInputs, type OpenedCheckpoint } from './open';
import { parseShardIndex, shardFiles } from './tensors';

/**
 * The first ranged GET asks for this many bytes: it learns the size (Content-Range) and keeps the
 * bytes, which hold a safetensors file's 8-byte length and, for most files, its whole header.
 */
const PROBE_BYTES = 64 << 10;

/** Options of {@link urlSource} and {@link openModelUrl}. */
export interface UrlSourceOptions {
  /** The fetch to use. Default: `globalThis.fetch`. */
  fetch?: typeof fetch;
  /** Called after every ranged response body is read, with its length in bytes. */
  onBytes?: (bytes: number) => void;
}

/** Progress of {@link loadModelFromUrl}: bytes received over all files, tensors handed to the model. */
export interface UrlLoadProgress {
  /** Bytes of the weight files received so far. */
  bytes: number;
  /** Total size of the weight files (their Content-Range sizes); known once they are opened. */
  totalBytes: number;
  /** Tensors read and handed to the model so far. */
  tensors: number;
  /** Tensors the model takes from the checkpoint. */
  totalTensors: number;
}

function fetchOf(f?: typeof fetch): typeof fetch {
  const g = f ?? (globalThis as { fetch?: typeof fetch }).fetch;
  if (!g) throw new CheckpointError('no fetch here to read a checkpoint by URL (pass options.fetch)');
  return g;
}

/** One GET; a network failure (or a CORS refusal, which looks the same) as one line naming the URL. */
async function get(f: typeof fetch, url: string, headers: Record<string, string> = {}): Promise<Response> {
  try {
    return await f(url, { headers });
  } catch (e) {
    throw new CheckpointError(`cannot fetch ${url}: ${(e as Error).message} (a server on another origin must allow it with CORS)`);
  }
}

function httpError(url: string, res: Response): CheckpointError {
  return new CheckpointError(`cannot fetch ${url}: HTTP ${res.status} ${res.statusText}`.trim());
}

/** A 206's body read into `out` chunk by chunk as it streams in (no second copy of the range). */
async function readBody(res: Response, out: Uint8Array, url: string, range: string): Promise<void> {
  let at = 0;
  const reader = res.body?.getReader();
  if (!reader) {
    const all = new Uint8Array(await res.arrayBuffer());
    if (all.byteLength !== out.byteLength) throw new CheckpointError(`${url}: the server sent ${all.byteLength} bytes for range ${range}, not ${out.byteLength}`);
    out.set(all);
    return;
  }
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (at + value.byteLength > out.byteLength) {
      await reader.cancel();
      throw new CheckpointError(`${url}: the server sent more than ${out.byteLength} bytes for range ${range}`);
    }
    out.set(value, at);
    at += value.byteLength;
  }
  if (at !== out.byteLength) throw new CheckpointError(`${url}: the server sent ${at} bytes for range ${range}, not ${out.byteLength}`);
}

/** A 206's `Content-Range: bytes a-b/size`, checked against the range asked for. */
function contentRange(res: Response, url: string, from: number): { to: number; size: number } {
  if (res.status === 200) {
    void res.body?.cancel();
    throw new CheckpointError(`${url}: the server ignores Range requests (HTTP 200 with the whole file); the loader reads a checkpoint by byte ranges, so serve it from a server that answers Range with 206`);
  }
  const header = res.headers.get('content-range') ?? '';
  const m = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(header.trim());
  if (!m) {
    void res.body?.cancel();
    throw new CheckpointError(`${url}: HTTP ${res.status} without a readable Content-Range ("${header}"); a server on another origin must list Content-Range in Access-Control-Expose-Headers`);
  }
  if (Number(m[1]) !== from) throw new CheckpointError(`${url}: asked for bytes from ${from}, the server sent "${header}"`);
  return { to: Number(m[2]), size: Number(m[3]) };
}

/**
 * A ByteSource over a URL: each read is one `Range: bytes=a-b` GET, streamed into one buffer.
 * Opening it makes the first ranged GET (its size from Content-Range, its first 64 KiB kept for the
 * header reads). Returns undefined for a 404 when `optional` (a file a directory may lack).
 */
export async function urlSource(url: string | URL, options?: UrlSourceOptions & { optional?: false }): Promise<ByteSource>;
export async function urlSource(url: string | URL, options: UrlSourceOptions & { optional: boolean }): Promise<ByteSource | undefined>;
export async function urlSource(url: string | URL, options: UrlSourceOptions & { optional?: boolean } = {}): Promise<ByteSource | undefined> {
  const f = fetchOf(options.fetch);
  const name = String(url);
  const count = (n: number) => options.onBytes?.(n);
  const probeRange = `bytes=0-${PROBE_BYTES - 1}`;
  const first = await get(f, name, { range: probeRange });
  if (first.status === 404 && options.optional) {
    void first.body?.cancel();
    return undefined;
  }
  if (first.status === 416) throw new CheckpointError(`${name} is empty (HTTP 416 for ${probeRange})`);
  if (!first.ok) throw httpError(name, first);
  const { to, size } = contentRange(first, name, 0);
  const head = new Uint8Array(to + 1);
  await readBody(first, head, name, probeRange);
  count(head.byteLength);
  const read = async (offset: number, length: number): Promise<Uint8Array> => {
    if (offset < 0 || length < 0 || offset + length > size) throw truncated(name, offset, length, size);
    if (offset + length <= head.byteLength) return head.slice(offset, offset + length);
    // a tensor that starts inside the probe's bytes takes them from there: each byte fetched once
    const out = new Uint8Array(length);
    const from = Math.max(offset, head.byteLength);
    if (from > offset) out.set(head.subarray(offset));
    const range = `bytes=${from}-${offset + length - 1}`;
    const res = await get(f, name, { range });
    if (!res.ok) throw httpError(name, res);
    contentRange(res, name, from);
    await readBody(res, out.subarray(from - offset), name, range);
    count(offset + length - from);
    return out;
  };
  return { name, size, fresh: true, read, close: async () => undefined };
}

/** A small file of the directory (config.json, an index) as text; undefined for a 404 when optional. */
async function fetchText(f: typeof fetch, url: string, optional: boolean): Promise<string | undefined> {
  const res = await get(f, url);
  if (res.status === 404 && optional) {
    void res.body?.cancel();
    return undefined;
  }
  if (!res.ok) throw httpError(url, res);
  return res.text();
}

function parseJson(text: string, where: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new CheckpointError(`${where} is not valid JSON: ${(e as Error).message}`);
  }
}

/** What {@link openModelUrl} found: the loader's inputs, plus tokenizer.json's text when present. */
export interface UrlModelInputs extends CheckpointInputs {
  /** The directory's tokenizer.json, when asked for (`tokenizer: true`) and present. */
  tokenizerJson?: string;
}

/**
 * A Hugging Face model directory by URL, as the loader's inputs: config.json (required), then the
 * first found of model.safetensors.index.json (its shards), model.safetensors,
 * pytorch_model.bin.index.json, pytorch_model.bin; tokenizer.json when `tokenizer` is set and the
 * directory has one. Weight files are opened as ranged sources (one 64 KiB GET each).
 */
export async function openModelUrl(dir: string | URL, options: UrlSourceOptions & { tokenizer?: boolean } = {}): Promise<UrlModelInputs> {
  const f = fetchOf(options.fetch);
  const base = new URL(String(dir), (globalThis as { location?: { href: string } }).location?.href);
  if (!base.pathname.endsWith('/')) base.pathname += '/';
  const at = (file: string) => new URL(file, base).href;
  const configText = (await fetchText(f, at('config.json'), false))!;
  const configJson = { json: parseJson(configText, at('config.json')) as HFGPT2ConfigJson, where: at('config.json') };
  const open = (file: string, optional: boolean) => urlSource(at(file), { ...options, fetch: f, optional });
  const inputs: UrlModelInputs = { what: base.href, files: [], configJson };
  for (const [indexName, single] of [['model.safetensors.index.json', 'model.safetensors'], ['pytorch_model.bin.index.json', 'pytorch_model.bin']] as const) {
    const indexText = await fetchText(f, at(indexName), true);
    if (indexText !== undefined) {
      inputs.index = parseShardIndex(indexText, at(indexName));
      for (const shard of shardFiles(inputs.index)) inputs.files.push((await open(shard, false))!);
      break;
    }
    const file = await open(single, true);
    if (file) {
      inputs.files.push(file);
      break;
    }
  }
  if (!inputs.files.length) throw new CheckpointError(`${base.href} has no weights: none of model.safetensors.index.json, model.safetensors, pytorch_model.bin.index.json, pytorch_model.bin`);
  if (options.tokenizer) inputs.tokenizerJson = await fetchText(f, at('tokenizer.json'), true);
  return inputs;
}

/** Options of {@link loadModelFromUrl}: the model's (e.g. `quantize: 'q4_0'`) and the fetch's. */
export interface LoadModelUrlOptions extends ModelOptions {
  /** The fetch to use. Default: `globalThis.fetch`. */
  fetch?: typeof fetch;
  /** Called as bytes arrive and as each tensor reaches the model. */
  onProgress?: (p: UrlLoadProgress) => void;
}

/** Report every tensor handed to the model (readParams reads each entry once, in order). */
function countTensors(ck: OpenedCheckpoint, progress: UrlLoadProgress, report: () => void): void {
  progress.totalTensors = ck.params.size;
  for (const [name, entry] of ck.params) {
    ck.params.set(name, {
      ...entry,
      read: async () => {
        const values = await entry.read();
        progress.tensors++;
        report();
        return values;
      },
    });
  }
}

/**
 * Build a model from a Hugging Face model directory on the web, streamed: each tensor is fetched
 * by its byte range, converted (quantized with `quantize`), uploaded, and dropped before the next.
 * The server must answer Range requests (206) and, on another origin, allow CORS with
 * Content-Range exposed.
 */
export async function loadModelFromUrl(gpu: GPUContext, dir: string | URL, options: LoadModelUrlOptions = {}): Promise<GPT2> {
  const { fetch: fetchImpl, onProgress, ...modelOptions } = options;
  const progress: UrlLoadProgress = { bytes: 0, totalBytes: 0, tensors: 0, totalTensors: 0 };
  const report = () => onProgress?.({ ...progress });
  const onBytes = (n: number) => {
    progress.bytes += n;
    report();
  };
  const inputs = await openModelUrl(dir, { fetch: fetchImpl, onBytes });
  progress.totalBytes = inputs.files.reduce((n, s) => n + s.size, 0);
  const ck = await openCheckpointFrom(inputs);
  try {
    countTensors(ck, progress, report);
    return await buildModel(gpu, ck, modelOptions);
  } finally {
    await ck.close();
  }
}
