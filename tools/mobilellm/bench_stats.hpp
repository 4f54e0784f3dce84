// Statistics of `mobilellm bench`: means, sample standard deviations and percentiles of timings.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

namespace mobilellm::cli::bench {

// Arithmetic mean; nullopt for an empty sample.
std::optional<double> mean(std::span<const double> x);

// Sample standard deviation (Bessel's correction: divides by n - 1); nullopt when n < 2, where
// it is undefined. Computed from the mean by a two-pass sum, not from sum of squares.
std::optional<double> sample_stddev(std::span<const double> x);

// The p-th percentile (0 <= p <= 100) by linear interpolation between the closest ranks
// (Hyndman & Fan type 7, numpy's default): rank h = (n - 1) * p / 100, then
// x[floor(h)] + (h - floor(h)) * (x[floor(h) + 1] - x[floor(h)]) over the sorted sample.
// nullopt for an empty sample. Throws InvalidArgument for p outside [0, 100].
std::optional<double> percentile(std::span<const double> x, double p);

// Tokens per second of each sample: 1e9 * tokens / ns (llama-bench's samples_ts).
std::vector<double> rates(std::span<const std::uint64_t> samples_ns, std::uint64_t tokens);

}  // namespace mobilellm::cli::bench
