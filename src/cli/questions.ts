// `mqg questions`: textbooks -> exam-style multiple-choice questions, from an OpenAI-compatible
// endpoint or the offline cloze generator. The run lives in src/train/questions/run.node.ts.
import { type FlagSpec, parseFlags, usage } from './args';
import { UsageError } from '../util/errors';
import { generateQuestions, QUESTIONS_DEFAULTS as D, type QuestionsProgress } from '../train/questions/run.node';

const spec: Record<string, FlagSpec> = {
  text: { type: 'string', help: 'text or Markdown files, comma-separated (or given after the flags)' },
  out: { type: 'string', help: 'run directory (questions.jsonl, rejected.jsonl, corpus.txt, run.json, done.jsonl)' },
  generator: { type: 'string', choices: ['llm', 'cloze'], default: D.generator, help: 'llm: an OpenAI-compatible endpoint; cloze: offline, deterministic fill-in-the-blank' },
  endpoint: { type: 'string', help: 'the API base URL (http://127.0.0.1:8080/v1) or its /chat/completions URL' },
  model: { type: 'string', help: 'the model name sent to the endpoint' },
  'api-key-env': { type: 'string', default: D.apiKeyEnv, help: 'environment variable holding the API key (sent as a bearer token; never written or printed)' },
  concurrency: { type: 'int', min: 1, max: 256, default: D.concurrency, help: 'requests in flight' },
  timeout: { type: 'number', min: 0, minExclusive: true, default: D.timeout, help: 'seconds per request before it is retried' },
  retries: { type: 'int', min: 0, max: 100, default: D.retries, help: 'retries of a request after network errors, timeouts, 429 and 5xx' },
  backoff: { type: 'number', min: 0, default: D.backoff, help: 'seconds before the first retry, doubling each time (a Retry-After header wins)' },
  temperature: { type: 'number', min: 0, max: 2, default: D.temperature, help: 'sampling temperature sent to the endpoint' },
  'max-tokens': { type: 'int', min: 0, default: D.maxTokens, help: 'max_tokens per reply (0 = the server\'s default)' },
  'passage-tokens': { type: 'int', min: 16, default: D.passageTokens, help: 'most GPT-2 tokens per passage' },
  'per-passage': { type: 'int', min: 1, max: 50, default: D.perPassage, help: 'questions asked per passage' },
  limit: { type: 'int', min: 0, default: D.limit, help: 'only the first N passages (0 = all)' },
  options: { type: 'int', min: 2, max: 26, default: D.options, help: 'propositions per question (a question with another number is rejected)' },
  'min-grounding': { type: 'number', min: 0, max: 1, default: D.minGrounding, help: 'reject questions whose correct options have a smaller share of their content words in the passage' },
  prompt: { type: 'string', help: 'a prompt template file with {passage} {chapter} {n} {examples} {options} (default: the built-in one)' },
  examples: { type: 'string', help: 'a multiple-choice file (or hf://datasets/ORG/NAME[@REV]/PATH) whose first questions go into the prompt as style examples' },
  'example-count': { type: 'int', min: 1, max: 50, default: D.exampleCount, help: 'how many questions of --examples' },
  'holdout-fraction': { type: 'number', min: 0, max: 1, maxExclusive: true, default: D.holdoutFraction, help: 'hold out this share of the passages: their questions go to questions-heldout.jsonl, the others\' to questions-train.jsonl and corpus-train.txt' },
  resume: { type: 'boolean', help: 'continue the run in --out: skip the passages done, ask the others' },
  overwrite: { type: 'boolean', help: 'replace the run in --out' },
  help: { type: 'boolean', help: 'show this help' },
};

const FOOTER = 'The default prompt and the reply format are in docs/commands.md ("mqg questions").';

function clock(s: number): string {
  const m = Math.floor(s / 60);
  return m ? `${m}m${String(Math.round(s % 60)).padStart(2, '0')}s` : `${Math.round(s)}s`;
}

/** Prints the progress line: rewritten in place on a terminal, else the first one, then at most every 5 s, and the last. */
function progressPrinter(): (p: QuestionsProgress) => void {
  let last: number | undefined;
  return (p) => {
    const end = p.passagesDone + p.failed >= p.passagesTotal;
    const line = `passages ${p.passagesDone}/${p.passagesTotal} · ${p.kept} questions kept, ${p.rejected} rejected` +
      (p.failed ? ` · ${p.failed} failed` : '') + ` · ${clock(p.seconds)}` + (p.etaSeconds !== undefined && !end ? ` · ETA ${clock(p.etaSeconds)}` : '');
    if (process.stderr.isTTY) process.stderr.write(`\r${line}\x1b[K${end ? '\n' : ''}`);
    else if (end || last === undefined || performance.now() - last > 5000) console.error(line), (last = performance.now());
  };
}

export async function questionsMain(argv: string[]): Promise<void> {
  const { flags: f, positional } = parseFlags(argv, spec, 'questions');
  if (f.help) return void console.log(usage('questions', 'textbooks -> exam-style multiple-choice questions', spec, FOOTER));
  const text = [...((f.text as string | undefined)?.split(',') ?? []), ...positional].filter(Boolean);
  if (!text.length) throw new UsageError('mqg questions: --text FILE... is required');
  if (!f.out) throw new UsageError('mqg questions: --out DIR is required');
  const llm = f.generator === 'llm';
  if (llm && (!f.endpoint || !f.model)) throw new UsageError('mqg questions: --endpoint URL and --model NAME are required (or --generator cloze)');
  const apiKeyEnv = f['api-key-env'] as string;
  const stop = new AbortController();
  let sigints = 0;
  const onSigint = () => {
    if (++sigints > 1) process.exit(130); // every finished passage is already on disk
    console.error('\ninterrupted: cancelling the requests in flight; finished passages are kept (Ctrl-C again to quit now)');
    stop.abort(new Error('interrupted'));
  };
  process.on('SIGINT', onSigint);
  try {
    const s = await generateQuestions({
      text, out: f.out as string, generator: f.generator as 'llm', endpoint: f.endpoint as string | undefined, model: f.model as string | undefined,
      apiKey: llm ? process.env[apiKeyEnv] || undefined : undefined, apiKeyEnv,
      concurrency: f.concurrency as number, timeout: f.timeout as number, retries: f.retries as number, backoff: f.backoff as number,
      temperature: f.temperature as number, maxTokens: f['max-tokens'] as number, passageTokens: f['passage-tokens'] as number,
      perPassage: f['per-passage'] as number, limit: f.limit as number, options: f.options as number, minGrounding: f['min-grounding'] as number,
      prompt: f.prompt as string | undefined, examples: f.examples as string | undefined, exampleCount: f['example-count'] as number,
      holdoutFraction: f['holdout-fraction'] as number,
      resume: Boolean(f.resume), overwrite: Boolean(f.overwrite), signal: stop.signal,
    }, { log: (l) => console.error(l), progress: progressPrinter() });
    const resumed = s.resumedPassages ? ` (${s.resumedPassages} done before --resume)` : '';
    console.log(`${s.passagesDone}/${s.passagesTotal} passages done${resumed}, ${s.duplicates} duplicate passages dropped${s.failed ? `, ${s.failed} failed (--resume asks them again)` : ''}`);
    console.log(`questions: ${s.kept} kept, ${s.rejected} rejected (reasons in ${s.out}/rejected.jsonl); ${s.questionsPerMinute.toFixed(1)} questions/min`);
    if (llm) console.log(`requests: ${s.requests} (${s.retries} retries); usage: ${s.usage.promptTokens} prompt + ${s.usage.completionTokens} completion = ${s.usage.totalTokens} tokens`);
    console.log(`${s.out}/questions.jsonl (for eval-mcq and finetune-mcq), ${s.out}/corpus.txt (for data prepare)`);
    if (s.holdout) {
      const h = s.holdout;
      console.log(`held out: ${h.passages} of ${s.passagesTotal} passages, ${h.heldoutQuestions} questions in ${s.out}/questions-heldout.jsonl; ` +
        `the other ${h.trainQuestions} in ${s.out}/questions-train.jsonl and ${s.out}/corpus-train.txt`);
    }
    if (s.stopped) {
      console.log(`stopped: continue with --resume`);
      process.exitCode = 130;
    } else if (s.failed) process.exitCode = 1;
  } finally {
    process.removeListener('SIGINT', onSigint);
  }
}
