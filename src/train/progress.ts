// One progress line for long commands (eval, eval-mcq, convert, merge, tokenizer train, data
// prepare; the training loop prints its own step lines with the same ETA):
// `\r<label> n/total | ETA 1m05s` on a terminal, nothing on a pipe unless MQG_PROGRESS=1 asks for
// it (MQG_PROGRESS=0 silences a terminal). The line is redrawn at most every 100 ms (the last tick
// always), so a loop may tick per document; done() ends it with a newline.

/** Seconds as "42s" or "3m07s" ("?" when unknown). */
export function fmtTime(s: number): string {
  if (!Number.isFinite(s)) return '?';
  const total = Math.round(s);
  const m = Math.floor(total / 60);
  return m ? `${m}m${String(total % 60).padStart(2, '0')}s` : `${total}s`;
}

/** How the counts read: plain (`12/40`), bytes of text (`1.2/40.0 MB`) or parameters (`12.4M/124.4M`). */
export type ProgressUnit = 'count' | 'bytes' | 'params';

function fmtAmount(done: number, total: number, unit: ProgressUnit): string {
  if (unit === 'count') return `${done}/${total}`;
  const m = (n: number) => (n / 1e6).toFixed(1);
  return unit === 'bytes' ? `${m(done)}/${m(total)} MB` : `${m(done)}M/${m(total)}M`;
}

/** Redraws closer together than this are skipped (a terminal line per document would flood it). */
const REDRAW_MS = 100;

export interface ProgressSink {
  isTTY?: boolean;
  write(s: string): unknown;
}

export class Progress {
  private readonly t0 = Date.now();
  private readonly on: boolean;
  private shown = false;
  private drawn = -Infinity;

  constructor(
    private readonly label: string,
    private total: number,
    private readonly out: ProgressSink = process.stderr,
    env: Record<string, string | undefined> = process.env,
    private readonly unit: ProgressUnit = 'count',
  ) {
    this.on = env.MQG_PROGRESS === '1' || (!!out.isTTY && env.MQG_PROGRESS !== '0');
  }

  /** `done` of `total` finished (a loop that learns its total as it goes passes it here). */
  tick(done: number, total = this.total): void {
    this.total = total;
    if (!this.on) return;
    const now = Date.now();
    if (done < this.total && now - this.drawn < REDRAW_MS) return;
    this.drawn = now;
    const eta = done > 0 ? ((this.total - done) * (now - this.t0)) / 1000 / done : NaN;
    this.out.write(`\r${this.label} ${fmtAmount(done, this.total, this.unit)} | ETA ${fmtTime(eta)}   `);
    this.shown = true;
  }

  done(): void {
    if (this.shown) this.out.write('\n');
    this.shown = false;
  }
}

