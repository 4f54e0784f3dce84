"""`mobilellm bench` end to end on the synthetic `tiny` shape: every output format parses and
carries the fields (llama-bench's names, the run's identity, our extras), the rows come in the
documented order and number, the statistics are what they claim (sample standard deviation of
the printed samples, rates from the printed times), energy is reported honestly (unavailable
with reasons, measured from a fake powercap tree, an estimate only when asked and labelled),
synthetic models are cached and reproducible, and bad arguments fail cleanly. No timing
assertions: only relations that hold on any machine.
"""

import csv
import io
import json
import math
import os
import re
import statistics
import subprocess
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

# The `tiny` shape, as documented in include/mobilellm/synthetic.hpp (written out here, not read
# from the program, so that the checks below are independent of it).
VOCAB, HIDDEN, FFN, BLOCKS, HEADS, KV_HEADS, HEAD_DIM, CONTEXT = 512, 64, 160, 2, 4, 2, 16, 512
TINY_PARAMS = (VOCAB * HIDDEN
               + BLOCKS * (2 * HIDDEN * HEADS * HEAD_DIM + 2 * HIDDEN * KV_HEADS * HEAD_DIM
                           + 3 * HIDDEN * FFN)
               + (2 * BLOCKS + 1) * HIDDEN)


def kv_bytes(n_ctx, layer_sharing):
    applied = BLOCKS * (2 if layer_sharing else 1)
    return 2 * applied * n_ctx * KV_HEADS * HEAD_DIM * 4  # keys and values, float32


# The fields the comparison script (and any llama-bench user) relies on, and our extras.
CONTRACT_FIELDS = ["n_prompt", "n_gen", "n_depth", "n_threads", "avg_ts", "stddev_ts",
                   "samples_ts", "avg_ns", "model_filename", "model_type", "model_n_params",
                   "kernels"]
LLAMA_BENCH_FIELDS = ["build_commit", "build_number", "cpu_info", "model_filename", "model_type",
                      "model_size", "model_n_params", "n_batch", "n_threads", "type_k", "type_v",
                      "n_prompt", "n_gen", "n_depth", "test_time", "avg_ns", "stddev_ns",
                      "avg_ts", "stddev_ts", "samples_ns", "samples_ts"]
IDENTITY_FIELDS = ["build_commit", "build_number", "build_type", "build_compiler", "build_flags",
                   "cpu_info", "cpu_features", "model_filename", "model_name", "model_type",
                   "model_size", "model_n_params", "weight_type", "layer_sharing", "kernels",
                   "kernels_isa", "test_time"]
EXTRA_FIELDS = ["load_ms", "ttft_ms", "tg_latency_ms_p50", "tg_latency_ms_p90",
                "tg_latency_ms_p99", "peak_rss_bytes", "peak_rss_scope", "kv_cache_bytes",
                "energy", "n_ctx", "test", "repetitions", "warmup", "cpu_time_ms",
                "cpu_utilization"]

ISO_8601 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


class Bench:
    """Runs the CLI with a shared synthetic-model cache and energy meters pointed at empty
    folders (so that energy is deterministically unavailable unless a case says otherwise)."""

    def __init__(self, args):
        self.cli = args.cli
        self.cache = os.path.join(args.workdir, "cache")
        self.empty = os.path.join(args.workdir, "empty")
        os.makedirs(self.empty, exist_ok=True)

    def no_meters(self):
        return ["--energy-root-powercap", self.empty, "--energy-root-power-supply", self.empty,
                "--energy-no-perf-event", "--energy-no-powermetrics"]

    def run(self, arguments, meters=None, expect_ok=True):
        argv = ["bench", "--cache-dir", self.cache] + list(arguments)
        argv += self.no_meters() if meters is None else meters
        r = common.run_cli(self.cli, argv, timeout=300)
        if expect_ok:
            common.check(r.returncode == 0, "bench failed\n" + r.describe())
        return r

    def json_rows(self, arguments, meters=None):
        r = self.run(list(arguments) + ["-o", "json"], meters)
        try:
            rows = json.loads(r.stdout)  # the whole of stdout is one JSON array
        except ValueError as e:
            raise AssertionError("stdout is not one JSON document: %s\n%s" % (e, r.describe()))
        common.check(isinstance(rows, list), "stdout is not a JSON array")
        return rows


def close(a, b, rel=1e-9, abs_=0.0):
    return math.isclose(a, b, rel_tol=rel, abs_tol=abs_)


def check_row_statistics(row, repetitions):
    """The statistics a row claims, recomputed from its own samples."""
    ns, ts = row["samples_ns"], row["samples_ts"]
    test = row["test"]
    common.check(len(ns) == repetitions and len(ts) == repetitions,
                 "%s: %d/%d samples, expected %d" % (test, len(ns), len(ts), repetitions))
    tokens = row["n_prompt"] + row["n_gen"]
    for n, t in zip(ns, ts):
        common.check(isinstance(n, int) and n > 0,
                     "%s: sample %r ns is not a positive integer" % (test, n))
        common.check(close(t, 1e9 * tokens / n),
                     "%s: samples_ts %r != 1e9 x %d / %d" % (test, t, tokens, n))
    common.check(abs(row["avg_ns"] - statistics.mean(ns)) <= 0.5 + 1e-6,
                 "%s: avg_ns %r is not the mean of %r" % (test, row["avg_ns"], ns))
    common.check(close(row["avg_ts"], statistics.mean(ts)),
                 "%s: avg_ts %r is not the mean of samples_ts" % (test, row["avg_ts"]))
    if repetitions >= 2:
        # The SAMPLE standard deviation (n - 1), not the population's.
        common.check(close(row["stddev_ts"], statistics.stdev(ts), rel=1e-9, abs_=1e-12),
                     "%s: stddev_ts %r != sample stdev %r of %r"
                     % (test, row["stddev_ts"], statistics.stdev(ts), ts))
        common.check(abs(row["stddev_ns"] - statistics.stdev(ns)) <= 0.5 + 1e-6,
                     "%s: stddev_ns %r != sample stdev %r"
                     % (test, row["stddev_ns"], statistics.stdev(ns)))
    else:
        common.check(row["stddev_ts"] is None and row["stddev_ns"] is None,
                     "%s: a standard deviation of one sample must be null" % test)


def check_row(row, test, threads, repetitions, layer_sharing=False):
    """Every field of one row: presence, identity, and the relations between them."""
    for f in LLAMA_BENCH_FIELDS + IDENTITY_FIELDS + EXTRA_FIELDS + CONTRACT_FIELDS:
        common.check(f in row, "row %s lacks %s: %s" % (row.get("test"), f, sorted(row)))
    n_prompt, n_gen, n_depth = test
    common.check((row["n_prompt"], row["n_gen"], row["n_depth"]) == test,
                 "row %s is not the expected test %r" % (row["test"], test))
    name = ("pp%d" % n_prompt if n_gen == 0 else "tg%d" % n_gen if n_prompt == 0
            else "pp%d+tg%d" % (n_prompt, n_gen)) + (" @ d%d" % n_depth if n_depth else "")
    common.check(row["test"] == name, "test name %r, expected %r" % (row["test"], name))
    common.check(row["n_threads"] == threads,
                 "%s: n_threads %r, expected %d" % (name, row["n_threads"], threads))
    common.check(row["n_ctx"] == n_prompt + n_gen + n_depth, "%s: n_ctx %r" % (name, row["n_ctx"]))
    common.check(row["repetitions"] == repetitions,
                 "%s: repetitions %r" % (name, row["repetitions"]))
    check_row_statistics(row, repetitions)

    # Identity of the run and of the model.
    for f in ["build_commit", "build_type", "build_compiler", "cpu_info", "cpu_features",
              "kernels", "kernels_isa", "model_name", "model_type", "model_filename"]:
        common.check(isinstance(row[f], str) and row[f], "%s is empty: %r" % (f, row[f]))
    common.check(isinstance(row["build_flags"], str), "build_flags is not a string")
    common.check(isinstance(row["build_number"], int), "build_number is not an integer")
    common.check(ISO_8601.match(row["test_time"]),
                 "test_time %r is not ISO 8601" % row["test_time"])
    common.check(row["model_n_params"] == TINY_PARAMS,
                 "model_n_params %r, the tiny shape has %d" % (row["model_n_params"], TINY_PARAMS))
    common.check(row["model_size"] == os.path.getsize(row["model_filename"]),
                 "model_size %r is not the file's size" % row["model_size"])
    common.check(row["layer_sharing"] is layer_sharing, "layer_sharing %r" % row["layer_sharing"])
    common.check(row["type_k"] == "f32" and row["type_v"] == "f32", "KV cache types")

    # Our extras.
    common.check(row["load_ms"] > 0, "load_ms %r" % row["load_ms"])
    common.check(row["kv_cache_bytes"] == kv_bytes(row["n_ctx"], layer_sharing),
                 "%s: kv_cache_bytes %r, expected %d" % (name, row["kv_cache_bytes"],
                                                         kv_bytes(row["n_ctx"], layer_sharing)))
    common.check(row["peak_rss_bytes"] > row["kv_cache_bytes"],
                 "peak_rss_bytes %r" % row["peak_rss_bytes"])
    common.check(row["peak_rss_scope"] == "test" or row["peak_rss_scope"].startswith("process ("),
                 "peak_rss_scope %r" % row["peak_rss_scope"])
    common.check(row["cpu_time_ms"] >= 0 and row["cpu_utilization"] >= 0,
                 "cpu %r %r" % (row["cpu_time_ms"], row["cpu_utilization"]))
    lat = [row["tg_latency_ms_p50"], row["tg_latency_ms_p90"], row["tg_latency_ms_p99"]]
    if n_gen == 0:
        common.check(lat == [None, None, None],
                     "%s: decode latencies without decoding: %r" % (name, lat))
    else:
        common.check(all(isinstance(x, (int, float)) and x > 0 for x in lat),
                     "%s: latencies %r" % (name, lat))
        common.check(lat[0] <= lat[1] <= lat[2], "%s: p50 <= p90 <= p99 fails: %r" % (name, lat))
        common.check(lat[2] * 1e6 <= max(row["samples_ns"]),
                     "%s: a decode step (p99 %r ms) longer than a repetition" % (name, lat[2]))
    if n_prompt > 0 and n_gen == 0:  # the time to first token is the prompt's prefill
        common.check(close(row["ttft_ms"], statistics.mean(row["samples_ns"]) / 1e6, rel=1e-6),
                     "%s: ttft_ms %r is not the mean prefill time" % (name, row["ttft_ms"]))
    else:
        common.check(0 < row["ttft_ms"] * 1e6 <= max(row["samples_ns"]),
                     "%s: ttft_ms %r not within a repetition" % (name, row["ttft_ms"]))


def expected_tests(prompts, gens, pgs, depths):
    """llama-bench's order: per depth, the pp tests, the tg tests, then the pg tests."""
    tests = []
    for d in depths:
        tests += [(p, 0, d) for p in prompts if p > 0]
        tests += [(0, n, d) for n in gens if n > 0]
        tests += [(p, n, d) for p, n in pgs]
    return tests


LISTS = ["-p", "8,16", "-n", "4", "-pg", "8,4", "-d", "0,8", "-t", "1,2", "-r", "2"]
LIST_TESTS = expected_tests([8, 16], [4], [(8, 4)], [0, 8])


def case_json(bench, folder, seed):
    del folder
    rows = bench.json_rows(["--shape", "tiny", "--seed", str(seed)] + LISTS)
    common.check(len(rows) == 2 * len(LIST_TESTS),
                 "%d rows, expected %d" % (len(rows), 2 * len(LIST_TESTS)))
    for i, row in enumerate(rows):
        threads = 1 if i < len(LIST_TESTS) else 2
        check_row(row, LIST_TESTS[i % len(LIST_TESTS)], threads, 2)
        common.check(row["energy"]["status"] == "unavailable", "energy %r" % row["energy"])
        common.check("energy_estimate" not in row, "an estimate appeared without --energy-estimate")
    common.check(rows[0]["synthetic"]["seed"] == seed, "synthetic seed %r" % rows[0]["synthetic"])


def case_jsonl(bench, folder, seed):
    del folder, seed
    r = bench.run(["--shape", "tiny"] + LISTS + ["-o", "jsonl"])
    lines = r.stdout.splitlines()
    common.check(len(lines) == 2 * len(LIST_TESTS),
                 "%d lines, expected %d" % (len(lines), 2 * len(LIST_TESTS)))
    for i, line in enumerate(lines):
        threads = 1 if i < len(LIST_TESTS) else 2
        check_row(json.loads(line), LIST_TESTS[i % len(LIST_TESTS)], threads, 2)


def case_csv(bench, folder, seed):
    del folder, seed
    r = bench.run(["--shape", "tiny"] + LISTS + ["-o", "csv"])
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    common.check(len(rows) == 2 * len(LIST_TESTS),
                 "%d rows, expected %d" % (len(rows), 2 * len(LIST_TESTS)))
    for i, row in enumerate(rows):
        for f in LLAMA_BENCH_FIELDS + ["kernels", "peak_rss_bytes", "kv_cache_bytes", "ttft_ms",
                                       "tg_latency_ms_p50", "energy_status", "pp_j_per_token_net"]:
            common.check(f in row, "CSV lacks column %s" % f)
        p, n, d = LIST_TESTS[i % len(LIST_TESTS)]
        common.check((int(row["n_prompt"]), int(row["n_gen"]), int(row["n_depth"])) == (p, n, d),
                     "CSV row %d is %r" % (i, row))
        ts = [float(x) for x in row["samples_ts"].split()]
        common.check(close(float(row["stddev_ts"]), statistics.stdev(ts), rel=1e-9),
                     "CSV stddev_ts %s is not the sample stdev of %r" % (row["stddev_ts"], ts))
        common.check(row["energy_status"] == "unavailable" and row["pp_j_per_token_net"] == "",
                     "CSV energy %r / %r" % (row["energy_status"], row["pp_j_per_token_net"]))
        common.check(int(row["kv_cache_bytes"]) == kv_bytes(p + n + d, False), "CSV kv bytes")


def table_rows(md):
    lines = [l for l in md.splitlines() if l.startswith("|")]
    common.check(len(lines) >= 2 and set(lines[1]) <= set("|-: "),
                 "no Markdown table header:\n" + md)
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    return header, [[c.strip() for c in l.strip("|").split("|")] for l in lines[2:]]


def case_md(bench, folder, seed):
    del folder, seed
    r = bench.run(["--shape", "tiny"] + LISTS)
    header, rows = table_rows(r.stdout)
    common.check(len(rows) == 2 * len(LIST_TESTS),
                 "%d table rows, expected %d" % (len(rows), 2 * len(LIST_TESTS)))
    for key in ["build:", "CPU:", "method:", "peak RSS:", "energy: n/a"]:
        common.check(key in r.stdout, "the Markdown preamble lacks %r:\n%s" % (key, r.stdout))
    for name in ["t/s", "test", "threads", "TTFT ms", "CPU use", "peak RSS", "KV cache",
                 "J/token"]:
        common.check(name in header, "column %r missing from %r" % (name, header))
    for i, cells in enumerate(rows):
        cell = dict(zip(header, cells))
        p, n, d = LIST_TESTS[i % len(LIST_TESTS)]
        name = "pp%d" % p if n == 0 else "tg%d" % n if p == 0 else "pp%d+tg%d" % (p, n)
        common.check(cell["test"] == name + (" @ d%d" % d if d else ""), "table row %r" % cells)
        common.check(re.match(r"^[0-9.]+ ± [0-9.]+$", cell["t/s"]), "t/s cell %r" % cell["t/s"])
        common.check(cell["J/token"] == "n/a", "energy cell %r without a meter" % cell["J/token"])
    common.check("bench: " not in r.stdout and "bench: " in r.stderr, "progress belongs on stderr")


def case_contract(bench, folder, seed):
    """The comparison script's exact invocation: -m FILE -p P -n N -t 1,2 -r 3 -o json."""
    del seed
    model = os.path.join(folder, "tiny.gguf")
    bench.run(["--shape", "tiny", "--type", "w8a8", "--save", model])
    common.check(os.path.isfile(model), "--save wrote nothing")
    r = bench.run(["-m", model, "-p", "16", "-n", "8", "-t", "1,2", "-r", "3", "-o", "json"])
    rows = json.loads(r.stdout)
    common.check([(x["n_prompt"], x["n_gen"], x["n_threads"]) for x in rows]
                 == [(16, 0, 1), (0, 8, 1), (16, 0, 2), (0, 8, 2)], "rows %r" % rows)
    for row in rows:
        for f in CONTRACT_FIELDS:
            common.check(f in row, "contract field %s missing" % f)
        common.check(row["model_filename"] == model and row["weight_type"] == "W8A8",
                     "model fields %r %r" % (row["model_filename"], row["weight_type"]))
        common.check(row["synthetic"] is None, "a -m model is not marked synthetic")
        check_row_statistics(row, 3)


def case_ls_w8a8_kernels(bench, folder, seed):
    del folder, seed
    rows = bench.json_rows(["--shape", "LS-tiny", "--type", "w8a8", "--kernels", "scalar",
                            "-p", "8", "-n", "4", "-t", "1", "-r", "2"])
    common.check(len(rows) == 2, "%d rows" % len(rows))
    for row, test in zip(rows, [(8, 0, 0), (0, 4, 0)]):
        check_row(row, test, 1, 2, layer_sharing=True)
        common.check(row["kernels_isa"] == "scalar" and "scalar" in row["kernels"],
                     "--kernels scalar gave %r / %r" % (row["kernels_isa"], row["kernels"]))
        common.check(" LS " in row["model_type"] and row["model_type"].endswith("W8A8"),
                     "model_type %r" % row["model_type"])
    # A float model ignores --kernels: one run, not one per kernel.
    rows = bench.json_rows(["--shape", "tiny", "--kernels", "scalar,auto", "-p", "8", "-n", "0",
                            "-r", "1"])
    common.check(len(rows) == 1 and rows[0]["kernels_isa"].startswith("none"),
                 "float rows %r" % rows)
    check_row_statistics(rows[0], 1)


def case_energy_unavailable(bench, folder, seed):
    del folder, seed
    rows = bench.json_rows(["--shape", "tiny", "-p", "8", "-n", "4", "-r", "2"])
    for row in rows:
        e = row["energy"]
        common.check(e["status"] == "unavailable", "status %r" % e)
        common.check(e["meters"], "no meter listed: %r" % e)
        for m in e["meters"]:
            common.check(m["available"] is False and m["id"] and m["reason"] and m["fix"],
                         "meter without id, reason or fix: %r" % m)
        common.check("readings" not in e, "readings without a meter: %r" % e)
        common.check(not any(k.startswith("j_per") or k.startswith("joules") for k in json.dumps(e)
                             .split('"')), "a number where nothing was measured: %r" % e)


def write_fake_powercap(root, energy_uj):
    zone = os.path.join(root, "intel-rapl:0")
    os.makedirs(zone)
    for name, value in [("name", "package-0"), ("energy_uj", str(energy_uj)),
                        ("max_energy_range_uj", "262143328850")]:
        with open(os.path.join(zone, name), "w") as f:
            f.write(value + "\n")


def case_energy_fake_powercap(bench, folder, seed):
    """A fake RAPL zone whose counter stands still: the meter is usable and measures 0 J, which
    the report must show as measured zeros (idle and phases), with the meter's id and scope."""
    del seed
    root = os.path.join(folder, "powercap")
    write_fake_powercap(root, 123456789)
    meters = ["--energy-root-powercap", root, "--energy-root-power-supply", bench.empty,
              "--energy-no-perf-event", "--energy-no-powermetrics", "--idle-seconds", "0.05"]
    rows = bench.json_rows(["--shape", "tiny", "-p", "8", "-n", "4", "-pg", "8,4", "-r", "2",
                            "-t", "1"], meters)
    common.check(len(rows) == 3, "%d rows" % len(rows))
    for row in rows:
        e = row["energy"]
        common.check(e["status"] == "measured", "status %r" % e)
        common.check(e["idle_seconds"] == 0.05, "idle_seconds %r" % e.get("idle_seconds"))
        (reading,) = e["readings"]
        common.check(reading["meter"] == "rapl:package-0" and reading["scope"],
                     "reading %r" % reading)
        common.check(reading["idle_w_before"] == 0 and reading["idle_w_after"] == 0,
                     "idle %r" % reading)
        for phase, tokens in [("pp", row["n_prompt"] * 2), ("tg", row["n_gen"] * 2)]:
            p = reading[phase]
            if tokens == 0:
                common.check(p is None, "%s: %s without tokens: %r" % (row["test"], phase, p))
                continue
            common.check(p["tokens"] == tokens,
                         "%s tokens %r, expected %d" % (phase, p["tokens"], tokens))
            common.check(p["joules_gross"] == 0 and p["j_per_token_gross"] == 0
                         and p["j_per_token_net"] == 0,
                         
                         "%s: a still counter must give 0 J: %r" % (phase, p))
            common.check(p["seconds"] > 0, "%s seconds %r" % (phase, p["seconds"]))
    r = bench.run(["--shape", "tiny", "-p", "8", "-n", "0", "-r", "1", "-t", "1"], meters)
    common.check("energy: measured with rapl:package-0" in r.stdout, "md preamble:\n" + r.stdout)
    header, cells = table_rows(r.stdout)
    common.check(dict(zip(header, cells[0]))["J/token"].startswith("pp 0 (net 0)"),
                 "md cell %r" % cells[0])


def case_energy_estimate_and_disabled(bench, folder, seed):
    del folder, seed
    rows = bench.json_rows(["--shape", "tiny", "-p", "8", "-n", "4", "-r", "1",
                            "--energy-estimate", "params"])
    for row in rows:
        est = row["energy_estimate"]
        common.check(est["measured"] is False and est["method"] == "params", "estimate %r" % est)
        common.check(close(est["j_per_token"], 0.1 * TINY_PARAMS / 1e9), "estimate %r" % est)
        common.check(row["energy"]["status"] == "unavailable",
                     "the estimate leaked into %r" % row["energy"])
    r = bench.run(["--shape", "tiny", "-p", "8", "-n", "0", "-r", "1",
                   "--energy-estimate", "params"])
    header, cells = table_rows(r.stdout)
    cell = dict(zip(header, cells[0]))
    estimate = float(cell["J/token estimate"])
    common.check(cell["J/token"] == "n/a" and close(estimate, 0.1 * TINY_PARAMS / 1e9, rel=1e-3),
                 
                 "md cells %r" % cell)
    rows = bench.json_rows(["--shape", "tiny", "-p", "8", "-n", "0", "-r", "1", "--no-energy"])
    common.check(rows[0]["energy"] == {"status": "disabled"}, "energy %r" % rows[0]["energy"])


def case_synthetic_cache(bench, folder, seed):
    cache = os.path.join(folder, "cache")
    base = ["bench", "--cache-dir", cache, "--shape", "tiny", "--type", "bf16", "--seed", str(seed),
            "-p", "8", "-n", "0", "-r", "1", "-o", "json"] + bench.no_meters()
    first = common.run_cli(bench.cli, base)
    common.check(first.returncode == 0 and "wrote" in first.stderr, first.describe())
    cached = json.loads(first.stdout)[0]["model_filename"]
    common.check(os.path.dirname(cached) == cache and str(seed) in os.path.basename(cached),
                 "cache path %r" % cached)
    second = common.run_cli(bench.cli, base)
    common.check(second.returncode == 0 and "using cached" in second.stderr
                 and "wrote" not in second.stderr,
                 
                 second.describe())
    # --save writes the same bytes for the same seed, other bytes for another seed.
    saved = os.path.join(folder, "saved.gguf")
    other = os.path.join(folder, "other.gguf")
    for path, s in [(saved, seed), (other, seed + 1)]:
        r = common.run_cli(bench.cli, ["bench", "--shape", "tiny", "--type", "bf16",
                                       "--seed", str(s),
                                       "--save", path])
        common.check(r.returncode == 0 and r.stdout == "", r.describe())
    with open(cached, "rb") as f:
        cached_bytes = f.read()
    with open(saved, "rb") as f:
        common.check(f.read() == cached_bytes, "--save and the cache differ for one seed")
    with open(other, "rb") as f:
        common.check(f.read() != cached_bytes, "two seeds gave the same weights")
    # A damaged cache file is noticed and written again.
    with open(cached, "r+b") as f:
        f.truncate(len(cached_bytes) // 2)
    third = common.run_cli(bench.cli, base)
    common.check(third.returncode == 0 and "unusable" in third.stderr, third.describe())
    with open(cached, "rb") as f:
        common.check(f.read() == cached_bytes, "the rewritten cache file differs")
    common.check(sorted(os.listdir(cache)) == [os.path.basename(cached)],
                 "stray files in the cache: %r" % os.listdir(cache))


def case_errors(bench, folder, seed):
    del seed
    missing = os.path.join(folder, "missing.gguf")
    garbage = os.path.join(folder, "garbage.gguf")
    with open(garbage, "wb") as f:
        f.write(b"GGUF" + b"\xff" * 60)
    cases = [
        (["-p", "abc", "--shape", "tiny"], 2, "-p expects an integer"),
        (["-pg", "5", "--shape", "tiny"], 2, "-pg expects P,N"),
        (["-o", "xml", "--shape", "tiny"], 2, "-o expects md, json, jsonl or csv"),
        (["--shape", "42M"], 2, "unknown shape '42M'"),
        (["--shape", "tiny", "--type", "q4_0"], 2, "--type expects"),
        (["-t", "-1", "--shape", "tiny"], 2, "-t expects an integer"),
        (["-r", "0", "--shape", "tiny"], 2, "-r expects an integer"),
        (["-p", "0", "-n", "0", "--shape", "tiny"], 2, "no test to run"),
        ([], 2, "missing -m MODEL or --shape"),
        (["-m", "x", "--ls"], 2, "--ls applies to --shape"),
        (["--bogus", "--shape", "tiny"], 2, "unknown option --bogus"),
        (["-m", missing], 1, missing),
        (["-m", garbage], 1, garbage),
        (["--shape", "tiny", "-p", "600"], 1, "test pp600 needs 600 positions"),
        (["--shape", "tiny", "-p", "0", "-n", "8", "-d", "510"], 1,
         "tg8 @ d510 needs 518 positions"),
        (["--shape", "tiny", "--type", "w8a8", "--kernels", "nosuchisa"], 1, "nosuchisa"),
    ]
    for arguments, code, message in cases:
        # Runtime errors with JSON output: stdout must stay empty (no half-written array).
        argv = arguments + ["-r", "1", "-o", "json"] if code == 1 else arguments
        r = bench.run(argv, expect_ok=False)
        common.check(r.returncode == code and message in r.stderr,
                     "expected exit %d and %r\n%s" % (code, message, r.describe()))
        common.check(r.stdout == "", "output on stdout despite the error\n" + r.describe())
    # An error inside the per-model child process (here: the kernel choice of the environment,
    # read when the child loads the model) reaches the user with its code and message.
    env = dict(os.environ, MOBILELLM_KERNELS="bogus")
    argv = [bench.cli, "bench", "--cache-dir", bench.cache, "--shape", "tiny", "--type", "w8a8",
            "-p", "8", "-n", "0", "-r", "1", "-o", "json"] + bench.no_meters()
    p = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)
    common.check(p.returncode == 1 and "error (invalid_argument)" in p.stderr
                 and '"bogus"' in p.stderr and p.stdout == "",
                 "child error: exit %d\n%s%s" % (p.returncode, p.stdout, p.stderr))


def main():
    args = common.parse_args(__doc__.splitlines()[0])
    bench = Bench(args)
    suite = common.Suite(args, "mobilellm bench")
    cases = [("json", case_json), ("jsonl", case_jsonl), ("csv", case_csv), ("md", case_md),
             ("contract", case_contract), ("ls_w8a8_kernels", case_ls_w8a8_kernels),
             ("energy_unavailable", case_energy_unavailable),
             ("energy_fake_powercap", case_energy_fake_powercap),
             ("energy_estimate_and_disabled", case_energy_estimate_and_disabled),
             ("synthetic_cache", case_synthetic_cache), ("errors", case_errors)]
    for name, fn in cases:
        suite.add(name, lambda folder, seed, fn=fn: fn(bench, folder, seed))
    return suite.run()


if __name__ == "__main__":
    sys.exit(main())
