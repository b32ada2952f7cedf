"""Reference checkpoints and log-probs for the Llama-family tests, made once with transformers.

Run from this directory with torch, transformers (5.x) and safetensors installed:
    python make_llama_fixtures.py
It rewrites one directory per case (config.json plus model.safetensors or a sharded index) and
logprobs.json: per case, two equal-length sequences and the per-token log-probs transformers gives
(float64 forward of the checkpoint as stored, so BF16/F16 rounding is part of the reference).

    python make_llama_fixtures.py --check DIR EXPECTED
loads a checkpoint that Swift saved (DIR) with transformers and prints the largest difference of its
log-probs on the fixture sequences from EXPECTED: a case name of logprobs.json, or a JSON file of
log-probs Swift computed with the model it saved.
"""
import json
import os
import shutil
import sys

import torch
from transformers import AutoModelForCausalLM, LlamaConfig, MistralConfig, Qwen2Config

here = os.path.dirname(os.path.abspath(__file__))
SIZES = dict(vocab_size=97, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
             num_attention_heads=4, num_key_value_heads=2, attention_dropout=0.0)

CASES = {
    # Untied LM head, default rotary, F32.
    "llama-untied": (LlamaConfig, dict(tie_word_embeddings=False, rope_theta=10000.0), torch.float32, None),
    # Tied embeddings, linear rope scaling, q/k/v/o and MLP biases, head_dim 16 != hidden / heads.
    "llama-tied-linear-bias": (LlamaConfig, dict(tie_word_embeddings=True, head_dim=16, attention_bias=True, mlp_bias=True,
                                                  rope_scaling={"rope_type": "linear", "factor": 2.5, "rope_theta": 500.0}),
                               torch.float32, None),
    # Llama 3.1 rope scaling (wavelengths 6.3, 63, 628, 6283 against 16 and 64: all three bands), stored as BF16.
    "llama3-rope-bf16": (LlamaConfig, dict(tie_word_embeddings=False, rope_scaling={
        "rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
        "original_max_position_embeddings": 64, "rope_theta": 10000.0}), torch.bfloat16, None),
    # Mistral with a sliding window longer than the sequences, stored as F16.
    "mistral-f16": (MistralConfig, dict(tie_word_embeddings=False, sliding_window=64, max_position_embeddings=128), torch.float16, None),
    # Qwen2: q/k/v biases, tied embeddings, sharded into several files.
    "qwen2-tied-sharded": (Qwen2Config, dict(tie_word_embeddings=True, rope_theta=1000000.0), torch.float32, "40KB"),
    # Qwen2 untied, 4 KV heads (no grouping), F32.
    "qwen2-untied": (Qwen2Config, dict(tie_word_embeddings=False, num_key_value_heads=4), torch.float32, None),
}
SEQUENCES = [[3, 17, 42, 96, 0, 5, 5, 71, 12, 33, 60, 8, 1, 90, 44, 27, 27, 2, 64, 80],
             [95, 4, 4, 4, 50, 61, 7, 19, 88, 23, 31, 2, 9, 76, 40, 11, 58, 66, 13, 70]]


def logprobs(model):
    ids = torch.tensor(SEQUENCES)
    with torch.no_grad():
        logits = model(ids).logits.double()
    lp = torch.log_softmax(logits, dim=-1)
    return [[lp[b, t, SEQUENCES[b][t + 1]].item() for t in range(len(SEQUENCES[b]) - 1)] for b in range(len(SEQUENCES))]


def load(path):
    return AutoModelForCausalLM.from_pretrained(path, dtype=torch.float64, attn_implementation="eager").eval()


def make():
    records = {}
    for i, (name, (cls, extra, dtype, shard)) in enumerate(CASES.items()):
        torch.manual_seed(100 + i)
        config = cls(**{**SIZES, **extra})
        model = AutoModelForCausalLM.from_config(config).eval()
        with torch.no_grad():
            # Larger weights than the 0.02 init so every path matters to the log-probs.
            for pname, p in model.named_parameters():
                if "norm" in pname:
                    p.add_(0.2 * torch.randn_like(p))
                else:
                    p.normal_(0.0, 0.25)
        out = os.path.join(here, name)
        shutil.rmtree(out, ignore_errors=True)
        model.to(dtype).save_pretrained(out, max_shard_size=shard or "50MB")
        for extra_file in ["generation_config.json"]:
            if os.path.exists(os.path.join(out, extra_file)):
                os.remove(os.path.join(out, extra_file))
        records[name] = {"input_ids": SEQUENCES, "logprobs": logprobs(load(out))}
        print(name, sorted(os.listdir(out)))
    with open(os.path.join(here, "logprobs.json"), "w") as f:
        json.dump(records, f, indent=1)


def check(directory, case):
    if case.endswith(".json"):
        with open(case) as f:
            expected = json.load(f)
    else:
        with open(os.path.join(here, "logprobs.json")) as f:
            expected = json.load(f)[case]["logprobs"]
    got = logprobs(load(directory))
    diff = max(abs(a - b) for ra, rb in zip(got, expected) for a, b in zip(ra, rb))
    print(f"{case}: transformers on the Swift-saved checkpoint, max |log-prob difference| = {diff:.3g}")


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--check":
        check(sys.argv[2], sys.argv[3])
    else:
        make()
