// The format of bench/results/<date>.json: written by bench/train.ts, read by bench/readme.ts (the
// README's table) and by whoever compares runs. The field names are the file format; keep them.

/** One training workload's figures for one system and precision. */
export interface TrainRow {
  config: string;
  system: string;
  precision: string;
  B: number;
  T: number;
  msPerStep: number;
  tokensPerSecond: number;
  gflops: number;
  /** The three kernels with the largest share of a profiled step (ours only). */
  topKernels?: string;
}

/** An n³ matmul's throughput for one system and precision. */
export interface MatmulRow {
  system: string;
  precision: string;
  n: number;
  gflops: number;
  /** Our kernel variant (matmul-wgsl's name). */
  variant?: string;
  note?: string;
}

/** A change measured both ways in the same run. */
export interface BeforeAfter {
  change: string;
  before: number;
  after: number;
  unit: string;
}

/** A ratio against its goal (issue 15). */
export interface Goal {
  name: string;
  value: number;
  goal: number;
  met: boolean;
}

export interface BenchResult {
  date: string;
  cpu: string;
  cores: number;
  adapter: string;
  load: number[];
  steps: number;
  train: TrainRow[];
  matmul: MatmulRow[];
  ratios: Record<string, number>;
  goals: Goal[];
  beforeAfter: BeforeAfter[];
  kernels?: unknown[];
  notes: string[];
}

/** What one experiment adds to the result; its rows are appended in the order the experiments ran. */
export type ResultPart = Partial<Pick<BenchResult, 'train' | 'matmul' | 'beforeAfter' | 'notes'>>;
