// The forward pass's float loops (src/runtime/vec.cpp) against float64 references written here:
// every length around the vector width (tails), attention-shaped rows, extreme softmax inputs.
// Random data come from one seed, printed; MOBILELLM_TEST_SEED=N replays a run.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "runtime/vec.hpp"

namespace mobilellm {
namespace {

std::uint64_t seed() {
  const char* env = std::getenv("MOBILELLM_TEST_SEED");
  return env && *env ? std::strtoull(env, nullptr, 0) : 20250101;
}

std::vector<float> random_floats(std::mt19937_64& rng, std::size_t n, float scale = 1.0f) {
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

// |got - want| within `rel` of the magnitude of the terms that were summed (float rounding).
void expect_close(double got, double want, double magnitude, double rel, const std::string& what) {
  EXPECT_LE(std::abs(got - want), rel * magnitude + 1e-30)
      << what << ": got " << got << ", want " << want;
}

const std::size_t kLengths[] = {0, 1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 100};
const std::size_t kDims[] = {1, 2, 3, 4, 7, 8, 12, 16, 17, 31, 32, 64, 65, 128};

TEST(Vec, DotRowsMatchesFloat64) {
  SCOPED_TRACE("MOBILELLM_TEST_SEED=" + std::to_string(seed()));
  std::mt19937_64 rng(seed());
  for (std::size_t d : kDims)
    for (std::size_t n : kLengths) {
      const auto q = random_floats(rng, d), rows = random_floats(rng, n * d);
      const float scale = 0.125f;
      std::vector<float> scores(n + 1, 12345.0f);  // one past the end must stay untouched
      vec::dot_rows(q.data(), rows.data(), d, n, scale, scores.data());
      for (std::size_t p = 0; p < n; ++p) {
        double want = 0, magnitude = 0;
        for (std::size_t j = 0; j < d; ++j) {
          want += double(q[j]) * rows[p * d + j];
          magnitude += std::abs(double(q[j]) * rows[p * d + j]);
        }
        expect_close(
            scores[p], want * scale, magnitude * scale, 1e-6,
            "d=" + std::to_string(d) + " n=" + std::to_string(n) + " p=" + std::to_string(p));
      }
      EXPECT_EQ(scores[n], 12345.0f);
    }
}

TEST(Vec, WeightedSumRowsMatchesFloat64) {
  SCOPED_TRACE("MOBILELLM_TEST_SEED=" + std::to_string(seed()));
  std::mt19937_64 rng(seed() + 1);
  for (std::size_t d : kDims)
    for (std::size_t n : kLengths) {
      const auto w = random_floats(rng, n), rows = random_floats(rng, n * d);
      std::vector<float> out(d + 1, 12345.0f);
      const float scale = 0.75f;
      vec::weighted_sum_rows(w.data(), rows.data(), d, n, scale, out.data());
      for (std::size_t j = 0; j < d; ++j) {
        double want = 0, magnitude = 0;
        for (std::size_t p = 0; p < n; ++p) {
          want += scale * double(w[p]) * rows[p * d + j];
          magnitude += std::abs(scale * double(w[p]) * rows[p * d + j]);
        }
        expect_close(
            out[j], want, magnitude, 1e-6,
            "d=" + std::to_string(d) + " n=" + std::to_string(n) + " j=" + std::to_string(j));
      }
      EXPECT_EQ(out[d], 12345.0f);
    }
}

TEST(Vec, MaxAndExpSumMatchFloat64) {
  SCOPED_TRACE("MOBILELLM_TEST_SEED=" + std::to_string(seed()));
  std::mt19937_64 rng(seed() + 2);
  for (std::size_t n : kLengths) {
    if (n == 0) continue;
    for (float spread : {0.01f, 1.0f, 30.0f}) {
      auto x = random_floats(rng, n, spread);
      if (n > 3) x[n / 2] = 80.0f;  // a large maximum anywhere, as attention scores can have
      std::vector<double> want(n);
      double m = x[0], sum = 0;
      for (float v : x) m = std::max(m, double(v));
      for (std::size_t i = 0; i < n; ++i) sum += want[i] = std::exp(double(x[i]) - m);
      const float got_max = vec::max(x.data(), n);
      EXPECT_EQ(double(got_max), m) << "n=" << n;
      const float got_sum = vec::exp_sum(x.data(), n, got_max);
      for (std::size_t i = 0; i < n; ++i)
        expect_close(x[i], want[i], want[i], 1e-5,
                     "n=" + std::to_string(n) + " i=" + std::to_string(i));
      expect_close(got_sum, sum, sum, 1e-5, "n=" + std::to_string(n) + " sum");
    }
  }
}

TEST(Vec, SiluMulRmsNormAndAddMatchFloat64) {
  SCOPED_TRACE("MOBILELLM_TEST_SEED=" + std::to_string(seed()));
  std::mt19937_64 rng(seed() + 3);
  for (std::size_t n : kLengths) {
    if (n == 0) continue;
    auto gate = random_floats(rng, n, 4.0f);
    const auto up = random_floats(rng, n), w = random_floats(rng, n), y0 = random_floats(rng, n);
    if (n > 2) gate[1] = -100.0f, gate[2] = 100.0f;  // exp overflows / underflows
    const std::string at = "n=" + std::to_string(n);

    std::vector<float> g = gate;
    vec::silu_mul(g.data(), up.data(), n);
    for (std::size_t i = 0; i < n; ++i) {
      const double want = double(gate[i]) / (1 + std::exp(-double(gate[i]))) * up[i];
      expect_close(g[i], want, std::abs(want), 1e-5, at + " silu i=" + std::to_string(i));
    }

    std::vector<float> y(n);
    vec::rms_norm(gate.data(), w.data(), 1e-5f, y.data(), n);
    double ms = 0;
    for (float v : gate) ms += double(v) * v;
    const double r = 1 / std::sqrt(ms / double(n) + 1e-5);
    for (std::size_t i = 0; i < n; ++i) {
      const double want = gate[i] * r * w[i];
      expect_close(y[i], want, std::abs(want), 1e-5, at + " rms_norm i=" + std::to_string(i));
    }

    std::vector<float> sum = y0;
    vec::add(up.data(), sum.data(), n);
    for (std::size_t i = 0; i < n; ++i) EXPECT_EQ(sum[i], y0[i] + up[i]) << at << " add i=" << i;
  }
}

}  // namespace
}  // namespace mobilellm
