// The house rules of src/, checked from the sources (run by tests/package/house.test.ts, and on its
// own: `node scripts/check-house.mjs`, exit 1 on a breach):
//   1. layers point down only: util → gpu → kernels → model → train → cli (files directly in src/
//      are the package's entries, on top); an import of a higher layer is a breach;
//   2. no import circle among src files (type-only imports and re-exports count);
//   3. no function longer than MAX_FUNCTION_LINES lines.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

export const LAYERS = ['util', 'gpu', 'kernels', 'model', 'train', 'cli'];
export const MAX_FUNCTION_LINES = 150;

function sourceFiles(dir) {
  const out = [];
  for (const f of readdirSync(dir)) {
    const p = join(dir, f);
    if (statSync(p).isDirectory()) out.push(...sourceFiles(p));
    else if (/\.m?ts$/.test(f)) out.push(p);
  }
  return out.sort();
}

/** The layer index of a file under root; files directly in root are the entries (above every layer). */
export function layerOf(root, file) {
  const parts = relative(root, file).split('/');
  return parts.length === 1 ? LAYERS.length : LAYERS.indexOf(parts[0]);
}

function resolveSpec(from, spec) {
  const base = resolve(dirname(from), spec).replace(/\.(js|ts|mjs)$/, '');
  return [`${base}.ts`, `${base}.mts`, `${base}/index.ts`, `${base}.d.ts`].find((c) => existsSync(c));
}

/** Relative imports and re-exports of a file (static, dynamic, type-only), resolved to files. */
function importsOf(file, sf) {
  const specs = [];
  const visit = (node) => {
    if ((ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) specs.push(node.moduleSpecifier.text);
    else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword && node.arguments[0] && ts.isStringLiteral(node.arguments[0])) specs.push(node.arguments[0].text);
    else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument) && ts.isStringLiteral(node.argument.literal)) specs.push(node.argument.literal.text);
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return specs.filter((s) => s.startsWith('.')).map((s) => resolveSpec(file, s)).filter(Boolean);
}

function longFunctions(file, sf, max) {
  const out = [];
  const visit = (node) => {
    if (ts.isFunctionLike(node) && node.body) {
      const start = sf.getLineAndCharacterOfPosition(node.getStart(sf)).line;
      const end = sf.getLineAndCharacterOfPosition(node.end).line;
      const lines = end - start + 1;
      if (lines > max) {
        const name = node.name?.getText(sf) ?? (ts.isVariableDeclaration(node.parent) ? node.parent.name.getText(sf) : '(anonymous)');
        out.push({ file, line: start + 1, name, lines });
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return out;
}

/** Strongly connected components of more than one file (or a file importing itself). */
function circles(graph) {
  let index = 0;
  const idx = new Map(), low = new Map(), stack = [], on = new Set(), out = [];
  const strong = (v) => {
    idx.set(v, index); low.set(v, index); index++; stack.push(v); on.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!graph.has(w)) continue;
      if (!idx.has(w)) { strong(w); low.set(v, Math.min(low.get(v), low.get(w))); }
      else if (on.has(w)) low.set(v, Math.min(low.get(v), idx.get(w)));
    }
    if (low.get(v) === idx.get(v)) {
      const c = [];
      let w;
      do { w = stack.pop(); on.delete(w); c.push(w); } while (w !== v);
      if (c.length > 1 || (graph.get(v) ?? []).includes(v)) out.push(c.sort());
    }
  };
  for (const v of graph.keys()) if (!idx.has(v)) strong(v);
  return out;
}

/** Every breach of the house rules under root (default: this checkout's src/). */
export function checkHouse(root = resolve(dirname(fileURLToPath(import.meta.url)), '..', 'src'), max = MAX_FUNCTION_LINES) {
  const graph = new Map();
  const wrongWay = [], long = [];
  for (const file of sourceFiles(root)) {
    const sf = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
    const deps = importsOf(file, sf);
    graph.set(file, deps);
    for (const d of deps) if (layerOf(root, d) > layerOf(root, file)) wrongWay.push({ from: relative(root, file), to: relative(root, d) });
    long.push(...longFunctions(relative(root, file), sf, max));
  }
  const cycles = circles(graph).map((c) => c.map((f) => relative(root, f)));
  return { files: graph.size, wrongWay, cycles, long };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const r = checkHouse(process.argv[2] ? resolve(process.argv[2]) : undefined);
  for (const w of r.wrongWay) console.log(`wrong-way import: ${w.from} -> ${w.to}`);
  for (const c of r.cycles) console.log(`import circle: ${c.join(' -> ')}`);
  for (const f of r.long) console.log(`function of ${f.lines} lines (max ${MAX_FUNCTION_LINES}): ${f.file}:${f.line} ${f.name}`);
  const n = r.wrongWay.length + r.cycles.length + r.long.length;
  console.log(`${r.files} files: ${r.wrongWay.length} wrong-way imports, ${r.cycles.length} circles, ${r.long.length} functions over ${MAX_FUNCTION_LINES} lines`);
  process.exit(n ? 1 : 0);
}
