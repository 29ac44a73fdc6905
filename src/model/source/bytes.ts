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
