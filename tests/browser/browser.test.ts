// The browser demo trains in headless Chromium (Debian's, installed here if missing) through
// playwright-core. Chromium's WebGPU runs on SwiftShader here, without shader-f16: this also
// proves the f32 fallback. A screenshot of the page is saved to .tmp/browser-demo.png.
// ?model=URL loads tests/fixtures/hf-biomedlm-tiny/model from a second loopback server (another
// origin: CORS, ranged GETs recorded) quantized to q4_0, and its loss and greedy tokens are
// compared with the same model loaded in Node.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import type { Server } from 'node:http';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const CHROMIUM = '/usr/bin/chromium';

function ensureChromium(): string | undefined {
  if (existsSync(CHROMIUM)) return undefined;
  if (process.getuid?.() !== 0) return 'Debian chromium is not installed and this is not root (apt-get install chromium)';
  try {
    execFileSync('apt-get', ['install', '-y', '-q', 'chromium'], { stdio: 'ignore', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  } catch {
    execFileSync('apt-get', ['update', '-q'], { stdio: 'ignore' });
    execFileSync('apt-get', ['install', '-y', '-q', 'chromium'], { stdio: 'ignore', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  }
  return existsSync(CHROMIUM) ? undefined : 'chromium could not be installed';
}

const missing = process.platform === 'linux' ? ensureChromium() : 'the browser test runs on Linux with Debian chromium';
if (missing) console.warn(`skipping the browser test: ${missing}`);

/** A headless Chromium page (console and page errors collected in `logs`), closed after `fn`. */
async function withPage(fn: (page: import('playwright-core').Page, logs: string[]) => Promise<void>): Promise<void> {
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--enable-unsafe-webgpu', '--disable-gpu-sandbox', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--disable-quic'],
  });
  try {
    const page = await browser.newPage({ viewport: { width: 960, height: 760 } });
    const logs: string[] = [];
    page.on('console', (m) => logs.push(m.text()));
    page.on('pageerror', (e) => logs.push(String(e)));
    await fn(page, logs);
  } finally {
    await browser.close();
  }
}

describe.skipIf(!!missing)('browser demo in headless Chromium', () => {
  let server: Server;
  let port = 0;
  beforeAll(async () => {
    const { buildExample, serve } = await import('../../scripts/serve-example.mjs');
    await buildExample();
    server = (await serve(0)) as Server;
    port = (server.address() as { port: number }).port;
  });
  afterAll(() => server?.close());

  it('trains a few steps: the loss falls and a sample appears', async () => {
    await withPage(async (page, logs) => {
      await page.goto(`http://127.0.0.1:${port}/examples/browser/?batch=4&seq=32&sampleEvery=15&vocab=512`);
      await page.waitForFunction(() => (window as any).mqgDemo?.ready || (window as any).mqgDemo?.error, null, { timeout: 120_000 });
      const err = await page.evaluate(() => (window as any).mqgDemo.error);
      expect(err, logs.join('\n')).toBe('');
      expect(await page.evaluate(() => (window as any).mqgDemo.precision)).toBe('f32'); // SwiftShader has no shader-f16
      await page.click('#start');
      await page.waitForFunction(() => (window as any).mqgDemo.step >= 30 && (window as any).mqgDemo.samples.length >= 1, null, { timeout: 600_000 });
      await page.click('#pause');
      const s = await page.evaluate(() => ({ losses: (window as any).mqgDemo.losses as number[], samples: (window as any).mqgDemo.samples as string[] }));
      const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
      const first = mean(s.losses.slice(0, 5)), last = mean(s.losses.slice(-5));
      expect(first).toBeGreaterThan(5.5); // ~ln(512) at initialisation
      expect(last).toBeLessThan(first - 0.3); // measured here: 6.0 -> 5.4 over 30 steps
      expect(s.samples[0]).toMatch(/^Question:/);
      expect(await page.textContent('#samples')).toContain('Question:');
      mkdirSync('.tmp', { recursive: true });
      await page.screenshot({ path: '.tmp/browser-demo.png', fullPage: true });
    });
  }, 900_000);

  it('fine-tunes with LoRA (?lora=4): only the adapters train, the loss falls, the adapter downloads as PEFT files', async () => {
    await withPage(async (page, logs) => {
      await page.goto(`http://127.0.0.1:${port}/examples/browser/?batch=4&seq=32&sampleEvery=1000&vocab=512&lora=4&pretrain=15`);
      await page.waitForFunction(() => (window as any).mqgDemo?.ready || (window as any).mqgDemo?.error, null, { timeout: 600_000 });
      expect(await page.evaluate(() => (window as any).mqgDemo.error), logs.join('\n')).toBe('');
      const lora = await page.evaluate(() => (window as any).mqgDemo.lora);
      expect(lora.trainable).toBeGreaterThan(0);
      expect(lora.trainable).toBeLessThan(lora.frozen / 10);
      await page.click('#start');
      await page.waitForFunction(() => (window as any).mqgDemo.step >= 40, null, { timeout: 900_000 });
      await page.click('#pause');
      const losses = await page.evaluate(() => (window as any).mqgDemo.losses as number[]);
      const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
      expect(mean(losses.slice(-10))).toBeLessThan(mean(losses.slice(0, 10)));
      await page.click('#download');
      await page.waitForFunction(() => (window as any).mqgDemo.lora.files, null, { timeout: 60_000 });
      const files = await page.evaluate(() => (window as any).mqgDemo.lora.files);
      expect(files['adapter_config.json']).toBeGreaterThan(100);
      expect(files['adapter_model.safetensors']).toBeGreaterThan(lora.trainable * 4);
    });
  }, 1_200_000);

  it('?model=URL&quantize=q4_0 streams a sharded HF directory by ranged GETs: loss and greedy tokens as in Node', async () => {
    const { startRangeServer } = await import('../helpers/range-server');
    const fixtures = path.resolve(__dirname, '../fixtures');
    const dir = path.join(fixtures, 'hf-biomedlm-tiny/model');
    const batch = JSON.parse(readFileSync(path.join(fixtures, 'hf-biomedlm-tiny/batch.json'), 'utf8')) as { inputs: number[][]; targets: number[][] };
    const tokens = [...batch.inputs[0]!, batch.targets[0]!.at(-1)!]; // 33 ids: 32 positions of loss
    const prompt = batch.inputs[1]!.slice(0, 6);
    // Node, the same library on Dawn/lavapipe: the same directory, quantization and inputs
    const { getGPU } = await import('../helpers/gpu');
    const { loadModel, generate } = await import('../../src/index');
    const ref = await loadModel(await getGPU('f32'), dir, { training: false, quantize: 'q4_0' });
    const refLoss = await ref.forward(tokens.slice(0, -1), tokens.slice(1), 1, tokens.length - 1);
    const refTokens = await generate(ref, prompt, { maxNewTokens: 8, temperature: 0 });
    ref.destroy();
    const models = await startRangeServer(fixtures);
    const plain = await startRangeServer(fixtures, { ignoreRange: true });
    try {
      await withPage(async (page, logs) => {
        const url = `${models.url}/hf-biomedlm-tiny/model/`;
        await page.goto(`http://127.0.0.1:${port}/examples/browser/?model=${encodeURIComponent(url)}&quantize=q4_0&tokens=${tokens.join(',')}&prompt=${prompt.join(',')}&new=8`);
        await page.waitForFunction(() => (window as any).mqgDemo?.url?.done || (window as any).mqgDemo?.error, null, { timeout: 300_000 });
        expect(await page.evaluate(() => (window as any).mqgDemo.error), logs.join('\n')).toBe('');
        const got = await page.evaluate(() => (window as any).mqgDemo.url);
        expect(got.precision).toBe('f32');
        // f32 on SwiftShader against f32 on lavapipe, the same q4_0 weights: only summation order
        // differs (measured here: |diff| < 1e-6); 1e-4 is the golden fixture's f32 loss tolerance.
        expect(Math.abs(got.loss - refLoss)).toBeLessThan(1e-4);
        expect(got.generated).toEqual(refTokens);
        const shards = ['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors'];
        const total = shards.reduce((n, s) => n + statSync(path.join(dir, s)).size, 0);
        expect(got.totalBytes).toBe(total);
        expect(got.tensors).toBe(got.totalTensors);
        expect(await page.textContent('#samples')).toContain(`greedy after [${prompt.join(', ')}]: [${refTokens.join(', ')}]`);
        // every weight-file GET was ranged (206), none fetched a whole file
        const weightGets = models.requests.filter((r) => r.method === 'GET' && r.path.endsWith('.safetensors'));
        expect(weightGets.length).toBeGreaterThan(shards.length);
        expect(weightGets.filter((r) => !r.range || r.status !== 206), JSON.stringify(weightGets)).toEqual([]);
        const fetched = weightGets.reduce((n, r) => n + r.bytes, 0);
        expect(fetched).toBe(got.bytes);
        expect(fetched).toBe(total); // the headers and every tensor, no byte twice
        const preflights = models.requests.filter((r) => r.method === 'OPTIONS').length;
        console.log(`browser ?model=: ${weightGets.length} ranged GETs, ${fetched} bytes of ${total}, ${preflights} CORS preflights; loss ${got.loss} (Node ${refLoss}); greedy ${got.generated}`);
      });
      // a server that ignores Range: the page says so, naming the file
      await withPage(async (page) => {
        const url = `${plain.url}/hf-biomedlm-tiny/model/`;
        await page.goto(`http://127.0.0.1:${port}/examples/browser/?model=${encodeURIComponent(url)}`);
        await page.waitForFunction(() => (window as any).mqgDemo?.url?.done || (window as any).mqgDemo?.error, null, { timeout: 120_000 });
        expect(await page.evaluate(() => (window as any).mqgDemo.error)).toBe(`${url}model-00001-of-00002.safetensors: the server ignores Range requests (HTTP 200 with the whole file); the loader reads a checkpoint by byte ranges, so serve it from a server that answers Range with 206`);
        expect(await page.textContent('#error')).toContain('ignores Range requests');
      });
    } finally {
      await models.close();
      await plain.close();
    }
  }, 600_000);
});
