#!/usr/bin/env python3
"""The PyTorch peer of bench/biomedlm.mjs: Hugging Face's GPT-2 equations (modeling_gpt2.py) in
float32 on the CPU, with a KV cache, over the same safetensors model directory and token shard
that `mqg eval` and `mqg sample` read, timed the same way. What a user would otherwise run.

    python3 bench/peers/torch_gpt2.py --checkpoint DIR --data SHARD [--eval 1x128x2,1x32x4]
        [--prompt-tokens 16] [--new-tokens 16] [--threads N]

Prints one JSON line: load_seconds, per eval shape {B, T, batches, loss, tokens_per_second},
greedy decode {prompt, ids, new_tokens, tokens_per_second, step_ms}, peak_rss_bytes, versions.

The model (HF GPT2LMHeadModel, dropout off), x: [B, T, C], H heads of hs = C / H:
  x = wte[ids] + wpe[pos]
  per layer l (0-based):
    a = LayerNorm(x; ln_1);  qkv = a @ c_attn.weight [C, 3C] + b   (Conv1D: weights stored [in, out])
    scores = q k^T / sqrt(hs) / (l + 1 if scale_attn_by_inverse_layer_idx); causal; softmax; @ v
    x = x + merge_heads(.) @ attn.c_proj.weight [C, C] + b
    x = x + gelu_new(LayerNorm(x; ln_2) @ c_fc.weight [C, 4C] + b) @ mlp.c_proj.weight [4C, C] + b
  logits = LayerNorm(x; ln_f) @ wte^T   (lm_head tied unless the checkpoint has lm_head.weight)

Tensors are memory-mapped from the shards (no safetensors package needed: an 8-byte header length,
a JSON header, then the raw little-endian data) and every page is touched during the load, so the
load time is the time to bring the weights into memory, as mqg's is. Only the Python standard library
and torch are used (Debian's python3-torch; no numpy, whose version may not match torch's).
"""
import argparse
import json
import math
import mmap
import os
import resource
import sys
import time
from array import array

import torch
import torch.nn.functional as F

DTYPES = {'F32': torch.float32, 'F16': torch.float16, 'BF16': torch.bfloat16}
PAGE = 4096


def fail(message):
    print(f'error: torch_gpt2.py: {message}', file=sys.stderr)
    sys.exit(1)


def shard_files(directory):
    """The safetensors files of a model directory: the index's shards, else model.safetensors."""
    index = os.path.join(directory, 'model.safetensors.index.json')
    if os.path.exists(index):
        with open(index) as f:
            names = sorted(set(json.load(f)['weight_map'].values()))
        return [os.path.join(directory, n) for n in names]
    single = os.path.join(directory, 'model.safetensors')
    if os.path.exists(single):
        return [single]
    fail(f'{directory} has neither model.safetensors.index.json nor model.safetensors')


def load_tensors(directory):
    """Every tensor of the directory's shards by its name (without 'transformer.'), as float32,
    memory-mapped (MAP_PRIVATE, so the tensors are writable views and torch does not copy them)."""
    tensors, maps = {}, []
    for path in shard_files(directory):
        with open(path, 'rb') as f:
            mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_COPY)
        maps.append(mm)
        n = int.from_bytes(mm[:8], 'little')
        header = json.loads(mm[8:8 + n])
        for name, info in header.items():
            if name == '__metadata__':
                continue
            dtype = DTYPES.get(info['dtype'])
            if dtype is None:
                fail(f'{path}: tensor {name} has dtype {info["dtype"]}; F32, F16 or BF16 expected')
            start, end = info['data_offsets']
            count = (end - start) // torch.empty(0, dtype=dtype).element_size()
            t = torch.frombuffer(mm, dtype=dtype, count=count, offset=8 + n + start).view(info['shape'])
            # touch one byte per page: the weights are read into memory now, not during the first batch
            touched = torch.frombuffer(mm, dtype=torch.uint8, count=end - start, offset=8 + n + start)[::PAGE]
            int(touched.sum())
            tensors[name.removeprefix('transformer.')] = t if dtype == torch.float32 else t.float()
    return tensors, maps


class GPT2:
    def __init__(self, directory):
        with open(os.path.join(directory, 'config.json')) as f:
            c = json.load(f)
        self.n_layer, self.n_head, self.C = c['n_layer'], c['n_head'], c['n_embd']
        self.eps = c.get('layer_norm_epsilon', 1e-5)
        self.scale_weights = c.get('scale_attn_weights', True)
        self.scale_inverse_layer = c.get('scale_attn_by_inverse_layer_idx', False)
        act = c.get('activation_function', 'gelu_new')
        if act not in ('gelu_new', 'gelu_pytorch_tanh'):
            fail(f'{directory}/config.json: activation_function {act}; this peer has gelu_new only')
        self.w, self.maps = load_tensors(directory)
        self.lm_head = self.w.get('lm_head.weight', self.w['wte.weight'])  # [V, C], tied by default

    def forward(self, ids, cache=None):
        """Logits [B, T, V] for ids [B, T] at positions len(cache) onwards; cache: per layer (k, v)
        [B, H, past, hs], extended in place (a list) when given."""
        w, C, H = self.w, self.C, self.n_head
        B, T = ids.shape
        hs = C // H
        past = cache[0][0].shape[2] if cache else 0
        x = w['wte.weight'][ids] + w['wpe.weight'][past:past + T]
        # key j is visible from query i (absolute position past + i) when j <= past + i
        mask = torch.ones(T, past + T, dtype=torch.bool).tril(past)
        for l in range(self.n_layer):
            p = f'h.{l}.'
            a = F.layer_norm(x, (C,), w[p + 'ln_1.weight'], w[p + 'ln_1.bias'], self.eps)
            qkv = torch.addmm(w[p + 'attn.c_attn.bias'], a.view(-1, C), w[p + 'attn.c_attn.weight']).view(B, T, 3, H, hs)
            q, k, v = (qkv[:, :, i].transpose(1, 2) for i in range(3))  # [B, H, T, hs]
            if cache is not None:
                if len(cache) > l:
                    k = torch.cat((cache[l][0], k), dim=2)
                    v = torch.cat((cache[l][1], v), dim=2)
                    cache[l] = (k, v)
                else:
                    cache.append((k, v))
            scores = q @ k.transpose(-1, -2)
            if self.scale_weights:
                scores = scores / math.sqrt(hs)
            if self.scale_inverse_layer:
                scores = scores / float(l + 1)
            scores = scores.masked_fill(~mask, torch.finfo(scores.dtype).min)
            y = (scores.softmax(dim=-1) @ v).transpose(1, 2).reshape(B * T, C)
            x = x + torch.addmm(w[p + 'attn.c_proj.bias'], y, w[p + 'attn.c_proj.weight']).view(B, T, C)
            a = F.layer_norm(x, (C,), w[p + 'ln_2.weight'], w[p + 'ln_2.bias'], self.eps)
            hdn = F.gelu(torch.addmm(w[p + 'mlp.c_fc.bias'], a.view(-1, C), w[p + 'mlp.c_fc.weight']), approximate='tanh')
            x = x + torch.addmm(w[p + 'mlp.c_proj.bias'], hdn, w[p + 'mlp.c_proj.weight']).view(B, T, C)
        x = F.layer_norm(x, (C,), w['ln_f.weight'], w['ln_f.bias'], self.eps)
        return x @ self.lm_head.t()


def read_shard(path):
    """Tokens of an llm.c shard: 256 int32 header (magic 20240520, version, count), uint16 tokens."""
    try:
        with open(path, 'rb') as f:
            data = f.read()
    except OSError as e:
        fail(f'{path}: {e.strerror}')
    header = array('i', data[:1024])
    if header[0] != 20240520:
        fail(f'{path}: not an llm.c token shard (magic {header[0]})')
    tokens = array('H', data[1024:1024 + 2 * header[2]])
    return torch.tensor(tokens.tolist(), dtype=torch.long)


def evaluate(model, tokens, B, T, batches):
    """Mean loss and tokens/s over the first `batches` batches, batched as mqg eval's DataLoader:
    batch k is tokens[k*B*T : k*B*T + B*T] against the same shifted by one."""
    need = batches * B * T + 1
    if tokens.numel() < need:
        fail(f'the shard holds {tokens.numel()} tokens; {B}x{T}x{batches} needs {need}')
    loss_sum, seconds = 0.0, 0.0
    for k in range(batches):
        chunk = tokens[k * B * T: k * B * T + B * T + 1]
        t0 = time.perf_counter()
        logits = model.forward(chunk[:-1].view(B, T))
        loss = F.cross_entropy(logits.view(B * T, -1), chunk[1:])
        seconds += time.perf_counter() - t0
        loss_sum += float(loss)
    return {'B': B, 'T': T, 'batches': batches, 'loss': loss_sum / batches, 'seconds': seconds, 'tokens_per_second': batches * B * T / seconds}


def greedy(model, prompt, new_tokens):
    """Greedy decoding with the KV cache: the prompt in one forward, then one token per forward.
    tokens_per_second counts new tokens over the whole time, the prompt's forward included."""
    cache, ids, steps = [], [], []
    t0 = time.perf_counter()
    logits = model.forward(prompt.view(1, -1), cache)
    for i in range(new_tokens):
        ids.append(int(logits[0, -1].argmax()))
        t = time.perf_counter()
        steps.append(t)
        if i + 1 < new_tokens:
            logits = model.forward(torch.tensor([[ids[-1]]]), cache)
    total = time.perf_counter() - t0
    step_ms = sorted((b - a) * 1000 for a, b in zip(steps, steps[1:]))
    return {'prompt_tokens': prompt.numel(), 'ids': ids, 'new_tokens': len(ids), 'seconds': total,
            'tokens_per_second': len(ids) / total, 'prompt_ms': (steps[0] - t0) * 1000,
            'median_step_ms': step_ms[len(step_ms) // 2] if step_ms else None}


def blas_library():
    """The BLAS this process loaded (Debian's torch calls the system libblas, e.g. OpenBLAS)."""
    try:
        with open('/proc/self/maps') as f:
            paths = {line.split()[-1] for line in f if 'blas' in line.rsplit('/', 1)[-1]}
        return ', '.join(sorted(os.path.realpath(p) for p in paths)) or 'none found'
    except OSError:
        return 'unknown'


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--checkpoint', required=True)
    ap.add_argument('--data', required=True, help='llm.c token shard')
    ap.add_argument('--eval', default='1x128x2,1x32x4', help='BxTxBATCHES, comma-separated')
    ap.add_argument('--prompt-tokens', type=int, default=16, help='the prompt: the shard\'s first tokens')
    ap.add_argument('--new-tokens', type=int, default=16, help='0 skips the decode')
    ap.add_argument('--threads', type=int, default=os.cpu_count())
    args = ap.parse_args()
    if not os.path.isfile(os.path.join(args.checkpoint, 'config.json')):
        fail(f'{args.checkpoint}: no config.json (a Hugging Face model directory expected)')
    torch.set_num_threads(args.threads)
    shapes = []
    for s in filter(None, args.eval.split(',')):
        try:
            B, T, N = (int(v) for v in s.split('x'))
        except ValueError:
            fail(f'--eval {s}: BxTxBATCHES expected, e.g. 1x128x2')
        shapes.append((B, T, N))
    tokens = read_shard(args.data)

    with torch.inference_mode():
        t0 = time.perf_counter()
        model = GPT2(args.checkpoint)
        load_seconds = time.perf_counter() - t0
        evals = [evaluate(model, tokens, B, T, N) for B, T, N in shapes]
        decode = greedy(model, tokens[:args.prompt_tokens], args.new_tokens) if args.new_tokens > 0 else None
    print(json.dumps({
        'system': 'PyTorch', 'dtype': 'float32', 'torch': torch.__version__,
        'python': sys.version.split()[0], 'threads': torch.get_num_threads(), 'blas': blas_library(),
        'load_seconds': load_seconds, 'eval': evals, 'decode': decode,
        'peak_rss_bytes': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
    }))


if __name__ == '__main__':
    main()
