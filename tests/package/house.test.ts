// The house rules of src/ (scripts/check-house.mjs): layers point down only (util → gpu → kernels →
// model → train → cli), no import circle (type-only imports and re-exports included), no function
// over 150 lines. The checker itself is tested on a small tree that breaks each rule once, so a
// checker that finds nothing cannot pass for a clean house.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
// @ts-expect-error: a plain ESM script without type declarations
import { checkHouse, layerOf, MAX_FUNCTION_LINES } from '../../scripts/check-house.mjs';

type House = {
  files: number;
  wrongWay: { from: string; to: string }[];
  cycles: string[][];
  long: { file: string; line: number; name: string; lines: number }[];
};

describe('the house rules of src/', () => {
  const house = checkHouse() as House;

  it('reads every source file', () => {
    expect(house.files).toBeGreaterThan(100);
  });

  it('no import points up a layer (kernels → model, model → train, train → cli, gpu → kernels, ...)', () => {
    expect(house.wrongWay).toEqual([]);
  });

  it('no import circle among src files', () => {
    expect(house.cycles).toEqual([]);
  });

  it(`no function longer than ${MAX_FUNCTION_LINES} lines`, () => {
    expect(house.long.map((f) => `${f.file}:${f.line} ${f.name} (${f.lines} lines)`)).toEqual([]);
  });
});

describe('the house checker', () => {
  const root = mkdtempSync(join(tmpdir(), 'mqg-house-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));
  const write = (path: string, text: string) => {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), text);
  };
  write('util/a.ts', 'export const a = 1;\n');
  write('kernels/k.ts', "import type { Cfg } from '../model/m';\nexport const k = (c: Cfg) => c;\n"); // wrong way, type-only
  write('model/m.ts', "import { a } from '../util/a';\nexport type Cfg = { a: typeof a };\n");
  write('train/x.ts', "export { y } from './y';\nexport const x = 1;\n"); // x ↔ y through a re-export
  write('train/y.ts', "import { x } from './x.js';\nexport const y = () => import('../cli/c').then(() => x);\n"); // dynamic import up a layer
  write('cli/c.ts', `export function big(): number {\n${'  let v = 0;\n'.repeat(MAX_FUNCTION_LINES)}  return 0;\n}\n`);
  write('index.ts', "export * from './cli/c';\n");
  const h = checkHouse(root) as House;

  it('finds each breach of the small tree, and only those', () => {
    expect(h.files).toBe(7);
    expect(h.wrongWay).toEqual([
      { from: 'kernels/k.ts', to: 'model/m.ts' },
      { from: 'train/y.ts', to: 'cli/c.ts' },
    ]);
    expect(h.cycles).toEqual([['train/x.ts', 'train/y.ts']]);
    expect(h.long.map((f) => [f.file, f.name, f.lines])).toEqual([['cli/c.ts', 'big', MAX_FUNCTION_LINES + 3]]);
  });

  it('places the package entries above every layer', () => {
    expect(layerOf(root, join(root, 'index.ts'))).toBeGreaterThan(layerOf(root, join(root, 'cli/c.ts')));
    expect(layerOf(root, join(root, 'util/a.ts'))).toBe(0);
  });
});
