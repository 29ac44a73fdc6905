// llm.c token shards: a 256 x int32 little-endian header [20240520, 1, tokenCount, 0, ...] followed by
// tokenCount uint16 little-endian token ids. Pure byte manipulation, usable in a browser.

export const SHARD_MAGIC = 20240520;
export const SHARD_VERSION = 1;
export const SHARD_HEADER_INTS = 256;
export const SHARD_HEADER_BYTES = SHARD_HEADER_INTS * 4;
export const SHARD_MAX_VOCAB = 65535;

const littleEndianHost = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Encodes tokens as an llm.c shard. Every token must be an integer in [0, vocabSize). */
export function encodeShard(tokens: ArrayLike<number>, vocabSize: number): Uint8Array {
  if (!Number.isInteger(vocabSize) || vocabSize <= 0) throw new Error(`encodeShard: vocabSize must be a positive integer, got ${vocabSize}`);
  if (vocabSize > SHARD_MAX_VOCAB) {
    throw new Error(`encodeShard: vocab size ${vocabSize} does not fit the uint16 shard format (max ${SHARD_MAX_VOCAB})`);
  }
  const n = tokens.length;
  if (n > 0x7fffffff) throw new Error(`encodeShard: ${n} tokens do not fit an int32 token count`);
  const bytes = new Uint8Array(SHARD_HEADER_BYTES + 2 * n);
  const dv = new DataView(bytes.buffer);
  dv.setInt32(0, SHARD_MAGIC, true);
  dv.setInt32(4, SHARD_VERSION, true);
  dv.setInt32(8, n, true);
  for (let i = 0; i < n; i++) {
    const t = tokens[i];
    if (!(Number.isInteger(t) && t >= 0 && t < vocabSize)) {
      throw new Error(`encodeShard: token id ${t} at index ${i} is out of range for vocab size ${vocabSize}`);
    }
    dv.setUint16(SHARD_HEADER_BYTES + 2 * i, t, true);
  }
  return bytes;
}

/** Decodes an llm.c shard; `name` (a file path, say) is quoted in every error. */
export function decodeShard(data: Uint8Array | ArrayBuffer, name = '<shard>'): Uint16Array {
  const bytes = data instanceof Uint8Array ? data : new Uint8Array(data);
  if (bytes.length < SHARD_HEADER_BYTES) {
    throw new Error(`${name}: not an llm.c shard: ${bytes.length} bytes is smaller than the ${SHARD_HEADER_BYTES}-byte header`);
  }
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = dv.getInt32(0, true);
  if (magic !== SHARD_MAGIC) {
    throw new Error(`${name}: not an llm.c shard: bad magic ${magic} (0x${(magic >>> 0).toString(16)}), expected ${SHARD_MAGIC}`);
  }
  const version = dv.getInt32(4, true);
  if (version !== SHARD_VERSION) {
    throw new Error(`${name}: unsupported shard version ${version} (only version ${SHARD_VERSION}, uint16 tokens, is supported)`);
  }
  const n = dv.getInt32(8, true);
  if (n < 0) throw new Error(`${name}: corrupt shard header: negative token count ${n}`);
  const expected = SHARD_HEADER_BYTES + 2 * n;
  if (bytes.length < expected) {
    throw new Error(`${name}: truncated shard: header says ${n} tokens (${expected} bytes) but the file has ${bytes.length} bytes (${Math.max(0, Math.floor((bytes.length - SHARD_HEADER_BYTES) / 2))} tokens)`);
  }
  if (bytes.length > expected) {
    throw new Error(`${name}: shard size mismatch: header says ${n} tokens (${expected} bytes) but the file has ${bytes.length} bytes`);
  }
  const start = bytes.byteOffset + SHARD_HEADER_BYTES;
  if (littleEndianHost && start % 2 === 0) return new Uint16Array(bytes.buffer, start, n);
  const out = new Uint16Array(n);
  for (let i = 0; i < n; i++) out[i] = dv.getUint16(SHARD_HEADER_BYTES + 2 * i, true);
  return out;
}
