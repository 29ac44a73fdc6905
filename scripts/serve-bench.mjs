// Latency and throughput of a running `mqg serve` (any OpenAI-compatible server, for the completion
// figures), measured from a client over HTTP:
//   node scripts/serve-bench.mjs --url http://127.0.0.1:8080 [--tokens 64] [--requests 8] [--concurrency 8] [--key-env VAR]
// One warm-up request, then: `requests` completions one after another (latency of each, tokens/s),
// the same streamed (time to the first text, tokens/s), `concurrency` clients at once (the wall time,
// each client's latency, aggregate tokens/s), and `requests` /v1/mcq calls of five options. Every
// completion samples at temperature 1 with a fixed seed, so the figures count the tokens generated
// (usage.completion_tokens), whatever the model writes. Prints one JSON object.
import { parseArgs } from 'node:util';

const { values: o } = parseArgs({
  options: {
    url: { type: 'string', default: 'http://127.0.0.1:8080' },
    tokens: { type: 'string', default: '64' },
    requests: { type: 'string', default: '8' },
    concurrency: { type: 'string', default: '8' },
    'key-env': { type: 'string' },
  },
});
const tokens = Number(o.tokens), requests = Number(o.requests), concurrency = Number(o.concurrency);
const headers = { 'Content-Type': 'application/json', ...(o['key-env'] ? { Authorization: `Bearer ${process.env[o['key-env']]}` } : {}) };
const PROMPTS = ['The heart', 'Blood carries', 'The lungs', 'A patient with chest pain', 'The kidney filters', 'Bones', 'The brain', 'Insulin'];
const body = (i, stream = false) => JSON.stringify({ prompt: PROMPTS[i % PROMPTS.length], max_tokens: tokens, temperature: 1, seed: i, stream });

async function complete(i) {
  const t0 = performance.now();
  const r = await fetch(`${o.url}/v1/completions`, { method: 'POST', headers, body: body(i) });
  const j = await r.json();
  if (r.status !== 200) throw new Error(`${r.status}: ${JSON.stringify(j)}`);
  return { ms: performance.now() - t0, tokens: j.usage.completion_tokens };
}

async function streamed(i) {
  const t0 = performance.now();
  const r = await fetch(`${o.url}/v1/completions`, { method: 'POST', headers, body: body(i, true) });
  const reader = r.body.getReader();
  let first, text = '';
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    first ??= performance.now() - t0;
    text += new TextDecoder().decode(value);
  }
  if (!text.endsWith('data: [DONE]\n\n')) throw new Error(`stream did not end with [DONE]: ${text.slice(-200)}`);
  return { ms: performance.now() - t0, firstMs: first };
}

const pct = (xs, p) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))];
const round = (x) => Math.round(x * 10) / 10;

await complete(0);
const seq = [];
for (let i = 0; i < requests; i++) seq.push(await complete(i));
const seqTokens = seq.reduce((n, r) => n + r.tokens, 0), seqMs = seq.reduce((n, r) => n + r.ms, 0);
const str = [];
for (let i = 0; i < requests; i++) str.push(await streamed(i));
const t0 = performance.now();
const conc = await Promise.all(Array.from({ length: concurrency }, (_, i) => complete(i)));
const concMs = performance.now() - t0;
const concTokens = conc.reduce((n, r) => n + r.tokens, 0);
const mcq = [];
for (let i = 0; i < requests; i++) {
  const s = performance.now();
  const r = await fetch(`${o.url}/v1/mcq`, { method: 'POST', headers, body: JSON.stringify({ question: `Which organ pumps blood? (${i})`, options: ['the heart', 'the liver', 'the lungs', 'the kidney', 'the skin'] }) });
  if (r.status !== 200) throw new Error(`mcq ${r.status}: ${await r.text()}`);
  await r.json();
  mcq.push(performance.now() - s);
}
console.log(JSON.stringify({
  url: o.url, max_tokens: tokens,
  sequential: { requests, tokens_per_request: round(seqTokens / requests), latency_ms_p50: round(pct(seq.map((r) => r.ms), 0.5)), latency_ms_max: round(Math.max(...seq.map((r) => r.ms))), tokens_per_second: round((1000 * seqTokens) / seqMs), ms_per_token: round(seqMs / seqTokens) },
  streamed: { requests, first_text_ms_p50: round(pct(str.map((r) => r.firstMs), 0.5)), latency_ms_p50: round(pct(str.map((r) => r.ms), 0.5)) },
  concurrent: { clients: concurrency, wall_ms: round(concMs), latency_ms_p50: round(pct(conc.map((r) => r.ms), 0.5)), latency_ms_max: round(Math.max(...conc.map((r) => r.ms))), tokens_per_second: round((1000 * concTokens) / concMs) },
  mcq: { requests, options: 5, latency_ms_p50: round(pct(mcq, 0.5)), latency_ms_max: round(Math.max(...mcq)) },
}, null, 2));
