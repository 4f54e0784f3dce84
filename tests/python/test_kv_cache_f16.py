"""The runtime's logits with a float16 KV cache against the float64 reference with K and V rounded
to float16.

`mobilellm logits --cache-type f16` stores every key (after RoPE) and value rounded to IEEE
binary16 (round to nearest even) and computes attention in float32 on the stored values. The
reference here is reference_model.py's float64 forward pass with one change, made in numpy: after
RoPE, k and v are rounded to float16 (`astype(np.float16)`, nearest even) and widened back. The
checkpoints are those of test_logits_reference.py (random Hugging Face checkpoints converted with
`mobilellm convert`; head layouts of 125M and 1B, 2 blocks, query and key projections sharpened so
that attention is far from uniform), with and without layer sharing, 64 tokens, evaluated whole,
in chunks of 7 and token by token.

Tolerance. The reference rounds its float64 k and v, the runtime its float32 ones; they differ by
the runtime's float32 error, a relative eps of about 1e-6 per element (its float32-cache logits are
about 1e-6 from the float64 reference here; eps <= 1e-5 is assumed). Where that difference
straddles a rounding boundary of float16, the two round to neighbouring values, one float16 ulp
apart: this happens to a fraction P ~ eps * |x| / ulp16(x) <= eps * 2^10.5 <= 1.5e-2 of the
elements, at random. Let F be the relative L2 change of the reference's logits when K and V are
rounded (printed; about 6e-4 on these checkpoints), i.e. the effect of rounding errors of RMS
ulp/sqrt(12) on every element. Independent errors add in quadrature, so the flipped elements, each
off by one ulp, move the logits by about sqrt(12 P) F <= 0.43 F. Hence

    TOLERANCE = 1e-5 + 0.5 F          (about 3e-4; float32 errors plus the flips)

Measured over 48 seeds (125M and 1B layouts, with and without layer sharing): 0.06 F to 0.38 F.
Because the flips are intrinsic (rounding is discontinuous), this bound is only about 2x below F,
the distance of an unrounded cache: the test checks that the runtime's f16 logits are within
TOLERANCE of the float16-K/V reference and at least 1.5 TOLERANCE from the unrounded one, and, as
a negative control, that its f32-cache logits are within 1e-5 of the unrounded reference and at
least 1.5 TOLERANCE from the rounded one. The rounding itself is tested exactly (every edge case
and random floats against an independent round-to-nearest-even) by tests/unit/test_half.cpp.
The f16 logits must also be the same bits whether the 64 tokens come at once, in chunks of 7, or
one by one.

A last case checks `bench -ctk f32,f16` on the tiny synthetic shape: one row per cache type with
type_k = type_v, half the KV bytes and the kvf16 attention kernel named for f16, and -ctk / -ctv
that differ refused (exit 2, nothing on stdout).

Seeds are printed; `--seed S` replays a run and `-k NAME` one case.
"""

import json
import os
import sys
import types

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

common.require_modules("numpy", "torch", "sentencepiece")

import numpy as np  # noqa: E402

import hf_checkpoint as hc  # noqa: E402
import reference_model as ref  # noqa: E402
import test_logits_reference as tlr  # noqa: E402  (its checkpoints and constants)

SHAPES = {"125M": (9, 3), "1B": (20, 5)}
LENGTH = 64
BATCHES = (LENGTH, 7, 1)
F32_TOLERANCE = 1e-5  # the float32 runtime against the float64 reference (measured: about 1e-6)
FLIPS = 0.5           # the flips' share of the float16 effect F (see the docstring)
SEPARATION = 1.5      # how far (in tolerances) the wrong answers must be


class F16KvReference(ref.ReferenceModel):
    """reference_model.py's forward pass with k (after RoPE) and v rounded to float16."""

    def _cached(self, x):
        # binary16, round to nearest even (numpy converts float64 -> float16 directly)
        return x.astype(np.float16).astype(np.float64)


def runtime_logits(ckpt, batch, cache_type):
    out = os.path.join(ckpt.folder, "logits-%s-b%d.npy" % (cache_type, batch))
    r = common.run_cli(ckpt.cli, ["logits", "-m", ckpt.model, "--tokens",
                                  ",".join(map(str, ckpt.tokens[:LENGTH])), "--batch", batch,
                                  "--cache-type", cache_type, "-o", out])
    common.check(r.returncode == 0, "logits failed\n" + r.describe())
    got = np.load(out, allow_pickle=False)
    common.check(got.dtype == np.dtype("<f4") and got.shape == (LENGTH, tlr.VOCAB),
                 "%s holds %s %s" % (out, got.dtype, got.shape))
    common.check(np.isfinite(got).all(), "%s holds non-finite logits" % out)
    return got


def case(env, shape, layer_sharing):
    def run(folder, seed):
        ckpt = tlr.Checkpoint(env, folder, seed, shape, layer_sharing, tied=True, f16=False)
        tokens = ckpt.tokens[:LENGTH]
        exact = ckpt.reference.logits(tokens)
        rounded = F16KvReference(os.path.join(folder, "hf")).logits(tokens)
        effect = ref.relative_l2_error(rounded, exact)
        tolerance = F32_TOLERANCE + FLIPS * effect
        print("     float16 rounding of K and V moves the reference's logits by %.3g; "
              "tolerance %.3g" % (effect, tolerance))
        common.check(effect >= 10 * F32_TOLERANCE,
                     "the checkpoint does not discriminate: rounding K and V moves the "
                     "reference by only %.3g" % effect)
        worst = 0.0
        first = None
        for batch in BATCHES:
            got = runtime_logits(ckpt, batch, "f16")
            if first is None:
                first = got
            common.check(np.array_equal(got.view(np.uint32), first.view(np.uint32)),
                         "--cache-type f16: --batch %d gives other bits than --batch %d"
                         % (batch, BATCHES[0]))
            e = ref.relative_l2_error(got, rounded)
            e_exact = ref.relative_l2_error(got, exact)
            common.check(e <= tolerance,
                         "--cache-type f16 --batch %d: relative L2 error %.3g > %.3g against the "
                         "float16-KV reference" % (batch, e, tolerance))
            common.check(e_exact >= SEPARATION * tolerance,
                         "--cache-type f16 --batch %d: only %.3g from the unrounded reference: "
                         "the cache does not look float16" % (batch, e_exact))
            worst = max(worst, e)
        # Negative control: the float32 cache matches the unrounded reference, not the rounded.
        f32 = runtime_logits(ckpt, LENGTH, "f32")
        e32 = ref.relative_l2_error(f32, exact)
        e32_rounded = ref.relative_l2_error(f32, rounded)
        common.check(e32 <= F32_TOLERANCE and e32_rounded >= SEPARATION * tolerance,
                     "--cache-type f32: %.3g from the float64 reference (want <= %g), %.3g from "
                     "the float16-KV one (want >= %.3g)"
                     % (e32, F32_TOLERANCE, e32_rounded, SEPARATION * tolerance))
        print("     largest relative L2 error with the f16 cache %.2g (f32 cache: %.2g)"
              % (worst, e32))
    return run


def bench_case(cli):
    """`bench -ctk f32,f16`: one row per cache type, type_k = type_v, the f16 cache half the bytes,
    its attention kernel named kvf16; -ctk and -ctv that differ are refused before anything runs."""
    def run(folder, seed):
        del seed
        argv = ["bench", "--shape", "tiny", "--cache-dir", os.path.join(folder, "cache"),
                "-p", "8", "-n", "4", "-r", "1", "--no-energy", "-o", "json"]
        r = common.run_cli(cli, argv + ["-ctk", "f32,f16"])
        common.check(r.returncode == 0, r.describe())
        rows = json.loads(r.stdout)
        common.check([(x["type_k"], x["type_v"], x["test"]) for x in rows] ==
                     [("f32", "f32", "pp8"), ("f32", "f32", "tg4"),
                      ("f16", "f16", "pp8"), ("f16", "f16", "tg4")],
                     "rows %r" % [(x["type_k"], x["type_v"], x["test"]) for x in rows])
        for f32, f16 in zip(rows[:2], rows[2:]):
            common.check(f16["kv_cache_bytes"] * 2 == f32["kv_cache_bytes"],
                         "KV bytes %d (f16) and %d (f32)"
                         % (f16["kv_cache_bytes"], f32["kv_cache_bytes"]))
            common.check("attention_f32_gqa_kvf16__" in f16["kernels"]
                         and "_kvf16__" not in f32["kernels"],
                         "kernels %r / %r" % (f16["kernels"], f32["kernels"]))
        bad = common.run_cli(cli, argv + ["-ctk", "f16", "-ctv", "f32"])
        common.check(bad.returncode == 2 and "-ctk f16 and -ctv f32 differ" in bad.stderr
                     and bad.stdout == "", bad.describe())
    return run


def main():
    args = common.parse_args(__doc__.splitlines()[0])
    shared = common.require_shared(
        args, "mobilellm/configs/hf-release/MobileLLM-125M/config.json",
        *["mobilellm/configs/%s/config.json" % s for s in SHAPES])
    official = {s: hc.load_json(os.path.join(shared, "mobilellm/configs", s, "config.json"))
                for s in SHAPES}
    env = types.SimpleNamespace(
        cli=args.cli, official=official,
        release_base=hc.load_json(os.path.join(
            shared, "mobilellm/configs/hf-release/MobileLLM-125M/config.json")),
        tokenizer_model=hc.train_sentencepiece(os.path.join(args.workdir, "tokenizers"),
                                               tlr.VOCAB))
    suite = common.Suite(args, "test_kv_cache_f16")
    suite.add("bench-ctk", bench_case(args.cli))
    for shape in SHAPES:
        for layer_sharing in (False, True):
            suite.add("%s-%s" % (shape, "ls" if layer_sharing else "nols"),
                      case(env, shape, layer_sharing))
    return suite.run()


if __name__ == "__main__":
    sys.exit(main())
