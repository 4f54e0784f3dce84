#!/usr/bin/python3
"""Trains the SentencePiece BPE tokenizer on the training split, with LLaMA's settings.

    tools/train/train_tokenizer.py --data /work/train-run/data [--vocab-size 4096]

Reads DATA/train.txt (one document per line), cuts each document into sentences (after . ! ?
followed by whitespace; a longer run is cut at the last space before 4000 bytes), writes them to
DATA/tokenizer-corpus.txt and runs Debian's `spm_train` (package `sentencepiece`) on them; when
spm_train is not installed, the same trainer through the Python module (python3-sentencepiece)
with the same flags. Writes DATA/tokenizer.model (and tokenizer.vocab).

The settings are LLaMA's (its tokenizer.model's trainer_spec): BPE, byte fallback, dummy prefix,
identity normalization, no whitespace collapsing, digits split, whitespace-only pieces allowed,
character coverage 0.99995, <unk>=0 <s>=1 </s>=2 and no padding piece. Training on all sentences
(no sampling) with one thread is deterministic.
"""

import argparse
import os
import re
import shutil
import subprocess
import sys

SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
MAX_SENTENCE_BYTES = 4000


def sentences(document):
    for s in SENTENCE_END.split(document):
        while len(s.encode("utf-8")) > MAX_SENTENCE_BYTES:
            cut = s.rfind(" ", 0, MAX_SENTENCE_BYTES // 4)  # characters are at most 4 bytes
            cut = cut if cut > 0 else MAX_SENTENCE_BYTES // 4
            yield s[:cut]
            s = s[cut:]
        if s.strip():
            yield s


def trainer_flags(corpus, model_prefix, vocab_size):
    return [
        "--input=" + corpus,
        "--model_prefix=" + model_prefix,
        "--model_type=bpe",
        "--vocab_size=%d" % vocab_size,
        "--byte_fallback=true",
        "--add_dummy_prefix=true",
        "--normalization_rule_name=identity",
        "--remove_extra_whitespaces=false",
        "--split_digits=true",
        "--allow_whitespace_only_pieces=true",
        "--character_coverage=0.99995",
        "--max_sentence_length=%d" % (MAX_SENTENCE_BYTES + 96),
        "--input_sentence_size=0",
        "--unk_id=0", "--bos_id=1", "--eos_id=2", "--pad_id=-1",
        "--num_threads=1",
        "--minloglevel=1",
    ]


def train(text_path, out_folder, vocab_size):
    """Trains on the documents of `text_path`; returns the path of tokenizer.model."""
    corpus = os.path.join(out_folder, "tokenizer-corpus.txt")
    with open(text_path, encoding="utf-8") as src, open(corpus, "w", encoding="utf-8") as dst:
        for line in src:
            for s in sentences(line.rstrip("\n")):
                dst.write(s + "\n")
    # Relative names, run from out_folder: the trainer records them in the model file, which
    # thus does not depend on where the folder is.
    flags = trainer_flags("tokenizer-corpus.txt", "tokenizer", vocab_size)
    spm_train = shutil.which("spm_train")
    if spm_train:
        subprocess.run([spm_train] + flags, check=True, cwd=out_folder)
    else:
        import sentencepiece as spm
        cwd = os.getcwd()
        os.chdir(out_folder)
        try:
            spm.SentencePieceTrainer.train(" ".join(flags))
        finally:
            os.chdir(cwd)
    return os.path.join(out_folder, "tokenizer.model")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", required=True, help="folder holding train.txt; receives tokenizer.model")
    p.add_argument("--vocab-size", type=int, default=4096)
    args = p.parse_args()
    path = train(os.path.join(args.data, "train.txt"), args.data, args.vocab_size)
    print("wrote", path)


if __name__ == "__main__":
    sys.exit(main())
