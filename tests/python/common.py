"""Scaffolding shared by the Python acceptance tests (tests/python/test_*.py).

Each test script is run by ctest as

    /usr/bin/python3 test_X.py --cli PATH/mobilellm --shared PATH/shared --workdir DIR

and exits 0 (all cases passed), 1 (a case failed) or 77 (skipped: a needed Python module or
the shared reference data is missing). Cases run in their own folder under --workdir, which is
removed when the case passes (kept on failure, or always with --keep, for inspection).
"""

import argparse
import importlib
import os
import shutil
import subprocess
import sys
import time
import traceback
import zlib

SKIP_EXIT_CODE = 77


def skip(message):
    print("SKIPPED: " + message)
    sys.stdout.flush()
    sys.exit(SKIP_EXIT_CODE)


def require_modules(*names):
    """Skips the test unless every module in `names` imports (torch, numpy, sentencepiece...)."""
    missing = []
    for name in names:
        try:
            importlib.import_module(name)
        except ImportError:
            missing.append(name)
    if missing:
        skip("Python modules not available to %s: %s (run with Debian's /usr/bin/python3)"
             % (sys.executable, ", ".join(missing)))


def parse_args(description):
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--cli", required=True, help="path of the mobilellm executable")
    p.add_argument("--shared", help="the shared reference data folder (../shared)")
    p.add_argument("--workdir", required=True, help="scratch folder for this test")
    p.add_argument("--seed", type=int, help="base seed of the random weights (printed each run)")
    p.add_argument("-k", dest="only", help="run only the cases whose name contains this")
    p.add_argument("--keep", action="store_true", help="keep every case folder")
    args = p.parse_args()
    args.cli = os.path.abspath(args.cli)
    args.workdir = os.path.abspath(args.workdir)
    if args.shared:
        args.shared = os.path.abspath(args.shared)
    return args


def require_shared(args, *relative_paths):
    """Returns the shared folder, skipping the test when it or any of `relative_paths` is absent."""
    if not args.shared or not os.path.isdir(args.shared):
        skip("the shared reference data folder is not available (--shared %s)" % args.shared)
    for rel in relative_paths:
        if not os.path.exists(os.path.join(args.shared, rel)):
            skip("shared reference file missing: %s" % os.path.join(args.shared, rel))
    return args.shared


def case_seed(base_seed, case_name):
    """A per-case seed that depends only on the base seed and the case name, so that a case
    replays identically when run alone with -k."""
    return (base_seed ^ zlib.crc32(case_name.encode())) & 0x7FFFFFFF


class CliResult:
    def __init__(self, argv, returncode, stdout, stderr):
        self.argv = argv
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr

    def describe(self):
        return "$ %s\nexit code %s\n--- stdout\n%s--- stderr\n%s" % (
            " ".join(self.argv), self.returncode, self.stdout, self.stderr)


def run_cli(cli, arguments, cwd=None, timeout=120):
    """Runs the CLI and returns a CliResult. A hang (timeout) or a death by signal is a test
    failure in itself: the CLI must always end with an exit code."""
    argv = [cli] + [str(a) for a in arguments]
    try:
        p = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, errors="replace",
                           timeout=timeout)
    except subprocess.TimeoutExpired:
        raise AssertionError("CLI did not finish within %d s: %s" % (timeout, " ".join(argv)))
    result = CliResult(argv, p.returncode, p.stdout, p.stderr)
    if p.returncode < 0:
        raise AssertionError("CLI killed by signal %d\n%s" % (-p.returncode, result.describe()))
    return result


def check(condition, message):
    if not condition:
        raise AssertionError(message)


class Suite:
    """Runs named cases in order, each in a fresh folder; prints one line per case and the
    closing line 'N passed, N failed'."""

    def __init__(self, args, title):
        self.args = args
        self.title = title
        self.cases = []
        if args.seed is None:
            args.seed = int.from_bytes(os.urandom(4), "little") & 0x7FFFFFFF
        self.seed = args.seed

    def add(self, name, fn):
        if any(name == n for n, _ in self.cases):
            raise ValueError("duplicate case name " + name)
        self.cases.append((name, fn))

    def run(self):
        selected = [(n, f) for n, f in self.cases if not self.args.only or self.args.only in n]
        if not selected:
            print("no case matches -k %r" % self.args.only)
            return 2
        print("%s: %d cases, seed %d (replay with --seed %d)"
              % (self.title, len(selected), self.seed, self.seed))
        os.makedirs(self.args.workdir, exist_ok=True)
        passed = failed = 0
        start_all = time.monotonic()
        for name, fn in selected:
            folder = os.path.join(self.args.workdir, name)
            shutil.rmtree(folder, ignore_errors=True)
            os.makedirs(folder)
            start = time.monotonic()
            try:
                fn(folder, case_seed(self.seed, name))
            except Exception:  # a case failing in any way is reported, and the others still run
                failed += 1
                print("FAIL %s (%.1f s), files kept in %s"
                      % (name, time.monotonic() - start, folder))
                print("    " + traceback.format_exc().rstrip().replace("\n", "\n    "))
            else:
                passed += 1
                print("ok   %s (%.1f s)" % (name, time.monotonic() - start))
                if not self.args.keep:
                    shutil.rmtree(folder, ignore_errors=True)
            sys.stdout.flush()
        print("total %.1f s" % (time.monotonic() - start_all))
        print("%d passed, %d failed" % (passed, failed))
        return 0 if failed == 0 else 1
