#include "bench_stats.hpp"

#include <algorithm>
#include <cmath>
#include <string>

#include "mobilellm/error.hpp"

namespace mobilellm::cli::bench {

std::optional<double> mean(std::span<const double> x) {
  if (x.empty()) return std::nullopt;
  double sum = 0.0;
  for (double v : x) sum += v;
  return sum / double(x.size());
}

std::optional<double> sample_stddev(std::span<const double> x) {
  if (x.size() < 2) return std::nullopt;
  const double m = *mean(x);
  double ss = 0.0;
  for (double v : x) ss += (v - m) * (v - m);
  return std::sqrt(ss / double(x.size() - 1));
}

std::optional<double> percentile(std::span<const double> x, double p) {
  if (!(p >= 0.0 && p <= 100.0))
    throw InvalidArgument("percentile: p must be in [0, 100], got " + std::to_string(p));
  if (x.empty()) return std::nullopt;
  std::vector<double> s(x.begin(), x.end());
  std::sort(s.begin(), s.end());
  const double h = double(s.size() - 1) * p / 100.0;
  const std::size_t lo = std::size_t(std::floor(h));
  if (lo + 1 >= s.size()) return s.back();
  return s[lo] + (h - double(lo)) * (s[lo + 1] - s[lo]);
}

std::vector<double> rates(std::span<const std::uint64_t> samples_ns, std::uint64_t tokens) {
  std::vector<double> r;
  r.reserve(samples_ns.size());
  for (std::uint64_t ns : samples_ns) r.push_back(ns > 0 ? 1e9 * double(tokens) / double(ns) : 0.0);
  return r;
}

}  // namespace mobilellm::cli::bench
