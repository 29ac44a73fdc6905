// An in-memory tune store (matmul and attention records) for the tuner tests: what was saved, and how often.
import { type MatmulTuneRecord, setMatmulTuneStore } from '../../src/kernels/matmul';

export function memoryTuneStore(): { saved: Map<string, MatmulTuneRecord>; saves: () => number } {
  const saved = new Map<string, MatmulTuneRecord>();
  let saves = 0;
  setMatmulTuneStore({ load: (k) => saved.get(k), save: (k, r) => void (saves++, saved.set(k, r)) });
  return { saved, saves: () => saves };
}
