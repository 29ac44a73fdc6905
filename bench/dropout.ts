// The cost of dropout per training step: mqg-tiny (B8×T128) with every rate 0.1 (embd, resid, attn)
// against the same model without dropout, in one process, steps interleaved (off, on, off, on, ...)
// so both see the same machine load; each precision the adapter has. Prints the median wall time
// of a step (submit to readback) and the ratio.
//   node scripts/build.mjs --no-types && node dist/bench/dropout.js [rounds]
import '../src/gpu/node';
import { createGPU } from '../src/gpu/index';
import { GPT2 } from '../src/model/gpt2';
import { randomBatch } from '../src/train/profile';
import { BENCH_ADAM } from './train/timing';
import { TINY_B, TINY_SHAPE, tinyConfig } from './train/tiny';

const rounds = Number(process.argv[2] ?? 10);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main(): Promise<void> {
  const probe = await createGPU();
  const precisions = probe.hasF16 ? (['f16', 'f32'] as const) : (['f32'] as const);
  probe.destroy();
  for (const precision of precisions) {
    const gpu = await createGPU({ precision });
    const T = 128, B = TINY_B;
    const models = [0, 0.1].map((p) => {
      const m = new GPT2(gpu, tinyConfig(), { precision, dropout: { embd: p, resid: p, attn: p, seed: 1 } });
      m.initRandom(1);
      return m;
    });
    for (const m of models) await m.prepare(B, T);
    const times: number[][] = [[], []];
    for (let i = 0; i < rounds + 2; i++) {
      const b = randomBatch(TINY_SHAPE.vocabSize, B * T, 1000 + i);
      for (const [k, m] of models.entries()) {
        const t0 = performance.now();
        await m.trainStep(b.inputs, b.targets, B, T, BENCH_ADAM);
        if (i >= 2) times[k]!.push(performance.now() - t0); // the first two compile and warm up
      }
    }
    const [off, on] = times.map(median) as [number, number];
    console.log(`${precision} on ${gpu.adapterName}: dropout off ${off.toFixed(1)} ms/step, dropout 0.1 ${on.toFixed(1)} ms/step (x${(on / off).toFixed(2)}), median of ${rounds} interleaved steps`);
    for (const m of models) m.destroy();
    gpu.destroy();
  }
}

await main();
