// Every command driven with bad inputs (through the built dist/, as a user runs it): outputs under
// /proc, outputs equal to inputs or already there, directories where files are expected and the
// other way round, unreadable and damaged files, wrong types in JSON fields, huge and empty values.
// For each: a non-zero exit within a bounded time, one message naming the problem, no stack trace,
// and every file that existed before byte-identical afterwards (nothing replaced, nothing deleted).
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildCli, cliEnv } from '../helpers/cli';

const BIN = resolve('bin/mqg.js');
const FIXTURE = resolve('tests/fixtures/gpt2-tiny/init.safetensors');
const HF_DIR = resolve('tests/fixtures/hf-biomedlm-tiny/model');
const MCQ = resolve('data/corpus/mcq.jsonl');
const TIME_LIMIT_MS = 60_000;

const W = mkdtempSync(join(tmpdir(), 'mqg-fuzz-'));
afterAll(() => rmSync(W, { recursive: true, force: true }));

function run(args: string[]): { status: number | null; signal: string | null; stderr: string; stdout: string; ms: number } {
  const t0 = Date.now();
  const r = spawnSync('node', [BIN, ...args], { cwd: W, encoding: 'utf8', env: cliEnv(), timeout: TIME_LIMIT_MS, killSignal: 'SIGKILL' });
  return { status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr.split('\n').filter((l) => !l.startsWith('Warning: maxDynamic')).join('\n'), ms: Date.now() - t0 };
}

/** Every file under W (following no links) -> sha256 of its bytes. */
function snapshot(dir = W, out = new Map<string, string>()): Map<string, string> {
  for (const n of readdirSync(dir)) {
    const p = join(dir, n);
    let st;
    try {
      st = statSync(p);
    } catch {
      continue; // a dangling link or a link loop
    }
    if (st.isDirectory()) snapshot(p, out);
    else if (st.isFile()) out.set(p, createHash('sha256').update(readFileSync(p)).digest('hex'));
  }
  return out;
}

const line = (o: Record<string, unknown>) => JSON.stringify({ id: 'q1', question: 'Which?', source: 's', chapter: 'c', options: ['a', 'b', 'c'], answer: [0], ...o });

beforeAll(() => {
  buildCli();
  mkdirSync(join(W, 'ck'));
  copyFileSync(FIXTURE, join(W, 'ck', 'model.safetensors'));
  copyFileSync(FIXTURE, join(W, 'model.safetensors'));
  cpSync(HF_DIR, join(W, 'hf'), { recursive: true });
  mkdirSync(join(W, 'runs', 'x', 'checkpoints', 'step-000002'), { recursive: true });
  copyFileSync(FIXTURE, join(W, 'runs', 'x', 'checkpoints', 'step-000002', 'model.safetensors'));
  mkdirSync(join(W, 'runs', 'empty'), { recursive: true });
  writeFileSync(join(W, 't.txt'), 'The heart pumps blood through the body. '.repeat(40));
  writeFileSync(join(W, 'empty.txt'), '   \n');
  writeFileSync(join(W, 'tok.json'), '{"model": {"type": "BPE"}}');
  writeFileSync(join(W, 'random.safetensors'), Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 2654435761) >>> 24)));
  writeFileSync(join(W, 'existing.safetensors'), 'keep me');
  writeFileSync(join(W, 'report.json'), '{"keep": true}\n');
  mkdirSync(join(W, 'adir'));
  writeFileSync(join(W, 'adir', 'keep.txt'), 'keep');
  mkdirSync(join(W, 'data'));
  writeFileSync(join(W, 'data', 'meta.json'), '{"tokenizer": "another"}\n');
  writeFileSync(join(W, 'data', 'tokenizer.json'), '{"another": true}\n');
  copyFileSync(MCQ, join(W, 'mcq.jsonl'));
  writeFileSync(join(W, 'letter.jsonl'), line({ answer: ['Z'] }) + '\n');
  writeFileSync(join(W, 'opts-string.jsonl'), line({ options: 'a, b, c' }) + '\n');
  writeFileSync(join(W, 'answer-range.jsonl'), line({ answer: [99] }) + '\n');
  writeFileSync(join(W, 'answer-float.jsonl'), line({ answer: [1e308] }) + '\n');
  writeFileSync(join(W, 'id-number.jsonl'), line({ id: 12 }) + '\n');
  writeFileSync(join(W, 'not-json.jsonl'), '{"id": "q1", "question": \n');
  writeFileSync(join(W, 'empty.jsonl'), '');
  mkdirSync(join(W, 'badcfg'));
  copyFileSync(FIXTURE, join(W, 'badcfg', 'model.safetensors'));
  writeFileSync(join(W, 'badcfg', 'config.json'), '{"n_layer": "two", "n_embd": 64}');
  mkdirSync(join(W, 'badjson'));
  copyFileSync(FIXTURE, join(W, 'badjson', 'model.safetensors'));
  writeFileSync(join(W, 'badjson', 'config.json'), '{"n_layer": ');
  symlinkSync('loop', join(W, 'loop'));
  writeFileSync(join(W, 'shard.bin'), Buffer.alloc(100, 7));
});

// [what, argv, the message must match]
const CASES: [string, string[], RegExp][] = [
  // outputs under /proc (these hung at 100% CPU)
  ['convert --out under /proc', ['convert', '--checkpoint', 'model.safetensors', '--out', '/proc/x'], /--out \/proc\/x: \/proc is a kernel file system/],
  ['merge --out under /proc', ['merge', '--init', 'ck', '--adapter', 'adir', '--out', '/proc/x'], /--out \/proc\/x: \/proc is a kernel file system/],
  ['data prepare --out under /proc', ['data', 'prepare', '--text', 't.txt', '--out', '/proc/x'], /--out \/proc\/x: \/proc is a kernel file system/],
  ['tokenizer train --out under /proc', ['tokenizer', 'train', '--text', 't.txt', '--out', '/proc/x/tok.json'], /\/proc is a kernel file system/],
  ['eval-mcq --report under /proc', ['eval-mcq', '--checkpoint', 'ck', '--data', 'mcq.jsonl', '--report', '/proc/x/r.json'], /--report \/proc\/x\/r\.json: \/proc is a kernel file system/],
  ['train --out under /sys', ['train', '--out', '/sys/x'], /\/sys is a kernel file system/],
  // an output equal to an input, or holding one
  ['convert --out = --checkpoint (directory)', ['convert', '--checkpoint', 'hf', '--out', 'hf', '--dtype', 'F16'], /--out hf is the same as --checkpoint hf/],
  ['convert --out = --checkpoint, with --overwrite', ['convert', '--checkpoint', 'hf', '--out', 'hf', '--overwrite'], /--out hf is the same as --checkpoint hf/],
  ['convert --out holds --checkpoint', ['convert', '--checkpoint', 'ck/model.safetensors', '--out', 'ck', '--overwrite'], /--out ck holds --checkpoint ck\/model\.safetensors/],
  ['convert --out = --checkpoint (file)', ['convert', '--checkpoint', 'model.safetensors', '--out', './model.safetensors', '--overwrite'], /is the same as --checkpoint model\.safetensors/],
  ['tokenizer train --out = --text', ['tokenizer', 'train', '--text', 't.txt', '--out', 't.txt', '--overwrite'], /--out t\.txt is the same as --text t\.txt/],
  ['data prepare --out holds --text', ['data', 'prepare', '--text', 'adir/keep.txt', '--out', 'adir', '--overwrite'], /--out adir holds --text adir\/keep\.txt/],
  ['eval-mcq --report = --data', ['eval-mcq', '--checkpoint', 'ck', '--data', 'mcq.jsonl', '--report', 'mcq.jsonl', '--overwrite'], /--report mcq\.jsonl is the same as --data mcq\.jsonl/],
  ['merge --out = --init', ['merge', '--init', 'ck', '--adapter', 'adir', '--out', 'ck', '--overwrite'], /--out ck is the same as --init ck/],
  // an existing output is not replaced unasked
  ['convert --out exists', ['convert', '--checkpoint', 'model.safetensors', '--out', 'existing.safetensors'], /--out existing\.safetensors already exists; give --overwrite/],
  ['convert --out: a non-empty directory', ['convert', '--checkpoint', 'model.safetensors', '--out', 'adir'], /--out adir already exists; give --overwrite/],
  ['tokenizer train --out exists', ['tokenizer', 'train', '--text', 't.txt', '--out', 'report.json'], /--out report\.json already exists/],
  ['data prepare into a directory of another tokenizer', ['data', 'prepare', '--text', 't.txt', '--out', 'data'], /--out data already exists; give --overwrite/],
  ['merge --out exists', ['merge', '--init', 'ck', '--adapter', 'adir', '--out', 'existing.safetensors'], /--out existing\.safetensors already exists/],
  ['eval-mcq --report exists', ['eval-mcq', '--checkpoint', 'ck', '--data', 'mcq.jsonl', '--report', 'report.json'], /--report report\.json already exists; give --overwrite/],
  // directories where files are expected, and files where directories are
  ['tokenizer train --out DIR', ['tokenizer', 'train', '--text', 't.txt', '--out', 'adir', '--overwrite'], /--out adir is a directory; give a file name/],
  ['eval-mcq --report DIR', ['eval-mcq', '--checkpoint', 'ck', '--data', 'mcq.jsonl', '--report', 'adir', '--overwrite'], /--report adir is a directory/],
  ['eval-mcq --data DIR', ['eval-mcq', '--checkpoint', 'ck', '--data', 'adir'], /adir is a directory, not a multiple-choice file/],
  ['finetune-mcq --data DIR', ['finetune-mcq', '--init', 'ck', '--data', 'adir', '--out', 'runs/ft'], /adir/],
  ['data prepare --out a file', ['data', 'prepare', '--text', 't.txt', '--out', 'report.json', '--overwrite'], /--out report\.json is a file, not a directory/],
  ['data prepare --text DIR', ['data', 'prepare', '--text', 'adir', '--out', 'newdata'], /adir/],
  ['tokenizer train --out below a file', ['tokenizer', 'train', '--text', 't.txt', '--out', 'report.json/tok.json'], /report\.json is a file, not a directory/],
  ['convert --checkpoint: a directory without weights', ['convert', '--checkpoint', 'adir', '--out', 'o1.safetensors'], /adir is a directory without model weights/],
  ['convert --checkpoint: a run without checkpoints', ['convert', '--checkpoint', 'runs/empty', '--out', 'o12.safetensors'], /runs\/empty is a directory without model weights/],
  // unreadable and damaged files
  ['train --init tokenizer.json', ['train', '--init', 'tok.json', '--out', 'runs/t1'], /tok\.json is not a checkpoint file/],
  ['train --init random bytes', ['train', '--init', 'random.safetensors', '--out', 'runs/t2'], /random\.safetensors is not a checkpoint file/],
  ['convert --checkpoint: a link loop', ['convert', '--checkpoint', 'loop', '--out', 'o2.safetensors'], /loop/],
  ['tokenizer train --text: a link loop', ['tokenizer', 'train', '--text', 'loop', '--out', 'o3.json'], /loop/],
  ['eval --data: not a shard', ['eval', '--checkpoint', 'ck', '--data', 'shard.bin'], /shard\.bin/],
  ['convert: config.json with a wrong type', ['convert', '--checkpoint', 'badcfg', '--out', 'o4.safetensors'], /n_layer/],
  ['convert: config.json not JSON', ['convert', '--checkpoint', 'badjson', '--out', 'o5.safetensors'], /config\.json is not valid JSON/],
  ['convert --checkpoint missing', ['convert', '--checkpoint', 'nope.safetensors', '--out', 'o6.safetensors'], /checkpoint file not found: nope\.safetensors/],
  ['plan --init missing', ['plan', '--init', 'nope'], /nope/],
  ['data prepare --text missing', ['data', 'prepare', '--text', 'nope.txt', '--out', 'd2'], /nope\.txt/],
  ['tokenizer train --text only whitespace', ['tokenizer', 'train', '--text', 'empty.txt', '--out', 'o7.json'], /empty\.txt/],
  // wrong types and values in question files
  ['eval-mcq: an answer letter out of range', ['eval-mcq', '--checkpoint', 'ck', '--data', 'letter.jsonl'], /answer "Z" is not one of the 3 option letters/],
  ['eval-mcq: options as a string', ['eval-mcq', '--checkpoint', 'ck', '--data', 'opts-string.jsonl', '--format', 'mqg'], /"options" must be an array/],
  ['eval-mcq: answer index out of range', ['eval-mcq', '--checkpoint', 'ck', '--data', 'answer-range.jsonl'], /answer index 99 is out of range for 3 options/],
  ['eval-mcq: a huge answer index', ['eval-mcq', '--checkpoint', 'ck', '--data', 'answer-float.jsonl'], /answer index 1e\+308 is out of range/],
  ['eval-mcq: an id that is a number', ['eval-mcq', '--checkpoint', 'ck', '--data', 'id-number.jsonl'], /"id"/],
  ['eval-mcq: not JSON', ['eval-mcq', '--checkpoint', 'ck', '--data', 'not-json.jsonl'], /not-json\.jsonl/],
  ['eval-mcq: an empty file', ['eval-mcq', '--checkpoint', 'ck', '--data', 'empty.jsonl'], /empty\.jsonl/],
  // flags: huge, malformed, empty
  ['sample --max-tokens 1e99', ['sample', '--checkpoint', 'ck', '--max-tokens', '1e99'], /--max-tokens must be a decimal integer/],
  ['train --steps beyond 2^53', ['train', '--steps', '99999999999999999999999', '--out', 'runs/t3'], /--steps must be at most 9007199254740991/],
  ['tokenizer train --vocab-size 1e9', ['tokenizer', 'train', '--text', 't.txt', '--vocab-size', '1000000000', '--out', 'o8.json'], /--vocab-size must be <= 65535/],
  ['convert --max-shard-size 0', ['convert', '--checkpoint', 'model.safetensors', '--out', 'o9', '--max-shard-size', '0'], /--max-shard-size must be positive/],
  ['convert --dtype Q8', ['convert', '--checkpoint', 'model.safetensors', '--out', 'o10.safetensors', '--dtype', 'Q8'], /--dtype must be F32, F16 or BF16/],
  ['convert to llm.c in F16', ['convert', '--checkpoint', 'model.safetensors', '--out', 'o11.bin', '--dtype', 'F16'], /llm\.c checkpoint, always F32/],
  ['sample --top-p 2', ['sample', '--checkpoint', 'ck', '--top-p', '2'], /--top-p must be <= 1/],
  ['data prepare --val-fraction 1.5', ['data', 'prepare', '--text', 't.txt', '--out', 'd3', '--val-fraction', '1.5'], /--val-fraction/],
  ['an empty --checkpoint', ['eval', '--checkpoint', '', '--data', 'shard.bin'], /--checkpoint is empty/],
  ['an empty --out', ['convert', '--checkpoint', 'model.safetensors', '--out', ''], /--out is empty/],
  ['an unknown flag', ['convert', '--checkpont', 'ck'], /unknown flag --checkpont/],
  ['no command', [], /give a command/],
  ['an unknown command', ['bogus'], /unknown command "bogus"/],
  // resume
  ['train --resume of a run that does not exist', ['train', '--resume', '--out', 'runs/none'], /nothing to resume/],
  ['finetune-mcq --resume of a run that does not exist', ['finetune-mcq', '--resume', '--out', 'runs/none2'], /nothing to resume/],
];

describe('every command refuses bad inputs cleanly', () => {
  it(`has at least 40 cases (${CASES.length})`, () => expect(CASES.length).toBeGreaterThanOrEqual(40));

  it.each(CASES)('%s', (_what, args, message) => {
    const before = snapshot();
    const r = run(args);
    expect(r.signal, `killed after ${r.ms} ms (a hang)`).toBeNull();
    expect(r.ms).toBeLessThan(TIME_LIMIT_MS);
    expect(r.status, r.stdout + r.stderr).not.toBe(0);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).not.toMatch(/^\s+at .+:\d+:\d+\)?$/m); // no stack trace
    expect(r.stderr).not.toMatch(/internal error/);
    expect(r.stderr).not.toMatch(/\bE[A-Z]{3,}\b:/); // no raw errno message (EISDIR: ...)
    const after = snapshot();
    for (const [p, h] of before) expect(after.get(p), `${p} changed or vanished`).toBe(h);
    // no stray temp files beside the outputs
    for (const p of after.keys()) expect(p).not.toMatch(/\.tmp-\d+/);
  });

  it('a --resume of a run that does not exist creates nothing', () => {
    expect(existsSync(join(W, 'runs', 'none'))).toBe(false);
    expect(existsSync(join(W, 'runs', 'none2'))).toBe(false);
  });
});
