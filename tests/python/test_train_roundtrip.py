"""The training tool (tools/train) and the runtime compute the same model.

A tiny MobileLLM-LS configuration (2 stored blocks applied twice, grouped-query attention with 4
query and 2 key/value heads, shared embeddings) is trained for a few steps by

    tools/train/train.py train --data D --run R ...   (on generated English-like text, with a
                                                      tokenizer from tools/train/train_tokenizer.py)
    tools/train/train.py export --data D --run R --out HF

converted with `mobilellm convert HF -o M.gguf --type f32`, and evaluated with
`mobilellm logits`. The runtime's float32 logits must match the training code's own forward pass
(tools/train/mobilellm_model.py, loaded from the training checkpoint) within a relative L2 error
of 1e-4, for the whole sequence at once and token by token through the KV cache.

So that the comparison can fail, the checkpoint must have moved away from its initial weights
(training ran), and the training code's forward pass with layer sharing turned off must differ
from the runtime's logits by at least 20 times the tolerance; as a negative control, the runtime
made to apply each block once (`convert --layer-sharing off`) matches that unshared forward pass
and fails the real comparison. No network: the text is generated
from the seed, which is printed; `--seed S` replays a run.
"""

import os
import random
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

common.require_modules("numpy", "torch", "sentencepiece")

import numpy as np  # noqa: E402
import torch  # noqa: E402

import gguf_reader as gr  # noqa: E402

TRAIN_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools", "train")
sys.path.insert(0, TRAIN_DIR)
import mobilellm_model as mm  # noqa: E402
import train_tokenizer  # noqa: E402

TOLERANCE = 1e-4
# Turning layer sharing off in the training code's forward pass must move its logits at least this
# far from the runtime's, so that a runtime applying each block once would fail the comparison.
# (After a few steps the token embedding still dominates the logits, so a block's contribution
# is small: about 1e-2 relative L2.)
DISCRIMINATION = 20 * TOLERANCE
VOCAB = 320  # 259 special and byte pieces, the rest characters and merges
TINY = ["--dim", "48", "--layers", "2", "--heads", "4", "--kv-heads", "2", "--ffn", "80",
        "--seq", "32", "--batch", "4", "--steps", "6", "--warmup", "2", "--lr", "3e-2",
        "--log-every", "3", "--eval-every", "6", "--eval-windows", "2"]

SUBJECTS = ["The Congress", "Our nation", "The government", "The people", "This country",
            "Every citizen", "The treasury", "Our army"]
VERBS = ["has shown", "will need", "must protect", "deserves", "can build", "should consider"]
OBJECTS = ["the public debt", "a strong navy", "peace and commerce", "the common defense",
           "new schools", "the rights of labor", "fair taxes", "our foreign relations"]


def generated_text(rng, documents, sentences):
    """Lines (documents) of English-like sentences, from the seeded `rng`."""
    lines = []
    for _ in range(documents):
        lines.append(" ".join("%s %s %s%s" % (rng.choice(SUBJECTS), rng.choice(VERBS),
                                              rng.choice(OBJECTS), rng.choice([".", ".", "!", ";"]))
                              for _ in range(sentences)))
    return "".join(line + "\n" for line in lines)


def rel_l2(a, b):
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def run(argv):
    p = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    if p.returncode != 0:
        raise AssertionError("$ %s\nexit code %d\n--- stdout\n%s--- stderr\n%s"
                             % (" ".join(argv), p.returncode, p.stdout, p.stderr))
    return p.stdout


def case_roundtrip(args, folder, seed):
    rng = random.Random(seed)
    data = os.path.join(folder, "data")
    os.makedirs(data)
    with open(os.path.join(data, "train.txt"), "w") as f:
        f.write(generated_text(rng, 40, 12))
    with open(os.path.join(data, "heldout.txt"), "w") as f:
        f.write(generated_text(rng, 4, 12))
    train_tokenizer.train(os.path.join(data, "train.txt"), data, VOCAB)

    run_dir = os.path.join(folder, "run")
    train_py = [sys.executable, os.path.join(TRAIN_DIR, "train.py")]
    log = run(train_py + ["train", "--data", data, "--run", run_dir, "--seed", str(seed)] + TINY)
    common.check("eval step 6" in log, "the training log has no held-out evaluation:\n" + log)
    hf = os.path.join(folder, "hf")
    run(train_py + ["export", "--data", data, "--run", run_dir, "--out", hf])

    gguf = os.path.join(folder, "model.gguf")
    r = common.run_cli(args.cli, ["convert", hf, "-o", gguf, "--type", "f32"])
    common.check(r.returncode == 0, r.describe())
    converted = gr.GGUFFile(gguf)
    common.check(converted.value("mobilellm.layer_sharing") is True,
                 "converted model: layer sharing is off")
    common.check(converted.value("mobilellm.block_count") == 2,
                 "converted model: block_count %r" % converted.value("mobilellm.block_count"))

    ck = torch.load(os.path.join(run_dir, "checkpoint.pt"), map_location="cpu")
    common.check(ck["step"] == 6, "checkpoint at step %d, expected 6" % ck["step"])
    config = mm.ModelConfig(**ck["config"])
    model = mm.MobileLLM(config)
    model.load_state_dict(ck["model"])
    model.eval()
    initial = mm.MobileLLM(mm.ModelConfig(**ck["config"]))
    initial.init_weights(torch.Generator().manual_seed(seed))
    moved = max(float((a - b).abs().max()) for a, b in
                zip(model.state_dict().values(), initial.state_dict().values()))
    common.check(moved > 1e-3, "training did not change the weights (max change %g)" % moved)

    import sentencepiece as spm
    sp = spm.SentencePieceProcessor(model_file=os.path.join(data, "tokenizer.model"))
    with open(os.path.join(data, "heldout.txt")) as f:
        ids = [sp.bos_id()] + sp.encode(f.readline().strip())[:47]
    with torch.no_grad():
        expected = model(torch.tensor([ids]))[0].numpy().astype(np.float64)
        config.layer_sharing = False
        unshared = model(torch.tensor([ids]))[0].numpy().astype(np.float64)
        config.layer_sharing = True

    for batch in ("0", "1"):
        out = os.path.join(folder, "logits-%s.npy" % batch)
        r = common.run_cli(args.cli, ["logits", "-m", gguf, "--tokens", ",".join(map(str, ids)),
                                      "--batch", batch, "-o", out, "-t", "1"])
        common.check(r.returncode == 0, r.describe())
        got = np.load(out).astype(np.float64)
        common.check(got.shape == expected.shape, "logits shape %s, expected %s"
                     % (got.shape, expected.shape))
        err = rel_l2(got, expected)
        miss = rel_l2(got, unshared)
        print("    batch %s: relative L2 %.2e to the training forward pass (bound %g); %.2e to "
              "it without layer sharing" % (batch, err, TOLERANCE, miss))
        common.check(err <= TOLERANCE, "batch %s: relative L2 %g > %g" % (batch, err, TOLERANCE))
        common.check(miss >= DISCRIMINATION,
                     "batch %s: the unshared forward pass is only %g away: the comparison could "
                     "not tell layer sharing on from off" % (batch, miss))
    negative_control(args, folder, hf, ids, expected, unshared)


def negative_control(args, folder, hf, ids, expected, unshared):
    """The real runtime made to apply each block once (`convert --layer-sharing off`) must match
    the training code's unshared forward pass and fail the comparison with the shared one."""
    gguf = os.path.join(folder, "model-unshared.gguf")
    r = common.run_cli(args.cli, ["convert", hf, "-o", gguf, "--type", "f32", "--layer-sharing", "off"])
    common.check(r.returncode == 0, r.describe())
    out = os.path.join(folder, "logits-unshared.npy")
    r = common.run_cli(args.cli, ["logits", "-m", gguf, "--tokens", ",".join(map(str, ids)),
                                  "-o", out, "-t", "1"])
    common.check(r.returncode == 0, r.describe())
    got = np.load(out).astype(np.float64)
    print("    negative control (runtime without layer sharing): %.2e to the unshared forward "
          "pass, %.2e to the real one" % (rel_l2(got, unshared), rel_l2(got, expected)))
    common.check(rel_l2(got, unshared) <= TOLERANCE, "the unshared runtime does not match the "
                 "unshared forward pass: %g" % rel_l2(got, unshared))
    common.check(rel_l2(got, expected) > TOLERANCE, "the unshared runtime passes the comparison")


def main():
    args = common.parse_args(__doc__.split("\n\n")[0])
    suite = common.Suite(args, "train roundtrip")
    suite.add("tiny_ls_gqa", lambda folder, seed: case_roundtrip(args, folder, seed))
    return suite.run()


if __name__ == "__main__":
    sys.exit(main())
