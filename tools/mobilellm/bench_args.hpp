// `mobilellm bench` command line: llama-bench's vocabulary (-m -p -n -pg -d -t -r -o ...) plus
// synthetic models (--shape), energy options and our extras. Parsing only; no model is touched.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "cli.hpp"
#include "mobilellm/convert.hpp"
#include "mobilellm/energy.hpp"

namespace mobilellm::cli::bench {

enum class OutputFormat { md, json, jsonl, csv };

// One test: n_depth tokens prefilled untimed, then n_prompt tokens prefilled and n_gen tokens
// decoded one at a time, timed.
struct TestSpec {
  std::uint32_t n_prompt = 0;
  std::uint32_t n_gen = 0;
  std::uint32_t n_depth = 0;
  // llama-bench's label: "pp512", "tg128", "pp512+tg128", with " @ d512" for a depth.
  std::string name() const;
  std::uint64_t context() const { return std::uint64_t(n_depth) + n_prompt + n_gen; }
  friend bool operator==(const TestSpec&, const TestSpec&) = default;
};

// A synthetic model to generate (or reuse from the cache) and benchmark.
struct SyntheticRequest {
  std::string shape;  // a name from synthetic_shapes()
  bool layer_sharing = false;
  OutputType type = OutputType::f32;
  std::string label() const;  // "LS-125M w8a8"
  friend bool operator==(const SyntheticRequest&, const SyntheticRequest&) = default;
};

struct Options {
  std::vector<std::string> models;          // -m
  std::vector<SyntheticRequest> synthetic;  // --shape x --type (x --ls)
  std::uint64_t seed = 0;                   // synthetic weights and the test's token ids
  std::string cache_dir;                    // --cache-dir; empty: the default cache
  std::string save_path;                    // --save: write the synthetic model and stop

  std::vector<std::uint32_t> n_prompt{512};                 // -p (0 entries are skipped)
  std::vector<std::uint32_t> n_gen{128};                    // -n (0 entries are skipped)
  std::vector<std::pair<std::uint32_t, std::uint32_t>> pg;  // -pg P,N
  std::vector<std::uint32_t> n_depth{0};                    // -d
  std::vector<unsigned> threads{0};                         // -t; 0 = all cores
  std::uint32_t n_batch = 512;                              // -b: tokens per prefill call
  std::uint32_t repetitions = 5;                            // -r
  bool warmup = true;
  std::vector<std::string> kernels{""};  // --kernels; "" = the default choice
  std::vector<KvType> cache_types{KvType::f32};  // -ctk / -ctv (always equal)
  OutputFormat output = OutputFormat::md;

  bool energy = true;            // --no-energy: skip meters and idle windows
  double idle_seconds = 2.0;     // --idle-seconds
  bool energy_estimate = false;  // --energy-estimate params
  energy::ProbeOptions probe;    // --energy-root-* and friends

  bool help = false;
};

// Parses the arguments after `bench`. Throws UsageError naming the flag and the value.
Options parse_options(const Args& args);

// The tests run for each model and thread count, in order: for every depth, the pp tests, then
// the tg tests, then the pg tests (llama-bench's order). Zero lengths are skipped.
std::vector<TestSpec> expand_tests(const Options& options);

// "1,2,3" -> {1, 2, 3}; each value in [min, max]. UsageError naming `flag` otherwise.
std::vector<std::uint32_t> parse_uint_list(const std::string& flag, const std::string& value,
                                           std::uint32_t min, std::uint32_t max);

const char* output_format_name(OutputFormat f);

extern const char* const kUsage;

}  // namespace mobilellm::cli::bench
