// THE run lifecycle: every command that trains (`mqg train`, `mqg finetune-mcq`, and the library's
// `train` / `finetuneMcq`) runs through it, so resume, overwrite, Ctrl-C and the files of a run behave
// the same for each.
//
//   <out>/checkpoints/step-N/   model.safetensors, config.json, tokenizer.json, train_state.safetensors,
//                               adapter/ (LoRA); each written whole and switched in (rundir.node.ts)
//   <out>/best/checkpoints/step-N/   the best validation checkpoint (commands that keep one)
//   <out>/metrics.jsonl         one JSON object per step (`step`: steps done, 1 for the first); a resume keeps the lines up to its step
//   <out>/loss.svg              written with every checkpoint and at the end
//
// Rules: --resume continues the newest complete checkpoint (its train_state records the command,
// the options and the step); an existing run is never replaced without --overwrite; the temp
// directories of a killed save are removed on open; Ctrl-C saves a checkpoint after the step (or
// now, inside a save), a second one abandons the save in progress and exits 130; a non-finite step
// ends the run naming the last good checkpoint. Paths inside the run are stored as `$RUN/...`, so a
// run directory can be moved.

import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { isAbsolute, join, relative, resolve } from 'node:path';
import type { GPT2Config } from '../model/config';
import { configToMetadata } from '../model/source/config';
import { parseSafetensors } from '../model/source/safetensors';
import { serializeSafetensors, type TensorToWrite } from '../model/source/safetensors-write';
import { DataError, NonFiniteError, RunDirError, TrainingError } from '../util/errors';
import { trainLoop, type StepReport, type TrainLoopOptions, type TrainLoopSummary } from './loop';
import { lossCurveSvg, type CurvePoint } from './plot';
import { fmtTime } from './progress';
import {
  abandonSave, checkWritableDir, listCheckpoints, removeStaleTemps, saveCheckpoint, saveInProgress, writeSynced, CHECKPOINTS, RUN_FILES,
} from './rundir.node';
import { writeAdapterFiles } from './lora.node';

export type RunCommand = 'train' | 'finetune-mcq';

/** What every train_state records (JSON in its safetensors metadata), beside the command's own fields. */
export interface RunState<O> {
  /** The command that wrote it (a state without one is `mqg train`'s). */
  kind?: RunCommand;
  version: number;
  step: number;
  options: O;
  config: GPT2Config;
}

/** The metrics.jsonl record of a step: these fields, and the command's own. */
export interface MetricRecord {
  /** Steps done (1 for the first step), as on the console and in the checkpoint names. */
  step: number;
  loss: number;
  val_loss?: number;
}

/** The files of one checkpoint directory. */
export interface CheckpointFiles {
  /** model.safetensors (none for a LoRA run of `mqg train`: its base is --init's). */
  model?: Uint8Array;
  /** config.json (Hugging Face). */
  configJson: object;
  tokenizerJson?: Uint8Array | string;
  /** train_state.safetensors: the optimiser tensors, the state JSON in its metadata. */
  state: { tensors: readonly TensorToWrite[]; record: object; config: GPT2Config };
  /** adapter/ (a PEFT directory). */
  adapter?: Map<string, Uint8Array | string>;
  /** Other files of the checkpoint (name -> bytes): finetune-mcq's mc_head.safetensors on a quantized base. */
  extra?: Map<string, Uint8Array | string>;
}

/** Run artefacts --overwrite removes (the default corpus cache in data/ is kept). */
const RUN_ARTEFACTS = [CHECKPOINTS, 'best', 'metrics.jsonl', 'loss.svg', 'report.json', RUN_FILES.MODEL_FILE, RUN_FILES.STATE_FILE];
const IN_RUN = '$RUN/';

/** The checkpoint a run resumes from. */
export interface Resumed<S> {
  dir: string;
  state: S;
  tensors: Map<string, { shape: number[]; data: Uint8Array }>;
  statePath: string;
}

export class Run<S extends RunState<object>, R extends MetricRecord = MetricRecord> {
  /** Every step's record, the earlier ones of a resumed run first. */
  readonly metrics: R[];
  /** The checkpoint directory written last (a resumed run: the one it resumed from). */
  lastCheckpoint: string;
  private log: (line: string) => void = () => {};
  private text = true;
  private t0 = Date.now();
  private readonly metricsPath: string;

  private constructor(readonly command: RunCommand, readonly out: string, readonly outDir: string, readonly removedTemps: string[], readonly resumed: Resumed<S> | undefined) {
    this.metricsPath = join(outDir, 'metrics.jsonl');
    this.metrics = readMetrics(this.metricsPath, resumed?.state.step ?? 0) as R[];
    this.lastCheckpoint = resumed?.dir ?? '';
  }

  /**
   * Opens --out for a run: checks it can hold one, removes the temps of a killed save, then either
   * loads the newest checkpoint's state (--resume; it must be `command`'s, of `version`), or
   * refuses an existing run without --overwrite (and removes it with).
   */
  static open<S extends RunState<object>, R extends MetricRecord = MetricRecord>(command: RunCommand, version: number, o: { out: string; resume: boolean; overwrite: boolean }): Run<S, R> {
    const outDir = resolve(o.out);
    // nothing to resume: said before anything is created (no empty directory left behind)
    if (o.resume && !existsSync(outDir)) readResumed<S>(command, version, o.out, outDir);
    checkWritableDir(o.out);
    const stale = removeStaleTemps(outDir);
    removeStaleTemps(join(outDir, 'best'));
    let resumed: Resumed<S> | undefined;
    if (o.resume) resumed = readResumed<S>(command, version, o.out, outDir);
    else if (RUN_ARTEFACTS.some((f) => existsSync(join(outDir, f)))) {
      if (!o.overwrite) {
        // a run stopped before its first checkpoint (a double Ctrl-C) has nothing to resume: name the one way on
        if (!listCheckpoints(outDir).length) throw new RunDirError(`--out ${o.out} already holds a run that has no checkpoint (nothing to resume); replace it with --overwrite`);
        throw new RunDirError(`--out ${o.out} already holds a run; continue it with --resume, or replace it with --overwrite`);
      }
      for (const f of RUN_ARTEFACTS) rmSync(join(outDir, f), { recursive: true, force: true });
    }
    return new Run<S, R>(command, o.out, outDir, stale, resumed);
  }

  get startStep(): number {
    return this.resumed?.state.step ?? 0;
  }

  /** Where the lines go (text, or JSON records with --log-format jsonl); says what opening removed. Returns the text-only logger. */
  logTo(log: (line: string) => void, format: 'text' | 'jsonl'): (line: string) => void {
    this.log = log;
    this.text = format === 'text';
    const info = (s: string) => (this.text ? log(s) : undefined);
    if (this.removedTemps.length) info(`removed ${this.removedTemps.length} unfinished checkpoint(s) of a killed save: ${this.removedTemps.join(', ')}`);
    return info;
  }

  /** Options as stored in a state: paths inside the run as `$RUN/...` (no absolute paths), the rest as given. */
  storedPaths<O>(o: O, keys: readonly (keyof O)[]): O {
    const out = { ...o };
    for (const k of keys) {
      const p = o[k] as unknown as string | undefined;
      if (p === undefined) continue;
      const rel = relative(this.outDir, resolve(p));
      (out as Record<keyof O, unknown>)[k] = !rel.startsWith('..') && !isAbsolute(rel) ? IN_RUN + rel : p;
    }
    return out;
  }

  /** Stored paths back: `$RUN/...` resolved in the (possibly moved) run directory. */
  locatedPaths<O>(o: O, keys: readonly (keyof O)[]): O {
    const out = { ...o };
    for (const k of keys) {
      const p = o[k] as unknown as string | undefined;
      if (p?.startsWith(IN_RUN)) (out as Record<keyof O, unknown>)[k] = join(this.outDir, p.slice(IN_RUN.length));
    }
    return out;
  }

  /** Appends a step's record to metrics.jsonl and prints its line (or the record, with jsonl). Its
   *  `step` is the steps done (1 for the first), as on the console and in the checkpoint names. */
  record(rec: R, r: StepReport, steps: number, throughput: string, tail = ''): void {
    this.metrics.push(rec);
    writeFileSync(this.metricsPath, JSON.stringify(rec) + '\n', { flag: 'a' });
    if (!this.text) return this.log(JSON.stringify(rec));
    const done = r.step + 1;
    const eta = ((steps - done) * (Date.now() - this.t0)) / 1000 / Math.max(1, done - this.startStep);
    this.log(`step ${String(done).padStart(String(steps).length)}/${steps} | loss ${r.loss.toFixed(4)} | lr ${r.lr.toExponential(2)} | ${throughput} | ${r.ms.toFixed(0)} ms | ETA ${fmtTime(eta)}${tail}`);
  }

  /** Validation points of the metrics (step = steps done). */
  valCurve(): CurvePoint[] {
    return this.metrics.filter((r) => r.val_loss !== undefined).map((r) => ({ step: r.step, loss: r.val_loss! }));
  }

  writeLossSvg(title: string): void {
    writeFileSync(join(this.outDir, 'loss.svg'), lossCurveSvg(this.metrics.map((r) => ({ step: r.step, loss: r.loss })), this.valCurve(), title));
  }

  /** The best checkpoint so far (`saveBest`), '' when none. */
  bestDir(): string {
    return listCheckpoints(join(this.outDir, 'best')).at(-1)?.dir ?? '';
  }

  /** Writes <out>/best/checkpoints/step-N (only the newest is kept). */
  saveBest(step: number, files: CheckpointFiles): Promise<string> {
    return saveCheckpoint(join(this.outDir, 'best'), step, (tmp) => writeFiles(tmp, files), 1);
  }

  /**
   * The training loop on this run: from its start step, with a checkpoint every `checkpoint.every`
   * steps and at the end (also after Ctrl-C), metrics.jsonl restarted at the start step, loss.svg
   * with every checkpoint and at the end.
   */
  async train<TBatch>(o: Omit<TrainLoopOptions<TBatch>, 'startStep' | 'save' | 'shouldStop'>, checkpoint: { every: number; keepLast: number; files: (step: number) => Promise<CheckpointFiles> }, title: string): Promise<TrainLoopSummary> {
    writeFileSync(this.metricsPath, this.metrics.map((r) => JSON.stringify(r) + '\n').join(''));
    if (this.resumed && this.text) this.log(`resumed from ${shown(this.resumed.dir)}, the newest complete checkpoint (step ${this.startStep})`);
    const save = async (step: number, final: boolean, lastGood: number | undefined) => {
      const files = await checkpoint.files(step);
      // while the run goes on, pruning keeps the last good checkpoint too; the final save keeps the newest N only
      this.lastCheckpoint = await saveCheckpoint(this.outDir, step, (tmp) => writeFiles(tmp, files), checkpoint.keepLast, final ? undefined : lastGood);
      this.writeLossSvg(title);
    };
    let interrupted = false;
    const onSigint = () => {
      if (interrupted) {
        const abandoned = abandonSave();
        this.log(abandoned ? 'interrupted again: abandoned the checkpoint being written; the previous one stays' : 'interrupted again: exiting');
        process.exit(130);
      }
      interrupted = true;
      this.log(`\ninterrupted: saving a checkpoint ${saveInProgress() ? 'now' : 'after this step'} (Ctrl-C again to abandon it)`);
    };
    process.on('SIGINT', onSigint);
    this.t0 = Date.now();
    try {
      const summary = await trainLoop({ ...o, startStep: this.startStep, save: { every: checkpoint.every, run: save }, shouldStop: () => interrupted });
      this.writeLossSvg(title);
      return summary;
    } catch (e) {
      if (e instanceof NonFiniteError) {
        const good = e.lastGoodCheckpoint;
        const keep = good !== undefined ? `the last good checkpoint (step ${good}, whose next step was finite) is in ${join(this.out, CHECKPOINTS)}` : 'no good checkpoint was written';
        throw new TrainingError(`${e.message}; stopping (${keep})`);
      }
      throw e;
    } finally {
      process.removeListener('SIGINT', onSigint);
    }
  }
}

function readResumed<S extends RunState<object>>(command: RunCommand, version: number, out: string, outDir: string): Resumed<S> {
  const all = listCheckpoints(outDir);
  if (!all.length) {
    // a run stopped before its first checkpoint (a double Ctrl-C) still holds its files: starting again replaces them
    const left = RUN_ARTEFACTS.some((f) => existsSync(join(outDir, f)));
    throw new RunDirError(`--resume: no checkpoint in ${join(out, CHECKPOINTS)} (nothing to resume; ${left ? 'start the run again with --overwrite instead of --resume' : 'drop --resume to start a run'})`);
  }
  const dir = all[all.length - 1]!.dir;
  const statePath = join(dir, RUN_FILES.STATE_FILE);
  if (!existsSync(statePath) || (!existsSync(join(dir, RUN_FILES.MODEL_FILE)) && !existsSync(join(dir, RUN_FILES.ADAPTER_DIR)))) {
    throw new RunDirError(`--resume: ${dir} lacks ${RUN_FILES.MODEL_FILE} or ${RUN_FILES.STATE_FILE}`);
  }
  const parsed = parseSafetensors(new Uint8Array(readFileSync(statePath)), statePath);
  let state: S;
  try {
    state = JSON.parse(parsed.metadata.state!) as S;
  } catch {
    throw new RunDirError(`--resume: ${statePath} has no readable "state" metadata`);
  }
  const kind = state.kind ?? 'train';
  if (kind !== command) throw new RunDirError(`--resume: ${statePath} is the state of a \`mqg ${kind}\` run, not of \`mqg ${command}\``);
  if (state.version !== version) throw new RunDirError(`--resume: ${statePath} is a version ${state.version} state; this mqg reads version ${version}`);
  return { dir, state, statePath, tensors: parsed.tensors as unknown as Map<string, { shape: number[]; data: Uint8Array }> };
}

/** Fills a (temp) checkpoint directory. */
async function writeFiles(tmp: string, f: CheckpointFiles): Promise<void> {
  const state = serializeSafetensors(f.state.tensors, { ...configToMetadata(f.state.config), state: JSON.stringify(f.state.record) });
  if (f.model) writeSynced(join(tmp, RUN_FILES.MODEL_FILE), f.model);
  writeSynced(join(tmp, RUN_FILES.CONFIG_FILE), JSON.stringify(f.configJson, null, 2) + '\n');
  if (f.tokenizerJson) writeSynced(join(tmp, RUN_FILES.TOKENIZER_FILE), f.tokenizerJson);
  writeSynced(join(tmp, RUN_FILES.STATE_FILE), state);
  writeAdapterFiles(tmp, f.adapter, writeSynced);
  for (const [name, data] of f.extra ?? []) writeSynced(join(tmp, name), data);
}

/** Reads metrics.jsonl up to step `before` (inclusive: steps done). A torn last line (a kill while
 *  appending) is dropped; a bad line elsewhere is an error naming the file and line. A file of an
 *  earlier mqg, whose steps counted from 0, is read as steps done. */
function readMetrics(path: string, before: number): MetricRecord[] {
  if (!existsSync(path)) return [];
  const lines = readFileSync(path, 'utf8').split('\n');
  const out: MetricRecord[] = [];
  let offset: number | undefined;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (!line) continue;
    let r: MetricRecord;
    try {
      r = JSON.parse(line) as MetricRecord;
    } catch {
      if (i === lines.length - 1) break; // torn last line: no newline after it
      throw new DataError(`${path}: line ${i + 1} is not valid JSON (${line.slice(0, 40)}${line.length > 40 ? '...' : ''})`);
    }
    if (typeof r.step !== 'number') throw new DataError(`${path}: line ${i + 1} has no "step"`);
    offset ??= r.step === 0 ? 1 : 0;
    r.step += offset;
    if (r.step > before) break;
    out.push(r);
  }
  return out;
}

/** A path for messages: relative to the working directory when below it. */
export function shown(p: string): string {
  const rel = relative(process.cwd(), p);
  return rel && !rel.startsWith('..') ? rel : p;
}
