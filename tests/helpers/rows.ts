// A deterministic batch of token rows for model tests: B rows of T inputs and targets below `vocab`,
// patterned (no RNG) so a failing case reproduces from its seed alone.
export function patternRows(B: number, T: number, seed: number, vocab: number): { inputs: number[]; targets: number[] } {
  const inputs: number[] = [], targets: number[] = [];
  for (let i = 0; i < B * T; i++) {
    inputs.push((i * 13 + seed * 7 + ((i * i) % 11)) % vocab);
    targets.push((i * 5 + seed * 17 + 3) % vocab);
  }
  return { inputs, targets };
}
