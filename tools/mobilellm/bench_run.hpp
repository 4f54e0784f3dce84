// Running the tests of `mobilellm bench` on one model, in a child process of its own.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "bench_args.hpp"

namespace mobilellm::cli::bench {

using Json = nlohmann::ordered_json;  // rows keep llama-bench's field order

// One model to benchmark with one kernel choice.
struct ModelJob {
  std::string path;
  std::string kernels;  // LoadOptions::kernels; "" = the default choice
  std::string label;    // for progress lines on stderr
  Json fields;          // the row fields that describe the file (model_filename, model_type, ...)
};

// Forks a child that loads the model (timed), then runs every test at every thread count and KV
// cache type of `options` on it (cache types outermost, then thread counts, then tests), and
// reports each finished row (the `identity` fields, the job's fields, then the test's) to `on_row`
// as it arrives. A child per model gives each model a
// fresh address space: its load time and peak RSS do not depend on the models before it.
// Errors in the child are rethrown here as mobilellm::Error with their code and message.
void run_model(const ModelJob& job, const Options& options, const std::vector<TestSpec>& tests,
               const Json& identity, const std::function<void(const Json&)>& on_row);

// Tries the per-test peak RSS reset once in this process: "test" when it works, else
// "process (REASON)". For the report's preamble; each row also says what applied to it.
std::string peak_rss_scope_probe();

}  // namespace mobilellm::cli::bench
