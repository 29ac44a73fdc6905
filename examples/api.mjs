// The public API in one page. In a checkout: `node examples/api.mjs` after `npm run setup`; in
// your own project: `npm install mqg-webgpu`, copy this file, `node api.mjs`. The README shows it
// and a test runs it as written, both in the checkout and against the packed package.
import { createGPU, GPT2, presetConfig, gpt2Tokenizer, loadModel, generate, modelToSafetensors } from 'mqg-webgpu';
import { saveModel } from 'mqg-webgpu/node'; // file I/O is Node-only

const gpu = await createGPU({ precision: 'auto' }); // f16 where the adapter has shader-f16
console.log(`device: ${gpu.adapterName} (${gpu.precision})`);

// Build a model (or: await loadModel(gpu, 'model.safetensors') for a HF GPT-2 / llm.c checkpoint).
const tok = gpt2Tokenizer();
const model = new GPT2(gpu, presetConfig('mqg-tiny', tok.vocabSize));
model.initRandom(1337);
if (model.dtype === 'f16') model.setLossScale({ initScale: 1024 });

// One batch: B rows of T tokens, targets shifted by one.
const B = 2, T = 16;
const ids = tok.encode('The heart pumps blood through the arteries, and the veins return it to the heart. '.repeat(4));
const inputs = [...ids.slice(0, T), ...ids.slice(T, 2 * T)];
const targets = [...ids.slice(1, T + 1), ...ids.slice(T + 1, 2 * T + 1)];
await model.prepare(B, T); // activations for B×T; on this adapter's first use, tunes the kernels (once, cached)

const loss = await model.forward(inputs, targets, B, T);
model.zeroGrad();
model.backward();
const g = await model.gradient('transformer.h.0.attn.c_attn.weight'); // by its Hugging Face name
console.log(`loss ${loss.toFixed(4)}, |grad c_attn.0| = ${Math.hypot(...g).toExponential(3)}`);
model.update({ lr: 1e-3, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1, gradClip: 1.0 });
console.log(`loss after one AdamW step: ${(await model.forward(inputs, targets, B, T)).toFixed(4)}`);

// A whole training step (forward, backward, AdamW) in one submit:
for (let i = 0; i < 5; i++) await model.trainStep(inputs, targets, B, T, { lr: 1e-3 });

await saveModel(model, 'runs/api-example/model.safetensors'); // HF GPT-2 names, written atomically
const again = await loadModel(gpu, 'runs/api-example/model.safetensors'); // in a browser: bytes, a URL or a File
const out = await generate(again, tok.encode('The heart'), { maxNewTokens: 12, temperature: 0 });
console.log(`greedy: The heart${tok.decode(out)}`);

// In memory, as in a browser: safetensors bytes out, and a model back from them.
const bytes = await modelToSafetensors(model);
const copy = await loadModel(gpu, bytes);
console.log(`${(bytes.byteLength / 2 ** 20).toFixed(1)} MiB of safetensors; same loss: ${(await copy.forward(inputs, targets, B, T)).toFixed(4)}`);

for (const m of [model, again, copy]) m.destroy();
gpu.destroy(); // frees the device; using the context after this throws
