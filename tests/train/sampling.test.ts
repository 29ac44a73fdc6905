// Sampling statistics: empirical frequencies of sampleToken against the renormalised distribution
// (temperature, top-k, top-p), within 4.5 standard errors per token; tokens cut off never appear.
import { describe, expect, it } from 'vitest';
import { sampleToken } from '../../src/model/generate';
import { Rng } from '../../src/util/rng';

const logits = new Float32Array([2.0, 1.2, -0.5, 0.7, 3.1, -2.0, 0.0, 1.9]);

/** The distribution sampleToken should draw from, in float64. */
function target(temperature: number, topK: number, topP: number): number[] {
  const order = [...logits.keys()].sort((a, b) => logits[b]! - logits[a]!);
  let keep = topK > 0 ? order.slice(0, topK) : order;
  const w = keep.map((i) => Math.exp(logits[i]! / temperature));
  const sum = w.reduce((a, b) => a + b, 0);
  if (topP < 1) {
    let acc = 0, n = 0;
    while (n < w.length && acc < topP * sum) acc += w[n++]!;
    keep = keep.slice(0, n);
  }
  const p = new Array<number>(logits.length).fill(0);
  const kept = keep.map((i) => Math.exp(logits[i]! / temperature));
  const z = kept.reduce((a, b) => a + b, 0);
  keep.forEach((i, j) => (p[i] = kept[j]! / z));
  return p;
}

const CASES: [string, number, number, number][] = [
  ['temperature 1', 1, 0, 1],
  ['temperature 0.5 (sharper)', 0.5, 0, 1],
  ['temperature 2 (flatter)', 2, 0, 1],
  ['top-k 3', 1, 3, 1],
  ['top-p 0.8', 1, 0, 0.8],
  ['top-k 5 with top-p 0.9 at temperature 0.7', 0.7, 5, 0.9],
];

describe.each(CASES)('sampleToken, %s', (_name, temperature, topK, topP) => {
  it('draws each token with its renormalised probability', () => {
    const p = target(temperature, topK, topP);
    const N = 40_000;
    const counts = new Array<number>(logits.length).fill(0);
    const rng = new Rng(1234);
    for (let i = 0; i < N; i++) counts[sampleToken(logits, { temperature, topK, topP }, rng)]!++;
    for (let t = 0; t < logits.length; t++) {
      const f = counts[t]! / N;
      if (p[t] === 0) expect(counts[t], `token ${t} is outside the top-k / top-p set`).toBe(0);
      else expect(Math.abs(f - p[t]!), `token ${t}: ${f} vs ${p[t]}`).toBeLessThanOrEqual(4.5 * Math.sqrt((p[t]! * (1 - p[t]!)) / N));
    }
  });
});

describe('sampleToken', () => {
  it('is greedy at temperature 0, and checks its settings', () => {
    expect(sampleToken(logits, { temperature: 0 }, new Rng(1))).toBe(4);
    expect(() => sampleToken(logits, { temperature: -1 }, new Rng(1))).toThrow('temperature must be >= 0, got -1');
    expect(() => sampleToken(logits, { temperature: 1, topP: 0 }, new Rng(1))).toThrow('top-p must be in (0, 1], got 0');
  });
  it('top-p keeps the smallest prefix whose mass reaches p', () => {
    // probabilities at temperature 1 sorted: token 4 holds ~0.52 of the mass, so top-p 0.5 keeps it alone
    const rng = new Rng(5);
    for (let i = 0; i < 200; i++) expect(sampleToken(logits, { temperature: 1, topP: 0.5 }, rng)).toBe(4);
  });
});
