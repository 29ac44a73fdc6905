// `mqg eval`: mean next-token loss, perplexity and token count of a checkpoint on token shards,
// in the model's inference-only mode (no gradients or optimiser state are allocated).
import { type FlagSpec, parseFlags, usage } from './args';
import { UsageError } from '../util/errors';
import { createGPU, type GPUContext } from '../gpu/context';
import { loadModelWithAdapter } from '../model/lora.node';
import { DataLoader } from '../train/data/loader';
import { listShards, readShard } from '../train/data/shards.node';
import { checkModelInputs } from '../train/inputs.node';
import { noteCheckpoint } from './checkpoint';
import { Progress } from '../train/progress';
import { QUANTIZE_FLAG, reportQuantization } from './flags';
import type { QuantType } from '../model/quantized';

const spec: Record<string, FlagSpec> = {
  checkpoint: { type: 'string', help: 'a run directory (its newest checkpoint), a checkpoint file, a Hugging Face model directory, or hf:org/name[@revision]' },
  data: { type: 'string', help: 'a token shard, or a directory of shards (its *val* shards if it has any, else all)' },
  'batch-size': { type: 'int', default: 4, help: 'sequences per batch (B)' },
  'seq-len': { type: 'int', default: 0, help: 'tokens per sequence (T; 0 = the model context)' },
  'max-batches': { type: 'int', default: 0, help: 'stop after N batches (0 = one pass over the data)' },
  precision: { type: 'string', default: 'auto', help: 'auto | f16 | f32' },
  'log-format': { type: 'string', default: 'text', help: 'text | jsonl (one object: loss, ppl, tokens, load_seconds, tokens_per_second)' },
  adapter: { type: 'string', help: 'apply a PEFT LoRA adapter directory to the checkpoint' },
  quantize: QUANTIZE_FLAG,
  help: { type: 'boolean', help: 'show this help' },
};

export async function evalMain(argv: string[]): Promise<void> {
  const { flags } = parseFlags(argv, spec, 'eval');
  if (flags.help) return void console.log(usage('eval', 'mean loss and perplexity of a checkpoint on token shards', spec));
  if (!flags.checkpoint) throw new UsageError('mqg eval: --checkpoint is required');
  if (!flags.data) throw new UsageError('mqg eval: --data is required');
  const B = flags['batch-size'] as number;
  const maxBatches = flags['max-batches'] as number;
  if (B < 1) throw new UsageError(`mqg eval: --batch-size must be at least 1; got ${B}`);
  if (maxBatches < 0) throw new UsageError(`mqg eval: --max-batches must be 0 (one pass) or more; got ${maxBatches}`);
  if ((flags['seq-len'] as number) < 0) throw new UsageError(`mqg eval: --seq-len must be 0 (the model context) or more; got ${flags['seq-len']}`);
  const precision = flags.precision as string;
  if (!['auto', 'f16', 'f32'].includes(precision)) throw new UsageError(`mqg eval: --precision must be auto, f16 or f32; got "${precision}"`);
  const format = flags['log-format'] as string;
  if (format !== 'text' && format !== 'jsonl') throw new UsageError(`mqg eval: --log-format must be text or jsonl; got "${format}"`);

  const shards = listShards(flags.data as string);
  const files = shards.val.length ? shards.val : shards.train;
  const tokens = files.map((f) => readShard(f));
  noteCheckpoint(flags.checkpoint as string);

  const gpu = await createGPU({ precision: precision as 'auto' });
  try {
    await evaluate(gpu, flags.checkpoint as string, flags.adapter as string | undefined, flags.quantize as QuantType | undefined, flags.data as string, files, tokens, B, flags['seq-len'] as number, maxBatches, format);
  } finally {
    gpu.destroy();
  }
}

async function evaluate(gpu: GPUContext, checkpoint: string, adapter: string | undefined, quantize: QuantType | undefined, data: string, files: string[], tokens: Uint16Array[], B: number, seqLen: number, maxBatches: number, format: string): Promise<void> {
  const t0 = performance.now();
  const { model, metadata } = await loadModelWithAdapter(gpu, checkpoint, adapter, { training: false, quantize });
  const loadSeconds = (performance.now() - t0) / 1000;
  reportQuantization('eval', model);
  // model, tokenizer (if the checkpoint has one) and shards must agree (src/train/inputs.node.ts)
  checkModelInputs({ checkpoint, vocabSize: model.config.vocabSize, shards: files, needTokenizer: false, command: 'eval', metadata });
  const T = seqLen || model.config.nPositions;
  if (T > model.config.nPositions) throw new UsageError(`mqg eval: --seq-len ${T} exceeds the model's context (${model.config.nPositions})`);
  const loader = new DataLoader(tokens, { B, T, shuffle: false, vocabSize: model.config.vocabSize, names: files });
  const batches = maxBatches > 0 ? Math.min(maxBatches, loader.batchesPerEpoch) : loader.batchesPerEpoch;
  if (batches === 0) throw new UsageError(`mqg eval: ${data} holds fewer than B*T+1 = ${B * T + 1} tokens; lower --batch-size or --seq-len`);
  await model.prepare(B, T);

  let lossSum = 0;
  const t1 = performance.now();
  const progress = new Progress('batches', batches);
  for (let i = 0; i < batches; i++) {
    const b = loader.nextBatch();
    lossSum += (await model.forward(b.inputs, b.targets, B, T)) * B * T;
    progress.tick(i + 1);
  }
  progress.done();
  const evalSeconds = (performance.now() - t1) / 1000;
  const count = batches * B * T;
  const loss = lossSum / count;
  const result = { loss, ppl: Math.exp(loss), tokens: count, load_seconds: loadSeconds, tokens_per_second: count / evalSeconds };
  if (format === 'jsonl') console.log(JSON.stringify(result));
  else {
    console.log(
      `loss ${loss.toFixed(4)} | perplexity ${result.ppl.toFixed(2)} | ${count} tokens (${batches} batches of ${B}x${T}) | ` +
        `load ${loadSeconds.toFixed(1)} s | ${result.tokens_per_second.toFixed(0)} tokens/s | ${model.dtype} on ${gpu.adapterName}`,
    );
  }
}
