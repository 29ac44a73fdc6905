// A ByteSource over a file descriptor (Node): positioned reads, the file is never read whole.
// Every checkpoint weight file the loader reads is opened here, through `checkpointFiles.open`:
// a test counts opens with `vi.spyOn(checkpointFiles, 'open')` (one call per file per open).
import { promises as fsp } from 'node:fs';
import { CheckpointError } from '../../util/errors';
import { pooledBytes, truncated, type ByteSource } from './bytes';

/** The one way checkpoint files are opened (an object, so a test can spy on `open`). */
export const checkpointFiles = {
  open: fileSource,
};

async function fileSource(path: string): Promise<ByteSource> {
  let fh: fsp.FileHandle;
  try {
    fh = await fsp.open(path, 'r');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new CheckpointError(`checkpoint file not found: ${path}`);
    throw new CheckpointError(`cannot open checkpoint file ${path}: ${(e as Error).message}`);
  }
  const st = await fh.stat();
  if (st.isDirectory()) {
    await fh.close();
    throw new CheckpointError(`checkpoint file is a directory, not a file: ${path}`);
  }
  const size = st.size;
  return {
    name: path,
    size,
    fresh: true,
    read: async (offset, length) => {
      if (offset < 0 || offset + length > size) throw truncated(path, offset, length, size);
      const out = pooledBytes(length); // recycled by streamWeights once uploaded
      let done = 0;
      while (done < length) {
        // One read is capped near 2 GiB; loop.
        const { bytesRead } = await fh.read(out, done, Math.min(length - done, 1 << 30), offset + done);
        if (bytesRead === 0) throw truncated(path, offset, length, size);
        done += bytesRead;
      }
      return out;
    },
    close: () => fh.close(),
  };
}
