// A run directory and its checkpoints, as one unit each.
//
//   <run>/metrics.jsonl          one JSON object per step
//   <run>/loss.svg
//   <run>/checkpoints/step-000016/{model.safetensors, config.json, tokenizer.json, train_state.safetensors, adapter/}
//
// A save writes a complete checkpoint into checkpoints/.tmp-step-000016-<pid>/, fsyncs every file and
// the directory, then switches with ONE rename to step-000016/ (synchronous, so no signal handler
// runs in the middle). A directory named step-N is therefore always complete; the newest by name
// is the one --resume takes. Older ones are pruned to --keep-last N after the switch. Temp
// directories left by a killed save are removed when the run is opened. Nothing stores an absolute
// path: a run directory can be moved or copied. The run lifecycle on top of this is run.node.ts.

import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, renameSync, rmSync, statSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { RunDirError } from '../util/errors';
import { describeFsError, kernelFileSystem, writeSynced } from '../util/outputs.node';

import { CHECKPOINTS, listCheckpoints, type CheckpointEntry } from '../model/source/rundir.node';

export { CHECKPOINTS, listCheckpoints, type CheckpointEntry };
/** The files of a checkpoint directory (and the run directory's checkpoints/). */
export const RUN_FILES = {
  STATE_FILE: 'train_state.safetensors', MODEL_FILE: 'model.safetensors', TOKENIZER_FILE: 'tokenizer.json', CONFIG_FILE: 'config.json', ADAPTER_DIR: 'adapter', CHECKPOINTS,
  /** finetune-mcq on a quantized base: the head, and the record of the base (no model.safetensors). */
  HEAD_FILE: 'mc_head.safetensors',
} as const;
const TEMP = /^\.tmp-step-/;

export const checkpointName = (step: number) => `step-${String(step).padStart(6, '0')}`;

function fsyncDir(dir: string): void {
  try {
    const fd = openSync(dir, 'r');
    try { fsyncSync(fd); } finally { closeSync(fd); }
  } catch {
    // not supported everywhere (Windows); the rename is still atomic
  }
}

/** Checks that `out` can hold a run: not a file, creatable, writable. Throws RunDirError naming it. */
export function checkWritableDir(out: string, flag = '--out'): void {
  const kernel = kernelFileSystem(out);
  if (kernel) throw new RunDirError(`${flag} ${out}: ${kernel} is a kernel file system, not a place for a run directory`);
  if (existsSync(out) && !statSync(out).isDirectory()) throw new RunDirError(`${flag} ${out} is a file, not a directory`);
  try {
    mkdirSync(out, { recursive: true });
  } catch (e) {
    throw new RunDirError(`${flag} ${out}: cannot create the directory (${describeFsError(e)})`);
  }
  const probe = join(out, `.write-test-${process.pid}`);
  try {
    writeSynced(probe, 'ok');
    unlinkSync(probe);
  } catch (e) {
    throw new RunDirError(`${flag} ${out} is not writable (${describeFsError(e)})`);
  }
}

export { describeFsError, writeSynced };

/** Removes temp directories of saves that never switched (a kill during the save). Returns their names. */
export function removeStaleTemps(runDir: string): string[] {
  const root = join(runDir, CHECKPOINTS);
  if (!existsSync(root)) return [];
  const stale = readdirSync(root).filter((n) => TEMP.test(n));
  for (const n of stale) rmSync(join(root, n), { recursive: true, force: true });
  return stale;
}

/** The save in progress, so a second Ctrl-C can abandon it (never half of it). */
let inFlight: string | undefined;
export const saveInProgress = () => inFlight;

/** Abandon the save in progress (its temp directory); the previous checkpoint stays. */
export function abandonSave(): boolean {
  const tmp = inFlight;
  if (!tmp) return false;
  rmSync(tmp, { recursive: true, force: true });
  inFlight = undefined;
  return true;
}

/**
 * Writes checkpoint `step` of `runDir` as one unit: `write(tmpDir)` fills a fresh temp directory
 * (use writeSynced), then one rename makes it visible. Then keeps the newest `keepLast` checkpoints
 * (and `protect`, the last good one). Returns the checkpoint directory.
 */
export async function saveCheckpoint(runDir: string, step: number, write: (tmpDir: string) => Promise<void>, keepLast: number, protect?: number): Promise<string> {
  const root = join(runDir, CHECKPOINTS);
  mkdirSync(root, { recursive: true });
  const final = join(root, checkpointName(step));
  const tmp = join(root, `.tmp-${checkpointName(step)}-${process.pid}`);
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp);
  inFlight = tmp;
  try {
    await write(tmp);
    fsyncDir(tmp);
    await debugPause(step);
    if (inFlight !== tmp) throw new RunDirError(`the save of step ${step} was abandoned`);
    // A checkpoint of the same step exists (resumed with nothing to do, or the final save after a
    // periodic one): training is deterministic, so it holds the same state; keep it.
    if (existsSync(final)) rmSync(tmp, { recursive: true, force: true });
    else renameSync(tmp, final);
    inFlight = undefined;
    fsyncDir(root);
  } catch (e) {
    inFlight = undefined;
    rmSync(tmp, { recursive: true, force: true });
    if (e instanceof RunDirError) throw e;
    throw new RunDirError(`cannot write checkpoint ${final}: ${describeFsError(e)}`);
  }
  const all = listCheckpoints(runDir);
  const keep = new Set(all.slice(-Math.max(1, keepLast)).map((c) => c.step));
  if (protect !== undefined) keep.add(protect);
  for (const c of all) if (!keep.has(c.step)) rmSync(c.dir, { recursive: true, force: true });
  return final;
}

/** Test hook: MQG_DEBUG_PAUSE_IN_SAVE=<step> stops inside that step's save, after the files are
 *  written and before the switch, and says so on stderr (tests kill the process there). */
async function debugPause(step: number): Promise<void> {
  if (process.env.MQG_DEBUG_PAUSE_IN_SAVE !== String(step)) return;
  process.stderr.write(`debug: paused inside the save of step ${step}, before the switch\n`);
  await new Promise<void>((done) => {
    const timer = setInterval(() => {
      if (inFlight === undefined) {
        clearInterval(timer);
        done();
      }
    }, 50);
  });
}
