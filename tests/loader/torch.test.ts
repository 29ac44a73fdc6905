// PyTorch torch.save files: the zip directory (zip64 too), the pickle subset, shared storages,
// F32/F16/BF16, strided views, and every bad file we promise a clear error for.
import { describe, expect, it } from 'vitest';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { CheckpointError, bytesSource, float32ToBF16Array, openTorch, readCheckpointBytes } from '../../src/model/index';
import { readCheckpoint } from '../../src/node';
import { float32ToF16Array } from '../../src/util/f16';
import { PickleWriter, stateDictPickle, torchFile, writeZip, type TorchTensorSpec } from './torchfile';

const FIXTURE = path.resolve(__dirname, '../fixtures/gpt2-tiny/init.safetensors');
const GOLDEN = path.resolve(__dirname, '../../../shared/golden/hf-biomedlm-tiny');
const golden = existsSync(GOLDEN);
if (!golden) console.warn(`skipping the sharded torch bad-file tests: ${GOLDEN} is absent`);

const tmp = () => mkdtempSync(path.join(tmpdir(), 'mqg-torch-'));
const bytesOf = (a: Float32Array | Uint16Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
const bits = (a: Float32Array) => new Uint32Array(a.buffer, a.byteOffset, a.length);

/** The gpt2-tiny init weights as a torch.save state dict, lm_head sharing wte's storage as save_pretrained writes it. */
async function tinyTorch(zip64 = false): Promise<{ file: Uint8Array; params: Map<string, Float32Array> }> {
  const { params } = await readCheckpointBytes(new Uint8Array(readFileSync(FIXTURE)), { fileName: 'init.safetensors' });
  const specs: TorchTensorSpec[] = [];
  const storages: Record<string, Uint8Array> = {};
  [...params].forEach(([name, v], i) => {
    specs.push({ name: `transformer.${name}`, key: String(i), storage: 'FloatStorage', storageNumel: v.length, shape: name === 'wte.weight' ? [512, 64] : shapeOf(name) });
    storages[String(i)] = bytesOf(v);
  });
  specs.push({ ...specs[0]!, name: 'lm_head.weight' });
  return { file: torchFile(stateDictPickle(specs), storages, zip64), params };
}

function shapeOf(name: string): number[] {
  if (name.endsWith('c_attn.weight')) return [64, 192];
  if (name.endsWith('c_attn.bias')) return [192];
  if (name.endsWith('c_fc.weight')) return [64, 256];
  if (name.endsWith('c_fc.bias')) return [256];
  if (name.endsWith('mlp.c_proj.weight')) return [256, 64];
  if (name.endsWith('attn.c_proj.weight') || name === 'wpe.weight') return [64, 64];
  return [64];
}

const CONFIG = { n_layer: 2, n_head: 4, n_embd: 64, n_positions: 64, vocab_size: 512 };

describe('torch.save files', () => {
  it.each([false, true])('a full state dict (zip64 records: %s) loads bit-exactly; the lm_head sharing wte storage is dropped', async (zip64) => {
    const { file, params } = await tinyTorch(zip64);
    const back = await readCheckpointBytes(file, { fileName: 'pytorch_model.bin', configJson: CONFIG });
    expect(back.format).toBe('torch');
    expect([...back.params.keys()]).toEqual([...params.keys()]);
    for (const [k, v] of params) expect(bits(back.params.get(k)!), k).toEqual(bits(v));
  });

  it('reads F16 and BF16 storages, offsets into a shared storage, and strided (transposed) views', async () => {
    const vals = new Float32Array([1, -2.5, 0.5, 3, 65504, -0.25]);
    const pkl = stateDictPickle([
      { name: 'h', key: '0', storage: 'HalfStorage', storageNumel: 6, shape: [2, 3] },
      { name: 'b', key: '1', storage: 'BFloat16Storage', storageNumel: 6, shape: [3], offset: 2 },
      { name: 'f', key: '2', storage: 'FloatStorage', storageNumel: 6, shape: [3, 2], stride: [1, 3] }, // the transpose of [2, 3]
      { name: 'g', key: '2', storage: 'FloatStorage', storageNumel: 6, shape: [2, 3] },
    ]);
    const f = await openTorch(bytesSource(torchFile(pkl, { 0: bytesOf(float32ToF16Array(vals)), 1: bytesOf(float32ToBF16Array(vals)), 2: bytesOf(vals) }), 'm.bin'));
    const t = new Map(f.tensors.map((e) => [e.name, e]));
    expect(t.get('h')!.dtype).toBe('F16');
    expect(Array.from(await t.get('h')!.read())).toEqual([1, -2.5, 0.5, 3, 65504, -0.25]);
    expect(Array.from(await t.get('b')!.read())).toEqual([0.5, 3, 65536]);
    expect(Array.from(await t.get('f')!.read())).toEqual([1, 3, -2.5, 65504, 0.5, -0.25]);
    expect(t.get('g')!.storageKey).not.toBe(t.get('f')!.storageKey);
  });

  it('refuses a pickle calling a foreign global, naming it, without running it', async () => {
    const evil = new PickleWriter().global('os', 'system').str('touch /tmp/mqg-pwned').op(0x85, 0x52).done();
    await expect(readCheckpointBytes(torchFile(evil, {}), { fileName: 'evil.bin' })).rejects.toThrow(
      /PyTorch file 'evil\.bin': refusing to load: the pickle references 'os\.system', which is not a tensor-rebuild function .*nothing was executed/,
    );
    // protocol 4's STACK_GLOBAL is checked the same way
    const evil4 = new PickleWriter().str('builtins').str('eval').op(0x93).str('1').op(0x85, 0x52).done();
    await expect(readCheckpointBytes(torchFile(evil4, {}), { fileName: 'evil4.bin' })).rejects.toThrow(/references 'builtins\.eval'/);
    expect(existsSync('/tmp/mqg-pwned')).toBe(false);
  });

  it('names truncation, a missing storage and a tensor past its storage', async () => {
    const { file } = await tinyTorch();
    await expect(readCheckpointBytes(file.subarray(0, file.length - 100), { fileName: 'cut.bin', configJson: CONFIG })).rejects.toThrow(
      /zip archive 'cut\.bin' has no end-of-central-directory record: the file is truncated or not a zip/,
    );
    const pkl = stateDictPickle([{ name: 'w', key: '7', storage: 'FloatStorage', storageNumel: 4, shape: [4] }]);
    await expect(openTorch(bytesSource(torchFile(pkl, {}), 'nostorage.bin'))).rejects.toThrow(
      /'nostorage\.bin': tensor 'w' uses storage '7', which the archive does not contain/,
    );
    const past = stateDictPickle([{ name: 'w', key: '0', storage: 'FloatStorage', storageNumel: 4, shape: [4], offset: 2 }]);
    await expect(openTorch(bytesSource(torchFile(past, { 0: new Uint8Array(16) }), 'past.bin'))).rejects.toThrow(
      /tensor 'w' \[4\] at offset 2 runs past its storage '0' \(4 elements\)/,
    );
  });

  it('an integer tensor as a parameter is an error naming its dtype; a zip without data.pkl and a legacy file are named', async () => {
    const pkl = stateDictPickle([{ name: 'w', key: '0', storage: 'LongStorage', storageNumel: 2, shape: [2] }]);
    const f = await openTorch(bytesSource(torchFile(pkl, { 0: new Uint8Array(16) }), 'long.bin'));
    await expect(f.tensors[0]!.read()).rejects.toThrow(/tensor 'w' in PyTorch file 'long\.bin' has dtype I64; parameters must be one of F32, F16, BF16/);
    await expect(readCheckpointBytes(writeZip([{ name: 'a.txt', data: new Uint8Array(3) }]), { fileName: 'other.zip' })).rejects.toThrow(
      /PyTorch file 'other\.zip' has no data\.pkl/,
    );
    const legacy = new Uint8Array([0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, 0x2e, 0, 0]);
    await expect(readCheckpointBytes(legacy, { fileName: 'old.bin' })).rejects.toThrow(/'old\.bin' uses the legacy \(pre-1\.6, non-zip\) torch\.save format/);
    expect(CheckpointError).toBeDefined();
  });
});

describe.skipIf(!golden)('sharded checkpoints with bad indexes (hf-biomedlm-tiny/model-bin)', () => {
  const copy = (): string => {
    const d = path.join(tmp(), 'model-bin');
    cpSync(path.join(GOLDEN, 'model-bin'), d, { recursive: true });
    return d;
  };
  const editIndex = (dir: string, edit: (m: Record<string, string>) => void) => {
    const p = path.join(dir, 'pytorch_model.bin.index.json');
    const j = JSON.parse(readFileSync(p, 'utf8'));
    edit(j.weight_map);
    rmSync(p, { force: true });
    writeFileSync(p, JSON.stringify(j));
  };

  it('a shard missing from the directory', async () => {
    const d = copy();
    rmSync(path.join(d, 'pytorch_model-00002-of-00002.bin'), { force: true });
    await expect(readCheckpoint(d)).rejects.toThrow(/pytorch_model\.bin\.index\.json names shard 'pytorch_model-00002-of-00002\.bin', which is missing from .*model-bin/);
  });

  it('an index naming a tensor absent from its shard, or one stored nowhere', async () => {
    const d = copy();
    editIndex(d, (m) => (m['transformer.ln_f.bias'] = 'pytorch_model-00001-of-00002.bin'));
    await expect(readCheckpoint(d)).rejects.toThrow(
      /index\.json says tensor 'transformer\.ln_f\.bias' is in 'pytorch_model-00001-of-00002\.bin', but it is in '.*pytorch_model-00002-of-00002\.bin'/,
    );
    const e = copy();
    editIndex(e, (m) => (m['transformer.h.9.ln_1.weight'] = 'pytorch_model-00002-of-00002.bin'));
    await expect(readCheckpoint(e)).rejects.toThrow(/says tensor 'transformer\.h\.9\.ln_1\.weight' is in 'pytorch_model-00002-of-00002\.bin', but 'pytorch_model-00002-of-00002\.bin' does not contain it/);
  });

  it('a truncated shard names the file', async () => {
    const d = copy();
    const shard = path.join(d, 'pytorch_model-00001-of-00002.bin');
    const b = readFileSync(shard);
    rmSync(shard, { force: true });
    writeFileSync(shard, b.subarray(0, 200_000));
    await expect(readCheckpoint(d)).rejects.toThrow(/pytorch_model-00001-of-00002\.bin' has no end-of-central-directory record/);
  });
});
