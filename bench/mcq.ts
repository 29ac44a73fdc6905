// Multiple-choice throughput: questions per second scored by the head, by log-likelihood (all four
// scorers from one pass; twice the rows, for the unconditional ones), and trained by the head
// (forward + backward + AdamW), at mqg-tiny and GPT-2 124M sizes with random weights and
// synthetic questions (a 40-token stem, five 6-token options: ~46-token rows). The options of many
// questions share each forward (8192 tokens per forward). One warm-up pass is excluded.
// Run: node scripts/build.mjs --no-types && node dist/bench/mcq.js [--quick] [--only=mqg-tiny|GPT-2] [--precision=f16|f32]
// Results: bench/results/mcq-<date>.json.
import '../src/gpu/node';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createGPU, type Precision } from '../src/gpu/index';
import { GPT2 } from '../src/model/gpt2';
import { makeConfig } from '../src/model/config';
import { Rng } from '../src/util/rng';
import type { McqRecord } from '../src/train/data/mcq';
import type { Tokenizer } from '../src/train/tokenizer/types';
import { McHead } from '../src/model/mc-head';
import { itemsBatch, prepareItems, rowLength, scoreByHead } from '../src/train/finetune-mcq';
import { scoreByLoglik } from '../src/train/mcq-eval';

const quick = process.argv.includes('--quick');
/** --only=<name prefix> and --precision=f16|f32 narrow the run. */
const arg = (k: string) => process.argv.find((a) => a.startsWith(`--${k}=`))?.slice(k.length + 3);
const CONFIGS = [
  { name: 'mqg-tiny (4L, 4H, 128, V 2048)', nLayer: 4, nHead: 4, nEmbd: 128, vocabSize: 2048, nPositions: 256, questions: quick ? 50 : 200, trainQuestions: 8 },
  { name: 'GPT-2 124M (12L, 12H, 768, V 50257)', nLayer: 12, nHead: 12, nEmbd: 768, vocabSize: 50257, nPositions: 1024, questions: quick ? 10 : 40, trainQuestions: 4 },
];
const TOKENS_PER_FORWARD = 8192;

/** "t<id>" words are token ids; the prompt's words map to fixed ids. */
function idTokenizer(V: number): Tokenizer {
  return {
    name: 'ids', vocabSize: V, eotToken: V - 1,
    encode: (s) => s.split(/\s+/).filter(Boolean).map((w) => (w.startsWith('t') ? Number(w.slice(1)) : 1)),
    decode: () => '',
  };
}

function questions(n: number, V: number, seed: number): McqRecord[] {
  const rng = new Rng(seed);
  const words = (k: number) => Array.from({ length: k }, () => `t${2 + rng.int(V - 3)}`).join(' ');
  return Array.from({ length: n }, (_, i) => ({
    id: `q${i}`, question: words(38), options: Array.from({ length: 5 }, () => words(6)), answer: [rng.int(5)], source: 'bench', chapter: 'bench',
  }));
}

async function timed(f: () => Promise<unknown>): Promise<number> {
  await f(); // warm-up: pipelines, allocations
  const t0 = performance.now();
  await f();
  return (performance.now() - t0) / 1000;
}

/** The results so far (written after every row, so a long 124M run keeps the tiny figures). */
function save(rows: Row[], adapter: string): void {
  const date = new Date().toISOString().slice(0, 10);
  mkdirSync('bench/results', { recursive: true });
  const part = arg('only') ? `-${arg('only')!.replace(/[^A-Za-z0-9]+/g, '').toLowerCase()}` : '';
  writeFileSync(`bench/results/mcq-${date}${part}.json`, JSON.stringify({ date, adapter, tokensPerForward: TOKENS_PER_FORWARD, quick, rows }, null, 2) + '\n');
}

interface Row { config: string; precision: Precision; questions: number; rowTokens: number; headQps: number; loglikQps: number; trainQps: number }

async function main(): Promise<void> {
  const rows: Row[] = [];
  let adapter = '';
  for (const c of CONFIGS.filter((x) => x.name.startsWith(arg('only') ?? ''))) {
    const config = makeConfig({ nLayer: c.nLayer, nHead: c.nHead, nEmbd: c.nEmbd, nPositions: c.nPositions, vocabSize: c.vocabSize });
    const tok = idTokenizer(c.vocabSize);
    const recs = questions(c.questions, c.vocabSize, 1);
    const items = prepareItems(tok, recs, c.nPositions);
    const T = rowLength(items);
    for (const precision of (arg('precision') ? [arg('precision')] : ['f16', 'f32']) as Precision[]) {
      const gpu = await createGPU({ precision });
      if (precision === 'f16' && !gpu.hasF16) continue;
      adapter = gpu.adapterName;
      const model = new GPT2(gpu, config);
      model.initRandom(1);
      const head = new McHead(gpu, c.nEmbd, 'multiple-choice');
      head.initRandom(2);
      const maxRows = Math.floor(TOKENS_PER_FORWARD / T);
      const headS = await timed(() => scoreByHead(model, head, items, tok.eotToken, maxRows, T));
      const llS = await timed(() => scoreByLoglik(model, tok, recs, { maxTokens: TOKENS_PER_FORWARD }));
      const batch = itemsBatch(items.slice(0, c.trainQuestions), T, tok.eotToken);
      const steps = quick ? 2 : 4;
      const trainS = await timed(async () => {
        for (let i = 0; i < steps; i++) {
          await head.step(model, batch, { update: { lr: 1e-5 }, body: true });
        }
      });
      const r: Row = {
        config: c.name, precision, questions: c.questions, rowTokens: T,
        headQps: c.questions / headS, loglikQps: c.questions / llS, trainQps: (steps * c.trainQuestions) / trainS,
      };
      rows.push(r);
      save(rows, adapter);
      console.log(`${r.config} ${precision}: ${r.headQps.toFixed(1)} q/s by the head | ${r.loglikQps.toFixed(1)} q/s by log-likelihood | ${r.trainQps.toFixed(1)} q/s training (${c.trainQuestions} questions per step)`);
      model.destroy();
      head.destroy();
      gpu.destroy();
    }
  }
  console.log(`\n| model | precision | by the head (q/s) | by log-likelihood (q/s) | training (q/s) |\n|---|---|---:|---:|---:|`);
  for (const r of rows) console.log(`| ${r.config} | ${r.precision} | ${r.headQps.toFixed(1)} | ${r.loglikQps.toFixed(1)} | ${r.trainQps.toFixed(1)} |`);
  console.log(`\nadapter: ${adapter}`);
}

main().then(() => process.exit(0), (e) => { console.error(e); process.exit(1); });
