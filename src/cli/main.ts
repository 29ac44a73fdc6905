// The `mqg` command line. Each subcommand lives in its own module and is loaded on demand.
import '../gpu/node';
import '../kernels/tune/store.node';
import { UsageError } from '../util/errors';
import { reportError } from './report';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

type Command = { summary: string; run: (argv: string[]) => Promise<void> };

const commands: Record<string, Command> = {
  doctor: { summary: 'print the WebGPU adapter, its features and limits, and whether f16 works', run: (a) => import('./doctor').then((m) => m.doctorMain(a)) },
  train: { summary: 'train a model (default: mqg-tiny on the bundled medical corpus)', run: (a) => import('./train').then((m) => m.trainMain(a)) },
  sample: { summary: 'generate text from a checkpoint', run: (a) => import('./train').then((m) => m.sampleMain(a)) },
  eval: { summary: 'mean loss, perplexity and token count of a checkpoint on token shards', run: (a) => import('./eval').then((m) => m.evalMain(a)) },
  convert: { summary: 'rewrite a checkpoint (any format or source) as safetensors, sharded with --max-shard-size', run: (a) => import('./convert').then((m) => m.convertMain(a)) },
  'eval-mcq': { summary: 'multiple-choice accuracy, EMR and Hamming score (by the head, or by log-likelihood)', run: (a) => import('./finetune-mcq').then((m) => m.evalMcqMain(a)) },
  'finetune-mcq': { summary: 'fine-tune a multiple-choice / proposition head on MCQ files', run: (a) => import('./finetune-mcq').then((m) => m.finetuneMcqMain(a)) },
  'tokenizer train': { summary: 'train a byte-level BPE tokenizer on text files', run: (a) => import('./train').then((m) => m.tokenizerTrainMain(a)) },
  profile: { summary: 'GPU time of each kernel in one training step', run: (a) => import('./profile').then((m) => m.profileMain(a)) },
  merge: { summary: 'fold a LoRA adapter into its base model (merged Hugging Face checkpoint)', run: (a) => import('./merge').then((m) => m.mergeMain(a)) },
  tune: { summary: 'time the kernel variants on this adapter and record the fastest correct one', run: (a) => import('./tune').then((m) => m.tuneMain(a)) },
  plan: { summary: 'GPU memory by category for inference and training, against the budget', run: (a) => import('./plan').then((m) => m.planMain(a)) },
  questions: { summary: 'textbooks -> exam-style multiple-choice questions (an OpenAI-compatible endpoint, or offline cloze)', run: (a) => import('./questions').then((m) => m.questionsMain(a)) },
  serve: { summary: 'serve a model over an OpenAI-compatible HTTP API (completions, chat, multiple-choice scoring)', run: (a) => import('./serve').then((m) => m.serveMain(a)) },
  'data prepare': { summary: 'tokenize text files into llm.c token shards', run: (a) => import('./train').then((m) => m.dataPrepareMain(a)) },
};

export function registerCommand(name: string, cmd: Command): void {
  commands[name] = cmd;
}

function help(): string {
  const rows = Object.entries(commands).map(([k, c]) => `  ${k.padEnd(18)}${c.summary}`);
  return `mqg: train and run GPT-2-class (MQG) models on WebGPU\n\nusage: mqg <command> [flags]   (mqg <command> --help for its flags; mqg --version)\n\n${rows.join('\n')}`;
}

/** This package's version, from the package.json above this file (src/cli or dist/lib/cli). */
function version(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++, dir = dirname(dir)) {
    const file = join(dir, 'package.json');
    if (existsSync(file)) return JSON.parse(readFileSync(file, 'utf8')).version;
  }
  return 'unknown';
}

async function mqgMain(argv: string[]): Promise<void> {
  const [name, ...rest] = argv;
  if (name === '--version' || name === '-v' || name === 'version') {
    console.log(version());
    return;
  }
  if (!name) throw new UsageError(`mqg: give a command\n\n${help()}`);
  if (name === '--help' || name === '-h' || name === 'help') {
    console.log(help());
    return;
  }
  // two-word commands: `mqg tokenizer train`, `mqg data prepare`
  const two = rest[0] && commands[`${name} ${rest[0]}`] ? `${name} ${rest[0]}` : undefined;
  const cmd = commands[two ?? name];
  if (!cmd) throw new UsageError(`mqg: unknown command "${name}"\n\n${help()}`);
  await cmd.run(two ? rest.slice(1) : rest);
}

mqgMain(process.argv.slice(2)).then(
  () => process.exit(process.exitCode ?? 0),
  (e: unknown) => process.exit(reportError(e)),
);
