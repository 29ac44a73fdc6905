// The GPU serves one request at a time: the others wait in a bounded first-in, first-out queue.
// A full queue refuses at once (HTTP 503, so a client can back off), and a request whose client
// has gone leaves the queue without ever reaching the GPU.

import { CancelledError, RequestError } from '../../util/errors';

interface Waiter {
  start: () => void;
}

/** One job on the GPU at a time; at most `maxQueue` waiting behind it. */
export class GpuQueue {
  private running = false;
  private readonly waiting: Waiter[] = [];

  constructor(readonly maxQueue: number) {}

  /** Jobs waiting for their turn (the running one not counted). */
  get waitingCount(): number {
    return this.waiting.length;
  }

  /** Whether a job holds the GPU. */
  get busy(): boolean {
    return this.running;
  }

  /** Run `job` when the GPU is free. Refuses (503) with `maxQueue` jobs already waiting; a `signal` aborted while waiting takes the job out (CancelledError). */
  async run<T>(job: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    if (signal?.aborted) throw new CancelledError('the request was cancelled before its turn');
    if (this.running) {
      if (this.waiting.length >= this.maxQueue) {
        throw new RequestError(`the server is busy: ${this.waiting.length} request(s) already wait for the GPU (--max-queue ${this.maxQueue}); retry later`, null, 503, 'server_error');
      }
      // the job that finishes hands the GPU over (running stays true), so no newcomer slips in between
      await new Promise<void>((resolve, reject) => {
        const w: Waiter = { start: () => { signal?.removeEventListener('abort', leave); resolve(); } };
        const leave = () => {
          this.waiting.splice(this.waiting.indexOf(w), 1);
          reject(new CancelledError('the request was cancelled before its turn'));
        };
        signal?.addEventListener('abort', leave, { once: true });
        this.waiting.push(w);
      });
    } else this.running = true;
    try {
      return await job();
    } finally {
      const next = this.waiting.shift();
      if (next) next.start();
      else this.running = false;
    }
  }

  /** Resolves once nothing runs and nothing waits. */
  async idle(): Promise<void> {
    while (this.running || this.waiting.length) await new Promise((r) => setTimeout(r, 5));
  }
}
