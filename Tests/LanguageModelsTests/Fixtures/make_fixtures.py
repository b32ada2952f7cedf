"""Reference numbers for TensorCore's tests, computed once with PyTorch / transformers.

Run from this directory with torch, transformers and safetensors installed:
    python make_fixtures.py
It rewrites tiny-gpt2/ (a random GPT-2 saved by save_pretrained), gpt2_logprobs.json,
optimizers.json and python_written.safetensors. If swift_written.safetensors exists (written by
`swift test --filter SafeTensorsInteropTests`), it also checks that Python reads it back.
"""
import json
import os

import torch
from safetensors.torch import load_file, save_file
from transformers import GPT2Config, GPT2LMHeadModel

torch.manual_seed(0)
here = os.path.dirname(os.path.abspath(__file__))

# --- A tiny GPT-2 and per-token log-probabilities -------------------------------------------
config = GPT2Config(vocab_size=50, n_positions=16, n_embd=16, n_layer=2, n_head=4,
                    resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0)
model = GPT2LMHeadModel(config).eval()
with torch.no_grad():
    # Larger weights than the 0.02 init so the test exercises every path.
    for name, p in model.named_parameters():
        if "ln" in name:
            p.add_(0.1 * torch.randn_like(p))
        else:
            p.normal_(0.0, 0.3)
model.save_pretrained(os.path.join(here, "tiny-gpt2"), safe_serialization=True)

inputs = [[1, 5, 9, 2, 33, 49, 0, 7, 7, 12], [4, 4, 4, 8], list(range(16))]
records = []
with torch.no_grad():
    for ids in inputs:
        logits = model(torch.tensor([ids])).logits[0]
        logp = torch.log_softmax(logits.double(), dim=-1)
        per_token = [logp[t, ids[t + 1]].item() for t in range(len(ids) - 1)]
        records.append({"input_ids": ids, "logprobs": per_token})
with open(os.path.join(here, "gpt2_logprobs.json"), "w") as f:
    json.dump(records, f, indent=1)

# --- Optimizer trajectories ------------------------------------------------------------------
# loss(w) = sum(c * (w - t)^2) + 0.1 * sum(w^3), gradients from autograd, 6 steps each.
w0 = [0.5, -1.0, 2.0, 0.0, 1.5]
c = [1.0, 2.0, 0.5, 3.0, 1.0]
t = [0.0, 1.0, -1.0, 0.5, 2.0]
runs = {
    "sgd": (torch.optim.SGD, dict(lr=0.05)),
    "sgd_momentum_wd": (torch.optim.SGD, dict(lr=0.05, momentum=0.9, dampening=0.1, weight_decay=0.01)),
    "sgd_nesterov": (torch.optim.SGD, dict(lr=0.05, momentum=0.9, nesterov=True)),
    "adam": (torch.optim.Adam, dict(lr=0.1)),
    "adam_wd": (torch.optim.Adam, dict(lr=0.1, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1)),
    "adamw": (torch.optim.AdamW, dict(lr=0.1)),
    "adamw_wd": (torch.optim.AdamW, dict(lr=0.1, weight_decay=0.5)),
    "rmsprop": (torch.optim.RMSprop, dict(lr=0.01)),
    "rmsprop_momentum_centered": (torch.optim.RMSprop, dict(lr=0.01, momentum=0.5, centered=True, weight_decay=0.1)),
}
trajectories = {"w0": w0, "c": c, "t": t, "steps": 6, "runs": {}}
for name, (cls, kwargs) in runs.items():
    w = torch.tensor(w0, dtype=torch.float32, requires_grad=True)
    opt = cls([w], **kwargs)
    path = []
    for _ in range(6):
        opt.zero_grad()
        loss = (torch.tensor(c) * (w - torch.tensor(t)) ** 2).sum() + 0.1 * (w ** 3).sum()
        loss.backward()
        opt.step()
        path.append(w.detach().tolist())
    trajectories["runs"][name] = {"kwargs": {k: list(v) if isinstance(v, tuple) else v for k, v in kwargs.items()}, "path": path}
with open(os.path.join(here, "optimizers.json"), "w") as f:
    json.dump(trajectories, f, indent=1)

# --- safetensors interop ---------------------------------------------------------------------
save_file({
    "f32": torch.arange(6, dtype=torch.float32).reshape(2, 3) - 2.5,
    "f16": torch.tensor([0.5, -1.25, 1000.0], dtype=torch.float16),
    "bf16": torch.tensor([[1.0, -2.0], [3.5, 0.0078125]], dtype=torch.bfloat16),
    "scalar": torch.tensor(3.0),
}, os.path.join(here, "python_written.safetensors"), metadata={"format": "pt", "step": "42"})

swift_file = os.path.join(here, "swift_written.safetensors")
if os.path.exists(swift_file):
    loaded = load_file(swift_file)
    assert loaded["matrix"].tolist() == [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], loaded["matrix"]
    assert loaded["vector"].tolist() == [-1.5, 0.25], loaded["vector"]
    print("python reads swift_written.safetensors: ok")
print("fixtures written")
