// `mqg convert`: any checkpoint source -> a safetensors file or a Hugging Face model directory
// (sharded with --max-shard-size), streamed tensor by tensor without a GPU.
import { type FlagSpec, parseFlags, usage } from './args';
import { UsageError } from '../util/errors';
import { convertCheckpoint, outputKind } from '../model/checkpoint-write.node';
import { checkOutput } from '../util/outputs.node';
import { noteCheckpoint } from './checkpoint';
import { Progress } from '../train/progress';

const spec: Record<string, FlagSpec> = {
  checkpoint: { type: 'string', help: 'a run directory (its newest checkpoint), a checkpoint file, a Hugging Face model directory, or hf:org/name[@revision]' },
  out: { type: 'string', help: 'a .safetensors file, an llm.c .bin, or a directory (config.json + safetensors)' },
  'max-shard-size': { type: 'string', help: 'directory output: shards of at most this size (bytes, or e.g. 5GB, 500MB)' },
  dtype: { type: 'string', default: 'F32', help: 'F32 | F16 | BF16 (an llm.c .bin is always F32)' },
  overwrite: { type: 'boolean', help: 'replace an existing --out' },
  help: { type: 'boolean', help: 'show this help' },
};

/** "5GB", "500MB", "2GiB", "1e9" -> bytes (HF's max_shard_size spelling: decimal units, *iB binary). */
export function parseSize(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?(?:e\d+)?)\s*(|b|kb|mb|gb|tb|kib|mib|gib|tib)\s*$/i.exec(text);
  if (!m) throw new UsageError(`mqg convert: --max-shard-size must be a size like 5GB, 500MB or a byte count; got "${text}"`);
  const unit = m[2]!.toLowerCase();
  const scale: Record<string, number> = { '': 1, b: 1, kb: 1e3, mb: 1e6, gb: 1e9, tb: 1e12, kib: 2 ** 10, mib: 2 ** 20, gib: 2 ** 30, tib: 2 ** 40 };
  const n = Math.floor(Number(m[1]) * scale[unit]!);
  if (!(n > 0)) throw new UsageError(`mqg convert: --max-shard-size must be positive; got "${text}"`);
  return n;
}

export async function convertMain(argv: string[]): Promise<void> {
  const { flags } = parseFlags(argv, spec, 'convert');
  if (flags.help) return void console.log(usage('convert', 'rewrite a checkpoint as safetensors (a file or a sharded model directory)', spec));
  if (!flags.checkpoint) throw new UsageError('mqg convert: --checkpoint is required');
  if (!flags.out) throw new UsageError('mqg convert: --out is required');
  const dtype = String(flags.dtype).toUpperCase();
  if (!['F32', 'F16', 'BF16'].includes(dtype)) throw new UsageError(`mqg convert: --dtype must be F32, F16 or BF16; got "${flags.dtype}"`);
  const maxShardSize = flags['max-shard-size'] === undefined ? undefined : parseSize(flags['max-shard-size'] as string);
  const out = flags.out as string;
  if (outputKind(out) === 'llmc' && dtype !== 'F32') throw new UsageError(`mqg convert: --out ${out} is an llm.c checkpoint, always F32; drop --dtype ${dtype} or write .safetensors`);
  if (outputKind(out) !== 'directory' && maxShardSize !== undefined) throw new UsageError(`mqg convert: --max-shard-size writes a model directory; --out ${out} is a file`);
  checkOutput({ command: 'mqg convert', flag: '--out', path: out, kind: outputKind(out) === 'directory' ? 'dir' : 'file', overwrite: !!flags.overwrite, inputs: [{ flag: '--checkpoint', path: flags.checkpoint as string }] });
  noteCheckpoint(flags.checkpoint as string);
  const t0 = performance.now();
  const progress = new Progress('weights', 0, process.stderr, process.env, 'params');
  const c = await convertCheckpoint(flags.checkpoint as string, flags.out as string, { dtype: dtype as 'F32', maxShardSize, onWriteProgress: (done, total) => progress.tick(done, total) })
    .finally(() => progress.done());
  console.log(`${flags.checkpoint} -> ${flags.out} (${c.nLayer} layers, width ${c.nEmbd}, vocab ${c.vocabSize}, ${dtype}) in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
}
