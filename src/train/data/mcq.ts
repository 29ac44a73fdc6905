// Multiple-choice question files in five formats, read into one record type.
//
//   mqg           our JSONL (shared/data/*.jsonl): {"id", "question", "options": [...], "answer": [0-based
//                 indexes], "source", "chapter"}, optionally "case_id" and "case_order" (progressive
//                 questions: a clinical case asked in sequence).
//   medqa         MedQA JSONL: {"question", "options": {"A": .., "E": ..}, "answer_idx": "C", "meta_info"?}.
//   medmcqa       MedMCQA JSONL: {"id"?, "question", "opa", "opb", "opc", "opd", "cop": 1..4 (1 = opa, as in
//                 the original release), "subject_name"?, "topic_name"?}.
//   medmcqa-hf    the same with the Hugging Face export's 0-based "cop" (0 = opa).
//   mmlu          MMLU CSV, no header: question, A, B, C, D, answer letter (RFC 4180 quoting: fields in
//                 double quotes may hold commas, newlines and doubled quotes).
//   frenchmedmcqa FrenchMedMCQA's own JSON(L): {"id", "question", "answers": {"a": .., "e": ..}} or
//                 "answer_a".."answer_e", "correct_answers": ["a", "c"] (several correct letters),
//                 "subject_name"?.
//
// JSON files may also be one JSON array of records. A record that does not parse is a McqFormatError
// "<file>:<line>: <field>: <problem>" (the line where the record starts; "record N" for JSON arrays).

import { MQGError, McqFormatError } from '../../util/errors';

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
  /** Progressive questions: the clinical case this question belongs to. */
  caseId?: string;
  /** Progressive questions: the question's order within its case (earlier ones are its context). */
  caseOrder?: number;
}

export const MCQ_FORMATS = ['mqg', 'medqa', 'medmcqa', 'medmcqa-hf', 'mmlu', 'frenchmedmcqa'] as const;
export type McqFormat = (typeof MCQ_FORMATS)[number];

/** Option letter for an index: 0 -> "A". */
export function optionLetter(i: number): string {
  return String.fromCharCode(65 + i);
}

/** A letter ("A", "c") to its 0-based index among n options, or -1. */
export function letterIndex(x: unknown, n: number): number {
  if (typeof x !== 'string' || !/^[A-Za-z]$/.test(x.trim())) return -1;
  const i = x.trim().toUpperCase().charCodeAt(0) - 65;
  return i < n ? i : -1;
}

// ------------------------------------------------------------------ JSON formats

type Obj = Record<string, unknown>;

/** One JSON record located in its file, for error messages. */
export interface Located {
  o: Obj;
  where: string;
  /** 1-based record number, for ids that the format lacks. */
  n: number;
}

function fail(where: string, msg: string): never {
  throw new McqFormatError(`${where}: ${msg}`);
}

function str(l: Located, key: string, fallback?: string): string {
  const v = l.o[key];
  if (v === undefined && fallback !== undefined) return fallback;
  if (v === undefined) fail(l.where, `missing key "${key}"`);
  if (typeof v !== 'string') fail(l.where, `"${key}" must be a string`);
  return v;
}

function optionText(l: Located, key: string, v: unknown): string {
  if (typeof v !== 'string' || v.trim() === '') fail(l.where, `"${key}" must be a non-empty string`);
  return v;
}

function finish(l: Located, rec: Omit<McqRecord, 'answer'> & { answer: number[] }): McqRecord {
  if (rec.options.length < 2) fail(l.where, `"options" must hold at least 2 options`);
  if (rec.answer.length === 0) fail(l.where, '"answer" must be a non-empty array of option indexes');
  rec.answer = [...new Set(rec.answer)].sort((x, y) => x - y);
  return rec;
}

/** Optional progressive-question keys, shared by the JSON formats. */
function caseFields(l: Located): Pick<McqRecord, 'caseId' | 'caseOrder'> {
  const id = l.o.case_id, order = l.o.case_order;
  if (id === undefined && order === undefined) return {};
  if (typeof id !== 'string' || id === '') fail(l.where, '"case_id" must be a non-empty string (it comes with "case_order")');
  if (!Number.isInteger(order)) fail(l.where, '"case_order" must be an integer (it comes with "case_id")');
  return { caseId: id, caseOrder: order as number };
}

const PARSERS: Record<Exclude<McqFormat, 'mmlu'>, (l: Located) => McqRecord> = {
  mqg(l) {
    for (const k of ['id', 'question', 'source', 'chapter', 'options', 'answer']) if (!(k in l.o)) fail(l.where, `missing key "${k}"`);
    const o = l.o;
    if (!Array.isArray(o.options) || o.options.length < 2 || o.options.some((x) => typeof x !== 'string')) {
      fail(l.where, '"options" must be an array of at least 2 strings');
    }
    if (!Array.isArray(o.answer) || o.answer.length === 0) fail(l.where, '"answer" must be a non-empty array of option indexes (0 = the first) or letters ("A" = the first)');
    // indexes from 0, or option letters as many sets write them ("A", "b")
    const answer = (o.answer as unknown[]).map((a) => {
      if (typeof a === 'string') {
        const i = letterIndex(a, (o.options as string[]).length);
        if (i < 0) fail(l.where, `answer ${JSON.stringify(a)} is not one of the ${(o.options as string[]).length} option letters (${(o.options as string[]).map((_, j) => optionLetter(j)).join(', ')})`);
        return i;
      }
      if (!Number.isInteger(a) || (a as number) < 0 || (a as number) >= (o.options as string[]).length) {
        fail(l.where, `answer index ${JSON.stringify(a)} is out of range for ${(o.options as string[]).length} options (indexes from 0, or letters A, B, ...)`);
      }
      return a as number;
    });
    return finish(l, {
      id: str(l, 'id'), question: str(l, 'question'), options: o.options as string[], answer,
      source: str(l, 'source'), chapter: str(l, 'chapter'), ...caseFields(l),
    });
  },
  medqa(l) {
    const opts = l.o.options;
    if (opts === null || typeof opts !== 'object' || Array.isArray(opts)) fail(l.where, '"options" must be an object {"A": text, "B": text, ...}');
    const keys = Object.keys(opts).sort();
    keys.forEach((k, i) => {
      if (k !== optionLetter(i)) fail(l.where, `"options" keys must be A, B, C, ... in sequence; got ${JSON.stringify(keys)}`);
    });
    const options = keys.map((k) => optionText(l, `options.${k}`, (opts as Obj)[k]));
    const a = letterIndex(l.o.answer_idx, options.length);
    if (a < 0) fail(l.where, `"answer_idx" must be one of the option letters ${keys.join(', ')}; got ${JSON.stringify(l.o.answer_idx)}`);
    return finish(l, {
      id: str(l, 'id', `medqa-${l.n}`), question: str(l, 'question'), options, answer: [a],
      source: 'medqa', chapter: str(l, 'meta_info', ''), ...caseFields(l),
    });
  },
  medmcqa: (l) => medmcqa(l, 1),
  'medmcqa-hf': (l) => medmcqa(l, 0),
  frenchmedmcqa(l) {
    let options: string[];
    if ('answers' in l.o) {
      const ans = l.o.answers;
      if (ans === null || typeof ans !== 'object' || Array.isArray(ans)) fail(l.where, '"answers" must be an object {"a": text, ..., "e": text}');
      const keys = Object.keys(ans).map((k) => k.toLowerCase()).sort();
      keys.forEach((k, i) => {
        if (k !== optionLetter(i).toLowerCase()) fail(l.where, `"answers" keys must be a, b, c, ... in sequence; got ${JSON.stringify(Object.keys(ans))}`);
      });
      options = Object.keys(ans).sort((x, y) => x.toLowerCase().localeCompare(y.toLowerCase())).map((k) => optionText(l, `answers.${k}`, (ans as Obj)[k]));
    } else {
      options = [];
      for (let i = 0; `answer_${optionLetter(i).toLowerCase()}` in l.o; i++) {
        const k = `answer_${optionLetter(i).toLowerCase()}`;
        options.push(optionText(l, k, l.o[k]));
      }
      if (options.length === 0) fail(l.where, 'missing key "answers" (or "answer_a".."answer_e")');
    }
    const ca = l.o.correct_answers;
    if (!Array.isArray(ca) || ca.length === 0) fail(l.where, '"correct_answers" must be a non-empty array of option letters');
    const answer = ca.map((x) => {
      // The Hugging Face export stores class indexes 0..4 instead of letters.
      const i = Number.isInteger(x) ? (x as number) : letterIndex(x, options.length);
      if (i < 0 || i >= options.length) fail(l.where, `"correct_answers": ${JSON.stringify(x)} is not one of the ${options.length} option letters`);
      return i;
    });
    return finish(l, {
      id: str(l, 'id', `frenchmedmcqa-${l.n}`), question: str(l, 'question'), options, answer,
      source: 'frenchmedmcqa', chapter: str(l, 'subject_name', ''), ...caseFields(l),
    });
  },
};

function medmcqa(l: Located, base: 0 | 1): McqRecord {
  const options = ['opa', 'opb', 'opc', 'opd'].map((k) => {
    if (!(k in l.o)) fail(l.where, `missing key "${k}"`);
    return optionText(l, k, l.o[k]);
  });
  const cop = l.o.cop;
  if (!Number.isInteger(cop) || (cop as number) - base < 0 || (cop as number) - base > 3) {
    const hint = base === 1 && cop === 0 ? ' (0-based "cop", as in the Hugging Face export: use --format medmcqa-hf)' : '';
    fail(l.where, `"cop" must be an integer ${base}..${base + 3} (${base} = opa); got ${JSON.stringify(cop)}${hint}`);
  }
  const topic = typeof l.o.topic_name === 'string' && l.o.topic_name ? ` / ${l.o.topic_name}` : '';
  return finish(l, {
    id: str(l, 'id', `medmcqa-${l.n}`), question: str(l, 'question'), options, answer: [(cop as number) - base],
    source: 'medmcqa', chapter: typeof l.o.subject_name === 'string' ? l.o.subject_name + topic : '', ...caseFields(l),
  });
}

/** One record object (a JSON line, a parquet or CSV row) in a JSON format; errors start with `where`. */
export function parseMcqObject(o: Record<string, unknown>, where: string, n: number, format: Exclude<McqFormat, 'mmlu'>): McqRecord {
  return PARSERS[format]({ o, where, n });
}

/** Which JSON format a record looks like, from its keys. */
export function jsonFormatOf(o: Obj): Exclude<McqFormat, 'mmlu' | 'medmcqa-hf'> | undefined {
  if ('opa' in o && 'cop' in o) return 'medmcqa';
  if ('answer_idx' in o && 'options' in o) return 'medqa';
  if ('correct_answers' in o) return 'frenchmedmcqa';
  if (Array.isArray(o.options) && 'answer' in o) return 'mqg';
  return undefined;
}

/** JSON records of a JSONL file (or of one JSON array), each with where it starts. */
export function jsonRecords(text: string, name: string): Located[] {
  const out: Located[] = [];
  if (text.trimStart().startsWith('[')) {
    let arr: unknown;
    try {
      arr = JSON.parse(text);
    } catch (e) {
      fail(name, `bad JSON (${(e as Error).message})`);
    }
    if (!Array.isArray(arr)) fail(name, 'expected a JSON array of records');
    arr.forEach((o, i) => {
      const where = `${name}: record ${i + 1}`;
      if (o === null || typeof o !== 'object' || Array.isArray(o)) fail(where, 'expected a JSON object');
      out.push({ o: o as Obj, where, n: i + 1 });
    });
    return out;
  }
  const lines = text.split('\n');
  for (let li = 0; li < lines.length; li++) {
    const line = lines[li]!.replace(/\r$/, '');
    if (line.trim() === '') continue;
    const where = `${name}:${li + 1}`;
    let o: unknown;
    try {
      o = JSON.parse(line);
    } catch (e) {
      fail(where, `bad JSON (${(e as Error).message})`);
    }
    if (o === null || typeof o !== 'object' || Array.isArray(o)) fail(where, 'expected a JSON object');
    out.push({ o: o as Obj, where, n: out.length + 1 });
  }
  return out;
}

// ------------------------------------------------------------------ CSV (MMLU)

/** RFC 4180 CSV: rows of fields, each row with the 1-based line it starts on. */
export function parseCsv(text: string, name = '<csv>'): { line: number; fields: string[] }[] {
  const rows: { line: number; fields: string[] }[] = [];
  let fields: string[] = [], field = '', line = 1, start = 1, i = 0, quoted = false, any = false;
  const endField = () => { fields.push(field); field = ''; };
  const endRow = () => {
    endField();
    if (any || fields.length > 1 || fields[0] !== '') rows.push({ line: start, fields });
    fields = []; any = false;
  };
  while (i < text.length) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"') {
        if (text[i + 1] === '"') { field += '"'; i += 2; continue; }
        quoted = false; i++;
        const n = text[i];
        if (n !== undefined && n !== ',' && n !== '\n' && n !== '\r') fail(`${name}:${line}`, `unexpected character ${JSON.stringify(n)} after a closing quote`);
        continue;
      }
      if (c === '\n') line++;
      field += c; i++;
      continue;
    }
    if (c === '"' && field === '') { quoted = true; any = true; i++; continue; }
    if (c === ',') { endField(); i++; continue; }
    if (c === '\r' && text[i + 1] === '\n') { i++; continue; }
    if (c === '\n') { endRow(); line++; start = line; i++; continue; }
    field += c; i++;
  }
  if (quoted) fail(`${name}:${start}`, 'unterminated quoted field');
  if (field !== '' || fields.length || any) endRow();
  return rows;
}

const MMLU_FIELDS = ['question', 'A', 'B', 'C', 'D', 'answer'];

function parseMmlu(text: string, name: string): McqRecord[] {
  const base = name.replace(/^.*[\\/]/, '').replace(/\.csv$/i, '');
  return parseCsv(text, name).map(({ line, fields }, r) => {
    const where = `${name}:${line}`;
    if (fields.length !== 6) fail(where, `expected 6 fields (${MMLU_FIELDS.join(', ')}); got ${fields.length}`);
    fields.slice(0, 5).forEach((f, k) => {
      if (f.trim() === '') fail(where, `field "${MMLU_FIELDS[k]}" is empty`);
    });
    const a = letterIndex(fields[5], 4);
    if (a < 0) fail(where, `field "answer" must be A, B, C or D; got ${JSON.stringify(fields[5])}`);
    // MMLU's file names are <subject>_<split>.csv; the subject becomes the chapter.
    return { id: `${base}-${r + 1}`, question: fields[0]!, options: fields.slice(1, 5), answer: [a], source: 'mmlu', chapter: base.replace(/_(dev|val|test|train|auxiliary_train)$/, '') };
  });
}

// ------------------------------------------------------------------ entry points

/** Detect the format of a file from its name and first record; undefined when it is not recognisable. */
export function detectMcqFormat(text: string, name = ''): McqFormat | undefined {
  if (/\.csv$/i.test(name)) return 'mmlu';
  const t = text.trimStart();
  let first: unknown;
  try {
    if (t.startsWith('[')) first = (JSON.parse(t) as unknown[])[0];
    else first = JSON.parse(t.slice(0, t.indexOf('\n') < 0 ? undefined : t.indexOf('\n')));
  } catch {
    return undefined;
  }
  if (first === null || typeof first !== 'object' || Array.isArray(first)) return undefined;
  return jsonFormatOf(first as Obj);
}

/** Parse a multiple-choice file in `format` (default: detected). Errors name the file, line and field. */
export function parseMcq(text: string, name = '<mcq>', format?: McqFormat | 'auto'): McqRecord[] {
  if (format !== undefined && format !== 'auto' && !MCQ_FORMATS.includes(format)) {
    throw new McqFormatError(`${name}: unknown multiple-choice format "${format}" (known: ${MCQ_FORMATS.join(', ')})`);
  }
  if (text.trim() === '') return [];
  const f = format && format !== 'auto' ? format : detectMcqFormat(text, name);
  if (!f) {
    throw new McqFormatError(
      `${name}: cannot tell the multiple-choice format from the first record (known: ${MCQ_FORMATS.join(', ')}); choose one with --format`,
    );
  }
  if (f === 'mmlu') return parseMmlu(text, name);
  const parse = PARSERS[f];
  return jsonRecords(text, name).map(parse);
}

/** Our JSONL format only (kept for callers that know the schema). */
export function parseMcqJsonl(text: string, name = '<mcq>'): McqRecord[] {
  return parseMcq(text, name, 'mqg');
}

/** What makes a validation score not held out, as warnings: ids repeated within `train` (or within
 *  `val`), and questions of `val` that are also in `train` (by id). Empty when there are none. */
export function mcqLeaks(name: string, train: readonly McqRecord[], val: readonly McqRecord[] = [], valName = name): string[] {
  const out: string[] = [];
  const dups = (recs: readonly McqRecord[]) => {
    const seen = new Set<string>(), twice = new Set<string>();
    for (const r of recs) (seen.has(r.id) ? twice : seen).add(r.id);
    return [...twice];
  };
  const show = (ids: string[]) => ids.slice(0, 3).map((x) => JSON.stringify(x)).join(', ') + (ids.length > 3 ? `, ... (${ids.length} in all)` : '');
  const d = dups(train);
  if (d.length) out.push(`warning: ${name}: question id${d.length > 1 ? 's' : ''} ${show(d)} appear${d.length > 1 ? '' : 's'} more than once`);
  const dv = valName === name ? [] : dups(val);
  if (dv.length) out.push(`warning: ${valName}: question id${dv.length > 1 ? 's' : ''} ${show(dv)} appear${dv.length > 1 ? '' : 's'} more than once`);
  const ids = new Set(train.map((r) => r.id));
  const both = [...new Set(val.filter((r) => ids.has(r.id)).map((r) => r.id))];
  if (both.length) out.push(`warning: ${both.length} validation question(s) of ${valName} are also training questions (${show(both)}): the validation score is not held out`);
  return out;
}
