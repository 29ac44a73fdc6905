// Kept questions as the project's multiple-choice records (src/train/data/mcq.ts's "mqg" JSONL,
// with the passage, explanation, grounding and case text beside the keys readMcqFile reads) and as
// training text for `mqg data prepare`.

import type { McqRecord } from '../data/mcq';
import type { Passage } from './passages';
import type { GeneratedQuestion } from './reply';
import { questionText } from './prompt';

/** A line of questions.jsonl: an McqRecord's keys as the "mqg" JSONL spells them, and what the generator adds. */
export interface QuestionLine extends Pick<McqRecord, 'id' | 'question' | 'options' | 'answer' | 'source' | 'chapter'> {
  passage: string;
  explanation: string;
  grounding: number;
  /** The questions of one clinical case: its id, their order (from 1) and the vignette (also at the head of the first question's stem). */
  case_id?: string;
  case_order?: number;
  case?: string;
}

/** The records of one passage's kept questions; a case's vignette opens the stem of its first question. */
export function questionLines(p: Passage, kept: readonly GeneratedQuestion[]): QuestionLine[] {
  return kept.map((q, i) => ({
    id: `${p.id}-q${i + 1}`,
    question: q.caseText && i === kept.findIndex((x) => x.caseText) ? `${q.caseText}\n\n${q.question}` : q.question,
    options: q.options,
    answer: q.answer,
    source: p.source,
    chapter: p.chapter,
    passage: p.id,
    explanation: q.explanation,
    grounding: Math.round(q.grounding * 1000) / 1000,
    ...(q.caseText ? { case_id: `${p.id}-case`, case_order: kept.slice(0, i + 1).filter((x) => x.caseText).length, case: q.caseText } : {}),
  }));
}

const oneParagraph = (s: string) => s.replace(/\s*\n\s*\n\s*/g, '\n').trim();

/**
 * Training text of one passage's questions: one paragraph per question, or per case (its vignette,
 * then its questions in order), each "Question: / A. .. / Answer: A, C / Explanation:"; paragraphs
 * end with a blank line, so `mqg data prepare --documents paragraph` makes each one a document.
 */
export function corpusText(lines: readonly QuestionLine[]): string {
  const groups: QuestionLine[][] = [];
  for (const l of lines) {
    const last = groups[groups.length - 1];
    if (l.case_id && last?.[0]?.case_id === l.case_id) last.push(l);
    else groups.push([l]);
  }
  return groups.map((g) => {
    const texts = g.map((l) => {
      const stem = l.case && l.question.startsWith(`${l.case}\n\n`) ? l.question.slice(l.case.length + 2) : l.question;
      return questionText({ question: stem, options: l.options, answer: l.answer }) + (l.explanation ? `\nExplanation: ${l.explanation}` : '');
    });
    return `${oneParagraph([...(g[0]!.case ? [`Case: ${g[0]!.case}`] : []), ...texts].join('\n'))}\n\n`;
  }).join('');
}
