// The IEEE binary16 conversions of common/half.hpp, which the runtime uses to write a float16 KV
// cache (and the attention reference to read it), against references written here independently:
//   - f16_to_f32 on all 65536 bit patterns, against the value computed from the fields with
//     std::ldexp (and, for inf/NaN, the bit pattern IEEE 754 prescribes);
//   - f32_to_f16 against round-to-nearest-even done by search: the finite binary16 values as
//     doubles in increasing order (plus 2^16, the first value past the largest, which stands for
//     infinity: IEEE overflow rounds to inf exactly when round-to-nearest-even with unbounded
//     exponent would give 2^16 or more), the nearest one to |x| in float64 (exact: a float and a
//     binary16 value differ by a float64-representable amount), a tie to the even significand.
//     Checked on hand-picked edges (ties in the normal and subnormal ranges, overflow, the
//     smallest subnormal and half of it, float subnormals, +-0, inf, NaN) and on random floats:
//     uniform bit patterns (every exponent) and values spread over binary16's range, from one
//     seed, printed (MOBILELLM_TEST_SEED=N replays it).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "common/half.hpp"
#include "test_kernels.hpp"

namespace mobilellm {
namespace {

// The value of binary16 bits h from the definition: (-1)^s * 2^(e - 15) * (1 + m / 1024) for
// normal numbers, (-1)^s * 2^-14 * (m / 1024) for subnormals.
double f16_value(std::uint16_t h) {
  const int s = h >> 15, e = (h >> 10) & 0x1f, m = h & 0x3ff;
  double v;
  if (e == 0)
    v = std::ldexp(double(m), -24);
  else if (e == 31)
    v = m == 0 ? std::numeric_limits<double>::infinity() : std::numeric_limits<double>::quiet_NaN();
  else
    v = std::ldexp(double(1024 + m), e - 25);
  return s ? -v : v;
}

std::uint32_t bits(float f) { return f32_to_bits(f); }

TEST(Half, EveryFloat16WidensExactly) {
  for (std::uint32_t h = 0; h < 65536; ++h) {
    const float got = f16_to_f32(std::uint16_t(h));
    const double want = f16_value(std::uint16_t(h));
    const bool sign = (h & 0x8000u) != 0;
    if (std::isnan(want)) {
      // A NaN keeps its sign and its payload in the top of the float significand.
      const std::uint32_t expect = (sign ? 0x80000000u : 0u) | 0x7f800000u | ((h & 0x3ffu) << 13);
      ASSERT_EQ(bits(got), expect) << "h = " << h;
      continue;
    }
    ASSERT_EQ(double(got), want) << "h = " << h;
    ASSERT_EQ(std::signbit(got), sign) << "h = " << h;  // -0 stays -0
  }
}

// Round to nearest even by search over the binary16 values (see the file comment).
class NearestEven {
 public:
  NearestEven() {
    for (std::uint16_t h = 0; h < 0x7c00; ++h) values_.push_back(f16_value(h));
    values_.push_back(65536.0);  // 0x7c00: infinity, as the value just past the largest
  }

  std::uint16_t operator()(float x) const {
    const std::uint16_t sign = std::signbit(x) ? 0x8000 : 0;
    if (std::isnan(x)) return std::uint16_t(sign | 0x7e00);  // checked as "a NaN" only, below
    const double a = std::fabs(double(x));
    if (a >= 65536.0) return std::uint16_t(sign | 0x7c00);
    // values_[i] <= a < values_[i + 1]
    const auto it = std::upper_bound(values_.begin(), values_.end(), a);
    const std::size_t hi = std::size_t(it - values_.begin()), lo = hi - 1;
    const double below = a - values_[lo], above = values_[hi] - a;
    std::size_t pick;
    if (below < above)
      pick = lo;
    else if (above < below)
      pick = hi;
    else
      pick = (lo % 2 == 0) ? lo : hi;  // a tie: the even significand (bit pattern)
    return std::uint16_t(sign | pick);
  }

 private:
  std::vector<double> values_;  // index = bit pattern of a non-negative value
};

void expect_rounds(const NearestEven& want, float x) {
  const std::uint16_t got = f32_to_f16(x), w = want(x);
  if (std::isnan(x)) {
    EXPECT_EQ(got & 0x7c00, 0x7c00) << x;  // a NaN stays a NaN (quiet, with its sign)
    EXPECT_NE(got & 0x03ff, 0) << x;
    EXPECT_EQ(got & 0x8000, std::signbit(x) ? 0x8000 : 0) << x;
    return;
  }
  EXPECT_EQ(got, w) << "x = " << x << " (bits 0x" << std::hex << bits(x) << std::dec
                    << "): got 0x" << std::hex << got << ", want 0x" << w;
}

TEST(Half, NarrowingEdgeCases) {
  const NearestEven want;
  const float inf = std::numeric_limits<float>::infinity();
  std::vector<float> edges = {
      0.0f, -0.0f, inf, -inf, std::numeric_limits<float>::quiet_NaN(),
      -std::numeric_limits<float>::quiet_NaN(), bits_to_f32(0x7f800001u), bits_to_f32(0xffc00001u),
      1.0f, -1.0f, 65504.0f, -65504.0f,
      65519.99f, 65520.0f, -65520.0f, 65535.0f, 65536.0f, 1e10f, std::numeric_limits<float>::max(),
      std::ldexp(1.0f, -14),                   // smallest normal
      std::ldexp(1023.0f, -24),                // largest subnormal
      std::ldexp(1023.5f, -24),                // tie between it and the smallest normal: even
      std::ldexp(1.0f, -24),                   // smallest subnormal
      std::ldexp(1.0f, -25),                   // half of it: a tie, rounds to 0 (even)
      std::nextafter(std::ldexp(1.0f, -25), 1.0f),  // just above: rounds up
      std::ldexp(3.0f, -25),                   // 1.5 ulp: tie, to 2 ulp (even)
      std::ldexp(5.0f, -25),                   // 2.5 ulp: tie, to 2 ulp (even)
      std::numeric_limits<float>::min(), std::numeric_limits<float>::denorm_min(),
      -std::numeric_limits<float>::denorm_min(), std::ldexp(1.0f, -30)};
  // Ties between consecutive normals, with an even and an odd lower neighbour, across binades.
  for (int e = -14; e <= 15; ++e) {
    for (int m : {0, 1, 2, 511, 1022, 1023}) {
      const float lo = std::ldexp(float(1024 + m), e - 10);
      const float ulp = std::ldexp(1.0f, e - 10);
      for (float x : {lo + ulp / 2, std::nextafter(lo + ulp / 2, 0.0f),
                      std::nextafter(lo + ulp / 2, inf), lo, lo + ulp / 4, lo + 3 * ulp / 4}) {
        edges.push_back(x);
        edges.push_back(-x);
      }
    }
  }
  // Ties in the subnormal range.
  for (int m : {0, 1, 2, 3, 100, 511, 512, 1022}) {
    edges.push_back(std::ldexp(float(2 * m + 1), -25));
    edges.push_back(-std::ldexp(float(2 * m + 1), -25));
  }
  for (float x : edges) expect_rounds(want, x);

  // A few results spelled out, as a check of the search itself.
  EXPECT_EQ(f32_to_f16(1.0f), 0x3c00);
  EXPECT_EQ(f32_to_f16(-2.0f), 0xc000);
  EXPECT_EQ(f32_to_f16(65504.0f), 0x7bff);
  EXPECT_EQ(f32_to_f16(65520.0f), 0x7c00);     // the tie past the largest finite: inf
  EXPECT_EQ(f32_to_f16(65519.99f), 0x7bff);
  EXPECT_EQ(f32_to_f16(std::ldexp(1.0f, -24)), 0x0001);
  EXPECT_EQ(f32_to_f16(std::ldexp(1.0f, -25)), 0x0000);
  EXPECT_EQ(f32_to_f16(-std::ldexp(1.0f, -25)), 0x8000);
  EXPECT_EQ(f32_to_f16(std::ldexp(1023.5f, -24)), 0x0400);
  EXPECT_EQ(f32_to_f16(1.0f + std::ldexp(1.0f, -11)), 0x3c00);       // tie: to even (down)
  EXPECT_EQ(f32_to_f16(1.0f + 3 * std::ldexp(1.0f, -11)), 0x3c02);   // tie: to even (up)
}

TEST(Half, NarrowingRandomFloats) {
  const NearestEven want;
  const std::uint64_t seed = kernels::test::case_seed(9100);
  std::printf("[ half     ] seed %llu (MOBILELLM_TEST_SEED=%llu)\n",
              static_cast<unsigned long long>(seed),
              static_cast<unsigned long long>(kernels::test::base_seed()));
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> exponent(-26.0f, 17.0f);
  for (int i = 0; i < 300000; ++i) {
    expect_rounds(want, bits_to_f32(std::uint32_t(rng())));  // any float, every exponent
    const float x = std::exp2(exponent(rng)) * ((rng() & 1) ? -1.0f : 1.0f);
    expect_rounds(want, x);  // binary16's range, subnormals and overflow included
    if (HasFailure()) return;
  }
}

// Narrowing a widened value gives it back (every finite and infinite binary16 value).
TEST(Half, RoundTripIsExact) {
  for (std::uint32_t h = 0; h < 65536; ++h) {
    if ((h & 0x7c00) == 0x7c00 && (h & 0x3ff) != 0) continue;  // NaN
    ASSERT_EQ(f32_to_f16(f16_to_f32(std::uint16_t(h))), h);
  }
}

}  // namespace
}  // namespace mobilellm
