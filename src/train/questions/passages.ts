// Textbooks -> passages: the text is read as headings and paragraphs, and each section's paragraphs
// are packed into passages of at most maxTokens tokens, cut only between paragraphs (a paragraph
// longer than that is cut between sentences, a sentence longer than that between words). A passage
// keeps its heading path as its chapter ("Cardiology / The Heart"). Exact duplicates (the same text
// after collapsing whitespace) are dropped.
//
// Markdown (.md, .markdown): ATX headings (`#` .. `######`) and setext headings (a line of `===` or
// `---` under a line), paragraphs between blank lines, fenced code blocks kept as one paragraph.
// Plain text: blocks between blank lines; a block's first line is a heading when it is short (at
// most 100 characters, 15 words) and does not end as a sentence does ([.!?,;:]), and more lines
// follow it or it stands alone; the other lines of a block are joined into paragraphs that end at a
// line ending with [.!?:] (one paragraph per line, or hard-wrapped paragraphs, both read right).

/** One input document. */
export interface TextDoc {
  /** A name for ids and the record's source, e.g. the file's base name without extension. */
  name: string;
  text: string;
  markdown: boolean;
}

/** A passage of a textbook: the unit a prompt is written from. */
export interface Passage {
  /** Stable id: `<doc name>-p<index within the doc, from 1, 4 digits>` (the index counts dropped duplicates too). */
  id: string;
  /** The document's name. */
  source: string;
  /** The heading path, joined with " / " ("" before any heading). */
  chapter: string;
  /** Paragraphs joined with a blank line. */
  text: string;
  /** Its length in tokens. */
  tokens: number;
}

interface Block {
  heading?: { level: number; text: string };
  paragraph?: string;
}

const SENTENCE_END = /[.!?,;:]$/;
const LINE_START = /^([-*+]|\d+[.)]|\|)\s?/;

function plainBlocks(text: string): Block[] {
  const out: Block[] = [];
  for (const raw of text.replace(/\r\n?/g, '\n').split(/\n[ \t]*\n/)) {
    const lines = raw.split('\n').map((l) => l.trim()).filter(Boolean);
    if (!lines.length) continue;
    const first = lines[0]!;
    if (first.length <= 100 && first.split(/\s+/).length <= 15 && !SENTENCE_END.test(first)) {
      out.push({ heading: { level: 1, text: first } });
      lines.shift();
    }
    let para: string[] = [];
    for (const line of lines) {
      para.push(line);
      if (/[.!?:]["')\]]?$/.test(line)) out.push({ paragraph: para.join(' ') }), (para = []);
    }
    if (para.length) out.push({ paragraph: para.join(' ') });
  }
  return out;
}

function markdownBlocks(text: string): Block[] {
  const out: Block[] = [];
  const lines = text.replace(/\r\n?/g, '\n').split('\n');
  let para: string[] = [];
  let fence: string | undefined;
  const flush = () => {
    // a list item or table row keeps its own line; other lines of a paragraph are joined
    if (para.length) out.push({ paragraph: fence === undefined ? para.reduce((a, l) => (LINE_START.test(l) ? `${a}\n${l}` : `${a} ${l}`)) : para.join('\n') });
    para = [];
  };
  for (const line of lines) {
    const t = line.trim();
    if (fence !== undefined) {
      para.push(line);
      if (t.startsWith(fence)) flush(), (fence = undefined);
      continue;
    }
    const f = /^(```|~~~)/.exec(t);
    if (f) {
      flush();
      fence = f[1]!;
      para.push(line);
      continue;
    }
    const atx = /^(#{1,6})\s+(.*?)\s*#*\s*$/.exec(t);
    if (atx) {
      flush();
      out.push({ heading: { level: atx[1]!.length, text: atx[2]! } });
    } else if (para.length === 1 && /^(=+|-+)$/.test(t)) {
      out.push({ heading: { level: t[0] === '=' ? 1 : 2, text: para[0]! } });
      para = [];
    } else if (t === '') flush();
    else para.push(t);
  }
  flush();
  return out;
}

/** Cuts `text` into pieces of at most `max` tokens at the first boundary kind that works: sentences, then words. */
function splitLong(text: string, max: number, count: (s: string) => number): string[] {
  const sentences = text.split(/(?<=[.!?])\s+(?=\S)/);
  const units = sentences.length > 1 ? sentences : text.split(/\s+/);
  const out: string[] = [];
  let cur = '';
  for (const u of units) {
    const next = cur ? `${cur} ${u}` : u;
    if (count(next) <= max) {
      cur = next;
      continue;
    }
    if (cur) out.push(cur);
    if (count(u) <= max) cur = u;
    else if (sentences.length > 1) out.push(...splitLong(u, max, count)), (cur = '');
    else out.push(u), (cur = ''); // one word longer than max: kept whole
  }
  if (cur) out.push(cur);
  return out;
}

/**
 * Passages of `docs`, in order: each section's paragraphs packed up to `maxTokens` (counted by
 * `count`), never across a heading. Returns the passages kept and how many exact duplicates were dropped.
 */
export function cutPassages(docs: readonly TextDoc[], maxTokens: number, count: (s: string) => number): { passages: Passage[]; duplicates: number } {
  const passages: Passage[] = [];
  const seen = new Set<string>();
  const names = new Map<string, number>();
  let duplicates = 0;
  for (const doc of docs) {
    const n = (names.get(doc.name) ?? 0) + 1;
    names.set(doc.name, n);
    const name = n === 1 ? doc.name : `${doc.name}-${n}`;
    const path: string[] = [];
    let index = 0, cur: string[] = [];
    const emit = () => {
      if (!cur.length) return;
      const text = cur.join('\n\n');
      index++;
      const key = text.replace(/\s+/g, ' ').trim();
      if (seen.has(key)) duplicates++;
      else {
        seen.add(key);
        passages.push({ id: `${name}-p${String(index).padStart(4, '0')}`, source: doc.name, chapter: path.filter(Boolean).join(' / '), text, tokens: count(text) });
      }
      cur = [];
    };
    for (const b of doc.markdown ? markdownBlocks(doc.text) : plainBlocks(doc.text)) {
      if (b.heading) {
        emit();
        path.length = Math.min(path.length, b.heading.level - 1);
        while (path.length < b.heading.level - 1) path.push('');
        path.push(b.heading.text);
        continue;
      }
      const tokens = count(b.paragraph!);
      const pieces = tokens > maxTokens ? splitLong(b.paragraph!, maxTokens, count) : [b.paragraph!];
      for (const piece of pieces) {
        if (cur.length && count([...cur, piece].join('\n\n')) > maxTokens) emit();
        cur.push(piece);
      }
    }
    emit();
  }
  return { passages, duplicates };
}
