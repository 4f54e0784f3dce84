"""`mobilellm generate` and `perplexity` without -m use the bundled model.

The bundled model's file name is MOBILELLM_DEFAULT_MODEL_NAME in the top CMakeLists.txt. Cases:
  - source_tree: from the build tree, `generate` without -m gives exactly what it gives with
    `-m models/NAME` (greedy), and `perplexity` without -m the same number as with it;
  - installed_layout: a copy of the executable in PREFIX/bin, with a different model (a random
    tiny one from `mobilellm bench --shape tiny --save`) as PREFIX/share/mobilellm/models/NAME,
    uses that model: its output is the tiny model's, not the source tree's bundled one;
  - explicit_model_wins: `generate -m MISSING` fails naming MISSING (the default lookup never
    replaces an explicit -m).
"""

import os
import re
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
PROMPT = "The state of the Union"


def default_model_name():
    with open(os.path.join(ROOT, "CMakeLists.txt")) as f:
        m = re.search(r'set\(MOBILELLM_DEFAULT_MODEL_NAME "([^"]+)"\)', f.read())
    if not m:
        raise AssertionError("CMakeLists.txt does not set MOBILELLM_DEFAULT_MODEL_NAME")
    return m.group(1)


def generate(cli, extra):
    r = common.run_cli(cli, ["generate", "-p", PROMPT, "-n", "12", "--temp", "0", "-t", "1"] + extra)
    common.check(r.returncode == 0, r.describe())
    return r.stdout


def case_source_tree(args, folder, seed):
    bundled = os.path.join(ROOT, "models", default_model_name())
    common.check(os.path.isfile(bundled), "the bundled model %s is missing" % bundled)
    implicit, explicit = generate(args.cli, []), generate(args.cli, ["-m", bundled])
    common.check(implicit == explicit and implicit.strip(),
                 "without -m: %r; with -m %s: %r" % (implicit, bundled, explicit))
    text = os.path.join(folder, "text.txt")
    with open(text, "w") as f:
        f.write("We hold these truths to be self-evident, that all men are created equal.\n")
    results = []
    for extra in ([], ["-m", bundled]):
        r = common.run_cli(args.cli, ["perplexity", "-f", text, "-t", "1"] + extra)
        common.check(r.returncode == 0, r.describe())
        results.append(r.stdout.strip().splitlines()[-1])
    common.check(results[0] == results[1] and results[0].startswith("perplexity: "),
                 "perplexity without -m %r, with -m %r" % tuple(results))


def case_installed_layout(args, folder, seed):
    name = default_model_name()
    models = os.path.join(folder, "share", "mobilellm", "models")
    os.makedirs(models)
    os.makedirs(os.path.join(folder, "bin"))
    tiny = os.path.join(models, name)
    r = common.run_cli(args.cli, ["bench", "--shape", "tiny", "--seed", str(seed % 1000),
                                  "--cache-dir", os.path.join(folder, "cache"), "--save", tiny])
    common.check(r.returncode == 0 and os.path.isfile(tiny), r.describe())
    cli = os.path.join(folder, "bin", "mobilellm")
    shutil.copy2(args.cli, cli)
    installed, tiny_out = generate(cli, []), generate(cli, ["-m", tiny])
    common.check(installed == tiny_out,
                 "the installed layout did not use PREFIX/share/mobilellm/models/%s: %r vs %r"
                 % (name, installed, tiny_out))
    bundled = generate(args.cli, [])
    common.check(installed != bundled, "the tiny model and the bundled one generate the same text")


def case_explicit_model_wins(args, folder, seed):
    missing = os.path.join(folder, "missing.gguf")
    r = common.run_cli(args.cli, ["generate", "-m", missing, "-p", PROMPT, "-n", "1"])
    common.check(r.returncode != 0 and missing in r.stderr, r.describe())


def main():
    args = common.parse_args(__doc__.split("\n\n")[0])
    suite = common.Suite(args, "default model")
    suite.add("source_tree", lambda folder, seed: case_source_tree(args, folder, seed))
    suite.add("installed_layout", lambda folder, seed: case_installed_layout(args, folder, seed))
    suite.add("explicit_model_wins", lambda folder, seed: case_explicit_model_wins(args, folder, seed))
    return suite.run()


if __name__ == "__main__":
    sys.exit(main())
