/**
 * Random-access bytes: what every checkpoint reader works on, so a 10 GB file is never held
 * whole. Browser-safe: a Blob/File or an in-memory buffer here, a file descriptor in file.node.ts.
 */

import { CheckpointError } from '../../util/errors';

export interface ByteSource {
  /** File name for error messages. */
  readonly name: string;
  readonly size: number;
  /** Exactly `length` bytes at `offset`; a short read is a CheckpointError naming the file. */
  read(offset: number, length: number): Promise<Uint8Array>;
  /** Every read returns new bytes that nothing else holds (a reader may decode them in place). */
  readonly fresh?: boolean;
  close(): Promise<void>;
}

export function truncated(name: string, offset: number, length: number, size: number): CheckpointError {
  return new CheckpointError(`${name} is truncated: reading ${length} bytes at offset ${offset} goes past its end (${size} bytes)`);
}

/** A ByteSource over bytes already in memory (reads are views, not copies). */
export function bytesSource(bytes: Uint8Array, name = '<buffer>'): ByteSource {
  return {
    name,
    size: bytes.byteLength,
    read: async (offset, length) => {
      if (offset < 0 || offset + length > bytes.byteLength) throw truncated(name, offset, length, bytes.byteLength);
      return bytes.subarray(offset, offset + length);
    },
    close: async () => undefined,
  };
}

/** A ByteSource over a Blob or File (the browser's way to read a checkpoint the user picked). */
export function blobSource(blob: Blob, name = (blob as File).name ?? '<blob>'): ByteSource {
  return {
    name,
    size: blob.size,
    fresh: true,
    read: async (offset, length) => {
      if (offset < 0 || offset + length > blob.size) throw truncated(name, offset, length, blob.size);
      return new Uint8Array(await blob.slice(offset, offset + length).arrayBuffer());
    },
    close: async () => undefined,
  };
}

// Read buffers reused from tensor to tensor while a model loads. A fresh multi-MB buffer costs a
// page fault per 4 KiB on its first touch (here the disk read fills it), which on a VM runs near
// 230 MB/s, slower than the disk: a 10 GB checkpoint spent most of its load there. A ByteSource
// reads into pooledBytes(); whoever is done with the bytes (streamWeights, once a tensor is on the
// GPU) hands the buffer back with recycleBytes(); drainBytePool() lets the idle buffers go.

/** Reads smaller than this take a plain new array (the heap serves them without fresh pages). */
const POOL_MIN_BYTES = 1 << 20;
/**
 * Idle buffers kept: the largest ones, so the next reads fit (at most three tensors are in flight),
 * but not past POOL_MAX_IDLE_BYTES (a 500 MB wte buffer is let go rather than held for 100 MB reads).
 */
const POOL_MAX_IDLE = 4;
const POOL_MAX_IDLE_BYTES = 512 << 20;
const pooled = new WeakSet<ArrayBufferLike>();
let idle: ArrayBuffer[] = [];

/** `length` bytes (contents undefined) in the smallest idle pooled buffer that holds them, else a new one. */
export function pooledBytes(length: number): Uint8Array {
  if (length < POOL_MIN_BYTES) return new Uint8Array(length);
  let best = -1;
  for (let i = 0; i < idle.length; i++) {
    if (idle[i]!.byteLength >= length && (best < 0 || idle[i]!.byteLength < idle[best]!.byteLength)) best = i;
  }
  if (best >= 0) return new Uint8Array(idle.splice(best, 1)[0]!, 0, length);
  const buf = new ArrayBuffer(length);
  pooled.add(buf);
  return new Uint8Array(buf);
}

/** Give a buffer from pooledBytes back, once nothing reads its bytes any more (others are ignored). */
export function recycleBytes(buf: ArrayBufferLike): void {
  if (!pooled.has(buf) || idle.includes(buf as ArrayBuffer)) return;
  idle.push(buf as ArrayBuffer);
  idle.sort((a, b) => b.byteLength - a.byteLength);
  if (idle.length > POOL_MAX_IDLE) idle.length = POOL_MAX_IDLE;
  let total = idle.reduce((n, b) => n + b.byteLength, 0);
  while (total > POOL_MAX_IDLE_BYTES) total -= idle.shift()!.byteLength;
}

/** Let the idle pooled buffers go (the end of a load). */
export function drainBytePool(): void {
  idle = [];
}
