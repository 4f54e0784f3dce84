#!/usr/bin/python3
"""Trains a small MobileLLM (layer-sharing) model on CPU and exports it in the Hugging Face layout.

    train.py train  --data DATA --run RUN [model and schedule options]   # starts or resumes
    train.py export --data DATA --run RUN --out HF_DIR                   # latest checkpoint -> HF
    train.py eval   --data DATA --run RUN                                # held-out loss

DATA holds train.txt and heldout.txt (one document per line; fetch_data.py) and tokenizer.model
(train_tokenizer.py). RUN receives checkpoint.pt (model, optimizer, step; written every
--checkpoint-minutes and at the end, atomically) and the tokenized data cache.

Deterministic given --seed: the initial weights come from the seed, and the batch of step s is a
function of (seed, s) only, so a resumed run continues exactly as an uninterrupted one would
(on the same machine and thread count). Resuming: run the same `train` command again; the model
shape and hyper-parameters are taken from the checkpoint, and only --steps (the schedule's length),
--seq, --batch and --threads may change (e.g. a longer --seq to extend the trained context);
--stop-at N stops at step N instead of --steps (past --steps the learning rate stays at its
minimum). Each document is one token stream BOS, text, EOS; a training example is a random window
of --seq tokens of the concatenated streams.

Learning rate: linear warm-up over --warmup steps to --lr, then cosine decay to --lr * --min-lr-ratio
at --steps; past --steps it stays at the minimum. AdamW (0.9, 0.95), weight decay on matrices
only, gradient clipping at 1.0.
"""

import argparse
import dataclasses
import hashlib
import math
import os
import sys
import time


def _threads_from_argv():
    """The --threads value, read before torch loads: OpenBLAS and OpenMP size their pools then."""
    for i, a in enumerate(sys.argv):
        if a == "--threads" and i + 1 < len(sys.argv):
            return sys.argv[i + 1]
        if a.startswith("--threads="):
            return a.split("=", 1)[1]
    return "1"


for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"):
    os.environ.setdefault(_var, _threads_from_argv())

import numpy as np  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mobilellm_model import MobileLLM, ModelConfig, export_hf  # noqa: E402

CHECKPOINT = "checkpoint.pt"


def log(message):
    print(time.strftime("%H:%M:%S ") + message, flush=True)


def file_sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def tokenized(data, run, split):
    """The token stream of DATA/split.txt as uint16 (cached in RUN, keyed by the text and the
    tokenizer): for each document (line), BOS, its tokens, EOS."""
    import sentencepiece as spm
    text_path = os.path.join(data, split + ".txt")
    tok_path = os.path.join(data, "tokenizer.model")
    key = hashlib.sha256((file_sha256(text_path) + file_sha256(tok_path)).encode()).hexdigest()[:16]
    cache = os.path.join(run, "%s-%s.u16" % (split, key))
    if os.path.exists(cache):
        return np.fromfile(cache, dtype=np.uint16)
    sp = spm.SentencePieceProcessor(model_file=tok_path)
    if sp.vocab_size() > 65535:
        raise SystemExit("%s: vocabulary of %d does not fit uint16" % (tok_path, sp.vocab_size()))
    parts = []
    with open(text_path, encoding="utf-8") as f:
        for line in f:
            doc = line.rstrip("\n")
            if doc:
                parts.append(np.array([sp.bos_id()] + sp.encode(doc) + [sp.eos_id()], dtype=np.uint16))
    ids = np.concatenate(parts)
    tmp = cache + ".tmp"
    ids.tofile(tmp)
    os.replace(tmp, cache)
    log("tokenized %s: %d documents, %d tokens" % (text_path, len(parts), len(ids)))
    return ids


def batch(ids, seed, step, batch_size, seq):
    """Inputs and targets [batch_size, seq] of training step `step`: a function of (seed, step)."""
    rng = np.random.Generator(np.random.PCG64([seed, step]))
    starts = rng.integers(0, len(ids) - seq - 1, size=batch_size)
    rows = np.stack([ids[s:s + seq + 1] for s in starts]).astype(np.int64)
    t = torch.from_numpy(rows)
    return t[:, :-1], t[:, 1:]


def learning_rate(h, step):
    if step < h["warmup"]:
        return h["lr"] * (step + 1) / h["warmup"]
    progress = min(1.0, (step - h["warmup"]) / max(1, h["steps"] - h["warmup"]))
    low = h["lr"] * h["min_lr_ratio"]
    return low + (h["lr"] - low) * 0.5 * (1 + math.cos(math.pi * progress))


@torch.no_grad()
def heldout_loss(model, ids, seq, windows):
    """Mean cross-entropy (nats/token) over the first `windows` consecutive windows of held-out
    (all of them when `windows` <= 0)."""
    model.eval()
    n = (len(ids) - 1) // seq
    n = min(windows, n) if windows > 0 else n
    total = 0.0
    for i in range(0, n, 8):
        k = min(8, n - i)
        rows = np.stack([ids[(i + j) * seq:(i + j) * seq + seq + 1] for j in range(k)]).astype(np.int64)
        t = torch.from_numpy(rows)
        logits = model(t[:, :-1])
        total += torch.nn.functional.cross_entropy(
            logits.reshape(-1, logits.shape[-1]), t[:, 1:].reshape(-1), reduction="sum").item()
    model.train()
    return total / (n * seq)


def make_optimizer(model, h):
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    return torch.optim.AdamW([{"params": decay, "weight_decay": h["weight_decay"]},
                              {"params": no_decay, "weight_decay": 0.0}],
                             lr=h["lr"], betas=(0.9, 0.95), eps=1e-8)


def save_checkpoint(run, state):
    path = os.path.join(run, CHECKPOINT)
    tmp = path + ".tmp"
    torch.save(state, tmp)
    os.replace(tmp, path)


def load_checkpoint(run):
    path = os.path.join(run, CHECKPOINT)
    if not os.path.exists(path):
        return None
    return torch.load(path, map_location="cpu", weights_only=False)


def model_from_checkpoint(ck):
    model = MobileLLM(ModelConfig(**ck["config"]))
    model.load_state_dict(ck["model"])
    return model


def cmd_train(args):
    torch.set_num_threads(args.threads)
    os.makedirs(args.run, exist_ok=True)
    ck = load_checkpoint(args.run)
    if ck:
        config = ModelConfig(**ck["config"])
        h = dict(ck["hyper"])
        for key in ("steps", "seq", "batch"):  # the only settings a resumed run may change
            if getattr(args, key) is not None and getattr(args, key) != h[key]:
                log("%s: %s -> %s" % (key, h[key], getattr(args, key)))
                h[key] = getattr(args, key)
        model = model_from_checkpoint(ck)
        optimizer = make_optimizer(model, h)
        optimizer.load_state_dict(ck["optimizer"])
        step, elapsed, tokens_seen = ck["step"], ck["elapsed"], ck["tokens_seen"]
        log("resumed %s at step %d (%.1f min trained)" % (os.path.join(args.run, CHECKPOINT), step, elapsed / 60))
    else:
        import sentencepiece as spm
        vocab = spm.SentencePieceProcessor(model_file=os.path.join(args.data, "tokenizer.model")).vocab_size()
        config = ModelConfig(vocab_size=vocab, dim=args.dim, layers=args.layers, heads=args.heads,
                             kv_heads=args.kv_heads, ffn=args.ffn, layer_sharing=not args.no_layer_sharing,
                             max_seq=args.max_seq)
        h = {"seed": args.seed, "lr": args.lr, "min_lr_ratio": args.min_lr_ratio, "warmup": args.warmup,
             "steps": args.steps if args.steps is not None else 1000,
             "batch": args.batch if args.batch is not None else 16,
             "seq": args.seq if args.seq is not None else 256,
             "weight_decay": args.weight_decay}
        model = MobileLLM(config)
        model.init_weights(torch.Generator().manual_seed(h["seed"]))
        optimizer = make_optimizer(model, h)
        step, elapsed, tokens_seen = 0, 0.0, 0
    train_ids = tokenized(args.data, args.run, "train")
    held_ids = tokenized(args.data, args.run, "heldout")
    log("model %s; %d parameters (%d applied blocks); hyper %s; train %d tokens, held-out %d tokens"
        % (dataclasses.asdict(config), model.parameter_count(), config.applied_layers(), h,
           len(train_ids), len(held_ids)))

    def state():
        return {"config": dataclasses.asdict(config), "hyper": h, "model": model.state_dict(),
                "optimizer": optimizer.state_dict(), "step": step, "elapsed": elapsed,
                "tokens_seen": tokens_seen}

    end = args.stop_at if args.stop_at is not None else h["steps"]
    last_save = time.time()
    window_start, window_tokens, window_loss, window_steps = time.time(), 0, 0.0, 0
    model.train()
    while step < end:
        t0 = time.time()
        x, y = batch(train_ids, h["seed"], step, h["batch"], h["seq"])
        lr = learning_rate(h, step)
        for g in optimizer.param_groups:
            g["lr"] = lr
        logits = model(x)
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        step += 1
        tokens_seen += x.numel()
        elapsed += time.time() - t0
        window_tokens += x.numel()
        window_loss += loss.item()
        window_steps += 1
        if step % args.log_every == 0 or step == end:
            rate = window_tokens / max(1e-9, time.time() - window_start)
            log("step %d/%d | loss %.4f | lr %.2e | %.0f tok/s | epoch %.3f | %.1f min"
                % (step, end, window_loss / window_steps, lr, rate,
                   tokens_seen / len(train_ids), elapsed / 60))
            window_start, window_tokens, window_loss, window_steps = time.time(), 0, 0.0, 0
        if step % args.eval_every == 0 or step == end:
            hl = heldout_loss(model, held_ids, h["seq"], args.eval_windows)
            log("eval step %d | held-out loss %.4f | ppl %.2f" % (step, hl, math.exp(hl)))
        if time.time() - last_save >= args.checkpoint_minutes * 60 or step == end:
            save_checkpoint(args.run, state())
            last_save = time.time()
            log("saved checkpoint at step %d" % step)
    return 0


def cmd_export(args):
    ck = load_checkpoint(args.run)
    if ck is None:
        raise SystemExit("%s: no %s" % (args.run, CHECKPOINT))
    model = model_from_checkpoint(ck)
    if args.context is not None:
        model.c.max_seq = args.context
    export_hf(model, os.path.join(args.data, "tokenizer.model"), args.out)
    log("exported step %d (%d parameters) to %s" % (ck["step"], model.parameter_count(), args.out))
    return 0


def cmd_eval(args):
    torch.set_num_threads(args.threads)
    ck = load_checkpoint(args.run)
    if ck is None:
        raise SystemExit("%s: no %s" % (args.run, CHECKPOINT))
    model = model_from_checkpoint(ck)
    held = tokenized(args.data, args.run, "heldout")
    hl = heldout_loss(model, held, ck["hyper"]["seq"], args.eval_windows)
    log("step %d | held-out loss %.4f | ppl %.2f" % (ck["step"], hl, math.exp(hl)))
    return 0


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--data", required=True, help="folder with train.txt, heldout.txt, tokenizer.model")
    common.add_argument("--run", required=True, help="run folder (checkpoint.pt, token caches)")
    common.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    common.add_argument("--eval-windows", type=int, default=64, help="held-out windows per evaluation (0 = all)")

    t = sub.add_parser("train", parents=[common], help="start or resume training")
    t.add_argument("--dim", type=int, default=192)
    t.add_argument("--layers", type=int, default=10, help="stored blocks")
    t.add_argument("--heads", type=int, default=6)
    t.add_argument("--kv-heads", type=int, default=2)
    t.add_argument("--ffn", type=int, default=512)
    t.add_argument("--no-layer-sharing", action="store_true")
    t.add_argument("--max-seq", type=int, default=2048, help="max_position_embeddings")
    t.add_argument("--seq", type=int, help="training window (default 256; on resume: keep)")
    t.add_argument("--batch", type=int, help="windows per step (default 16; on resume: keep)")
    t.add_argument("--steps", type=int, help="schedule length (default 1000; on resume: keep)")
    t.add_argument("--stop-at", type=int, help="stop at this step (default: --steps)")
    t.add_argument("--lr", type=float, default=3e-3)
    t.add_argument("--min-lr-ratio", type=float, default=0.1)
    t.add_argument("--warmup", type=int, default=100)
    t.add_argument("--weight-decay", type=float, default=0.1)
    t.add_argument("--seed", type=int, default=1)
    t.add_argument("--log-every", type=int, default=10)
    t.add_argument("--eval-every", type=int, default=200)
    t.add_argument("--checkpoint-minutes", type=float, default=5.0)
    t.set_defaults(func=cmd_train)

    e = sub.add_parser("export", parents=[common], help="write the latest checkpoint as an HF folder")
    e.add_argument("--out", required=True)
    e.add_argument("--context", type=int,
                   help="max_position_embeddings to write (default: the model's --max-seq)")
    e.set_defaults(func=cmd_export)

    v = sub.add_parser("eval", parents=[common], help="held-out loss of the latest checkpoint")
    v.set_defaults(func=cmd_eval)
    args = p.parse_args()
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
