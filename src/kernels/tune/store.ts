// The one store of tuned kernel choices, for every tuned kernel (matmul, attention, layernorm,
// cross-entropy): what a record holds, the key that names the adapter, and where records persist.
//
// Every record is filed under a key that starts with the kind of kernel and its own version and
// ends with tuneKey(gpu): the tuning version, the library version, the adapter (vendor,
// architecture, device), its driver (WebGPU's description carries the driver's version, e.g.
// "llvmpipe: Mesa 25.0.7 (LLVM 15.0.6)") and its subgroup support. So a software driver's choice
// never lands on a real GPU, and a driver or library update tunes again. Records live in memory
// (choice.ts) and, where a store is registered (Node: store.node.ts, a JSON file), on disk.
// Nothing here imports a kernel: the kernel modules and the tuners both build on it.

import type { AdapterSummary } from '../../gpu/context';

/** What a tuner stores for one choice: the winner, and what it measured. */
export interface TuneRecord<V> {
  variant: V;
  /** Milliseconds per candidate (by name) on the tuning shape(s). */
  timings?: Record<string, number>;
  /** Candidates dropped because they computed wrong results or failed, with the reason. */
  rejected?: Record<string, string>;
  /** The shape timed, and the precision. */
  shape?: Record<string, number>;
  precision?: string;
  date?: string;
}

/** Persistence for tune records (Node: a JSON file, see store.node.ts); keys name the adapter. */
export interface TuneStore {
  load(key: string): TuneRecord<unknown> | undefined;
  save(key: string, record: TuneRecord<unknown>): void;
}

/** Bumped whenever a change invalidates every record (each kernel's key adds its own version too). */
export const TUNE_VERSION = 5;

/** The library's version (package.json; a test keeps the two equal): a new release tunes afresh. */
export const LIBRARY_VERSION = '0.1.0';

/** What identifies an adapter for tuning; WebGPU reports the driver (and its version) in the description. */
export interface TuneAdapter {
  adapterInfo: Pick<AdapterSummary, 'vendor' | 'architecture' | 'device' | 'description'>;
  hasSubgroups: boolean;
}

/**
 * The adapter's part of every record key (matmul's records are filed under it alone): tuning
 * version, library version, adapter, driver and subgroup support (see the module header).
 */
export function tuneKey(gpu: TuneAdapter, libraryVersion = LIBRARY_VERSION): string {
  const i = gpu.adapterInfo;
  const adapter = [i.vendor, i.architecture, i.device].filter((x) => x).join(' / ') || 'unknown adapter';
  return `v${TUNE_VERSION} | mqg-webgpu ${libraryVersion} | ${adapter} | driver ${i.description || 'unknown'} | ${gpu.hasSubgroups ? 'subgroups' : 'no-subgroups'}`;
}

let store: TuneStore | undefined;
const onChange: (() => void)[] = [];

/**
 * Register where tune records persist (store.node.ts does this for Node when imported; tests use
 * memory or none). Every choice forgets the records it read, so the next look-up reads this store.
 */
export function setTuneStore(s: TuneStore | undefined): void {
  store = s;
  for (const f of onChange) f();
}

/** @internal Called whenever the store is replaced (choice.ts: drop the in-memory records). */
export function onTuneStoreChange(f: () => void): void {
  onChange.push(f);
}

/** @internal A record in the registered store by key; undefined without a store or a record. */
export function loadTuneRecord(key: string): TuneRecord<unknown> | undefined {
  return store?.load(key);
}

/** @internal Save a record in the registered store (no store: nothing, the caller keeps it in memory). */
export function saveTuneRecord(key: string, record: TuneRecord<unknown>): void {
  store?.save(key, record);
}
