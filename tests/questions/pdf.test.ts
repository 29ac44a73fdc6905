// PDF input for `mqg questions`: a two-page PDF written here by hand (not by the library that reads
// it: catalog, pages, Helvetica, content streams, an xref table with the byte offsets) is read as
// Markdown (18-pt lines as `#` headings, a 14-pt line as `##`, 11-pt lines joined into paragraphs,
// the page numbers dropped; running headers and footers dropped, a paragraph joined over a page
// break), and the CLI's cloze run on it gives questions whose chapter is the
// PDF's heading path. A corrupt, encrypted or textless PDF fails with one line naming the file.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { mqg } from '../helpers/cli';
import { readPdfAsMarkdown } from '../../src/train/questions/pdf.node';
import { readMcqFile } from '../../src/train/data/mcq.node';

/** A PDF 1.4 file with one page per content stream, the font /F1 (Helvetica) on every page. */
function writePdf(pages: string[], trailerExtra = ''): Buffer {
  const objs = [
    '<< /Type /Catalog /Pages 2 0 R >>',
    `<< /Type /Pages /Kids [${pages.map((_, i) => `${4 + 2 * i} 0 R`).join(' ')}] /Count ${pages.length} >>`,
    '<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>',
    ...pages.flatMap((c, i) => [
      `<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> >> /Contents ${5 + 2 * i} 0 R >>`,
      `<< /Length ${Buffer.byteLength(c, 'latin1')} >>\nstream\n${c}\nendstream`,
    ]),
  ];
  let out = '%PDF-1.4\n';
  const offsets: number[] = [];
  objs.forEach((o, i) => {
    offsets.push(Buffer.byteLength(out, 'latin1'));
    out += `${i + 1} 0 obj\n${o}\nendobj\n`;
  });
  const xref = Buffer.byteLength(out, 'latin1');
  out += `xref\n0 ${objs.length + 1}\n0000000000 65535 f \n${offsets.map((o) => `${String(o).padStart(10, '0')} 00000 n \n`).join('')}`;
  out += `trailer\n<< /Size ${objs.length + 1} /Root 1 0 R${trailerExtra} >>\nstartxref\n${xref}\n%%EOF\n`;
  return Buffer.from(out, 'latin1');
}

/** One line of text at (x, y) in points, `size` points high. */
const text = (x: number, y: number, size: number, s: string) => `BT /F1 ${size} Tf ${x} ${y} Td (${s}) Tj ET`;
/** The body: 11-pt lines 14 pt apart, paragraphs 26 pt apart, from y = 690 down. */
function body(paragraphs: string[][], top = 690): string[] {
  const out: string[] = [];
  let y = top;
  for (const p of paragraphs) {
    for (const l of p) out.push(text(72, y, 11, l)), (y -= 14);
    y -= 12;
  }
  return out;
}

const PAGES = [
  [
    text(72, 730, 18, 'Inflammation of the Heart'),
    ...body([
      ['Myocarditis is inflammation of the heart muscle and often fol-', 'lows a viral infection of the upper airways.',
        'Pericarditis causes sharp chest pain that eases when the patient sits forward.'],
      ['Endocarditis infects the heart valves and needs long courses of antibiotics.', 'Aortitis narrows the aorta in older patients.'],
    ]),
    text(300, 40, 9, '1'),
  ].join('\n'),
  [
    text(72, 730, 18, 'Inflammation of the Gut'),
    text(72, 706, 14, 'Upper tract'),
    ...body([
      ['Gastritis follows infection with Helicobacter pylori or the use of aspirin.', 'Esophagitis causes pain on swallowing after acid reflux.'],
      ['Hepatitis raises the liver enzymes in the blood.', 'Pancreatitis causes severe pain in the upper abdomen after heavy drinking.'],
      ['Cholecystitis follows a gallstone blocking the cystic duct.', 'Appendicitis causes pain that moves to the right lower abdomen.'],
    ], 680),
    text(300, 40, 9, '2'),
  ].join('\n'),
];

const EXPECTED = `# Inflammation of the Heart

Myocarditis is inflammation of the heart muscle and often follows a viral infection of the upper airways. Pericarditis causes sharp chest pain that eases when the patient sits forward.

Endocarditis infects the heart valves and needs long courses of antibiotics. Aortitis narrows the aorta in older patients.

# Inflammation of the Gut

## Upper tract

Gastritis follows infection with Helicobacter pylori or the use of aspirin. Esophagitis causes pain on swallowing after acid reflux.

Hepatitis raises the liver enzymes in the blood. Pancreatitis causes severe pain in the upper abdomen after heavy drinking.

Cholecystitis follows a gallstone blocking the cystic duct. Appendicitis causes pain that moves to the right lower abdomen.
`;

describe('mqg questions --text book.pdf', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mqg-pdf-'));
  const book = join(dir, 'book.pdf');
  writeFileSync(book, writePdf(PAGES));

  it('reads the PDF as Markdown: headings by font size, paragraphs by line spacing, page numbers dropped', async () => {
    expect(await readPdfAsMarkdown(book)).toBe(EXPECTED);
  });

  it('drops running headers and footers, and joins a paragraph that goes on over a page break', async () => {
    const page = (n: number, lines: string[][]) => [text(72, 760, 9, 'Cardiology Handbook'), ...body(lines, 720), text(250, 40, 9, `Valves - ${n + 11}`)].join('\n');
    const file = join(dir, 'running.pdf');
    writeFileSync(file, writePdf([
      page(1, [['The mitral valve lies between the left atrium and the left ventricle, and it']]),
      page(2, [['closes when the ventricle contracts.'], ['The aortic valve opens into the aorta.']]),
      page(3, [['Stenosis narrows a valve.']]),
    ]));
    expect(await readPdfAsMarkdown(file)).toBe([
      'The mitral valve lies between the left atrium and the left ventricle, and it closes when the ventricle contracts.',
      'The aortic valve opens into the aorta.',
      'Stenosis narrows a valve.',
    ].join('\n\n') + '\n');
  });

  it('the CLI makes cloze questions from it, each with the heading path as its chapter', () => {
    const out = join(dir, 'out');
    const r = mqg('questions', '--generator', 'cloze', '--text', book, '--out', out);
    expect(r.status, r.stdout + r.stderr).toBe(0);
    const records = readMcqFile(join(out, 'questions.jsonl'));
    // Two sections, two passages, three questions (the default --per-passage) from each.
    expect(records.map((q) => q.chapter)).toEqual([...Array(3).fill('Inflammation of the Heart'), ...Array(3).fill('Inflammation of the Gut / Upper tract')]);
    expect(readFileSync(join(out, 'corpus.txt'), 'utf8')).not.toMatch(/^\s*[12]\s*$/m);
  });

  it.each([
    ['not a PDF at all', Buffer.from('these are not the bytes of a PDF\n'), /not a valid PDF/],
    ['a PDF cut short', writePdf(PAGES).subarray(0, 60), /not a valid PDF/],
    ['a PDF without text (a scan)', writePdf(['0 0 m 100 100 l S']), /no text layer/],
    ['an encrypted PDF', writePdf(PAGES, ` /Encrypt << /Filter /Standard /V 1 /R 2 /O <${'ab'.repeat(32)}> /U <${'cd'.repeat(32)}> /P -4 >> /ID [<${'01'.repeat(16)}> <${'01'.repeat(16)}>]`), /encrypted/],
  ])('%s: one line naming the file, a non-zero exit, no stack trace', (_, bytes, reason) => {
    const bad = join(dir, 'bad.pdf');
    writeFileSync(bad, bytes);
    const r = mqg('questions', '--generator', 'cloze', '--text', bad, '--out', join(dir, 'bad-out'));
    expect(r.status).not.toBe(0);
    const lines = r.stderr.trim().split('\n');
    expect(lines, r.stderr).toHaveLength(1);
    expect(lines[0]).toContain(bad);
    expect(lines[0]).toMatch(reason);
    expect(r.stderr + r.stdout).not.toMatch(/\n\s+at /);
  });
});
