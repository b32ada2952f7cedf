"""Reference numbers for the loss tests (loss_fixtures.json), in float64 PyTorch.

The formulas are TRL's: DPOTrainer.dpo_loss (sigmoid with label smoothing = conservative DPO, robust,
hinge, ipo, reference_free), CPOTrainer's simpo, ORPOTrainer.odds_ratio_loss, masked_mean / masked_var /
masked_whiten of trl.core with the unbiased variance, and _get_batch_logps(average_log_prob=True).
One change from TRL: masked entries are selected away with torch.where instead of multiplied by the
mask, so that garbage there (stored as null, read as NaN by the tests) stays out, as the Swift code
promises. Inputs are rounded to float32 first so both sides start from the same numbers.

    python3 -m venv /tmp/venv && /tmp/venv/bin/pip install torch
    /tmp/venv/bin/python make_loss_fixtures.py   # writes loss_fixtures.json beside this file
"""
import json
import math
import os

import numpy as np
import torch
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)


def f32(values):
    return [float(np.float32(v)) for v in values]


def plain(t):
    return [float(v) for v in t.detach().reshape(-1)]


# MARK: preference losses (TRL dpo_loss / CPO simpo / ORPO)

def preference_case(loss_type, beta, eps, gamma, pc, pr, rc, rr, nll):
    pc, pr, rc, rr, nll = (torch.tensor(f32(v), requires_grad=True) for v in (pc, pr, rc, rr, nll))
    logratios = pc - pr
    if loss_type in ("reference_free", "simpo", "orpo"):
        logits = logratios
    else:
        logits = logratios - (rc - rr)
    if loss_type in ("sigmoid", "conservative", "reference_free"):
        losses = -F.logsigmoid(beta * logits) * (1 - eps) - F.logsigmoid(-beta * logits) * eps
    elif loss_type == "robust":
        losses = (-F.logsigmoid(beta * logits) * (1 - eps) + F.logsigmoid(-beta * logits) * eps) / (1 - 2 * eps)
    elif loss_type == "hinge":
        losses = torch.relu(1 - beta * logits)
    elif loss_type == "ipo":
        losses = (logits - 1 / (2 * beta)) ** 2
    elif loss_type == "simpo":
        logits = logits - gamma / beta
        losses = -F.logsigmoid(beta * logits) * (1 - eps) - F.logsigmoid(-beta * logits) * eps
    elif loss_type == "orpo":
        log_odds = logratios - (torch.log1p(-torch.exp(pc)) - torch.log1p(-torch.exp(pr)))
        losses = nll - beta * F.logsigmoid(log_odds)
    else:
        raise ValueError(loss_type)
    loss = losses.mean()
    loss.backward()
    with_reference = loss_type not in ("reference_free", "simpo", "orpo")
    case = {
        "type": loss_type, "beta": beta, "label_smoothing": eps, "simpo_gamma": gamma,
        "policy_chosen": plain(pc), "policy_rejected": plain(pr),
        "reference_chosen": plain(rc), "reference_rejected": plain(rr), "chosen_nll": plain(nll),
        "loss": loss.item(),
        "grad_policy_chosen": plain(pc.grad), "grad_policy_rejected": plain(pr.grad),
        "grad_chosen_nll": plain(nll.grad) if nll.grad is not None else [0.0] * len(nll),
        "chosen_rewards": plain(beta * (pc - (rc if with_reference else 0))),
        "rejected_rewards": plain(beta * (pr - (rr if with_reference else 0))),
    }
    if loss_type == "orpo":
        # What the float32 log(1 - exp(x)) the code used before gave, for the report.
        def old(x):
            x = np.float32(x)
            return np.log(np.float32(1) - np.exp(x))
        p32 = [np.float32(v) for v in case["policy_chosen"]]
        r32 = [np.float32(v) for v in case["policy_rejected"]]
        errors = [abs(float(old(a) - old(b)) - float(torch.log1p(-torch.exp(torch.tensor(float(a)))) - torch.log1p(-torch.exp(torch.tensor(float(b))))))
                  for a, b in zip(p32, r32)]
        print(f"orpo beta={beta}: float32 log(1 - exp) error in the log-odds term: {errors}")
    return case


pc = [-1.25, -0.4, -2.0, -3.5]
pr = [-0.9, -1.5, -0.3, -3.25]
rc = [-1.0, -0.75, -1.8, -3.0]
rr = [-0.5, -2.0, -1.0, -3.1]
nll = [0.7, 1.1, 0.2, 0.45]
preference = []
for loss_type, beta, eps in [("sigmoid", 0.1, 0.0), ("sigmoid", 0.5, 0.1), ("sigmoid", 2.0, 0.3),
                             ("conservative", 0.5, 0.1), ("reference_free", 0.5, 0.2), ("robust", 0.5, 0.1),
                             ("hinge", 0.5, 0.0), ("ipo", 0.25, 0.0), ("simpo", 2.0, 0.0), ("simpo", 2.0, 0.15)]:
    preference.append(preference_case(loss_type, beta, eps, 0.5, pc, pr, rc, rr, nll))
# ORPO on mean log-probs (negative), some close to 0 where 1 - exp(x) cancels in float32.
orpo_pc = [-1e-4, -3e-3, -0.5, -2.5e-5]
orpo_pr = [-2e-4, -1.2, -5e-5, -0.8]
for beta in (0.1, 1.0):
    preference.append(preference_case("orpo", beta, 0.0, 0.5, orpo_pc, orpo_pr, rc, rr, nll))


# MARK: PPO (trl.core masked statistics, KL estimators)

def where_masked(x, mask):
    return torch.where(mask != 0, x, torch.zeros_like(x))


def masked_mean(x, mask):
    return where_masked(x, mask).sum() / mask.sum()


def masked_var(x, mask, unbiased=True):
    mean = masked_mean(x, mask)
    variance = masked_mean((where_masked(x, mask) - mean) ** 2, mask)
    if unbiased:
        n = mask.sum()
        variance = variance * n / (n - 1)
    return variance


def masked_whiten(x, mask, shift_mean=True):
    mean, var = masked_mean(x, mask), masked_var(x, mask)
    whitened = (where_masked(x, mask) - mean) * torch.rsqrt(var + 1e-8)
    if not shift_mean:
        whitened += mean
    return where_masked(whitened, mask)  # PPOTrainer's masked_fill(~mask, 0)


def with_garbage(values, mask):
    """Inputs as stored: null (NaN in the tests) where masked."""
    return [None if m == 0 else v for v, m in zip(values, mask)]


def tensor_from(values):
    return torch.tensor([0.0 if v is None else v for v in values], requires_grad=True)


def kl_case(estimator, lp, ref, mask, shape, weights):
    lp_t, ref_t = tensor_from(lp), tensor_from(ref)
    m = torch.tensor(mask, dtype=torch.float64)
    log_ratio = where_masked(lp_t - ref_t, m)
    if estimator == "k1":
        kl = log_ratio
    elif estimator == "k2":
        kl = 0.5 * log_ratio ** 2
    else:
        log_r = -log_ratio
        kl = (log_r.exp() - 1) - log_r
    (kl * torch.tensor(weights)).sum().backward()
    return {"estimator": estimator, "shape": shape, "log_probs": lp, "reference_log_probs": ref, "mask": mask,
            "weights": weights, "kl": plain(kl), "grad_log_probs": plain(lp_t.grad),
            "grad_reference_log_probs": plain(ref_t.grad)}


kl = []
for estimator in ("k1", "k2", "k3"):
    kl.append(kl_case(estimator, [-1.0, None], [-1.5, None], [1, 0], [1, 2], [1.0, 1.0]))
mask24 = [1, 1, 1, 0, 1, 1, 0, 0]
lp24 = f32([-1.1, -0.35, -2.4, 0, -0.7, -1.9, 0, 0])
ref24 = f32([-1.3, -0.3, -1.9, 0, -1.2, -1.6, 0, 0])
w24 = f32([0.5, -1.0, 2.0, 1.0, 1.5, -0.25, 3.0, 1.0])
for estimator in ("k1", "k2", "k3"):
    kl.append(kl_case(estimator, with_garbage(lp24, mask24), with_garbage(ref24, mask24), mask24, [2, 4], w24))


def whiten_case(x, mask, shape, weights, shift_mean):
    x_t = tensor_from(x)
    m = torch.tensor(mask, dtype=torch.float64)
    w = masked_whiten(x_t, m, shift_mean=shift_mean)
    (w * torch.tensor(weights)).sum().backward()
    return {"x": x, "mask": mask, "shape": shape, "weights": weights, "shift_mean": shift_mean,
            "whitened": plain(w), "grad_x": plain(x_t.grad),
            "variance": masked_var(tensor_from(x), m).item(),
            "biased_variance": masked_var(tensor_from(x), m, unbiased=False).item()}


whiten = [whiten_case([1.0, 2.0, 3.0, None], [1, 1, 1, 0], [1, 4], [1.0, 2.0, 4.0, 8.0], True)]
x24 = f32([0.3, -1.2, 2.5, 0, 0.8, 1.7, 0, 0])
for shift in (True, False):
    whiten.append(whiten_case(with_garbage(x24, mask24), mask24, [2, 4], w24, shift))


# MARK: mean sequence log-probs (TRL _get_batch_logps, average_log_prob=True)

vocab, length = 6, 5
rows = [([], [1, 2, 3]), ([4], [5, 0]), ([2, 3], [1]), ([], [4, 1, 5, 2, 3])]
length = max(len(p) + len(c) for p, c in rows)
generator = np.random.default_rng(7)
logits = torch.tensor(f32(generator.normal(size=len(rows) * length * vocab)), requires_grad=True)
input_ids, labels = [], []
for prompt, completion in rows:
    seq = prompt + completion
    input_ids.append(seq + [0] * (length - len(seq)))
    labels.append([-100] * len(prompt) + completion + [-100] * (length - len(seq)))
labels_t = torch.tensor(labels)[:, 1:].clone()
loss_mask = labels_t != -100
labels_t[~loss_mask] = 0
per_token = torch.gather(logits.reshape(len(rows), length, vocab)[:, :-1, :].log_softmax(-1), 2, labels_t.unsqueeze(2)).squeeze(2)
total = where_masked(per_token, loss_mask.double()).sum(-1)
mean = total / loss_mask.sum(-1)
sequence_logprobs = {"vocab": vocab, "length": length, "prompts": [p for p, _ in rows],
                     "completions": [c for _, c in rows], "logits": plain(logits),
                     "sum": plain(total), "mean": plain(mean), "scored_targets": [int(v) for v in loss_mask.sum(-1)]}

out = {"preference": preference, "kl": kl, "whiten": whiten, "sequence_logprobs": sequence_logprobs,
       "torch": torch.__version__}
path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "loss_fixtures.json")
with open(path, "w") as f:
    json.dump(out, f, indent=1, allow_nan=False)
print("wrote", path)
