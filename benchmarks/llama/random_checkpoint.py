#!/usr/bin/env python3
"""Writes a random-weight Hugging Face checkpoint of an official MobileLLM shape, the common
source of both runtimes' files in the llama.cpp comparison (compare.py):

    random_checkpoint.py --shape 125M|350M|600M|1B|1.5B -o FOLDER [--seed S] [--tokenizer PATH]

FOLDER gets config.json (LlamaForCausalLM, tie_word_embeddings: true), model.safetensors (F16,
`model.embed_tokens` shared with the output head, as every MobileLLM), and a tokenizer:
tokenizer.model copied from --tokenizer (default: the MobileLLM tokenizer in ../shared), or, when
there is none, a synthetic tokenizer.json (a BPE vocabulary of the shape's size: 3 special
tokens, 256 byte tokens, then strings over "▁a-z" built by merges). Weights are N(0, 0.02)
(the configs' initializer_range) from numpy's PCG64 seeded with S; norm weights are 1. The
folder is written under a temporary name and renamed when complete. Needs Python 3 and numpy.
"""

import argparse
import itertools
import json
import os
import shutil
import struct
import sys
import tempfile

import numpy as np

# The official shapes (facebookresearch/MobileLLM configs/*/config.json).
SHAPES = {
    "125M": dict(hidden_size=576, intermediate_size=1536, num_hidden_layers=30,
                 num_attention_heads=9, num_key_value_heads=3),
    "350M": dict(hidden_size=960, intermediate_size=2560, num_hidden_layers=32,
                 num_attention_heads=15, num_key_value_heads=5),
    "600M": dict(hidden_size=1152, intermediate_size=3072, num_hidden_layers=40,
                 num_attention_heads=18, num_key_value_heads=6),
    "1B": dict(hidden_size=1280, intermediate_size=3584, num_hidden_layers=54,
               num_attention_heads=20, num_key_value_heads=5),
    "1.5B": dict(hidden_size=1600, intermediate_size=4352, num_hidden_layers=54,
                 num_attention_heads=25, num_key_value_heads=5),
}
VOCAB = 32000
STD = 0.02
DEFAULT_TOKENIZER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..",
                                 "shared", "mobilellm", "tokenizer", "llama2-sp.model")


def config_for(shape):
    c = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_act": "silu",
         "attention_bias": False, "bos_token_id": 1, "eos_token_id": 2,
         "initializer_range": STD, "max_position_embeddings": 2048, "rms_norm_eps": 1e-05,
         "rope_scaling": None, "rope_theta": 10000.0, "tie_word_embeddings": True,
         "torch_dtype": "float16", "vocab_size": VOCAB}
    c.update(SHAPES[shape])
    return c


def tensor_shapes(c):
    e, f, v = c["hidden_size"], c["intermediate_size"], c["vocab_size"]
    d = e // c["num_attention_heads"]
    q, kv = c["num_attention_heads"] * d, c["num_key_value_heads"] * d
    out = [("model.embed_tokens.weight", (v, e))]
    for i in range(c["num_hidden_layers"]):
        p = "model.layers.%d." % i
        out += [(p + "input_layernorm.weight", (e,)), (p + "self_attn.q_proj.weight", (q, e)),
                (p + "self_attn.k_proj.weight", (kv, e)), (p + "self_attn.v_proj.weight", (kv, e)),
                (p + "self_attn.o_proj.weight", (e, q)),
                (p + "post_attention_layernorm.weight", (e,)),
                (p + "mlp.gate_proj.weight", (f, e)), (p + "mlp.up_proj.weight", (f, e)),
                (p + "mlp.down_proj.weight", (e, f))]
    out.append(("model.norm.weight", (e,)))
    return out


def write_safetensors(path, shapes, rng):
    """F16 safetensors, streamed tensor by tensor (8-byte header length, JSON header, data)."""
    header, offset = {}, 0
    for name, shape in shapes:
        n = int(np.prod(shape)) * 2
        header[name] = {"dtype": "F16", "shape": list(shape), "data_offsets": [offset, offset + n]}
        offset += n
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(raw)) + raw)
        for name, shape in shapes:
            if len(shape) == 1:
                w = np.ones(shape, dtype=np.float16)
            else:
                w = (rng.standard_normal(shape, dtype=np.float32) * np.float32(STD)).astype("<f2")
            f.write(w.tobytes())


def synthetic_tokenizer_json(vocab_size):
    """A BPE tokenizer.json in the form of Hugging Face's Llama tokenizers: <unk>, <s>, </s>,
    the 256 byte tokens, the 27 characters "▁a-z", then every merge of an existing string with one
    more character, shortest strings first, until the vocabulary is full."""
    chars = ["\u2581"] + [chr(c) for c in range(ord("a"), ord("z") + 1)]
    tokens = ["<unk>", "<s>", "</s>"] + ["<0x%02X>" % b for b in range(256)] + chars
    merges, level = [], chars
    while len(tokens) < vocab_size:
        longer = []
        for left, right in itertools.product(level, chars):
            if len(tokens) == vocab_size:
                break
            merges.append(left + " " + right)
            tokens.append(left + right)
            longer.append(left + right)
        level = longer
    special = [{"id": i, "content": t, "single_word": False, "lstrip": False, "rstrip": False,
                "normalized": False, "special": True} for i, t in enumerate(tokens[:3])]
    return {
        "version": "1.0", "truncation": None, "padding": None, "added_tokens": special,
        "normalizer": {"type": "Sequence", "normalizers": [
            {"type": "Prepend", "prepend": "\u2581"},
            {"type": "Replace", "pattern": {"String": " "}, "content": "\u2581"}]},
        "pre_tokenizer": None, "post_processor": None,
        "decoder": {"type": "Sequence", "decoders": [
            {"type": "Replace", "pattern": {"String": "\u2581"}, "content": " "},
            {"type": "ByteFallback"}, {"type": "Fuse"},
            {"type": "Strip", "content": " ", "start": 1, "stop": 0}]},
        "model": {"type": "BPE", "dropout": None, "unk_token": "<unk>",
                  "continuing_subword_prefix": None, "end_of_word_suffix": None, "fuse_unk": True,
                  "byte_fallback": True, "ignore_merges": False,
                  "vocab": {t: i for i, t in enumerate(tokens)}, "merges": merges},
    }


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--shape", required=True, choices=sorted(SHAPES))
    p.add_argument("-o", "--output", required=True, help="folder to create (replaced if present)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--tokenizer", help="a SentencePiece tokenizer.model to copy (default: "
                   "../shared's MobileLLM tokenizer if present, else a synthetic tokenizer.json)")
    args = p.parse_args(argv)

    config = config_for(args.shape)
    tokenizer = args.tokenizer or (DEFAULT_TOKENIZER if os.path.exists(DEFAULT_TOKENIZER) else None)
    out = os.path.abspath(args.output)
    parent = os.path.dirname(out)
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=os.path.basename(out) + ".tmp.", dir=parent)
    try:
        with open(os.path.join(tmp, "config.json"), "w") as f:
            json.dump(config, f, indent=2)
        if tokenizer:
            shutil.copyfile(tokenizer, os.path.join(tmp, "tokenizer.model"))
        else:
            with open(os.path.join(tmp, "tokenizer.json"), "w", encoding="utf-8") as f:
                json.dump(synthetic_tokenizer_json(VOCAB), f, ensure_ascii=False)
        write_safetensors(os.path.join(tmp, "model.safetensors"), tensor_shapes(config),
                          np.random.Generator(np.random.PCG64(args.seed)))
        if os.path.isdir(out):
            shutil.rmtree(out)
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    print("wrote %s: %s shape, seed %d, tokenizer %s"
          % (out, args.shape, args.seed, tokenizer or "synthetic tokenizer.json"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
