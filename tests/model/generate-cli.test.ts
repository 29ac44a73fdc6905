// `mqg sample --prompt-ids ... --log-format jsonl` through the built CLI on the Hugging Face
// BioMedLM-configured fixture (no tokenizer): the first greedy token is the argmax of the float64
// reference logits at the prompt's last position, and the whole continuation equals the library's
// generate(); bad ids name the flag.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { generate, loadModel } from '../../src/index';
import { parseSafetensors, toFloat32 } from '../../src/model/index';
import { getGPU } from '../helpers/gpu';
import { mqg } from '../helpers/cli';

const MODEL = 'tests/fixtures/hf-biomedlm-tiny/model';
const FIX = 'tests/fixtures/hf-biomedlm-tiny';

describe('mqg sample --prompt-ids (CLI)', () => {
  it('generates greedily from token ids and prints one JSON object', async () => {
    const batch = JSON.parse(readFileSync(`${FIX}/batch.json`, 'utf8')) as { T: number; inputs: number[][] };
    const prompt = batch.inputs[0]!.slice(0, batch.T);
    const r = mqg('sample', '--checkpoint', MODEL, '--prompt-ids', prompt.join(','), '--temperature', '0', '--max-tokens', '6', '--precision', 'f32', '--log-format', 'jsonl');
    expect(r.status, r.stderr).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines.length).toBe(1);
    const out = JSON.parse(lines[0]!) as { text: string; ids: number[]; new_tokens: number; tokens_per_second: number; load_seconds: number };
    expect(Object.keys(out).sort()).toEqual(['ids', 'load_seconds', 'new_tokens', 'text', 'tokens_per_second']);
    expect(out.text).toBe(''); // no tokenizer
    expect(out.new_tokens).toBe(6);
    expect(out.ids.length).toBe(6);
    expect(out.tokens_per_second).toBeGreaterThan(0);
    expect(out.load_seconds).toBeGreaterThan(0);
    // the first token against the float64 reference: argmax of logits0[0, T-1, :]
    const file = `${FIX}/logits0.safetensors`;
    const ref = parseSafetensors(new Uint8Array(readFileSync(file)), file).tensors.get('logits')!;
    const V = ref.shape[2]!;
    const last = toFloat32(ref).subarray((batch.T - 1) * V, batch.T * V);
    let best = 0;
    for (let v = 1; v < V; v++) if (last[v]! > last[best]!) best = v;
    expect(out.ids[0]).toBe(best);
    // the whole continuation as the library generates it
    const model = await loadModel(await getGPU('f32'), MODEL, { training: false });
    expect(out.ids).toEqual(await generate(model, prompt, { maxNewTokens: 6, temperature: 0 }));
  }, 120_000);

  it('prints the new ids in text mode when the model has no tokenizer', () => {
    const r = mqg('sample', '--checkpoint', MODEL, '--prompt-ids', '1, 2,3', '--temperature', '0', '--max-tokens', '3', '--precision', 'f32');
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^\d+,\d+,\d+\n$/);
  }, 120_000);

  it.each([
    [['--prompt-ids', '1,x,3'], /--prompt-ids: item 2 \("x"\) is not a token id/],
    [['--prompt-ids', '1,,3'], /--prompt-ids: item 2 \(""\) is not a token id/],
    [['--prompt-ids', '1,500'], /--prompt-ids: token id 500 \(item 2\) is outside the model's vocabulary \[0, 500\)/],
    [['--prompt-ids', '1', '--prompt', 'hi'], /give --prompt or --prompt-ids, not both/],
    [['--prompt', 'hi'], /records no tokenizer .*--tokenizer/],
    [['--prompt-ids', '1', '--log-format', 'xml'], /--log-format/],
  ])('refuses %j in one line naming the flag', (args, re) => {
    const r = mqg('sample', '--checkpoint', MODEL, '--precision', 'f32', ...(args as string[]));
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(re as RegExp);
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
  }, 60_000);
});
