// A run directory as a checkpoint source (Node): `<run>/checkpoints/step-NNNNNN/` as `mqg train` and
// `mqg finetune-mcq` write them (train/rundir.node.ts). Every command and loadModel take a run
// directory for its newest complete checkpoint, through resolveCheckpoint (resolve.node.ts).
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

export const CHECKPOINTS = 'checkpoints';
const NAME = /^step-(\d{6,})$/;

export interface CheckpointEntry {
  step: number;
  dir: string;
}

/** Complete checkpoints of a run, oldest first (a step-N directory is switched in whole, so it is complete). */
export function listCheckpoints(runDir: string): CheckpointEntry[] {
  const root = join(runDir, CHECKPOINTS);
  if (!existsSync(root) || !statSync(root).isDirectory()) return [];
  return readdirSync(root)
    .map((n) => ({ m: NAME.exec(n), n }))
    .filter((x) => x.m && statSync(join(root, x.n)).isDirectory())
    .map((x) => ({ step: Number(x.m![1]), dir: join(root, x.n) }))
    .sort((a, b) => a.step - b.step);
}

/** The newest checkpoint directory of a run directory, or undefined when `path` is none. */
export function newestCheckpoint(path: string): CheckpointEntry | undefined {
  try {
    if (!statSync(path).isDirectory()) return undefined;
  } catch {
    return undefined;
  }
  return listCheckpoints(path).at(-1);
}
