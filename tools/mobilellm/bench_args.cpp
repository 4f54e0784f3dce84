#include "bench_args.hpp"

#include <fmt/core.h>

#include "mobilellm/synthetic.hpp"

namespace mobilellm::cli::bench {

const char* const kUsage = R"(usage: mobilellm bench (-m MODEL | --shape SHAPE) [options]

Measures prompt processing (pp), token generation (tg) and both (pg) like llama-bench: for every
model, kernel choice, thread count, depth and test, one warm-up run, then -r timed repetitions.
Only the forward passes are timed (prefill calls for the prompt, one decode step per generated
token), fed fixed random token ids: no tokenization, no sampling. Results go to stdout in the
chosen format; progress and diagnostics go to stderr. Lists are comma-separated, and list flags
may also be repeated.

models:
  -m, --model PATH[,PATH]  model file(s)
  --shape NAME[,NAME]      synthetic model(s) with random weights in an official shape: 125M,
                           350M, 600M, 1B, 1.5B, or tiny (2 blocks of width 64, for tests);
                           LS-NAME is NAME with layer sharing. Generated once per shape, type
                           and seed into the cache folder, then reused
  --ls                     layer sharing for every --shape (as LS-NAME)
  --type T[,T]             weights of --shape models: f32 (default), f16, bf16, w8a8
  --seed N                 seed of the synthetic weights and of the token ids (default 0)
  --cache-dir DIR          where synthetic models are kept (default $XDG_CACHE_HOME/mobilellm,
                           else ~/.cache/mobilellm)
  --save PATH              write the one synthetic model given by --shape/--type to PATH and
                           exit without benchmarking

tests:
  -p, --n-prompt N[,N]     prompt lengths of the pp tests (default 512; 0 = none)
  -n, --n-gen N[,N]        generated lengths of the tg tests (default 128; 0 = none)
  -pg P,N                  a pg test: prompt P then N generated tokens (repeatable)
  -d, --n-depth N[,N]      tokens already in the KV cache before each test (default 0); they
                           are prefilled before every repetition, untimed
  -t, --threads N[,N]      compute threads (default 0 = all cores)
  -b, --batch-size N       prompt tokens per prefill call (default 512)
  -r, --repetitions N      timed repetitions per test (default 5)
  --no-warmup              skip the warm-up run
  --kernels NAME[,NAME]    W8A8 kernels (scalar, avx2, avx512vnni, neon, neondot, neoni8mm;
                           default: the best this CPU supports); float models' weights
                           ignore it (their attention kernel follows MOBILELLM_KERNELS)
  -ctk, --cache-type-k T[,T]
                           KV cache element type: f32 (default) or f16 (half the memory;
                           attention still computes in float32); rows' type_k and type_v
  -ctv, --cache-type-v T[,T]
                           the values' type: keys and values share one type here, so -ctv
                           must equal -ctk (either one alone sets both)

output:
  -o, --output FORMAT      md (default), json (one array), jsonl (one object per line), csv

energy:
  --idle-seconds S         idle window before and after each test (default 2), model loaded
  --no-energy              do not probe meters or measure idle power (energy: "disabled")
  --energy-estimate params add an estimate of 0.1 J/token per billion parameters (the MobileLLM
                           paper's rule), labelled "measured": false, never in measured fields
  --energy-root-powercap DIR       powercap tree (default /sys/class/powercap)
  --energy-root-perf DIR           perf_event PMU tree (default /sys/bus/event_source/devices)
  --energy-root-power-supply DIR   battery tree (default /sys/class/power_supply)
  --energy-allow-charging  use a battery meter even while it charges
  --energy-no-perf-event   never call perf_event_open
  --energy-no-powermetrics never run macOS powermetrics

Every row carries the run's identity (commit, build, CPU, kernels, model) and, besides
llama-bench's fields, load time, time to first token, decode latency p50/p90/p99, peak RSS
(per test: VmHWM reset before each test in a child process per model), KV-cache bytes and
energy. See benchmarks/README.md.
)";

std::string TestSpec::name() const {
  std::string s;
  if (n_prompt > 0 && n_gen == 0)
    s = fmt::format("pp{}", n_prompt);
  else if (n_prompt == 0)
    s = fmt::format("tg{}", n_gen);
  else
    s = fmt::format("pp{}+tg{}", n_prompt, n_gen);
  if (n_depth > 0) s += fmt::format(" @ d{}", n_depth);
  return s;
}

namespace {

const char* type_name(OutputType t) {
  switch (t) {
    case OutputType::source: return "source";
    case OutputType::f32: return "f32";
    case OutputType::f16: return "f16";
    case OutputType::bf16: return "bf16";
    case OutputType::w8a8: return "w8a8";
  }
  return "?";
}

std::vector<std::string> split(const std::string& flag, const std::string& value) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (true) {
    const std::size_t comma = value.find(',', start);
    std::string item =
        value.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (item.empty())
      throw UsageError{flag + " expects a comma-separated list without empty items, got '" + value +
                       "'"};
    out.push_back(std::move(item));
    if (comma == std::string::npos) return out;
    start = comma + 1;
  }
}

OutputType parse_type(const std::string& v) {
  if (v == "f32") return OutputType::f32;
  if (v == "f16") return OutputType::f16;
  if (v == "bf16") return OutputType::bf16;
  if (v == "w8a8") return OutputType::w8a8;
  throw UsageError{"--type expects f32, f16, bf16 or w8a8, got '" + v + "'"};
}

std::string shape_names() {
  std::string names;
  for (const auto& s : synthetic_shapes()) names += std::string(names.empty() ? "" : ", ") + s.name;
  return names;
}

constexpr std::uint32_t kMaxLength = 1u << 20;  // the format's context limit

}  // namespace

std::string SyntheticRequest::label() const {
  return fmt::format("{}{} {}", layer_sharing ? "LS-" : "", shape, type_name(type));
}

const char* output_format_name(OutputFormat f) {
  switch (f) {
    case OutputFormat::md: return "md";
    case OutputFormat::json: return "json";
    case OutputFormat::jsonl: return "jsonl";
    case OutputFormat::csv: return "csv";
  }
  return "?";
}

std::vector<std::uint32_t> parse_uint_list(const std::string& flag, const std::string& value,
                                           std::uint32_t min, std::uint32_t max) {
  std::vector<std::uint32_t> out;
  for (const auto& item : split(flag, value))
    out.push_back(std::uint32_t(parse_int(flag, item, min, max)));
  return out;
}

Options parse_options(const Args& args) {
  Options o;
  std::vector<std::uint32_t> n_prompt, n_gen, n_depth, threads;
  std::vector<std::string> shapes, types, kernels;
  std::vector<KvType> cache_k, cache_v;
  bool ls = false;
  ArgCursor c(args);
  while (!c.done()) {
    if (c.flag({"-h", "--help"})) {
      o.help = true;
      return o;
    } else if (auto v = c.option({"-m", "--model"})) {
      for (auto& m : split("-m", *v)) o.models.push_back(std::move(m));
    } else if (auto v = c.option({"--shape"})) {
      for (auto& s : split("--shape", *v)) shapes.push_back(std::move(s));
    } else if (c.flag({"--ls"})) {
      ls = true;
    } else if (auto v = c.option({"--type"})) {
      for (auto& t : split("--type", *v)) types.push_back(std::move(t));
    } else if (auto v = c.option({"--seed"})) {
      o.seed = std::uint64_t(parse_int("--seed", *v, 0, INT64_MAX));
    } else if (auto v = c.option({"--cache-dir"})) {
      if (v->empty()) throw UsageError{"--cache-dir expects a folder"};
      o.cache_dir = *v;
    } else if (auto v = c.option({"--save"})) {
      if (v->empty()) throw UsageError{"--save expects a file path"};
      o.save_path = *v;
    } else if (auto v = c.option({"-p", "--n-prompt"})) {
      for (auto x : parse_uint_list("-p", *v, 0, kMaxLength)) n_prompt.push_back(x);
    } else if (auto v = c.option({"-n", "--n-gen"})) {
      for (auto x : parse_uint_list("-n", *v, 0, kMaxLength)) n_gen.push_back(x);
    } else if (auto v = c.option({"-pg"})) {
      const auto pair = parse_uint_list("-pg", *v, 1, kMaxLength);
      if (pair.size() != 2)
        throw UsageError{"-pg expects P,N (two positive integers), got '" + *v + "'"};
      o.pg.emplace_back(pair[0], pair[1]);
    } else if (auto v = c.option({"-d", "--n-depth"})) {
      for (auto x : parse_uint_list("-d", *v, 0, kMaxLength)) n_depth.push_back(x);
    } else if (auto v = c.option({"-t", "--threads"})) {
      for (auto x : parse_uint_list("-t", *v, 0, 1024)) threads.push_back(x);
    } else if (auto v = c.option({"-b", "--batch-size"})) {
      o.n_batch = std::uint32_t(parse_int("-b", *v, 1, 1 << 16));
    } else if (auto v = c.option({"-r", "--repetitions"})) {
      o.repetitions = std::uint32_t(parse_int("-r", *v, 1, 100000));
    } else if (c.flag({"--no-warmup"})) {
      o.warmup = false;
    } else if (auto v = c.option({"--kernels"})) {
      for (auto& k : split("--kernels", *v)) kernels.push_back(std::move(k));
    } else if (auto v = c.option({"-ctk", "--cache-type-k"})) {
      for (const auto& t : split("-ctk", *v)) cache_k.push_back(parse_cache_type("-ctk", t));
    } else if (auto v = c.option({"-ctv", "--cache-type-v"})) {
      for (const auto& t : split("-ctv", *v)) cache_v.push_back(parse_cache_type("-ctv", t));
    } else if (auto v = c.option({"-o", "--output"})) {
      if (*v == "md")
        o.output = OutputFormat::md;
      else if (*v == "json")
        o.output = OutputFormat::json;
      else if (*v == "jsonl")
        o.output = OutputFormat::jsonl;
      else if (*v == "csv")
        o.output = OutputFormat::csv;
      else
        throw UsageError{"-o expects md, json, jsonl or csv, got '" + *v + "'"};
    } else if (auto v = c.option({"--idle-seconds"})) {
      o.idle_seconds = parse_double("--idle-seconds", *v);
      if (o.idle_seconds < 0 || o.idle_seconds > 600)
        throw UsageError{"--idle-seconds expects a number of seconds in [0, 600], got '" + *v +
                         "'"};
    } else if (c.flag({"--no-energy"})) {
      o.energy = false;
    } else if (auto v = c.option({"--energy-estimate"})) {
      if (*v != "params") throw UsageError{"--energy-estimate expects 'params', got '" + *v + "'"};
      o.energy_estimate = true;
    } else if (auto v = c.option({"--energy-root-powercap"})) {
      o.probe.powercap_root = *v;
    } else if (auto v = c.option({"--energy-root-perf"})) {
      o.probe.perf_event_root = *v;
    } else if (auto v = c.option({"--energy-root-power-supply"})) {
      o.probe.power_supply_root = *v;
    } else if (c.flag({"--energy-allow-charging"})) {
      o.probe.allow_charging = true;
    } else if (c.flag({"--energy-no-perf-event"})) {
      o.probe.use_perf_event = false;
    } else if (c.flag({"--energy-no-powermetrics"})) {
      o.probe.use_powermetrics = false;
    } else {
      const std::string& a = c.peek();
      throw UsageError{a.size() > 1 && a[0] == '-' ? "unknown option " + a
                                                   : "unexpected argument '" + a + "'"};
    }
  }

  if (!n_prompt.empty()) o.n_prompt = n_prompt;
  if (!n_gen.empty()) o.n_gen = n_gen;
  if (!n_depth.empty()) o.n_depth = n_depth;
  if (!threads.empty()) o.threads.assign(threads.begin(), threads.end());
  if (!kernels.empty()) o.kernels = kernels;
  if (!cache_k.empty() && !cache_v.empty() && cache_k != cache_v) {
    auto names = [](const std::vector<KvType>& types) {
      std::string s;
      for (KvType t : types) s += std::string(s.empty() ? "" : ",") + kv_type_name(t);
      return s;
    };
    throw UsageError{"-ctk " + names(cache_k) + " and -ctv " + names(cache_v) +
                     " differ: the KV cache has one element type for keys and values, so -ctv "
                     "must equal -ctk (or give only one of them)"};
  }
  if (!cache_k.empty())
    o.cache_types = cache_k;
  else if (!cache_v.empty())
    o.cache_types = cache_v;

  if (shapes.empty() && (ls || !types.empty()))
    throw UsageError{std::string(ls ? "--ls" : "--type") +
                     " applies to --shape models; give --shape"};
  if (types.empty()) types.push_back("f32");
  for (const auto& name : shapes) {
    SyntheticRequest r;
    r.shape = name;
    r.layer_sharing = ls;
    if (name.starts_with("LS-")) {
      r.shape = name.substr(3);
      r.layer_sharing = true;
    }
    if (!find_synthetic_shape(r.shape))
      throw UsageError{"--shape: unknown shape '" + name + "' (known: " + shape_names() +
                       ", each also as LS-NAME)"};
    for (const auto& t : types) {
      r.type = parse_type(t);
      o.synthetic.push_back(r);
    }
  }
  if (!o.save_path.empty()) {
    if (o.synthetic.size() != 1 || !o.models.empty())
      throw UsageError{
          "--save writes one synthetic model: give exactly one --shape and at most one "
          "--type, and no -m"};
    return o;
  }
  if (o.models.empty() && o.synthetic.empty())
    throw UsageError{"missing -m MODEL or --shape SHAPE"};
  if (expand_tests(o).empty())
    throw UsageError{"no test to run: every -p and -n length is 0 and there is no -pg"};
  return o;
}

std::vector<TestSpec> expand_tests(const Options& o) {
  std::vector<TestSpec> tests;
  for (std::uint32_t d : o.n_depth) {
    for (std::uint32_t p : o.n_prompt)
      if (p > 0) tests.push_back({p, 0, d});
    for (std::uint32_t n : o.n_gen)
      if (n > 0) tests.push_back({0, n, d});
    for (const auto& [p, n] : o.pg) tests.push_back({p, n, d});
  }
  return tests;
}

}  // namespace mobilellm::cli::bench
