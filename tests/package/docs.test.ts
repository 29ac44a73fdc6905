// The documentation promises: the README's example is examples/api.mjs as it is (the consumer
// test runs that file against the packed package), and every export of the package root carries
// JSDoc (TypeDoc's notDocumented check over the root entry reports nothing), so the API reference
// that `npm run docs` writes has no blank entries.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(__dirname, '../..');

describe('documentation', () => {
  it("the README's library example is examples/api.mjs, verbatim", () => {
    const readme = readFileSync(resolve(ROOT, 'README.md'), 'utf8');
    const example = readFileSync(resolve(ROOT, 'examples/api.mjs'), 'utf8').trimEnd();
    const at = readme.indexOf('This is [`examples/api.mjs`](examples/api.mjs)');
    expect(at, 'README: the sentence that introduces the example').toBeGreaterThan(0);
    const block = readme.slice(at).match(/```js\n([\s\S]*?)\n```/);
    expect(block?.[1]).toBe(example);
  });

  it('TypeDoc finds JSDoc on every export of the package root (and its members)', async () => {
    const typedoc = resolve(ROOT, 'node_modules/typedoc/bin/typedoc');
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [typedoc, '--entryPoints', 'src/index.ts', '--validation.notDocumented', '--emit', 'none', '--readme', 'none', '--logLevel', 'Warn'], { cwd: ROOT, timeout: 170_000, maxBuffer: 16 << 20 });
    const missing = (stdout + stderr).split('\n').filter((l) => l.includes('does not have any documentation'));
    expect(missing).toEqual([]);
  }, 180_000);
});
