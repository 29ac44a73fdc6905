// Node: the one place where a `--data` source becomes multiple-choice records (eval-mcq,
// finetune-mcq, questions --examples) or text documents (data prepare): a local file as before
// (readMcqFile, every format of ./mcq), or a Hub dataset / a directory / a parquet file, read row by
// row (./tabular.node) and mapped by `--columns` or by the format its first row shows.

import { DataError, McqFormatError } from '../../util/errors';
import { HUB_MMLU, parseColumns, rowInFormat, rowToMcq, type ColumnsSpec } from './columns';
import { dataSourceFiles, parseHubDatasetId, type DataSourceOptions } from './hub-dataset.node';
import { jsonFormatOf, type McqFormat, type McqRecord } from './mcq';
import { readMcqFile } from './mcq.node';
import { readTable, type Row, type Table } from './tabular.node';

export interface McqSourceOptions extends DataSourceOptions {
  /** --format (auto: detected). */
  format?: McqFormat | 'auto';
  /** --columns, as given. */
  columns?: string;
}

/** Is `source` read row by row (rather than by readMcqFile)? */
function tabular(source: string, files: readonly string[], o: McqSourceOptions): boolean {
  return !!parseHubDatasetId(source) || files.length !== 1 || files[0] !== source || !!o.columns || files[0]!.toLowerCase().endsWith('.parquet');
}

function columnsSpec(o: McqSourceOptions): ColumnsSpec | undefined {
  const spec = o.columns ? parseColumns(o.columns) : undefined;
  const format = o.format && o.format !== 'auto' ? o.format : undefined;
  if (spec && format && !(spec.kind === 'format' && spec.format === format)) throw new McqFormatError(`--format ${format} and --columns ${o.columns} disagree: give one of them`);
  return spec ?? (format ? { kind: 'format', format } : undefined);
}

/** The format a row of a Hub table shows (the Hub's exports: MedMCQA's "cop" from 0, MMLU's "choices"). */
function detectRow(row: Row, where: string, hub: boolean): ColumnsSpec {
  const f = jsonFormatOf(row);
  if (f) return { kind: 'format', format: hub && f === 'medmcqa' ? 'medmcqa-hf' : f };
  if (Array.isArray(row.choices) && 'question' in row && 'answer' in row) return { kind: 'map', map: { ...HUB_MMLU, chapter: 'subject' in row ? HUB_MMLU.chapter : undefined } };
  throw new McqFormatError(`${where}: cannot tell which columns hold the question, options and answer (columns: ${Object.keys(row).map((k) => JSON.stringify(k)).join(', ')}); map them with --columns question=...,options=...,answer=...`);
}

function tableRecords(t: Table, spec: ColumnsSpec | undefined, hub: boolean, label: string, n0: number): McqRecord[] {
  if (!t.rows.length) return [];
  const s = spec ?? detectRow(t.rows[0]!, t.where(0), hub);
  if (s.kind === 'text') throw new McqFormatError(`--columns text=${s.column} reads plain text rows (mqg data prepare); multiple-choice questions need question=, options= and answer=`);
  return t.rows.map((row, i) => (s.kind === 'map' ? rowToMcq(row, s.map, t.where(i), n0 + i + 1, label) : rowInFormat(row, s.format, t.where(i), n0 + i + 1, label)));
}

/** The multiple-choice records of a source; `files` says which files they came from. */
export async function readMcqSource(source: string, o: McqSourceOptions = {}): Promise<{ records: McqRecord[]; files: string[] }> {
  const spec = columnsSpec(o);
  const { files, label } = await dataSourceFiles(source, o);
  if (!tabular(source, files, o)) return { records: readMcqFile(source, o.format), files };
  const records: McqRecord[] = [];
  // MedMCQA's Hub export (parquet) counts "cop" from 0, its original JSON from 1
  for (const f of files) {
    // one at a time: a spread of a large file's rows would overflow the call stack
    for (const r of tableRecords(await readTable(f), spec, !!parseHubDatasetId(source) || f.toLowerCase().endsWith('.parquet'), label, records.length)) records.push(r);
  }
  return { records, files };
}

/** Documents for `mqg data prepare`: with --columns text=COL that column of every row, else each question as text. */
export async function readTextRows(source: string, o: McqSourceOptions, questionText: (r: McqRecord) => string): Promise<{ documents: string[]; files: string[] }> {
  const spec = columnsSpec(o);
  if (spec?.kind !== 'text') {
    const { records, files } = await readMcqSource(source, o);
    return { documents: records.map(questionText), files };
  }
  const { files } = await dataSourceFiles(source, o);
  const documents: string[] = [];
  for (const f of files) {
    const t = await readTable(f);
    t.rows.forEach((row, i) => {
      const v = row[spec.column];
      if (!(spec.column in row)) throw new McqFormatError(`${t.where(i)}, column "${spec.column}": no such column (the row has ${Object.keys(row).map((k) => JSON.stringify(k)).join(', ')})`);
      if (v === null || v === undefined) return;
      if (typeof v !== 'string') throw new McqFormatError(`${t.where(i)}, column "${spec.column}": expected text, got ${typeof v}`);
      if (v.trim()) documents.push(v);
    });
  }
  if (!documents.length) throw new DataError(`${source}: no text in column "${spec.column}"`);
  return { documents, files };
}
