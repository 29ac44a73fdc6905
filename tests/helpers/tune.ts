// An in-memory tune store (every tuned kernel's records) for the tuner tests: what was saved, and how often.
import { type TuneRecord, setTuneStore } from '../../src/kernels/tune/store';

export function memoryTuneStore(): { saved: Map<string, TuneRecord<unknown>>; saves: () => number } {
  const saved = new Map<string, TuneRecord<unknown>>();
  let saves = 0;
  setTuneStore({ load: (k) => saved.get(k), save: (k, r) => void (saves++, saved.set(k, r)) });
  return { saved, saves: () => saves };
}
