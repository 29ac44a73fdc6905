// Decoding: the GPU argmax (argmaxForward) against a CPU scan in f32 and f16 (ties, V not a
// multiple of the workgroup), greedy and sampled generation with a prompt longer than one prefill
// batch (64 rows) against full recomputation of the logits, and the stop token.
import { describe, expect, it } from 'vitest';
import { GPT2, generate, makeConfig } from '../../src/index';
import { argmaxForward } from '../../src/kernels/decode';
import { roundToF16 } from '../../src/util/f16';
import { PRECISIONS, getGPU, randn } from '../helpers/gpu';

const cfg = makeConfig({ nLayer: 2, nHead: 2, nEmbd: 32, nPositions: 96, vocabSize: 101 });

function argmaxRef(x: ArrayLike<number>, V: number): number {
  let best = 0;
  for (let i = 1; i < V; i++) if (x[i]! > x[best]!) best = i;
  return best;
}

describe.each(PRECISIONS)('decoding (%s)', (precision) => {
  it.each([1, 7, 255, 256, 1000, 28896])('argmaxForward over V = %i equals a CPU scan, first of ties', async (V) => {
    const gpu = await getGPU(precision);
    let x = randn(V + 5, V, 3);
    if (precision === 'f16') x = roundToF16(x);
    const top = Math.max(...x.subarray(0, V)) + 1;
    const ties = [Math.floor(V / 3), Math.floor((2 * V) / 3), V - 1];
    for (const i of ties) x[i] = top; // three equal maxima: the first wins
    x[V + 2] = top + 10; // past V: never read
    const logits = gpu.tensor([V + 5], precision, 'logits', x);
    const out = gpu.tensor([1], 'i32', 'id');
    const s = gpu.step('argmax');
    argmaxForward(s, out, logits, V);
    s.submit();
    expect((await gpu.download(out))[0]).toBe(argmaxRef(x, V));
    expect(argmaxRef(x, V)).toBe(ties[0]);
    logits.buffer.destroy();
    out.buffer.destroy();
  });

  it('greedy and sampled decoding after a 70-token prompt (two prefill batches) equal full recomputation', async () => {
    const gpu = await getGPU(precision);
    const model = new GPT2(gpu, cfg, { precision });
    model.initRandom(21);
    const prompt = Array.from({ length: 70 }, (_, i) => (i * 37 + 11) % 101);
    const full = async (ctx: number[]) => {
      await model.forward(ctx, null, 1, ctx.length);
      const logits = await model.logits();
      return logits.subarray((ctx.length - 1) * 101, ctx.length * 101);
    };
    const greedy = await generate(model, prompt, { maxNewTokens: 6, temperature: 0 });
    const ctx = [...prompt];
    for (let i = 0; i < 6; i++) ctx.push(argmaxRef(await full(ctx), 101));
    expect(greedy).toEqual(ctx.slice(70));
    // the stop token ends greedy decoding right after it is emitted
    const stop = await generate(model, prompt, { maxNewTokens: 6, temperature: 0, stopToken: greedy[2] });
    expect(stop).toEqual(greedy.slice(0, greedy.indexOf(greedy[2]!) + 1));
    // context limit: 96 positions leave 26 after the prompt
    expect((await generate(model, prompt, { maxNewTokens: 40, temperature: 0 })).length).toBe(26);
    // sampling reads the same logits: at a tiny temperature it is greedy
    expect(await generate(model, prompt, { maxNewTokens: 6, temperature: 1e-6, seed: 3 })).toEqual(greedy);
  }, 120_000);
});
