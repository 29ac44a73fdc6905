// Multiple-choice file formats: each parses from a small hand-written file, is detected from its
// content, and a bad record is an error naming the file, line and field.
import { describe, expect, it } from 'vitest';
import { detectMcqFormat, parseCsv, parseMcq } from '../../src/train/data/mcq';
import { McqFormatError } from '../../src/util/errors';

const MQG = [
  '{"id":"q1","question":"Q1?","options":["a","b","c"],"answer":[2,0],"source":"s","chapter":"c1"}',
  '',
  '{"id":"q2","question":"Q2?","options":["x","y"],"answer":[1],"source":"s","chapter":"c2","case_id":"k","case_order":2}',
].join('\n');

const MEDQA = [
  '{"question": "A 23-year-old ...?", "answer": "Ampicillin", "options": {"A": "Ampicillin", "B": "Ceftriaxone", "C": "Doxycycline", "D": "Nitrofurantoin", "E": "TMP-SMX"}, "meta_info": "step2&3", "answer_idx": "A"}',
  '{"question": "Which?", "options": {"B": "two", "A": "one", "C": "three", "D": "four"}, "meta_info": "step1", "answer_idx": "d"}',
].join('\n');

const MEDMCQA = [
  '{"question":"Chronic urethral obstruction causes?","exp":"...","cop":3,"opa":"Hyperplasia","opb":"Hyperophy","opc":"Atrophy","opd":"Dyplasia","subject_name":"Anatomy","topic_name":"Urinary tract","id":"e9ad821a","choice_type":"single"}',
  '{"question":"Q?","cop":1,"opa":"w","opb":"x","opc":"y","opd":"z","id":"b2"}',
].join('\n');

const FRENCH = [
  '{"id": "f1", "question": "Parmi les propositions suivantes, lesquelles sont exactes?", "answers": {"a": "un", "b": "deux", "c": "trois", "d": "quatre", "e": "cinq"}, "correct_answers": ["a", "d", "e"], "subject_name": "pharmacie", "type": "multiple", "nbr_correct_answers": 3}',
  '{"id": "f2", "question": "Laquelle?", "answer_a": "un", "answer_b": "deux", "answer_c": "trois", "answer_d": "quatre", "answer_e": "cinq", "correct_answers": [1], "subject_name": "pharmacie"}',
].join('\n');

const MMLU = [
  'Find the degree of the extension Q(sqrt(2)) over Q.,0,4,2,6,C',
  '"Which statement is true?\nStatement 1 | ""quoted"", with a comma",True,False,"Both, true",Neither,a',
  '',
].join('\r\n');

describe('MCQ formats', () => {
  it('our JSONL, with optional progressive-case keys', () => {
    const r = parseMcq(MQG, 'ours.jsonl');
    expect(r).toEqual([
      { id: 'q1', question: 'Q1?', options: ['a', 'b', 'c'], answer: [0, 2], source: 's', chapter: 'c1' },
      { id: 'q2', question: 'Q2?', options: ['x', 'y'], answer: [1], source: 's', chapter: 'c2', caseId: 'k', caseOrder: 2 },
    ]);
    expect(detectMcqFormat(MQG, 'ours.jsonl')).toBe('mqg');
  });

  it('MedQA: options {A..E}, answer_idx letter', () => {
    const r = parseMcq(MEDQA, 'medqa.jsonl');
    expect(detectMcqFormat(MEDQA)).toBe('medqa');
    expect(r[0]).toEqual({
      id: 'medqa-1', question: 'A 23-year-old ...?', options: ['Ampicillin', 'Ceftriaxone', 'Doxycycline', 'Nitrofurantoin', 'TMP-SMX'],
      answer: [0], source: 'medqa', chapter: 'step2&3',
    });
    expect(r[1]!.options).toEqual(['one', 'two', 'three', 'four']);
    expect(r[1]!.answer).toEqual([3]);
  });

  it('MedMCQA: opa..opd, cop 1-based (original) or 0-based (medmcqa-hf)', () => {
    const r = parseMcq(MEDMCQA, 'medmcqa.jsonl');
    expect(detectMcqFormat(MEDMCQA)).toBe('medmcqa');
    expect(r[0]).toEqual({
      id: 'e9ad821a', question: 'Chronic urethral obstruction causes?', options: ['Hyperplasia', 'Hyperophy', 'Atrophy', 'Dyplasia'],
      answer: [2], source: 'medmcqa', chapter: 'Anatomy / Urinary tract',
    });
    expect(r[1]!.answer).toEqual([0]);
    expect(parseMcq(MEDMCQA, 'medmcqa.jsonl', 'medmcqa-hf').map((x) => x.answer)).toEqual([[3], [1]]);
  });

  it('FrenchMedMCQA: several correct letters (answers object or answer_a.., letters or class indexes)', () => {
    const r = parseMcq(FRENCH, 'french.jsonl');
    expect(detectMcqFormat(FRENCH)).toBe('frenchmedmcqa');
    expect(r[0]).toMatchObject({ id: 'f1', options: ['un', 'deux', 'trois', 'quatre', 'cinq'], answer: [0, 3, 4], source: 'frenchmedmcqa', chapter: 'pharmacie' });
    expect(r[1]).toMatchObject({ id: 'f2', options: ['un', 'deux', 'trois', 'quatre', 'cinq'], answer: [1] });
    // the same records as one JSON array (FrenchMedMCQA's train.json)
    const arr = `[${FRENCH.split('\n').join(',\n')}]`;
    expect(parseMcq(arr, 'train.json')).toEqual(r);
  });

  it('MMLU CSV with RFC 4180 quoting', () => {
    expect(detectMcqFormat(MMLU, 'abstract_algebra_test.csv')).toBe('mmlu');
    const r = parseMcq(MMLU, 'data/abstract_algebra_test.csv');
    expect(r).toEqual([
      { id: 'abstract_algebra_test-1', question: 'Find the degree of the extension Q(sqrt(2)) over Q.', options: ['0', '4', '2', '6'], answer: [2], source: 'mmlu', chapter: 'abstract_algebra' },
      { id: 'abstract_algebra_test-2', question: 'Which statement is true?\nStatement 1 | "quoted", with a comma', options: ['True', 'False', 'Both, true', 'Neither'], answer: [0], source: 'mmlu', chapter: 'abstract_algebra' },
    ]);
    expect(parseCsv('a,"b\nc"\n"d",\n', 'x.csv')).toEqual([{ line: 1, fields: ['a', 'b\nc'] }, { line: 3, fields: ['d', ''] }]);
  });

  it('bad records name the file, line and field', () => {
    const bad = (text: string, name: string, msg: string | RegExp, format?: Parameters<typeof parseMcq>[2]) => {
      expect(() => parseMcq(text, name, format)).toThrow(McqFormatError);
      expect(() => parseMcq(text, name, format)).toThrow(msg);
    };
    bad(`${MEDQA}\n${MEDQA.split('\n')[1]!.replace('"d"', '"F"')}`, 'm.jsonl', 'm.jsonl:3: "answer_idx" must be one of the option letters A, B, C, D; got "F"');
    bad(MEDQA.replace('"B": "Ceftriaxone"', '"B": ""'), 'm.jsonl', 'm.jsonl:1: "options.B" must be a non-empty string');
    bad(MEDMCQA.replace('"cop":1', '"cop":0'), 'mm.jsonl', /^mm\.jsonl:2: "cop" must be an integer 1\.\.4 .*medmcqa-hf/);
    bad(MEDMCQA.replace('"opd":"z",', ''), 'mm.jsonl', 'mm.jsonl:2: missing key "opd"');
    bad(FRENCH.replace('["a", "d", "e"]', '["a", "f"]'), 'fr.jsonl', 'fr.jsonl:1: "correct_answers": "f" is not one of the 5 option letters');
    bad(`[${FRENCH.replace('\n', ',').replace('"correct_answers": [1]', '"correct_answers": []')}]`, 'fr.json', 'fr.json: record 2: "correct_answers" must be a non-empty array');
    bad(`${MMLU}"open,x,y,z,w,A\n`, 'q.csv', 'q.csv:4: unterminated quoted field');
    bad('q,a,b,c,d,E\n', 'q.csv', 'q.csv:1: field "answer" must be A, B, C or D; got "E"');
    bad('q,a,b,c\n', 'q.csv', 'q.csv:1: expected 6 fields');
    bad(MQG.replace('"case_order":2', '"case_order":"2"'), 'o.jsonl', 'o.jsonl:3: "case_order" must be an integer');
    bad('{"foo": 1}\n', 'w.jsonl', /w\.jsonl: cannot tell the multiple-choice format .* --format/);
    bad(MQG, 'o.jsonl', 'o.jsonl: unknown multiple-choice format "xml"', 'xml' as never);
    // a format chosen explicitly that does not match the records
    bad(MEDQA, 'm.jsonl', 'm.jsonl:1: missing key "opa"', 'medmcqa');
  });
});
