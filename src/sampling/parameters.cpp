#include "sampling/parameters.hpp"

#include <cmath>
#include <limits>

#include <fmt/format.h>

#include "mobilellm/error.hpp"

namespace mobilellm::sampling {
namespace {

template <class T>
[[noreturn]] void reject(const char* name, T value, const char* requirement) {
  throw InvalidArgument(
      fmt::format("sampling parameter {} = {} is invalid: must be {}", name, value, requirement));
}

}  // namespace

void check_top_k(std::int32_t k) {
  if (k < 0) reject("top_k", k, ">= 0 (0 disables it)");
}

void check_unit_interval(const char* name, float p) {
  // Written so that NaN, which compares false with everything, fails too.
  if (!(p >= 0.0f && p <= 1.0f)) reject(name, p, "in [0, 1]");
}

void check_temperature(float t, bool zero_allowed) {
  if (zero_allowed) {
    if (!(t >= 0.0f && std::isfinite(t))) reject("temperature", t, "finite and >= 0 (0 = greedy)");
  } else if (!(t > 0.0f && std::isfinite(t))) {
    reject("temperature", t, "finite and > 0 (for 0, sample with Selection::greedy)");
  }
}

void check_repeat_penalty(float penalty) {
  if (!(penalty > 0.0f && std::isfinite(penalty))) {
    reject("repeat_penalty", penalty, "finite and > 0 (1 disables it)");
  }
}

void check_finite(const char* name, float value) {
  if (!std::isfinite(value)) reject(name, value, "finite (0 disables it)");
}

void check_penalty_last_n(std::int32_t last_n) {
  if (last_n < -1) reject("penalty_last_n", last_n, ">= -1 (-1 = all recent tokens, 0 = off)");
}

float saturate_to_float(double v) {
  constexpr double kMax = std::numeric_limits<float>::max();
  if (v == -std::numeric_limits<double>::infinity()) return -std::numeric_limits<float>::infinity();
  if (v > kMax) return std::numeric_limits<float>::max();
  if (v < -kMax) return std::numeric_limits<float>::lowest();
  return static_cast<float>(v);
}

}  // namespace mobilellm::sampling
