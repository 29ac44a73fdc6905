// llm.c's DataLoader over in-memory token shards (browser-safe).
//
// Each shard of N tokens holds floor((N - 1) / (B*T)) batches; batch k reads tokens[k*B*T, k*B*T + B*T + 1),
// inputs = the first B*T (B rows of T), targets = the same window shifted by one. When a shard runs out the
// loader moves to the next shard, and after the last shard wraps to the first (a new epoch).
// With shuffle on (default) each epoch draws a new shard order and, per shard, a new order of its batches
// from one seeded mulberry32 stream, so a run is reproducible from its seed, and state()/restore() resume
// mid-epoch exactly.

import { Rng } from '../../util/rng';
import { DataError } from '../../util/errors';

/** Options of the DataLoader: B and T are required. */
export interface DataLoaderOptions {
  /** Batch size (rows). */
  B: number;
  /** Sequence length. */
  T: number;
  /** Permute the batches within each shard (and the shard order), freshly each epoch. Default true. */
  shuffle?: boolean;
  /** PRNG seed for shuffling. Default 1337. */
  seed?: number;
  /** If given, every token is checked to be < vocabSize up front. */
  vocabSize?: number;
  /** Shard names for error messages (e.g. file paths). */
  names?: string[];
}

/** One batch: B rows of T token ids and their next-token targets. */
export interface Batch {
  /** (B, T) row-major. */
  inputs: Int32Array;
  /** (B, T) row-major: targets[b*T + t] is the token after inputs[b*T + t]. */
  targets: Int32Array;
}

/** Everything needed to resume; plain JSON. */
export interface DataLoaderState {
  version: 1;
  B: number;
  T: number;
  shuffle: boolean;
  seed: number;
  numShards: number;
  epoch: number;
  /** Position in shardOrder of the shard being read. */
  shardPos: number;
  /** Index (into the shards given to the constructor) of the shard being read. */
  shard: number;
  /** Next batch to read within that shard (index into its batch order). */
  sample: number;
  shardOrder: number[];
  /** Rng state just before the current shard's batch order was drawn. */
  rng: number;
}

/** llm.c's data loader over in-memory token shards: batches of B rows of T tokens, shuffled per epoch from a seed, resumable with state()/restore(). */
export class DataLoader {
  /** Rows per batch. */
  readonly B: number;
  /** Tokens per row. */
  readonly T: number;
  /** Whether batches are shuffled (default true). */
  readonly shuffle: boolean;
  /** The shuffling seed (default 1337). */
  readonly seed: number;
  private readonly shards: ArrayLike<number>[];
  private readonly names: string[];
  private readonly batchesIn: number[];
  private readonly rng: Rng;
  private epochNo = 0;
  private shardOrder: number[] = [];
  private shardPos = 0;
  private sample = 0;
  private order: Uint32Array | null = null;
  private rngAtShard = 0;

  constructor(shards: ArrayLike<number> | ArrayLike<number>[], opts: DataLoaderOptions) {
    const { B, T } = opts;
    if (!Number.isInteger(B) || B <= 0) throw new DataError(`DataLoader: B must be a positive integer, got ${B}`);
    if (!Number.isInteger(T) || T <= 0) throw new DataError(`DataLoader: T must be a positive integer, got ${T}`);
    this.B = B;
    this.T = T;
    this.shuffle = opts.shuffle ?? true;
    this.seed = (opts.seed ?? 1337) >>> 0;
    this.shards = isShardList(shards) ? shards : [shards];
    if (this.shards.length === 0) throw new DataError('DataLoader: no shards given');
    this.names = this.shards.map((_, i) => opts.names?.[i] ?? `shard ${i}`);
    const need = B * T + 1;
    this.batchesIn = this.shards.map((s, i) => {
      if (s.length < need) {
        throw new DataError(`DataLoader: ${this.names[i]} has ${s.length} tokens, but B*T+1 = ${need} are needed for one batch (B=${B}, T=${T})`);
      }
      return Math.floor((s.length - 1) / (B * T));
    });
    if (opts.vocabSize !== undefined) this.checkVocab(opts.vocabSize);
    this.rng = new Rng(this.seed);
    this.startEpoch();
  }

  /** Batches per epoch, over all shards. */
  get batchesPerEpoch(): number {
    return this.batchesIn.reduce((a, b) => a + b, 0);
  }

  /** Completed passes over the data. */
  get epoch(): number {
    return this.epochNo;
  }

  /** The next batch; after the last shard it wraps to the first (a new epoch). */
  nextBatch(): Batch {
    let shard = this.shardOrder[this.shardPos];
    if (this.sample >= this.batchesIn[shard]) {
      this.advance();
      shard = this.shardOrder[this.shardPos];
    }
    const BT = this.B * this.T;
    const k = this.order ? this.order[this.sample] : this.sample;
    this.sample++;
    const toks = this.shards[shard];
    const off = k * BT;
    const inputs = new Int32Array(BT);
    const targets = new Int32Array(BT);
    let prev = toks[off];
    for (let i = 0; i < BT; i++) {
      const next = toks[off + i + 1];
      inputs[i] = prev;
      targets[i] = next;
      prev = next;
    }
    return { inputs, targets };
  }

  /** Back to the first batch of epoch 0 (same sequence as a fresh loader with the same seed). */
  reset(): void {
    this.rng.setState(this.seed);
    this.epochNo = 0;
    this.startEpoch();
  }

  /** The position, as plain JSON, for restore(). */
  state(): DataLoaderState {
    return {
      version: 1,
      B: this.B,
      T: this.T,
      shuffle: this.shuffle,
      seed: this.seed,
      numShards: this.shards.length,
      epoch: this.epochNo,
      shardPos: this.shardPos,
      shard: this.shardOrder[this.shardPos],
      sample: this.sample,
      shardOrder: this.shardOrder.slice(),
      rng: this.rngAtShard,
    };
  }

  /** Continue exactly where state() was taken (same options required). */
  restore(s: DataLoaderState): void {
    const bad = (why: string): never => {
      throw new DataError(`DataLoader.restore: ${why}`);
    };
    if (s === null || typeof s !== 'object' || s.version !== 1) bad(`unsupported state version ${JSON.stringify((s as any)?.version)}`);
    if (s.B !== this.B || s.T !== this.T) bad(`state is for B=${s.B}, T=${s.T} but this loader has B=${this.B}, T=${this.T}`);
    if (s.shuffle !== this.shuffle) bad(`state has shuffle=${s.shuffle} but this loader has shuffle=${this.shuffle}`);
    if (s.numShards !== this.shards.length) bad(`state is for ${s.numShards} shards but this loader has ${this.shards.length}`);
    const order = s.shardOrder;
    if (!Array.isArray(order) || order.length !== this.shards.length || [...order].sort((a, b) => a - b).some((v, i) => v !== i)) {
      bad('shardOrder is not a permutation of the shards');
    }
    if (!Number.isInteger(s.shardPos) || s.shardPos < 0 || s.shardPos >= order.length) bad(`shardPos ${s.shardPos} out of range`);
    const shard = order[s.shardPos];
    if (!Number.isInteger(s.sample) || s.sample < 0 || s.sample > this.batchesIn[shard]) {
      bad(`sample ${s.sample} out of range for ${this.names[shard]} (${this.batchesIn[shard]} batches)`);
    }
    this.epochNo = s.epoch;
    this.shardOrder = order.slice();
    this.shardPos = s.shardPos;
    this.rng.setState(s.rng);
    this.loadShard();
    this.sample = s.sample;
  }

  private startEpoch(): void {
    const n = this.shards.length;
    this.shardOrder = this.shuffle ? Array.from(this.rng.permutation(n)) : Array.from({ length: n }, (_, i) => i);
    this.shardPos = 0;
    this.loadShard();
  }

  private loadShard(): void {
    this.rngAtShard = this.rng.getState();
    const shard = this.shardOrder[this.shardPos];
    this.order = this.shuffle ? this.rng.permutation(this.batchesIn[shard]) : null;
    this.sample = 0;
  }

  private advance(): void {
    this.shardPos++;
    if (this.shardPos >= this.shards.length) {
      this.epochNo++;
      this.startEpoch();
    } else {
      this.loadShard();
    }
  }

  private checkVocab(vocabSize: number): void {
    this.shards.forEach((s, si) => {
      for (let i = 0; i < s.length; i++) {
        const t = s[i];
        if (!(t >= 0 && t < vocabSize)) {
          throw new DataError(`DataLoader: token id ${t} at position ${i} of ${this.names[si]} is out of range for vocab size ${vocabSize}`);
        }
      }
    });
  }
}

function isShardList(x: ArrayLike<number> | ArrayLike<number>[]): x is ArrayLike<number>[] {
  return Array.isArray(x) && x.length > 0 && typeof x[0] !== 'number';
}
