// Smoke run of the jax-js peer: a few mqg-tiny-shaped steps, printing loss and ms per step.
import { JaxGPT2, initJaxWasm, jaxMatmulBench } from './jaxjs';
import { randomBatch } from '../../src/train/profile';

await initJaxWasm();
const B = Number(process.env.B ?? 8), T = Number(process.env.T ?? 128);
const m = new JaxGPT2({ nLayer: 4, nHead: 4, nEmbd: 128, vocabSize: 4096, maxT: 256 }, B, T);
for (let i = 0; i < 3; i++) {
  const b = randomBatch(4096, B * T, i);
  const t0 = performance.now();
  const loss = await m.trainStep(b.inputs, b.targets);
  console.log(`step ${i}: loss ${loss.toFixed(4)} ${(performance.now() - t0).toFixed(0)} ms`);
}
console.log(`matmul 512: ${(await jaxMatmulBench(512, 2)).toFixed(2)} GFLOP/s`);
