// `mqg questions` throughput: questions kept per minute against a scripted OpenAI-compatible server
// on loopback that answers every request with three valid questions after a fixed latency, at
// concurrency 1 and 8, on the bundled textbook text (data/corpus/topics.txt, 124 passages).
// The figure is the command's own (kept questions / the generation's wall time, startup excluded).
//
//   node scripts/build.mjs --no-types && node bench/questions.mjs [--latency-ms 0,250] [--concurrency 1,8] [--limit 124]
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
if (!existsSync(path.join(root, 'dist/node/cli.js'))) throw new Error('build first: node scripts/build.mjs --no-types');
const arg = (name, def) => {
  const i = process.argv.indexOf(`--${name}`);
  return (i > 0 ? process.argv[i + 1] : def).split(',').map(Number);
};
const latencies = arg('latency-ms', '0,250'), concurrencies = arg('concurrency', '1,8'), [limit] = arg('limit', '124');

let latency = 0, served = 0;
const server = createServer((req, res) => {
  let body = '';
  req.on('data', (d) => (body += d));
  req.on('end', () => setTimeout(() => {
    const n = ++served;
    const questions = [0, 1, 2].map((k) => ({
      question: `Scripted question ${n}.${k}?`, options: ['heart', 'lung', 'liver', 'kidney', 'brain'].map((o) => `${o} ${n}.${k}`), answers: ['A'], explanation: 'scripted',
    }));
    const content = JSON.stringify({ questions });
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ choices: [{ message: { role: 'assistant', content } }], usage: { prompt_tokens: 500, completion_tokens: 300, total_tokens: 800 } }));
  }, latency));
});
await new Promise((done) => server.listen(0, '127.0.0.1', done));
const url = `http://127.0.0.1:${server.address().port}/v1`;

function mqg(args) {
  return new Promise((done, fail) => {
    const c = spawn('node', [path.join(root, 'bin/mqg.js'), ...args], { cwd: root });
    let out = '';
    c.stdout.on('data', (d) => (out += d));
    c.stderr.on('data', (d) => (out += d));
    c.on('exit', (code) => (code === 0 ? done(out) : fail(new Error(`mqg exited ${code}:\n${out}`))));
  });
}

console.log(`mqg questions against a scripted server (3 questions per reply), ${limit} passages of data/corpus/topics.txt`);
console.log('| server latency | concurrency | questions kept | questions/min |');
console.log('|---:|---:|---:|---:|');
for (const l of latencies) {
  latency = l;
  for (const c of concurrencies) {
    const dir = mkdtempSync(path.join(tmpdir(), 'mqg-bench-questions-'));
    const out = await mqg(['questions', '--text', 'data/corpus/topics.txt', '--out', path.join(dir, 'out'), '--endpoint', url, '--model', 'bench',
      '--concurrency', String(c), '--limit', String(limit)]);
    const kept = /questions: (\d+) kept/.exec(out)?.[1];
    const qpm = /([\d.]+) questions\/min/.exec(out)?.[1];
    console.log(`| ${l} ms | ${c} | ${kept} | ${Number(qpm).toFixed(0)} |`);
    rmSync(dir, { recursive: true, force: true });
  }
}
server.close();
