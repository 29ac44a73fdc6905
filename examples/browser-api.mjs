// The library in a browser tab, in one page: a tokenizer and a model trained on in-memory text,
// saved as bytes, loaded back from a File in one call, and sampled. Bundle it with any bundler
// (esbuild, Vite, webpack: they pick the package's `browser` build) and load it in a page. A test
// bundles it for the browser and runs that bundle, as written, on WebGPU.
import { createGPU, DataLoader, GPT2, generate, learningRate, loadModel, makeConfig, modelToSafetensors, trainBpe } from 'mqg-webgpu';

const gpu = await createGPU(); // navigator.gpu; f16 where the adapter has shader-f16
const text = 'The heart pumps blood through the arteries. The veins return blood to the heart. '.repeat(40);
const tok = trainBpe([text], 320); // byte-level BPE, trained in the page
const model = new GPT2(gpu, makeConfig({ nLayer: 2, nHead: 2, nEmbd: 64, nPositions: 64, vocabSize: tok.vocabSize }));
model.initRandom(1);
if (model.dtype === 'f16') model.setLossScale({ initScale: 1024 });

// Train on in-memory tokens: batches of B rows of T tokens.
const B = 4, T = 32, steps = 30;
const data = new DataLoader(Uint16Array.from(tok.encode(text)), { B, T, seed: 1 });
let first = 0, last = 0;
for (let step = 0; step < steps; step++) {
  const { inputs, targets } = data.nextBatch();
  const lr = learningRate(step, { lr: 3e-3, minLr: 3e-4, warmup: 5, steps, schedule: 'cosine' });
  const loss = await model.trainStep(inputs, targets, B, T, { lr });
  if (step === 0) first = loss;
  last = loss;
}
console.log(`loss ${first.toFixed(3)} -> ${last.toFixed(3)} over ${steps} steps`);

// Save as safetensors bytes (offer them as a download, or keep them in IndexedDB), and load a
// model back from a File in one call; a URL, a Response, a Blob or the bytes work the same way.
const file = new File([await modelToSafetensors(model)], 'tiny.safetensors');
const again = await loadModel(gpu, file);
const out = await generate(again, tok.encode('The heart'), { maxNewTokens: 8, temperature: 0 });
console.log(`greedy: The heart${tok.decode(out)}`);

model.destroy();
again.destroy();
gpu.destroy();
