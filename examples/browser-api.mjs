// The library in a browser tab, in one page: a tokenizer and a model trained on in-memory text,
// saved as bytes, loaded back from a File in one call, and sampled. Bundle it with any bundler
// (esbuild, Vite, webpack: they pick the package's `browser` build) and load it in a page. A test
// bundles it for the browser and runs that bundle, as written, on WebGPU.
import { createGPU, DataLoader, GPT2, generate, loadModel, makeConfig, modelToSafetensors, train, trainBpe } from 'mqg-webgpu';

const gpu = await createGPU(); // navigator.gpu; f16 where the adapter has shader-f16
const text = 'The heart pumps blood through the arteries. The veins return blood to the heart. '.repeat(40);
const tok = trainBpe([text], 320); // byte-level BPE, trained in the page
const model = new GPT2(gpu, makeConfig({ nLayer: 2, nHead: 2, nEmbd: 64, nPositions: 64, vocabSize: tok.vocabSize }));
model.initRandom(1);
if (model.dtype === 'f16') model.setLossScale({ initScale: 1024 });

// Train on in-memory tokens (batches of B rows of T tokens) with the library's training loop;
// onStep gets a typed report per step (loss, lr, gradNorm, tokensPerSecond, ...) to draw a chart.
const B = 4, T = 32, steps = 30;
const losses = [];
await train({
  model,
  batches: new DataLoader(Uint16Array.from(tok.encode(text)), { B, T, seed: 1 }),
  steps,
  schedule: { lr: 3e-3, minLr: 3e-4, warmup: 5, steps, schedule: 'cosine' },
  adamw: { beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1, gradClip: 1 },
  onStep: (r) => void losses.push(r.loss),
});
console.log(`loss ${losses[0].toFixed(3)} -> ${losses.at(-1).toFixed(3)} over ${steps} steps`);

// Save as safetensors bytes (offer them as a download, or keep them in IndexedDB), and load a
// model back from a File in one call; a URL, a Response, a Blob or the bytes work the same way.
const file = new File([await modelToSafetensors(model)], 'tiny.safetensors');
const again = await loadModel(gpu, file);
const out = await generate(again, tok.encode('The heart'), { maxNewTokens: 8, temperature: 0 });
console.log(`greedy: The heart${tok.decode(out)}`);

model.destroy();
again.destroy();
gpu.destroy();
