// Held-out passages (`mqg questions --holdout-fraction F`): a fixed share of the passages whose
// questions are never trained on, so that a model trained on the others' questions is measured on
// questions from text it has not seen turned into questions (MQG's generalisation question).
//
// A passage is held out when SHA-256 of its id, read as a number in [0, 1), is below F: about F × N
// of the run's N passages, spread over the chapters, and a passage is on the same side in every run,
// whatever --limit, --resume, the generator or the other passages (a larger F holds out a superset).

import { createHash } from 'node:crypto';
import { corpusText, type QuestionLine } from './records';

/** Whether the passage `id` is held out at `fraction`. */
export function isHeldOut(id: string, fraction: number): boolean {
  // the first 48 bits of the hash: uniform in [0, 1) with no float rounding
  return parseInt(createHash('sha256').update(id).digest('hex').slice(0, 12), 16) / 2 ** 48 < fraction;
}

/** The ids of the held-out passages among `ids`. */
export function heldOutPassages(ids: readonly string[], fraction: number): Set<string> {
  return new Set(ids.filter((id) => isHeldOut(id, fraction)));
}

/** The split files' contents: the questions of the held-out passages and of the others, and the others' training text. */
export interface QuestionSplit {
  train: QuestionLine[];
  heldout: QuestionLine[];
  /** `train` rendered as corpus.txt renders it (the same paragraphs, the held-out ones left out). */
  trainCorpus: string;
}

/** Splits questions.jsonl's lines by their passage (questions keep their order). */
export function splitByPassage(lines: readonly QuestionLine[], heldOut: ReadonlySet<string>): QuestionSplit {
  const train = lines.filter((l) => !heldOut.has(l.passage));
  const heldout = lines.filter((l) => heldOut.has(l.passage));
  // corpusText groups a case's consecutive questions; a case never spans two passages, so per passage is the same text
  return { train, heldout, trainCorpus: corpusText(train) };
}
