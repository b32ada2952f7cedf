"""LoRA reference numbers for TensorCore's LoRA tests, made once with transformers + PEFT.

Run from this directory with torch, transformers, peft and safetensors installed:
    python make_lora_fixtures.py
It writes base/ (a tiny random GPT-2, save_pretrained), three PEFT LoRA adapters on it
(adapter-c_attn/, adapter-all/ on c_attn,c_proj,c_fc, adapter-regex/ with a regex target), each
with random non-zero lora_B, and logprobs.json: per-token log-probs of the base, of base + each
adapter, and of each adapter merged by PEFT (merge_and_unload).

    python make_lora_fixtures.py --check-swift DIR
loads base/ plus the adapter Swift wrote to DIR with PEFT and compares its per-token log-probs
with DIR/swift_logprobs.json (written by the Swift side): prints the max absolute difference.
"""
import json
import os
import sys

import torch
from peft import LoraConfig, PeftModel, get_peft_model
from transformers import GPT2Config, GPT2LMHeadModel

here = os.path.dirname(os.path.abspath(__file__))
inputs = [[1, 5, 9, 2, 33, 49, 0, 7, 7, 12], [4, 4, 4, 8], list(range(16))]


def logprobs(model):
    out = []
    with torch.no_grad():
        for ids in inputs:
            logits = model(input_ids=torch.tensor([ids])).logits[0]
            lp = torch.log_softmax(logits.double(), dim=-1)
            out.append([lp[t, ids[t + 1]].item() for t in range(len(ids) - 1)])
    return out


def base_model():
    return GPT2LMHeadModel.from_pretrained(os.path.join(here, "base")).eval()


if len(sys.argv) == 3 and sys.argv[1] == "--check-swift":
    directory = sys.argv[2]
    model = PeftModel.from_pretrained(base_model(), directory).eval()
    with open(os.path.join(directory, "swift_logprobs.json")) as f:
        swift = json.load(f)
    ours = logprobs(model)
    diff = max(abs(a - b) for r, s in zip(ours, swift) for a, b in zip(r, s))
    print(f"max |PEFT - Swift| per-token log-prob difference: {diff:.3g}")
    sys.exit(0)

torch.manual_seed(0)
config = GPT2Config(vocab_size=50, n_positions=16, n_embd=16, n_layer=2, n_head=4,
                    resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0)
model = GPT2LMHeadModel(config).eval()
with torch.no_grad():
    for name, p in model.named_parameters():
        if "ln" in name:
            p.add_(0.1 * torch.randn_like(p))
        else:
            p.normal_(0.0, 0.3)
model.save_pretrained(os.path.join(here, "base"), safe_serialization=True)

records = {"inputs": inputs, "base": logprobs(base_model()), "adapters": {}}
adapters = {
    "adapter-c_attn": LoraConfig(r=4, lora_alpha=8, lora_dropout=0.1, target_modules=["c_attn"],
                                 fan_in_fan_out=True, task_type="CAUSAL_LM"),
    "adapter-all": LoraConfig(r=2, lora_alpha=5, lora_dropout=0.0, target_modules=["c_attn", "c_proj", "c_fc"],
                              fan_in_fan_out=True, task_type="CAUSAL_LM"),
    "adapter-regex": LoraConfig(r=3, lora_alpha=3, target_modules=r".*\.1\.(attn\.c_attn|mlp\.c_fc)",
                                fan_in_fan_out=True, task_type="CAUSAL_LM"),
}
for directory, lora in adapters.items():
    peft_model = get_peft_model(base_model(), lora)
    with torch.no_grad():
        for name, p in peft_model.named_parameters():
            if "lora_B" in name:
                p.normal_(0.0, 0.5)
            elif "lora_A" in name:
                p.mul_(2.0)
    peft_model.eval()
    peft_model.save_pretrained(os.path.join(here, directory))
    # A portable base path and no generated model card.
    config_path = os.path.join(here, directory, "adapter_config.json")
    with open(config_path) as f:
        saved = json.load(f)
    saved["base_model_name_or_path"] = "base"
    with open(config_path, "w") as f:
        json.dump(saved, f, indent=2, sort_keys=True)
    os.remove(os.path.join(here, directory, "README.md"))
    with_adapter = logprobs(peft_model)
    with peft_model.disable_adapter():
        disabled = logprobs(peft_model)
    assert max(abs(a - b) for r, s in zip(disabled, records["base"]) for a, b in zip(r, s)) == 0
    merged = logprobs(peft_model.merge_and_unload())
    records["adapters"][directory] = {"with_adapter": with_adapter, "merged": merged}
    print(directory, "max |adapter - base|:",
          max(abs(a - b) for r, s in zip(with_adapter, records["base"]) for a, b in zip(r, s)))
with open(os.path.join(here, "logprobs.json"), "w") as f:
    json.dump(records, f, indent=1)
