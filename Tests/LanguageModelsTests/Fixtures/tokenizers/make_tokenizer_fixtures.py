"""Trains small tokenizers offline with Hugging Face `tokenizers` and records what it encodes.

Each tokenizer copies the pre-tokenizer / normalizer / post-processor / decoder configuration that
the real model declares in its tokenizer.json (GPT-2, Llama-3, Qwen2, Llama-2, Mistral-style
Metaspace), with a vocabulary of a few hundred tokens trained on the small corpus below.

Writes, beside this script:
  <name>/tokenizer.json, <name>/tokenizer_config.json
  expected.json: for every tokenizer and test text, ids with and without special tokens and the
                 decodes with and without skipping special tokens.

Run: python3 -m venv /tmp/venv-tokenizers && /tmp/venv-tokenizers/bin/pip install tokenizers
     /tmp/venv-tokenizers/bin/python make_tokenizer_fixtures.py
"""
import json
import os

import tokenizers
from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

HERE = os.path.dirname(os.path.abspath(__file__))

GPT2_PATTERN = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"
LLAMA3_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                  r"|\s*[\r\n]+|\s+(?!\S)|\s+")
QWEN2_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                 r"|\s*[\r\n]+|\s+(?!\S)|\s+")

CORPUS = [
    "The quick brown fox jumps over the lazy dog. It's what we've said they'll do, and I'm sure you'd agree.",
    "Tokenizers split text into pieces; byte-level BPE never needs an unknown token.",
    "def encode(self, text):\n    return [self.vocab[t] for t in text.split()]\n",
    "for i in range(10):\n\tprint(i * 2 + 1)  # odd numbers\n",
    "In 2024, 1,234,567 people visited the museum; 89% of them came back in 2025.",
    "Café, naïve, résumé, façade, coöperate, São Paulo, Zürich, Kraków, Ångström.",
    "日本語のテキストも少し入れておきます。中文也有一点。",
    "Привет, как дела? Всё хорошо, спасибо.",
    "שלום עולם. مرحبا بالعالم.",
    "Emoji: 😀 👍🏽 👨‍👩‍👧‍👦 🇫🇷 ❤️",
    "A reward model scores completions; DPO compares a chosen and a rejected answer.",
    "The policy is trained with PPO against the reward model, with a KL penalty to the reference.",
    "She said: \"Don't do that!\" He replied: 'I won't.' THEY'RE HERE, WE'LL SEE.",
    "    indented line\n        more indentation\n\n\nthree newlines above",
] * 20

TEST_TEXTS = [
    "",
    " ",
    "Hello world",
    " Hello  world   with   spaces ",
    "It's, I'M, they'Re, WE'VE, you'll, he'D, she'S, O'Neil's",
    "'ſ 'S 'ﬅ",
    "tabs\tand\t\ttabs\nnewlines\n\n\nand\r\nCRLF\r\n",
    "   \n   leading and trailing whitespace   \n  ",
    "digits 1 12 123 1234 12345 1234567890 ٣٤٥ ½ Ⅻ",
    "Café naïve résumé with combining: Cafe\u0301 nai\u0308ve",
    "日本語のテキスト 中文 한국어",
    "עברית ועוד מילים, العربية نص",
    "emoji 😀😀 👍🏽 👨‍👩‍👧‍👦 🇫🇷🇩🇪 ❤️‍🔥",
    "def f(x):\n    return x**2 + 1  # square\n\tif x: pass\n",
    "<|im_start|>user\nHi there<|im_end|>\n<|im_start|>assistant\n",
    "text with <|endoftext|> inside and <|endoftext|><|endoftext|> twice",
    "a <custom> token and <custom>glued and  <custom>  spaced",
    "unseen ∑∫√ ≠ ⊕ 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 \u0000 \u00ad \u200b zero-width",
    "MiXeD CaSe CONTRACTIONS: DON'T, Can'T, i'Ll",
    "!!!??? ... --- ___ *** ((( ))) {}[]",
    "trailing newline\n",
    "<s>already has bos</s> and <unk>",
    "\u3000ideographic space and\u00a0nbsp and\u2028line separator",
    "vertical\u000btab, next\u0085line,\u000c form feed \u0085\u0085x",
]


def byte_level_bpe(split_pattern, digits_pattern_name, vocab_size=600):
    tok = Tokenizer(models.BPE())
    if split_pattern is None:
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    else:
        tok.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.Split(Regex(split_pattern), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ])
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=2, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), special_tokens=[])
    tok.train_from_iterator(CORPUS, trainer=trainer)
    return json.loads(tok.to_str())


def add_tokens(j, tokens):
    """Appends added tokens (content, special, lstrip, rstrip, single_word, normalized) after the vocab."""
    vocab = j["model"]["vocab"]
    next_id = max(vocab.values()) + 1
    j["added_tokens"] = []
    for content, special, lstrip, rstrip, single_word, normalized in tokens:
        if content in vocab:
            tid = vocab[content]
        else:
            tid = next_id
            next_id += 1
        j["added_tokens"].append({"id": tid, "content": content, "single_word": single_word, "lstrip": lstrip,
                                  "rstrip": rstrip, "normalized": normalized, "special": special})


def gpt2():
    j = byte_level_bpe(None, None)
    j["pre_tokenizer"] = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}
    j["post_processor"] = {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False, "use_regex": True}
    j["decoder"] = {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True}
    j["model"].update({"dropout": None, "unk_token": None, "continuing_subword_prefix": "", "end_of_word_suffix": "",
                       "fuse_unk": False})
    # GPT-2's file uses the "a b" string form of merges.
    j["model"]["merges"] = [" ".join(m) for m in j["model"]["merges"]]
    add_tokens(j, [("<|endoftext|>", True, False, False, False, True),
                   ("<custom>", False, False, False, False, False)])
    config = {"bos_token": "<|endoftext|>", "eos_token": {"content": "<|endoftext|>", "lstrip": False},
              "unk_token": "<|endoftext|>", "tokenizer_class": "GPT2Tokenizer"}
    return j, config


def llama3():
    j = byte_level_bpe(LLAMA3_PATTERN, "llama3")
    j["pre_tokenizer"] = {"type": "Sequence", "pretokenizers": [
        {"type": "Split", "pattern": {"Regex": LLAMA3_PATTERN}, "behavior": "Isolated", "invert": False},
        {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False}]}
    j["model"].update({"dropout": None, "unk_token": None, "continuing_subword_prefix": None, "end_of_word_suffix": None,
                       "fuse_unk": False, "byte_fallback": False, "ignore_merges": True})
    add_tokens(j, [("<|begin_of_text|>", True, False, False, False, False),
                   ("<|end_of_text|>", True, False, False, False, False),
                   ("<|im_start|>", True, False, False, False, False),
                   ("<|im_end|>", True, False, False, False, False),
                   ("<|endoftext|>", True, False, False, False, False),
                   ("<custom>", False, True, True, False, False)])
    bos = next(t["id"] for t in j["added_tokens"] if t["content"] == "<|begin_of_text|>")
    j["post_processor"] = {"type": "Sequence", "processors": [
        {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False, "use_regex": True},
        {"type": "TemplateProcessing",
         "single": [{"SpecialToken": {"id": "<|begin_of_text|>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
         "pair": [{"SpecialToken": {"id": "<|begin_of_text|>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                  {"SpecialToken": {"id": "<|begin_of_text|>", "type_id": 1}}, {"Sequence": {"id": "B", "type_id": 1}}],
         "special_tokens": {"<|begin_of_text|>": {"id": "<|begin_of_text|>", "ids": [bos], "tokens": ["<|begin_of_text|>"]}}}]}
    j["decoder"] = {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True}
    config = {"bos_token": "<|begin_of_text|>", "eos_token": "<|end_of_text|>", "tokenizer_class": "PreTrainedTokenizerFast"}
    return j, config


def qwen2():
    j = byte_level_bpe(QWEN2_PATTERN, "qwen2")
    j["normalizer"] = {"type": "NFC"}
    j["pre_tokenizer"] = {"type": "Sequence", "pretokenizers": [
        {"type": "Split", "pattern": {"Regex": QWEN2_PATTERN}, "behavior": "Isolated", "invert": False},
        {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False}]}
    j["post_processor"] = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False}
    j["decoder"] = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False}
    j["model"].update({"dropout": None, "unk_token": None, "continuing_subword_prefix": "", "end_of_word_suffix": "",
                       "fuse_unk": False, "byte_fallback": False})
    add_tokens(j, [("<|endoftext|>", True, False, False, False, False),
                   ("<|im_start|>", True, False, False, False, False),
                   ("<|im_end|>", True, False, False, False, False),
                   ("<custom>", False, False, False, True, True)])
    config = {"bos_token": None, "eos_token": "<|im_end|>", "pad_token": "<|endoftext|>",
              "tokenizer_class": "Qwen2Tokenizer"}
    return j, config


def sentencepiece_bpe(vocab_size=700):
    """Llama-2 layout: <unk> <s> </s>, the 256 <0xNN> byte tokens, then merged pieces."""
    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=2, show_progress=False, special_tokens=[],
                                  limit_alphabet=150)
    tok.train_from_iterator(CORPUS, trainer=trainer)
    trained = json.loads(tok.to_str())["model"]
    vocab = {"<unk>": 0, "<s>": 1, "</s>": 2}
    for b in range(256):
        vocab["<0x%02X>" % b] = len(vocab)
    for piece, _ in sorted(trained["vocab"].items(), key=lambda kv: kv[1]):
        if piece not in vocab:
            vocab[piece] = len(vocab)
    return vocab, trained["merges"]


def llama2():
    vocab, merges = sentencepiece_bpe()
    j = json.loads(Tokenizer(models.BPE()).to_str())
    j["model"] = {"type": "BPE", "dropout": None, "unk_token": "<unk>", "continuing_subword_prefix": None,
                  "end_of_word_suffix": None, "fuse_unk": True, "byte_fallback": True, "ignore_merges": False,
                  "vocab": vocab, "merges": [" ".join(m) for m in merges]}
    j["normalizer"] = {"type": "Sequence", "normalizers": [{"type": "Prepend", "prepend": "▁"},
                                                           {"type": "Replace", "pattern": {"String": " "}, "content": "▁"}]}
    j["pre_tokenizer"] = None
    j["post_processor"] = {"type": "TemplateProcessing",
                           "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
                           "pair": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                                    {"SpecialToken": {"id": "<s>", "type_id": 1}}, {"Sequence": {"id": "B", "type_id": 1}}],
                           "special_tokens": {"<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]}}}
    j["decoder"] = {"type": "Sequence", "decoders": [{"type": "Replace", "pattern": {"String": "▁"}, "content": " "},
                                                     {"type": "ByteFallback"}, {"type": "Fuse"},
                                                     {"type": "Strip", "content": " ", "start": 1, "stop": 0}]}
    add_tokens(j, [("<unk>", True, False, False, False, False), ("<s>", True, False, False, False, False),
                   ("</s>", True, False, False, False, False), ("<|im_start|>", True, False, False, False, False),
                   ("<|im_end|>", True, False, False, False, False), ("<custom>", False, False, False, False, True)])
    config = {"bos_token": {"__type": "AddedToken", "content": "<s>", "lstrip": False, "normalized": False},
              "eos_token": {"__type": "AddedToken", "content": "</s>", "lstrip": False, "normalized": False},
              "unk_token": "<unk>", "pad_token": None, "tokenizer_class": "LlamaTokenizer"}
    return j, config


def mistral_metaspace():
    """Newer Mistral / Llama files: Metaspace pre-tokenizer (prepend_scheme "first") instead of normalizers."""
    vocab, merges = sentencepiece_bpe()
    j = json.loads(Tokenizer(models.BPE()).to_str())
    j["model"] = {"type": "BPE", "dropout": None, "unk_token": "<unk>", "continuing_subword_prefix": None,
                  "end_of_word_suffix": None, "fuse_unk": True, "byte_fallback": True, "ignore_merges": False,
                  "vocab": vocab, "merges": merges}
    j["normalizer"] = None
    j["pre_tokenizer"] = {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "first", "split": False}
    j["post_processor"] = {"type": "TemplateProcessing",
                           "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
                           "pair": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                                    {"SpecialToken": {"id": "<s>", "type_id": 1}}, {"Sequence": {"id": "B", "type_id": 1}}],
                           "special_tokens": {"<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]}}}
    j["decoder"] = {"type": "Sequence", "decoders": [{"type": "Metaspace", "replacement": "▁", "prepend_scheme": "first",
                                                      "split": False},
                                                     {"type": "ByteFallback"}, {"type": "Fuse"}]}
    add_tokens(j, [("<unk>", True, False, False, False, False), ("<s>", True, False, False, False, False),
                   ("</s>", True, False, False, False, False), ("<custom>", False, True, False, False, False)])
    config = {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>"}
    return j, config


def metaspace_split():
    """Older Metaspace files: prepend everywhere and split on the replacement character."""
    j, config = mistral_metaspace()
    j["pre_tokenizer"] = {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "always", "split": True}
    j["decoder"] = {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "always", "split": True}
    j["post_processor"] = None
    return j, config


def byte_level_variants():
    """Exercises options the real files above leave off: a literal Split merged with the next piece,
    ByteLevel's add_prefix_space, single_word / rstrip added tokens, Roberta post-processing."""
    j, config = gpt2()
    j["pre_tokenizer"] = {"type": "Sequence", "pretokenizers": [
        {"type": "Split", "pattern": {"String": "e"}, "behavior": "MergedWithNext", "invert": False},
        {"type": "Split", "pattern": {"Regex": "[0-9]"}, "behavior": "MergedWithPrevious", "invert": True},
        {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True}]}
    j["post_processor"] = {"type": "RobertaProcessing", "sep": ["<|endoftext|>", 600], "cls": ["<custom>", 601],
                           "trim_offsets": True, "add_prefix_space": True}
    j["added_tokens"][1].update({"single_word": True, "rstrip": True})
    return j, config


def main():
    expected = {"tokenizers_version": tokenizers.__version__, "texts": TEST_TEXTS, "tokenizers": {}}
    for name, build in [("gpt2", gpt2), ("llama3", llama3), ("qwen2", qwen2), ("llama2", llama2),
                        ("mistral", mistral_metaspace), ("metaspace_split", metaspace_split),
                        ("byte_level_variants", byte_level_variants)]:
        j, config = build()
        text = json.dumps(j, ensure_ascii=False)
        tok = Tokenizer.from_str(text)  # round-trips through the library: the file is valid as written
        os.makedirs(os.path.join(HERE, name), exist_ok=True)
        with open(os.path.join(HERE, name, "tokenizer.json"), "w", encoding="utf-8") as f:
            f.write(text)
        with open(os.path.join(HERE, name, "tokenizer_config.json"), "w", encoding="utf-8") as f:
            json.dump(config, f, ensure_ascii=False, indent=1)
        cases = []
        for t in TEST_TEXTS:
            with_special = tok.encode(t, add_special_tokens=True).ids
            without = tok.encode(t, add_special_tokens=False).ids
            cases.append({"ids": with_special, "ids_no_special": without,
                          "decoded": tok.decode(with_special, skip_special_tokens=False),
                          "decoded_skip_special": tok.decode(with_special, skip_special_tokens=True)})
        expected["tokenizers"][name] = {"vocab_size": tok.get_vocab_size(with_added_tokens=True), "cases": cases}
        print(name, tok.get_vocab_size(), len(text), "bytes")
    with open(os.path.join(HERE, "expected.json"), "w", encoding="utf-8") as f:
        json.dump(expected, f, ensure_ascii=False, indent=0)


if __name__ == "__main__":
    main()
