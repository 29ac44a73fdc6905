// What `mqg serve` does on the GPU, one request at a time (GpuQueue): completions (the prompt
// tokenised as `mqg sample` does, [end-of-text, ...prompt], then `generate` with the request's
// sampling, stop sequences and cancellation) and multiple-choice scoring (by the model's
// multiple-choice head when it has one, else by log-likelihood, as `mqg eval-mcq`). Browser-safe:
// the HTTP side is server.node.ts.

import type { GPT2 } from '../../model/gpt2';
import type { McHead } from '../../model/mc-head';
import { generate } from '../../model/generate';
import { CancelledError, RequestError } from '../../util/errors';
import type { Tokenizer } from '../tokenizer/types';
import type { McqRecord } from '../data/mcq';
import { predictedSet } from '../data/mcq-metrics';
import { scoreQuestion } from '../mcq-eval';
import { prepareItems, scoreByHead } from '../finetune-mcq';
import { CHAT_STOP, renderChat, type ChatMessage } from './chat';
import { GpuQueue } from './queue';
import { TextStream } from './text-stream';
import type { McqRequest, SamplingParams } from './requests';

/** A finished (or cancelled) completion. */
export interface Completion {
  text: string;
  /** 'stop': the end-of-text token or a stop sequence; 'length': max_tokens or the end of the context. */
  finishReason: 'stop' | 'length';
  promptTokens: number;
  /** Tokens generated (the end-of-text token that ends a completion not counted). */
  completionTokens: number;
}

/** Scores of a multiple-choice request. */
export interface McqResult {
  scorer: 'head' | 'loglik';
  /** With the head: how its scores read (softmax over options, or a sigmoid per option). */
  head?: McHead['kind'];
  /** Per option: the head's logit, or the summed log-likelihood of the option's tokens. */
  scores: number[];
  /** Per option: softmax over the options (multiple-choice head, log-likelihood), or the sigmoid (proposition head). */
  probabilities: number[];
  /** Option indexes, best first. */
  ranking: number[];
  /** The predicted answer: the top option, or every option the proposition head scores above 0.5. */
  answer: number[];
  /** Log-likelihood scoring: every scorer of `mqg eval-mcq` (see mcq-eval.ts). */
  loglik?: { sum: number[]; mean: number[]; norm: number[]; uncond: number[] };
  /** Tokens of the option rows the model read. */
  promptTokens: number;
}

/** What the engine counts (for tests and the figures). */
export interface EngineStats {
  completions: number;
  cancelled: number;
  completionTokens: number;
}

/** Per completion: a signal that cancels it (its client went away), a callback per released text, chat's rules. */
export interface CompleteOptions {
  signal?: AbortSignal;
  onText?: (delta: string) => void;
  /** A chat reply: leading whitespace dropped, and it also ends where the model starts the user's turn. */
  chat?: boolean;
  /** The request field the prompt came from (for a too-long prompt's 400). */
  param?: string;
  /** Called when the request's turn on the GPU comes. */
  onStart?: () => void;
}

const softmax = (xs: number[]) => {
  const m = Math.max(...xs);
  const e = xs.map((x) => Math.exp(x - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((x) => x / s);
};

/** One model served: its tokenizer, its head (if any), the queue in front of its GPU. */
export class ServeEngine {
  readonly queue: GpuQueue;
  readonly stats: EngineStats = { completions: 0, cancelled: 0, completionTokens: 0 };
  readonly head: McHead | undefined;

  /** `maxQueue`: requests that may wait for the GPU behind the running one; `head`: score MCQs by it. */
  constructor(readonly model: GPT2, readonly tokenizer: Tokenizer, readonly modelId: string, o: { maxQueue: number; head?: McHead }) {
    this.queue = new GpuQueue(o.maxQueue);
    this.head = o.head;
  }

  /** A completion prompt's tokens: [end-of-text, ...prompt], as `mqg sample`. */
  encodePrompt(text: string): number[] {
    return [this.tokenizer.eotToken, ...this.tokenizer.encode(text)];
  }

  /** A conversation's tokens by the chat template (chat.ts). */
  encodeChat(messages: readonly ChatMessage[]): number[] {
    return this.encodePrompt(renderChat(messages));
  }

  /** Generate a completion of `prompt` (token ids) when the GPU is free. */
  async complete(prompt: number[], p: SamplingParams, o: CompleteOptions = {}): Promise<Completion> {
    const context = this.model.config.nPositions;
    if (prompt.length >= context) {
      throw new RequestError(`the prompt is ${prompt.length} tokens; this model's context is ${context} tokens, the prompt and what it writes together`, o.param ?? 'prompt');
    }
    return this.queue.run(async () => {
      o.onStart?.();
      const eot = this.tokenizer.eotToken;
      const stream = new TextStream((ids) => this.tokenizer.decode(ids), o.chat ? [...CHAT_STOP, ...p.stop] : p.stop, o.chat);
      // stops generation on the client's cancel or a completed stop sequence
      const halt = new AbortController();
      const cancel = () => halt.abort();
      o.signal?.addEventListener('abort', cancel);
      let finishReason: Completion['finishReason'] = 'length';
      let completionTokens = 0;
      try {
        await generate(this.model, prompt, {
          maxNewTokens: Math.min(p.maxTokens ?? context, context - prompt.length),
          temperature: p.temperature, topP: p.topP, topK: 0, seed: p.seed, stopToken: eot, signal: halt.signal,
          onToken: (id) => {
            if (id === eot) return void (finishReason = 'stop');
            completionTokens++;
            const delta = stream.push(id);
            if (delta) o.onText?.(delta);
            if (stream.stopped) {
              finishReason = 'stop';
              halt.abort();
            }
          },
        });
      } finally {
        o.signal?.removeEventListener('abort', cancel);
        this.stats.completions++;
        this.stats.completionTokens += completionTokens;
      }
      if (o.signal?.aborted) {
        this.stats.cancelled++;
        throw new CancelledError(`the completion was cancelled after ${completionTokens} tokens`);
      }
      const rest = stream.end();
      if (rest) o.onText?.(rest);
      return { text: stream.text, finishReason, promptTokens: prompt.length, completionTokens };
    }, o.signal);
  }

  /** Score a question's options: by the head when the model has one, else by log-likelihood. */
  async scoreMcq(r: McqRequest, signal?: AbortSignal): Promise<McqResult> {
    const question = r.context ? `${r.context}\n\n${r.question}` : r.question;
    const rec: McqRecord = { id: 'request', question, options: r.options, answer: [0], source: 'request', chapter: '' };
    const items = prepareItems(this.tokenizer, [rec], this.model.config.nPositions);
    const promptTokens = items[0]!.rows.rows.reduce((n, row) => n + row.length, 0);
    return this.queue.run(async () => {
      const head = this.head;
      if (head) {
        const scores = (await scoreByHead(this.model, head, items, this.tokenizer.eotToken))[0]!.scores;
        const set = head.kind === 'proposition';
        const probabilities = set ? scores.map((s) => 1 / (1 + Math.exp(-s))) : softmax(scores);
        return { scorer: 'head', head: head.kind, ...ranked(scores, set), probabilities, promptTokens };
      }
      const { sum, mean, norm, uncond } = await scoreQuestion(this.model, this.tokenizer, rec);
      return { scorer: 'loglik', ...ranked(sum, false), probabilities: softmax(sum), loglik: { sum, mean, norm, uncond }, promptTokens };
    }, signal);
  }
}

/** Scores with their ranking (best first, ties in option order) and the predicted answer. */
function ranked(scores: number[], set: boolean): Pick<McqResult, 'scores' | 'ranking' | 'answer'> {
  const ranking = scores.map((_, i) => i).sort((a, b) => scores[b]! - scores[a]! || a - b);
  return { scores, ranking, answer: predictedSet(scores, set ? 'set' : 'single') };
}
