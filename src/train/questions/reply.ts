// A generator's reply -> questions kept and questions rejected, each rejection with its reason.
//
// The reply is a JSON object, alone or in a fenced block (```json ... ``` or ``` ... ```), or the
// first {...} of the text:
//   {"case": "optional clinical vignette", "questions": [{"question", "options": [k strings],
//    "answers": ["A", "C"], "explanation"}]}
// A question is kept when its stem is a non-empty string, it has exactly `options` distinct
// non-empty options, its answers are a non-empty set of valid letters (an array of letters, or one
// string such as "A, C"), it is not a duplicate of a question already kept (the same case, stem and
// options after normalising: lower case, punctuation and repeated spaces dropped), and its
// grounding (the share of its correct options' content words found in the passage) is at least
// `minGrounding`.

/** A question that passed the checks. */
export interface GeneratedQuestion {
  question: string;
  options: string[];
  /** Sorted 0-based indexes of the correct options. */
  answer: number[];
  explanation: string;
  /** Share of the correct options' content words found in the passage, in [0, 1] (1 when they have none). */
  grounding: number;
  /** The clinical vignette shared by the questions of the reply, when it has one. */
  caseText?: string;
}

/** A reply or one of its questions that was not kept. */
export interface Rejection {
  reason: string;
  /** 0-based index of the question in the reply; absent when the whole reply was rejected. */
  question?: number;
  /** The reply's text (whole-reply rejections) or the question as it came. */
  content?: unknown;
}

export interface ReplyCheck {
  /** Options per question. */
  options: number;
  /** Reject below this grounding. */
  minGrounding: number;
  /** Normalised keys of the questions already kept (in this run); new keys are added. */
  seen: Set<string>;
}

/** English function words, left out of content words. */
export const STOPWORDS = new Set(
  ('the a an and or of to in on for with by at from as is are was were be been being it its this that these those which who whom ' +
    'what when where why how not no nor but if then than so such can may might must should would could will shall do does did ' +
    'has have had into onto over under about between through during before after above below out up down off more most less ' +
    'least very all any both each few other some same own only also too just there their they them he she his her we you your our')
    .split(' '),
);

/** Lower case, punctuation dropped, whitespace collapsed. */
export function normaliseText(s: string): string {
  return s.toLowerCase().replace(/[^\p{L}\p{N}]+/gu, ' ').trim();
}

/** Content words: normalised words of 3+ characters that are not stopwords, with a plural "s" dropped. */
export function contentWords(s: string): string[] {
  return normaliseText(s).split(' ').filter((w) => w.length >= 3 && !STOPWORDS.has(w)).map((w) => (w.length > 3 && w.endsWith('s') && !w.endsWith('ss') ? w.slice(0, -1) : w));
}

/** The share of the correct options' content words found among the passage's (1 when they have none). */
export function groundingScore(correctOptions: readonly string[], passage: string): number {
  const words = correctOptions.flatMap(contentWords);
  if (!words.length) return 1;
  const have = new Set(contentWords(passage));
  return words.filter((w) => have.has(w)).length / words.length;
}

/** The JSON object of a reply: the text itself, a fenced block, or the first {...} in it. */
export function replyJson(text: string): { value?: unknown; error?: string } {
  const fenced = /```[ \t]*(?:json)?[ \t]*\n([\s\S]*?)\n?```/i.exec(text);
  const candidates = [text.trim(), fenced?.[1]?.trim(), text.slice(text.indexOf('{'), text.lastIndexOf('}') + 1)];
  if (!text.includes('{')) return { error: 'no JSON object in the reply' };
  let error = '';
  for (const c of candidates) {
    if (!c) continue;
    try {
      return { value: JSON.parse(c) };
    } catch (e) {
      error = `the reply is not valid JSON (${(e as Error).message})`;
    }
  }
  return { error };
}

const LETTERS = (n: number) => Array.from({ length: n }, (_, i) => String.fromCharCode(65 + i));

/** The reason a question is not kept (before the duplicate and grounding checks), or its answer indexes. */
function checkQuestion(q: unknown, k: number): { reason: string } | { answer: number[] } {
  if (q === null || typeof q !== 'object' || Array.isArray(q)) return { reason: 'not a JSON object' };
  const o = q as Record<string, unknown>;
  if (typeof o.question !== 'string' || !o.question.trim()) return { reason: 'empty or missing "question"' };
  if (!Array.isArray(o.options) || o.options.some((x) => typeof x !== 'string' || !x.trim())) return { reason: '"options" must be an array of non-empty strings' };
  if (o.options.length !== k) return { reason: `${o.options.length} options; expected ${k}` };
  if (new Set(o.options.map((x) => normaliseText(x as string))).size !== k) return { reason: 'options are not distinct' };
  const raw = typeof o.answers === 'string' ? o.answers.split(/[\s,;]+/).filter(Boolean) : o.answers;
  if (!Array.isArray(raw) || raw.length === 0) return { reason: 'empty or missing "answers"' };
  const letters = LETTERS(k);
  const answer: number[] = [];
  for (const a of raw) {
    const i = typeof a === 'string' ? letters.indexOf(a.trim().toUpperCase()) : -1;
    if (i < 0) return { reason: `answer ${JSON.stringify(a)} is not one of the letters ${letters.join(', ')}` };
    answer.push(i);
  }
  return { answer: [...new Set(answer)].sort((x, y) => x - y) };
}

/** The key under which a question counts as a duplicate. */
export function questionKey(q: { question: string; options: readonly string[]; caseText?: string }): string {
  return [q.caseText ?? '', q.question, ...q.options].map(normaliseText).join('|');
}

/** Checks one reply against its passage: the questions kept, and every rejection with its reason. */
export function checkReply(text: string, passage: string, c: ReplyCheck): { kept: GeneratedQuestion[]; rejected: Rejection[] } {
  const { value, error } = replyJson(text);
  if (error) return { kept: [], rejected: [{ reason: error, content: text }] };
  const o = value as Record<string, unknown>;
  if (o === null || typeof o !== 'object' || !Array.isArray(o.questions)) return { kept: [], rejected: [{ reason: 'the reply has no "questions" array', content: text }] };
  if (o.case !== undefined && o.case !== null && typeof o.case !== 'string') return { kept: [], rejected: [{ reason: '"case" must be a string', content: text }] };
  const caseText = typeof o.case === 'string' && o.case.trim() ? o.case.trim() : undefined;
  const kept: GeneratedQuestion[] = [], rejected: Rejection[] = [];
  if (!o.questions.length) rejected.push({ reason: 'the reply has no questions', content: text });
  o.questions.forEach((q, i) => {
    const r = checkQuestion(q, c.options);
    if ('reason' in r) return void rejected.push({ reason: r.reason, question: i, content: q });
    const x = q as { question: string; options: string[]; explanation?: unknown };
    const g: GeneratedQuestion = {
      question: x.question.trim(), options: x.options.map((s) => s.trim()), answer: r.answer,
      explanation: typeof x.explanation === 'string' ? x.explanation.trim() : '',
      grounding: groundingScore(r.answer.map((a) => x.options[a]!), passage), ...(caseText ? { caseText } : {}),
    };
    const key = questionKey(g);
    if (c.seen.has(key)) return void rejected.push({ reason: 'duplicate of a question already kept', question: i, content: q });
    if (g.grounding < c.minGrounding) {
      return void rejected.push({ reason: `grounding ${g.grounding.toFixed(2)} below --min-grounding ${c.minGrounding}`, question: i, content: q });
    }
    c.seen.add(key);
    kept.push(g);
  });
  return { kept, rejected };
}
