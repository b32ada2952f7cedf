"""PyTorch eager reference for train-bench: the same GPT-2 architecture, AdamW, random tokens and flags.

    pip install torch
    python Benchmarks/reference/train_bench.py --vocab 64 --d-model 128 --layers 4 --heads 4 --seq 64 --batch 32 --json
    python Benchmarks/reference/train_bench.py ... --generate   # KV-cache sampling with transformers' generate

    # Llama family (transformers LlamaForCausalLM from a random config; LoRA through peft):
    pip install torch transformers peft
    python Benchmarks/reference/train_bench.py --arch llama --vocab 49152 --d-model 576 --layers 30 --heads 9 \
        --kv-heads 3 --intermediate 1536 --seq 256 --batch 4 --threads 2 --json            # full fine-tuning
    python Benchmarks/reference/train_bench.py --arch llama ... --lora-rank 16 --dpo        # LoRA DPO step
    python Benchmarks/reference/train_bench.py --arch llama ... --generate --seq 128       # generate()

Prints {"ms_per_step", "tokens_per_s", "gflops", "peak_rss_mb"} (median step), like train-bench;
--arch llama adds "arch", "mode", "parameters" and "trainable_parameters".
"""
import argparse
import json
import math
import resource
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class Block(nn.Module):
    def __init__(self, d, h):
        super().__init__()
        self.h = h
        self.ln_1 = nn.LayerNorm(d)
        self.c_attn = nn.Linear(d, 3 * d)
        self.c_proj = nn.Linear(d, d)
        self.ln_2 = nn.LayerNorm(d)
        self.c_fc = nn.Linear(d, 4 * d)
        self.mlp_proj = nn.Linear(4 * d, d)

    def forward(self, x):
        b, t, d = x.shape
        q, k, v = self.c_attn(self.ln_1(x)).split(d, dim=2)
        q, k, v = (z.view(b, t, self.h, d // self.h).transpose(1, 2) for z in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.c_proj(y.transpose(1, 2).reshape(b, t, d))
        return x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x)), approximate="tanh"))


class GPT(nn.Module):
    def __init__(self, vocab, ctx, d, layers, heads):
        super().__init__()
        self.wte = nn.Embedding(vocab, d)
        self.wpe = nn.Embedding(ctx, d)
        self.h = nn.ModuleList(Block(d, heads) for _ in range(layers))
        self.ln_f = nn.LayerNorm(d)

    def forward(self, ids):
        x = self.wte(ids) + self.wpe(torch.arange(ids.shape[1]))
        for block in self.h:
            x = block(x)
        return self.ln_f(x) @ self.wte.weight.T


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--vocab", type=int, default=64)
    p.add_argument("--d-model", type=int, default=128)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--seq", type=int, default=64)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--arch", choices=["gpt2", "llama"], default="gpt2")
    p.add_argument("--kv-heads", type=int, default=None)
    p.add_argument("--intermediate", type=int, default=None)
    p.add_argument("--lora-rank", type=int, default=None)
    p.add_argument("--dpo", action="store_true")
    p.add_argument("--untie-embeddings", action="store_true")
    p.add_argument("--gradient-checkpointing", action="store_true")
    p.add_argument("--generate", action="store_true")
    p.add_argument("--compile", action="store_true", help="torch.compile the model")
    p.add_argument("--json", action="store_true")
    a = p.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    if a.arch == "llama":
        from llama_bench import run_llama
        return run_llama(a)
    times = []
    tokens = a.batch * a.seq
    if a.generate:
        from transformers import GPT2Config, GPT2LMHeadModel
        cfg = GPT2Config(vocab_size=a.vocab, n_positions=a.seq + 1, n_embd=a.d_model, n_layer=a.layers, n_head=a.heads)
        model = GPT2LMHeadModel(cfg).eval()
        for step in range(a.steps + 1):
            prompt = torch.randint(0, a.vocab, (a.batch, 1))
            t0 = time.perf_counter()
            with torch.no_grad():
                model.generate(prompt, do_sample=True, max_new_tokens=a.seq, min_new_tokens=a.seq, pad_token_id=0)
            if step > 0:
                times.append(time.perf_counter() - t0)
    else:
        model = GPT(a.vocab, a.seq, a.d_model, a.layers, a.heads)
        opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
        run = torch.compile(model) if a.compile else model
        for step in range(a.steps + 2):
            ids = torch.randint(0, a.vocab, (a.batch, a.seq))
            targets = torch.randint(0, a.vocab, (a.batch, a.seq))
            t0 = time.perf_counter()
            opt.zero_grad(set_to_none=True)
            loss = F.cross_entropy(run(ids).view(-1, a.vocab), targets.view(-1))
            loss.backward()
            opt.step()
            if step >= 2:
                times.append(time.perf_counter() - t0)
    median = statistics.median(times)
    d, t, l, v = a.d_model, a.seq, a.layers, a.vocab
    forward_per_token = l * (24 * d * d + 4 * t * d) + 2 * d * v
    flops = (1 if a.generate else 3) * forward_per_token * tokens
    out = {"ms_per_step": round(median * 1000, 2), "tokens_per_s": round(tokens / median),
           "gflops": round(flops / median / 1e9, 1), "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024}
    print(json.dumps(out, sort_keys=True) if a.json else out)


if __name__ == "__main__":
    main()
