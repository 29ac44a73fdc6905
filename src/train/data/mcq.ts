// Multiple-choice question JSONL (shared/data/*.jsonl): one object per line,
// {"id", "question", "options": [...], "answer": [0-based indexes], "source", "chapter"}.

/** One multiple-choice question (a line of the MCQ JSONL format). */
export interface McqRecord {
  /** Unique id of the question. */
  id: string;
  /** The question text. */
  question: string;
  /** The answer options, in order (A, B, C, ...). */
  options: string[];
  /** Sorted 0-based indexes into options; never empty. */
  answer: number[];
  /** Where it comes from (reported per source). */
  source: string;
  /** Chapter or topic within the source. */
  chapter: string;
}

const STRING_KEYS = ['id', 'question', 'source', 'chapter'] as const;

/** Parses MCQ JSONL. Blank lines are skipped; any other problem throws "<name>:<line>: ...". */
export function parseMcqJsonl(text: string, name = '<mcq>'): McqRecord[] {
  const out: McqRecord[] = [];
  const lines = text.split('\n');
  for (let li = 0; li < lines.length; li++) {
    const line = lines[li].replace(/\r$/, '');
    if (line.trim() === '') continue;
    const where = `${name}:${li + 1}`;
    let o: any;
    try {
      o = JSON.parse(line);
    } catch (e) {
      throw new Error(`${where}: bad JSON (${(e as Error).message})`);
    }
    if (o === null || typeof o !== 'object' || Array.isArray(o)) throw new Error(`${where}: expected a JSON object`);
    for (const k of [...STRING_KEYS, 'options', 'answer']) {
      if (!(k in o)) throw new Error(`${where}: missing key "${k}"`);
    }
    for (const k of STRING_KEYS) {
      if (typeof o[k] !== 'string') throw new Error(`${where}: "${k}" must be a string`);
    }
    if (!Array.isArray(o.options) || o.options.length < 2 || o.options.some((x: unknown) => typeof x !== 'string')) {
      throw new Error(`${where}: "options" must be an array of at least 2 strings`);
    }
    if (!Array.isArray(o.answer) || o.answer.length === 0) throw new Error(`${where}: "answer" must be a non-empty array of option indexes`);
    for (const a of o.answer) {
      if (!Number.isInteger(a) || a < 0 || a >= o.options.length) {
        throw new Error(`${where}: answer index ${JSON.stringify(a)} is out of range for ${o.options.length} options`);
      }
    }
    out.push({
      id: o.id,
      question: o.question,
      options: o.options,
      answer: [...new Set<number>(o.answer)].sort((x, y) => x - y),
      source: o.source,
      chapter: o.chapter,
    });
  }
  return out;
}

/** Option letter for an index: 0 -> "A". */
export function optionLetter(i: number): string {
  return String.fromCharCode(65 + i);
}
