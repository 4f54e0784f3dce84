"""Random-weight checkpoints in the exact Hugging Face layout, and what converting one must give.

Writing:
  - config.json in the training form (LlamaForCausalLM, tie_word_embeddings) or the release form
    (MobileLLMForCausalLM, share_embedding, layer_sharing), derived from the official configs;
  - weights as model.safetensors, sharded safetensors with model.safetensors.index.json, or
    pytorch_model.bin written by torch.save; the safetensors files are written here directly
    (8-byte little-endian header length, JSON header, raw little-endian data);
  - a small SentencePiece BPE tokenizer trained at test time (cached in the work folder).

Expecting: the GGUF tensor names, types, shapes and exact bit patterns a conversion must
produce, and the metadata keys, computed with numpy from the source tensors (never from the
converter's output), plus checkers that compare a gguf_reader.GGUFFile with them.
"""

import collections
import json
import os
import random
import re
import shutil
import struct
import zlib

import numpy as np
import torch

import gguf_reader as gr

DTYPES = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16}
DTYPE_NAMES = {v: k for k, v in DTYPES.items()}
# What write_safetensors can write: the three float types, plus F64 to test its rejection.
SAFETENSORS_DTYPES = {**DTYPE_NAMES, torch.float64: "F64"}
TORCH_DTYPE_STRINGS = {"F32": "float32", "F16": "float16", "BF16": "bfloat16"}

# ---------------------------------------------------------------------------------------------
# config.json


def load_json(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def training_config(official, *, layers, vocab_size, intermediate_size, tie_word_embeddings,
                    dtype, hidden_size=None, heads=None, kv_heads=None):
    """The training form (as the MobileLLM training code writes it), from one of the official
    configs with reduced sizes. `hidden_size`/`heads`/`kv_heads` override the official values."""
    c = dict(official)
    c.update(num_hidden_layers=layers, vocab_size=vocab_size, intermediate_size=intermediate_size,
             tie_word_embeddings=tie_word_embeddings, torch_dtype=TORCH_DTYPE_STRINGS[dtype])
    if hidden_size is not None:
        c["hidden_size"] = hidden_size
    if heads is not None:
        c["num_attention_heads"] = heads
    if kv_heads is not None:
        c["num_key_value_heads"] = kv_heads
    return c


def release_config(release, official, *, layers, vocab_size, intermediate_size, share_embedding,
                   layer_sharing, dtype, head_dim=None):
    """The release form (as the Hugging Face release writes it), carrying the head layout of
    `official` (hidden size, heads, kv heads) with reduced sizes. head_dim defaults to
    hidden_size / heads; a smaller one shrinks hidden_size to heads * head_dim."""
    c = dict(release)
    heads = official["num_attention_heads"]
    if head_dim is None:
        head_dim = official["hidden_size"] // heads
    c.update(hidden_size=heads * head_dim, num_attention_heads=heads,
             num_key_value_heads=official["num_key_value_heads"], head_dim=head_dim,
             num_hidden_layers=layers, vocab_size=vocab_size, intermediate_size=intermediate_size,
             share_embedding=share_embedding, layer_sharing=layer_sharing,
             torch_dtype=TORCH_DTYPE_STRINGS[dtype])
    return c


class Dims:
    """The tensor sizes a config implies."""

    def __init__(self, config):
        self.vocab = config["vocab_size"]
        self.embd = config["hidden_size"]
        self.ffn = config["intermediate_size"]
        self.layers = config["num_hidden_layers"]
        self.heads = config["num_attention_heads"]
        self.kv_heads = config["num_key_value_heads"]
        self.head_dim = config.get("head_dim") or self.embd // self.heads


# ---------------------------------------------------------------------------------------------
# Random weights

EMBEDDINGS = ("embed_only", "lm_head_only", "both_equal", "both_distinct")
INV_FREQ_SUFFIX = "self_attn.rotary_emb.inv_freq"


def _random_f32(gen, shape, values):
    """float32 values. 'normal': N(0, 0.02). 'wide': magnitudes spread over 2^-26..2^15 (so
    every float16 regime: normal, subnormal, underflow to zero) with exact float16 and bfloat16
    rounding ties planted in 1/8 of the elements each."""
    if values == "normal":
        return torch.randn(shape, generator=gen) * 0.02
    if values != "wide":
        raise ValueError(values)
    sign = torch.randint(0, 2, shape, generator=gen).float() * 2 - 1
    exponent = torch.randint(-26, 15, shape, generator=gen).float()
    x = sign * (1 + torch.rand(shape, generator=gen)) * torch.pow(2.0, exponent)
    bits = x.view(torch.int32)
    pick = torch.randint(0, 8, shape, generator=gen)
    f16_tie = (bits & ~0x1FFF) | 0x1000   # halfway between two float16 normals
    bf16_tie = (bits & ~0xFFFF) | 0x8000  # halfway between two bfloat16 values
    bits = torch.where(pick == 0, f16_tie, torch.where(pick == 1, bf16_tie, bits))
    return bits.view(torch.float32)


def random_state_dict(config, dtype, embeddings, seed, values="normal", fused_gate_up=False,
                      inv_freq=False):
    """A state dict in the exact Hugging Face LLaMA layout and module order.

    embeddings: 'embed_only' (model.embed_tokens.weight), 'lm_head_only' (lm_head.weight),
    'both_equal' (lm_head.weight IS the embed_tokens tensor, as a tied module's state dict
    holds it) or 'both_distinct'. fused_gate_up: gate_proj and up_proj are views into one
    storage (the second at a non-zero storage offset), which torch.save keeps shared.
    inv_freq: include the rotary caches (self_attn.rotary_emb.inv_freq) that checkpoints saved
    by transformers before 4.31 carry; a converter ignores them (see INV_FREQ_SUFFIX).
    """
    if embeddings not in EMBEDDINGS:
        raise ValueError(embeddings)
    d = Dims(config)
    gen = torch.Generator().manual_seed(seed)
    torch_dtype = DTYPES[dtype]

    def weight(*shape):
        return _random_f32(gen, shape, values).to(torch_dtype)

    def norm(n):
        if values == "wide":
            return weight(n)
        return (1 + 0.1 * torch.randn(n, generator=gen)).to(torch_dtype)

    sd = collections.OrderedDict()
    embed = weight(d.vocab, d.embd)
    if embeddings != "lm_head_only":
        sd["model.embed_tokens.weight"] = embed
    for i in range(d.layers):
        p = "model.layers.%d." % i
        sd[p + "self_attn.q_proj.weight"] = weight(d.heads * d.head_dim, d.embd)
        sd[p + "self_attn.k_proj.weight"] = weight(d.kv_heads * d.head_dim, d.embd)
        sd[p + "self_attn.v_proj.weight"] = weight(d.kv_heads * d.head_dim, d.embd)
        sd[p + "self_attn.o_proj.weight"] = weight(d.embd, d.heads * d.head_dim)
        if inv_freq:
            theta = config.get("rope_theta", 10000.0)
            exponents = torch.arange(0, d.head_dim, 2, dtype=torch.float32) / d.head_dim
            sd[p + INV_FREQ_SUFFIX] = (1.0 / theta ** exponents).to(torch_dtype)
        if fused_gate_up:
            fused = weight(2 * d.ffn, d.embd)
            sd[p + "mlp.gate_proj.weight"] = fused[:d.ffn]
            sd[p + "mlp.up_proj.weight"] = fused[d.ffn:]
        else:
            sd[p + "mlp.gate_proj.weight"] = weight(d.ffn, d.embd)
            sd[p + "mlp.up_proj.weight"] = weight(d.ffn, d.embd)
        sd[p + "mlp.down_proj.weight"] = weight(d.embd, d.ffn)
        sd[p + "input_layernorm.weight"] = norm(d.embd)
        sd[p + "post_attention_layernorm.weight"] = norm(d.embd)
    sd["model.norm.weight"] = norm(d.embd)
    if embeddings in ("lm_head_only", "both_equal"):
        sd["lm_head.weight"] = embed
    elif embeddings == "both_distinct":
        sd["lm_head.weight"] = weight(d.vocab, d.embd)
    return sd


def tensor_bits(t):
    """A tensor's elements as little-endian unsigned bit patterns (uint64 for F64, uint32 for
    F32, uint16 for F16/BF16), in row-major order."""
    t = t.detach().contiguous()
    if t.dtype == torch.float64:
        return t.view(torch.int64).numpy().view("<u8")
    if t.dtype == torch.float32:
        return t.view(torch.int32).numpy().view("<u4")
    if t.dtype in (torch.float16, torch.bfloat16):
        return t.view(torch.int16).numpy().view("<u2")
    raise TypeError("unexpected dtype %s" % t.dtype)


# ---------------------------------------------------------------------------------------------
# Weight files


def write_safetensors(path, tensors, metadata=None):
    """Writes `tensors` (name -> torch tensor) as a safetensors file: u64 LE header length, a
    JSON header padded with spaces to a multiple of 8, then the tensors back to back in the
    header's order (sorted by name). `tensors` may share storage: each is written in full."""
    header = {"__metadata__": metadata if metadata is not None else {"format": "pt"}}
    blobs = []
    offset = 0
    for name in sorted(tensors):
        t = tensors[name]
        raw = tensor_bits(t).tobytes()
        header[name] = {"dtype": SAFETENSORS_DTYPES[t.dtype], "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for raw in blobs:
            f.write(raw)


def write_sharded_safetensors(folder, tensors, shards):
    """Splits `tensors` (in name order) into `shards` files of about equal size, named as
    save_pretrained names them, plus model.safetensors.index.json. Returns the shard names."""
    names = sorted(tensors)
    sizes = [tensors[n].numel() * tensors[n].element_size() for n in names]
    total = sum(sizes)
    groups = [[] for _ in range(shards)]
    done = 0
    for name, size in zip(names, sizes):
        groups[min(shards - 1, done * shards // total)].append(name)
        done += size
    if any(not g for g in groups):
        raise ValueError("too few tensors for %d shards" % shards)
    files = ["model-%05d-of-%05d.safetensors" % (i + 1, shards) for i in range(shards)]
    weight_map = {}
    for file, group in zip(files, groups):
        write_safetensors(os.path.join(folder, file), {n: tensors[n] for n in group})
        weight_map.update({n: file for n in group})
    index = {"metadata": {"total_size": total},
             "weight_map": {n: weight_map[n] for n in sorted(weight_map)}}
    with open(os.path.join(folder, "model.safetensors.index.json"), "w") as f:
        json.dump(index, f, indent=2)
    return files


def read_safetensors(path):
    """Reads a (trusted) safetensors file into an OrderedDict name -> torch tensor."""
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack_from("<Q", raw, 0)
    header = json.loads(raw[8:8 + n])
    out = collections.OrderedDict()
    for name, e in header.items():
        if name == "__metadata__":
            continue
        begin, end = e["data_offsets"]
        int_dtype = "<i4" if e["dtype"] == "F32" else "<i2"  # same-size integers: torch views
        count = (end - begin) // np.dtype(int_dtype).itemsize
        ints = np.frombuffer(raw, dtype=int_dtype, count=count, offset=8 + n + begin).copy()
        out[name] = torch.from_numpy(ints).view(DTYPES[e["dtype"]]).reshape(e["shape"])
    return out


def write_pytorch_bin(path, state_dict):
    """pytorch_model.bin as save_pretrained writes it: torch.save of the state dict."""
    torch.save(collections.OrderedDict(state_dict), path)


def read_zip(path):
    """The members of a (trusted) zip archive as [(name, bytes)] in archive order."""
    import zipfile
    with zipfile.ZipFile(path) as z:
        return [(i.filename, z.read(i)) for i in z.infolist()]


def write_stored_zip(path, members, align=64):
    """Writes an uncompressed zip archive the way torch.save lays it out: every member's data
    starts on an `align`-byte boundary, reached with a padding extra field (id 0x4246, "FB")
    in the local header. members: [(name, bytes)]."""
    dos_date = (0 << 9) | (1 << 5) | 1  # 1980-01-01
    out = bytearray()
    central = bytearray()
    for name, data in members:
        name_b = name.encode("utf-8")
        crc = zlib.crc32(data) & 0xFFFFFFFF
        offset = len(out)
        pad = -(offset + 30 + len(name_b) + 4) % align
        extra = struct.pack("<HH", 0x4246, pad) + b"\0" * pad
        out += struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 0, 0, dos_date, crc, len(data),
                           len(data), len(name_b), len(extra))
        out += name_b + extra + data
        central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 0, 0, dos_date, crc,
                               len(data), len(data), len(name_b), 0, 0, 0, 0, 0, offset)
        central += name_b
    cd_offset = len(out)
    out += central
    out += struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(members), len(members), len(central),
                       cd_offset, 0)
    with open(path, "wb") as f:
        f.write(out)


def replace_torch_pickle(src, dst, pickle_bytes):
    """Copies the torch.save archive `src` to `dst` with its data.pkl replaced."""
    members = read_zip(src)
    pkl = [n for n, _ in members if n.endswith("/data.pkl")]
    if len(pkl) != 1:
        raise ValueError("%s: expected one data.pkl, found %s" % (src, pkl))
    write_stored_zip(dst, [(n, pickle_bytes if n == pkl[0] else d) for n, d in members])


# ---------------------------------------------------------------------------------------------
# Tokenizer

_SYLLABLES = ("ka", "lo", "mi", "ne", "ru", "ta", "shi", "vo", "en", "an", "the", "ing", "st",
              "pre", "qu", "ou", "el", "ar", "is", "um", "zo", "br", "ch", "ly", "er", "on")
_EXTRA_WORDS = ("café", "naïve", "Größe", "señor", "día", "中文", "😀", "x86", "2024",
                "3.14")


def _training_text():
    """Deterministic pseudo-text: words from syllables, punctuation, digits, a little non-ASCII
    (left to byte fallback or single characters), runs of spaces (kept: no whitespace folding)."""
    rng = random.Random(20240611)
    words = ["".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(1, 4))) for _ in range(400)]
    lines = []
    for _ in range(3000):
        n = rng.randint(3, 14)
        ws = [rng.choice(words) if rng.random() > 0.05 else rng.choice(_EXTRA_WORDS)
              for _ in range(n)]
        if rng.random() < 0.3:
            ws[0] = ws[0].capitalize()
        sep = "  " if rng.random() < 0.05 else " "
        lines.append(sep.join(ws) + rng.choice(".,!?;") + (" %d" % rng.randint(0, 999)
                                                             if rng.random() < 0.1 else ""))
    return lines


def train_sentencepiece(cache_folder, vocab_size=512, add_dummy_prefix=True, pad_id=-1):
    """Trains (once per cache folder and settings) a LLaMA-like SentencePiece BPE model: byte
    fallback, identity normalisation, no whitespace folding, <unk>=0 <s>=1 </s>=2. Returns the
    path of the .model file."""
    import sentencepiece as spm
    os.makedirs(cache_folder, exist_ok=True)
    stem = "sp-bpe-%d-prefix%d-pad%d" % (vocab_size, int(add_dummy_prefix), pad_id)
    final = os.path.join(cache_folder, stem + ".model")
    if os.path.exists(final):
        return final
    text_path = os.path.join(cache_folder, stem + ".txt")
    with open(text_path, "w", encoding="utf-8") as f:
        f.write("\n".join(_training_text()) + "\n")
    tmp_prefix = os.path.join(cache_folder, stem + ".partial")
    spm.SentencePieceTrainer.train(
        input=text_path, model_prefix=tmp_prefix, model_type="bpe", vocab_size=vocab_size,
        byte_fallback=True, add_dummy_prefix=add_dummy_prefix, remove_extra_whitespaces=False,
        normalization_rule_name="identity", split_digits=True, allow_whitespace_only_pieces=True,
        character_coverage=0.9995, unk_id=0, bos_id=1, eos_id=2, pad_id=pad_id,
        num_threads=1, minloglevel=2)
    os.replace(tmp_prefix + ".model", final)
    os.remove(tmp_prefix + ".vocab")
    os.remove(text_path)
    return final


class TokenizerExpectation:
    """The tokenizer.ggml.* values a converted file must hold."""

    def __init__(self, tokens, scores, types, bos, eos, unk, pad, add_bos, add_eos,
                 add_space_prefix, merges=None):
        self.tokens = tokens
        self.scores = scores          # float32 array, or None when not checked exactly
        self.types = types            # int32 array, or a function(tokens) -> int32 array
        self.bos, self.eos, self.unk, self.pad = bos, eos, unk, pad
        self.add_bos, self.add_eos, self.add_space_prefix = add_bos, add_eos, add_space_prefix
        self.merges = merges


# SentencePiece piece types, as GGUF's tokenizer.ggml.token_type numbers them.
(TOKEN_NORMAL, TOKEN_UNKNOWN, TOKEN_CONTROL, TOKEN_USER_DEFINED, TOKEN_UNUSED,
 TOKEN_BYTE) = range(1, 7)


def sentencepiece_expectation(model_path):
    """What converting a checkpoint with this tokenizer.model must store, read through the
    sentencepiece library (the reference implementation), not through our reader."""
    import sentencepiece as spm
    sp = spm.SentencePieceProcessor(model_file=model_path)
    n = sp.get_piece_size()
    tokens = [sp.id_to_piece(i) for i in range(n)]
    scores = np.array([sp.get_score(i) for i in range(n)], dtype=np.float32)
    types = np.full(n, TOKEN_NORMAL, dtype=np.int32)
    for i in range(n):
        if sp.is_unknown(i):
            types[i] = TOKEN_UNKNOWN
        elif sp.is_control(i):
            types[i] = TOKEN_CONTROL
        elif sp.is_byte(i):
            types[i] = TOKEN_BYTE
        elif sp.is_unused(i):
            types[i] = TOKEN_UNUSED
    # The dummy prefix shows in how a word is encoded: "▁word" with it, "word" without.
    add_space_prefix = sp.encode_as_pieces("x")[0].startswith("\u2581")
    return TokenizerExpectation(tokens, scores, types, bos=sp.bos_id(), eos=sp.eos_id(),
                                unk=sp.unk_id(), pad=sp.pad_id(), add_bos=True, add_eos=False,
                                add_space_prefix=add_space_prefix)


# ---------------------------------------------------------------------------------------------
# Checkpoint folders


def write_checkpoint(folder, config, state_dict, weights, tokenizer_model=None, shards=3):
    """Writes a Hugging Face checkpoint folder. weights: 'safetensors' (model.safetensors),
    'sharded' (model-0000i-of-0000n.safetensors + index) or 'bin' (pytorch_model.bin).
    tokenizer_model: a SentencePiece .model copied as tokenizer.model (None: no tokenizer)."""
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    with open(os.path.join(folder, "generation_config.json"), "w") as f:
        json.dump({"_from_model_config": True, "bos_token_id": config.get("bos_token_id", 1),
                   "eos_token_id": config.get("eos_token_id", 2)}, f, indent=2)
    if weights == "safetensors":
        write_safetensors(os.path.join(folder, "model.safetensors"), state_dict)
    elif weights == "sharded":
        write_sharded_safetensors(folder, state_dict, shards)
    elif weights == "bin":
        write_pytorch_bin(os.path.join(folder, "pytorch_model.bin"), state_dict)
    else:
        raise ValueError(weights)
    if tokenizer_model is not None:
        shutil.copyfile(tokenizer_model, os.path.join(folder, "tokenizer.model"))
        with open(os.path.join(folder, "tokenizer_config.json"), "w") as f:
            json.dump({"add_bos_token": True, "add_eos_token": False, "bos_token": "<s>",
                       "eos_token": "</s>", "unk_token": "<unk>", "legacy": False,
                       "tokenizer_class": "LlamaTokenizer"}, f, indent=2)
        with open(os.path.join(folder, "special_tokens_map.json"), "w") as f:
            json.dump({"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>"}, f, indent=2)


# ---------------------------------------------------------------------------------------------
# What a conversion must produce

_LAYER_TENSORS = {
    "input_layernorm": "attn_norm",
    "self_attn.q_proj": "attn_q",
    "self_attn.k_proj": "attn_k",
    "self_attn.v_proj": "attn_v",
    "self_attn.o_proj": "attn_output",
    "post_attention_layernorm": "ffn_norm",
    "mlp.gate_proj": "ffn_gate",
    "mlp.up_proj": "ffn_up",
    "mlp.down_proj": "ffn_down",
}
_LAYER_RE = re.compile(r"^model\.layers\.(\d+)\.(.+)\.weight$")


def gguf_tensor_name(hf_name):
    """The GGUF name of a Hugging Face tensor (embeddings handled by the caller)."""
    if hf_name == "model.norm.weight":
        return "output_norm.weight"
    m = _LAYER_RE.match(hf_name)
    if not m or m.group(2) not in _LAYER_TENSORS:
        raise KeyError("no GGUF name for " + hf_name)
    return "blk.%s.%s.weight" % (m.group(1), _LAYER_TENSORS[m.group(2)])


def is_norm(hf_name):
    return hf_name.endswith("layernorm.weight") or hf_name == "model.norm.weight"


def convert_bits(bits, src, dst):
    """Converts bit patterns between float types: exact widening, or round-to-nearest-even
    narrowing (numpy's float16 cast; bfloat16 by adding the rounding bias to the float32 bits)."""
    if src == dst:
        return bits
    if dst == "F32" and src == "F16":
        return bits.view("<f2").astype("<f4").view("<u4")
    if dst == "F32" and src == "BF16":
        return bits.astype("<u4") << np.uint32(16)
    if src == "F32" and dst == "F16":
        return bits.view("<f4").astype("<f2").view("<u2")
    if src == "F32" and dst == "BF16":
        if np.isnan(bits.view("<f4")).any():
            raise ValueError("NaN in the source: this oracle does not model NaN narrowing")
        wide = bits.astype(np.uint64)
        return ((wide + 0x7FFF + ((wide >> 16) & 1)) >> 16).astype("<u2")
    raise NotImplementedError("no oracle for %s -> %s" % (src, dst))


class ExpectedTensor:
    def __init__(self, type_name, shape, bits, source):
        self.type_name = type_name
        self.shape = tuple(shape)   # PyTorch order; GGUF dims are the reverse
        self.bits = bits
        self.source = source        # the Hugging Face tensor it comes from, for messages


def expected_tensors(state_dict, target, embedding_sharing):
    """GGUF name -> ExpectedTensor for converting `state_dict` with `--type target` (target
    'source' keeps the stored type). Norms are always F32. With embedding sharing the single
    embedding matrix (whichever of embed_tokens / lm_head is present) is token_embd.weight and
    there is no output.weight. Rotary inv_freq caches have no counterpart."""
    out = {}
    embed = state_dict.get("model.embed_tokens.weight")
    head = state_dict.get("lm_head.weight")
    for hf_name, t in state_dict.items():
        if hf_name.endswith(INV_FREQ_SUFFIX):
            continue  # recomputed from rope_theta by the runtime, never stored
        src = DTYPE_NAMES[t.dtype]
        if hf_name == "model.embed_tokens.weight":
            name = "token_embd.weight"
        elif hf_name == "lm_head.weight":
            if embedding_sharing and embed is not None:
                continue  # equal to embed_tokens (checked by the caller's case design)
            name = "token_embd.weight" if embedding_sharing else "output.weight"
        else:
            name = gguf_tensor_name(hf_name)
        dst = "F32" if is_norm(hf_name) else (src if target == "source" else target)
        out[name] = ExpectedTensor(dst, t.shape, convert_bits(tensor_bits(t), src, dst), hf_name)
    assert ("output.weight" in out) == (not embedding_sharing and head is not None)
    return out


def expected_model_metadata(config, *, name, layer_sharing, embedding_sharing, weight_type):
    """mobilellm.* and general.* keys: key -> (GGUF value type, value)."""
    d = Dims(config)
    return {
        "general.architecture": (gr.STRING, "mobilellm"),
        "general.alignment": (gr.U32, 64),
        "general.name": (gr.STRING, name),
        "mobilellm.vocab_size": (gr.U32, d.vocab),
        "mobilellm.context_length": (gr.U32, config["max_position_embeddings"]),
        "mobilellm.embedding_length": (gr.U32, d.embd),
        "mobilellm.feed_forward_length": (gr.U32, d.ffn),
        "mobilellm.block_count": (gr.U32, d.layers),
        "mobilellm.attention.head_count": (gr.U32, d.heads),
        "mobilellm.attention.head_count_kv": (gr.U32, d.kv_heads),
        "mobilellm.attention.key_length": (gr.U32, d.head_dim),
        "mobilellm.attention.value_length": (gr.U32, d.head_dim),
        "mobilellm.rope.dimension_count": (gr.U32, d.head_dim),
        "mobilellm.rope.freq_base": (gr.F32, np.float32(config.get("rope_theta", 10000.0))),
        "mobilellm.attention.layer_norm_rms_epsilon": (gr.F32, np.float32(config["rms_norm_eps"])),
        "mobilellm.layer_sharing": (gr.BOOL, layer_sharing),
        "mobilellm.embedding_sharing": (gr.BOOL, embedding_sharing),
        "mobilellm.weight_type": (gr.STRING, weight_type),
    }


def _same_scalar(type_id, got, want):
    if type_id == gr.F32:  # bit-exact: the stored float32 is the config's value rounded once
        return np.float32(got).tobytes() == np.float32(want).tobytes()
    if type_id == gr.BOOL:
        return got is want
    return got == want


def check_metadata(gguf, expected):
    """Every key of `expected` (key -> (type, value)) is present with that type and value."""
    problems = []
    for key, (type_id, want) in expected.items():
        if key not in gguf.metadata:
            problems.append("missing key %s (want %r)" % (key, want))
            continue
        v = gguf.metadata[key]
        if v.type != type_id:
            problems.append("%s: type %s, want %s"
                            % (key, v.type_name(), gr.VALUE_TYPE_NAMES[type_id]))
        elif not _same_scalar(type_id, v.value, want):
            problems.append("%s: %r, want %r" % (key, v.value, want))
    if problems:
        raise AssertionError("%s metadata:\n  %s" % (gguf.path, "\n  ".join(problems)))


# Token ids are u32 (models/README.md: exactly the listed type).
_TOKEN_ID_TYPES = (gr.U32,)


def check_tokenizer(gguf, want):
    """tokenizer.ggml.* against a TokenizerExpectation."""
    problems = []

    def array(key, element_type):
        if key not in gguf.metadata:
            problems.append("missing key " + key)
            return None
        v = gguf.metadata[key]
        if v.type != gr.ARRAY or v.element_type != element_type:
            problems.append("%s: type %s, want array[%s]"
                            % (key, v.type_name(), gr.VALUE_TYPE_NAMES[element_type]))
            return None
        return v.value

    def scalar(key, types, value):
        if value is None or (key.endswith("padding_token_id") and value < 0):
            if key in gguf.metadata:
                problems.append("%s present (%r) but the source has none"
                                % (key, gguf.metadata[key].value))
            return
        if key not in gguf.metadata:
            problems.append("missing key %s (want %r)" % (key, value))
            return
        v = gguf.metadata[key]
        if v.type not in types:
            problems.append("%s: type %s" % (key, v.type_name()))
        elif v.value != value or (types == (gr.BOOL,) and not isinstance(v.value, bool)):
            problems.append("%s: %r, want %r" % (key, v.value, value))

    scalar("tokenizer.ggml.model", (gr.STRING,), "llama")
    tokens = array("tokenizer.ggml.tokens", gr.STRING)
    if tokens is not None and tokens != want.tokens:
        diff = [i for i, (a, b) in enumerate(zip(tokens, want.tokens)) if a != b][:5]
        problems.append("tokens: %d stored, want %d; first differences at %s: %s"
                        % (len(tokens), len(want.tokens), diff,
                           [(tokens[i], want.tokens[i]) for i in diff]))
    scores = array("tokenizer.ggml.scores", gr.F32)
    if scores is not None:
        if len(scores) != len(want.tokens):
            problems.append("scores: %d, want %d" % (len(scores), len(want.tokens)))
        elif want.scores is not None and scores.tobytes() != want.scores.tobytes():
            i = int(np.flatnonzero(scores.view("<u4") != want.scores.view("<u4"))[0])
            problems.append("scores differ first at id %d: %r, want %r"
                            % (i, scores[i], want.scores[i]))
        elif not np.isfinite(scores).all():
            problems.append("scores hold non-finite values")
    types = array("tokenizer.ggml.token_type", gr.I32)
    if types is not None and tokens is not None:
        want_types = want.types(tokens) if callable(want.types) else want.types
        if len(types) != len(want_types) or not np.array_equal(types, want_types):
            bad = np.flatnonzero(types != want_types)[:5] if len(types) == len(want_types) else []
            problems.append("token_type: %d stored, want %d; first differences (id, got, want): %s"
                            % (len(types), len(want_types),
                               [(int(i), int(types[i]), int(want_types[i])) for i in bad]))
    if want.merges is None:
        if "tokenizer.ggml.merges" in gguf.metadata:
            problems.append("tokenizer.ggml.merges present but the source has none")
    else:
        merges = array("tokenizer.ggml.merges", gr.STRING)
        if merges is not None and merges != want.merges:
            problems.append("merges: %d stored, want %d (first: %r, want %r)"
                            % (len(merges), len(want.merges), merges[:3], want.merges[:3]))
    scalar("tokenizer.ggml.bos_token_id", _TOKEN_ID_TYPES, want.bos)
    scalar("tokenizer.ggml.eos_token_id", _TOKEN_ID_TYPES, want.eos)
    scalar("tokenizer.ggml.unknown_token_id", _TOKEN_ID_TYPES, want.unk)
    scalar("tokenizer.ggml.padding_token_id", _TOKEN_ID_TYPES, want.pad)
    scalar("tokenizer.ggml.add_bos_token", (gr.BOOL,), want.add_bos)
    scalar("tokenizer.ggml.add_eos_token", (gr.BOOL,), want.add_eos)
    scalar("tokenizer.ggml.add_space_prefix", (gr.BOOL,), want.add_space_prefix)
    if problems:
        raise AssertionError("%s tokenizer:\n  %s" % (gguf.path, "\n  ".join(problems)))


def check_tensors(gguf, expected):
    """The file holds exactly the tensors of `expected`, each with the expected type, dims
    (reversed PyTorch shape) and bit-exact contents."""
    problems = []
    got_names, want_names = set(gguf.tensors), set(expected)
    if got_names != want_names:
        problems.append("tensor names: unexpected %s, missing %s"
                        % (sorted(got_names - want_names), sorted(want_names - got_names)))
    for name in sorted(got_names & want_names):
        t, e = gguf.tensors[name], expected[name]
        if t.type_name != e.type_name:
            problems.append("%s (from %s): type %s, want %s"
                            % (name, e.source, t.type_name, e.type_name))
            continue
        if tuple(t.dims) != tuple(reversed(e.shape)):
            problems.append("%s (from %s): dims %s, want %s (reversed %s)"
                            % (name, e.source, t.dims, list(reversed(e.shape)), list(e.shape)))
            continue
        got = t.bits().reshape(-1)
        want = e.bits.reshape(-1)
        if not np.array_equal(got, want):
            bad = np.flatnonzero(got != want)
            i = int(bad[0])
            problems.append("%s (from %s): %d of %d elements differ; first at flat index %d: "
                            "0x%x, want 0x%x" % (name, e.source, bad.size, want.size, i,
                                                 int(got[i]), int(want[i])))
    if problems:
        raise AssertionError("%s tensors:\n  %s" % (gguf.path, "\n  ".join(problems)))
