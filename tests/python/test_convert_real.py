"""`mobilellm convert` on real checkpoint folders from the shared reference data.

  - models/tinystories-656k: a trained LLaMA checkpoint (float32 model.safetensors holding only
    lm_head.weight, tie_word_embeddings true, tokenizer.json + tokenizer_config.json). Every
    tensor must come out bit-exact, token_embd being lm_head, and the vocabulary must be the
    one of tokenizer.json (2048 tokens, its merges, <|start_story|>=1, <|end_story|>=2).
  - The Hugging Face release configs of MobileLLM-125M and -125M-layer-share, with reduced
    sizes patched in and random weights: layer_sharing must be carried from config.json.
"""

import os
import re
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

common.require_modules("numpy", "torch", "sentencepiece")

import numpy as np  # noqa: E402

import gguf_reader  # noqa: E402
import hf_checkpoint as hc  # noqa: E402

TINYSTORIES = "models/tinystories-656k"
RELEASE = "mobilellm/configs/hf-release/MobileLLM-125M"
RELEASE_LS = "mobilellm/configs/hf-release/MobileLLM-125M-layer-share"

_BYTE_PIECE = re.compile(r"^<0x[0-9A-F]{2}>$")


def hf_tokenizer_expectation(folder):
    """The vocabulary a conversion must store for a tokenizer.json + tokenizer_config.json
    folder, read with plain json: ids from the BPE vocab and added_tokens, merges in rank
    order, special ids from tokenizer_config.json's token strings."""
    tok = hc.load_json(os.path.join(folder, "tokenizer.json"))
    cfg = hc.load_json(os.path.join(folder, "tokenizer_config.json"))
    vocab = tok["model"]["vocab"]
    n = max(list(vocab.values()) + [t["id"] for t in tok["added_tokens"]]) + 1
    tokens = [None] * n
    for piece, i in vocab.items():
        tokens[i] = piece
    special = set()
    for t in tok["added_tokens"]:
        tokens[t["id"]] = t["content"]
        if t["special"]:
            special.add(t["id"])
    if None in tokens:
        raise ValueError("tokenizer.json leaves id %d unassigned" % tokens.index(None))
    ids = {piece: i for i, piece in enumerate(tokens)}
    unk = ids[cfg["unk_token"]]

    def types(_stored_tokens):
        t = np.full(n, hc.TOKEN_NORMAL, dtype=np.int32)
        for i, piece in enumerate(tokens):
            if i == unk:
                t[i] = hc.TOKEN_UNKNOWN
            elif i in special:
                t[i] = hc.TOKEN_CONTROL
            elif _BYTE_PIECE.match(piece):
                t[i] = hc.TOKEN_BYTE
        return t

    merges = [m if isinstance(m, str) else " ".join(m) for m in tok["model"]["merges"]]
    # The normaliser prepends "▁" to the text: SentencePiece's dummy prefix.
    prepends = any(nz.get("type") == "Prepend" and nz.get("prepend") == "\u2581"
                   for nz in (tok.get("normalizer") or {}).get("normalizers", []))
    return hc.TokenizerExpectation(
        tokens, None, types, bos=ids[cfg["bos_token"]], eos=ids[cfg["eos_token"]], unk=unk,
        pad=ids[cfg["pad_token"]] if cfg.get("pad_token") else -1,
        add_bos=cfg["add_bos_token"], add_eos=cfg["add_eos_token"], add_space_prefix=prepends,
        merges=merges)


def main():
    args = common.parse_args(__doc__.splitlines()[0])
    shared = common.require_shared(args, TINYSTORIES + "/model.safetensors",
                                   RELEASE + "/config.json", RELEASE_LS + "/config.json")

    def convert(folder, ckpt, *flags):
        out = os.path.join(folder, "out", "model.gguf")
        os.makedirs(os.path.dirname(out))
        r = common.run_cli(args.cli, ["convert", ckpt, "-o", out] + list(flags))
        common.check(r.returncode == 0, "conversion failed\n" + r.describe())
        return gguf_reader.read(out)

    def tinystories(folder, seed):
        del seed
        src = os.path.join(shared, TINYSTORIES)
        g = convert(folder, src)
        weights = hc.read_safetensors(os.path.join(src, "model.safetensors"))
        common.check("model.embed_tokens.weight" not in weights and "lm_head.weight" in weights,
                     "the reference checkpoint is expected to store lm_head.weight only")
        config = hc.load_json(os.path.join(src, "config.json"))

        embd = g.tensor("token_embd.weight")
        head = weights["lm_head.weight"]
        common.check(embd.type_name == "F32" and embd.shape == tuple(head.shape)
                     and np.array_equal(embd.bits(), hc.tensor_bits(head)),
                     "token_embd.weight is not lm_head.weight exactly")
        common.check("output.weight" not in g.tensors, "tied model holds output.weight")
        hc.check_tensors(g, hc.expected_tensors(weights, "source", embedding_sharing=True))
        hc.check_metadata(g, hc.expected_model_metadata(
            config, name="tinystories-656k", layer_sharing=False, embedding_sharing=True,
            weight_type="F32"))
        common.check(g.value("mobilellm.block_count") == 2, "block_count")

        want = hf_tokenizer_expectation(src)
        common.check(len(want.tokens) == 2048 and want.bos == 1 and want.eos == 2
                     and len(want.merges) > 0, "reference tokenizer.json changed?")
        hc.check_tokenizer(g, want)

    def release(config_rel, layer_sharing, weights, embeddings):
        """A folder with the release config (reduced sizes patched in), random weights."""
        def run(folder, seed):
            tok = hc.train_sentencepiece(os.path.join(args.workdir, "tokenizers"))
            tok_want = hc.sentencepiece_expectation(tok)
            config = hc.load_json(os.path.join(shared, config_rel, "config.json"))
            common.check(config["layer_sharing"] is layer_sharing and config["share_embedding"],
                         "%s: unexpected layer_sharing / share_embedding" % config_rel)
            config.update(num_hidden_layers=2, intermediate_size=96,
                          vocab_size=len(tok_want.tokens))
            sd = hc.random_state_dict(config, "F16", embeddings, seed)
            ckpt = os.path.join(folder, os.path.basename(config_rel))
            hc.write_checkpoint(ckpt, config, sd, weights, tok)
            g = convert(folder, ckpt)
            hc.check_metadata(g, hc.expected_model_metadata(
                config, name=os.path.basename(ckpt), layer_sharing=layer_sharing,
                embedding_sharing=True, weight_type="F16"))
            hc.check_tensors(g, hc.expected_tensors(sd, "source", embedding_sharing=True))
            hc.check_tokenizer(g, tok_want)
        return run

    suite = common.Suite(args, "test_convert_real")
    suite.add("tinystories-656k", tinystories)
    # As the 125M release ships it: pytorch_model.bin whose lm_head.weight is embed_tokens.
    suite.add("hf-release-125M-layer-share", release(RELEASE_LS, True, "bin", "both_equal"))
    suite.add("hf-release-125M", release(RELEASE, False, "safetensors", "embed_only"))
    return suite.run()


if __name__ == "__main__":
    sys.exit(main())
