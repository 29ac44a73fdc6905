// The package the way users get it: build a clean copy of the repository, `npm pack` it, unpack
// the tarball into a fresh app (its declared dependencies linked from this repository's
// node_modules: no network), then
//  - typecheck an import of every entry in fresh TypeScript projects under `nodenext`, `node16`
//    and `bundler` resolution, and check that the types name exactly what each entry exports at
//    run time under that condition (node for nodenext/node16, browser for bundler);
//  - import every entry in Node ESM, each alone in its own process (each opens Dawn by itself);
//  - run examples/api.mjs (the README's example) against the installed package;
//  - bundle every browser entry with esbuild for the browser (no Node built-ins may be reached),
//    and check that an app using only createGPU does not ship the GPT-2 BPE ranks;
//  - run publint and "are the types wrong" on the tarball: both must report nothing.
import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const ROOT = resolve(__dirname, '../..');
const MODULES = realpathSync(join(ROOT, 'node_modules'));
const BIN = (name: string) => join(MODULES, '.bin', name);
const MODES = ['nodenext', 'node16', 'bundler'] as const;

interface Packed { filename: string; size: number; unpackedSize: number; entryCount: number; files: { path: string; size: number }[] }
type Exports = Record<string, string | Record<string, string | Record<string, string>>>;

let work = '';
let app = '';
let tarball = '';
let packed: Packed;
let pkg: { name: string; version: string; exports: Exports; dependencies: Record<string, string> };
/** Entry subpath ('.', './model', ...) -> the names it exports at run time, per condition. */
const runtimeNames: Record<'node' | 'browser', Record<string, string[]>> = { node: {}, browser: {} };

const specifier = (sub: string) => (sub === '.' ? pkg.name : `${pkg.name}/${sub.slice(2)}`);
const entries = () => Object.keys(pkg.exports).filter((k) => k !== './package.json');
/** Whether an entry has a `browser` condition (Node-only entries have none). */
const hasBrowser = (sub: string) => typeof pkg.exports[sub] === 'object' && 'browser' in (pkg.exports[sub] as object);
/** The file an entry resolves to under `condition` (the first matching branch, as Node and bundlers pick). */
function target(sub: string, condition: 'node' | 'browser'): string | undefined {
  let e: unknown = pkg.exports[sub];
  while (e && typeof e === 'object') {
    const branch = e as Record<string, unknown>;
    const key = [condition, 'import', 'default'].find((k) => k in branch);
    e = key ? branch[key] : undefined;
  }
  return e as string | undefined;
}

async function sh(cmd: string, args: string[], cwd: string, timeout = 120_000): Promise<string> {
  try {
    const { stdout, stderr } = await run(cmd, args, { cwd, timeout, maxBuffer: 64 << 20, env: { ...process.env, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? '/tmp' } });
    return stdout + stderr;
  } catch (e) {
    const err = e as { stdout?: string; stderr?: string; message: string };
    throw new Error(`${cmd} ${args.join(' ')} (in ${cwd}) failed:\n${err.stdout ?? ''}${err.stderr ?? ''}\n${err.message}`);
  }
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'mqg-package-'));
  // 1. A clean copy of what the package is built from, built there (the repository's dist/ is
  //    left alone: other test files use it while this one runs).
  const repo = join(work, 'repo');
  for (const f of ['package.json', 'tsconfig.json', 'README.md', 'LICENSE', 'src', 'scripts', 'bin', 'data']) {
    if (existsSync(join(ROOT, f))) cpSync(join(ROOT, f), join(repo, f), { recursive: true });
  }
  symlinkSync(MODULES, join(repo, 'node_modules'), 'dir');
  await sh(process.execPath, ['scripts/build.mjs'], repo, 300_000);
  const out = await sh('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', work], repo);
  packed = JSON.parse(out.slice(out.indexOf('['), out.lastIndexOf(']') + 1))[0];
  tarball = join(work, packed.filename);

  // 2. A fresh app: the tarball unpacked into node_modules, the declared dependencies (and only
  //    those, so a missing declaration fails) linked from this repository, plus @types/node.
  app = join(work, 'app');
  const into = join(app, 'node_modules', 'mqg-webgpu');
  mkdirSync(into, { recursive: true });
  await sh('tar', ['-xzf', tarball, '-C', into, '--strip-components=1'], work);
  pkg = JSON.parse(readFileSync(join(into, 'package.json'), 'utf8'));
  for (const dep of [...Object.keys(pkg.dependencies), '@types/node']) {
    mkdirSync(dirname(join(app, 'node_modules', dep)), { recursive: true });
    symlinkSync(join(MODULES, dep), join(app, 'node_modules', dep), 'dir');
  }
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module', dependencies: { [pkg.name]: pkg.version } }));

  // 3. What every entry exports at run time: under `node` through the package name, under
  //    `browser` from the file that condition selects (browser code imports fine in Node).
  const probe = `
    const pkg = ${JSON.stringify(pkg.name)}, subs = ${JSON.stringify(entries())}, browser = ${JSON.stringify(Object.fromEntries(entries().filter(hasBrowser).map((s) => [s, target(s, 'browser')])))};
    const out = { node: {}, browser: {} };
    for (const s of subs) {
      out.node[s] = Object.keys(await import(s === '.' ? pkg : pkg + '/' + s.slice(2))).sort();
      if (browser[s]) out.browser[s] = Object.keys(await import('./node_modules/' + pkg + '/' + browser[s].slice(2))).sort();
    }
    console.log(JSON.stringify(out));`;
  writeFileSync(join(app, 'probe.mjs'), probe);
  const names = JSON.parse((await sh(process.execPath, ['probe.mjs'], app)).trim().split('\n').pop()!);
  Object.assign(runtimeNames, names);
  // The three type checks run side by side while the other tests run (their tests come last).
  for (const mode of MODES) {
    typecheck[mode] = typecheckProject(mode);
    typecheck[mode].catch(() => {}); // reported by its own test
  }
}, 400_000);

const typecheck = {} as Record<(typeof MODES)[number], Promise<string>>;

/**
 * A fresh TypeScript project importing every entry: `Record<keyof typeof ns, true>` with the
 * entry's run-time names fails on a name the types lack (missing property) or add (excess
 * property). Under bundler resolution the types must match the browser build where the entry
 * has one. Under bundler (a browser project: no @types/node, so mqg-webgpu/node is left out)
 * skipLibCheck is off, so every .d.ts the browser entries reach is checked too; nodenext and node16
 * skip that, for time.
 */
function typecheckProject(mode: (typeof MODES)[number]): Promise<string> {
  const dir = join(app, mode);
  mkdirSync(dir, { recursive: true });
  const lines: string[] = [];
  entries().forEach((sub, i) => {
    // A browser project has no @types/node, which the Node-only entry's types use (node:fs, NodeJS.ProcessEnv).
    if (mode === 'bundler' && !hasBrowser(sub)) return;
    const names = (mode === 'bundler' ? runtimeNames.browser : runtimeNames.node)[sub]!;
    lines.push(`import * as e${i} from '${specifier(sub)}';`);
    lines.push(`export const names${i}: Record<keyof typeof e${i}, true> = { ${names.map((n) => `'${n}': true`).join(', ')} };`);
  });
  lines.push(
    `import { presetConfig, type PresetName, type GPT2Config, type ModelSource, type CreateGPUOptions } from '${pkg.name}';`,
    `export const preset: PresetName = 'mqg-tiny';`,
    `export const config: GPT2Config = presetConfig(preset, 512);`,
    `// @ts-expect-error preset names are a union type`,
    `presetConfig('gpt3');`,
    `export type Public = [ModelSource, CreateGPUOptions];`,
  );
  writeFileSync(join(dir, 'entries.ts'), lines.join('\n') + '\n');
  const compilerOptions: Record<string, unknown> = {
    strict: true, noEmit: true, skipLibCheck: mode !== 'bundler', target: 'es2022', lib: ['es2022', 'dom'],
    ...(mode === 'bundler' ? { module: 'esnext', moduleResolution: 'bundler', types: [] } : { module: mode, moduleResolution: mode, types: ['node'] }),
  };
  const files = ['entries.ts'];
  if (mode === 'nodenext') {
    // The README's example, type-checked as the JavaScript it is.
    cpSync(join(ROOT, 'examples/api.mjs'), join(dir, 'api.mjs'));
    Object.assign(compilerOptions, { allowJs: true, checkJs: true });
    files.push('api.mjs');
  }
  writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions, files }));
  return sh(process.execPath, [join(MODULES, 'typescript/bin/tsc'), '-p', 'tsconfig.json'], dir, 180_000);
}

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('the packed package', () => {
  it('ships the library, the CLI and the demo data only: no benches, no source maps, no sources', () => {
    const paths = packed.files.map((f) => f.path);
    expect(paths.filter((p) => /^dist\/bench|\.map$|^src\/|^tests\/|^bench\//.test(p))).toEqual([]);
    for (const p of ['LICENSE', 'README.md', 'package.json', 'bin/mqg.js', 'dist/node/cli.js', 'dist/lib/index.js', 'dist/lib/index.d.ts', 'dist/lib/browser.js']) {
      expect(paths).toContain(p);
    }
    expect(packed.size).toBeLessThan(400_000); // measured: about 180 kB packed
    console.log(`package: ${(packed.size / 1000).toFixed(0)} kB packed, ${(packed.unpackedSize / 1000).toFixed(0)} kB unpacked, ${packed.entryCount} files`);
    // docs/library.md states these figures; they must stay within 15% of what npm packs.
    const library = readFileSync(join(ROOT, 'docs/library.md'), 'utf8');
    const [, kb, unpackedKb, files] = library.match(/(\d+) kB packed, (\d+) kB\s+unpacked, (\d+) files/) ?? [];
    expect(Math.abs(Number(kb) * 1000 / packed.size - 1), `docs/library.md says ${kb} kB packed; npm packs ${packed.size} bytes`).toBeLessThan(0.15);
    expect(Math.abs(Number(unpackedKb) * 1000 / packed.unpackedSize - 1), `docs/library.md says ${unpackedKb} kB unpacked`).toBeLessThan(0.15);
    expect(Math.abs(Number(files) / packed.entryCount - 1), `docs/library.md says ${files} files`).toBeLessThan(0.15);
  });

  it('every entry exports the same names in its Node and browser builds, and nothing internal from the root', () => {
    for (const sub of entries()) {
      if (runtimeNames.browser[sub] && sub !== '.') expect(runtimeNames.browser[sub], sub).toEqual(runtimeNames.node[sub]);
    }
    expect(runtimeNames.browser['.']).toEqual(runtimeNames.node['.']);
    const root = runtimeNames.node['.']!;
    for (const internal of ['SETUP_HINT', 'registerPlatform', 'setMatmulVariant', 'packUniform', 'NORM_STRIDE', 'createEncoderBackwardPlan', 'Step', 'Tensor']) {
      expect(root).not.toContain(internal);
    }
    for (const name of ['createGPU', 'GPT2', 'presetConfig', 'loadModel', 'modelToSafetensors', 'generate', 'evaluateMcq', 'gpt2Tokenizer']) expect(root).toContain(name);
    expect(runtimeNames.node['./node']).toContain('saveModel');
  });

  it('imports each Node entry alone, in its own process, and each opens WebGPU by itself', async () => {
    const withDevice = entries().filter((s) => runtimeNames.node[s]!.includes('createGPU'));
    expect(withDevice).toEqual(['.', './kernels', './model', './train', './node']); // every entry that touches the GPU (issue 25: ./node too)
    for (const sub of withDevice) {
      const code = `import { createGPU } from '${specifier(sub)}'; const gpu = await createGPU(); console.log(gpu.precision); gpu.destroy();`;
      const out = await sh(process.execPath, ['--input-type=module', '-e', code], app);
      expect(out, sub).toMatch(/^(f16|f32)$/m);
    }
    const node = `import { saveModel, readCheckpoint, loadTokenizer } from '${pkg.name}/node'; console.log(typeof saveModel, typeof readCheckpoint, typeof loadTokenizer);`;
    expect(await sh(process.execPath, ['--input-type=module', '-e', node], app)).toContain('function function function');
    expect((await sh(process.execPath, ['node_modules/mqg-webgpu/bin/mqg.js', '--version'], app)).trim()).toBe(pkg.version);
    // The setup hint speaks to an installed package (a driver to install), not to a checkout.
    const noAdapter = `import { createGPU } from '${pkg.name}'; await createGPU({ gpu: { requestAdapter: async () => null } }).catch((e) => console.log(e.message));`;
    const hint = await sh(process.execPath, ['--input-type=module', '-e', noAdapter], app);
    expect(hint).toMatch(/No WebGPU adapter found\. Dawn needs a Vulkan .*mesa-vulkan-drivers/);
    expect(hint).not.toContain('npm run setup');
  }, 120_000);

  it('runs examples/api.mjs, the README example, against the installed package', async () => {
    cpSync(join(ROOT, 'examples/api.mjs'), join(app, 'api.mjs'));
    const out = await sh(process.execPath, ['api.mjs'], app, 180_000);
    expect(out).toMatch(/loss after one AdamW step: \d/);
    expect(out).toMatch(/greedy: The heart\S*/);
    expect(existsSync(join(app, 'runs/api-example/model.safetensors'))).toBe(true);
  }, 200_000);

  it('bundles examples/browser-api.mjs for the browser and runs that bundle on WebGPU (navigator.gpu from Dawn)', async () => {
    const { build } = await import('esbuild');
    await build({
      entryPoints: [join(ROOT, 'examples/browser-api.mjs')], nodePaths: [join(app, 'node_modules')], bundle: true, format: 'esm',
      platform: 'browser', target: 'es2022', outfile: join(app, 'browser-api.bundle.js'), logLevel: 'silent',
    });
    // What a browser provides: navigator.gpu (and the WebGPU globals); File and fetch exist in Node.
    writeFileSync(join(app, 'navigator-gpu.mjs'), `import { create, globals } from 'webgpu';
Object.assign(globalThis, globals);
Object.defineProperty(globalThis, 'navigator', { value: { gpu: create([]) }, configurable: true });
`);
    const out = await sh(process.execPath, ['--import', './navigator-gpu.mjs', 'browser-api.bundle.js'], app, 180_000);
    const [, first, last] = out.match(/loss (\d+\.\d+) -> (\d+\.\d+) over 30 steps/) ?? [];
    expect(Number(first)).toBeGreaterThan(Number(last) + 0.5);
    expect(out).toMatch(/greedy: The heart/);
  }, 200_000);

  it('bundles every browser entry for the browser, and an app using only createGPU without the BPE ranks', async () => {
    const { build } = await import('esbuild');
    const bundle = async (code: string) => {
      const r = await build({
        stdin: { contents: code, resolveDir: app, loader: 'js' }, bundle: true, write: false, format: 'esm', platform: 'browser',
        target: 'es2022', metafile: true, minify: true, logLevel: 'silent',
      });
      // The modules whose code is in the output (metafile.inputs also lists what was only parsed).
      const out = Object.values(r.metafile.outputs)[0]!;
      return { inputs: Object.entries(out.inputs).filter(([, v]) => v.bytesInOutput > 0).map(([f]) => f), bytes: out.bytes };
    };
    const browserEntries = entries().filter(hasBrowser);
    expect(browserEntries).toEqual(['.', './kernels', './model', './train']);
    for (const sub of browserEntries) {
      const { inputs } = await bundle(`import * as ns from '${specifier(sub)}'; globalThis.ns = ns;`);
      expect(inputs.filter((f) => f.startsWith('node:') || f.includes('node_modules/webgpu/')), sub).toEqual([]);
      expect(inputs.some((f) => f.includes('dist/lib/gpu/node.js')), sub).toBe(false);
    }
    const small = await bundle(`import { createGPU } from '${pkg.name}'; createGPU().then((g) => g.destroy());`);
    expect(small.inputs.filter((f) => f.includes('gpt-tokenizer'))).toEqual([]);
    const withTokenizer = await bundle(`import { gpt2Tokenizer } from '${pkg.name}'; console.log(gpt2Tokenizer().encode('hi'));`);
    expect(withTokenizer.inputs.some((f) => f.includes('gpt-tokenizer'))).toBe(true);
    // loadGpt2Tokenizer() loads the ranks lazily: a separate chunk, not in the app's own.
    const lazy = await build({
      stdin: { contents: `import { loadGpt2Tokenizer } from '${pkg.name}'; document.onclick = async () => console.log((await loadGpt2Tokenizer()).encode('hi'));`, resolveDir: app, loader: 'js' },
      bundle: true, splitting: true, outdir: join(app, 'lazy'), write: false, format: 'esm', platform: 'browser', target: 'es2022', metafile: true, minify: true, logLevel: 'silent',
    });
    const chunks = Object.values(lazy.metafile.outputs);
    const main = Object.values(lazy.metafile.outputs).find((o) => o.entryPoint)!;
    const hasRanks = (o: { inputs: Record<string, { bytesInOutput: number }> }) => Object.entries(o.inputs).some(([f, v]) => f.includes('gpt-tokenizer') && v.bytesInOutput > 0);
    expect(hasRanks(main)).toBe(false);
    expect(chunks.some(hasRanks)).toBe(true);
    expect(main.imports.some((i) => i.kind === 'dynamic-import')).toBe(true);
    console.log(`browser bundle, minified: createGPU only ${(small.bytes / 1024).toFixed(0)} KiB; with the GPT-2 tokenizer ${(withTokenizer.bytes / 1024).toFixed(0)} KiB`);
  }, 120_000);

  it('publint and "are the types wrong" report nothing', async () => {
    const lint = await sh(BIN('publint'), ['run', tarball, '--level', 'suggestion'], work);
    expect(lint).toContain('All good!');
    // esm-only: the package is ESM only, so CommonJS `require` and node10 resolution are out of scope.
    // It exits non-zero on a problem; ignored ones are listed with "(ignored per resolution)".
    const attw = await sh(BIN('attw'), [tarball, '--profile', 'esm-only', '--no-definitely-typed', '--format', 'ascii', '--no-color', '--no-emoji'], work);
    const problems = attw.split('\n').filter((l) => /docs\/problems\//.test(l) && !l.includes('(ignored per resolution)'));
    expect(problems).toEqual([]);
  }, 120_000);

  it.each(MODES)('typechecks an import of every entry under moduleResolution %s, with exactly the run-time names', async (mode) => {
    await typecheck[mode];
  }, 180_000);
});
