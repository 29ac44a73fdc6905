// The documentation promises: the README's example is examples/api.mjs as it is (the consumer
// test runs that file against the packed package), and every export of the package root carries
// JSDoc (TypeDoc's notDocumented check over the root entry reports nothing), so the API reference
// that `npm run docs` writes has no blank entries. The README is a front page over docs/*.md: every
// relative link in them reaches a file (and a heading, where it names one), every page is linked
// from the README, and what the README repeats from a page (the command table, the headline
// figures) is what that page says.
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(__dirname, '../..');
const read = (path: string) => readFileSync(resolve(ROOT, path), 'utf8');
const PAGES = readdirSync(resolve(ROOT, 'docs')).filter((f) => f.endsWith('.md')).sort().map((f) => `docs/${f}`);

/** Markdown without fenced code blocks and inline code, where a `](` is not a link. */
function prose(md: string): string {
  return md.replace(/^```[\s\S]*?^```/gm, '').replace(/`[^`\n]*`/g, '');
}

/** The targets of the inline links and images in a Markdown text. */
function links(md: string): string[] {
  return [...prose(md).matchAll(/!?\[[^\]]*\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)].map((m) => m[1]!);
}

/** GitHub's anchors for a page's headings: lower case, punctuation dropped, spaces to hyphens. */
function anchors(md: string): Set<string> {
  const headings = [...md.replace(/^```[\s\S]*?^```/gm, '').matchAll(/^#{1,6}\s+(.+?)\s*$/gm)].map((m) => m[1]!);
  return new Set(headings.map((h) => h.toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, '').replace(/\s/g, '-')));
}

/** A level-2 section of a Markdown text, from its heading to the next one. */
function section(md: string, heading: string): string {
  const at = md.indexOf(`\n## ${heading}\n`);
  expect(at, `section "## ${heading}"`).toBeGreaterThan(0);
  const end = md.indexOf('\n## ', at + 1);
  return md.slice(at, end < 0 ? undefined : end);
}

/** The rows of the first table in a text, header and separator included. */
function firstTable(md: string): string[] {
  const lines = md.split('\n');
  const start = lines.findIndex((l) => l.startsWith('| '));
  expect(start, 'a table').toBeGreaterThanOrEqual(0);
  const end = lines.findIndex((l, i) => i > start && !l.startsWith('|'));
  return lines.slice(start, end < 0 ? undefined : end);
}

describe('documentation', () => {
  it("the README's library example is examples/api.mjs, verbatim", () => {
    const readme = read('README.md');
    const example = read('examples/api.mjs').trimEnd();
    const at = readme.indexOf('This is [`examples/api.mjs`](examples/api.mjs)');
    expect(at, 'README: the sentence that introduces the example').toBeGreaterThan(0);
    const block = readme.slice(at).match(/```js\n([\s\S]*?)\n```/);
    expect(block?.[1]).toBe(example);
  });

  it('every relative link in README.md and docs/*.md reaches an existing file, and a heading where it names one', () => {
    const broken: string[] = [];
    let checked = 0;
    for (const page of ['README.md', ...PAGES]) {
      for (const target of links(read(page))) {
        if (/^[a-z][a-z+.-]*:/i.test(target)) continue; // https:, mailto:
        checked++;
        const [path, anchor] = target.split('#') as [string, string | undefined];
        const file = path ? resolve(ROOT, dirname(page), decodeURI(path)) : resolve(ROOT, page);
        if (!existsSync(file)) broken.push(`${page}: ${target} (no such file)`);
        else if (anchor !== undefined && file.endsWith('.md') && !anchors(readFileSync(file, 'utf8')).has(anchor)) {
          broken.push(`${page}: ${target} (no such heading)`);
        }
      }
    }
    expect(broken).toEqual([]);
    expect(checked).toBeGreaterThan(20);
  });

  it("every docs/ page is in the README's Documentation list", () => {
    const listed = new Set(links(section(read('README.md'), 'Documentation')));
    expect(PAGES.length).toBeGreaterThanOrEqual(10);
    for (const page of PAGES) expect(listed, `README's Documentation list links ${page}`).toContain(page);
  });

  it("the README's command table is docs/commands.md's", () => {
    const readme = firstTable(section(read('README.md'), 'The `mqg` command'));
    expect(readme.length).toBeGreaterThan(10);
    expect(readme).toEqual(firstTable(read('docs/commands.md')));
  });

  it("the README's headline figures are those of the pages they link", () => {
    const headline = section(read('README.md'), 'Headline figures');
    // The table rows: verbatim rows of the bench block in docs/benchmarks.md, from the same run.
    const bench = read('docs/benchmarks.md');
    const a = bench.indexOf('<!-- bench:start -->'), b = bench.indexOf('<!-- bench:end -->');
    expect(a, 'docs/benchmarks.md: the bench markers').toBeGreaterThan(0);
    expect(b).toBeGreaterThan(a);
    const block = bench.slice(a, b);
    const rows = firstTable(headline);
    expect(rows.length).toBeGreaterThan(3);
    const blockLines = new Set(block.split('\n'));
    for (const row of rows) expect(blockLines, `docs/benchmarks.md's bench table has the row ${row}`).toContain(row);
    const date = headline.match(/\d{4}-\d{2}-\d{2}/)?.[0];
    expect(block, "the README's date of the bench run").toContain(`Measured ${date}`);
    // Each bullet: every number in it appears in one of the pages it links.
    const bullets = headline.split('\n- ').slice(1).map((t) => t.split('\n\n')[0]!);
    expect(bullets.length).toBeGreaterThan(0);
    for (const bullet of bullets) {
      const pages = links(bullet).map((t) => read(t.split('#')[0]!));
      expect(pages.length, `a link in: ${bullet}`).toBeGreaterThan(0);
      const text = prose(bullet).replace(/\]\([^)]*\)/g, ']');
      for (const n of text.match(/\d+(?:\.\d+)?(?:e-\d+)?/g) ?? []) {
        expect(pages.some((p) => p.includes(n)), `${n} in the pages linked from: ${bullet}`).toBe(true);
      }
    }
  });

  it('TypeDoc finds JSDoc on every export of the package root (and its members)', async () => {
    const typedoc = resolve(ROOT, 'node_modules/typedoc/bin/typedoc');
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [typedoc, '--entryPoints', 'src/index.ts', '--validation.notDocumented', '--emit', 'none', '--readme', 'none', '--logLevel', 'Warn'], { cwd: ROOT, timeout: 170_000, maxBuffer: 16 << 20 });
    const missing = (stdout + stderr).split('\n').filter((l) => l.includes('does not have any documentation'));
    expect(missing).toEqual([]);
  }, 180_000);
});
