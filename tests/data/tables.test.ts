// Data files read row by row (parquet written by DuckDB with snappy and zstd, CSV with a header and
// quoted fields, JSONL), the --columns mapping (options as a list or A..E columns; answers as
// letters, indexes, option text, several as a list; the format presets), and errors naming the
// file, the row and the column on one line.
import { describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { parquetMetadata } from 'hyparquet';
import { readTable } from '../../src/train/data/tabular.node';
import { parseColumns } from '../../src/train/data/columns';
import { readMcqSource } from '../../src/train/data/mcq-source.node';

const PQ = path.resolve(__dirname, '../fixtures/parquet');
const pq = (f: string) => path.join(PQ, f);
const OPTIONS = [
  ['Vitamin A', 'Vitamin B12', 'Vitamin C', 'Vitamin D', 'Vitamin K'],
  ['Liver', 'Pancreas', 'Spleen', 'Kidney', 'Thyroid'],
  ['Adrenaline', 'Atropine', 'Diazepam', 'Furosemide', 'Heparin'],
];
const STEMS = ['Which vitamin deficiency causes scurvy?', 'Which organ secretes insulin?', 'First-line drug for anaphylaxis, "stat"?'];

function tmp(name: string, text: string): string {
  const f = path.join(mkdtempSync(path.join(tmpdir(), 'mqg-tables-')), name);
  writeFileSync(f, text);
  return f;
}

describe('data files', () => {
  it('the parquet fixtures carry the codecs they are named after (DuckDB wrote them, not hyparquet)', () => {
    for (const [f, codec] of [['list-letter.snappy.parquet', 'SNAPPY'], ['ae-index.zstd.parquet', 'ZSTD'], ['multi-text.zstd.parquet', 'ZSTD'], ['medmcqa-hf.snappy.parquet', 'SNAPPY']]) {
      const b = readFileSync(pq(f!));
      const md = parquetMetadata(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
      expect(md.created_by, f).toMatch(/DuckDB/i);
      for (const c of md.row_groups[0]!.columns) expect(c.meta_data!.codec, `${f} ${c.meta_data!.path_in_schema}`).toBe(codec);
    }
  });

  it('reads parquet rows: snappy with a list column, zstd with A..E columns, 64-bit integers as numbers, NULL as null', async () => {
    const a = await readTable(pq('list-letter.snappy.parquet'));
    expect(a.rows).toEqual(STEMS.map((q, i) => ({ question: q, choices: OPTIONS[i], answer: 'CBA'[i] })));
    expect(a.where(2)).toBe(`${pq('list-letter.snappy.parquet')}: row 3`);
    const b = await readTable(pq('ae-index.zstd.parquet'));
    expect(b.rows[1]).toEqual({ question: STEMS[1], A: 'Liver', B: 'Pancreas', C: 'Spleen', D: 'Kidney', E: 'Thyroid', label: 1 });
    const m = await readTable(pq('medmcqa-hf.snappy.parquet'));
    expect(m.rows.map((r) => [r.cop, r.topic_name])).toEqual([[2, 'Vitamins'], [1, null]]);
  });

  it('reads CSV with a header and quoted fields (commas, doubled quotes, newlines), and JSONL with its lines', async () => {
    const f = tmp('test.csv', 'question,A,B,answer\r\n"Dose, in mg?","1","2",B\n"He said ""stop""\nthen?",x,y,A\n');
    const t = await readTable(f);
    expect(t.rows).toEqual([{ question: 'Dose, in mg?', A: '1', B: '2', answer: 'B' }, { question: 'He said "stop"\nthen?', A: 'x', B: 'y', answer: 'A' }]);
    expect(t.where(1)).toBe(`${f}: row 2 (line 3)`);
    const j = tmp('x.jsonl', '{"q":"a"}\n\n{"q":"b"}\n');
    const jt = await readTable(j);
    expect(jt.rows).toEqual([{ q: 'a' }, { q: 'b' }]);
    expect(jt.where(1)).toBe(`${j}: row 2 (line 3)`);
  });
});

describe('--columns', () => {
  it('parses mappings, answer kinds, text columns and format names', () => {
    expect(parseColumns('question=q,options=A,B,C,D,E,answer=label:index')).toEqual({ kind: 'map', map: { question: 'q', options: ['A', 'B', 'C', 'D', 'E'], answer: 'label', answerAs: 'index', id: undefined, chapter: undefined, source: undefined } });
    expect(parseColumns('question=q, options=opts, answer=a, chapter=subject')).toMatchObject({ kind: 'map', map: { options: ['opts'], answerAs: 'auto', chapter: 'subject' } });
    expect(parseColumns('medqa')).toEqual({ kind: 'format', format: 'medqa' });
    expect(parseColumns('text=body')).toEqual({ kind: 'text', column: 'body' });
    expect(() => parseColumns('question=q,options=o')).toThrow(/--columns "question=q,options=o": "answer=" is missing/);
    expect(() => parseColumns('question=q,options=o,answer=a:roman')).toThrow(/answer kind is one of auto, letter, index, index1, text/);
    expect(() => parseColumns('stem=q,options=o,answer=a')).toThrow(/unknown key "stem"/);
    expect(() => parseColumns('question=q,question=r,options=o,answer=a')).toThrow(/"question" is given twice/);
  });

  it('maps a list column with letter answers, A..E columns with index answers, and several answers given as option text', async () => {
    const a = await readMcqSource(pq('list-letter.snappy.parquet'), { columns: 'question=question,options=choices,answer=answer' });
    expect(a.records.map((r) => [r.question, r.options, r.answer])).toEqual(STEMS.map((q, i) => [q, OPTIONS[i], [2 - i]]));
    expect(a.records.map((r) => r.id)).toEqual(['list-letter.snappy-1', 'list-letter.snappy-2', 'list-letter.snappy-3']);
    // question, choices, answer: the Hub's MMLU layout, detected without --columns
    expect((await readMcqSource(pq('list-letter.snappy.parquet'))).records).toEqual(a.records);
    const b = await readMcqSource(pq('ae-index.zstd.parquet'), { columns: 'question=question,options=A,B,C,D,E,answer=label' });
    expect(b.records.map((r) => [r.question, r.options, r.answer])).toEqual(a.records.map((r) => [r.question, r.options, r.answer]));
    const c = await readMcqSource(pq('multi-text.zstd.parquet'), { columns: 'question=stem,options=opts,answer=correct' });
    expect(c.records.map((r) => r.answer)).toEqual([[0, 2, 4], [1], [0, 1]]);
    // answer kinds forced: index1 reads MedMCQA's original 1-based "cop"
    const d = await readMcqSource(pq('medmcqa-hf.snappy.parquet'), { columns: 'question=question,options=opa,opb,opc,opd,answer=cop:index1,id=id,chapter=subject_name' });
    expect(d.records.map((r) => [r.id, r.answer, r.chapter])).toEqual([['m1', [1], 'Biochemistry'], ['m2', [0], 'Physiology']]);
  });

  it('format presets as shorthands, and the Hub export of MedMCQA detected with its 0-based "cop"', async () => {
    const want = [['m1', [2], 'Biochemistry / Vitamins'], ['m2', [1], 'Physiology']];
    for (const o of [{ columns: 'medmcqa-hf' }, { format: 'medmcqa-hf' as const }, {}]) {
      const r = await readMcqSource(pq('medmcqa-hf.snappy.parquet'), o);
      expect(r.records.map((x) => [x.id, x.answer, x.chapter]), JSON.stringify(o)).toEqual(want);
    }
    await expect(readMcqSource(pq('medmcqa-hf.snappy.parquet'), { format: 'medqa', columns: 'medmcqa-hf' })).rejects.toThrow(/--format medqa and --columns medmcqa-hf disagree/);
    // the Hub's MMLU layout (question, choices, answer index, subject) and MedQA's options object
    const mmlu = tmp('test.jsonl', '{"question":"2+2?","subject":"math","choices":["3","4","5","6"],"answer":1}\n');
    expect((await readMcqSource(mmlu, { columns: 'mmlu' })).records[0]).toMatchObject({ options: ['3', '4', '5', '6'], answer: [1], chapter: 'math' });
    const medqa = tmp('m.csv', 'question,options,answer_idx\n');
    expect((await readMcqSource(medqa, { columns: 'medqa' })).records).toEqual([]);
  });

  it('a CSV through --columns: option text answers match after trimming; a local CSV without it stays MMLU (no header)', async () => {
    const f = tmp('quiz.csv', 'q,a,b,c,ans\n"Dose, in mg?",10,20,30," 20"\n');
    const r = await readMcqSource(f, { columns: 'question=q,options=a,b,c,answer=ans:text' });
    expect(r.records[0]).toMatchObject({ question: 'Dose, in mg?', options: ['10', '20', '30'], answer: [1] });
    const mmlu = tmp('anatomy_test.csv', '"Bones, how many?",206,201,196,212,A\n');
    expect((await readMcqSource(mmlu)).records[0]).toMatchObject({ options: ['206', '201', '196', '212'], answer: [0], chapter: 'anatomy' });
  });

  it('a large table: every row kept (no spread of all rows at once)', async () => {
    const n = 150_000;
    const f = tmp('big.jsonl', Array.from({ length: n }, (_, i) => `{"q":"q${i}","o":["a","b"],"a":${i % 2}}`).join('\n'));
    const r = await readMcqSource(f, { columns: 'question=q,options=o,answer=a' });
    expect(r.records).toHaveLength(n);
    expect(r.records[n - 1]).toMatchObject({ question: `q${n - 1}`, answer: [(n - 1) % 2], id: `big-${n}` });
  });

  it('errors name the file, the row and the column, on one line', async () => {
    const f = pq('list-letter.snappy.parquet');
    const one = async (o: object, re: RegExp) => {
      const e = await readMcqSource(f, o).then(() => undefined, (x: Error) => x);
      expect(e, JSON.stringify(o)).toBeInstanceOf(Error);
      expect(e!.message).toMatch(re);
      expect(e!.message).not.toContain('\n');
    };
    const at = f.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    await one({ columns: 'question=question,options=choices,answer=answer:index' }, new RegExp(`^${at}: row 1, column "answer": answer "C" is not a 0-based index below 5$`));
    await one({ columns: 'question=question,options=choices,answer=label' }, new RegExp(`^${at}: row 1, column "label": no such column \\(the row has "question", "choices", "answer"\\)$`));
    await one({ columns: 'question=question,options=answer,answer=answer' }, new RegExp(`^${at}: row 1, column "answer": expected a list of options`));
    await one({ columns: 'question=choices,options=choices,answer=answer' }, new RegExp(`^${at}: row 1, column "choices": expected a non-empty string, got \\["Vitamin A"`));
    const m = pq('multi-text.zstd.parquet');
    await expect(readMcqSource(m)).rejects.toThrow(new RegExp(`^${m.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: row 1: cannot tell which columns hold the question, options and answer \\(columns: "stem", "opts", "correct"\\); map them with --columns question=\\.\\.\\.,options=\\.\\.\\.,answer=\\.\\.\\.$`));
    const bad = tmp('bad.jsonl', '{"q":"x","o":["a","b"],"a":"A"}\n{"q":"y","o":["a","b"],"a":"Z"}\n');
    await expect(readMcqSource(bad, { columns: 'question=q,options=o,answer=a' })).rejects.toThrow(
      new RegExp(`^${bad.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: row 2 \\(line 2\\), column "a": answer "Z" is not an option letter \\(A, B\\), a 0-based index below 2, or the text of an option$`),
    );
    const ragged = tmp('r.csv', 'q,a\nx,y,z\n');
    await expect(readMcqSource(ragged, { columns: 'question=q,options=a,a,answer=a' })).rejects.toThrow(/r\.csv:2: expected 2 fields \(the header's "q", "a"\); got 3/);
  });
});
