// One tuned kernel choice (a variant, a layout, a workgroup size), the same for every tuned kernel:
// forced on a context (tests, benchmarks), else the tuned record for this adapter and shape (from
// memory, else the store, store.ts), else the kernel's default. Stored records that no longer
// describe a valid choice here (an older kernel, another adapter) are ignored.
//
// The kernel modules own their TunedChoice (matmul.ts's matmulChoice, attention.ts's, ...) and ask
// it for the variant as they record a dispatch; the tuners (tune/*.ts) save into it. This module
// imports no kernel, so both sides can import it without a circle.

import type { GPUContext } from '../../gpu/context';
import { type TuneRecord, loadTuneRecord, onTuneStoreChange, saveTuneRecord } from './store';

/** How one kernel's choice is keyed and checked; W is what the choice depends on besides the adapter (a head size, C, nothing). */
export interface ChoiceRules<V, W> {
  /** The store key of the choice for w on this context (ends with tuneKey(gpu)). */
  key(gpu: GPUContext, w: W): string;
  /** Why v is no choice on this context ('' when it is): forcing it throws, a stored record of it is ignored. */
  problem(gpu: GPUContext, v: V): string;
  /** Why a stored record's v cannot serve w here, beyond `problem` (default: none). */
  recordProblem?(gpu: GPUContext, v: V, w: W): string;
  /** The error a force with a problem throws (default: a RangeError naming the kernel). */
  forceError?: (problem: string) => Error;
  /** The kernel, in errors: 'layernorm'. */
  what: string;
}

export class TunedChoice<V, W = void, R extends TuneRecord<V> = TuneRecord<V>> {
  private readonly records = new Map<string, R | null>();
  private readonly forcedOn = new WeakMap<GPUContext, V>();

  constructor(private readonly rules: ChoiceRules<V, W>) {
    onTuneStoreChange(() => this.forget());
  }

  /** The store key of the choice for w here. */
  key(gpu: GPUContext, w: W): string {
    return this.rules.key(gpu, w);
  }

  /** The tuned record for w here, from memory or the store; undefined when none (or a stale one). */
  record(gpu: GPUContext, w: W): R | undefined {
    const key = this.rules.key(gpu, w);
    let rec = this.records.get(key);
    if (rec === undefined) {
      const stored = loadTuneRecord(key) as R | undefined;
      rec = stored && stored.variant !== undefined && stored.variant !== null && !this.problem(gpu, stored.variant, w) ? stored : null;
      this.records.set(key, rec);
    }
    return rec ?? undefined;
  }

  private problem(gpu: GPUContext, v: V, w: W): string {
    return this.rules.problem(gpu, v) || (this.rules.recordProblem?.(gpu, v, w) ?? '');
  }

  /** Remember a tuned choice for w here (memory, and the store when `persist`). */
  save(gpu: GPUContext, w: W, record: R, persist: boolean): void {
    const key = this.rules.key(gpu, w);
    this.records.set(key, record);
    if (persist) saveTuneRecord(key, record);
  }

  /** Force v on this context (null: back to tuned / default); a v that cannot be forced throws. */
  force(gpu: GPUContext, v: V | null): void {
    if (v === null) return void this.forcedOn.delete(gpu);
    const problem = this.rules.problem(gpu, v);
    if (problem) throw this.rules.forceError ? this.rules.forceError(problem) : new RangeError(`${this.rules.what}: ${problem}`);
    this.forcedOn.set(gpu, v);
  }

  /** The forced choice on this context, if any. */
  forced(gpu: GPUContext): V | undefined {
    return this.forcedOn.get(gpu);
  }

  /** The choice for w here: forced, else tuned, else `fallback()`. */
  variant(gpu: GPUContext, w: W, fallback: () => V): V {
    return this.forcedOn.get(gpu) ?? this.record(gpu, w)?.variant ?? fallback();
  }

  /** Forget the in-memory records (tests: a fresh process; and whenever the store is replaced). */
  forget(): void {
    this.records.clear();
  }
}
