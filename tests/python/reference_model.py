"""An independent float64 reference of the MobileLLM / LLaMA forward pass, in numpy.

Written from the model's equations (Hugging Face `LlamaForCausalLM`, plus MobileLLM's embedding
and layer sharing), not from the C++ runtime, and reading a Hugging Face checkpoint folder
directly (config.json + model.safetensors, sharded safetensors, or pytorch_model.bin), so that it
shares neither code nor file handling with the converter and the runtime it judges.

Every stored weight is upcast exactly to float64 (F16 and BF16 values are representable), and all
arithmetic is float64. For tokens x_0..x_{T-1}:

    x = E[token]
    for each stored block b, applied once, or twice in a row with layer sharing (each application
    is its own attention layer over the whole sequence):
        h = rmsnorm(x) * w_in                      rmsnorm(x) = x / sqrt(mean(x^2) + eps)
        q, k, v = h Wq^T, h Wk^T, h Wv^T           heads of size D: H query heads, Hkv kv heads
        q, k = rope(q), rope(k)                    rotate_half pairing (i, i + D/2)
        a_h = softmax(q_h k_g^T / sqrt(D) + causal mask) v_g      g = h // (H / Hkv)
        x = x + concat_h(a_h) Wo^T
        h = rmsnorm(x) * w_post
        x = x + (silu(h Wg^T) * (h Wu^T)) Wd^T
    logits = (rmsnorm(x) * w_norm) Wout^T          Wout = E when embeddings are shared, else lm_head

Used as a library by the acceptance tests, and as a tool for debugging the runtime:

    /usr/bin/python3 reference_model.py HF_DIR --tokens 1,2,3 [-o LOGITS.npy]   # float64 [T, vocab]
    /usr/bin/python3 reference_model.py HF_DIR --tokens 1 --greedy 40            # greedy token ids
"""

import argparse
import json
import math
import os
import struct
import sys

import numpy as np

# Deliberate mistakes the forward pass can be asked to make. The acceptance tests use them to show
# that their random checkpoints and tolerance tell a correct runtime from a plausibly wrong one.
DEVIATIONS = (
    "rope-interleaved",  # RoPE rotating adjacent pairs (2i, 2i+1) instead of (i, i + D/2)
    "gqa-modulo",        # query head h reading kv head h % Hkv instead of h // (H / Hkv)
    "layer-sharing-flipped",  # each block applied twice when it should be once, or vice versa
)


class CheckpointError(ValueError):
    pass


# ------------------------------------------------------------------------------- weight files

# safetensors dtypes this reference understands, and how each becomes float64 exactly.
_SAFETENSORS_DTYPES = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "BF16": "<u2"}


def _to_float64(raw, dtype):
    if dtype == "BF16":  # the high half of a float32: shifting the bits back is exact
        return (raw.astype(np.uint32) << 16).view(np.float32).astype(np.float64)
    return raw.astype(np.float64)


def read_safetensors(path):
    """Returns {name: float64 array} for one .safetensors file, checking its layout."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 8:
        raise CheckpointError("%s: shorter than the 8-byte header length" % path)
    (header_len,) = struct.unpack_from("<Q", data, 0)
    if header_len > len(data) - 8:
        raise CheckpointError("%s: header length %d exceeds the file" % (path, header_len))
    header = json.loads(data[8:8 + header_len].decode("utf-8"))
    body = memoryview(data)[8 + header_len:]
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        dtype = info["dtype"]
        if dtype not in _SAFETENSORS_DTYPES:
            raise CheckpointError("%s: tensor %s has unsupported dtype %s" % (path, name, dtype))
        np_dtype = np.dtype(_SAFETENSORS_DTYPES[dtype])
        shape = tuple(int(d) for d in info["shape"])
        begin, end = (int(o) for o in info["data_offsets"])
        count = math.prod(shape)
        if not 0 <= begin <= end <= len(body) or end - begin != count * np_dtype.itemsize:
            raise CheckpointError("%s: tensor %s: data_offsets [%d, %d] do not hold %s %s"
                                  % (path, name, begin, end, dtype, list(shape)))
        raw = np.frombuffer(body[begin:end], dtype=np_dtype).reshape(shape)
        tensors[name] = _to_float64(raw, dtype)
    return tensors


def read_torch_bin(path):
    """Returns {name: float64 array} from a pytorch_model.bin (loaded without running code)."""
    import torch  # only needed for this format

    state = torch.load(path, map_location="cpu", weights_only=True)
    return {name: t.detach().to(torch.float64).numpy() for name, t in state.items()}


def read_weights(folder):
    """Reads the folder's weights in the order of preference of Hugging Face's loader."""
    single = os.path.join(folder, "model.safetensors")
    index = os.path.join(folder, "model.safetensors.index.json")
    torch_bin = os.path.join(folder, "pytorch_model.bin")
    if os.path.exists(single):
        return read_safetensors(single)
    if os.path.exists(index):
        with open(index) as f:
            shards = sorted(set(json.load(f)["weight_map"].values()))
        tensors = {}
        for shard in shards:
            tensors.update(read_safetensors(os.path.join(folder, shard)))
        return tensors
    if os.path.exists(torch_bin):
        return read_torch_bin(torch_bin)
    raise CheckpointError("%s: no model.safetensors, model.safetensors.index.json or "
                          "pytorch_model.bin" % folder)


# ------------------------------------------------------------------------------------ model

class Config:
    """The hyper-parameters the forward pass needs, read from config.json (training form:
    `LlamaForCausalLM`, `tie_word_embeddings`; release form: `MobileLLMForCausalLM`,
    `share_embedding`, `layer_sharing`)."""

    def __init__(self, cfg):
        self.vocab_size = int(cfg["vocab_size"])
        self.hidden_size = int(cfg["hidden_size"])
        self.intermediate_size = int(cfg["intermediate_size"])
        self.num_blocks = int(cfg["num_hidden_layers"])
        self.num_heads = int(cfg["num_attention_heads"])
        self.num_kv_heads = int(cfg.get("num_key_value_heads") or self.num_heads)
        self.head_dim = int(cfg.get("head_dim") or self.hidden_size // self.num_heads)
        self.rope_theta = float(cfg.get("rope_theta", 10000.0))
        self.rms_norm_eps = float(cfg.get("rms_norm_eps", 1e-6))
        self.layer_sharing = bool(cfg.get("layer_sharing", False))
        # None: not said; decided from the tensors present (see ReferenceModel).
        said = cfg.get("share_embedding")
        if said is None and cfg.get("tie_word_embeddings"):
            said = True  # `false` is no evidence: MobileLLM's training form writes it when sharing
        self.embedding_sharing = said
        if self.num_heads % self.num_kv_heads or self.head_dim % 2:
            raise CheckpointError("unsupported head layout: %d heads, %d kv heads, head_dim %d"
                                  % (self.num_heads, self.num_kv_heads, self.head_dim))
        if cfg.get("rope_scaling") or cfg.get("attention_bias") or cfg.get("mlp_bias"):
            raise CheckpointError("rope_scaling, attention_bias and mlp_bias are not modelled")


class ReferenceModel:
    """A checkpoint's weights in float64 and the forward pass over them (see the module doc)."""

    def __init__(self, folder, layer_sharing=None, embedding_sharing=None):
        """Loads a Hugging Face checkpoint folder. `layer_sharing` / `embedding_sharing` override
        config.json like the converter's --layer-sharing / --embedding-sharing flags."""
        with open(os.path.join(folder, "config.json")) as f:
            self.config = Config(json.load(f))
        c = self.config
        if layer_sharing is not None:
            c.layer_sharing = layer_sharing
        w = read_weights(folder)
        embed = w.get("model.embed_tokens.weight")
        head = w.get("lm_head.weight")
        if embed is None:  # tied checkpoints may store the matrix under its output name only
            embed = head
        if embedding_sharing is not None:
            c.embedding_sharing = embedding_sharing
        elif c.embedding_sharing is None:
            c.embedding_sharing = head is None or np.array_equal(head, embed)
        self.embedding = self._expect(embed, "model.embed_tokens.weight",
                                      (c.vocab_size, c.hidden_size))
        self.output = self.embedding if c.embedding_sharing else self._expect(
            head, "lm_head.weight", (c.vocab_size, c.hidden_size))
        self.final_norm = self._expect(w.get("model.norm.weight"), "model.norm.weight",
                                       (c.hidden_size,))
        E, F, D = c.hidden_size, c.intermediate_size, c.head_dim
        shapes = {
            "input_layernorm.weight": (E,),
            "self_attn.q_proj.weight": (c.num_heads * D, E),
            "self_attn.k_proj.weight": (c.num_kv_heads * D, E),
            "self_attn.v_proj.weight": (c.num_kv_heads * D, E),
            "self_attn.o_proj.weight": (E, c.num_heads * D),
            "post_attention_layernorm.weight": (E,),
            "mlp.gate_proj.weight": (F, E),
            "mlp.up_proj.weight": (F, E),
            "mlp.down_proj.weight": (E, F),
        }
        self.blocks = []
        for b in range(c.num_blocks):
            prefix = "model.layers.%d." % b
            self.blocks.append({
                key: self._expect(w.get(prefix + key), prefix + key, shape)
                for key, shape in shapes.items()})

    @staticmethod
    def _expect(tensor, name, shape):
        if tensor is None:
            raise CheckpointError("tensor %s is missing" % name)
        if tensor.shape != shape:
            raise CheckpointError("tensor %s has shape %s, expected %s"
                                  % (name, list(tensor.shape), list(shape)))
        return tensor

    def logits(self, tokens, deviation=None):
        """float64 [T, vocab] logits of every position of `tokens` (one causal pass).
        `deviation` (one of DEVIATIONS) makes the pass deliberately wrong, for the tests."""
        if deviation is not None and deviation not in DEVIATIONS:
            raise ValueError("unknown deviation %r" % deviation)
        c = self.config
        tokens = np.asarray(tokens, dtype=np.int64)
        if tokens.ndim != 1 or tokens.size == 0:
            raise ValueError("tokens must be a non-empty 1-D sequence")
        if tokens.min() < 0 or tokens.max() >= c.vocab_size:
            raise ValueError("token id out of range [0, %d)" % c.vocab_size)

        rope = _rope_tables(tokens.size, c.head_dim, c.rope_theta)
        repeats = 2 if c.layer_sharing != (deviation == "layer-sharing-flipped") else 1
        x = self.embedding[tokens]
        for block in self.blocks:
            for _ in range(repeats):
                h = _rms_norm(x, block["input_layernorm.weight"], c.rms_norm_eps)
                x = x + self._attention(block, h, rope, deviation)
                h = _rms_norm(x, block["post_attention_layernorm.weight"], c.rms_norm_eps)
                gate = h @ block["mlp.gate_proj.weight"].T
                up = h @ block["mlp.up_proj.weight"].T
                x = x + (_silu(gate) * up) @ block["mlp.down_proj.weight"].T
        return _rms_norm(x, self.final_norm, c.rms_norm_eps) @ self.output.T

    def _cached(self, x):
        """What the KV cache keeps of keys (after RoPE) and values: here, everything."""
        return x

    def _attention(self, block, h, rope, deviation):
        c = self.config
        T, D, H, Hkv = h.shape[0], c.head_dim, c.num_heads, c.num_kv_heads
        # [T, heads * D] -> [heads, T, D]
        q = (h @ block["self_attn.q_proj.weight"].T).reshape(T, H, D).transpose(1, 0, 2)
        k = (h @ block["self_attn.k_proj.weight"].T).reshape(T, Hkv, D).transpose(1, 0, 2)
        v = (h @ block["self_attn.v_proj.weight"].T).reshape(T, Hkv, D).transpose(1, 0, 2)
        interleaved = deviation == "rope-interleaved"
        q, k = _apply_rope(q, rope, interleaved), _apply_rope(k, rope, interleaved)
        k, v = self._cached(k), self._cached(v)
        heads = np.arange(H)
        kv_of_head = heads % Hkv if deviation == "gqa-modulo" else heads // (H // Hkv)
        k, v = k[kv_of_head], v[kv_of_head]
        scores = q @ k.transpose(0, 2, 1) / math.sqrt(D)  # [H, T, T]
        future = np.triu(np.ones((T, T), dtype=bool), k=1)
        scores[:, future] = -np.inf
        scores -= scores.max(axis=-1, keepdims=True)
        p = np.exp(scores)
        p /= p.sum(axis=-1, keepdims=True)
        out = (p @ v).transpose(1, 0, 2).reshape(T, H * D)
        return out @ block["self_attn.o_proj.weight"].T

    def greedy(self, prompt, count):
        """The `count` tokens greedy decoding appends to `prompt` (ties: the lowest id)."""
        tokens = list(prompt)
        for _ in range(count):
            tokens.append(int(np.argmax(self.logits(tokens)[-1])))
        return tokens[len(prompt):]


def _rms_norm(x, weight, eps):
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * weight


def _silu(x):
    return x * 0.5 * (1.0 + np.tanh(0.5 * x))  # x * sigmoid(x), without overflow in exp


def _rope_tables(T, D, theta):
    """cos and sin [T, D/2] of angle pos * theta^(-2i/D), position pos, frequency index i."""
    inv_freq = theta ** (-2.0 * np.arange(D // 2) / D)
    angle = np.arange(T, dtype=np.float64)[:, None] * inv_freq[None, :]
    return np.cos(angle), np.sin(angle)


def _apply_rope(x, rope, interleaved):
    """Rotates each pair of components of x [heads, T, D] by its angle. Hugging Face's
    rotate_half convention pairs component i with i + D/2: with cos/sin repeated twice over D,
    x' = x * cos + rotate_half(x) * sin, rotate_half([x1, x2]) = [-x2, x1]."""
    cos, sin = rope
    if interleaved:
        a, b = x[..., 0::2], x[..., 1::2]
    else:
        half = x.shape[-1] // 2
        a, b = x[..., :half], x[..., half:]
    ra, rb = a * cos - b * sin, b * cos + a * sin
    if interleaved:
        return np.stack([ra, rb], axis=-1).reshape(x.shape)
    return np.concatenate([ra, rb], axis=-1)


def relative_l2_error(actual, expected):
    """||actual - expected|| / ||expected|| over all elements, in float64."""
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    if actual.shape != expected.shape:
        raise ValueError("shape %s differs from %s" % (actual.shape, expected.shape))
    return float(np.linalg.norm(actual - expected) / np.linalg.norm(expected))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("folder", help="Hugging Face checkpoint folder")
    p.add_argument("--tokens", required=True, help="comma-separated token ids")
    p.add_argument("--greedy", type=int, metavar="N", help="print the N greedy continuation ids")
    p.add_argument("-o", "--output", help="write the float64 [T, vocab] logits as .npy")
    p.add_argument("--layer-sharing", choices=["on", "off"], help="override config.json")
    p.add_argument("--embedding-sharing", choices=["on", "off"], help="override config.json")
    args = p.parse_args()
    if args.greedy is None and args.output is None:
        p.error("nothing to do: give --greedy N and/or -o LOGITS.npy")
    on_off = {None: None, "on": True, "off": False}
    model = ReferenceModel(args.folder, layer_sharing=on_off[args.layer_sharing],
                           embedding_sharing=on_off[args.embedding_sharing])
    tokens = [int(t) for t in args.tokens.split(",")]
    if args.greedy is not None:
        print(",".join(str(t) for t in model.greedy(tokens, args.greedy)))
    if args.output is not None:
        np.save(args.output, model.logits(tokens))
    return 0


if __name__ == "__main__":
    sys.exit(main())
