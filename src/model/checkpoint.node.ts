/**
 * Checkpoint file I/O (Node only). All parsing is delegated to the browser-safe modules.
 */

import { closeSync, openSync, promises as fsp, readSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import * as nodePath from 'node:path';

import { CheckpointError, type GPT2Config } from './config';
import { loadGPT2Weights, saveGPT2Weights, type HFGPT2ConfigJson } from './hfnames';
import {
  detectCheckpointFormat,
  loadCheckpointBytes,
  metadataHasConfig,
  writeLlmcCheckpoint,
  type CheckpointFormat,
  type LoadedCheckpoint,
} from './llmc';
import { parseSafetensors, type SafetensorsDType, type SafetensorsSource } from './safetensors';

export { CheckpointError };
export type { CheckpointFormat, LoadedCheckpoint };

export interface ReadCheckpointOptions {
  /** Read tensor by tensor above this file size (default STREAM_ABOVE, 1 GiB). */
  streamAbove?: number;
  /** HF config.json to use (must exist). Default: `config.json` beside the file, read only if
   *  the safetensors metadata lacks the config. Ignored for llm.c files. */
  configJsonPath?: string;
  /** Explicit config (safetensors only); must agree with the metadata if that has one. */
  config?: GPT2Config;
}

export interface WriteCheckpointOptions {
  /** Default: 'llmc' if the path ends in `.bin`, else 'safetensors'. */
  format?: CheckpointFormat;
  /** safetensors dtype (default F32). llm.c output is always fp32. */
  dtype?: SafetensorsDType;
  /** Extra safetensors `__metadata__` entries (cannot override the config keys). */
  metadata?: Record<string, string>;
}

/** Files above this many bytes are read tensor by tensor (fs.readFile stops at 2 GiB). */
export const STREAM_ABOVE = 1 << 30;

async function fileSize(path: string): Promise<number> {
  try {
    const st = await fsp.stat(path);
    if (st.isDirectory()) throw new CheckpointError(`checkpoint file is a directory, not a file: ${path}`);
    return st.size;
  } catch (e) {
    if (e instanceof CheckpointError) throw e;
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new CheckpointError(`checkpoint file not found: ${path}`);
    throw new CheckpointError(`cannot read checkpoint file ${path}: ${(e as Error).message}`);
  }
}

/** The header of a large safetensors file, and a reader for each tensor's bytes. */
function openStreamed(path: string, size: number): { prefix: Uint8Array; source: SafetensorsSource; close(): void } {
  const fd = openSync(path, 'r');
  const readAt = (offset: number, length: number): Uint8Array => {
    const out = new Uint8Array(length);
    let done = 0;
    while (done < length) {
      const n = readSync(fd, out, done, length - done, offset + done);
      if (n === 0) throw new CheckpointError(`${path} is truncated: ended at byte ${offset + done} while reading ${length} bytes at ${offset}`);
      done += n;
    }
    return out;
  };
  const head = readAt(0, Math.min(8, size));
  const headerLen = size >= 8 ? Number(new DataView(head.buffer).getBigUint64(0, true)) : 0;
  const prefix = headerLen > 0 && headerLen <= size - 8 && headerLen < 1 << 30 ? readAt(0, 8 + headerLen) : head;
  return { prefix, source: { fileSize: size, read: readAt }, close: () => closeSync(fd) };
}

async function readFileOrThrow(path: string, what: string): Promise<Uint8Array> {
  try {
    const buf = await fsp.readFile(path);
    return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new CheckpointError(`${what} not found: ${path}`);
    if (code === 'EISDIR') throw new CheckpointError(`${what} is a directory, not a file: ${path}`);
    throw new CheckpointError(`cannot read ${what} ${path}: ${(e as Error).message}`);
  }
}

async function readConfigJson(path: string): Promise<HFGPT2ConfigJson> {
  const bytes = await readFileOrThrow(path, 'config.json');
  try {
    return JSON.parse(new TextDecoder().decode(bytes)) as HFGPT2ConfigJson;
  } catch (e) {
    throw new CheckpointError(`config file ${path} is not valid JSON: ${(e as Error).message}`);
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await fsp.access(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * Read a safetensors (HF GPT-2 naming) or llm.c `.bin` checkpoint, detected by its magic.
 * For safetensors without a config in `__metadata__`, `config.json` beside the file is used.
 */
export async function readCheckpoint(path: string, opts: ReadCheckpointOptions = {}): Promise<LoadedCheckpoint> {
  const size = await fileSize(path);
  const streamed = size > (opts.streamAbove ?? STREAM_ABOVE) ? openStreamed(path, size) : undefined;
  const bytes = streamed ? streamed.prefix : await readFileOrThrow(path, 'checkpoint file');
  if (detectCheckpointFormat(bytes, path) === 'llmc') {
    if (streamed) {
      streamed.close();
      throw new CheckpointError(`${path}: llm.c checkpoints over ${STREAM_ABOVE} bytes are not supported; convert it to safetensors`);
    }
    return loadCheckpointBytes(bytes, { fileName: path });
  }
  if (streamed) {
    try {
      const parsed = parseSafetensors(bytes, path, streamed.source);
      let config: GPT2Config | HFGPT2ConfigJson | undefined = opts.config;
      if (opts.configJsonPath !== undefined) config ??= await readConfigJson(opts.configJsonPath);
      else if (config === undefined && !metadataHasConfig(parsed.metadata, path)) config = await readConfigJson(nodePath.join(nodePath.dirname(path), 'config.json'));
      const { config: c, params } = loadGPT2Weights(parsed, config);
      return { format: 'safetensors', config: c, params, metadata: parsed.metadata };
    } finally {
      streamed.close();
    }
  }
  let config: GPT2Config | HFGPT2ConfigJson | undefined = opts.config;
  if (opts.configJsonPath !== undefined) {
    const json = await readConfigJson(opts.configJsonPath);
    if (config === undefined) config = json;
    else loadCheckpointConfigCheck(json, opts.configJsonPath, config);
  } else if (config === undefined) {
    const parsed = parseSafetensors(bytes, path); // cheap: header only + views
    if (!metadataHasConfig(parsed.metadata, path)) {
      const beside = nodePath.join(nodePath.dirname(path), 'config.json');
      if (!(await exists(beside))) {
        throw new CheckpointError(
          `no model config for ${path}: its __metadata__ lacks n_layer, n_head, n_embd, n_positions, vocab_size and there is no ${beside}`,
        );
      }
      config = await readConfigJson(beside);
    }
  }
  return loadCheckpointBytes(bytes, { fileName: path, config });
}

function loadCheckpointConfigCheck(json: HFGPT2ConfigJson, jsonPath: string, config: GPT2Config): void {
  // Both an explicit config and a config.json: they must describe the same model.
  const keys: [keyof GPT2Config, string, string?][] = [
    ['nLayer', 'n_layer'],
    ['nHead', 'n_head'],
    ['nEmbd', 'n_embd'],
    ['nPositions', 'n_positions', 'n_ctx'],
    ['vocabSize', 'vocab_size'],
  ];
  for (const [ours, hf, alt] of keys) {
    const v = json[hf] ?? (alt ? json[alt] : undefined);
    if (v !== undefined && Number(v) !== config[ours]) {
      throw new CheckpointError(`${jsonPath}: ${hf} = ${String(v)} disagrees with the given config ${ours} = ${config[ours]}`);
    }
  }
}

/**
 * Write `bytes` to `path` atomically: write `path.tmp-<pid>-<rand>`, fsync, rename over `path`
 * (then best-effort fsync of the directory). On failure the temp file is removed.
 */
export async function writeFileAtomic(path: string, bytes: Uint8Array): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`;
  let fh: fsp.FileHandle | undefined;
  try {
    fh = await fsp.open(tmp, 'wx');
    await fh.writeFile(bytes);
    await fh.sync();
    await fh.close();
    fh = undefined;
    await fsp.rename(tmp, path);
  } catch (e) {
    if (fh) await fh.close().catch(() => undefined);
    await fsp.rm(tmp, { force: true }).catch(() => undefined);
    throw new CheckpointError(`cannot write ${path}: ${(e as Error).message}`);
  }
  try {
    const dir = await fsp.open(nodePath.dirname(path), 'r');
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
  } catch {
    // Directory fsync is not supported everywhere (e.g. Windows); the rename is still atomic.
  }
}

/**
 * Save canonical params as a checkpoint (safetensors with HF names + config metadata, or an
 * llm.c fp32 `.bin`), creating the parent directory, atomically.
 */
export async function writeCheckpoint(
  path: string,
  config: GPT2Config,
  params: ReadonlyMap<string, Float32Array>,
  extra: WriteCheckpointOptions = {},
): Promise<void> {
  const format = extra.format ?? (/\.bin$/i.test(path) ? 'llmc' : 'safetensors');
  let bytes: Uint8Array;
  if (format === 'llmc') {
    if (extra.dtype !== undefined && extra.dtype !== 'F32') {
      throw new CheckpointError(`llm.c checkpoints are written as fp32 only, not ${extra.dtype} (${path})`);
    }
    if (extra.metadata && Object.keys(extra.metadata).length > 0) {
      throw new CheckpointError(`llm.c checkpoints cannot store metadata; write safetensors instead (${path})`);
    }
    bytes = writeLlmcCheckpoint(config, params);
  } else {
    bytes = saveGPT2Weights(config, params, extra.dtype ?? 'F32', extra.metadata ?? {});
  }
  await fsp.mkdir(nodePath.dirname(path), { recursive: true });
  await writeFileAtomic(path, bytes);
}
