"""--arch llama of train_bench.py: transformers' LlamaForCausalLM from a random config (eager PyTorch,
float32, transformers' default SDPA attention), the same workloads and flags as `train-bench --arch llama`:

- full fine-tuning: the causal-LM loss over all next tokens (`model(ids, labels=ids).loss`), backward, AdamW;
- --lora-rank R: peft LoRA on q_proj and v_proj (alpha 2R), only adapters in AdamW;
- --dpo: one DPO step (sigmoid loss, beta 0.1) on --batch pairs, chosen and rejected concatenated into one
  batch as TRL does, sequence log-probs of the completion (second half) tokens; the reference is the model
  under `with model.disable_adapter():` with LoRA, a frozen deep copy without;
- --generate: `generate` with a KV cache, sampling --seq new tokens from 1-token prompts (no top-k).
"""
import copy
import json
import resource
import statistics
import time

import torch
import torch.nn.functional as F


def sequence_logps(model, ids, completion_mask):
    """Sum over completion tokens of log p(token t+1 | ...t), per row (TRL's concatenated forward)."""
    logits = model(input_ids=ids).logits[:, :-1]
    targets = ids[:, 1:]
    # TRL's selective_log_softmax for float32: gather minus a row-by-row logsumexp.
    picked = torch.gather(logits, 2, targets.unsqueeze(2)).squeeze(2)
    lse = torch.stack([torch.logsumexp(row, dim=-1) for row in logits])
    return ((picked - lse) * completion_mask[:, 1:]).sum(-1)


def run_llama(a):
    from transformers import LlamaConfig, LlamaForCausalLM
    cfg = LlamaConfig(vocab_size=a.vocab, hidden_size=a.d_model, intermediate_size=a.intermediate or 4 * a.d_model,
                      num_hidden_layers=a.layers, num_attention_heads=a.heads, num_key_value_heads=a.kv_heads or a.heads,
                      max_position_embeddings=max(2048, a.seq + 1), rms_norm_eps=1e-5,
                      tie_word_embeddings=not a.untie_embeddings, use_cache=a.generate)
    model = LlamaForCausalLM(cfg)
    parameters = sum(p.numel() for p in model.parameters())
    mode = "generate" if a.generate else ("lora" if a.lora_rank else "full") + ("-dpo" if a.dpo else "-sft")
    extra = {"arch": "llama", "mode": mode, "parameters": parameters}
    d, t, l, v = a.d_model, a.seq, a.layers, a.vocab
    q, kv, inter = d, (a.kv_heads or a.heads) * (d // a.heads), cfg.intermediate_size
    forward_per_token = l * (2 * (2 * d * q + 2 * d * kv + 3 * d * inter) + 4 * t * q) + 2 * d * v
    times = []
    if a.generate:
        model.eval()
        for step in range(a.steps + 1):
            prompt = torch.randint(0, a.vocab, (a.batch, 1))
            t0 = time.perf_counter()
            with torch.no_grad():
                model.generate(prompt, attention_mask=torch.ones_like(prompt), do_sample=True, top_k=0, top_p=1.0,
                               max_new_tokens=a.seq, min_new_tokens=a.seq, pad_token_id=0, use_cache=True)
            if step > 0:
                times.append(time.perf_counter() - t0)
        return report(a, times, a.batch * a.seq, forward_per_token, extra)
    if a.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    model.train()
    reference = None
    if a.lora_rank:
        from peft import LoraConfig, get_peft_model
        model = get_peft_model(model, LoraConfig(r=a.lora_rank, lora_alpha=2 * a.lora_rank, lora_dropout=0.0,
                                                 target_modules=["q_proj", "v_proj"]))
    elif a.dpo:
        reference = copy.deepcopy(model).eval().requires_grad_(False)
    trainable = [p for p in model.parameters() if p.requires_grad]
    extra["trainable_parameters"] = sum(p.numel() for p in trainable)
    opt = torch.optim.AdamW(trainable, lr=1e-4)
    rows = 2 * a.batch if a.dpo else a.batch
    for step in range(a.steps + 2):
        if a.dpo:
            prompt = torch.randint(0, a.vocab, (a.batch, a.seq // 2))
            chosen = torch.randint(0, a.vocab, (a.batch, a.seq - a.seq // 2))
            rejected = torch.randint(0, a.vocab, (a.batch, a.seq - a.seq // 2))
            ids = torch.cat([torch.cat([prompt, chosen], 1), torch.cat([prompt, rejected], 1)], 0)
            mask = torch.zeros_like(ids, dtype=torch.float32)
            mask[:, a.seq // 2:] = 1
        else:
            ids = torch.randint(0, a.vocab, (a.batch, a.seq))
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        if a.dpo:
            policy = sequence_logps(model, ids, mask)
            with torch.no_grad():
                if reference is None:
                    with model.disable_adapter():
                        ref = sequence_logps(model, ids, mask)
                else:
                    ref = sequence_logps(reference, ids, mask)
            margin = (policy[:a.batch] - ref[:a.batch]) - (policy[a.batch:] - ref[a.batch:])
            loss = -F.logsigmoid(0.1 * margin).mean()
        else:
            loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        opt.step()
        if step >= 2:
            times.append(time.perf_counter() - t0)
    return report(a, times, rows * a.seq, 3 * forward_per_token, extra)


def report(a, times, tokens, flops_per_token, extra):
    median = statistics.median(times)
    out = {"ms_per_step": round(median * 1000, 2), "tokens_per_s": round(tokens / median),
           "gflops": round(flops_per_token * tokens / median / 1e9, 1),
           "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024, **extra}
    print(json.dumps(out, sort_keys=True) if a.json else out)
