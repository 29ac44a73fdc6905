// Token rows for multiple-choice questions: "question + option" sequences, with the earlier
// questions of a progressive case (and their correct answers) as context.
//
// One row per option:   [earlier blocks][prompt][option]
//   earlier block     "Question: <q>\nAnswer: <correct options joined by "; ">\n\n"   (oldest first)
//   prompt            "Question: <q>\nAnswer:"
//   option            " <option text>"
// Each piece is tokenised on its own and the tokens concatenated, so a block is dropped whole:
// when a row would exceed maxT tokens the oldest earlier blocks go first. A prompt that still does not
// fit keeps its last tokens; an option keeps its first maxT - 1 tokens.

import type { Tokenizer } from '../tokenizer/types';
import { type McqRecord } from './mcq';
import { McqFormatError } from '../../util/errors';

export const MCQ_PROMPT = (q: string) => `Question: ${q}\nAnswer:`;
/** The unconditional context of log P(option | "Answer:"). */
export const MCQ_UNCONDITIONAL = 'Answer:';

export const answerText = (r: McqRecord) => r.answer.map((i) => r.options[i]!).join('; ');
export const contextBlock = (r: McqRecord) => `${MCQ_PROMPT(r.question)} ${answerText(r)}\n\n`;

/**
 * For each record (by position), the earlier questions of its case in case order, oldest first.
 * Records without a case id get none. Two records of one case with the same order are an error.
 */
export function caseHistory(records: readonly McqRecord[]): McqRecord[][] {
  const cases = new Map<string, McqRecord[]>();
  for (const r of records) {
    if (r.caseId === undefined) continue;
    let c = cases.get(r.caseId);
    if (!c) cases.set(r.caseId, (c = []));
    const dup = c.find((x) => x.caseOrder === r.caseOrder);
    if (dup) throw new McqFormatError(`case "${r.caseId}": questions "${dup.id}" and "${r.id}" have the same case_order ${r.caseOrder}`);
    c.push(r);
  }
  for (const c of cases.values()) c.sort((a, b) => a.caseOrder! - b.caseOrder!);
  return records.map((r) => (r.caseId === undefined ? [] : cases.get(r.caseId)!.filter((x) => x.caseOrder! < r.caseOrder!)));
}

export interface QuestionRows {
  /** Per option: the row's tokens (length <= maxT). */
  rows: number[][];
  /** Per option: where the option's tokens start in its row. */
  optionStart: number[];
  /** How many earlier blocks were kept (the newest ones). */
  contextKept: number;
}

/** The option rows of one question, with `history` (oldest first) as context, each row at most maxT tokens. */
export function questionRows(tok: Tokenizer, rec: McqRecord, history: readonly McqRecord[], maxT: number): QuestionRows {
  if (maxT < 2) throw new RangeError(`questionRows: maxT ${maxT} < 2`);
  const opts = rec.options.map((o) => tok.encode(` ${o}`).slice(0, maxT - 1));
  const longest = Math.max(...opts.map((o) => o.length));
  let prompt = tok.encode(MCQ_PROMPT(rec.question));
  if (prompt.length + longest > maxT) prompt = prompt.slice(prompt.length - (maxT - longest));
  // keep the newest blocks that fit
  let budget = maxT - prompt.length - longest;
  const kept: number[][] = [];
  for (let i = history.length - 1; i >= 0; i--) {
    const b = tok.encode(contextBlock(history[i]!));
    if (b.length > budget) break;
    kept.unshift(b);
    budget -= b.length;
  }
  const ctx = [...kept.flat(), ...prompt];
  return { rows: opts.map((o) => [...ctx, ...o]), optionStart: opts.map(() => ctx.length), contextKept: kept.length };
}
