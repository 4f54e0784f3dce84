"""The runtime's logits against the float64 reference (reference_model.py), on random checkpoints.

For each head layout of the five official MobileLLM shapes (heads / kv heads 9/3, 15/5, 18/6,
20/5, 25/5, head_dim 64) with 2 blocks and a reduced vocabulary and FFN, with layer sharing on
and off, tied and untied embeddings, F32 and F16 weights, a random checkpoint is written in the
Hugging Face layout, converted with `mobilellm convert`, and evaluated with

    mobilellm logits -m M.gguf --tokens ... --batch N -o OUT.npy

on the first 1, 7, 33 and 64 tokens of a random sequence, with N = the whole sequence, 7 (chunks,
the last one partial) and 1 (token by token through the KV cache; for 64 tokens only, as the
shorter runs would repeat its first steps exactly). Every [T, vocab] float32 result must
be within a relative L2 error ||a - b|| / ||b|| of 1e-4 of the reference's float64 logits,
computed from the checkpoint folder itself (F16 weights upcast exactly, so the same bound holds).

Each layout gets four of the eight (layer sharing, embeddings, float type) combinations, chosen so
that every pair of values of two factors occurs; consecutive layouts take complementary halves,
so all eight combinations occur over the run.

The random weights are made to discriminate: query and key projections are scaled so attention
is far from uniform, and every case first checks that plausible implementation mistakes (RoPE on
interleaved pairs, the wrong kv head per query head, layer sharing applied the wrong way) move the
reference's own logits by at least 100 times the tolerance, so the comparison could catch them.
Two negative controls run the real runtime as if it made such a mistake (q/k rows permuted so that
correct RoPE computes interleaved RoPE; `convert --layer-sharing off` on a layer-sharing
checkpoint): its logits must match the reference's deviated logits and fail the real comparison.

Seeds are printed; `--seed S` replays a run and `-k NAME` one case.
"""

import math
import os
import sys
import types

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

common.require_modules("numpy", "torch", "sentencepiece")

import numpy as np  # noqa: E402
import torch  # noqa: E402

import hf_checkpoint as hc  # noqa: E402
import reference_model as ref  # noqa: E402

SHAPES = {"125M": (9, 3), "350M": (15, 5), "600M": (18, 6), "1B": (20, 5), "1.5B": (25, 5)}
HEAD_DIM = 64
LAYERS = 2
VOCAB = 512         # the size of the SentencePiece model hf_checkpoint trains
INTERMEDIATE = 172  # not a multiple of 8: vector loops over the FFN need their tails
LENGTHS = (1, 7, 33, 64)
CHUNK = 7
TOLERANCE = 1e-4
# A deliberate mistake must move the reference's logits by at least this much (relative L2).
DISCRIMINATION = 100 * TOLERANCE
# Standard deviation of q = h Wq^T and k components (h is RMS-normalised, norm weights ~1):
# q.k / sqrt(D) then has standard deviation about QK_STD^2, so softmax is far from uniform.
QK_STD = 1.5

# (layer sharing, tied, F16): an orthogonal array of strength 2 and its complement.
HALVES = (((False, False, False), (False, True, True), (True, False, True), (True, True, False)),
          ((True, True, True), (True, False, False), (False, True, False), (False, False, True)))


def sharpen_attention(state_dict, hidden_size):
    """Rescales the q and k projections of `state_dict` (N(0, 0.02) from hf_checkpoint) to
    N(0, QK_STD^2 / hidden_size), keeping their float type."""
    scale = QK_STD / math.sqrt(hidden_size) / 0.02
    for name, t in state_dict.items():
        if name.endswith(("self_attn.q_proj.weight", "self_attn.k_proj.weight")):
            state_dict[name] = (t.to(torch.float32) * scale).to(t.dtype)


def interleave_rope_pairs(state_dict):
    """Permutes the rows of every head of the q and k projections so that a runtime applying
    RoPE correctly (pairs i, i + D/2) computes what a runtime applying it to adjacent pairs
    (2i, 2i + 1) computes on the original weights: row 2i moves to i, row 2i + 1 to i + D/2.
    Attention scores are unchanged by a permutation applied to both q and k."""
    order = torch.cat([torch.arange(0, HEAD_DIM, 2), torch.arange(1, HEAD_DIM, 2)])
    for name, t in state_dict.items():
        if name.endswith(("self_attn.q_proj.weight", "self_attn.k_proj.weight")):
            state_dict[name] = t.reshape(-1, HEAD_DIM, t.shape[1])[:, order].reshape(t.shape)


class Checkpoint:
    """A random checkpoint of one head layout, its conversion and its reference."""

    def __init__(self, env, folder, seed, shape, layer_sharing, tied, f16, mutate=None,
                 convert_flags=()):
        self.cli = env.cli
        dtype = "F16" if f16 else "F32"
        # The 125M release ships F16 weights as pytorch_model.bin only: read that path too.
        weights = "bin" if f16 and shape == "125M" else "safetensors"
        config = hc.release_config(env.release_base, env.official[shape], layers=LAYERS,
                                   vocab_size=VOCAB, intermediate_size=INTERMEDIATE,
                                   share_embedding=tied, layer_sharing=layer_sharing, dtype=dtype,
                                   head_dim=HEAD_DIM)
        sd = hc.random_state_dict(config, dtype, "embed_only" if tied else "both_distinct", seed)
        sharpen_attention(sd, config["hidden_size"])
        source = os.path.join(folder, "hf")
        hc.write_checkpoint(source, config, sd, weights, env.tokenizer_model)
        self.reference = ref.ReferenceModel(source)
        c = self.reference.config
        common.check((c.num_heads, c.num_kv_heads, c.head_dim, c.layer_sharing,
                      c.embedding_sharing) == (*SHAPES[shape], HEAD_DIM, layer_sharing, tied),
                     "the reference read an unexpected config: %s" % vars(c))
        if mutate is not None:  # the runtime gets different weights than the reference
            mutate(sd)
            source = os.path.join(folder, "hf-mutated")
            hc.write_checkpoint(source, config, sd, weights, env.tokenizer_model)
        self.model = os.path.join(folder, "model.gguf")
        r = common.run_cli(self.cli, ["convert", source, "-o", self.model, "-q"]
                           + list(convert_flags))
        common.check(r.returncode == 0, "conversion failed\n" + r.describe())
        self.folder = folder
        # BOS, then random ids past the special ones (<unk>, <s>, </s>)
        rng = np.random.default_rng(seed)
        self.tokens = [1] + rng.integers(3, VOCAB, size=max(LENGTHS) - 1).tolist()

    def runtime_logits(self, length, batch):
        """`mobilellm logits` of the first `length` tokens, `batch` tokens per call."""
        out = os.path.join(self.folder, "logits-T%d-b%d.npy" % (length, batch))
        r = common.run_cli(self.cli, ["logits", "-m", self.model, "--tokens",
                                      ",".join(map(str, self.tokens[:length])), "--batch", batch,
                                      "-o", out])
        common.check(r.returncode == 0, "logits failed\n" + r.describe())
        got = np.load(out, allow_pickle=False)
        common.check(got.dtype == np.dtype("<f4") and got.shape == (length, VOCAB),
                     "%s holds %s %s, want float32 [%d, %d]"
                     % (out, got.dtype, got.shape, length, VOCAB))
        common.check(np.isfinite(got).all(), "%s holds non-finite logits" % out)
        return got


def batch_sizes(length):
    """--batch values for a sequence of `length` tokens: the whole sequence, chunks of CHUNK when
    that splits it, and token by token for the longest sequence only. The shorter sequences are
    its prefixes, so token by token they would repeat its first steps exactly."""
    sizes = {length}
    if CHUNK < length:
        sizes.add(CHUNK)
    if length == max(LENGTHS):
        sizes.add(1)
    return sorted(sizes)


def agreement_case(env, shape, layer_sharing, tied, f16):
    """The runtime agrees with the reference at every length and batch size."""
    def run(folder, seed):
        ckpt = Checkpoint(env, folder, seed, shape, layer_sharing, tied, f16)
        reference, tokens = ckpt.reference, ckpt.tokens
        expected = reference.logits(tokens)
        for deviation in ref.DEVIATIONS:
            e = ref.relative_l2_error(reference.logits(tokens, deviation=deviation), expected)
            common.check(e >= DISCRIMINATION,
                         "the random weights do not discriminate: deviation %s moves the "
                         "reference's logits by only %.3g" % (deviation, e))
        errors = []
        for length in LENGTHS:
            want = reference.logits(tokens[:length])
            for batch in batch_sizes(length):
                got = ckpt.runtime_logits(length, batch)
                e = ref.relative_l2_error(got, want)
                common.check(e <= TOLERANCE,
                             "T=%d --batch %d: relative L2 error %.3g > %g (worst position %d)"
                             % (length, batch, e, TOLERANCE,
                                int(np.argmax(np.linalg.norm(got - want, axis=1)))))
                errors.append((e, "T=%d --batch %d" % (length, batch)))
        print("     largest relative L2 error %.2g (%s)" % max(errors))
    return run


def control_case(env, deviation, **checkpoint_options):
    """A negative control: the runtime is made to compute what a runtime with the mistake
    `deviation` would, and its logits must then match the reference's deviated logits and be
    rejected by the tolerance against the correct ones."""
    def run(folder, seed):
        ckpt = Checkpoint(env, folder, seed, "125M", layer_sharing=True, tied=True, f16=False,
                          **checkpoint_options)
        got = ckpt.runtime_logits(len(ckpt.tokens), CHUNK)
        e_deviated = ref.relative_l2_error(
            got, ckpt.reference.logits(ckpt.tokens, deviation=deviation))
        e_correct = ref.relative_l2_error(got, ckpt.reference.logits(ckpt.tokens))
        common.check(e_deviated <= TOLERANCE and e_correct >= DISCRIMINATION,
                     "with deviation %s, relative L2 error %.3g against the deviated reference "
                     "(want <= %g) and %.3g against the correct one (want >= %g)"
                     % (deviation, e_deviated, TOLERANCE, e_correct, DISCRIMINATION))
    return run


def main():
    args = common.parse_args(__doc__.splitlines()[0])
    shared = common.require_shared(
        args, "mobilellm/configs/hf-release/MobileLLM-125M/config.json",
        *["mobilellm/configs/%s/config.json" % s for s in SHAPES])
    official = {s: hc.load_json(os.path.join(shared, "mobilellm/configs", s, "config.json"))
                for s in SHAPES}
    for s, (heads, kv_heads) in SHAPES.items():
        o = official[s]
        if (o["num_attention_heads"], o["num_key_value_heads"], o["hidden_size"]) != (
                heads, kv_heads, heads * HEAD_DIM):
            raise SystemExit("unexpected official config %s: %s" % (s, o))
    env = types.SimpleNamespace(
        cli=args.cli, official=official,
        release_base=hc.load_json(os.path.join(
            shared, "mobilellm/configs/hf-release/MobileLLM-125M/config.json")),
        tokenizer_model=hc.train_sentencepiece(os.path.join(args.workdir, "tokenizers"), VOCAB))

    suite = common.Suite(args, "test_logits_reference")
    for i, shape in enumerate(SHAPES):
        for layer_sharing, tied, f16 in HALVES[i % 2]:
            name = "%s-%s-%s-%s" % (shape, "ls" if layer_sharing else "nols",
                                    "tied" if tied else "untied", "f16" if f16 else "f32")
            suite.add(name, agreement_case(env, shape, layer_sharing, tied, f16))
    suite.add("control-rope-interleaved",
              control_case(env, "rope-interleaved", mutate=interleave_rope_pairs))
    suite.add("control-layer-sharing-off",
              control_case(env, "layer-sharing-flipped", convert_flags=["--layer-sharing", "off"]))
    return suite.run()


if __name__ == "__main__":
    sys.exit(main())
