// Shared by the kernel tests (tests/unit/test_kernels*.cpp): the seed, test data, buffers that
// catch out-of-bounds accesses, and output checks. Inline functions in a named namespace, so the
// seed is chosen and printed once per test binary.
#pragma once

#include <bit>
#include <cerrno>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <random>
#include <string>
#include <type_traits>
#include <vector>

#include <gtest/gtest.h>

#if defined(__unix__)
#include <sys/mman.h>
#include <unistd.h>
#endif

#include "kernels/kernels.hpp"

namespace mobilellm::kernels::test {

// MOBILELLM_TEST_SEED when set, else a fixed default so that CI is deterministic. Printed once.
inline std::uint64_t base_seed() {
  static const std::uint64_t seed = [] {
    std::uint64_t s = 20240531;
    if (const char* env = std::getenv("MOBILELLM_TEST_SEED"); env != nullptr && *env != '\0') {
      char* end = nullptr;
      errno = 0;
      const unsigned long long parsed = std::strtoull(env, &end, 0);
      if (errno != 0 || *end != '\0') {
        ADD_FAILURE() << "MOBILELLM_TEST_SEED=" << env << " is not an unsigned integer";
      } else {
        s = parsed;
      }
    }
    std::printf("[ kernels  ] data seed %llu (replay: MOBILELLM_TEST_SEED=%llu)\n",
                static_cast<unsigned long long>(s), static_cast<unsigned long long>(s));
    return s;
  }();
  return seed;
}

// A distinct, reproducible seed per test case (splitmix64 of the base seed and a case number).
inline std::uint64_t case_seed(std::uint64_t salt) {
  std::uint64_t z = base_seed() + 0x9e3779b97f4a7c15ull * (salt + 1);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// A byte buffer of exactly `size` bytes on a kPackedAlignment boundary (exact, so that
// AddressSanitizer sees any read past the end).
class AlignedBytes {
 public:
  explicit AlignedBytes(std::size_t size)
      : size_(size),
        data_(static_cast<std::uint8_t*>(
            ::operator new(size == 0 ? 1 : size, std::align_val_t{kPackedAlignment}))) {}
  ~AlignedBytes() { ::operator delete(data_, std::align_val_t{kPackedAlignment}); }
  AlignedBytes(const AlignedBytes&) = delete;
  AlignedBytes& operator=(const AlignedBytes&) = delete;
  void* data() const { return data_; }
  std::size_t size() const { return size_; }

 private:
  std::size_t size_;
  std::uint8_t* data_;
};

// "random" covers every int8; "quantized" is what the activation quantizer produces, [-127, 127]
// (kernels may take a faster path when no activation is -128).
enum class Fill { random, quantized, min, max, alternating };

inline const char* fill_name(Fill f) {
  switch (f) {
    case Fill::random: return "random";
    case Fill::quantized: return "random in [-127, 127]";
    case Fill::min: return "all -128";
    case Fill::max: return "all 127";
    case Fill::alternating: return "-128/127 alternating";
  }
  return "?";
}

// Row-major rows x cols int8 values. "alternating" flips between -128 and 127 along each row and
// starts with the other one on odd rows, so that A and W of the same fill multiply to both signs.
inline std::vector<std::int8_t> make_int8(std::size_t rows, std::size_t cols, Fill fill,
                                          std::mt19937_64& rng) {
  std::vector<std::int8_t> v(rows * cols);
  // Random bytes 8 at a time from one 64-bit draw (the real shapes need tens of MB, also under
  // qemu); "quantized" redraws a byte of -128 from the next draws until it is not -128.
  std::uint64_t bits = 0;
  int left = 0;
  const auto next_byte = [&] {
    if (left == 0) {
      bits = rng();
      left = 8;
    }
    const auto b = static_cast<std::int8_t>(static_cast<std::uint8_t>(bits));
    bits >>= 8;
    --left;
    return b;
  };
  for (std::size_t r = 0; r < rows; ++r) {
    for (std::size_t c = 0; c < cols; ++c) {
      std::int8_t x = 0;
      switch (fill) {
        case Fill::random: x = next_byte(); break;
        case Fill::quantized:
          do x = next_byte();
          while (x == -128);
          break;
        case Fill::min: x = -128; break;
        case Fill::max: x = 127; break;
        case Fill::alternating: x = (r + c) % 2 == 0 ? -128 : 127; break;
      }
      v[r * cols + c] = x;
    }
  }
  return v;
}

inline std::vector<float> make_scales(std::size_t n, float lo, float hi, std::mt19937_64& rng) {
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = d(rng);
  return v;
}

// `size` usable bytes that end exactly where an inaccessible (PROT_NONE) page begins, with
// another inaccessible page before the first usable page: a load of even one byte past the end
// (or before the start of the mapping) faults, so a test proves that a kernel never reads there,
// whatever the sanitizers see. Where mmap is not available, a plain exact-size heap buffer.
class GuardedBytes {
 public:
  explicit GuardedBytes(std::size_t size) : size_(size) {
#if defined(__unix__)
    page_ = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
    const std::size_t usable = (size + page_ - 1) / page_ * page_;
    mapped_ = usable + 2 * page_;
    void* p = mmap(nullptr, mapped_, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw std::bad_alloc();
    base_ = static_cast<std::uint8_t*>(p);
    if (mprotect(base_ + page_, usable, PROT_READ | PROT_WRITE) != 0) {
      munmap(base_, mapped_);
      throw std::bad_alloc();
    }
    data_ = base_ + page_ + usable - size;
#else
    heap_.resize(size);
    data_ = heap_.data();
#endif
  }
  ~GuardedBytes() {
#if defined(__unix__)
    munmap(base_, mapped_);
#endif
  }
  GuardedBytes(const GuardedBytes&) = delete;
  GuardedBytes& operator=(const GuardedBytes&) = delete;
  std::uint8_t* data() const { return data_; }
  std::size_t size() const { return size_; }

 private:
  std::size_t size_;
  std::uint8_t* data_ = nullptr;
#if defined(__unix__)
  std::size_t page_ = 0, mapped_ = 0;
  std::uint8_t* base_ = nullptr;
#else
  std::vector<std::uint8_t> heap_;
#endif
};

inline const QGemmVariant& reference() { return qgemm_variants()[0]; }

inline bool supported_here(const QGemmVariant& v) { return v.supported(cpu_features()); }

inline std::string cpu_name() {
  return cpu_features().model.empty() ? std::string("this CPU") : cpu_features().model;
}

// The float paths may differ from the reference only by the rounding of the scale product: the
// contract fixes the expression (a_scale * w_scale) * float(sum), and the x86 variants reproduce
// it bit for bit, but a variant may legitimately fold the three factors in another order (say,
// a_scale into w_scale once per tile, or an FMA epilogue). Each order rounds twice, half an ulp
// each, so results stay within about 2 ulps (relative 2^-22); 2^-21 leaves room and still catches
// any wrong sum or scale, which moves the result by orders of magnitude more. The int32 sums are
// checked exactly anyway (gemm_s32, and the float paths with unit scales below).
inline bool close_enough(float got, float want) {
  return std::fabs(got - want) <= std::ldexp(std::fabs(want), -21);
}

// Output buffers are pre-filled with a sentinel and rows have spare columns, so that a write
// outside [n_begin, n_end) or past the row is caught.
constexpr std::int32_t kSentinelS32 = 0x5a5a5a5a;
constexpr float kSentinelF32 = -12345.5f;
constexpr std::size_t kSpareColumns = 5;

enum class Compare { exact, close };

// Checks rows x [0, n + spare) of `got`: columns [b, e) against `want` (rows x n, dense), every
// other column still the sentinel.
template <typename T>
::testing::AssertionResult check_output(const std::vector<T>& got, std::size_t stride,
                                        const std::vector<T>& want, std::uint32_t rows,
                                        std::uint32_t n, std::uint32_t b, std::uint32_t e,
                                        T sentinel, Compare how) {
  for (std::uint32_t i = 0; i < rows; ++i) {
    for (std::size_t j = 0; j < stride; ++j) {
      const T g = got[i * stride + j];
      if (j >= b && j < e) {
        const T w = want[std::size_t{i} * n + j];
        bool ok = false;
        if constexpr (std::is_same_v<T, float>) {
          ok = how == Compare::exact
                   ? std::bit_cast<std::uint32_t>(g) == std::bit_cast<std::uint32_t>(w)
                   : close_enough(g, w);
        } else {
          ok = g == w;
        }
        if (!ok) {
          return ::testing::AssertionFailure()
                 << "row " << i << " column " << j << ": got " << g << ", want " << w;
        }
      } else if (std::memcmp(&g, &sentinel, sizeof g) != 0) {
        return ::testing::AssertionFailure()
               << "row " << i << " column " << j << " (outside columns [" << b << ", " << e
               << ")) was written: " << g;
      }
    }
  }
  return ::testing::AssertionSuccess();
}

}  // namespace mobilellm::kernels::test
