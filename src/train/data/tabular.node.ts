// Node: the rows of a data file as objects, each with where it is (for messages), whatever the file:
//   .jsonl / .json   one object per line, or one JSON array            "<file>: row 3 (line 3)"
//   .csv             RFC 4180 with a header row (the Hub's CSV files)  "<file>: row 3 (line 4)"
//   .parquet         through hyparquet, with snappy and zstd pages     "<file>: row 3"
// Parquet integers of 64 bits arrive as BigInt; they become numbers here (row counts and labels fit).

import { readFileSync } from 'node:fs';
import { McqFormatError } from '../../util/errors';
import { describeFsError } from '../../util/outputs.node';
import { jsonRecords, parseCsv } from './mcq';

export type Row = Record<string, unknown>;

export interface Table {
  file: string;
  rows: Row[];
  /** Where row i (0-based) is, for messages. */
  where: (i: number) => string;
}

/** The extensions a data file may have (the Hub's formats we read). */
export const TABLE_EXTENSIONS = ['.jsonl', '.json', '.csv', '.parquet'] as const;

export function tableExtension(path: string): (typeof TABLE_EXTENSIONS)[number] | undefined {
  const lower = path.toLowerCase();
  return TABLE_EXTENSIONS.find((e) => lower.endsWith(e));
}

function readBytes(file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (e) {
    throw new McqFormatError(`cannot read ${file}: ${describeFsError(e)}`);
  }
}

export async function readTable(file: string): Promise<Table> {
  const ext = tableExtension(file);
  if (ext === '.parquet') return readParquet(file);
  if (ext === '.csv') return readCsvTable(file);
  if (ext === '.jsonl' || ext === '.json') {
    const recs = jsonRecords(readBytes(file).toString('utf8'), file);
    // jsonRecords says "<file>:<line>" or "<file>: record N"; keep the line beside the row number
    return { file, rows: recs.map((r) => r.o), where: (i) => `${file}: row ${i + 1}${/:\d+$/.test(recs[i]!.where) ? ` (line ${recs[i]!.where.slice(recs[i]!.where.lastIndexOf(':') + 1)})` : ''}` };
  }
  throw new McqFormatError(`${file}: not a data file we read (${TABLE_EXTENSIONS.join(', ')})`);
}

function readCsvTable(file: string): Table {
  const [header, ...body] = parseCsv(readBytes(file).toString('utf8').replace(/^\uFEFF/, ''), file);
  if (!header) return { file, rows: [], where: () => file };
  const names = header.fields;
  const rows = body.map(({ line, fields }) => {
    if (fields.length !== names.length) throw new McqFormatError(`${file}:${line}: expected ${names.length} fields (the header's ${names.map((n) => JSON.stringify(n)).join(', ')}); got ${fields.length}`);
    return Object.fromEntries(names.map((n, k) => [n, fields[k]]));
  });
  return { file, rows, where: (i) => `${file}: row ${i + 1} (line ${body[i]!.line})` };
}

/** BigInt -> number, recursively through lists and structs. */
function plain(v: unknown): unknown {
  if (typeof v === 'bigint') return Number(v);
  if (Array.isArray(v)) return v.map(plain);
  if (v !== null && typeof v === 'object' && !(v instanceof Uint8Array) && !(v instanceof Date)) {
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]));
  }
  return v;
}

async function readParquet(file: string): Promise<Table> {
  const buf = readBytes(file);
  const ab = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength) as ArrayBuffer;
  const { parquetReadObjects } = await import('hyparquet');
  const { compressors } = await import('hyparquet-compressors');
  let rows: Row[];
  try {
    rows = (await parquetReadObjects({ file: ab, compressors, rowFormat: 'object' })) as Row[];
  } catch (e) {
    throw new McqFormatError(`${file}: cannot read it as parquet (${(e as Error).message})`);
  }
  return { file, rows: rows.map((r) => plain(r) as Row), where: (i) => `${file}: row ${i + 1}` };
}
