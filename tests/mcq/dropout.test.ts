// summary_first_dropout on the multiple-choice head (McHead, HF's SequenceSummary first_dropout): in
// training steps only, keyed by the head's step; 0 trains bit for bit as a head without it; a given
// rate changes the training loss reproducibly and leaves evaluation scores untouched; the body's
// dropout travels through GPT2.headStep too.
import { describe, expect, it } from 'vitest';
import { getGPU } from '../helpers/gpu';
import { GPT2 } from '../../src/model/gpt2';
import { makeConfig } from '../../src/model/config';
import { McHead, headBatch } from '../../src/model/mc-head';

const config = makeConfig({ nLayer: 1, nHead: 2, nEmbd: 32, nPositions: 16, vocabSize: 64 });
const questions = Array.from({ length: 4 }, (_, q) => ({ rows: Array.from({ length: 3 }, (_, o) => Array.from({ length: 5 + o }, (_, i) => (q * 7 + o * 5 + i * 3) % 60)) }));
const batch = headBatch(questions, questions.map((_, q) => [q % 3]), 8, 63);

async function run(summary: number, body: { embd?: number; resid?: number; attn?: number } = {}) {
  const gpu = await getGPU('f32');
  const model = new GPT2(gpu, config, { dropout: { ...body, seed: 11 } });
  model.initRandom(7);
  const head = new McHead(gpu, config.nEmbd, 'multiple-choice', summary);
  head.initRandom(8);
  const losses: number[] = [];
  for (let s = 0; s < 3; s++) losses.push(await head.step(model, batch, { update: { lr: 1e-2 }, body: true }));
  await head.step(model, batch); // evaluation
  const scores = await head.scores(batch.B);
  model.destroy();
  head.destroy();
  return { losses, scores };
}

describe('summary_first_dropout', () => {
  it('0 trains as a head without it; p > 0 changes the training loss, reproducibly, and never evaluation', async () => {
    const gpu = await getGPU('f32');
    const plain = await run(0);
    const none = await (async () => {
      const model = new GPT2(gpu, config);
      model.initRandom(7);
      const head = new McHead(gpu, config.nEmbd, 'multiple-choice');
      head.initRandom(8);
      const losses: number[] = [];
      for (let s = 0; s < 3; s++) losses.push(await head.step(model, batch, { update: { lr: 1e-2 }, body: true }));
      model.destroy();
      head.destroy();
      return losses;
    })();
    expect(plain.losses).toEqual(none);
    const a = await run(0.5), b = await run(0.5);
    expect(a.losses).toEqual(b.losses);
    expect(a.losses[0]).not.toBe(plain.losses[0]); // step 0: the same weights, another hidden state
    expect(Array.from(a.scores).every(Number.isFinite)).toBe(true);
    // the body's dropout through headStep: another first loss, reproducible
    const c = await run(0, { embd: 0.1, resid: 0.1, attn: 0.1 }), d = await run(0, { embd: 0.1, resid: 0.1, attn: 0.1 });
    expect(c.losses).toEqual(d.losses);
    expect(c.losses[0]).not.toBe(plain.losses[0]);
  });

  it('evaluation scores of a model trained 0 steps are the same with and without dropout', async () => {
    const gpu = await getGPU('f32');
    const scores = async (summary: number, drop: number) => {
      const model = new GPT2(gpu, config, { dropout: { embd: drop, resid: drop, attn: drop } });
      model.initRandom(7);
      const head = new McHead(gpu, config.nEmbd, 'multiple-choice', summary);
      head.initRandom(8);
      await head.step(model, batch);
      const s = await head.scores(batch.B);
      model.destroy();
      head.destroy();
      return s;
    };
    expect(await scores(0.5, 0.3)).toEqual(await scores(0, 0));
  });
});
