// Tests of the kernels that work on the model file's canonical weight rows (kernels/kernels.hpp,
// "Layouts"): the decode GEMV (gemv_s32 / gemv_f32: W rows read in place, w_stride apart) and the
// prefill driver qgemm_f32_canonical (panels packed into a workspace on the fly).
//
// Every variant this CPU runs is compared with the scalar reference (itself checked against an
// int64 loop in test_kernels.cpp): the GEMV's int32 sums exactly and its floats bit for bit, over
// every K and N from 1 up to past the largest row step and row block any variant uses, primes,
// w_stride > k with junk in the gaps, n_begin/n_end splits on nr boundaries, the real MobileLLM
// shapes, int8 extremes, and K = kMaxK. Out-of-bounds reads are caught by construction: W (and
// A, and the driver's workspace) end exactly where an inaccessible page begins, so a kernel that
// reads one byte too far crashes the test. The driver must equal gemm_f32 on the whole matrix
// packed at once, bit for bit, for M = 1..17 and N and splits around its panel boundaries. The
// data come from one seed, printed; MOBILELLM_TEST_SEED=N replays a run.
#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <random>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "kernels/kernels.hpp"
#include "test_kernels.hpp"

namespace mobilellm::kernels {
namespace {

using namespace test;  // NOLINT(google-build-using-namespace): the shared helpers

// One GEMV problem: N rows of K weights `w_stride` bytes apart, one activation row.
struct GemvProblem {
  std::uint32_t n = 0, k = 0;
  std::size_t w_stride = 0;
  Fill a_fill = Fill::random, w_fill = Fill::random;
  std::uint64_t seed = 0;

  std::string describe() const {
    return "N=" + std::to_string(n) + " K=" + std::to_string(k) +
           " w_stride=" + std::to_string(w_stride) + ", a " + fill_name(a_fill) + ", W " +
           fill_name(w_fill) + ", case seed " + std::to_string(seed) +
           " (MOBILELLM_TEST_SEED=" + std::to_string(base_seed()) + ")";
  }
};

// The weights in guarded memory: the last row's k-th byte is the last readable byte, and the gaps
// between rows (w_stride > k) hold junk that must not be used. The activations likewise: k
// values, zeros up to k_padded(k, kr) (the contract), then the inaccessible page.
struct GemvInputs {
  GemvProblem p;
  std::vector<std::int8_t> w_rows;  // n x k, dense: the values
  std::vector<std::int8_t> a_values;
  float a_scale = 0;
  std::vector<float> w_scale;
  GuardedBytes w, a;

  GemvInputs(const GemvProblem& problem, std::uint32_t kr)
      : p(problem),
        w(std::size_t{problem.n - 1} * problem.w_stride + problem.k),
        a(k_padded(problem.k, kr)) {
    std::mt19937_64 rng(p.seed);
    a_values = make_int8(1, p.k, p.a_fill, rng);
    w_rows = make_int8(p.n, p.k, p.w_fill, rng);
    a_scale = make_scales(1, 1e-3f, 1e-1f, rng)[0];
    w_scale = make_scales(p.n, 1e-4f, 1e-2f, rng);
    if (p.w_stride != p.k) {  // junk in the gaps between rows
      const std::vector<std::int8_t> junk = make_int8(1, w.size(), Fill::random, rng);
      std::memcpy(w.data(), junk.data(), w.size());
    }
    for (std::uint32_t j = 0; j < p.n; ++j) {
      std::memcpy(w.data() + j * p.w_stride, w_rows.data() + std::size_t{j} * p.k, p.k);
    }
    std::memset(a.data(), 0, a.size());
    std::memcpy(a.data(), a_values.data(), p.k);
  }
  const std::int8_t* wp() const { return reinterpret_cast<const std::int8_t*>(w.data()); }
  const std::int8_t* ap() const { return reinterpret_cast<const std::int8_t*>(a.data()); }
};

// The reference's results on the same inputs (its own K padding is 1: no padding to read).
struct GemvWant {
  std::vector<std::int32_t> s32;
  std::vector<float> f32;
};

GemvWant reference_gemv(const GemvInputs& in) {
  const QGemmVariant& ref = reference();
  GemvWant want{std::vector<std::int32_t>(in.p.n), std::vector<float>(in.p.n)};
  ref.gemv_s32(0, in.p.n, in.p.k, in.a_values.data(), in.w_rows.data(), in.p.k, want.s32.data());
  ref.gemv_f32(0, in.p.n, in.p.k, in.a_values.data(), in.a_scale, in.w_rows.data(), in.p.k,
               in.w_scale.data(), want.f32.data());
  return want;
}

// Column ranges as threads split N: the whole, then chunks of 1..3 nr (the last one ending at N).
std::vector<std::pair<std::uint32_t, std::uint32_t>> column_ranges(std::uint32_t n,
                                                                   std::uint32_t nr,
                                                                   std::mt19937_64& rng) {
  std::vector<std::pair<std::uint32_t, std::uint32_t>> ranges = {{0, n}};
  if (n <= nr) return ranges;
  for (std::uint32_t b = 0; b < n;) {
    const std::uint32_t e = std::min(n, b + nr * static_cast<std::uint32_t>(1 + rng() % 3));
    ranges.emplace_back(b, e);
    b = e;
  }
  return ranges;
}

// gemv_s32 (exact) and gemv_f32 (bit for bit) of `v` against the reference, on every range.
void check_gemv(const QGemmVariant& v, const GemvProblem& p) {
  SCOPED_TRACE(std::string(v.gemv_name) + ", " + p.describe());
  const GemvInputs in(p, v.kr);
  const GemvWant want = reference_gemv(in);
  std::mt19937_64 rng(p.seed ^ 0x9e3779b9);
  const std::size_t c_size = p.n + kSpareColumns;
  for (const auto& [b, e] : column_ranges(p.n, v.nr, rng)) {
    SCOPED_TRACE("columns [" + std::to_string(b) + ", " + std::to_string(e) + ")");
    std::vector<std::int32_t> c32(c_size, kSentinelS32);
    v.gemv_s32(b, e, p.k, in.ap(), in.wp(), p.w_stride, c32.data());
    ASSERT_TRUE(check_output(c32, c_size, want.s32, 1, p.n, b, e, kSentinelS32, Compare::exact))
        << "gemv_s32";
    std::vector<float> cf(c_size, kSentinelF32);
    v.gemv_f32(b, e, p.k, in.ap(), in.a_scale, in.wp(), p.w_stride, in.w_scale.data(), cf.data());
    ASSERT_TRUE(check_output(cf, c_size, want.f32, 1, p.n, b, e, kSentinelF32, Compare::exact))
        << "gemv_f32";
  }
}

// ---------------------------------------------------------------------------- the reference

// The reference GEMV against an int64 loop, on rows with gaps (checked in guarded memory too).
TEST(KernelReference, GemvOnCanonicalRowsMatchesPlainLoops) {
  std::uint64_t salt = 40000;
  for (const std::uint32_t n : {1u, 2u, 17u}) {
    for (const std::uint32_t k : {1u, 5u, 64u, 577u}) {
      for (const std::size_t gap : {std::size_t{0}, std::size_t{9}}) {
        const GemvProblem p{n, k, k + gap, Fill::random, Fill::alternating, case_seed(salt++)};
        SCOPED_TRACE(p.describe());
        const GemvInputs in(p, 1);
        const QGemmVariant& ref = reference();
        std::vector<std::int32_t> c32(n);
        std::vector<float> cf(n);
        ref.gemv_s32(0, n, k, in.ap(), in.wp(), p.w_stride, c32.data());
        ref.gemv_f32(0, n, k, in.ap(), in.a_scale, in.wp(), p.w_stride, in.w_scale.data(),
                     cf.data());
        for (std::uint32_t j = 0; j < n; ++j) {
          std::int64_t sum = 0;
          for (std::uint32_t t = 0; t < k; ++t) {
            sum += std::int64_t{in.a_values[t]} * in.w_rows[std::size_t{j} * k + t];
          }
          ASSERT_EQ(c32[j], sum) << "row " << j;
          const float f = (in.a_scale * in.w_scale[j]) * static_cast<float>(sum);
          ASSERT_EQ(std::bit_cast<std::uint32_t>(cf[j]), std::bit_cast<std::uint32_t>(f))
              << "row " << j;
        }
      }
    }
  }
}

// The contract's block property, which the driver relies on: packing a panel that starts on a
// multiple of nr gives the bytes the whole matrix has there, and the size is per block.
TEST(KernelReference, PackedLayoutIsIndependentBlocksOfNrColumns) {
  std::uint64_t salt = 41000;
  for (const QGemmVariant& v : qgemm_variants()) {
    if (!supported_here(v)) continue;
    SCOPED_TRACE(v.name);
    for (const std::uint32_t k : {1u, 7u, v.kr, v.kr + 1, 100u}) {
      for (const std::uint32_t n : {1u, v.nr - 1, v.nr, 2 * v.nr + 3, 3 * v.nr}) {
        if (n == 0) continue;
        SCOPED_TRACE("N=" + std::to_string(n) + " K=" + std::to_string(k));
        const std::size_t block = v.packed_size(v.nr, k);
        const std::uint32_t blocks = (n + v.nr - 1) / v.nr;
        ASSERT_EQ(v.packed_size(n, k), blocks * block);
        std::mt19937_64 rng(case_seed(salt++));
        const std::vector<std::int8_t> w = make_int8(n, k, Fill::random, rng);
        AlignedBytes whole(v.packed_size(n, k));
        v.pack(n, k, w.data(), whole.data());
        for (std::uint32_t b = 0; b < blocks; ++b) {
          const std::uint32_t count = std::min(v.nr, n - b * v.nr);
          AlignedBytes one(block);
          v.pack(count, k, w.data() + std::size_t{b} * v.nr * k, one.data());
          ASSERT_EQ(
              0, std::memcmp(one.data(), static_cast<const std::uint8_t*>(whole.data()) + b * block,
                             block))
              << "block " << b;
        }
      }
    }
  }
}

// ----------------------------------------------------------- the GEMV of every variant

class QgemvKernel : public ::testing::TestWithParam<std::size_t> {
 protected:
  const QGemmVariant& variant() const { return qgemm_variants()[GetParam()]; }

  void SetUp() override {
    const QGemmVariant& v = variant();
    if (!supported_here(v)) {
      GTEST_SKIP() << v.gemv_name << " skipped: ISA " << v.isa << " is not supported by "
                   << cpu_name();
    }
    std::printf("[ kernels  ] testing %s on canonical rows\n", v.gemv_name);
  }
};

// Activations and weights: every int8 and the quantizer's range, extremes of both signs.
const Fill kFills[][2] = {{Fill::random, Fill::random},
                          {Fill::quantized, Fill::random},
                          {Fill::min, Fill::min},
                          {Fill::quantized, Fill::min},
                          {Fill::alternating, Fill::min},
                          {Fill::max, Fill::min},
                          {Fill::min, Fill::max},
                          {Fill::alternating, Fill::alternating},
                          {Fill::quantized, Fill::alternating},
                          {Fill::min, Fill::random}};

// Every K from 1 to 130 (below, at and above every K step a GEMV uses: 16, 32, 64, and twice
// that) with N across row blocks, and every N from 1 to 40 plus blocks of 64 with K across steps.
// Rows contiguous or with a gap of 1..13 junk bytes.
TEST_P(QgemvKernel, EdgeShapesAgainstReference) {
  const QGemmVariant& v = variant();
  std::uint64_t salt = 42000;
  const auto run = [&](std::uint32_t n, std::uint32_t k) {
    const auto& f = kFills[salt % std::size(kFills)];
    const std::uint64_t seed = case_seed(salt++);
    const std::size_t gap = seed % 3 == 0 ? 1 + seed % 13 : 0;
    check_gemv(v, {n, k, k + gap, f[0], f[1], seed});
  };
  std::set<std::uint32_t> ks, ns;
  for (std::uint32_t k = 1; k <= 130; ++k) ks.insert(k);
  for (const std::uint32_t k : {191u, 192u, 193u, 255u, 256u, 257u, 577u, 1021u}) ks.insert(k);
  for (std::uint32_t n = 1; n <= 40; ++n) ns.insert(n);
  for (const std::uint32_t n : {47u, 48u, 49u, 63u, 64u, 65u, 127u, 128u, 129u, 191u, 193u}) {
    ns.insert(n);
  }
  for (const std::uint32_t k : ks) {
    for (const std::uint32_t n : {1u, 3u, 4u, 5u, 8u, 15u, 16u, 17u, 33u, 65u}) {
      run(n, k);
      if (HasFatalFailure()) return;
    }
  }
  for (const std::uint32_t n : ns) {
    for (const std::uint32_t k : {1u, 13u, 16u, 31u, 32u, 63u, 64u, 65u, 97u, 128u, 129u}) {
      run(n, k);
      if (HasFatalFailure()) return;
    }
  }
}

TEST_P(QgemvKernel, MobileLlmShapesAgainstReference) {
  struct Shape {
    std::uint32_t n, k;
  };
  // N x K of every linear layer of MobileLLM-125M, -350M and -1B, and the 125M output head.
  const Shape shapes[] = {{576, 576},   {192, 576},   {1536, 576}, {576, 1536},  {960, 960},
                          {320, 960},   {2560, 960},  {960, 2560}, {1280, 1280}, {320, 1280},
                          {3584, 1280}, {1280, 3584}, {32000, 576}};
  std::uint64_t salt = 43000;
  for (const Shape& s : shapes) {
    for (const Fill a_fill : {Fill::quantized, Fill::random}) {
      if (s.n == 32000 && a_fill == Fill::random) continue;  // the head once: 18 MB
      check_gemv(variant(), {s.n, s.k, s.k, a_fill, Fill::random, case_seed(salt++)});
      if (HasFatalFailure()) return;
    }
  }
  // Extremes at a real size: the largest sums of both signs.
  check_gemv(variant(), {576, 1536, 1536, Fill::min, Fill::min, case_seed(salt++)});
  if (HasFatalFailure()) return;
  check_gemv(variant(), {576, 1536, 1536, Fill::alternating, Fill::max, case_seed(salt++)});
}

// K = kMaxK, sums at the int32 limits of both signs (offset-based kernels wrap in between).
TEST_P(QgemvKernel, LargestKAtInt32Limits) {
  std::uint64_t salt = 44000;
  const Fill fills[][2] = {{Fill::min, Fill::min},
                           {Fill::max, Fill::min},
                           {Fill::min, Fill::max},
                           {Fill::max, Fill::max},
                           {Fill::max, Fill::random}};
  for (const auto& f : fills) {
    check_gemv(variant(), {21, kMaxK, kMaxK, f[0], f[1], case_seed(salt++)});
    if (HasFatalFailure()) return;
  }
}

std::string variant_param_name(const ::testing::TestParamInfo<std::size_t>& info) {
  return qgemm_variants()[info.param].isa;
}

// Every variant but the reference itself (index 0).
INSTANTIATE_TEST_SUITE_P(Kernels, QgemvKernel,
                         ::testing::Range<std::size_t>(1, qgemm_variants().size()),
                         variant_param_name);
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(QgemvKernel);

// ------------------------------------------------------------------------------- the driver

class QgemmCanonical : public ::testing::TestWithParam<std::size_t> {
 protected:
  const QGemmVariant& variant() const { return qgemm_variants()[GetParam()]; }

  void SetUp() override {
    const QGemmVariant& v = variant();
    if (!supported_here(v)) {
      GTEST_SKIP() << v.name << " skipped: ISA " << v.isa << " is not supported by " << cpu_name();
    }
    std::printf("[ kernels  ] testing qgemm_f32_canonical with %s (panels of %u columns)\n", v.name,
                qgemm_panel_columns(v));
  }

  // The driver against v.gemm_f32 on the whole matrix packed at once, bit for bit, on the whole
  // of N and on chunks. W and the workspace end at an inaccessible page.
  void run(std::uint32_t m, std::uint32_t n, std::uint32_t k, std::size_t gap, std::uint64_t seed) {
    const QGemmVariant& v = variant();
    const std::size_t w_stride = k + gap;
    SCOPED_TRACE(std::string(v.name) + ", M=" + std::to_string(m) + " N=" + std::to_string(n) +
                 " K=" + std::to_string(k) + " w_stride=" + std::to_string(w_stride) +
                 ", case seed " + std::to_string(seed) +
                 " (MOBILELLM_TEST_SEED=" + std::to_string(base_seed()) + ")");
    std::mt19937_64 rng(seed);
    const Fill fill = seed % 5 == 0 ? Fill::alternating : Fill::random;
    const std::vector<std::int8_t> w_rows = make_int8(n, k, fill, rng);
    const std::vector<std::int8_t> a_rows = make_int8(m, k, Fill::random, rng);
    const std::vector<float> a_scale = make_scales(m, 1e-3f, 1e-1f, rng);
    const std::vector<float> w_scale = make_scales(n, 1e-4f, 1e-2f, rng);

    GuardedBytes w(std::size_t{n - 1} * w_stride + k);
    std::memset(w.data(), 0x77, w.size());
    for (std::uint32_t j = 0; j < n; ++j) {
      std::memcpy(w.data() + j * w_stride, w_rows.data() + std::size_t{j} * k, k);
    }
    const std::size_t a_stride = k_padded(k, v.kr) + seed % 2;
    std::vector<std::int8_t> a(m * a_stride, 0);
    for (std::uint32_t i = 0; i < m; ++i) {
      std::memcpy(a.data() + i * a_stride, a_rows.data() + std::size_t{i} * k, k);
    }

    AlignedBytes packed(v.packed_size(n, k));
    v.pack(n, k, w_rows.data(), packed.data());
    std::vector<float> want(std::size_t{m} * n);
    v.gemm_f32(m, 0, n, k, a.data(), a_stride, a_scale.data(), packed.data(), w_scale.data(),
               want.data(), n);

    // Exactly qgemm_workspace_size bytes, ending at the guard page (so aligned to
    // kPackedAlignment only when the size is a multiple of it: any alignment is correct).
    GuardedBytes workspace(qgemm_workspace_size(v, k));
    const std::size_t c_stride = n + kSpareColumns;
    for (const auto& [b, e] : column_ranges(n, v.nr, rng)) {
      SCOPED_TRACE("columns [" + std::to_string(b) + ", " + std::to_string(e) + ")");
      std::vector<float> c(m * c_stride, kSentinelF32);
      qgemm_f32_canonical(v, m, b, e, k, a.data(), a_stride, a_scale.data(),
                          reinterpret_cast<const std::int8_t*>(w.data()), w_stride, w_scale.data(),
                          workspace.data(), c.data(), c_stride);
      ASSERT_TRUE(check_output(c, c_stride, want, m, n, b, e, kSentinelF32, Compare::exact));
    }
  }
};

TEST_P(QgemmCanonical, BitExactWithTheWholeMatrixPacked) {
  const QGemmVariant& v = variant();
  const std::uint32_t panel = qgemm_panel_columns(v);
  ASSERT_GE(panel, v.nr);
  ASSERT_EQ(panel % v.nr, 0u) << "panels must start on block boundaries";
  std::set<std::uint32_t> ns = {1, 2, 3, 17};
  for (const std::uint32_t x : {v.nr, panel, 2 * panel, 3 * panel}) {
    ns.insert({x - 1, x, x + 1});
  }
  ns.erase(0);
  ns.insert(2 * panel + v.nr + 1);
  std::uint64_t salt = 45000;
  for (std::uint32_t m = 1; m <= 17; ++m) {
    for (const std::uint32_t k : {1u, 3u, v.kr + 1, 64u, 65u, 200u}) {
      for (const std::uint32_t n : ns) {
        if (m > 4 && n > 2 * panel && k > 64) continue;  // the large cases at M <= 4 only
        const std::uint64_t seed = case_seed(salt++);
        run(m, n, k, seed % 4 == 0 ? 1 + seed % 7 : 0, seed);
        if (HasFatalFailure()) return;
      }
    }
  }
}

TEST_P(QgemmCanonical, MobileLlmShapes) {
  std::uint64_t salt = 46000;
  const std::pair<std::uint32_t, std::uint32_t> shapes[] = {{576, 576},  {192, 576},  {1536, 576},
                                                            {576, 1536}, {2560, 960}, {1280, 3584}};
  for (const auto& [n, k] : shapes) {
    for (const std::uint32_t m : {2u, 9u}) {
      run(m, n, k, 0, case_seed(salt++));
      if (HasFatalFailure()) return;
    }
  }
}

// Every variant, the reference included: the driver only calls a variant's own functions.
INSTANTIATE_TEST_SUITE_P(Kernels, QgemmCanonical,
                         ::testing::Range<std::size_t>(0, qgemm_variants().size()),
                         variant_param_name);

}  // namespace
}  // namespace mobilellm::kernels
