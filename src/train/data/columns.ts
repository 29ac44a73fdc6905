// `--columns`: how the rows of a table we do not know (a Hub dataset's parquet, CSV or JSON rows) map
// to our multiple-choice record.
//
//   question=COL,options=COL,answer=COL           options as one list column
//   question=COL,options=A,B,C,D,E,answer=COL     options as one column each, in order
//   ...,answer=COL:letter|index|index1|text       how to read the answer (default: auto, below)
//   ...,id=COL,chapter=COL,source=COL             optional
//   text=COL                                      plain text rows (mqg data prepare only)
//   medqa | medmcqa | medmcqa-hf | mmlu | frenchmedmcqa | mqg   a known format, as --format names it
//
// An answer cell is one value or a list of values (several correct options). auto reads each value as
// a letter ("C", "c"), else a 0-based index (2, "2"), else the text of one of the options; `:index1`
// reads 1-based indexes (MedMCQA's original "cop"). A value that none of these fits is an error naming
// the file, the row and the column.

import { McqFormatError } from '../../util/errors';
import { MCQ_FORMATS, letterIndex, optionLetter, parseMcqObject, type McqFormat, type McqRecord } from './mcq';

export const ANSWER_KINDS = ['auto', 'letter', 'index', 'index1', 'text'] as const;
export type AnswerKind = (typeof ANSWER_KINDS)[number];

/** A column mapping: the row's column names for each field of McqRecord. */
export interface ColumnMap {
  question: string;
  /** One list column, or one column per option (A..E). */
  options: string[];
  answer: string;
  answerAs: AnswerKind;
  id?: string;
  chapter?: string;
  source?: string;
}

/** What `--columns` asks for: a mapping, a known format, or a text column. */
export type ColumnsSpec = { kind: 'map'; map: ColumnMap } | { kind: 'format'; format: McqFormat } | { kind: 'text'; column: string };

/** The Hub's MMLU layout (cais/mmlu): question, choices (a list), answer (a 0-based index; a letter read too), subject. */
export const HUB_MMLU: ColumnMap = { question: 'question', options: ['choices'], answer: 'answer', answerAs: 'auto', chapter: 'subject' };

const KEYS = ['question', 'options', 'answer', 'id', 'chapter', 'source', 'text'];

/** Parse `--columns`; errors name the flag and the problem. */
export function parseColumns(spec: string): ColumnsSpec {
  const s = spec.trim();
  if ((MCQ_FORMATS as readonly string[]).includes(s)) return { kind: 'format', format: s as McqFormat };
  const bad = (msg: string): never => {
    throw new McqFormatError(`--columns ${JSON.stringify(spec)}: ${msg}`);
  };
  // "options=A,B,C" spreads over commas: a piece without "=" continues the key before it.
  const got = new Map<string, string[]>();
  let key: string | undefined;
  for (const piece of s.split(',').map((p) => p.trim())) {
    const eq = piece.indexOf('=');
    if (eq < 0) {
      if (!key || piece === '') bad(`"${piece}" is not KEY=COLUMN (keys: ${KEYS.join(', ')}; or one of the formats ${MCQ_FORMATS.join(', ')})`);
      got.get(key!)!.push(piece);
      continue;
    }
    key = piece.slice(0, eq).trim();
    const col = piece.slice(eq + 1).trim();
    if (!KEYS.includes(key)) bad(`unknown key "${key}" (keys: ${KEYS.join(', ')})`);
    if (got.has(key)) bad(`"${key}" is given twice`);
    if (col === '') bad(`"${key}=" names no column`);
    got.set(key, [col]);
  }
  if (got.has('text')) {
    if (got.size > 1) bad('"text=" stands alone (plain text rows)');
    return { kind: 'text', column: got.get('text')![0]! };
  }
  for (const k of ['question', 'options', 'answer']) if (!got.has(k)) bad(`"${k}=" is missing (question=, options= and answer= are needed)`);
  for (const k of ['question', 'answer', 'id', 'chapter', 'source']) if ((got.get(k)?.length ?? 0) > 1) bad(`"${k}=" takes one column (only options= takes several)`);
  const [answer, as = 'auto'] = got.get('answer')![0]!.split(':');
  if (!(ANSWER_KINDS as readonly string[]).includes(as)) bad(`answer=${answer}:${as}: the answer kind is one of ${ANSWER_KINDS.join(', ')}`);
  const one = (k: string) => got.get(k)?.[0];
  return {
    kind: 'map',
    map: { question: one('question')!, options: got.get('options')!, answer: answer!, answerAs: as as AnswerKind, id: one('id'), chapter: one('chapter'), source: one('source') },
  };
}

type Row = Record<string, unknown>;

/** Where a row's cell is, for messages: `<file>: row 3, column "answer"`. */
function cellError(where: string, column: string, msg: string): never {
  throw new McqFormatError(`${where}, column "${column}": ${msg}`);
}

function cell(row: Row, column: string, where: string): unknown {
  if (!(column in row)) cellError(where, column, `no such column (the row has ${Object.keys(row).map((k) => JSON.stringify(k)).join(', ')})`);
  return row[column];
}

function text(row: Row, column: string, where: string, optional = false): string {
  const v = cell(row, column, where);
  if (optional && (v === null || v === undefined)) return '';
  if (typeof v === 'number' || typeof v === 'bigint') return String(v);
  if (typeof v !== 'string' || (!optional && v.trim() === '')) cellError(where, column, `expected a non-empty string, got ${shown(v)}`);
  return v;
}

function shown(v: unknown): string {
  const s = JSON.stringify(v, (_, x) => (typeof x === 'bigint' ? Number(x) : x));
  return s === undefined ? String(v) : s.length > 60 ? s.slice(0, 57) + '...' : s;
}

/** A list cell: a JS array, or a JSON array written as text (CSV files write lists so). */
function listOf(v: unknown): unknown[] | undefined {
  if (Array.isArray(v)) return v;
  if (typeof v === 'string' && v.trim().startsWith('[')) {
    try {
      const a = JSON.parse(v) as unknown;
      if (Array.isArray(a)) return a;
    } catch {
      return undefined;
    }
  }
  return undefined;
}

function optionsOf(row: Row, map: ColumnMap, where: string): string[] {
  if (map.options.length > 1) return map.options.map((c) => text(row, c, where));
  const col = map.options[0]!;
  const list = listOf(cell(row, col, where));
  if (!list) cellError(where, col, `expected a list of options (or name one column per option: options=A,B,C,D), got ${shown(row[col])}`);
  if (list.length < 2) cellError(where, col, `expected at least 2 options, got ${list.length}`);
  return list.map((o, i) => {
    if (typeof o !== 'string' || o.trim() === '') cellError(where, col, `option ${i + 1} is not a non-empty string (${shown(o)})`);
    return o;
  });
}

/** One answer value to its 0-based option index, or -1. */
function answerIndex(v: unknown, options: readonly string[], as: AnswerKind): number {
  const n = options.length;
  const int = typeof v === 'bigint' ? Number(v) : typeof v === 'number' ? v : typeof v === 'string' && /^\s*\d+\s*$/.test(v) ? Number(v) : NaN;
  if (as === 'index' || as === 'index1') {
    const i = Number.isInteger(int) ? int - (as === 'index1' ? 1 : 0) : -1;
    return i >= 0 && i < n ? i : -1;
  }
  if (as === 'letter') return letterIndex(v, n);
  if (as === 'text') return typeof v === 'string' ? options.findIndex((o) => o.trim() === v.trim()) : -1;
  const l = letterIndex(v, n);
  if (l >= 0) return l;
  if (Number.isInteger(int)) return int >= 0 && int < n ? int : -1;
  return typeof v === 'string' ? options.findIndex((o) => o.trim() === v.trim()) : -1;
}

function answersOf(row: Row, map: ColumnMap, options: readonly string[], where: string): number[] {
  const raw = cell(row, map.answer, where);
  const values = listOf(raw) ?? [raw];
  if (values.length === 0) cellError(where, map.answer, 'no answer (an empty list)');
  const how = map.answerAs === 'auto' ? `an option letter (${options.map((_, i) => optionLetter(i)).join(', ')}), a 0-based index below ${options.length}, or the text of an option` : { letter: 'an option letter', index: `a 0-based index below ${options.length}`, index1: `a 1-based index up to ${options.length}`, text: 'the text of an option' }[map.answerAs];
  return [...new Set(values.map((v) => {
    const i = answerIndex(v, options, map.answerAs);
    if (i < 0) cellError(where, map.answer, `answer ${shown(v)} is not ${how}`);
    return i;
  }))].sort((a, b) => a - b);
}

/** One row under a column mapping; `n` (1-based over the whole source) makes ids for rows without one. */
export function rowToMcq(row: Row, map: ColumnMap, where: string, n: number, source: string): McqRecord {
  const question = text(row, map.question, where);
  const options = optionsOf(row, map, where);
  const answer = answersOf(row, map, options, where);
  return {
    id: map.id ? text(row, map.id, where) : `${source}-${n}`,
    question, options, answer,
    source: map.source ? text(row, map.source, where) : source,
    chapter: map.chapter ? text(row, map.chapter, where, true) : '',
  };
}

/** One row in a known format (the format's own field names and rules). */
export function rowInFormat(row: Row, format: McqFormat, where: string, n: number, source: string): McqRecord {
  if (format === 'mmlu') return rowToMcq(row, HUB_MMLU, where, n, source);
  return parseMcqObject(row, where, n, format);
}
