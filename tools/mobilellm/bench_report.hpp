// Output formats of `mobilellm bench`: a Markdown table (with the run's identity above it), one
// JSON array, JSON lines, CSV. Rows are printed as they arrive, except JSON's single array.
#pragma once

#include <cstdio>
#include <string>
#include <vector>

#include "bench_args.hpp"
#include "bench_run.hpp"

namespace mobilellm::cli::bench {

// What the Markdown preamble says about the run as a whole.
struct RunSummary {
  Json identity;                   // build_* and cpu_* fields
  std::string date;                // ISO 8601
  std::vector<std::string> notes;  // method, peak RSS scope, energy meters
};

// The CSV columns, in order (nested fields flattened; see bench_report.cpp).
const std::vector<std::string>& csv_columns();

class Reporter {
 public:
  Reporter(OutputFormat format, std::FILE* out, bool estimate_column);
  void begin(const RunSummary& summary);
  void row(const Json& row);
  void end();

 private:
  void write(const std::string& s);
  OutputFormat format_;
  std::FILE* out_;
  bool estimate_column_;
  std::vector<Json> rows_;  // json: printed at the end as one array
};

// Markdown cells, exposed for tests: "124.6 MiB", "124.6 M", "123.45 ± 1.23".
std::string format_bytes(std::uint64_t bytes);
std::string format_count(std::uint64_t n);
std::string format_rate(const Json& avg, const Json& stddev);

}  // namespace mobilellm::cli::bench
