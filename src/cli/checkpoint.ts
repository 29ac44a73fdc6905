// How a command says which checkpoint it took: a run directory resolves to its newest checkpoint
// (model/source/rundir.node.ts, the same rule as resolveCheckpoint and loadModel), named on stderr.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { newestCheckpoint } from '../model/source/rundir.node';
import { DIRECTORY_WEIGHTS } from '../model/source/resolve.node';

/** Prints "runs/x is a run directory: using its newest checkpoint ..." when `source` is a run directory. */
export function noteCheckpoint(source: string | undefined, flag = '--checkpoint'): void {
  if (!source || DIRECTORY_WEIGHTS.some((f) => existsSync(join(source, f)))) return;
  const n = newestCheckpoint(source);
  if (n) console.error(`${flag} ${source} is a run directory: using its newest checkpoint, ${n.dir} (step ${n.step})`);
}
