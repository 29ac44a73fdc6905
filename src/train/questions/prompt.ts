// The prompt a passage is put into. A template holds the placeholders {passage}, {chapter}, {n}
// (questions asked), {examples} (style examples, or nothing) and {options} (propositions per
// question); the default one (DEFAULT_PROMPT, printed in docs/commands.md) asks for questions like a
// five-proposition medical exam, grounded in the passage, as JSON.

import { optionLetter, type McqRecord } from '../data/mcq';
import { UsageError } from '../../util/errors';

export const DEFAULT_PROMPT = `You write questions for a medical exam from a textbook passage. Each question has {options} propositions (A, B, C, ...); one or several of them are correct.

Write {n} exam-style questions grounded in the passage below, from the chapter "{chapter}". Every correct proposition must be stated or directly implied by the passage; the wrong propositions must be plausible to a student but contradicted by the passage or absent from it. Do not ask about the passage itself ("according to the text"). When the passage suits it, open with a short clinical case that the questions then ask about in order.
{examples}
Passage:
"""
{passage}
"""

Reply with one JSON object and nothing else:
{"case": "a clinical vignette shared by the questions (leave it out when there is none)", "questions": [{"question": "...", "options": ["...", "...", "...", "...", "..."], "answers": ["A", "C"], "explanation": "why the correct propositions are correct, from the passage"}]}`;

export const PLACEHOLDERS = ['passage', 'chapter', 'n', 'examples', 'options'] as const;

/** Checks a template: it must hold {passage}, and no placeholder we do not fill. */
export function checkTemplate(template: string, name: string): void {
  if (!template.includes('{passage}')) throw new UsageError(`${name}: the prompt template has no {passage} placeholder`);
  for (const m of template.matchAll(/\{([a-z_]+)\}/g)) {
    if (!(PLACEHOLDERS as readonly string[]).includes(m[1]!)) {
      throw new UsageError(`${name}: unknown placeholder {${m[1]}} (known: ${PLACEHOLDERS.map((p) => `{${p}}`).join(' ')})`);
    }
  }
}

/** One question as text: stem, lettered options, the correct letters. */
export function questionText(r: Pick<McqRecord, 'question' | 'options' | 'answer'>): string {
  const options = r.options.map((o, i) => `${optionLetter(i)}. ${o}`).join('\n');
  return `Question: ${r.question}\n${options}\nAnswer: ${r.answer.map(optionLetter).join(', ')}`;
}

/** The {examples} block: k questions of a multiple-choice file, or "" with none. */
export function examplesBlock(records: readonly McqRecord[]): string {
  if (!records.length) return '';
  return `\nExamples of the style wanted (write new questions; do not copy these):\n\n${records.map(questionText).join('\n\n')}\n`;
}

/** The template with its placeholders filled (one pass, so a passage holding "{n}" stays as it is). */
export function renderPrompt(template: string, v: { passage: string; chapter: string; n: number; examples: string; options: number }): string {
  const values: Record<string, string> = { passage: v.passage, chapter: v.chapter, n: String(v.n), examples: v.examples, options: String(v.options) };
  return template.replace(/\{(passage|chapter|n|examples|options)\}/g, (_, k: string) => values[k]!);
}
