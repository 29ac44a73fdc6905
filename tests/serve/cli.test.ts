// `mqg serve` through the built CLI: it prints its loopback address, takes its key from the
// environment variable --api-key-env names, answers a temperature-0 completion with what
// `mqg sample --temperature 0` prints for the same prompt, and exits 0 on SIGTERM.
import { beforeAll, describe, expect, it } from 'vitest';
import { getGPU } from '../helpers/gpu';
import { mqg, mqgChild } from '../helpers/cli';
import { get, post, tinyCheckpoints, type TinyCheckpoints } from './fixture';
import { printable } from '../../src/cli/train';

let ck: TinyCheckpoints;

beforeAll(async () => {
  ck = await tinyCheckpoints(await getGPU('f32'));
}, 120_000);

describe('mqg serve (CLI)', () => {
  it('refuses a missing checkpoint or an unset key variable before loading anything', () => {
    let r = mqg('serve');
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/--checkpoint is required/);
    r = mqg('serve', '--checkpoint', ck.plain, '--api-key-env', 'MQG_SERVE_TEST_UNSET_KEY');
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/environment variable MQG_SERVE_TEST_UNSET_KEY is not set/);
  }, 60_000);

  it('prints its address, serves as mqg sample generates, and stops cleanly on SIGTERM', async () => {
    const server = mqgChild(['serve', '--checkpoint', ck.plain, '--port', '0', '--precision', 'f32', '--api-key-env', 'MQG_SERVE_TEST_KEY'], { MQG_SERVE_TEST_KEY: 'k-123' });
    try {
      await server.waitFor(/listening on http:\/\/\S+/);
      const url = /listening on (http:\/\/\S+)/.exec(server.output())![1]!;
      expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect(server.output()).not.toContain('k-123');
      expect((await get(`${url}/v1/models`)).status).toBe(401);
      const auth = { Authorization: 'Bearer k-123' };
      const models = await get(`${url}/v1/models`, auth);
      expect(models.body.data[0].id).toBe('plain');
      const r = await post(`${url}/v1/completions`, { prompt: 'The heart', max_tokens: 10, temperature: 0 }, auth);
      expect(r.status).toBe(200);
      const sample = mqg('sample', '--checkpoint', ck.plain, '--prompt', 'The heart', '--temperature', '0', '--max-tokens', '10', '--precision', 'f32');
      expect(sample.status, sample.stderr).toBe(0);
      // the same tokens: sample renders them for a terminal (control characters escaped, stray bytes left out)
      expect(sample.stdout).toBe(`The heart${printable(r.body.choices[0].text)}\n`);
      server.child.kill('SIGTERM');
      const exit = await server.exit;
      expect(exit).toEqual({ code: 0, signal: null });
      expect(server.output()).toMatch(/stopped \(SIGTERM\) after 1 completion/);
    } finally {
      if (server.child.exitCode === null) server.child.kill('SIGKILL');
    }
  }, 180_000);
});
