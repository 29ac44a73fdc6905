// llm.c token shards: a 256 x int32 little-endian header [20240520, 1, tokenCount, 0, ...] followed by
// tokenCount uint16 little-endian token ids. Pure byte manipulation, usable in a browser.
//
// The tokenizer a shard was made with is recorded in header ints that llm.c leaves unused (it reads
// only ints 0..2): int 240 = SHARD_TOKENIZER_TAG ("MQGT"), int 241 = the tokenizer's vocab size,
// ints 242..249 = the 32 bytes of the SHA-256 of its tokenizer.json (see tokenizerRecord). Shards
// without the tag (llm.c's own) say nothing about their tokenizer.

import { DataError } from '../../util/errors';
import type { TokenizerRecord } from '../consistency';

export const SHARD_MAGIC = 20240520;
export const SHARD_VERSION = 1;
export const SHARD_HEADER_INTS = 256;
export const SHARD_HEADER_BYTES = SHARD_HEADER_INTS * 4;
export const SHARD_MAX_VOCAB = 65535;

export const SHARD_TOKENIZER_TAG = 0x4d514754;
const TAG_INT = 240;

/** What a shard's header says. */
export interface ShardHeader {
  tokens: number;
  /** The tokenizer recorded by `mqg data prepare` (absent in llm.c's shards). */
  tokenizer?: TokenizerRecord;
}

const littleEndianHost = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Encodes tokens as an llm.c shard. Every token must be an integer in [0, vocabSize). */
export function encodeShard(tokens: ArrayLike<number>, vocabSize: number, tokenizer?: TokenizerRecord): Uint8Array {
  if (!Number.isInteger(vocabSize) || vocabSize <= 0) throw new DataError(`encodeShard: vocabSize must be a positive integer, got ${vocabSize}`);
  if (vocabSize > SHARD_MAX_VOCAB) {
    throw new DataError(`encodeShard: vocab size ${vocabSize} does not fit the uint16 shard format (max ${SHARD_MAX_VOCAB})`);
  }
  const n = tokens.length;
  if (n > 0x7fffffff) throw new DataError(`encodeShard: ${n} tokens do not fit an int32 token count`);
  const bytes = new Uint8Array(SHARD_HEADER_BYTES + 2 * n);
  const dv = new DataView(bytes.buffer);
  dv.setInt32(0, SHARD_MAGIC, true);
  dv.setInt32(4, SHARD_VERSION, true);
  dv.setInt32(8, n, true);
  if (tokenizer) {
    if (!/^[0-9a-f]{64}$/.test(tokenizer.hash)) throw new DataError(`encodeShard: tokenizer hash must be 64 hex digits (SHA-256), got "${tokenizer.hash}"`);
    dv.setInt32(4 * TAG_INT, SHARD_TOKENIZER_TAG, true);
    dv.setInt32(4 * (TAG_INT + 1), tokenizer.vocabSize, true);
    for (let i = 0; i < 32; i++) bytes[4 * (TAG_INT + 2) + i] = parseInt(tokenizer.hash.slice(2 * i, 2 * i + 2), 16);
  }
  for (let i = 0; i < n; i++) {
    const t = tokens[i];
    if (!(Number.isInteger(t) && t >= 0 && t < vocabSize)) {
      throw new DataError(`encodeShard: token id ${t} at index ${i} is out of range for vocab size ${vocabSize}`);
    }
    dv.setUint16(SHARD_HEADER_BYTES + 2 * i, t, true);
  }
  return bytes;
}

/** Reads the 1024-byte header (magic, version, count, recorded tokenizer); `name` is quoted in errors. */
export function decodeShardHeader(data: Uint8Array, name = '<shard>'): ShardHeader {
  if (data.length < SHARD_HEADER_BYTES) {
    throw new DataError(`${name}: not an llm.c shard: ${data.length} bytes is smaller than the ${SHARD_HEADER_BYTES}-byte header`);
  }
  const dv = new DataView(data.buffer, data.byteOffset, SHARD_HEADER_BYTES);
  const magic = dv.getInt32(0, true);
  if (magic !== SHARD_MAGIC) {
    throw new DataError(`${name}: not an llm.c shard: bad magic ${magic} (0x${(magic >>> 0).toString(16)}), expected ${SHARD_MAGIC}`);
  }
  const version = dv.getInt32(4, true);
  if (version !== SHARD_VERSION) {
    throw new DataError(`${name}: unsupported shard version ${version} (only version ${SHARD_VERSION}, uint16 tokens, is supported)`);
  }
  const n = dv.getInt32(8, true);
  if (n < 0) throw new DataError(`${name}: corrupt shard header: negative token count ${n}`);
  if (dv.getInt32(4 * TAG_INT, true) !== SHARD_TOKENIZER_TAG) return { tokens: n };
  let hash = '';
  for (let i = 0; i < 32; i++) hash += data[4 * (TAG_INT + 2) + i]!.toString(16).padStart(2, '0');
  return { tokens: n, tokenizer: { hash, vocabSize: dv.getInt32(4 * (TAG_INT + 1), true) } };
}

/** Decodes an llm.c shard; `name` (a file path, say) is quoted in every error. */
export function decodeShard(data: Uint8Array | ArrayBuffer, name = '<shard>'): Uint16Array {
  const bytes = data instanceof Uint8Array ? data : new Uint8Array(data);
  const n = decodeShardHeader(bytes, name).tokens;
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const expected = SHARD_HEADER_BYTES + 2 * n;
  if (bytes.length < expected) {
    throw new DataError(`${name}: truncated shard: header says ${n} tokens (${expected} bytes) but the file has ${bytes.length} bytes (${Math.max(0, Math.floor((bytes.length - SHARD_HEADER_BYTES) / 2))} tokens)`);
  }
  if (bytes.length > expected) {
    throw new DataError(`${name}: shard size mismatch: header says ${n} tokens (${expected} bytes) but the file has ${bytes.length} bytes`);
  }
  const start = bytes.byteOffset + SHARD_HEADER_BYTES;
  if (littleEndianHost && start % 2 === 0) return new Uint16Array(bytes.buffer, start, n);
  const out = new Uint16Array(n);
  for (let i = 0; i < n; i++) out[i] = dv.getUint16(SHARD_HEADER_BYTES + 2 * i, true);
  return out;
}
