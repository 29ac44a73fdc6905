// PDF -> Markdown for `mqg questions --text book.pdf`: the text read by pdf.js (through unpdf, which
// bundles a pdf.js build with no native dependencies; imported only when a PDF is given), page by
// page in content-stream order, so that passages.ts cuts it as it cuts a Markdown file.
//
// Lines: the text items that share a baseline (within 0.4 of their font size), joined with a space
// where a gap is visible. Headings: a PDF has no heading marks, so a line whose font is clearly
// larger (at least 1.15x) than the body's (the median size over all characters) is a heading; the
// distinct heading sizes, largest first, give the levels `#`, `##`, ... (at most six). Paragraphs:
// body lines joined until a vertical gap wider than the usual line spacing, a line that goes back
// up the page, or a new page after a line that ends a sentence; a word hyphenated at a line's end is
// joined. Dropped: bare page numbers ("12", "Page 3", "iv", "3 of 10") and running headers and
// footers (a page's first or last line that, digits aside, recurs on at least half the pages, when
// there are at least three). Font weight is not used: pdf.js's text content does not report it.

import { readFileSync } from 'node:fs';
import { DataError } from '../../util/errors';

/** One text item as pdf.js reports it (TextItem; marked-content items have no `str`). */
interface Item { str?: string; transform?: number[]; width?: number; hasEOL?: boolean }
interface Line { text: string; size: number; x: number; y: number; page: number }

/** The heading ratio: a line this much larger than the body font is a heading. */
const HEADING_RATIO = 1.15;

/** `file` (a PDF) as Markdown text: headings as `#` lines, paragraphs between blank lines. */
export async function readPdfAsMarkdown(file: string): Promise<string> {
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(readFileSync(file));
  } catch (e) {
    throw new DataError(`cannot read PDF file ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  const pages = await pdfPageItems(file, bytes);
  const lines = dropRunningLines(pages.map((items, i) => pageLines(items, i)));
  const text = toMarkdown(lines);
  if (text.trim() === '') throw new DataError(`${file}: the PDF has no text layer (a scanned book? run OCR on it first)`);
  return text;
}

/** Every page's text items, in order; a DataError naming the file when pdf.js cannot open it. */
async function pdfPageItems(file: string, bytes: Uint8Array): Promise<Item[][]> {
  const { getDocumentProxy } = await import('unpdf');
  let doc: Awaited<ReturnType<typeof getDocumentProxy>> | undefined;
  try {
    // verbosity 0: pdf.js's own warnings ("Indexing all PDF objects") would otherwise go to the console.
    doc = await getDocumentProxy(bytes, { verbosity: 0, isEvalSupported: false });
    const pages: Item[][] = [];
    for (let p = 1; p <= doc.numPages; p++) {
      const page = await doc.getPage(p);
      pages.push((await page.getTextContent()).items as Item[]);
      page.cleanup();
    }
    return pages;
  } catch (e) {
    const err = e as Error;
    const reason = err.name === 'PasswordException' ? 'it is encrypted (password-protected); decrypt it first'
      : err.name === 'InvalidPDFException' ? `not a valid PDF (${err.message})`
        : `cannot read the PDF (${err.message})`;
    throw new DataError(`${file}: ${reason}`);
  } finally {
    await doc?.destroy().catch(() => undefined);
  }
}

/** A page's items grouped into lines: a new line where the baseline moves or an item ends one. */
function pageLines(items: Item[], page: number): Line[] {
  const lines: Line[] = [];
  let cur: (Line & { end: number; chars: number }) | undefined;
  let broken = false;
  for (const it of items) {
    if (it.str === undefined || !it.transform) continue;
    const [, , c = 0, d = 0, x = 0, y = 0] = it.transform;
    const size = Math.hypot(c, d);
    if (it.str.trim() !== '') {
      const same = cur && !broken && Math.abs(y - cur.y) <= 0.4 * Math.max(size, cur.size);
      if (!same) {
        if (cur) lines.push(cur);
        cur = { text: it.str, size, x, y, page, end: x + (it.width ?? 0), chars: it.str.length };
      } else if (cur) {
        const gap = x - cur.end > 0.15 * size && !/\s$/.test(cur.text) && !/^\s/.test(it.str);
        cur.text += (gap ? ' ' : '') + it.str;
        // The line's size: the size of most of its characters (a drop cap or a footnote mark does not decide it).
        if (it.str.length > cur.chars) cur.size = size;
        cur.chars = Math.max(cur.chars, it.str.length);
        cur.end = x + (it.width ?? 0);
      }
      broken = false;
    }
    if (it.hasEOL) broken = true;
  }
  if (cur) lines.push(cur);
  return lines.map(({ text, size, x, y }) => ({ text: text.replace(/\s+/g, ' ').trim(), size, x, y, page }));
}

const PAGE_NUMBER = /^(page\s+)?(\d+|[ivxlcdm]+)(\s*(of|\/)\s*\d+)?$/i;

/** All pages' lines, less page numbers and running headers and footers. */
function dropRunningLines(pages: Line[][]): Line[] {
  const key = (l: Line) => l.text.toLowerCase().replace(/\d+/g, '#');
  const counts = new Map<string, number>();
  for (const lines of pages) {
    const ends = new Set([lines[0], lines[lines.length - 1]].filter((l) => l !== undefined).map(key));
    for (const k of ends) counts.set(k, (counts.get(k) ?? 0) + 1);
  }
  const running = (l: Line, i: number, n: number) => pages.length >= 3 && (i === 0 || i === n - 1) && (counts.get(key(l)) ?? 0) * 2 >= pages.length;
  return pages.flatMap((lines) => lines.filter((l, i) => !PAGE_NUMBER.test(l.text) && !running(l, i, lines.length)));
}

/** The median of `values`, each counted `weight(v)` times. */
function weightedMedian<T>(values: T[], at: (v: T) => number, weight: (v: T) => number): number {
  const sorted = [...values].sort((a, b) => at(a) - at(b));
  const half = sorted.reduce((s, v) => s + weight(v), 0) / 2;
  let seen = 0;
  for (const v of sorted) if ((seen += weight(v)) >= half) return at(v);
  return 0;
}

/** Lines -> Markdown: heading lines as `#` lines by size rank, body lines joined into paragraphs. */
function toMarkdown(lines: Line[]): string {
  if (lines.length === 0) return '';
  const body = weightedMedian(lines, (l) => l.size, (l) => l.text.length);
  const isHeading = (l: Line) => l.size >= body * HEADING_RATIO && l.text.length <= 200;
  const sizes = [...new Set(lines.filter(isHeading).map((l) => Math.round(l.size * 2) / 2))].sort((a, b) => b - a);
  const level = (l: Line) => Math.min(6, sizes.indexOf(Math.round(l.size * 2) / 2) + 1);
  // The usual spacing of body lines on a page; a wider gap starts a paragraph.
  const gaps: number[] = [];
  for (let i = 1; i < lines.length; i++) {
    const [a, b] = [lines[i - 1]!, lines[i]!];
    if (a.page === b.page && !isHeading(a) && !isHeading(b) && a.y - b.y > 0 && a.y - b.y < 3 * b.size) gaps.push(a.y - b.y);
  }
  const leading = gaps.length >= 3 ? weightedMedian(gaps, (g) => g, () => 1) : 1.2 * body;
  const blocks: string[] = [];
  let para = '';
  // A body paragraph that would read as Markdown markup (a `#` heading, a code fence) is escaped.
  const flush = () => void (para && blocks.push(/^(#{1,6}(\s|$)|```|~~~)/.test(para) ? `\\${para}` : para), (para = ''));
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i]!;
    const prev = lines[i - 1];
    if (isHeading(l)) {
      flush();
      // A heading set on two lines (same size, next line just below) is one heading.
      if (prev && isHeading(prev) && prev.page === l.page && level(prev) === level(l) && prev.y - l.y > 0 && prev.y - l.y < 2 * l.size) {
        blocks[blocks.length - 1] += ` ${l.text}`;
      } else blocks.push(`${'#'.repeat(level(l))} ${l.text}`);
      continue;
    }
    const gap = prev ? prev.y - l.y : 0;
    const starts = !prev || isHeading(prev)
      || (prev.page === l.page ? gap <= 0 || gap > leading * 1.25 : /[.!?:]["')\]]?$/.test(prev.text));
    if (starts) flush();
    if (!para) para = l.text;
    else if (/\p{L}-$/u.test(para) && /^\p{Ll}/u.test(l.text)) para = para.slice(0, -1) + l.text;
    else para += ` ${l.text}`;
  }
  flush();
  return `${blocks.join('\n\n')}\n`;
}
