// `mqg questions` as a user runs it (the built dist/): the key from the environment as a bearer token
// and nowhere in what the command prints or writes, the usage and counts printed, the existing-run
// error, Ctrl-C keeping the finished passages, and a --resume of a finished run sending no request.
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { mqgChild } from '../helpers/cli';
import { startChatServer, type ChatServer } from '../helpers/chat-server';
import { filesOf, KEY, REPLIES, script, simple, writeBook } from './scripted';
import { readMcqFile } from '../../src/train/data/mcq.node';

async function run(args: string[], env: Record<string, string> = {}) {
  const c = mqgChild(['questions', ...args], env);
  const { code } = await c.exit;
  return { code, output: c.output() };
}

describe('mqg questions (CLI)', () => {
  let server: ChatServer | undefined;
  afterEach(async () => void (await server?.close(), (server = undefined)));

  it('reads the key from --api-key-env, prints usage and counts, writes the key nowhere; a finished run resumes with no request', async () => {
    server = await startChatServer(script);
    const dir = mkdtempSync(join(tmpdir(), 'mqg-questions-cli-'));
    const out = join(dir, 'out');
    const args = ['--text', writeBook(dir), '--out', out, '--endpoint', server.url, '--model', 'scripted', '--api-key-env', 'MY_KEY',
      '--concurrency', '8', '--timeout', '1', '--backoff', '0.05', '--min-grounding', '0.5'];
    const r = await run(args, { MY_KEY: KEY });
    expect(r.code, r.output).toBe(0);
    expect(server.calls.every((c) => c.authorization === `Bearer ${KEY}`)).toBe(true);
    expect(r.output).toMatch(/11\/11 passages done, 0 duplicate passages dropped/);
    expect(r.output).toMatch(/questions: 11 kept, 10 rejected/);
    expect(r.output).toMatch(/requests: 16 \(5 retries\); usage: 1100 prompt \+ 440 completion = 1540 tokens/);
    expect(r.output).toMatch(/passages 11\/11 · 11 questions kept, 10 rejected/);
    expect(r.output).not.toContain(KEY);
    for (const [f, text] of Object.entries(filesOf(out))) expect(text, f).not.toContain(KEY);
    expect(readMcqFile(join(out, 'questions.jsonl')).length).toBe(11);

    const again = await run(args, { MY_KEY: KEY });
    expect(again.code).toBe(1);
    expect(again.output).toMatch(/error: --out .* already exists and is not empty; continue its run with --resume, or replace it with --overwrite/);
    const calls = server.calls.length;
    const resumed = await run([...args, '--resume'], { MY_KEY: KEY });
    expect(resumed.code, resumed.output).toBe(0);
    expect(resumed.output).toMatch(/11\/11 passages done \(11 done before --resume\)/);
    expect(server.calls.length).toBe(calls);
  });

  it('a refused key fails with the status and without the key', async () => {
    server = await startChatServer((c) => ({ status: 401, body: JSON.stringify({ error: { message: `invalid key ${c.authorization}` } }) }));
    const dir = mkdtempSync(join(tmpdir(), 'mqg-questions-cli-'));
    const r = await run(['--text', writeBook(dir), '--out', join(dir, 'out'), '--endpoint', server.url, '--model', 'm'], { OPENAI_API_KEY: KEY });
    expect(r.code).toBe(1);
    expect(r.output).toMatch(/error: http:\/\/127\.0\.0\.1:\d+\/v1\/chat\/completions: HTTP 401 \(invalid key Bearer \*\*\*\)/);
    expect(r.output).not.toContain(KEY);
  });

  it('Ctrl-C keeps the finished passages; --resume asks only the others', async () => {
    let hang = true;
    server = await startChatServer((c) => (c.marker === 'valid' || !hang ? { content: REPLIES[c.marker] ?? simple(c.marker) } : { hang: true }));
    const dir = mkdtempSync(join(tmpdir(), 'mqg-questions-cli-'));
    const out = join(dir, 'out');
    const args = ['--text', writeBook(dir), '--out', out, '--endpoint', server.url, '--model', 'm', '--concurrency', '1', '--limit', '3'];
    const c = mqgChild(['questions', ...args]);
    await c.waitFor(/passages 1\/3/);
    c.child.kill('SIGINT');
    const { code } = await c.exit;
    expect(code, c.output()).toBe(130);
    expect(c.output()).toMatch(/interrupted: cancelling the requests in flight/);
    expect(c.output()).toMatch(/1\/3 passages done/);
    expect(c.output()).toMatch(/stopped: continue with --resume/);
    expect(readMcqFile(join(out, 'questions.jsonl')).map((r) => r.id)).toEqual(['book-p0001-q1', 'book-p0001-q2']);
    hang = false;
    const r = await run([...args, '--resume']);
    expect(r.code, r.output).toBe(0);
    expect(server.calls.filter((x) => x.marker === 'valid').length).toBe(1);
    expect(server.calls.map((x) => x.marker)).toEqual(['valid', 'fenced', 'fenced', 'malformed']);
    expect(readFileSync(join(out, 'done.jsonl'), 'utf8').trim().split('\n').length).toBe(3);
  });
});
