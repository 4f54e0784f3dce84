"""`mobilellm convert` on random-weight Hugging Face checkpoints, compared bit for bit.

For the head layouts of the five official MobileLLM shapes (heads / kv heads 9/3, 15/5, 18/6,
20/5, 25/5, head_dim 64) with reduced depth, vocabulary and FFN, in both config forms, every
weight file layout (model.safetensors, sharded safetensors, pytorch_model.bin) and float type,
all four ways of storing embeddings, with layer sharing on and off and with the --type,
--layer-sharing and --embedding-sharing options, each converted file is read back with the
independent gguf_reader.py and must hold:
  - exactly the expected tensors, each with the source's bits (or the source widened exactly,
    or narrowed with round-to-nearest-even as numpy does it), norms as F32, dims reversed;
  - mobilellm.* keys equal to the config, layer/embedding sharing as the rules decide;
  - tokenizer.ggml.* equal to what the sentencepiece library reads from tokenizer.model.

Sharing rules: --embedding-sharing / --layer-sharing decide when given. Otherwise the release
form decides embedding sharing by share_embedding; the training form shares when
tie_word_embeddings is true, and when it is false (which the official training configs say
although the training code shares the embeddings) it shares unless both model.embed_tokens and
lm_head are stored with different values. Layer sharing comes from the release form's
layer_sharing (the training form has none: off).
"""

import os
import struct
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

common.require_modules("numpy", "torch", "sentencepiece")

import numpy as np  # noqa: E402

import gguf_reader  # noqa: E402
import hf_checkpoint as hc  # noqa: E402

SHAPES = ("125M", "350M", "600M", "1B", "1.5B")
LAYERS = 2
VOCAB = 512          # the size of the SentencePiece model trained for these tests
INTERMEDIATE = 128


class Case:
    """One conversion. form: 'training' or 'release'; tied: tie_word_embeddings (training) or
    share_embedding (release); layer_sharing: the release config's layer_sharing; flags: extra
    CLI arguments; target: the --type the flags select ('source' when none); config_changes:
    config.json values that differ from the official ones (context, rope theta, epsilon)."""

    def __init__(self, name, shape, form, dtype, weights, embeddings, tied, layer_sharing=False,
                 flags=(), target="source", values="normal", fused_gate_up=False, layers=LAYERS,
                 tokenizer="sp", head_dim=None, inv_freq=False, config_changes=None):
        self.name = name
        self.shape, self.form, self.dtype, self.weights = shape, form, dtype, weights
        self.embeddings, self.tied, self.layer_sharing = embeddings, tied, layer_sharing
        self.flags, self.target, self.values = list(flags), target, values
        self.fused_gate_up, self.layers = fused_gate_up, layers
        self.tokenizer, self.head_dim = tokenizer, head_dim
        self.inv_freq, self.config_changes = inv_freq, dict(config_changes or {})
        if form == "training" and layer_sharing:
            raise ValueError("the training form has no layer_sharing key")

    def _override(self, option):
        if option in self.flags:
            return {"on": True, "off": False}[self.flags[self.flags.index(option) + 1]]
        return None

    def expected_layer_sharing(self):
        o = self._override("--layer-sharing")
        return self.layer_sharing if o is None else o

    def expected_embedding_sharing(self):
        o = self._override("--embedding-sharing")
        if o is not None:
            return o
        if self.form == "training" and not self.tied:
            return self.embeddings != "both_distinct"
        return self.tied


CASES = [
    # 125M: 9 heads / 3 kv heads, hidden 576
    Case("125M-release-f16-st-embed", "125M", "release", "F16", "safetensors", "embed_only", True,
         config_changes={"rope_theta": 500000.0, "max_position_embeddings": 4096}),
    Case("125M-release-bf16-st-lmhead-ls", "125M", "release", "BF16", "safetensors",
         "lm_head_only", True, layer_sharing=True),
    Case("125M-training-f32-st-untied", "125M", "training", "F32", "safetensors",
         "both_distinct", False),
    Case("125M-training-f16-bin-tied-both", "125M", "training", "F16", "bin", "both_equal", True),
    Case("125M-training-f16-bin-to-f32", "125M", "training", "F16", "bin", "embed_only", True,
         flags=["--type", "f32"], target="F32"),
    Case("125M-training-bf16-bin-to-f32", "125M", "training", "BF16", "bin", "lm_head_only",
         True, flags=["--type", "f32"], target="F32"),
    # The official training configs say tie_word_embeddings false while the training code
    # shares the embeddings (both keys, one storage): shared, from the tensors or the option.
    Case("125M-official-f16-bin-shared-storage", "125M", "training", "F16", "bin",
         "both_equal", False),
    Case("125M-official-f16-bin-shared-storage-emb-on", "125M", "training", "F16", "bin",
         "both_equal", False, flags=["--embedding-sharing", "on"]),
    # The real tokenizer (32000 pieces) with a tiny hidden size: 9 heads of 8.
    Case("125M-release-f16-st-llama2-tokenizer", "125M", "release", "F16", "safetensors",
         "embed_only", True, tokenizer="llama2", head_dim=8),
    # 350M: 15 / 5, hidden 960
    Case("350M-release-f16-bin-ls-fused", "350M", "release", "F16", "bin", "embed_only", True,
         layer_sharing=True, fused_gate_up=True),
    Case("350M-training-bf16-st-lmhead", "350M", "training", "BF16", "safetensors",
         "lm_head_only", True),
    Case("350M-release-f32-st-untied", "350M", "release", "F32", "safetensors", "both_distinct",
         False),
    Case("350M-training-f32-st-to-f16", "350M", "training", "F32", "safetensors", "embed_only",
         True, flags=["--type", "f16"], target="F16", values="wide"),
    Case("350M-training-f16-st-embed-emb-on", "350M", "training", "F16", "safetensors",
         "embed_only", False, flags=["--embedding-sharing", "on"]),
    Case("350M-official-bf16-st-lmhead", "350M", "training", "BF16", "safetensors",
         "lm_head_only", False),
    # 600M: 18 / 6, hidden 1152
    Case("600M-release-bf16-bin-untied-ls-fused", "600M", "release", "BF16", "bin",
         "both_distinct", False, layer_sharing=True, fused_gate_up=True),
    Case("600M-training-f16-st-tied-both", "600M", "training", "F16", "safetensors",
         "both_equal", True,
         config_changes={"rms_norm_eps": 1e-6, "max_position_embeddings": 1024}),
    Case("600M-release-f16-sharded-ls", "600M", "release", "F16", "sharded", "embed_only", True,
         layer_sharing=True),
    Case("600M-training-f16-st-untied-to-f32", "600M", "training", "F16", "safetensors",
         "both_distinct", False, flags=["--type", "f32"], target="F32"),
    Case("600M-training-bf16-st-tied-both-emb-off", "600M", "training", "BF16", "safetensors",
         "both_equal", True, flags=["--embedding-sharing", "off"]),
    # 1B: 20 / 5, hidden 1280
    Case("1B-release-f16-st-ls-off", "1B", "release", "F16", "safetensors", "embed_only", True,
         layer_sharing=True, flags=["--layer-sharing", "off"]),
    Case("1B-training-bf16-st-untied", "1B", "training", "BF16", "safetensors", "both_distinct",
         False),
    Case("1B-training-f16-bin-lmhead-fused", "1B", "training", "F16", "bin", "lm_head_only", True,
         fused_gate_up=True),
    Case("1B-training-f32-st-to-bf16", "1B", "training", "F32", "safetensors", "embed_only", True,
         flags=["--type", "bf16"], target="BF16", values="wide"),
    Case("1B-release-f32-st-tokenizer-noprefix-pad", "1B", "release", "F32", "safetensors",
         "embed_only", True, tokenizer="sp-noprefix-pad"),
    # 1.5B: 25 / 5, hidden 1600
    Case("1.5B-release-f16-st-embed", "1.5B", "release", "F16", "safetensors", "embed_only", True),
    Case("1.5B-training-bf16-bin-tied-both-inv-freq", "1.5B", "training", "BF16", "bin",
         "both_equal", True, inv_freq=True),
    Case("1.5B-training-f16-st-ls-on", "1.5B", "training", "F16", "safetensors", "embed_only",
         True, flags=["--layer-sharing", "on"]),
    Case("1.5B-training-f32-st-3layers-untied", "1.5B", "training", "F32", "safetensors",
         "both_distinct", False, layers=3),
    Case("1.5B-release-bf16-sharded-untied", "1.5B", "release", "BF16", "sharded",
         "both_distinct", False),
]


def reader_self_check(folder, seed):
    """The oracle itself, on a GGUF file spelled out byte by byte from the specification."""
    del seed

    def string(s):
        b = s.encode("utf-8")
        return struct.pack("<Q", len(b)) + b

    header = b"GGUF" + struct.pack("<IQQ", 3, 2, 4)
    header += string("general.alignment") + struct.pack("<II", 4, 64)          # u32
    header += string("x.name") + struct.pack("<I", 8) + string("h\u00e9llo")   # string
    header += string("x.ids") + struct.pack("<IIQ", 9, 5, 3) + struct.pack("<3i", 1, -2, 3)
    header += string("x.flag") + struct.pack("<IB", 7, 1)                       # bool
    header += string("w") + struct.pack("<IQQIQ", 2, 3, 2, 0, 0)                # F32 [3, 2]
    header += string("b") + struct.pack("<IQIQ", 1, 4, 30, 64)                  # BF16 [4]
    data_start = -(-len(header) // 64) * 64
    w = np.arange(6, dtype="<f4") - 2.5
    b = np.array([0x3F80, 0xC000, 0x0001, 0x7F7F], dtype="<u2")
    blob = header + b"\0" * (data_start - len(header)) + w.tobytes() + b"\0" * 40 + b.tobytes()
    path = os.path.join(folder, "hand.gguf")
    with open(path, "wb") as f:
        f.write(blob)

    g = gguf_reader.read(path)
    common.check(g.alignment == 64 and g.data_offset == data_start, "alignment / data offset")
    common.check(g.value("x.name") == "h\u00e9llo", "string value: %r" % g.value("x.name"))
    ids = g.metadata["x.ids"]
    common.check(ids.element_type == gguf_reader.I32 and ids.value.tolist() == [1, -2, 3],
                 "i32 array: %r" % ids)
    common.check(g.value("x.flag") is True, "bool value")
    tw, tb = g.tensor("w"), g.tensor("b")
    common.check(tw.shape == (2, 3) and tw.dims == [3, 2],
                 "dims reversed into shape: %s" % (tw.shape,))
    common.check(np.array_equal(tw.data.reshape(-1), w), "F32 data: %s" % tw.data)
    common.check(tb.type_name == "BF16" and np.array_equal(tb.bits(), b),
                 "BF16 bits: %s" % tb.bits())

    # A file cut inside the last tensor's data is rejected, not read short.
    with open(path, "wb") as f:
        f.write(blob[:-1])
    try:
        gguf_reader.read(path)
    except gguf_reader.GGUFError as e:
        common.check("'b'" in str(e), "truncation error names the tensor: %s" % e)
    else:
        raise AssertionError("the reader accepted a truncated file")


def main():
    args = common.parse_args(__doc__.splitlines()[0])
    shared = common.require_shared(
        args, "mobilellm/tokenizer/llama2-sp.model",
        "mobilellm/configs/hf-release/MobileLLM-125M/config.json",
        *["mobilellm/configs/%s/config.json" % s for s in SHAPES])
    official = {s: hc.load_json(os.path.join(shared, "mobilellm/configs", s, "config.json"))
                for s in SHAPES}
    release_base = hc.load_json(
        os.path.join(shared, "mobilellm/configs/hf-release/MobileLLM-125M/config.json"))
    expected_layouts = {"125M": (9, 3), "350M": (15, 5), "600M": (18, 6), "1B": (20, 5),
                        "1.5B": (25, 5)}
    for s, (h, kv) in expected_layouts.items():
        got = (official[s]["num_attention_heads"], official[s]["num_key_value_heads"])
        if got != (h, kv) or official[s]["hidden_size"] != 64 * h:
            raise SystemExit("unexpected official config %s: heads/kv %s" % (s, got))

    tokenizer_cache = os.path.join(args.workdir, "tokenizers")
    tokenizers = {}

    def tokenizer(kind):
        """(tokenizer.model path, its TokenizerExpectation), trained or read once per run."""
        if kind not in tokenizers:
            if kind == "llama2":
                path = os.path.join(shared, "mobilellm/tokenizer/llama2-sp.model")
            elif kind == "sp":
                path = hc.train_sentencepiece(tokenizer_cache, VOCAB)
            else:
                path = hc.train_sentencepiece(tokenizer_cache, VOCAB, add_dummy_prefix=False,
                                              pad_id=3)
            tokenizers[kind] = (path, hc.sentencepiece_expectation(path))
        return tokenizers[kind]

    def make_config(case, vocab):
        if case.form == "training":
            config = hc.training_config(official[case.shape], layers=case.layers,
                                        vocab_size=vocab, intermediate_size=INTERMEDIATE,
                                        tie_word_embeddings=case.tied, dtype=case.dtype)
        else:
            config = hc.release_config(release_base, official[case.shape], layers=case.layers,
                                       vocab_size=vocab, intermediate_size=INTERMEDIATE,
                                       share_embedding=case.tied,
                                       layer_sharing=case.layer_sharing, dtype=case.dtype,
                                       head_dim=case.head_dim)
        config.update(case.config_changes)
        return config

    def conversion(case):
        def run(folder, seed):
            tok_path, tok_want = tokenizer(case.tokenizer)
            config = make_config(case, len(tok_want.tokens))
            sd = hc.random_state_dict(config, case.dtype, case.embeddings, seed,
                                      values=case.values, fused_gate_up=case.fused_gate_up,
                                      inv_freq=case.inv_freq)
            ckpt = os.path.join(folder, case.name)
            hc.write_checkpoint(ckpt, config, sd, case.weights, tok_path)
            out = os.path.join(folder, "out", "model.gguf")
            os.makedirs(os.path.dirname(out))
            r = common.run_cli(args.cli, ["convert", ckpt, "-o", out] + case.flags)
            common.check(r.returncode == 0, "conversion failed\n" + r.describe())
            common.check(os.listdir(os.path.dirname(out)) == ["model.gguf"],
                         "output folder holds %s" % os.listdir(os.path.dirname(out)))

            g = gguf_reader.read(out)
            embedding_sharing = case.expected_embedding_sharing()
            weight_type = case.dtype if case.target == "source" else case.target
            hc.check_tensors(g, hc.expected_tensors(sd, case.target, embedding_sharing))
            hc.check_metadata(g, hc.expected_model_metadata(
                config, name=case.name, layer_sharing=case.expected_layer_sharing(),
                embedding_sharing=embedding_sharing, weight_type=weight_type))
            hc.check_tokenizer(g, tok_want)
        return run

    suite = common.Suite(args, "test_convert_exact")
    suite.add("gguf-reader-self-check", reader_self_check)
    for case in CASES:
        suite.add(case.name, conversion(case))
    return suite.run()


if __name__ == "__main__":
    sys.exit(main())
