"""Tokenizer parity: `mobilellm tokenize` against reference tokenizers on a ~15,000-line corpus.

The corpus (tokenizer_corpus.py) is assembled deterministically at test time. Each case converts
a checkpoint to get a model file holding the tokenizer, runs `mobilellm tokenize -f` over the
corpus once, and compares every line:

  llama2-sp        MobileLLM's tokenizer.model (shared/mobilellm/tokenizer/llama2-sp.model) in a
                   tiny random checkpoint: ids equal the sentencepiece library's, with and without
                   BOS; decoding our ids gives the line back (and sentencepiece's decode of them);
                   decoding random id sequences (heavy in byte pieces, control and unknown
                   pieces) equals sentencepiece's decode.
  synthetic-sp     a SentencePiece model trained here with user-defined pieces, then rewritten
                   with tied scores and unused pieces (SentencePiece's resegmentation), in
                   protobuf written by this file: the same checks against sentencepiece.
  tinystories-json shared/models/tinystories-656k (Hugging Face tokenizer.json, merge ranks, no
                   byte pieces so unknown characters fuse into <unk>): ids equal a plain
                   quadratic Python implementation of Hugging Face's BPE, written from the
                   tokenizer.json directly; ids of a few texts equal those that
                   @huggingface/tokenizers 0.2.0 (an independent JavaScript implementation) gives;
                   decode(encode(x)) == x for lines made of characters in the vocabulary.

Text containing U+2581 '▁' is compared for ids but left out of round trips: '▁' is the space
symbol, so it decodes to ' ' (in sentencepiece too).
"""

import io
import json
import os
import random
import struct
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

common.require_modules("numpy", "torch", "sentencepiece")

import sentencepiece as spm  # noqa: E402

import hf_checkpoint as hc  # noqa: E402
import tokenizer_corpus  # noqa: E402

SPACE = "\u2581"
LLAMA2 = "mobilellm/tokenizer/llama2-sp.model"
TINYSTORIES = "models/tinystories-656k"
OFFICIAL_CONFIG = "mobilellm/configs/125M/config.json"

# ---------------------------------------------------------------------------------------------
# Running the CLI on many lines


def run_tokenize(cli, model, folder, name, lines, *flags):
    """Writes `lines` (str) to a file, runs `mobilellm tokenize -m model -f file flags`, and
    returns the output lines as bytes (one per input line)."""
    path = os.path.join(folder, name + ".txt")
    with open(path, "wb") as f:
        f.write("".join(line + "\n" for line in lines).encode("utf-8"))
    argv = [cli, "tokenize", "-m", model, "-f", path] + list(flags)
    p = subprocess.run(argv, capture_output=True, timeout=300)
    common.check(p.returncode == 0, "%s failed with exit code %d:\n%s"
                 % (" ".join(argv), p.returncode, p.stderr.decode("utf-8", "replace")))
    out = p.stdout.split(b"\n")
    common.check(out[-1] == b"", "output does not end with a newline")
    out.pop()
    common.check(len(out) == len(lines), "%d input lines gave %d output lines"
                 % (len(lines), len(out)))
    return out


def encode_all(cli, model, folder, lines, *flags):
    return [[int(t) for t in line.split()]
            for line in run_tokenize(cli, model, folder, "text", lines, *flags)]


def decode_all(cli, model, folder, id_lists):
    """Decodes each id list; returns the texts (str). The lists must not decode to text
    containing '\\n', which would be ambiguous in the line-per-input output."""
    lines = [" ".join(map(str, ids)) for ids in id_lists]
    out = run_tokenize(cli, model, folder, "ids", lines, "--decode")
    return [line.decode("utf-8") for line in out]  # strict: decoded text is valid UTF-8


def compare(what, corpus, got, want, limit=5):
    """Fails listing the first mismatching lines."""
    bad = [i for i in range(len(corpus)) if got[i] != want[i]]
    if bad:
        report = ["%s: %d of %d lines differ; first ones:" % (what, len(bad), len(corpus))]
        for i in bad[:limit]:
            report.append("  line %d %r\n    got  %r\n    want %r"
                          % (i, corpus[i][:200], got[i][:60], want[i][:60]))
        raise AssertionError("\n".join(report))


def random_id_lists(rng, sp, count):
    """Id sequences that stress decoding: runs of byte pieces (valid and invalid UTF-8),
    control and unknown pieces between them, ordinary pieces with and without '▁'."""
    n = sp.get_piece_size()
    byte_ids = [i for i in range(n) if sp.is_byte(i)]
    special_ids = [i for i in range(n) if sp.is_control(i) or sp.is_unknown(i)]
    other_ids = [i for i in range(n) if i not in set(byte_ids) | set(special_ids)]
    utf8_runs = ["é", "日本", "😀", "𝔘", "\x00", "a"]
    lists = []
    while len(lists) < count:
        ids = []
        for _ in range(rng.randint(1, 12)):
            r = rng.random()
            if r < 0.3:
                ids.append(rng.choice(byte_ids))
            elif r < 0.45:  # a whole character as bytes, sometimes cut short
                raw = rng.choice(utf8_runs).encode("utf-8")
                raw = raw[:rng.randint(1, len(raw))]
                ids.extend(sp.piece_to_id("<0x%02X>" % b) for b in raw)
            elif r < 0.55:
                ids.append(rng.choice(special_ids))
            else:
                ids.append(rng.choice(other_ids))
        if "\n" not in sp.decode(ids):
            lists.append(ids)
    return lists


# ---------------------------------------------------------------------------------------------
# Checkpoints


def convert(cli, folder, ckpt):
    out = os.path.join(folder, "model.gguf")
    r = common.run_cli(cli, ["convert", ckpt, "-o", out, "-q"])
    common.check(r.returncode == 0, "conversion failed\n" + r.describe())
    return out


def tiny_checkpoint(shared, folder, tokenizer_model, vocab_size, seed):
    """A 1-layer random checkpoint (hidden 8, 2 heads, FFN 16) carrying `tokenizer_model`."""
    official = hc.load_json(os.path.join(shared, OFFICIAL_CONFIG))
    config = hc.training_config(official, layers=1, vocab_size=vocab_size, intermediate_size=16,
                                tie_word_embeddings=True, dtype="F32", hidden_size=8, heads=2,
                                kv_heads=2)
    sd = hc.random_state_dict(config, "F32", "embed_only", seed)
    ckpt = os.path.join(folder, "checkpoint")
    hc.write_checkpoint(ckpt, config, sd, "safetensors", tokenizer_model)
    return ckpt


# ---------------------------------------------------------------------------------------------
# SentencePiece model protobuf (the fields read_sentencepiece_model and sentencepiece use)

NORMAL, UNKNOWN, CONTROL, USER_DEFINED, UNUSED, BYTE = range(1, 7)


def _varint(n):
    n &= (1 << 64) - 1  # negative int32 values are sign-extended, as protobuf does
    out = bytearray()
    while True:
        out.append((n & 0x7F) | (0x80 if n > 0x7F else 0))
        n >>= 7
        if not n:
            return bytes(out)


def _field(number, wire, payload):
    if wire == 2:
        payload = _varint(len(payload)) + payload
    return _varint(number << 3 | wire) + payload


def sentencepiece_model_bytes(pieces, unk, bos, eos, add_dummy_prefix=True):
    """pieces: (text, score, type) triples. A BPE model with byte fallback and identity
    normalisation, as LLaMA's."""
    out = b"".join(_field(1, 2, _field(1, 2, text.encode("utf-8"))
                          + _field(2, 5, struct.pack("<f", score)) + _field(3, 0, _varint(kind)))
                   for text, score, kind in pieces)
    trainer = (_field(3, 0, _varint(2)) + _field(4, 0, _varint(len(pieces)))
               + _field(35, 0, _varint(1)) + _field(40, 0, _varint(unk))
               + _field(41, 0, _varint(bos)) + _field(42, 0, _varint(eos))
               + _field(43, 0, _varint(-1)))
    normalizer = (_field(1, 2, b"identity") + _field(3, 0, _varint(int(add_dummy_prefix)))
                  + _field(4, 0, _varint(0)) + _field(5, 0, _varint(1)))
    return out + _field(2, 2, trainer) + _field(3, 2, normalizer)


def synthetic_sentencepiece_model(folder, training_lines, rng):
    """Trains a BPE model with user-defined pieces on `training_lines`, then rewrites it: scores
    rounded so that many tie, and about one multi-character piece in ten made UNUSED (still a
    merge step, split back when it is left over). Returns the .model path."""
    trained = io.BytesIO()
    user_defined = ["<tag>", "<ta", SPACE + "foo", "ab", "日本"]
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(training_lines), model_writer=trained, model_type="bpe",
        vocab_size=4000, hard_vocab_limit=False, byte_fallback=True, normalization_rule_name="identity",
        remove_extra_whitespaces=False, add_dummy_prefix=True, split_digits=False,
        allow_whitespace_only_pieces=True, character_coverage=0.98, unk_id=0, bos_id=1,
        eos_id=2, pad_id=-1, user_defined_symbols=user_defined,
        num_threads=1, minloglevel=2)
    sp = spm.SentencePieceProcessor(model_proto=trained.getvalue())
    pieces = []
    for i in range(sp.get_piece_size()):
        text, score = sp.id_to_piece(i), sp.get_score(i)
        if sp.is_unknown(i):
            kind = UNKNOWN
        elif sp.is_control(i):
            kind = CONTROL
        elif sp.is_byte(i):
            kind = BYTE
        elif text in user_defined:
            kind = USER_DEFINED
        else:
            kind = NORMAL
            score = float(round(score / 8))
            if len(text) > 1 and rng.random() < 0.1:
                kind = UNUSED
        pieces.append((text, score, kind))
    path = os.path.join(folder, "synthetic.model")
    with open(path, "wb") as f:
        f.write(sentencepiece_model_bytes(pieces, unk=0, bos=1, eos=2))
    return path


# ---------------------------------------------------------------------------------------------
# Hugging Face BPE, written plainly from tokenizer.json (the oracle for the tinystories case)


class PlainHfBpe:
    """Hugging Face's BPE with byte_fallback and fuse_unk, for a tokenizer.json whose normaliser
    prepends '▁' and replaces ' ' with '▁' and which has no pre-tokenizer. Each step merges the
    adjacent pair of lowest merge rank, leftmost first: quadratic, and obviously so."""

    def __init__(self, tokenizer_json):
        model = tokenizer_json["model"]
        self.vocab = model["vocab"]
        self.unk = self.vocab[model["unk_token"]]
        self.ranks = {}
        for rank, merge in enumerate(model["merges"]):
            left, right = merge.split(" ") if isinstance(merge, str) else merge
            self.ranks.setdefault((left, right), rank)

    def encode(self, text):
        if not text:
            return []
        symbols = []  # piece strings; None stands for a run of unknown characters
        for ch in SPACE + text.replace(" ", SPACE):
            byte_pieces = ["<0x%02X>" % b for b in ch.encode("utf-8")]
            if ch in self.vocab:
                symbols.append(ch)
            elif all(p in self.vocab for p in byte_pieces):
                symbols.extend(byte_pieces)
            elif not symbols or symbols[-1] is not None:
                symbols.append(None)
        while True:
            best = min(((self.ranks.get((a, b), len(self.ranks)), i)
                        for i, (a, b) in enumerate(zip(symbols, symbols[1:]))
                        if a is not None and b is not None), default=None)
            if best is None or best[0] == len(self.ranks):
                break
            i = best[1]
            symbols[i:i + 2] = [symbols[i] + symbols[i + 1]]
        return [self.unk if s is None else self.vocab[s] for s in symbols]


# ids of texts as @huggingface/tokenizers 0.2.0 encodes them with tinystories-656k's
# tokenizer.json and tokenizer_config.json (`tokenizer.encode(text, {add_special_tokens: false})`),
# an independent implementation of Hugging Face's tokenizers in JavaScript.
TINYSTORIES_FACTS = [
    ("Once upon a time, there was a little girl named Lily. She had a toy car that she loved very "
     "much.", [80, 147, 201, 282, 215, 286, 598, 1662, 356, 499, 826, 1363, 1145, 1652, 10]),
    ("日本 😀 x", [80, 0, 80, 0, 80, 76]),
    ("  two  spaces  ", [80, 80, 80, 1209, 80, 415, 53, 55, 368, 80]),
    ("Tom and Sue went to the park.\tThey played with a red ball!",
     [80, 875, 566, 1844, 10, 0, 473, 351, 758, 1714, 4]),
    ('"I want to help," said Ben. "Can I?"',
     [80, 5, 1861, 274, 1472, 667, 462, 721, 34, 1885]),
    ("The dog's name was Max; he was 3 years old.",
     [80, 247, 604, 228, 236, 1390, 349, 22, 80, 1043, 14, 80, 77, 809, 89, 67, 555, 10]),
    ("café naïve Ångström", [80, 295, 58, 0, 80, 557, 0, 218, 0, 66, 59, 726, 0, 65]),
]

# ---------------------------------------------------------------------------------------------


def main():
    args = common.parse_args(__doc__.splitlines()[0])
    shared = common.require_shared(args, LLAMA2, TINYSTORIES, OFFICIAL_CONFIG)
    corpus = tokenizer_corpus.corpus()
    round_trippable = [i for i, line in enumerate(corpus) if SPACE not in line]

    def sentencepiece_case(folder, seed, model_path):
        sp = spm.SentencePieceProcessor(model_file=model_path)
        model = convert(args.cli, folder,
                        tiny_checkpoint(shared, folder, model_path, sp.get_piece_size(), seed))
        want = sp.encode(corpus)
        got = encode_all(args.cli, model, folder, corpus, "--no-bos")
        compare("ids", corpus, got, want)

        # BOS comes first by default (LLaMA's convention), and --no-bos leaves it out.
        sample = corpus[:200]
        with_bos = encode_all(args.cli, model, folder, sample)
        compare("ids with BOS", sample, with_bos, [[sp.bos_id()] + ids for ids in want[:200]])

        # Round trip, and sentencepiece's decode of the same ids.
        decoded = decode_all(args.cli, model, folder, [got[i] for i in round_trippable])
        compare("decode(encode(line))", [corpus[i] for i in round_trippable], decoded,
                [corpus[i] for i in round_trippable])
        lists = random_id_lists(random.Random(seed), sp, 3000)
        compare("decode(random ids)", [repr(ids) for ids in lists],
                decode_all(args.cli, model, folder, lists), [sp.decode(ids) for ids in lists])

    def llama2(folder, seed):
        sentencepiece_case(folder, seed, os.path.join(shared, LLAMA2))

    def synthetic(folder, seed):
        rng = random.Random(seed)
        training = rng.sample(corpus, 4000)
        sentencepiece_case(folder, seed, synthetic_sentencepiece_model(folder, training, rng))

    def tinystories(folder, seed):
        source = os.path.join(shared, TINYSTORIES)
        with open(os.path.join(source, "tokenizer.json"), encoding="utf-8") as f:
            tokenizer_json = json.load(f)
        model = convert(args.cli, folder, source)
        oracle = PlainHfBpe(tokenizer_json)

        facts = [text for text, _ in TINYSTORIES_FACTS]
        compare("ids (@huggingface/tokenizers)", facts,
                encode_all(args.cli, model, folder, facts, "--no-bos"),
                [ids for _, ids in TINYSTORIES_FACTS])

        # The oracle is quadratic: lines up to 400 characters (all but the few long ones).
        short = [line for line in corpus if len(line) <= 400]
        got = encode_all(args.cli, model, folder, short, "--no-bos")
        compare("ids (plain Python BPE)", short, got, [oracle.encode(line) for line in short])

        # Round trip wherever every character has a piece (elsewhere <unk> stands in).
        vocab = tokenizer_json["model"]["vocab"]
        covered = [i for i, line in enumerate(short)
                   if SPACE not in line and all(ch in vocab for ch in line.replace(" ", SPACE))]
        common.check(len(covered) > 5000, "only %d lines are covered by the vocabulary"
                     % len(covered))
        decoded = decode_all(args.cli, model, folder, [got[i] for i in covered])
        compare("decode(encode(line))", [short[i] for i in covered], decoded,
                [short[i] for i in covered])

    def cli(folder, seed):
        """The command line itself: TEXT, --, BOS by default, errors and their exit codes."""
        source = os.path.join(shared, TINYSTORIES)
        with open(os.path.join(source, "tokenizer.json"), encoding="utf-8") as f:
            oracle = PlainHfBpe(json.load(f))
        model = convert(args.cli, folder, source)
        story_ids = TINYSTORIES_FACTS[0][1]
        r = common.run_cli(args.cli, ["tokenize", "-m", model, TINYSTORIES_FACTS[0][0]])
        common.check(r.returncode == 0 and r.stdout == " ".join(map(str, [1] + story_ids)) + "\n",
                     "TEXT with BOS\n" + r.describe())
        r = common.run_cli(args.cli, ["tokenize", "-m", model, "--no-bos", "--", "-x"])
        want = " ".join(map(str, oracle.encode("-x"))) + "\n"
        common.check(r.returncode == 0 and r.stdout == want, "-- TEXT\n" + r.describe())
        r = common.run_cli(args.cli, ["tokenize", "-m", model, "--decode",
                                      ",".join(map(str, story_ids))])
        common.check(r.returncode == 0 and r.stdout == TINYSTORIES_FACTS[0][0] + "\n",
                     "--decode IDS\n" + r.describe())
        r = common.run_cli(args.cli, ["tokenize", "-m", model, "--decode", "1 2048"])
        common.check(r.returncode == 1 and "2048" in r.stderr, "id out of range\n" + r.describe())
        for bad in (["tokenize", "hello"], ["tokenize", "-m", model],
                    ["tokenize", "-m", model, "a", "b"],
                    ["tokenize", "-m", model, "--decode", "1 x"]):
            r = common.run_cli(args.cli, bad)
            common.check(r.returncode == 2, "usage error expected\n" + r.describe())

    suite = common.Suite(args, "test_tokenizer_parity")
    suite.add("llama2-sp", llama2)
    suite.add("synthetic-sp", synthetic)
    suite.add("tinystories-json", tinystories)
    suite.add("cli", cli)
    return suite.run()


if __name__ == "__main__":
    sys.exit(main())
