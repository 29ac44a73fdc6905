// The parts of `mqg questions`: passages cut on headings and paragraphs, the prompt template, the
// reply's JSON (bare, fenced, inside prose) and the checks on each question.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { cutPassages } from '../../src/train/questions/passages';
import { checkTemplate, DEFAULT_PROMPT, examplesBlock, renderPrompt } from '../../src/train/questions/prompt';
import { checkReply, contentWords, groundingScore, replyJson } from '../../src/train/questions/reply';
import { chatUrl, redact, retryAfterMs, shownEndpoint } from '../../src/train/questions/client';
import { gpt2Tokenizer } from '../../src/train/tokenizer/gpt2';
import { UsageError } from '../../src/util/errors';

const words = (s: string) => s.split(/\s+/).filter(Boolean).length;

describe('passages', () => {
  it('Markdown: the heading path is the chapter, sections never share a passage, duplicates are dropped', () => {
    const md = '# Cardiology\n\nIntro text.\n\n## Valves\n\nThe mitral valve.\nIt has two cusps.\n\nSecond paragraph.\n\n### Deep\n\nDeep text.\n\n## Rhythm\n\nSinus rhythm.\n\nNodes\n-----\n\nThe AV node.\n\n# Kidney\n\nIntro text.\n';
    const { passages, duplicates } = cutPassages([{ name: 'book', text: md, markdown: true }], 400, words);
    expect(passages.map((p) => [p.id, p.chapter, p.text])).toEqual([
      ['book-p0001', 'Cardiology', 'Intro text.'],
      ['book-p0002', 'Cardiology / Valves', 'The mitral valve. It has two cusps.\n\nSecond paragraph.'],
      ['book-p0003', 'Cardiology / Valves / Deep', 'Deep text.'],
      ['book-p0004', 'Cardiology / Rhythm', 'Sinus rhythm.'],
      ['book-p0005', 'Cardiology / Nodes', 'The AV node.'],
    ]);
    expect(duplicates).toBe(1); // Kidney's "Intro text." (its id book-p0006 is not reused)
  });

  it('Markdown: list items and table rows keep their lines, fenced code its text', () => {
    const md = '## Drugs\n\nThree drugs:\n- aspirin\n- heparin\n  and more\n\n| a | b |\n| 1 | 2 |\n\n```\ncode  line\n\nmore\n```\n';
    const { passages } = cutPassages([{ name: 'd', text: md, markdown: true }], 400, words);
    expect(passages.map((p) => p.text)).toEqual(['Three drugs:\n- aspirin\n- heparin and more\n\n| a | b |\n| 1 | 2 |\n\n```\ncode  line\n\nmore\n```']);
  });

  it('plain text: a short line without a full stop opening a block is a heading; one paragraph per line or hard-wrapped', () => {
    const text = 'The Heart\nThe heart has four chambers.\nIt pumps blood.\n\nKidney Function\nThe kidney filters\nplasma and makes\nurine.\n';
    const { passages } = cutPassages([{ name: 'topics', text, markdown: false }], 400, words);
    expect(passages.map((p) => [p.chapter, p.text])).toEqual([
      ['The Heart', 'The heart has four chambers.\n\nIt pumps blood.'],
      ['Kidney Function', 'The kidney filters plasma and makes urine.'],
    ]);
  });

  it('packs paragraphs up to --passage-tokens GPT-2 tokens, cutting a long paragraph between sentences', () => {
    const tok = gpt2Tokenizer();
    const count = (s: string) => tok.encode(s).length;
    const para = (i: number) => Array.from({ length: 6 }, (_, k) => `Sentence ${k} of paragraph ${i} tells a fact about the heart.`).join(' ');
    const text = `Title\n\n${[0, 1, 2, 3, 4].map(para).join('\n\n')}\n\n${Array.from({ length: 40 }, (_, k) => `Long ${k} sentence here.`).join(' ')}\n`;
    const { passages } = cutPassages([{ name: 'x', text, markdown: false }], 120, count);
    expect(passages.length).toBeGreaterThan(3);
    for (const p of passages) {
      expect(p.tokens).toBe(count(p.text));
      expect(p.tokens).toBeLessThanOrEqual(120);
      expect(p.text).toMatch(/\.$/); // never cut inside a sentence
    }
    expect(passages.map((p) => p.text).join(' ').replace(/\s+/g, ' ')).toBe(text.slice('Title\n\n'.length).replace(/\s+/g, ' ').trim());
  });
});

describe('prompt', () => {
  it('fills the placeholders once and checks the template', () => {
    expect(renderPrompt('{chapter}|{n}|{options}|{examples}|{passage}', { passage: 'P {n}', chapter: 'C', n: 3, examples: 'E', options: 5 })).toBe('C|3|5|E|P {n}');
    for (const p of ['{passage}', '{chapter}', '{n}', '{examples}', '{options}']) expect(DEFAULT_PROMPT).toContain(p);
    expect(() => checkTemplate('no passage', 'p.txt')).toThrow(UsageError);
    expect(() => checkTemplate('{passage} {topic}', 'p.txt')).toThrow('p.txt: unknown placeholder {topic}');
    const ex = examplesBlock([{ id: 'a', question: 'Q?', options: ['x', 'y', 'z'], answer: [0, 2], source: 's', chapter: 'c' }]);
    expect(ex).toContain('Question: Q?\nA. x\nB. y\nC. z\nAnswer: A, C');
    expect(examplesBlock([])).toBe('');
  });

  it('docs/commands.md prints the default prompt as it is', () => {
    expect(readFileSync('docs/commands.md', 'utf8')).toContain('```text\n' + DEFAULT_PROMPT + '\n```');
  });
});

describe('replies', () => {
  const Q = { question: 'Q?', options: ['alpha cells', 'beta cells', 'gamma', 'delta', 'epsilon'], answers: ['B'], explanation: 'e' };
  const check = (text: string, minGrounding = 0) => checkReply(text, 'Insulin comes from the beta cells.', { options: 5, minGrounding, seen: new Set() });

  it('reads bare, fenced and embedded JSON', () => {
    const o = { questions: [Q] };
    expect(replyJson(JSON.stringify(o)).value).toEqual(o);
    expect(replyJson('```json\n' + JSON.stringify(o) + '\n```').value).toEqual(o);
    expect(replyJson('Sure:\n```\n' + JSON.stringify(o) + '\n```').value).toEqual(o);
    expect(replyJson('Here: ' + JSON.stringify(o) + ' done').value).toEqual(o);
    expect(replyJson('no json here').error).toBe('no JSON object in the reply');
    expect(replyJson('{"questions": [').error).toMatch(/^the reply is not valid JSON/);
  });

  it('keeps valid questions with their grounding, rejects the rest with a reason', () => {
    const r = check(JSON.stringify({ questions: [Q, { ...Q, question: 'Other?', answers: 'a, b' }, { ...Q, question: 'Q3?', answers: ['A', 'A'] }] }));
    expect(r.kept.map((k) => [k.question, k.answer, k.grounding])).toEqual([['Q?', [1], 1], ['Other?', [0, 1], 0.75], ['Q3?', [0], 0.5]]);
    expect(check(JSON.stringify({ questions: [Q] }), 0.9).kept.length).toBe(1);
    expect(check(JSON.stringify({ questions: [{ ...Q, answers: ['C'] }] }), 0.9).rejected[0]!.reason).toBe('grounding 0.00 below --min-grounding 0.9');
    expect(check('{"items": []}').rejected[0]!.reason).toBe('the reply has no "questions" array');
    expect(check('{"questions": []}').rejected[0]!.reason).toBe('the reply has no questions');
    expect(check(JSON.stringify({ case: 3, questions: [Q] })).rejected[0]!.reason).toBe('"case" must be a string');
  });

  it('content words and grounding', () => {
    expect(contentWords('The beta cells of the Pancreas!')).toEqual(['beta', 'cell', 'pancrea']);
    expect(groundingScore(['of the'], 'anything')).toBe(1);
    expect(groundingScore(['beta cells', 'liver'], 'beta cells')).toBeCloseTo(2 / 3);
  });
});

describe('endpoint client parts', () => {
  it('URLs, redaction and Retry-After', () => {
    expect(chatUrl('http://h:1/v1/')).toBe('http://h:1/v1/chat/completions');
    expect(chatUrl('http://h:1/v1/chat/completions')).toBe('http://h:1/v1/chat/completions');
    expect(shownEndpoint('https://user:pw@h.example/v1?key=abc')).toBe('https://h.example/v1');
    expect(redact('a sk-1 b sk-1', 'sk-1')).toBe('a *** b ***');
    expect(retryAfterMs('2')).toBe(2000);
    expect(retryAfterMs('0.5')).toBe(500);
    expect(retryAfterMs(new Date(10_000).toUTCString(), 4_000)).toBe(6000);
    expect(retryAfterMs(null)).toBeUndefined();
    expect(retryAfterMs('soon')).toBeUndefined();
  });
});
