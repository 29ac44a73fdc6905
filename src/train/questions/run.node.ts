// `mqg questions`'s run: textbooks -> passages -> one request (or cloze reply) per passage -> the
// questions kept, in a directory that is safe to stop at any moment.
//
//   <out>/questions.jsonl   the kept questions (the "mqg" multiple-choice JSONL; readMcqFile reads it)
//   <out>/rejected.jsonl    every rejected reply or question: {passage, reason, question?, content}
//   <out>/corpus.txt        the kept questions as training text (one paragraph per question or case)
//   <out>/done.jsonl        the journal: one line per finished passage, with the three files' sizes after it
//   <out>/run.json          the settings (endpoint without key, model, prompt hash), inputs and counts
//   <out>/questions-train.jsonl, questions-heldout.jsonl, corpus-train.txt
//                           with --holdout-fraction: questions.jsonl split by passage (split.ts), and
//                           the training text of the questions not held out; rewritten whole
//                           (atomically) from questions.jsonl when a session ends
//
// A passage's results are appended to the three files and then its journal line, synchronously in
// one turn of the event loop (so Ctrl-C never splits them) and fsynced; a kill in between leaves
// bytes past the journal's sizes, which --resume cuts off. --resume skips the passages in the
// journal, so nothing is asked twice; a passage whose request failed is not in it and is asked again.
// Every line written is scrubbed of the API key.

import { createHash } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, openSync, readdirSync, readFileSync, rmSync, statSync, truncateSync, writeSync } from 'node:fs';
import { basename, extname, join } from 'node:path';
import { EndpointError, RunDirError, UsageError } from '../../util/errors';
import { readTextFile } from '../data/shards.node';
import { writeFileAtomicSync } from '../../util/outputs.node';
import { readMcqSource } from '../data/mcq-source.node';
import { checkWritableDir } from '../rundir.node';
import { gpt2Tokenizer } from '../tokenizer/gpt2';
import { cutPassages, type Passage, type TextDoc } from './passages';
import { readPdfAsMarkdown } from './pdf.node';
import { DEFAULT_PROMPT, checkTemplate, examplesBlock, renderPrompt } from './prompt';
import { checkReply, questionKey } from './reply';
import { clozeReply, TermIndex } from './cloze';
import { chatCompletion, redact, shownEndpoint, type Usage } from './client';
import { corpusText, questionLines, type QuestionLine } from './records';
import { heldOutPassages, splitByPassage } from './split';

/** What `generateQuestions` is asked to do (the `mqg questions` flags). */
export interface QuestionsOptions {
  /** Text, Markdown and PDF files. */
  text: string[];
  out: string;
  generator: 'llm' | 'cloze';
  endpoint?: string;
  model?: string;
  /** The key itself (never written anywhere) and the name of the variable it came from (recorded). */
  apiKey?: string;
  apiKeyEnv: string;
  concurrency: number;
  /** Seconds per request. */
  timeout: number;
  retries: number;
  /** Seconds before the first retry (then doubling). */
  backoff: number;
  temperature: number;
  /** 0: the server's default. */
  maxTokens: number;
  passageTokens: number;
  perPassage: number;
  /** Passages (the first ones); 0 = all. */
  limit: number;
  options: number;
  minGrounding: number;
  /** A prompt template file (default: DEFAULT_PROMPT). */
  prompt?: string;
  /** A multiple-choice file whose first `exampleCount` questions go into the prompt. */
  examples?: string;
  exampleCount: number;
  /** Share of the passages whose questions go to questions-heldout.jsonl, not to the training files (0 = no split files). */
  holdoutFraction: number;
  resume: boolean;
  overwrite: boolean;
  /** Stops the run after the passages in flight are cancelled (Ctrl-C); finished passages stay. */
  signal?: AbortSignal;
}

/** The defaults of the `mqg questions` flags. */
export const QUESTIONS_DEFAULTS = {
  generator: 'llm', apiKeyEnv: 'OPENAI_API_KEY', concurrency: 4, timeout: 120, retries: 5, backoff: 1, temperature: 0.7, maxTokens: 0,
  passageTokens: 400, perPassage: 3, limit: 0, options: 5, minGrounding: 0, exampleCount: 3, holdoutFraction: 0, resume: false, overwrite: false,
} as const;

/** Counts over every passage done (earlier sessions of a resumed run included). */
export interface QuestionCounts {
  passagesDone: number;
  kept: number;
  rejected: number;
  requests: number;
  retries: number;
  usage: Usage;
}

/** What the progress hook is told after each passage. */
export interface QuestionsProgress extends QuestionCounts {
  passagesTotal: number;
  failed: number;
  seconds: number;
  /** Seconds left at this session's pace, or undefined before the first passage. */
  etaSeconds?: number;
}

/** What a run did, when it ends or is stopped. */
export interface QuestionsSummary extends QuestionsProgress {
  /** Passages found in the text (after duplicates and --limit) and exact duplicates dropped. */
  duplicates: number;
  /** Passages finished in an earlier session (--resume). */
  resumedPassages: number;
  /** Questions kept in this session, per minute. */
  questionsPerMinute: number;
  stopped: boolean;
  out: string;
  /** With --holdout-fraction: the passages held out (of passagesTotal) and the questions on each side. */
  holdout?: HoldoutCounts;
}

export interface HoldoutCounts {
  passages: number;
  trainQuestions: number;
  heldoutQuestions: number;
}

/** Where a run reports: retries and failures (`log`), and each passage done (`progress`). */
export interface QuestionsHooks {
  log?: (line: string) => void;
  progress?: (p: QuestionsProgress) => void;
}

export const QUESTIONS_FILES = {
  questions: 'questions.jsonl', rejected: 'rejected.jsonl', corpus: 'corpus.txt', journal: 'done.jsonl', run: 'run.json',
  trainQuestions: 'questions-train.jsonl', heldoutQuestions: 'questions-heldout.jsonl', trainCorpus: 'corpus-train.txt',
} as const;
type Sizes = { questions: number; rejected: number; corpus: number };
interface JournalLine extends Omit<QuestionCounts, 'passagesDone'> {
  passage: string;
  sizes: Sizes;
}

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');
const ZERO: Usage = { promptTokens: 0, completionTokens: 0, totalTokens: 0 };

/** The passages, the prompt and the settings that a resumed run must share. */
async function readInputs(o: QuestionsOptions) {
  const docs: TextDoc[] = [];
  for (const file of o.text) {
    const ext = extname(file).toLowerCase();
    const name = basename(file, extname(file)).replace(/[^\w.-]+/g, '_');
    // A PDF is read as Markdown (headings found by font size: pdf.node.ts).
    if (ext === '.pdf') docs.push({ name, text: await readPdfAsMarkdown(file), markdown: true });
    else docs.push({ name, text: readTextFile(file), markdown: ext === '.md' || ext === '.markdown' });
  }
  const tok = gpt2Tokenizer();
  const { passages: all, duplicates } = cutPassages(docs, o.passageTokens, (s) => tok.encode(s).length);
  const passages = o.limit > 0 ? all.slice(0, o.limit) : all;
  let template = '';
  let examples = '';
  if (o.generator === 'llm') {
    template = o.prompt ? readTextFile(o.prompt) : DEFAULT_PROMPT;
    checkTemplate(template, o.prompt ?? 'the default prompt');
    examples = o.examples ? examplesBlock((await readMcqSource(o.examples)).records.slice(0, o.exampleCount)) : '';
  }
  const fixed = {
    generator: o.generator, endpoint: o.endpoint ? shownEndpoint(o.endpoint) : null, model: o.model ?? null, passageTokens: o.passageTokens,
    perPassage: o.perPassage, options: o.options, minGrounding: o.minGrounding,
    promptSha256: o.generator === 'llm' ? sha256(`${template}\u0000${examples}`) : null,
    passagesSha256: sha256(JSON.stringify(all.map((p) => [p.id, p.chapter, p.text]))),
  };
  return { all, passages, duplicates, template, examples, fixed };
}

type Fixed = Awaited<ReturnType<typeof readInputs>>['fixed'];

/** Opens the run directory as asked (new, --overwrite, --resume): the journal so far and the questions kept. */
function openDir(o: QuestionsOptions, fixed: Fixed): { journal: JournalLine[]; seen: Set<string> } {
  if (o.resume && o.overwrite) throw new UsageError('mqg questions: --resume and --overwrite exclude each other');
  const ours = Object.values(QUESTIONS_FILES).filter((f) => existsSync(join(o.out, f)));
  const occupied = existsSync(o.out) && statSync(o.out).isDirectory() && readdirSync(o.out).length > 0;
  if (o.resume) {
    if (!existsSync(join(o.out, QUESTIONS_FILES.run))) throw new RunDirError(`--resume: ${join(o.out, QUESTIONS_FILES.run)} does not exist (nothing to resume; drop --resume to start a run)`);
    const saved = (JSON.parse(readFileSync(join(o.out, QUESTIONS_FILES.run), 'utf8')) as { fixed: Record<string, unknown> }).fixed;
    for (const [k, v] of Object.entries(fixed)) {
      if (JSON.stringify(saved[k]) !== JSON.stringify(v)) {
        throw new RunDirError(`--resume: ${k} of the run in ${o.out} is ${JSON.stringify(saved[k])}, not ${JSON.stringify(v)} (it must match; start a new run with --overwrite)`);
      }
    }
    return readJournal(o.out);
  }
  if (occupied && !o.overwrite) throw new RunDirError(`--out ${o.out} already exists and is not empty; continue its run with --resume, or replace it with --overwrite`);
  for (const f of ours) rmSync(join(o.out, f), { force: true });
  checkWritableDir(o.out);
  for (const k of ['questions', 'rejected', 'corpus', 'journal'] as const) appendSynced(join(o.out, QUESTIONS_FILES[k]), '');
  return { journal: [], seen: new Set() };
}

/** The journal's complete lines, with the output files cut back to the sizes of its last one. */
function readJournal(out: string): { journal: JournalLine[]; seen: Set<string> } {
  const path = join(out, QUESTIONS_FILES.journal);
  let text = existsSync(path) ? readFileSync(path, 'utf8') : '';
  if (!text.endsWith('\n') && text.includes('\n')) text = text.slice(0, text.lastIndexOf('\n') + 1);
  else if (!text.endsWith('\n')) text = '';
  writeFileAtomicSync(path, text);
  const journal = text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as JournalLine);
  const sizes: Sizes = journal[journal.length - 1]?.sizes ?? { questions: 0, rejected: 0, corpus: 0 };
  for (const k of ['questions', 'rejected', 'corpus'] as const) {
    const file = join(out, QUESTIONS_FILES[k]);
    const have = existsSync(file) ? statSync(file).size : 0;
    if (have < sizes[k]) throw new RunDirError(`--resume: ${file} is shorter (${have} bytes) than its journal says (${sizes[k]}); the run cannot be resumed`);
    if (have > sizes[k]) truncateSync(file, sizes[k]); // a passage cut short by a kill
  }
  const lines = readQuestionLines(out);
  return { journal, seen: new Set(lines.map((l) => questionKey({ question: l.question.slice(l.case && l.case_order === 1 ? l.case.length + 2 : 0), options: l.options, caseText: l.case }))) };
}

/** The lines of `<out>/questions.jsonl` (none when it is missing). */
function readQuestionLines(out: string): QuestionLine[] {
  const questions = join(out, QUESTIONS_FILES.questions);
  return existsSync(questions) ? readFileSync(questions, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as QuestionLine) : [];
}

/** Rewrites the split files from questions.jsonl (--holdout-fraction > 0), or removes stale ones (0). */
function writeSplit(o: QuestionsOptions, passages: readonly Passage[]): HoldoutCounts | undefined {
  const files = { train: QUESTIONS_FILES.trainQuestions, heldout: QUESTIONS_FILES.heldoutQuestions, trainCorpus: QUESTIONS_FILES.trainCorpus };
  if (!(o.holdoutFraction > 0)) {
    for (const f of Object.values(files)) rmSync(join(o.out, f), { force: true });
    return undefined;
  }
  const heldOut = heldOutPassages(passages.map((p) => p.id), o.holdoutFraction);
  const split = splitByPassage(readQuestionLines(o.out), heldOut);
  const jsonl = (xs: readonly object[]) => xs.map((x) => `${JSON.stringify(x)}\n`).join('');
  writeFileAtomicSync(join(o.out, files.train), jsonl(split.train));
  writeFileAtomicSync(join(o.out, files.heldout), jsonl(split.heldout));
  writeFileAtomicSync(join(o.out, files.trainCorpus), split.trainCorpus);
  return { passages: heldOut.size, trainQuestions: split.train.length, heldoutQuestions: split.heldout.length };
}

/** Appends `text` to `path` and fsyncs it; returns the file's size after. */
function appendSynced(path: string, text: string): number {
  const fd = openSync(path, 'a');
  try {
    const bytes = Buffer.from(text);
    for (let off = 0; off < bytes.length;) off += writeSync(fd, bytes, off);
    fsyncSync(fd);
    return statSync(path).size;
  } finally {
    closeSync(fd);
  }
}

function sum(journal: readonly JournalLine[]): QuestionCounts {
  const c: QuestionCounts = { passagesDone: journal.length, kept: 0, rejected: 0, requests: 0, retries: 0, usage: { ...ZERO } };
  for (const j of journal) {
    c.kept += j.kept; c.rejected += j.rejected; c.requests += j.requests; c.retries += j.retries;
    for (const k of Object.keys(ZERO) as (keyof Usage)[]) c.usage[k] += j.usage[k];
  }
  return c;
}

/** One passage's reply -> its questions and rejections, appended with its journal line in one synchronous step. */
function commitPassage(o: QuestionsOptions, p: Passage, reply: { content: string; usage: Usage; attempts: number }, seen: Set<string>, journal: JournalLine[]): void {
  const { kept, rejected } = checkReply(reply.content, p.text, { options: o.options, minGrounding: o.minGrounding, seen });
  const lines = questionLines(p, kept);
  const jsonl = (xs: readonly object[]) => xs.map((x) => `${redact(JSON.stringify(x), o.apiKey)}\n`).join('');
  const file = (k: keyof typeof QUESTIONS_FILES) => join(o.out, QUESTIONS_FILES[k]);
  const sizes: Sizes = {
    questions: appendSynced(file('questions'), jsonl(lines)),
    rejected: appendSynced(file('rejected'), jsonl(rejected.map((r) => ({ passage: p.id, ...r })))),
    corpus: appendSynced(file('corpus'), redact(corpusText(lines), o.apiKey)),
  };
  const line: JournalLine = { passage: p.id, kept: lines.length, rejected: rejected.length, requests: reply.attempts, retries: Math.max(0, reply.attempts - 1), usage: reply.usage, sizes };
  appendSynced(file('journal'), jsonl([line]));
  journal.push(line);
}

function writeRunJson(o: QuestionsOptions, fixed: Fixed, counts: object): void {
  const settings = {
    text: o.text, apiKeyEnv: o.generator === 'llm' ? o.apiKeyEnv : null, concurrency: o.concurrency, timeout: o.timeout, retries: o.retries,
    temperature: o.temperature, maxTokens: o.maxTokens, limit: o.limit, prompt: o.prompt ?? (o.generator === 'llm' ? 'default' : null),
    examples: o.examples ?? null, exampleCount: o.exampleCount, holdoutFraction: o.holdoutFraction,
  };
  writeFileAtomicSync(join(o.out, QUESTIONS_FILES.run), redact(JSON.stringify({ command: 'questions', version: 1, fixed, settings, counts, updated: new Date().toISOString() }, null, 2), o.apiKey) + '\n');
}

/** Runs `mqg questions`: every passage not yet done is asked (or cloze-written), checked and appended. */
export async function generateQuestions(o: QuestionsOptions, hooks: QuestionsHooks = {}): Promise<QuestionsSummary> {
  if (o.generator === 'llm' && (!o.endpoint || !o.model)) throw new UsageError('mqg questions: --endpoint URL and --model NAME are required (or --generator cloze)');
  const inputs = await readInputs(o);
  const { journal, seen } = openDir(o, inputs.fixed);
  const resumedPassages = journal.length;
  const done = new Set(journal.map((j) => j.passage));
  const queue = inputs.passages.filter((p) => !done.has(p.id));
  writeRunJson(o, inputs.fixed, sum(journal));
  const index = o.generator === 'cloze' ? new TermIndex(inputs.all.map((p) => p.text), o.options) : undefined;
  const stop = new AbortController();
  const onAbort = () => stop.abort(o.signal!.reason);
  if (o.signal?.aborted) stop.abort(o.signal.reason);
  else o.signal?.addEventListener('abort', onAbort, { once: true });
  const ask = async (p: Passage) => {
    if (index) return { content: clozeReply(index, p, o.perPassage, o.options), usage: { ...ZERO }, attempts: 0 };
    const prompt = renderPrompt(inputs.template, { passage: p.text, chapter: p.chapter, n: o.perPassage, examples: inputs.examples, options: o.options });
    return chatCompletion({
      endpoint: o.endpoint!, model: o.model!, apiKey: o.apiKey, timeoutMs: o.timeout * 1000, retries: o.retries, backoffMs: o.backoff * 1000,
      temperature: o.temperature, maxTokens: o.maxTokens, signal: stop.signal,
      onRetry: (r) => hooks.log?.(`${p.id}: ${r.reason}; retry ${r.attempt} in ${(r.waitMs / 1000).toFixed(1)} s`),
    }, prompt);
  };
  const t0 = performance.now();
  let next = 0, failed = 0, inARow = 0, fatal: unknown;
  const keptBefore = sum(journal).kept;
  const progress = (): QuestionsProgress => {
    const seconds = (performance.now() - t0) / 1000, doneNow = journal.length - resumedPassages, left = queue.length - doneNow - failed;
    return { ...sum(journal), passagesTotal: inputs.passages.length, failed, seconds, etaSeconds: doneNow > 0 ? (seconds / doneNow) * left : undefined };
  };
  const worker = async () => {
    while (!stop.signal.aborted && next < queue.length) {
      const p = queue[next++]!;
      try {
        const reply = await ask(p);
        commitPassage(o, p, reply, seen, journal);
        inARow = 0;
        hooks.progress?.(progress());
      } catch (e) {
        if (stop.signal.aborted && !(e instanceof EndpointError)) return;
        if (!(e instanceof EndpointError) || e.refused) return void (fatal ??= e, stop.abort());
        failed++;
        hooks.log?.(`${p.id}: ${e.message} (not done: --resume asks it again)`);
        if (++inARow >= Math.max(3, o.concurrency)) {
          fatal ??= new EndpointError(`${inARow} passages in a row failed (the last: ${e.message}); stopping: --resume goes on from here`);
          stop.abort();
        }
      }
    }
  };
  let holdout: HoldoutCounts | undefined;
  try {
    await Promise.all(Array.from({ length: Math.max(1, Math.min(o.concurrency, queue.length)) }, worker));
  } finally {
    o.signal?.removeEventListener('abort', onAbort);
    holdout = writeSplit(o, inputs.passages);
    writeRunJson(o, inputs.fixed, { ...sum(journal), failed, ...(holdout ? { holdout } : {}) });
  }
  if (fatal !== undefined) throw fatal;
  const p = progress();
  return {
    ...p, duplicates: inputs.duplicates, resumedPassages, out: o.out, stopped: o.signal?.aborted ?? false, holdout,
    questionsPerMinute: p.seconds > 0 ? ((p.kept - keptBefore) / p.seconds) * 60 : 0,
  };
}
