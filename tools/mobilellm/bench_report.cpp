#include "bench_report.hpp"

#include <fmt/core.h>

#include "mobilellm/error.hpp"

namespace mobilellm::cli::bench {
namespace {

std::string dump(const Json& j) { return j.dump(-1, ' ', false, Json::error_handler_t::replace); }

// A field of `row` (a dotted path into nested objects; "energy.readings.0.pp.x" style with array
// indices), or null when any step is missing.
const Json& at_path(const Json& row, const std::string& path) {
  static const Json null_value;
  const Json* j = &row;
  std::size_t start = 0;
  while (start <= path.size()) {
    const std::size_t dot = path.find('.', start);
    const std::string key =
        path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (j->is_object()) {
      auto it = j->find(key);
      if (it == j->end()) return null_value;
      j = &*it;
    } else if (j->is_array() && !key.empty() &&
               key.find_first_not_of("0123456789") == std::string::npos) {
      const std::size_t i = std::stoul(key);
      if (i >= j->size()) return null_value;
      j = &(*j)[i];
    } else {
      return null_value;
    }
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  return *j;
}

// CSV column -> where it comes from in a row.
struct Column {
  const char* name;
  const char* path;
};

const std::vector<Column>& columns() {
  static const std::vector<Column> c = {
      {"build_commit", "build_commit"},
      {"build_number", "build_number"},
      {"build_type", "build_type"},
      {"build_compiler", "build_compiler"},
      {"build_flags", "build_flags"},
      {"cpu_info", "cpu_info"},
      {"cpu_features", "cpu_features"},
      {"model_filename", "model_filename"},
      {"model_name", "model_name"},
      {"model_type", "model_type"},
      {"model_size", "model_size"},
      {"model_n_params", "model_n_params"},
      {"weight_type", "weight_type"},
      {"layer_sharing", "layer_sharing"},
      {"kernels", "kernels"},
      {"kernels_isa", "kernels_isa"},
      {"n_batch", "n_batch"},
      {"n_threads", "n_threads"},
      {"type_k", "type_k"},
      {"type_v", "type_v"},
      {"n_prompt", "n_prompt"},
      {"n_gen", "n_gen"},
      {"n_depth", "n_depth"},
      {"n_ctx", "n_ctx"},
      {"test", "test"},
      {"test_time", "test_time"},
      {"repetitions", "repetitions"},
      {"warmup", "warmup"},
      {"avg_ns", "avg_ns"},
      {"stddev_ns", "stddev_ns"},
      {"avg_ts", "avg_ts"},
      {"stddev_ts", "stddev_ts"},
      {"samples_ns", "samples_ns"},
      {"samples_ts", "samples_ts"},
      {"load_ms", "load_ms"},
      {"ttft_ms", "ttft_ms"},
      {"tg_latency_ms_p50", "tg_latency_ms_p50"},
      {"tg_latency_ms_p90", "tg_latency_ms_p90"},
      {"tg_latency_ms_p99", "tg_latency_ms_p99"},
      {"peak_rss_bytes", "peak_rss_bytes"},
      {"peak_rss_scope", "peak_rss_scope"},
      {"kv_cache_bytes", "kv_cache_bytes"},
      {"cpu_time_ms", "cpu_time_ms"},
      {"cpu_utilization", "cpu_utilization"},
      {"energy_status", "energy.status"},
      {"energy_meter", "energy.readings.0.meter"},
      {"energy_scope", "energy.readings.0.scope"},
      {"energy_idle_w", "energy.readings.0.idle_w"},
      {"pp_j_per_token_gross", "energy.readings.0.pp.j_per_token_gross"},
      {"pp_j_per_token_net", "energy.readings.0.pp.j_per_token_net"},
      {"tg_j_per_token_gross", "energy.readings.0.tg.j_per_token_gross"},
      {"tg_j_per_token_net", "energy.readings.0.tg.j_per_token_net"},
      {"estimate_j_per_token", "energy_estimate.j_per_token"},
  };
  return c;
}

std::string csv_cell(const Json& v) {
  std::string s;
  if (v.is_null())
    s = "";
  else if (v.is_string())
    s = v.get<std::string>();
  else if (v.is_boolean())
    s = v.get<bool>() ? "1" : "0";
  else if (v.is_array()) {
    for (const auto& x : v) s += (s.empty() ? "" : " ") + dump(x);
  } else
    s = dump(v);
  std::string q = "\"";
  for (char c : s) q += c == '"' ? std::string("\"\"") : std::string(1, c);
  return q + "\"";
}

std::string md_escape(std::string s) {
  std::string r;
  for (char c : s) r += c == '|' ? std::string("\\|") : std::string(1, c);
  return r;
}

std::string num(const Json& v, const char* spec) {
  if (!v.is_number()) return "-";
  return fmt::format(fmt::runtime(spec), v.get<double>());
}

std::string percent(const Json& v) {
  return v.is_number() ? fmt::format("{:.0f}%", 100 * v.get<double>()) : "-";
}

// Milliseconds with three significant digits or more: 0.0234, 1.23, 45.6, 789.0.
std::string ms(const Json& v) {
  if (!v.is_number()) return "-";
  const double x = v.get<double>();
  return fmt::format("{:.{}f}", x, x < 1 ? 4 : x < 10 ? 2 : 1);
}

// The energy cell: measured gross and net joules per token of the first meter, or n/a.
std::string energy_cell(const Json& row) {
  const Json& status = at_path(row, "energy.status");
  if (!status.is_string() || status.get<std::string>() != "measured") return "n/a";
  std::string s;
  for (const char* phase : {"pp", "tg"}) {
    const Json& gross =
        at_path(row, std::string("energy.readings.0.") + phase + ".j_per_token_gross");
    const Json& net = at_path(row, std::string("energy.readings.0.") + phase + ".j_per_token_net");
    if (!gross.is_number()) continue;
    s += fmt::format("{}{} {:.4g} (net {:.4g})", s.empty() ? "" : "; ", phase, gross.get<double>(),
                     net.is_number() ? net.get<double>() : 0.0);
  }
  return s.empty() ? "n/a" : s;
}

}  // namespace

const std::vector<std::string>& csv_columns() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> n;
    for (const auto& c : columns()) n.push_back(c.name);
    return n;
  }();
  return names;
}

std::string format_bytes(std::uint64_t b) {
  if (b >= (1ull << 30)) return fmt::format("{:.2f} GiB", double(b) / double(1ull << 30));
  if (b >= (1ull << 20)) return fmt::format("{:.1f} MiB", double(b) / double(1ull << 20));
  if (b >= (1ull << 10)) return fmt::format("{:.1f} KiB", double(b) / double(1ull << 10));
  return fmt::format("{} B", b);
}

std::string format_count(std::uint64_t n) {
  if (n >= 1'000'000'000) return fmt::format("{:.2f} B", double(n) / 1e9);
  if (n >= 1'000'000) return fmt::format("{:.1f} M", double(n) / 1e6);
  if (n >= 1'000) return fmt::format("{:.1f} K", double(n) / 1e3);
  return std::to_string(n);
}

std::string format_rate(const Json& avg, const Json& stddev) {
  if (!avg.is_number()) return "-";
  if (!stddev.is_number()) return fmt::format("{:.2f}", avg.get<double>());
  return fmt::format("{:.2f} ± {:.2f}", avg.get<double>(), stddev.get<double>());
}

Reporter::Reporter(OutputFormat format, std::FILE* out, bool estimate_column)
    : format_(format), out_(out), estimate_column_(estimate_column) {}

void Reporter::write(const std::string& s) {
  if (std::fwrite(s.data(), 1, s.size(), out_) != s.size() || std::fflush(out_) != 0)
    throw IoError("cannot write the results to stdout");
}

void Reporter::begin(const RunSummary& summary) {
  switch (format_) {
    case OutputFormat::md: {
      const Json& id = summary.identity;
      std::string s = fmt::format("## mobilellm bench, {}\n\n", summary.date);
      s += fmt::format("- build: {} ({}), {}, {}, flags `{}`\n",
                       id["build_commit"].get<std::string>(), dump(id["build_number"]),
                       id["build_type"].get<std::string>(), id["build_compiler"].get<std::string>(),
                       id["build_flags"].get<std::string>());
      s += fmt::format("- CPU: {}; features: {}\n", id["cpu_info"].get<std::string>(),
                       id["cpu_features"].get<std::string>());
      for (const auto& n : summary.notes) s += "- " + n + "\n";
      s += "\n| model | size | params | kernels | threads | test | t/s | TTFT ms | tg ms/token p50 "
           "/ p90 / p99 | CPU use | peak RSS | KV cache | J/token |";
      if (estimate_column_) s += " J/token estimate |";
      s += "\n| --- | ---: | ---: | --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | "
           "--- |";
      if (estimate_column_) s += " ---: |";
      write(s + "\n");
      break;
    }
    case OutputFormat::csv: {
      std::string s;
      for (const auto& n : csv_columns()) s += (s.empty() ? "" : ",") + n;
      write(s + "\n");
      break;
    }
    case OutputFormat::json:
    case OutputFormat::jsonl: break;
  }
}

void Reporter::row(const Json& r) {
  switch (format_) {
    case OutputFormat::json: rows_.push_back(r); break;
    case OutputFormat::jsonl: write(dump(r) + "\n"); break;
    case OutputFormat::csv: {
      std::string s;
      for (const auto& c : columns()) s += (s.empty() ? "" : ",") + csv_cell(at_path(r, c.path));
      write(s + "\n");
      break;
    }
    case OutputFormat::md: {
      std::string latency = "-";
      if (r["tg_latency_ms_p50"].is_number())
        latency = fmt::format("{} / {} / {}", ms(r["tg_latency_ms_p50"]),
                              ms(r["tg_latency_ms_p90"]), ms(r["tg_latency_ms_p99"]));
      std::string s = fmt::format(
          "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
          md_escape(r["model_type"].get<std::string>()),
          format_bytes(r["model_size"].get<std::uint64_t>()),
          format_count(r["model_n_params"].get<std::uint64_t>()),
          md_escape(r["kernels_isa"].get<std::string>()), r["n_threads"].get<unsigned>(),
          r["test"].get<std::string>(), format_rate(r["avg_ts"], r["stddev_ts"]), ms(r["ttft_ms"]),
          latency, percent(r["cpu_utilization"]),
          format_bytes(r["peak_rss_bytes"].get<std::uint64_t>()),
          format_bytes(r["kv_cache_bytes"].get<std::uint64_t>()) + " " +
              r["type_k"].get<std::string>(),
          energy_cell(r));
      if (estimate_column_)
        s += fmt::format(" {} |", num(at_path(r, "energy_estimate.j_per_token"), "{:.4g}"));
      write(s + "\n");
      break;
    }
  }
}

void Reporter::end() {
  if (format_ != OutputFormat::json) return;
  std::string s = "[\n";
  for (std::size_t i = 0; i < rows_.size(); ++i)
    s += "  " + dump(rows_[i]) + (i + 1 < rows_.size() ? ",\n" : "\n");
  write(s + "]\n");
}

}  // namespace mobilellm::cli::bench
