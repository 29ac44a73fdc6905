// One progress line for long commands (eval, eval-mcq; the training loop prints its own step lines
// with the same ETA): `\r<label> n/total | ETA 1m05s` on a terminal, nothing on a pipe unless
// MQG_PROGRESS=1 asks for it. The line is cleared by done().

/** Seconds as "42s" or "3m07s" ("?" when unknown). */
export function fmtTime(s: number): string {
  if (!Number.isFinite(s)) return '?';
  const total = Math.round(s);
  const m = Math.floor(total / 60);
  return m ? `${m}m${String(total % 60).padStart(2, '0')}s` : `${total}s`;
}

export interface ProgressSink {
  isTTY?: boolean;
  write(s: string): unknown;
}

export class Progress {
  private readonly t0 = Date.now();
  private readonly on: boolean;
  private shown = false;

  constructor(private readonly label: string, private readonly total: number, private readonly out: ProgressSink = process.stderr, env: Record<string, string | undefined> = process.env) {
    this.on = env.MQG_PROGRESS === '1' || (!!out.isTTY && env.MQG_PROGRESS !== '0');
  }

  /** `done` of `total` finished. */
  tick(done: number): void {
    if (!this.on) return;
    const eta = done > 0 ? ((this.total - done) * (Date.now() - this.t0)) / 1000 / done : NaN;
    this.out.write(`\r${this.label} ${done}/${this.total} | ETA ${fmtTime(eta)}   `);
    this.shown = true;
  }

  done(): void {
    if (this.shown) this.out.write('\n');
    this.shown = false;
  }
}
