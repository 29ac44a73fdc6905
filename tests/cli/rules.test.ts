// The rules every command goes through (issue 25), case by case: outputs (src/util/outputs.node.ts:
// checked before any work, never under /proc, the right kind, an existing one kept without
// --overwrite, never equal to an input, parents created, written atomically), one checkpoint
// resolution (a run directory is its newest checkpoint, in every command and in the library), and
// the messages that replaced raw errors and silent limits. The bad inputs of every command together
// are in fuzz.test.ts.
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildCli, cliEnv } from '../helpers/cli';
import { checkOutput, prepareOutput, writeFileAtomicSync } from '../../src/util/outputs.node';
import { OutputError, RunDirError } from '../../src/util/errors';
import { readCheckpoint, resolveCheckpoint } from '../../src/model/checkpoint.node';
import { writeCheckpoint } from '../../src/model/checkpoint-write.node';
import { parseMcq } from '../../src/train/data/mcq';
import { mcqLeaks } from '../../src/train/data/mcq';
import { printable } from '../../src/cli/train';
import { Run } from '../../src/train/run.node';
import { parseFlags } from '../../src/cli/args';
import { Progress } from '../../src/train/progress';

const BIN = resolve('bin/mqg.js');
const FIXTURE = resolve('tests/fixtures/gpt2-tiny/init.safetensors');
const AFTER = resolve('tests/fixtures/gpt2-tiny/after1.safetensors');
const W = mkdtempSync(join(tmpdir(), 'mqg-rules-'));
afterAll(() => rmSync(W, { recursive: true, force: true }));
const mqg = (...args: string[]) => {
  const r = spawnSync('node', [BIN, ...args], { cwd: W, encoding: 'utf8', env: cliEnv(), timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
};

beforeAll(() => {
  buildCli();
  // a run directory as mqg train leaves it: two checkpoints, the newest is step 2
  for (const [step, file] of [[1, FIXTURE], [2, AFTER]] as const) {
    const d = join(W, 'run', 'checkpoints', `step-00000${step}`);
    mkdirSync(d, { recursive: true });
    copyFileSync(file, join(d, 'model.safetensors'));
  }
  writeFileSync(join(W, 't.txt'), 'The heart pumps blood through the body. '.repeat(40));
});

describe('outputs: one set of rules', () => {
  it('checks before any work and creates nothing; an existing output needs --overwrite; never an input', () => {
    const o = join(W, 'unit');
    expect(() => checkOutput({ flag: '--out', path: join(o, 'a', 'b', 'x.json'), kind: 'file' })).not.toThrow();
    expect(existsSync(o)).toBe(false); // the check creates nothing
    expect(() => checkOutput({ flag: '--out', path: '/proc/self/x', kind: 'dir' })).toThrow(OutputError);
    expect(() => checkOutput({ flag: '--out', path: '/proc/self/x', kind: 'dir' })).toThrow('--out /proc/self/x: /proc is a kernel file system');
    expect(() => prepareOutput('/proc/self/x/y.json', 'file')).toThrow('/proc is a kernel file system'); // the library's writers too: no hang
    prepareOutput(join(o, 'a', 'x.json'), 'file');
    writeFileAtomicSync(join(o, 'a', 'x.json'), 'one');
    expect(() => checkOutput({ flag: '--out', path: join(o, 'a', 'x.json'), kind: 'file' })).toThrow(`--out ${join(o, 'a', 'x.json')} already exists; give --overwrite to replace it`);
    expect(() => checkOutput({ flag: '--out', path: join(o, 'a', 'x.json'), kind: 'file', overwrite: true })).not.toThrow();
    expect(() => checkOutput({ flag: '--out', path: join(o, 'a'), kind: 'file', overwrite: true })).toThrow('is a directory');
    expect(() => checkOutput({ flag: '--out', path: join(o, 'a', 'x.json'), kind: 'dir', overwrite: true })).toThrow('is a file, not a directory');
    expect(() => checkOutput({ flag: '--out', path: join(o, 'a', 'x.json', 'y'), kind: 'file' })).toThrow('is a file, not a directory');
    const inputs = [{ flag: '--checkpoint', path: join(o, 'a', 'x.json') }];
    expect(() => checkOutput({ flag: '--out', path: join(o, 'a', 'x.json'), kind: 'file', overwrite: true, inputs })).toThrow('is the same as --checkpoint');
    expect(() => checkOutput({ flag: '--out', path: join(o, 'a'), kind: 'dir', overwrite: true, inputs })).toThrow('holds --checkpoint');
    expect(() => checkOutput({ flag: '--out', path: '', kind: 'file' })).toThrow('--out is empty');
    writeFileAtomicSync(join(o, 'a', 'x.json'), 'two');
    expect(readFileSync(join(o, 'a', 'x.json'), 'utf8')).toBe('two');
    expect(readdirSync(join(o, 'a'))).toEqual(['x.json']); // no temp file left
  });

  it('convert: an existing output is replaced only with --overwrite; --out x.bin writes llm.c', () => {
    expect(mqg('convert', '--checkpoint', FIXTURE, '--out', 'x.bin').status).toBe(0);
    const first = readFileSync(join(W, 'x.bin'));
    expect(first.readInt32LE(0)).toBe(20240326); // llm.c magic
    const again = mqg('convert', '--checkpoint', AFTER, '--out', 'x.bin');
    expect(again.status).toBe(1);
    expect(again.stderr).toMatch(/--out x\.bin already exists; give --overwrite/);
    expect(readFileSync(join(W, 'x.bin')).equals(first)).toBe(true);
    expect(mqg('convert', '--checkpoint', AFTER, '--out', 'x.bin', '--overwrite').status).toBe(0);
    expect(readFileSync(join(W, 'x.bin')).equals(first)).toBe(false);
  });

  it('tokenizer train and data prepare create their parents and refuse to replace unasked', () => {
    let r = mqg('tokenizer', 'train', '--text', 't.txt', '--vocab-size', '300', '--out', 'new/dir/tok.json');
    expect(r.status, r.stderr).toBe(0);
    r = mqg('data', 'prepare', '--text', 't.txt', '--tokenizer', 'new/dir/tok.json', '--out', 'shards/a');
    expect(r.status, r.stderr).toBe(0);
    const meta = readFileSync(join(W, 'shards', 'a', 'meta.json'));
    r = mqg('data', 'prepare', '--text', 't.txt', '--out', 'shards/a'); // another tokenizer (gpt2) into the same directory
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/--out shards\/a already exists; give --overwrite/);
    expect(readFileSync(join(W, 'shards', 'a', 'meta.json')).equals(meta)).toBe(true);
    expect(existsSync(join(W, 'shards', 'a', 'tokenizer.json'))).toBe(true);
  });
});

describe('checkpoints: a run directory is its newest checkpoint, everywhere', () => {
  it('in resolveCheckpoint and readCheckpoint (loadModel opens through them)', async () => {
    const r = await resolveCheckpoint(join(W, 'run'));
    expect(r.run).toEqual({ dir: join(W, 'run'), checkpoint: join(W, 'run', 'checkpoints', 'step-000002'), step: 2 });
    const fromRun = await readCheckpoint(join(W, 'run'));
    const newest = await readCheckpoint(AFTER);
    expect(fromRun.params.get('wte.weight')).toEqual(newest.params.get('wte.weight'));
  });

  it('writeCheckpoint under /proc is an error, not a hang', async () => {
    const ck = await readCheckpoint(FIXTURE);
    await expect(writeCheckpoint('/proc/self/x/model.safetensors', ck.config, ck.params)).rejects.toThrow('/proc is a kernel file system');
  });

  it("in merge --init: the run's newest checkpoint is the base (the adapter is what fails here)", () => {
    mkdirSync(join(W, 'not-an-adapter'), { recursive: true });
    const r = mqg('merge', '--init', 'run', '--adapter', 'not-an-adapter', '--out', 'merged.safetensors');
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/--init run is a run directory: using its newest checkpoint, run\/checkpoints\/step-000002 \(step 2\)/);
    expect(r.stderr).toMatch(/adapter config not-an-adapter\/adapter_config\.json does not exist/);
    expect(r.stderr).not.toMatch(/without model weights/);
  });

  it('in convert, named on stderr', () => {
    const r = mqg('convert', '--checkpoint', 'run', '--out', 'from-run.safetensors');
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/--checkpoint run is a run directory: using its newest checkpoint, run\/checkpoints\/step-000002 \(step 2\)/);
  });
});

describe('messages instead of raw errors', () => {
  it('a tokenizer.json or random bytes as a checkpoint: "not a checkpoint file"', async () => {
    writeFileSync(join(W, 'tokenizer.json'), JSON.stringify({ model: { type: 'BPE', vocab: { a: 0 } } }));
    await expect(readCheckpoint(join(W, 'tokenizer.json'))).rejects.toThrow(`${join(W, 'tokenizer.json')} is not a checkpoint file`);
  });

  it('answers as option letters are read; a letter that is no option is named', () => {
    const rec = (answer: unknown) => JSON.stringify({ id: 'q', question: 'Q?', source: 's', chapter: 'c', options: ['a', 'b', 'c'], answer });
    expect(parseMcq(rec(['C']), 'f.jsonl')[0]!.answer).toEqual([2]);
    expect(parseMcq(rec(['a', 'B']), 'f.jsonl')[0]!.answer).toEqual([0, 1]);
    expect(parseMcq(rec([1]), 'f.jsonl')[0]!.answer).toEqual([1]);
    expect(() => parseMcq(rec(['D']), 'f.jsonl')).toThrow('answer "D" is not one of the 3 option letters (A, B, C)');
  });

  it('--resume: of a run that does not exist creates nothing; after a run with no checkpoint names --overwrite', () => {
    const none = join(W, 'runs', 'none');
    expect(() => Run.open('train', 2, { out: none, resume: true, overwrite: false })).toThrow(RunDirError);
    expect(existsSync(none)).toBe(false);
    const stopped = join(W, 'runs', 'stopped');
    mkdirSync(stopped, { recursive: true });
    writeFileSync(join(stopped, 'metrics.jsonl'), '{"step":0,"loss":5}\n');
    expect(() => Run.open('train', 2, { out: stopped, resume: true, overwrite: false })).toThrow('start the run again with --overwrite instead of --resume');
    expect(() => Run.open('train', 2, { out: stopped, resume: false, overwrite: false })).toThrow(`--out ${stopped} already holds a run that has no checkpoint (nothing to resume); replace it with --overwrite`);
  });

  it('empty flag values and integers beyond 2^53 are refused', () => {
    const spec = { out: { type: 'string' as const, help: '' }, prompt: { type: 'string' as const, default: '', help: '' }, steps: { type: 'int' as const, help: '' } };
    expect(() => parseFlags(['--out', ''], spec, 'x')).toThrow('mqg x: --out is empty; give a value');
    expect(parseFlags(['--prompt', ''], spec, 'x').flags.prompt).toBe(''); // its own default is empty
    expect(() => parseFlags(['--steps', '99999999999999999999'], spec, 'x')).toThrow('--steps must be at most 9007199254740991');
  });

  it('train --help describes every --init source', () => {
    const r = mqg('train', '--help');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/--init <value> +initialise from a checkpoint: a run directory \(its newest checkpoint\)/);
    expect(r.stdout).not.toMatch(/safetensors with HF GPT-2 names, or llm\.c \.bin/);
  });

  it('mqg with no command exits 2', () => {
    const r = mqg();
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/give a command/);
  });
});

describe('silent limits and leakage are said', () => {
  it('sample output has no NUL bytes or U+FFFD', () => {
    expect(printable('a\u0000b\uFFFD\uFFFDc\n\td')).toBe('a\\x00bc\n\td');
  });

  it('repeated question ids and validation questions that are training questions are warned about', () => {
    const q = (id: string) => ({ id, question: 'Q', options: ['a', 'b'], answer: [0], source: '', chapter: '' });
    expect(mcqLeaks('t.jsonl', [q('a'), q('b')], [q('c')], 'v.jsonl')).toEqual([]);
    const w = mcqLeaks('t.jsonl', [q('a'), q('a'), q('b')], [q('b')], 'v.jsonl');
    expect(w).toHaveLength(2);
    expect(w[0]).toMatch(/t\.jsonl: question id "a" appears more than once/);
    expect(w[1]).toMatch(/1 validation question\(s\) of v\.jsonl are also training questions \("b"\)/);
  });

  it('long commands show a progress line with an ETA on a terminal, nothing on a pipe unless asked', () => {
    const sink = (isTTY: boolean) => ({ isTTY, text: '', write(s: string) { this.text += s; } });
    const tty = sink(true);
    const p = new Progress('questions', 4, tty, {});
    p.tick(1);
    p.tick(4);
    p.done();
    expect(tty.text).toMatch(/^\rquestions 1\/4 \| ETA \d+s +\rquestions 4\/4 \| ETA 0s +\n$/);
    const pipe = sink(false);
    new Progress('questions', 4, pipe, {}).tick(1);
    expect(pipe.text).toBe('');
    const asked = sink(false);
    new Progress('batches', 2, asked, { MQG_PROGRESS: '1' }).tick(1);
    expect(asked.text).toMatch(/batches 1\/2/);
  });

  it('mqg-webgpu/node exports createGPU', async () => {
    const node = await import('../../src/node');
    expect(typeof node.createGPU).toBe('function');
  });
});

describe('progress lines for the other long commands (convert, merge, tokenizer train, data prepare)', () => {
  const sink = () => ({ isTTY: true, text: '', write(s: string) { this.text += s; } });
  const run = (env: Record<string, string>, ...args: string[]) => spawnSync('node', [BIN, ...args], { cwd: W, encoding: 'utf8', env: cliEnv(env), timeout: 60_000 });
  const lines = (stderr: string) => stderr.split(/[\r\n]/).filter((l) => / \| ETA /.test(l));

  it('counts read as bytes or parameters; the total may come with the ticks; redraws are spaced', () => {
    const bytes = sink();
    const p = new Progress('text', 0, bytes, {}, 'bytes');
    p.tick(1_250_000, 4_000_000);
    p.tick(2_000_000, 4_000_000); // within 100 ms of the last redraw: skipped
    p.tick(4_000_000, 4_000_000); // the last one always drawn
    p.done();
    expect(bytes.text).toMatch(/^\rtext 1\.3\/4\.0 MB \| ETA \d+s +\rtext 4\.0\/4\.0 MB \| ETA 0s +\n$/);
    const params = sink();
    new Progress('weights', 124_439_808, params, {}, 'params').tick(38_597_376);
    expect(params.text).toMatch(/^\rweights 38\.6M\/124\.4M \| ETA /);
  });

  it('writeCheckpoint reports every tensor it writes (the path convert and merge take)', async () => {
    const ck = await readCheckpoint(FIXTURE);
    const seen: [number, number][] = [];
    await writeCheckpoint(join(W, 'progress.safetensors'), ck.config, ck.params, { onWriteProgress: (d, t) => seen.push([d, t]) });
    const total = [...ck.params.values()].reduce((n, v) => n + v.length, 0);
    expect(seen.length).toBe(ck.params.size);
    expect(seen.every(([, t]) => t === total)).toBe(true);
    expect(seen.at(-1)).toEqual([total, total]);
    expect(seen.every(([d], i) => i === 0 || d > seen[i - 1]![0])).toBe(true);
  });

  it('convert, tokenizer train and data prepare: a line with an ETA when asked (MQG_PROGRESS=1), none on a pipe', () => {
    const cases: [string, string[], RegExp][] = [
      ['convert', ['convert', '--checkpoint', FIXTURE, '--out', 'p/c.safetensors'], /^weights [\d.]+M\/[\d.]+M \| ETA \d+s/],
      ['tokenizer train', ['tokenizer', 'train', '--text', 't.txt', '--vocab-size', '300', '--out', 'p/tok.json'], /^merges \d+\/\d+ \| ETA \d+s/],
      ['data prepare', ['data', 'prepare', '--text', 't.txt', '--tokenizer', 'p/tok.json', '--out', 'p/d'], /^text [\d.]+\/[\d.]+ MB \| ETA \d+s/],
    ];
    for (const [name, args, line] of cases) {
      const asked = run({ MQG_PROGRESS: '1' }, ...args);
      expect(asked.status, `${name}: ${asked.stderr}`).toBe(0);
      expect(lines(asked.stderr).length, `${name}: ${JSON.stringify(asked.stderr)}`).toBeGreaterThan(0);
      expect(lines(asked.stderr).at(-1), name).toMatch(line);
      expect(asked.stderr, name).toMatch(/ETA 0s +\n/); // the last count, and the line ended
      const piped = run({}, ...args, '--overwrite');
      expect(piped.status, `${name}: ${piped.stderr}`).toBe(0);
      expect(lines(piped.stderr), name).toEqual([]);
    }
  });
});
