"""The MobileLLM architecture as the runtime implements it (src/runtime/transformer.cpp), in PyTorch,
and its export as a Hugging Face-layout checkpoint folder that `mobilellm convert` reads.

Architecture (LLaMA family, deep and thin):
  - token embedding E [vocab, dim], shared by input and output (logits = norm(x) @ E^T);
  - `layers` stored blocks; with layer sharing each stored block is applied twice in a row
    (immediate block-wise sharing), every application being its own attention layer;
  - block: x += Wo attention(rope(Wq rms(x)), rope(Wk rms(x)), Wv rms(x)), causal, grouped-query
    (kv head j serves query heads j*g .. j*g+g-1, g = heads / kv_heads, as Hugging Face's repeat_kv);
           x += Wdown (silu(Wgate rms(x)) * Wup rms(x))   (SwiGLU);
  - RMSNorm: x / sqrt(mean(x^2) + eps) * w;
  - RoPE in the Hugging Face convention (rotate_half): dimension i of a head is paired with
    dimension i + D/2 and rotated by pos * theta^(-2i/D). The q/k projection rows are stored in
    exactly the layout the converter copies (no permutation).
"""

import json
import math
import os
import struct
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class ModelConfig:
    vocab_size: int = 4096
    dim: int = 192
    layers: int = 10          # stored blocks
    heads: int = 6
    kv_heads: int = 2
    ffn: int = 512
    layer_sharing: bool = True
    max_seq: int = 2048       # written as max_position_embeddings (the runtime's default context)
    rope_theta: float = 10000.0
    norm_eps: float = 1e-5

    @property
    def head_dim(self):
        return self.dim // self.heads

    def check(self):
        if self.dim % self.heads:
            raise ValueError("dim %d is not a multiple of heads %d" % (self.dim, self.heads))
        if self.heads % self.kv_heads:
            raise ValueError("heads %d is not a multiple of kv_heads %d" % (self.heads, self.kv_heads))
        if self.head_dim % 2:
            raise ValueError("head dimension %d must be even (RoPE)" % self.head_dim)

    def applied_layers(self):
        return self.layers * (2 if self.layer_sharing else 1)


class RMSNorm(nn.Module):
    def __init__(self, dim, eps):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def rope_tables(seq_len, head_dim, theta, device=None):
    """cos/sin [seq_len, head_dim] in the rotate_half layout (the half-table repeated twice)."""
    inv_freq = theta ** (-torch.arange(0, head_dim, 2, dtype=torch.float64, device=device) / head_dim)
    angles = torch.arange(seq_len, dtype=torch.float64, device=device)[:, None] * inv_freq[None, :]
    angles = torch.cat([angles, angles], dim=-1)
    return angles.cos().float(), angles.sin().float()


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat([-x[..., half:], x[..., :half]], dim=-1)


class Block(nn.Module):
    def __init__(self, c: ModelConfig):
        super().__init__()
        self.c = c
        hd = c.head_dim
        self.input_layernorm = RMSNorm(c.dim, c.norm_eps)
        self.q_proj = nn.Linear(c.dim, c.heads * hd, bias=False)
        self.k_proj = nn.Linear(c.dim, c.kv_heads * hd, bias=False)
        self.v_proj = nn.Linear(c.dim, c.kv_heads * hd, bias=False)
        self.o_proj = nn.Linear(c.heads * hd, c.dim, bias=False)
        self.post_attention_layernorm = RMSNorm(c.dim, c.norm_eps)
        self.gate_proj = nn.Linear(c.dim, c.ffn, bias=False)
        self.up_proj = nn.Linear(c.dim, c.ffn, bias=False)
        self.down_proj = nn.Linear(c.ffn, c.dim, bias=False)

    def forward(self, x, cos, sin):
        c = self.c
        B, T, _ = x.shape
        hd = c.head_dim
        h = self.input_layernorm(x)
        q = self.q_proj(h).view(B, T, c.heads, hd).transpose(1, 2)
        k = self.k_proj(h).view(B, T, c.kv_heads, hd).transpose(1, 2)
        v = self.v_proj(h).view(B, T, c.kv_heads, hd).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        groups = c.heads // c.kv_heads
        if groups > 1:  # Hugging Face's repeat_kv: kv head j serves query heads j*g .. j*g+g-1
            k = k.repeat_interleave(groups, dim=1)
            v = v.repeat_interleave(groups, dim=1)
        scores = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(hd))
        causal = torch.ones(T, T, dtype=torch.bool, device=x.device).triu(1)
        a = torch.softmax(scores.masked_fill(causal, float("-inf")), dim=-1) @ v
        x = x + self.o_proj(a.transpose(1, 2).reshape(B, T, c.heads * hd))
        h = self.post_attention_layernorm(x)
        return x + self.down_proj(F.silu(self.gate_proj(h)) * self.up_proj(h))


class MobileLLM(nn.Module):
    def __init__(self, c: ModelConfig):
        super().__init__()
        c.check()
        self.c = c
        self.embed_tokens = nn.Embedding(c.vocab_size, c.dim)
        self.blocks = nn.ModuleList(Block(c) for _ in range(c.layers))
        self.norm = RMSNorm(c.dim, c.norm_eps)
        cos, sin = rope_tables(c.max_seq, c.head_dim, c.rope_theta)
        self.register_buffer("rope_cos", cos, persistent=False)
        self.register_buffer("rope_sin", sin, persistent=False)

    def init_weights(self, generator):
        """GPT-2 style: N(0, 0.02), residual output projections scaled by 1/sqrt(2 * applied)."""
        std = 0.02
        out_std = std / math.sqrt(2 * self.c.applied_layers())
        with torch.no_grad():
            for name, p in self.named_parameters():
                if name.endswith("layernorm.weight") or name == "norm.weight":
                    p.fill_(1.0)
                elif name.endswith("o_proj.weight") or name.endswith("down_proj.weight"):
                    p.copy_(torch.randn(p.shape, generator=generator) * out_std)
                else:
                    p.copy_(torch.randn(p.shape, generator=generator) * std)

    def forward(self, ids):
        """Logits [B, T, vocab] (float32) of token ids [B, T]."""
        T = ids.shape[1]
        if T > self.c.max_seq:
            raise ValueError("sequence of %d tokens is longer than max_seq %d" % (T, self.c.max_seq))
        cos, sin = self.rope_cos[:T], self.rope_sin[:T]
        x = self.embed_tokens(ids)
        repeats = 2 if self.c.layer_sharing else 1
        for block in self.blocks:
            for _ in range(repeats):  # immediate block-wise sharing: A A B B C C ...
                x = block(x, cos, sin)
        return self.norm(x) @ self.embed_tokens.weight.t()

    def parameter_count(self):
        return sum(p.numel() for p in self.parameters())


# ---------------------------------------------------------------------------------------------
# Hugging Face layout


def hf_state_dict(model: MobileLLM):
    """Tensor name -> float32 tensor, with Hugging Face LLaMA names. The embedding is stored once
    (model.embed_tokens.weight); config.json's share_embedding says lm_head is the same matrix."""
    out = {"model.embed_tokens.weight": model.embed_tokens.weight}
    for i, b in enumerate(model.blocks):
        p = "model.layers.%d." % i
        out[p + "input_layernorm.weight"] = b.input_layernorm.weight
        out[p + "self_attn.q_proj.weight"] = b.q_proj.weight
        out[p + "self_attn.k_proj.weight"] = b.k_proj.weight
        out[p + "self_attn.v_proj.weight"] = b.v_proj.weight
        out[p + "self_attn.o_proj.weight"] = b.o_proj.weight
        out[p + "post_attention_layernorm.weight"] = b.post_attention_layernorm.weight
        out[p + "mlp.gate_proj.weight"] = b.gate_proj.weight
        out[p + "mlp.up_proj.weight"] = b.up_proj.weight
        out[p + "mlp.down_proj.weight"] = b.down_proj.weight
    out["model.norm.weight"] = model.norm.weight
    return {k: v.detach().to(torch.float32).contiguous() for k, v in out.items()}


def hf_config(c: ModelConfig):
    """config.json in the release form of MobileLLM-125M-layer-share (MobileLLMForCausalLM)."""
    return {
        "architectures": ["MobileLLMForCausalLM"],
        "attention_bias": False,
        "attention_dropout": 0.0,
        "bos_token_id": 1,
        "eos_token_id": 2,
        "head_dim": c.head_dim,
        "hidden_act": "silu",
        "hidden_size": c.dim,
        "initializer_range": 0.02,
        "intermediate_size": c.ffn,
        "layer_sharing": c.layer_sharing,
        "max_position_embeddings": c.max_seq,
        "mlp_bias": False,
        "model_type": "mobilellm",
        "num_attention_heads": c.heads,
        "num_hidden_layers": c.layers,
        "num_key_value_heads": c.kv_heads,
        "pretraining_tp": 1,
        "rms_norm_eps": c.norm_eps,
        "rope_scaling": None,
        "rope_theta": c.rope_theta,
        "share_embedding": True,
        "tie_word_embeddings": False,
        "torch_dtype": "float32",
        "use_cache": False,
        "vocab_size": c.vocab_size,
    }


def write_safetensors(path, tensors):
    """name -> float32 tensor as a safetensors file: u64 LE header length, JSON header (8-byte
    padded), raw little-endian data. Written to a temporary name, then renamed."""
    header, blobs, offset = {}, [], 0
    for name in sorted(tensors):
        data = tensors[name].cpu().numpy().astype("<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(tensors[name].shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    header["__metadata__"] = {"format": "pt"}
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)


def export_hf(model: MobileLLM, tokenizer_model_path, folder):
    """Writes config.json, model.safetensors and tokenizer.model into `folder`."""
    os.makedirs(folder, exist_ok=True)
    write_safetensors(os.path.join(folder, "model.safetensors"), hf_state_dict(model))
    with open(tokenizer_model_path, "rb") as f:
        tok = f.read()
    for name, data in (("tokenizer.model", tok),
                       ("config.json", (json.dumps(hf_config(model.c), indent=2) + "\n").encode())):
        tmp = os.path.join(folder, name + ".tmp")
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, os.path.join(folder, name))


def config_to_dict(c: ModelConfig):
    return asdict(c)
