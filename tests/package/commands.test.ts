// The documentation's commands run as written: every `mqg` line of a shell block in README.md and
// docs/*.md names a command that exists, with flags it knows and values it accepts. Each line is run
// with --help appended: every command parses (and range-checks) all its flags before it looks at
// --help, then prints its usage and does nothing. And the README's recipe section has the whole
// chain (questions from an endpoint, data prepare, train with LoRA, finetune-mcq, eval-mcq, serve).
import { readdirSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { mqg } from '../helpers/cli';

const ROOT = resolve(__dirname, '../..');
const PAGES = ['README.md', ...readdirSync(resolve(ROOT, 'docs')).filter((f) => f.endsWith('.md')).sort().map((f) => `docs/${f}`)];

/** A shell line's words: quotes removed, `$NAME` / `${NAME}` replaced from `vars`, a `#` comment dropped. */
function shellWords(line: string, vars: Record<string, string>, where: string): string[] {
  const words: string[] = [];
  let word: string | undefined;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (c === '#' && word === undefined) break;
    if (/\s/.test(c)) {
      if (word !== undefined) words.push(word);
      word = undefined;
    } else if (c === "'" || c === '"') {
      const end = line.indexOf(c, i + 1);
      if (end < 0) throw new Error(`${where}: unclosed ${c}`);
      word = (word ?? '') + (c === '"' ? expand(line.slice(i + 1, end), vars, where) : line.slice(i + 1, end));
      i = end;
    } else {
      const m = /^\$(\{\w+\}|\w+)/.exec(line.slice(i));
      word = (word ?? '') + (m ? expand(m[0], vars, where) : c);
      if (m) i += m[0].length - 1;
    }
  }
  if (word !== undefined) words.push(word);
  return words;
}

function expand(s: string, vars: Record<string, string>, where: string): string {
  return s.replace(/\$(?:\{(\w+)\}|(\w+))/g, (_, a: string | undefined, b: string | undefined) => {
    const v = vars[(a ?? b)!];
    if (v === undefined) throw new Error(`${where}: $${a ?? b} is not set in its block`);
    return v;
  });
}

/** The `mqg` command lines of a page's sh/bash/shell blocks (continuations joined), as words after `mqg`. */
function mqgLines(page: string): { where: string; line: string; args: string[] }[] {
  const out: { where: string; line: string; args: string[] }[] = [];
  const lines = readFileSync(resolve(ROOT, page), 'utf8').split('\n');
  let fence: string | undefined;
  let vars: Record<string, string> = {};
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i]!;
    const f = /^(`{3,})(\w*)/.exec(l);
    if (f && fence === undefined) {
      fence = ['sh', 'bash', 'shell', 'console'].includes(f[2]!) ? f[1]! : 'other';
      vars = {};
      continue;
    }
    if (fence !== undefined && l.startsWith('```') && (fence === 'other' || l.trim() === fence)) {
      fence = undefined;
      continue;
    }
    if (fence === undefined || fence === 'other') continue;
    let line = l;
    const at = i + 1;
    while (line.endsWith('\\') && i + 1 < lines.length) line = line.slice(0, -1) + ' ' + lines[++i]!;
    const where = `${page}:${at}`;
    const assign = /^\s*(?:export\s+)?(\w+)=(\S*)\s*$/.exec(line);
    if (assign) vars[assign[1]!] = assign[2]!;
    const words = shellWords(line.trim().replace(/^\$ /, ''), vars, where);
    const start = words[0] === 'npx' ? 1 : 0;
    if (words[start] === 'mqg') out.push({ where, line: line.trim(), args: words.slice(start + 1) });
  }
  return out;
}

describe('the commands in the documentation', () => {
  it('splits shell words as the shell does for these lines', () => {
    expect(shellWords(`npx mqg x --a 'b c' --d="e $V" $V/f \${V}g # note`, { V: 'v' }, 't')).toEqual(['npx', 'mqg', 'x', '--a', 'b c', '--d=e v', 'v/f', 'vg']);
    expect(() => shellWords('mqg --a $NOPE', {}, 'p:1')).toThrow('p:1: $NOPE is not set in its block');
  });

  it("every mqg line of README.md's and docs/*.md's shell blocks parses (run with --help)", () => {
    const all = PAGES.flatMap(mqgLines);
    expect(all.length).toBeGreaterThan(15);
    const failed: string[] = [];
    for (const { where, line, args } of all) {
      const r = mqg(...args, '--help');
      if (r.status !== 0 || !/^mqg [a-z -]+: /.test(r.stdout)) failed.push(`${where}: ${line}\n  -> ${(r.stderr || r.stdout).trim().split('\n')[0]}`);
    }
    expect(failed).toEqual([]);
  }, 120_000);

  it("the README's recipe section has the whole chain, from an LLM endpoint to the server", () => {
    const recipe = mqgLines('README.md').filter((l) => Number(l.where.split(':')[1]) > readFileSync(resolve(ROOT, 'README.md'), 'utf8').split('\n').indexOf('## The MQG recipe on your own textbooks'));
    const commands = recipe.map((l) => (['data', 'tokenizer'].includes(l.args[0]!) ? l.args.slice(0, 2).join(' ') : l.args[0]));
    for (const c of ['questions', 'data prepare', 'train', 'merge', 'finetune-mcq', 'eval-mcq', 'serve']) expect(commands, c).toContain(c);
    const q = recipe.find((l) => l.args[0] === 'questions')!.args;
    for (const flag of ['--endpoint', '--model', '--holdout-fraction']) expect(q, flag).toContain(flag);
    const train = recipe.find((l) => l.args[0] === 'train')!.args;
    for (const flag of ['--init', '--lora', '--mcq']) expect(train, flag).toContain(flag);
  });
});
