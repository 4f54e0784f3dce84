#!/usr/bin/env python3
"""mobilellm and llama.cpp side by side, on the same weights, threads and lengths, in one run.

Called by benchmarks/compare_llama_cpp.sh (which installs and builds what this needs); see
benchmarks/README.md, "Side by side with llama.cpp", for the method. In short:

1. For every base shape (125M, 350M, ...), one random-weight F16 checkpoint
   (random_checkpoint.py) is converted by `mobilellm convert` to our W8A8 file (and, for an
   LS-shape, with --layer-sharing on), and to F16, which tools/llama/export_llama_gguf.py turns
   into llama.cpp's Q8_0 (LS unrolled into twice as many blocks). Files are cached in the work
   folder, keyed by the scripts' contents and the seed.
2. Rounds: each round first measures the machine's limits (bench_kernels' limits/read/dram on
   one and two cores, limits/int8_peak), then runs every (shape, threads, test) once on each
   runtime, alternating which goes first. Every run is its own process: load, one warm-up, one
   timed repetition (`mobilellm bench ... -r 1 -o json` and `node llama_bench.mjs ... --reps 1`).
3. The table shows medians over the rounds of each side's tokens/s and their ratio, and for
   decode the share of the bandwidth bound (weight bytes per token x tokens/s / the round's
   measured bandwidth for that many threads); for prefill the share of the int8 peak
   (2 x matrix parameters x tokens/s / (threads x the one-core peak)). Everything, with every
   sample, goes to the JSON file.
"""

import argparse
import datetime
import hashlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
EXPORT = os.path.join(REPO, "tools", "llama", "export_llama_gguf.py")
CHECKPOINT = os.path.join(HERE, "random_checkpoint.py")
LLAMA_BENCH = os.path.join(HERE, "llama_bench.mjs")

sys.path.insert(0, os.path.join(REPO, "tools", "llama"))
import export_llama_gguf as exporter  # noqa: E402  (its GGUF reader, for the byte counts)

# Issue 7's targets: ratio mobilellm / llama.cpp, per (shape, test).
TARGETS = {("125M", "tg128"): 1.6, ("LS-125M", "tg128"): 2.5, ("350M", "tg128"): 1.25,
           ("125M", "tg128@d512"): 1.6, ("125M", "pp512"): 3.0}


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def run(argv, what, timeout=3600):
    start = time.monotonic()
    p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    if p.returncode != 0:
        raise RuntimeError("%s failed (exit %d): %s\n%s%s" % (what, p.returncode, " ".join(argv),
                                                            p.stdout[-2000:], p.stderr[-4000:]))
    return p.stdout, time.monotonic() - start


def file_digest(paths):
    h = hashlib.sha256()
    for p in paths:
        with open(p, "rb") as f:
            h.update(f.read())
    return h.hexdigest()[:12]


# ------------------------------------------------------------------------------ models


def prepare_models(args, base, ls_needed, plain_needed):
    """Our W8A8 file(s) and llama.cpp's Q8_0 file(s) for one base shape, from one checkpoint."""
    key = "%s-seed%d-%s" % (base, args.seed, file_digest([CHECKPOINT, EXPORT]))
    folder = os.path.join(args.work, "models", key)
    want = {}
    if plain_needed:
        want[base] = ("ours.%s.gguf" % args.ours_type, "llama.q8_0.gguf", "off")
    if ls_needed:
        want["LS-" + base] = ("ours-ls.%s.gguf" % args.ours_type, "llama-ls.q8_0.gguf", "on")
    ready = all(os.path.exists(os.path.join(folder, f))
                for ours, theirs, _ in want.values() for f in (ours, theirs))
    if ready:  # a cached file our current build cannot load is made again
        for ours, _, _ in want.values():
            p = subprocess.run([args.cli, "info", os.path.join(folder, ours)], capture_output=True)
            ready = ready and p.returncode == 0
    if not ready:
        os.makedirs(folder, exist_ok=True)
        ckpt = os.path.join(folder, "checkpoint")
        log("models: writing the random %s checkpoint (seed %d) into %s"
            % (base, args.seed, folder))
        run([sys.executable, CHECKPOINT, "--shape", base, "-o", ckpt, "--seed", str(args.seed)],
            "random_checkpoint")
        for ours, theirs, sharing in want.values():
            if not os.path.exists(os.path.join(folder, theirs)):
                f16 = os.path.join(folder, "f16.tmp.gguf")
                run([args.cli, "convert", ckpt, "-o", f16, "--type", "f16", "--layer-sharing",
                     sharing, "-q"], "mobilellm convert --type f16")
                run([sys.executable, EXPORT, f16, "-o", os.path.join(folder, theirs), "--type",
                     "q8_0", "-q"], "export_llama_gguf")
                os.unlink(f16)
            run([args.cli, "convert", ckpt, "-o", os.path.join(folder, ours), "--type",
                 args.ours_type, "--layer-sharing", sharing, "-q"],
                "mobilellm convert --type " + args.ours_type)
        shutil.rmtree(ckpt)
    return {name: (os.path.join(folder, o), os.path.join(folder, l)) for name, (o, l, _) in
            want.items()}


def weight_bytes(path):
    """Bytes of weights one decode step reads: every matrix (and W8A8 scale) except the token
    embedding, which is read one row per token, unless it is also the output head (no
    output.weight), when it is read whole. Norm weights are counted too (negligible)."""
    src = exporter.SourceFile(path)
    total = 0
    sizes = {0: 4, 1: 2, 24: 1, 30: 2}
    for name, (dims, type_id, _) in src.tensors.items():
        n = 1
        for d in dims:
            n *= d
        nbytes = n // 32 * 34 if type_id == 8 else n * sizes[type_id]
        if name == "token_embd.weight" and "output.weight" in src.tensors:
            nbytes = nbytes // dims[1]
        total += nbytes
    return total


def matrix_params(path):
    """Multiply-adds per token of the weight matrices (output head included, the embedding
    lookup and attention over the cache excluded), from the file's tensor shapes."""
    src = exporter.SourceFile(path)
    total = 0
    for name, (dims, _, _) in src.tensors.items():
        if len(dims) == 2 and (name != "token_embd.weight" or "output.weight" not in src.tensors):
            total += dims[0] * dims[1]
    return total


# ------------------------------------------------------------------------------ measuring


def measure_limits(args):
    if not args.bench_kernels:
        return None
    # bench_kernels prints its own summary on stdout; the JSON goes to a file.
    with tempfile.TemporaryDirectory() as tmp:
        out_path = os.path.join(tmp, "limits.json")
        run([args.bench_kernels, "--benchmark_filter=^limits/(read/dram|int8_peak)",
             "--benchmark_out=" + out_path, "--benchmark_out_format=json",
             "--benchmark_min_time=%s" % args.limits_min_time], "bench_kernels limits")
        with open(out_path) as f:
            benchmarks = json.load(f)["benchmarks"]
    result = {}
    for b in benchmarks:
        name = b["name"]
        if name.startswith("limits/read/dram"):
            # Google Benchmark sums a counter over the threads: "bytes" is the total rate.
            threads = 2 if "threads:2" in name else 1
            result["bandwidth_gbs_%dt" % threads] = b["bytes"] / 1e9
        elif name.startswith("limits/int8_peak/"):
            result["int8_peak_gops_" + name.split("/")[2].split("/")[0]] = b["ops"] / 1e9
    return result


def run_ours(args, model, test, threads):
    argv = [args.cli, "bench", "-m", model, "-p", str(test["n_prompt"]), "-n", str(test["n_gen"]),
            "-d", str(test["n_depth"]), "-t", str(threads), "-r", "1", "-o", "json", "--no-energy"]
    out, _ = run(argv, "mobilellm bench")
    rows = json.loads(out)
    if len(rows) != 1:
        raise RuntimeError("mobilellm bench printed %d rows, expected 1: %s" % (len(rows), argv))
    return rows[0]


def run_llama(args, model, test, threads):
    argv = [args.node, LLAMA_BENCH, "--model", model, "--n-prompt", str(test["n_prompt"]),
            "--n-gen", str(test["n_gen"]), "--n-depth", str(test["n_depth"]), "--threads",
            str(threads), "--reps", "1", "--seed", str(args.seed), "--llama-dir", args.llama_dir,
            "--max-seconds", str(args.max_seconds)]
    out, _ = run(argv, "llama_bench.mjs")
    rows = json.loads(out)
    if len(rows) != 1:
        raise RuntimeError("llama_bench.mjs printed %d rows, expected 1: %s" % (len(rows), argv))
    return rows[0]


def test_name(t):
    name = "pp%d" % t["n_prompt"] if t["n_prompt"] else "tg%d" % t["n_gen"]
    return name + ("@d%d" % t["n_depth"] if t["n_depth"] else "")


def median(v):
    return statistics.median(v) if v else None


# ------------------------------------------------------------------------------ report


def table(results, limits_summary):
    head = ("| shape | test | threads | mobilellm tok/s | llama.cpp tok/s | ratio | target "
            "| mobilellm % of bound | llama.cpp % of bound |")
    lines = [head, "|" + "---|" * 9]
    for r in results:
        ours, theirs = r["mobilellm"], r["llama_cpp"]
        target = TARGETS.get((r["shape"], r["test"]))
        met = "" if target is None else ("%gx %s" % (target, "met" if r["ratio"] >= target
                                                     else "not met"))

        def fmt_ts(side):
            lo, hi = min(side["samples_ts"]), max(side["samples_ts"])
            star = "*" if side.get("truncated") else ""
            return "%.1f%s (%.1f-%.1f)" % (side["median_ts"], star, lo, hi)

        def bound(side):
            return "" if side.get("bound_share") is None else "%.0f%%" % (100 * side["bound_share"])
        lines.append("| %s | %s | %d | %s | %s | %.2f | %s | %s | %s |" % (
            r["shape"], r["test"], r["threads"], fmt_ts(ours), fmt_ts(theirs), r["ratio"], met,
            bound(ours), bound(theirs)))
    if any(r[side].get("truncated") for r in results for side in ("mobilellm", "llama_cpp")):
        lines.append("")
        lines.append("\\* at least one repetition hit --max-seconds and was stopped early; its "
                     "rate is over the tokens it generated.")
    if limits_summary:
        lines.append("")
        lines.append("Limits measured in the same run (median of the rounds): " + ", ".join(
            "%s %.1f" % (k, v) for k, v in sorted(limits_summary.items())))
    return "\n".join(lines)


def summarize(args, samples, limits, models, tests, started, complete):
    """The report (everything measured so far) and its table's inputs."""
    limits_summary = {k: median([l[k] for l in limits if k in l])
                      for k in sorted({k for l in limits for k in l})}
    peak_1core = max([v for k, v in limits_summary.items() if k.startswith("int8_peak")],
                     default=None)
    results = []
    for (shape, t, name), sides in samples.items():
        if not sides["mobilellm"] or not sides["llama_cpp"]:
            continue
        entry = {"shape": shape, "test": name, "threads": t}
        for side, rows in sides.items():
            ts = [row["samples_ts"][0] for row in rows]
            path = models[shape][0 if side == "mobilellm" else 1]
            info = {"samples_ts": ts, "median_ts": median(ts), "model_file": path,
                    "truncated": any(row.get("truncated") for row in rows),
                    "weight_bytes_per_token": weight_bytes(path),
                    "matrix_params": matrix_params(path), "rows": rows}
            info["bound_share"] = None
            if name.startswith("tg") and limits_summary.get("bandwidth_gbs_%dt" % t):
                bw = limits_summary["bandwidth_gbs_%dt" % t] * 1e9
                info["bound_share"] = info["median_ts"] * info["weight_bytes_per_token"] / bw
            elif name.startswith("pp") and peak_1core:
                info["bound_share"] = (info["median_ts"] * 2 * info["matrix_params"]
                                       / (peak_1core * 1e9 * t))
            entry[side] = info
        entry["ratio"] = entry["mobilellm"]["median_ts"] / entry["llama_cpp"]["median_ts"]
        entry["paired_ratios"] = [a / b for a, b in zip(entry["mobilellm"]["samples_ts"],
                                                         entry["llama_cpp"]["samples_ts"])]
        entry["target"] = TARGETS.get((shape, name))
        results.append(entry)
    first = results[0] if results else None

    def meta(side, keys):
        return {k: first[side]["rows"][0].get(k) for k in keys} if first else {}
    report = {
        "complete": complete,
        "date": started.isoformat(timespec="seconds"),
        "command": " ".join(sys.argv),
        "machine": {"cpu": meta("mobilellm", ["cpu_info"]).get("cpu_info"),
                    "cpu_features": meta("mobilellm", ["cpu_features"]).get("cpu_features"),
                    "platform": platform.platform(), "load_average_at_end": os.getloadavg()},
        "mobilellm": meta("mobilellm", ["build_commit", "build_type", "build_compiler",
                                        "build_flags", "kernels"]),
        "llama_cpp": meta("llama_cpp", ["build_commit", "node_llama_cpp", "llama_system_info",
                                        "flash_attn", "n_batch", "n_ubatch", "type_k"]),
        "method": {"rounds": args.reps, "seed": args.seed, "alternating": True,
                   "mobilellm_type": args.ours_type, "llama_cpp_type": "Q8_0",
                   "statistic": "median over rounds", "tests": [test_name(t) for t in tests]},
        "limits": {"rounds": limits, "median": limits_summary},
        "results": results,
    }
    tmp = args.json + ".tmp"
    with open(tmp, "w") as f:
        json.dump(report, f, indent=1)
    os.replace(tmp, args.json)
    return report, results, limits_summary


def print_report(report):
    results = report["results"]
    print("mobilellm %s (%s) vs llama.cpp %s (node-llama-cpp %s), %s, %s" % (
        report["mobilellm"].get("build_commit"), report["mobilellm"].get("kernels"),
        report["llama_cpp"].get("build_commit"), report["llama_cpp"].get("node_llama_cpp"),
        report["machine"]["cpu"], report["date"]))
    print("tokens/s: median of %d alternating rounds (min-max); ratio = mobilellm / llama.cpp; "
          "%% of bound: tg = weight bytes per token x tok/s / measured bandwidth, "
          "pp = 2 x matrix parameters x tok/s / (threads x int8 peak)%s"
          % (report["method"]["rounds"], "" if report["complete"] else " (INCOMPLETE RUN)"))
    print()
    print(table(results, report["limits"]["median"]))


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--print":  # the table of an earlier run
        with open(sys.argv[2]) as f:
            print_report(json.load(f))
        return 0
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                epilog="compare.py --print FILE.json prints an earlier run's "
                                       "table.")
    p.add_argument("--cli", required=True, help="the mobilellm executable")
    p.add_argument("--node", required=True, help="Node.js (>= 20) to run llama_bench.mjs with")
    p.add_argument("--llama-dir", required=True, help="folder with node_modules/node-llama-cpp")
    p.add_argument("--bench-kernels", help="bench_kernels executable (limits); none: not measured")
    p.add_argument("--work", required=True, help="folder for the cached model files")
    p.add_argument("--shapes", default="125M,LS-125M,350M")
    p.add_argument("--threads", default="1,2")
    p.add_argument("--n-prompt", type=int, default=512)
    p.add_argument("--n-gen", type=int, default=128)
    p.add_argument("--depth", type=int, default=512, help="depth of the extra tg test (0: none)")
    p.add_argument("--reps", type=int, default=3, help="rounds (each runtime once per round)")
    p.add_argument("--seed", type=int, default=0, help="seed of the weights and token ids")
    p.add_argument("--ours-type", default="w8a8",
                   help="`mobilellm convert --type` of our files (default w8a8)")
    p.add_argument("--limits-min-time", default="0.3", help="--benchmark_min_time of the limits")
    p.add_argument("--max-seconds", type=int, default=60,
                   help="a llama.cpp tg repetition stops after this long; its rate is over the "
                        "steps done (0: no bound; see llama_bench.mjs)")
    p.add_argument("--json", required=True, help="where to write all results")
    args = p.parse_args()
    args.cli = os.path.abspath(args.cli)
    args.llama_dir = os.path.abspath(args.llama_dir)

    shapes = [s for s in args.shapes.split(",") if s]
    threads = [int(t) for t in args.threads.split(",") if t]
    tests = []
    if args.n_prompt:
        tests.append({"n_prompt": args.n_prompt, "n_gen": 0, "n_depth": 0})
    if args.n_gen:
        tests.append({"n_prompt": 0, "n_gen": args.n_gen, "n_depth": 0})
        if args.depth:
            tests.append({"n_prompt": 0, "n_gen": args.n_gen, "n_depth": args.depth})

    models = {}
    for base in dict.fromkeys(s[3:] if s.startswith("LS-") else s for s in shapes):
        models.update(prepare_models(args, base, "LS-" + base in shapes, base in shapes))

    cells = [(s, t, test) for s in shapes for t in threads for test in tests]
    samples = {(s, t, test_name(test)): {"mobilellm": [], "llama_cpp": []} for s, t, test in cells}
    limits = []
    started = datetime.datetime.now(datetime.timezone.utc)
    log("compare: %d rounds x %d tests x 2 runtimes; load average %s"
        % (args.reps, len(cells), os.getloadavg()))
    for r in range(args.reps):
        lim = measure_limits(args)
        if lim:
            limits.append(lim)
            log("round %d: limits %s"
                % (r + 1, ", ".join("%s %.1f" % kv for kv in sorted(lim.items()))))
        for i, (shape, t, test) in enumerate(cells):
            ours_file, llama_file = models[shape]
            order = ["mobilellm", "llama_cpp"] if (r + i) % 2 == 0 else ["llama_cpp", "mobilellm"]
            for side in order:
                row = (run_ours(args, ours_file, test, t) if side == "mobilellm"
                       else run_llama(args, llama_file, test, t))
                samples[(shape, t, test_name(test))][side].append(row)
                log("round %d: %-8s %-11s t%d %-9s %8.1f tok/s%s" % (
                    r + 1, shape, test_name(test), t, side, row["samples_ts"][0],
                    " (stopped after %d tokens)" % row["samples_gen"][0] if row.get("truncated")
                    else ""))
        summarize(args, samples, limits, models, tests, started, False)  # partial results

    report, _, _ = summarize(args, samples, limits, models, tests, started, True)
    print_report(report)
    print()
    print("all samples: %s" % args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
