// Tests of the W8A8 kernels (kernels/kernels.hpp).
//
// The oracle is the scalar reference (kernels/ref), and the reference itself is checked first
// against values worked out by hand and against an int64 triple loop written here. Every other
// variant compiled into this build is then compared with the reference: exact int32 sums
// (gemm_s32, gemv_s32), and the float paths (gemm_f32, and gemv_f32 on the canonical rows) over
// edge-heavy shapes derived from the variant's own tile (M = 1..17; K and N below, at and above
// kr and nr, primes), the real MobileLLM shapes, N sub-ranges on nr boundaries, and int8
// extremes (-128 and 127 everywhere, alternating, random). Variants this CPU cannot run are
// skipped with a message saying so. The data come from one seed, printed; MOBILELLM_TEST_SEED=N
// replays a run. The GEMV's own edge cases (guarded memory, row gaps) and the prefill driver are
// tested in test_kernels_canonical.cpp.
#include <algorithm>
#include <bit>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <new>
#include <random>
#include <set>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "kernels/kernels.hpp"
#include "mobilellm/error.hpp"
#include "test_kernels.hpp"

namespace mobilellm::kernels {
namespace {

using namespace test;  // NOLINT(google-build-using-namespace): the shared helpers

// ------------------------------------------------------------------------------------- helpers

struct Problem {
  std::uint32_t m = 0, n = 0, k = 0;
  Fill a_fill = Fill::random, w_fill = Fill::random;
  std::uint64_t seed = 0;

  std::string describe() const {
    return "M=" + std::to_string(m) + " N=" + std::to_string(n) + " K=" + std::to_string(k) +
           ", A " + fill_name(a_fill) + ", W " + fill_name(w_fill) + ", case seed " +
           std::to_string(seed) + " (MOBILELLM_TEST_SEED=" + std::to_string(base_seed()) + ")";
  }
};

// A problem's canonical inputs (A and W as plain rows of K) and the reference's results.
struct Instance {
  Problem p;
  std::vector<std::int8_t> a, w;  // m x k, n x k
  std::vector<float> a_scale, w_scale;
  std::vector<std::int32_t> want_s32;  // m x n
  std::vector<float> want_f32;         // m x n
};

// A laid out for a variant: rows `stride` bytes apart, zeros in [k, k_padded) as the contract
// requires, and junk after k_padded that no kernel may use.
std::vector<std::int8_t> lay_out_a(const Instance& in, std::size_t stride, std::uint32_t kp) {
  std::vector<std::int8_t> out(in.p.m * stride, 0);
  for (std::uint32_t i = 0; i < in.p.m; ++i) {
    std::memcpy(out.data() + i * stride, in.a.data() + std::size_t{i} * in.p.k, in.p.k);
    for (std::size_t j = kp; j < stride; ++j) out[i * stride + j] = static_cast<std::int8_t>(0x5b);
  }
  return out;
}

Instance make_instance(const Problem& p) {
  Instance in;
  in.p = p;
  std::mt19937_64 rng(p.seed);
  in.a = make_int8(p.m, p.k, p.a_fill, rng);
  in.w = make_int8(p.n, p.k, p.w_fill, rng);
  in.a_scale = make_scales(p.m, 1e-3f, 1e-1f, rng);
  in.w_scale = make_scales(p.n, 1e-4f, 1e-2f, rng);

  const QGemmVariant& ref = reference();
  AlignedBytes packed(ref.packed_size(p.n, p.k));
  ref.pack(p.n, p.k, in.w.data(), packed.data());
  const std::uint32_t kp = k_padded(p.k, ref.kr);
  const std::vector<std::int8_t> a = lay_out_a(in, kp, kp);
  in.want_s32.assign(std::size_t{p.m} * p.n, 0);
  in.want_f32.assign(std::size_t{p.m} * p.n, 0.0f);
  ref.gemm_s32(p.m, 0, p.n, p.k, a.data(), kp, packed.data(), in.want_s32.data(), p.n);
  ref.gemm_f32(p.m, 0, p.n, p.k, a.data(), kp, in.a_scale.data(), packed.data(), in.w_scale.data(),
               in.want_f32.data(), p.n);
  return in;
}

// Everything one variant must get right on one problem instance.
void check_variant(const QGemmVariant& v, const Instance& in, std::mt19937_64& rng) {
  const Problem& p = in.p;
  SCOPED_TRACE(std::string(v.name) + ", " + p.describe());

  AlignedBytes packed(v.packed_size(p.n, p.k));
  v.pack(p.n, p.k, in.w.data(), packed.data());
  const std::uint32_t kp = k_padded(p.k, v.kr);
  // Strides: exactly k_padded, or a few bytes more (junk that must not be read).
  const std::size_t a_stride = kp + (p.seed % 2 == 0 ? 0 : 3);
  const std::vector<std::int8_t> a = lay_out_a(in, a_stride, kp);
  const std::size_t c_stride = p.n + kSpareColumns;
  const std::vector<float> ones_m(p.m, 1.0f), ones_n(p.n, 1.0f);
  std::vector<float> want_unit(in.want_s32.size());
  for (std::size_t i = 0; i < want_unit.size(); ++i) {
    want_unit[i] = static_cast<float>(in.want_s32[i]);
  }

  // Column ranges: all of N, then N cut into chunks at multiples of nr (as threads split it).
  std::vector<std::uint32_t> cuts = {0};
  while (cuts.back() < p.n) {
    const std::uint32_t next = cuts.back() + v.nr * static_cast<std::uint32_t>(1 + rng() % 3);
    cuts.push_back(std::min(next, p.n));
  }
  std::vector<std::pair<std::uint32_t, std::uint32_t>> ranges = {{0, p.n}};
  for (std::size_t i = 0; i + 1 < cuts.size() && cuts.size() > 2; ++i) {
    ranges.emplace_back(cuts[i], cuts[i + 1]);
  }

  for (const auto& [b, e] : ranges) {
    SCOPED_TRACE("columns [" + std::to_string(b) + ", " + std::to_string(e) + ")");
    std::vector<std::int32_t> c32(p.m * c_stride, kSentinelS32);
    v.gemm_s32(p.m, b, e, p.k, a.data(), a_stride, packed.data(), c32.data(), c_stride);
    ASSERT_TRUE(
        check_output(c32, c_stride, in.want_s32, p.m, p.n, b, e, kSentinelS32, Compare::exact))
        << "gemm_s32";

    std::vector<float> cf(p.m * c_stride, kSentinelF32);
    v.gemm_f32(p.m, b, e, p.k, a.data(), a_stride, in.a_scale.data(), packed.data(),
               in.w_scale.data(), cf.data(), c_stride);
    ASSERT_TRUE(
        check_output(cf, c_stride, in.want_f32, p.m, p.n, b, e, kSentinelF32, Compare::close))
        << "gemm_f32";

    // Unit scales: the result is float(sum) exactly, in every variant.
    std::fill(cf.begin(), cf.end(), kSentinelF32);
    v.gemm_f32(p.m, b, e, p.k, a.data(), a_stride, ones_m.data(), packed.data(), ones_n.data(),
               cf.data(), c_stride);
    ASSERT_TRUE(check_output(cf, c_stride, want_unit, p.m, p.n, b, e, kSentinelF32, Compare::exact))
        << "gemm_f32 with unit scales";

    // The decode GEMV on the canonical rows (W as given, rows k bytes apart), each row of A.
    for (std::uint32_t i = 0; i < p.m; ++i) {
      SCOPED_TRACE("gemv on row " + std::to_string(i));
      const std::vector<float> want_row(in.want_f32.begin() + std::size_t{i} * p.n,
                                        in.want_f32.begin() + std::size_t{i + 1} * p.n);
      const std::vector<std::int32_t> want_row32(in.want_s32.begin() + std::size_t{i} * p.n,
                                                 in.want_s32.begin() + std::size_t{i + 1} * p.n);
      std::vector<std::int32_t> row32(c_stride, kSentinelS32);
      v.gemv_s32(b, e, p.k, a.data() + i * a_stride, in.w.data(), p.k, row32.data());
      ASSERT_TRUE(
          check_output(row32, c_stride, want_row32, 1, p.n, b, e, kSentinelS32, Compare::exact))
          << "gemv_s32";
      std::vector<float> row(c_stride, kSentinelF32);
      v.gemv_f32(b, e, p.k, a.data() + i * a_stride, in.a_scale[i], in.w.data(), p.k,
                 in.w_scale.data(), row.data());
      ASSERT_TRUE(check_output(row, c_stride, want_row, 1, p.n, b, e, kSentinelF32, Compare::exact))
          << "gemv_f32";
    }
  }

  // All chunks into one buffer, in reverse order: together they produce the whole result.
  if (ranges.size() > 2) {
    std::vector<std::int32_t> c32(p.m * c_stride, kSentinelS32);
    for (std::size_t r = ranges.size(); r-- > 1;) {
      v.gemm_s32(p.m, ranges[r].first, ranges[r].second, p.k, a.data(), a_stride, packed.data(),
                 c32.data(), c_stride);
    }
    ASSERT_TRUE(
        check_output(c32, c_stride, in.want_s32, p.m, p.n, 0, p.n, kSentinelS32, Compare::exact))
        << "gemm_s32 over all chunks";
  }
}

// ------------------------------------------------------------------ the registry and selection

TEST(KernelRegistry, ListsEveryVariantAndWhichRunHere) {
  const auto gemms = qgemm_variants();
  const auto quantizers = quantize_variants();
  ASSERT_FALSE(gemms.empty());
  ASSERT_FALSE(quantizers.empty());
  EXPECT_STREQ(gemms[0].isa, "scalar");
  EXPECT_STREQ(quantizers[0].isa, "scalar");

  std::printf("[ kernels  ] CPU: %s\n", cpu_name().c_str());
  std::set<std::string> isas, names;
  for (const QGemmVariant& v : gemms) {
    std::printf("[ kernels  ]   %-44s %-38s %s\n", v.name, v.gemv_name,
                supported_here(v) ? "runs here" : "SKIPPED: not supported by this CPU");
    EXPECT_TRUE(isas.insert(v.isa).second) << "two GEMM variants for ISA " << v.isa;
    EXPECT_TRUE(names.insert(v.name).second) << v.name;
    EXPECT_GE(v.mr, 1u);
    EXPECT_GE(v.nr, 1u);
    EXPECT_GE(v.kr, 1u);
    // The name states the tile: ..._<mr>x<nr>c<kr>.
    const std::string tile =
        "_" + std::to_string(v.mr) + "x" + std::to_string(v.nr) + "c" + std::to_string(v.kr);
    const std::string name = v.name;
    EXPECT_TRUE(name.size() > tile.size() && name.ends_with(tile)) << name << " vs tile " << tile;
    EXPECT_NE(name.find(std::string("__") + v.isa + "_"), std::string::npos) << name;
    // Every entry point is there; the GEMV is named for its ISA as well.
    EXPECT_TRUE(v.packed_size && v.pack && v.gemm_s32 && v.gemm_f32 && v.gemv_f32 && v.gemv_s32)
        << name;
    const std::string gemv = v.gemv_name;
    EXPECT_TRUE(gemv.starts_with("qgemv_f32_qs8dx_qs8cx__" + std::string(v.isa) + "_")) << gemv;
  }
  for (const QuantizeVariant& q : quantizers) {
    std::printf("[ kernels  ]   %-44s %s\n", q.name,
                q.supported(cpu_features()) ? "runs here" : "SKIPPED: not supported by this CPU");
    EXPECT_TRUE(isas.count(q.isa) == 1) << q.name << ": no GEMM variant for ISA " << q.isa;
  }
  EXPECT_TRUE(isa_scalar_supported(cpu_features()));
}

CpuFeatures no_features() { return CpuFeatures{}; }

CpuFeatures all_features() {
  CpuFeatures f;
  f.avx2 = f.fma = f.avx512f = f.avx512bw = f.avx512vl = f.avx512vnni = true;
  f.neon = f.dotprod = f.i8mm = true;
  f.model = "every feature";
  return f;
}

TEST(KernelSelection, AutoPicksTheMostPreferredSupportedVariant) {
  const auto gemms = qgemm_variants();
  EXPECT_EQ(&resolve_qgemm("", no_features()), &gemms[0]);
  EXPECT_EQ(&resolve_qgemm("auto", no_features()), &gemms[0]);
  EXPECT_EQ(&resolve_qgemm("auto", all_features()), &gemms.back());
  EXPECT_EQ(&resolve_quantize("auto", no_features()), &quantize_variants()[0]);

  // On this CPU: the last supported row of the table.
  const QGemmVariant* best = &gemms[0];
  for (const QGemmVariant& v : gemms) {
    if (supported_here(v)) best = &v;
  }
  EXPECT_EQ(&resolve_qgemm("auto", cpu_features()), best);
}

TEST(KernelSelection, NamesEveryIsaAndRefusesWhatTheCpuLacks) {
  for (const QGemmVariant& v : qgemm_variants()) {
    SCOPED_TRACE(v.isa);
    EXPECT_EQ(&resolve_qgemm(v.isa, all_features()), &v);
    if (std::string(v.isa) == "scalar") {
      EXPECT_EQ(&resolve_qgemm(v.isa, no_features()), &v);
      continue;
    }
    try {
      resolve_qgemm(v.isa, no_features());
      ADD_FAILURE() << "a CPU without features accepted " << v.isa;
    } catch (const InvalidArgument& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find("not supported"), std::string::npos) << what;
      EXPECT_NE(what.find(v.isa), std::string::npos) << what;
      EXPECT_NE(what.find("supported here: auto, scalar"), std::string::npos) << what;
    }
  }
}

TEST(KernelSelection, UnknownNameThrowsListingTheValidOnes) {
  for (const char* bad : {"avx9000", "AVX2", "scalar ", "\x01\xff"}) {
    try {
      resolve_qgemm(bad, all_features());
      ADD_FAILURE() << "accepted \"" << bad << "\"";
    } catch (const InvalidArgument& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find("unknown kernel ISA"), std::string::npos) << what;
      EXPECT_NE(what.find("auto"), std::string::npos) << what;
      for (const QGemmVariant& v : qgemm_variants()) {
        EXPECT_NE(what.find(v.isa), std::string::npos) << what;
      }
      EXPECT_EQ(what.find('\x01'), std::string::npos) << "control byte echoed: " << what;
    }
    EXPECT_THROW(select_qgemm(bad), InvalidArgument);
    EXPECT_THROW(select_quantize(bad), InvalidArgument);
  }
}

TEST(KernelSelection, QuantizerIsTheBestAtOrBelowTheGemmIsa) {
  const auto gemms = qgemm_variants();
  const auto rank = [&](const char* isa) {
    for (std::size_t i = 0; i < gemms.size(); ++i) {
      if (std::string(gemms[i].isa) == isa) return static_cast<int>(i);
    }
    return -1;
  };
  for (const CpuFeatures& cpu : {no_features(), all_features(), cpu_features()}) {
    for (const QGemmVariant& g : gemms) {
      if (!g.supported(cpu)) continue;
      SCOPED_TRACE(std::string(g.isa) + " on " + cpu.model);
      const QuantizeVariant& chosen = resolve_quantize(g.isa, cpu);
      EXPECT_TRUE(chosen.supported(cpu));
      EXPECT_LE(rank(chosen.isa), rank(g.isa));
      for (const QuantizeVariant& q : quantize_variants()) {
        if (q.supported(cpu) && rank(q.isa) <= rank(g.isa)) {
          EXPECT_LE(rank(q.isa), rank(chosen.isa)) << q.name << " would have been better";
        }
      }
    }
  }
}

TEST(KernelSelection, OverrideArgumentSelectsThatIsa) {
  for (const QGemmVariant& v : qgemm_variants()) {
    if (!supported_here(v)) {
      EXPECT_THROW(select_qgemm(v.isa), InvalidArgument) << v.isa;
      continue;
    }
    EXPECT_EQ(&select_qgemm(v.isa), &v);
    EXPECT_EQ(&select_quantize(v.isa), &resolve_quantize(v.isa, cpu_features()));
  }
  EXPECT_EQ(&select_qgemm("auto"), &resolve_qgemm("auto", cpu_features()));
}

// select_qgemm() without an argument follows MOBILELLM_KERNELS. ctest also runs this test with
// MOBILELLM_KERNELS=scalar and with an unknown name (kernels/CMakeLists.txt).
TEST(KernelSelection, DefaultFollowsTheEnvironment) {
  const char* env = std::getenv("MOBILELLM_KERNELS");
  const std::string name = env != nullptr ? env : "";
  std::printf("[ kernels  ] MOBILELLM_KERNELS=\"%s\"\n", name.c_str());
  const QGemmVariant* expected = nullptr;
  try {
    expected = &resolve_qgemm(name, cpu_features());
  } catch (const InvalidArgument&) {
  }
  if (expected == nullptr) {
    try {
      select_qgemm();
      ADD_FAILURE() << "MOBILELLM_KERNELS=" << name << " was accepted";
    } catch (const InvalidArgument& e) {
      EXPECT_NE(std::string(e.what()).find("MOBILELLM_KERNELS"), std::string::npos) << e.what();
    }
    EXPECT_THROW(select_quantize(), InvalidArgument);
    return;
  }
  std::printf("[ kernels  ] selected %s / %s\n", select_qgemm().name, select_quantize().name);
  EXPECT_EQ(&select_qgemm(), expected);
  EXPECT_EQ(&select_qgemm(), &select_qgemm()) << "chosen once";
  EXPECT_EQ(&select_quantize(), &resolve_quantize(name, cpu_features()));
}

// ------------------------------------------------------------------- the reference itself

// Values worked out by hand: A = [[1, 2, 3], [-128, 127, 0]], W = [[1, 0, -1], [127, -128, 2]].
TEST(KernelReference, HandComputedProductOnEveryVariant) {
  const std::int8_t w[] = {1, 0, -1, 127, -128, 2};
  const std::int32_t want[] = {1 - 3, 127 - 256 + 6, -128, -128 * 127 - 127 * 128};
  const float a_scale[] = {0.5f, 0.25f}, w_scale[] = {2.0f, 4.0f};
  // (a_scale * w_scale) * sum, each product exact in binary.
  const float want_f32[] = {-2.0f, -123.0f * 2.0f, -64.0f, -32512.0f};
  for (const QGemmVariant& v : qgemm_variants()) {
    if (!supported_here(v)) continue;
    SCOPED_TRACE(v.name);
    AlignedBytes packed(v.packed_size(2, 3));
    v.pack(2, 3, w, packed.data());
    const std::size_t stride = k_padded(3, v.kr);
    std::vector<std::int8_t> a(2 * stride, 0);
    const std::int8_t rows[2][3] = {{1, 2, 3}, {-128, 127, 0}};
    for (int i = 0; i < 2; ++i) std::memcpy(a.data() + i * stride, rows[i], 3);
    std::int32_t c[4] = {};
    v.gemm_s32(2, 0, 2, 3, a.data(), stride, packed.data(), c, 2);
    EXPECT_EQ(std::vector<std::int32_t>(c, c + 4), std::vector<std::int32_t>(want, want + 4));
    float cf[4] = {};
    v.gemm_f32(2, 0, 2, 3, a.data(), stride, a_scale, packed.data(), w_scale, cf, 2);
    EXPECT_EQ(std::vector<float>(cf, cf + 4), std::vector<float>(want_f32, want_f32 + 4));
    float row[2] = {};
    v.gemv_f32(0, 2, 3, a.data() + stride, a_scale[1], w, 3, w_scale, row);
    EXPECT_EQ(std::vector<float>(row, row + 2), std::vector<float>(want_f32 + 2, want_f32 + 4));
    std::int32_t row32[2] = {};
    v.gemv_s32(0, 2, 3, a.data(), w, 3, row32);
    EXPECT_EQ(std::vector<std::int32_t>(row32, row32 + 2),
              std::vector<std::int32_t>(want, want + 2));
    // The same W with rows 5 bytes apart (junk in between), as a file may lay them out.
    const std::int8_t spaced[] = {1, 0, -1, 99, -99, 127, -128, 2};
    v.gemv_s32(0, 2, 3, a.data() + stride, spaced, 5, row32);
    EXPECT_EQ(std::vector<std::int32_t>(row32, row32 + 2),
              std::vector<std::int32_t>(want + 2, want + 4));
  }
}

// The reference against an int64 triple loop over the canonical rows, and its three paths
// against each other.
TEST(KernelReference, MatchesPlainLoops) {
  std::uint64_t salt = 0;
  for (const std::uint32_t m : {1u, 2u, 7u}) {
    for (const std::uint32_t n : {1u, 5u, 33u}) {
      for (const std::uint32_t k : {1u, 4u, 63u, 1000u}) {
        for (const Fill fill : {Fill::random, Fill::min, Fill::alternating}) {
          const Problem p{
              m, n, k, fill, fill == Fill::alternating ? Fill::min : fill, case_seed(salt++)};
          SCOPED_TRACE(p.describe());
          const Instance in = make_instance(p);
          for (std::uint32_t i = 0; i < m; ++i) {
            for (std::uint32_t j = 0; j < n; ++j) {
              std::int64_t sum = 0;
              for (std::uint32_t t = 0; t < k; ++t) {
                sum += std::int64_t{in.a[std::size_t{i} * k + t]} * in.w[std::size_t{j} * k + t];
              }
              ASSERT_EQ(in.want_s32[std::size_t{i} * n + j], sum) << i << "," << j;
              const float f = (in.a_scale[i] * in.w_scale[j]) * static_cast<float>(sum);
              ASSERT_EQ(std::bit_cast<std::uint32_t>(in.want_f32[std::size_t{i} * n + j]),
                        std::bit_cast<std::uint32_t>(f))
                  << i << "," << j;
            }
          }
          // The GEMVs on the canonical rows, row by row, equal gemm_s32 / gemm_f32; and on
          // rows spread `k + 3` bytes apart with junk in the gaps.
          const QGemmVariant& ref = reference();
          const std::size_t spread = k + 3;
          std::vector<std::int8_t> spaced(n * spread, static_cast<std::int8_t>(0x6d));
          for (std::uint32_t j = 0; j < n; ++j) {
            std::memcpy(spaced.data() + j * spread, in.w.data() + std::size_t{j} * k, k);
          }
          std::vector<float> row(n);
          std::vector<std::int32_t> row32(n);
          for (std::uint32_t i = 0; i < m; ++i) {
            const std::int8_t* a = in.a.data() + std::size_t{i} * k;
            for (const auto& [w, stride] : {std::pair{in.w.data(), std::size_t{k}},
                                            std::pair{std::as_const(spaced).data(), spread}}) {
              ref.gemv_f32(0, n, k, a, in.a_scale[i], w, stride, in.w_scale.data(), row.data());
              ASSERT_EQ(0, std::memcmp(row.data(), in.want_f32.data() + std::size_t{i} * n,
                                       n * sizeof(float)));
              ref.gemv_s32(0, n, k, a, w, stride, row32.data());
              ASSERT_EQ(0, std::memcmp(row32.data(), in.want_s32.data() + std::size_t{i} * n,
                                       n * sizeof(std::int32_t)));
            }
          }
        }
      }
    }
  }
}

// ------------------------------------------------------- every variant against the reference

class QgemmKernel : public ::testing::TestWithParam<std::size_t> {
 protected:
  const QGemmVariant& variant() const { return qgemm_variants()[GetParam()]; }

  void SetUp() override {
    const QGemmVariant& v = variant();
    if (!supported_here(v)) {
      GTEST_SKIP() << v.name << " skipped: ISA " << v.isa << " is not supported by " << cpu_name();
    }
    std::printf("[ kernels  ] testing %s and %s (tile %ux%uc%u)\n", v.name, v.gemv_name, v.mr, v.nr,
                v.kr);
  }

  void run(const Problem& p) {
    const Instance in = make_instance(p);
    std::mt19937_64 rng(p.seed ^ 0x5eed);
    check_variant(variant(), in, rng);
  }
};

// Sizes around a tile dimension t: below, at and above t, 2t and 3t, plus small primes.
std::vector<std::uint32_t> edge_sizes(std::uint32_t t, std::initializer_list<std::uint32_t> extra) {
  std::set<std::uint32_t> s(extra);
  for (const std::uint32_t x : {t - 1, t, t + 1, 2 * t - 1, 2 * t, 2 * t + 1, 3 * t + 1}) {
    if (x >= 1) s.insert(x);
  }
  return {s.begin(), s.end()};
}

TEST_P(QgemmKernel, EdgeShapesAgainstReference) {
  const QGemmVariant& v = variant();
  const std::vector<std::uint32_t> ks = edge_sizes(v.kr, {1, 3, 7, 13, 31, 61, 127});
  const std::vector<std::uint32_t> ns = edge_sizes(v.nr, {1, 3, 7, 13, 31, 61});
  const Fill fills[][2] = {{Fill::random, Fill::random},     {Fill::min, Fill::min},
                           {Fill::alternating, Fill::min},   {Fill::max, Fill::min},
                           {Fill::min, Fill::max},           {Fill::alternating, Fill::alternating},
                           {Fill::random, Fill::alternating}};
  std::uint64_t salt = 1000;
  for (std::uint32_t m = 1; m <= 17; ++m) {
    for (const std::uint32_t k : ks) {
      for (const std::uint32_t n : ns) {
        const auto& f = fills[salt % std::size(fills)];
        run({m, n, k, f[0], f[1], case_seed(salt++)});
        if (HasFatalFailure()) return;
      }
    }
  }
}

TEST_P(QgemmKernel, MobileLlmShapesAgainstReference) {
  struct Shape {
    std::uint32_t n, k;
  };
  // N x K of every linear layer of MobileLLM-125M, -350M and -1B (q/o, k/v, gate/up, down).
  const Shape shapes[] = {{576, 576},   {192, 576},  {1536, 576},  {576, 1536},
                          {960, 960},   {320, 960},  {2560, 960},  {960, 2560},
                          {1280, 1280}, {320, 1280}, {3584, 1280}, {1280, 3584}};
  std::uint64_t salt = 5000;
  for (const Shape& s : shapes) {
    for (const std::uint32_t m : {1u, 5u}) {
      run({m, s.n, s.k, Fill::random, Fill::random, case_seed(salt++)});
      if (HasFatalFailure()) return;
    }
  }
  // The output head (32000 x 576), decode only.
  run({1, 32000, 576, Fill::random, Fill::random, case_seed(salt++)});
  if (HasFatalFailure()) return;
  // Extremes at a real size: the largest sums of this size.
  run({3, 576, 1536, Fill::min, Fill::min, case_seed(salt++)});
  if (HasFatalFailure()) return;
  run({3, 576, 1536, Fill::alternating, Fill::max, case_seed(salt++)});
}

// K = kMaxK with the largest possible sums of both signs (16384 * K just below 2^31): exact
// although offset-based variants wrap around int32 in between.
TEST_P(QgemmKernel, LargestKAtInt32Limits) {
  const QGemmVariant& v = variant();
  std::uint64_t salt = 9000;
  const Fill fills[][2] = {{Fill::min, Fill::min},
                           {Fill::max, Fill::min},
                           {Fill::min, Fill::max},
                           {Fill::max, Fill::max}};
  for (const auto& f : fills) {
    run({2, v.nr + 1, kMaxK, f[0], f[1], case_seed(salt++)});
    if (HasFatalFailure()) return;
  }
}

std::string variant_param_name(const ::testing::TestParamInfo<std::size_t>& info) {
  return qgemm_variants()[info.param].isa;
}

// Every variant but the reference itself (index 0). A build with the reference alone (a new
// architecture) instantiates nothing, which is fine.
INSTANTIATE_TEST_SUITE_P(Kernels, QgemmKernel,
                         ::testing::Range<std::size_t>(1, qgemm_variants().size()),
                         variant_param_name);
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(QgemmKernel);

// ----------------------------------------------------------------------------- the quantizer

struct Quantized {
  std::vector<std::int8_t> q;
  std::vector<float> scale;
};

// Runs a quantizer with rows `stride` bytes apart, every byte pre-set to a canary.
constexpr std::int8_t kCanary = 0x77;

Quantized quantize_with(const QuantizeVariant& v, std::uint32_t m, std::uint32_t k,
                        std::uint32_t kp, std::size_t q_stride, const std::vector<float>& x,
                        std::size_t x_stride) {
  Quantized out{std::vector<std::int8_t>(m * q_stride, kCanary), std::vector<float>(m, -1.0f)};
  v.run(m, k, kp, x.data(), x_stride, out.q.data(), q_stride, out.scale.data());
  return out;
}

// Hand-computed results, on every quantizer including the reference.
TEST(KernelReference, QuantizerHandComputedValues) {
  // Row 0: max 127, so the scale is exactly 1 and the quotients are the values themselves; the
  // halfway cases round away from zero, and the float just below 0.5 rounds to 0.
  // Row 1: max 1, scale 1/127: 0.25 -> 31.75 -> 32, -0.75 -> -95.25 -> -95, 0.1 -> 12.7 -> 13.
  // Row 2: zeros: scale 1. Row 3: a subnormal and a tiny normal below 127 * FLT_MIN: scale 1,
  // zeros. Row 4: exactly at the threshold, 127 * FLT_MIN: scale FLT_MIN, x / scale = 127.
  const float below_half = std::nextafter(0.5f, 0.0f);
  const float tiny = std::numeric_limits<float>::min();
  const std::uint32_t k = 9;
  const std::vector<float> x = {
      127.0f,        2.5f,          -2.5f,  0.5f, -0.5f, 1.5f, below_half, -126.5f, 0.0f,   // row 0
      1.0f,          0.25f,         -0.75f, 0.1f, 0.0f,  0.0f, 0.0f,       0.0f,    -1.0f,  // row 1
      0.0f,          -0.0f,         0.0f,   0.0f, 0.0f,  0.0f, 0.0f,       0.0f,    0.0f,   // row 2
      1e-40f,        tiny,          -tiny,  0.0f, 0.0f,  0.0f, 0.0f,       0.0f,    0.0f,   // row 3
      127.0f * tiny, -63.5f * tiny, 0.0f,   0.0f, 0.0f,  0.0f, 0.0f,       0.0f,    0.0f,   // row 4
  };
  const std::int8_t want[5][9] = {{127, 3, -3, 1, -1, 2, 0, -127, 0},
                                  {127, 32, -95, 13, 0, 0, 0, 0, -127},
                                  {0, 0, 0, 0, 0, 0, 0, 0, 0},
                                  {0, 0, 0, 0, 0, 0, 0, 0, 0},
                                  {127, -64, 0, 0, 0, 0, 0, 0, 0}};
  const float want_scale[5] = {1.0f, 1.0f / 127.0f, 1.0f, 1.0f, tiny};
  for (const QuantizeVariant& v : quantize_variants()) {
    if (!v.supported(cpu_features())) continue;
    SCOPED_TRACE(v.name);
    const std::uint32_t kp = 16;
    const Quantized out = quantize_with(v, 5, k, kp, 20, x, k);
    for (int i = 0; i < 5; ++i) {
      EXPECT_EQ(out.scale[i], want_scale[i]) << "row " << i;
      for (std::uint32_t j = 0; j < 20; ++j) {
        const std::int8_t expected = j < k ? want[i][j] : j < kp ? 0 : kCanary;
        EXPECT_EQ(out.q[i * 20 + j], expected) << "row " << i << " byte " << j;
      }
    }
  }
}

class QuantizeKernel : public ::testing::TestWithParam<std::size_t> {
 protected:
  const QuantizeVariant& variant() const { return quantize_variants()[GetParam()]; }

  void SetUp() override {
    const QuantizeVariant& v = variant();
    if (!v.supported(cpu_features())) {
      GTEST_SKIP() << v.name << " skipped: ISA " << v.isa << " is not supported by " << cpu_name();
    }
    std::printf("[ kernels  ] testing %s\n", v.name);
  }
};

// Rows of floats for the quantizer: `kind` 0..3 are normal values at magnitudes 1e-3, 1, 1e4 and
// 1e-30; 4 holds exact halfway cases (a maximum of 127 makes the scale exactly 1, so x / scale
// is x + 0.5 for an integer x); 5 is all zeros. Floats past k in a row are junk (1e30) that must
// not be read: seen by the maximum, it would change the scale.
std::vector<float> quantizer_rows(std::uint32_t m, std::uint32_t k, std::size_t stride,
                                  std::mt19937_64& rng) {
  std::vector<float> x(m * stride, 1e30f);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::uniform_int_distribution<int> integer(-126, 125);
  for (std::uint32_t i = 0; i < m; ++i) {
    float* row = x.data() + i * stride;
    const int kind = static_cast<int>(i % 6);
    const float magnitude[] = {1e-3f, 1.0f, 1e4f, 1e-30f};
    for (std::uint32_t j = 0; j < k; ++j) {
      if (kind < 4) row[j] = normal(rng) * magnitude[kind];
      if (kind == 4) row[j] = static_cast<float>(integer(rng)) + 0.5f;
      if (kind == 5) row[j] = 0.0f;
    }
    if (kind == 4) row[rng() % k] = rng() % 2 == 0 ? 127.0f : -127.0f;
  }
  return x;
}

TEST_P(QuantizeKernel, MatchesReferenceExactly) {
  const QuantizeVariant& v = variant();
  const QuantizeVariant& ref = quantize_variants()[0];
  std::set<std::uint32_t> ks = {63, 64, 65, 127, 576, 1000, 1536, 2560};
  for (std::uint32_t k = 1; k <= 40; ++k) ks.insert(k);
  std::uint64_t salt = 20000;
  for (const std::uint32_t k : ks) {
    for (const std::uint32_t kr : {1u, 4u, 8u}) {
      const std::uint64_t seed = case_seed(salt++);
      SCOPED_TRACE("K=" + std::to_string(k) + " k_padded(K, " + std::to_string(kr) +
                   "), case seed " + std::to_string(seed) +
                   " (MOBILELLM_TEST_SEED=" + std::to_string(base_seed()) + ")");
      std::mt19937_64 rng(seed);
      const std::uint32_t m = 7;
      const std::uint32_t kp = k_padded(k, kr);
      const std::size_t x_stride = k + seed % 3, q_stride = kp + seed % 5;
      const std::vector<float> x = quantizer_rows(m, k, x_stride, rng);
      const Quantized want = quantize_with(ref, m, k, kp, q_stride, x, x_stride);
      const Quantized got = quantize_with(v, m, k, kp, q_stride, x, x_stride);
      for (std::uint32_t i = 0; i < m; ++i) {
        ASSERT_EQ(std::bit_cast<std::uint32_t>(got.scale[i]),
                  std::bit_cast<std::uint32_t>(want.scale[i]))
            << "scale of row " << i << ": " << got.scale[i] << " vs " << want.scale[i];
      }
      for (std::size_t b = 0; b < want.q.size(); ++b) {
        ASSERT_EQ(got.q[b], want.q[b]) << "row " << b / q_stride << " byte " << b % q_stride;
      }
    }
  }
}

// Non-finite values give unspecified bytes, but only in their own row: the other rows are still
// exact, every row's padding is zero and nothing past k_padded is written.
TEST_P(QuantizeKernel, NonFiniteRowsStayContained) {
  const QuantizeVariant& v = variant();
  const QuantizeVariant& ref = quantize_variants()[0];
  const float inf = std::numeric_limits<float>::infinity();
  const float nan = std::numeric_limits<float>::quiet_NaN();
  for (const std::uint32_t k : {5u, 37u, 200u}) {
    SCOPED_TRACE("K=" + std::to_string(k));
    std::mt19937_64 rng(case_seed(30000 + k));
    const std::uint32_t m = 4, kp = k_padded(k, 8);
    const std::size_t q_stride = kp + 3;
    std::vector<float> x = quantizer_rows(m, k, k, rng);
    x[0] = nan;          // row 0: a NaN among normal values
    x[k + k / 2] = inf;  // row 1: an infinity
    x[3 * k] = -inf;     // row 3: -inf and NaN
    x[3 * k + k - 1] = nan;
    const Quantized want = quantize_with(ref, m, k, kp, q_stride, x, k);
    const Quantized got = quantize_with(v, m, k, kp, q_stride, x, k);
    EXPECT_EQ(std::bit_cast<std::uint32_t>(got.scale[2]),
              std::bit_cast<std::uint32_t>(want.scale[2]));
    for (std::uint32_t i = 0; i < m; ++i) {
      for (std::uint32_t j = 0; j < q_stride; ++j) {
        const std::int8_t g = got.q[i * q_stride + j];
        if (i == 2 && j < k) {
          ASSERT_EQ(g, want.q[i * q_stride + j]) << "finite row, byte " << j;
        } else if (j >= k) {
          ASSERT_EQ(g, j < kp ? 0 : kCanary) << "row " << i << " byte " << j;
        }
      }
    }
  }
}

std::string quantize_param_name(const ::testing::TestParamInfo<std::size_t>& info) {
  return quantize_variants()[info.param].isa;
}

INSTANTIATE_TEST_SUITE_P(Kernels, QuantizeKernel,
                         ::testing::Range<std::size_t>(1, quantize_variants().size()),
                         quantize_param_name);
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(QuantizeKernel);


// ------------------------------------------------------------ group-wise W8A8 ("g32") kernels
//
// The same structure for the grouped variants (kernels.hpp, "group-wise W8A8"): the reference
// against hand-computed values and plain loops, then every other grouped variant against the
// reference: exact int32 group sums (gemm_s32), and float results equal bit for bit (the contract
// fixes the order of every float operation), over K around every group boundary (tails of 1..31),
// N around the tile, M = 1..17, -128/127 extremes and the real shapes.

const QGemmG32Variant& g32_reference() { return qgemm_g32_variants()[0]; }

bool supported_here(const QGemmG32Variant& v) { return v.supported(cpu_features()); }

int gemm_isa_rank(const char* isa) {
  const auto gemms = qgemm_variants();
  for (std::size_t i = 0; i < gemms.size(); ++i) {
    if (std::string(gemms[i].isa) == isa) return static_cast<int>(i);
  }
  return -1;
}

// A grouped problem: canonical A and W, per-group scales, and the reference's results.
struct G32Instance {
  Problem p;
  std::uint32_t groups = 0;
  std::vector<std::int8_t> a, w;         // m x k, n x k
  std::vector<float> a_scale, w_scale;   // m x groups, n x groups
  std::vector<std::int32_t> want_s32;    // m x (n * groups)
  std::vector<float> want_f32;           // m x n
};

// A rows `stride` bytes apart: zeros in [k, k_padded(k, 32)), junk after that.
std::vector<std::int8_t> lay_out_g32(const std::vector<std::int8_t>& a, std::uint32_t m,
                                     std::uint32_t k, std::size_t stride) {
  const std::uint32_t kp = k_padded(k, kGroupSize);
  std::vector<std::int8_t> out(m * stride, 0);
  for (std::uint32_t i = 0; i < m; ++i) {
    std::memcpy(out.data() + i * stride, a.data() + std::size_t{i} * k, k);
    for (std::size_t j = kp; j < stride; ++j) out[i * stride + j] = static_cast<std::int8_t>(0x5b);
  }
  return out;
}

G32Instance make_g32_instance(const Problem& p) {
  G32Instance in;
  in.p = p;
  in.groups = group_count(p.k);
  std::mt19937_64 rng(p.seed);
  in.a = make_int8(p.m, p.k, p.a_fill, rng);
  in.w = make_int8(p.n, p.k, p.w_fill, rng);
  in.a_scale = make_scales(std::size_t{p.m} * in.groups, 1e-3f, 1e-1f, rng);
  in.w_scale = make_scales(std::size_t{p.n} * in.groups, 1e-4f, 1e-2f, rng);

  const QGemmG32Variant& ref = g32_reference();
  AlignedBytes packed(ref.packed_size(p.n, p.k));
  ref.pack(p.n, p.k, in.w.data(), in.w_scale.data(), packed.data());
  const std::uint32_t kp = k_padded(p.k, kGroupSize);
  const std::vector<std::int8_t> a = lay_out_g32(in.a, p.m, p.k, kp);
  in.want_s32.assign(std::size_t{p.m} * p.n * in.groups, 0);
  in.want_f32.assign(std::size_t{p.m} * p.n, 0.0f);
  ref.gemm_s32(p.m, 0, p.n, p.k, a.data(), kp, packed.data(), in.want_s32.data(),
               std::size_t{p.n} * in.groups);
  ref.gemm_f32(p.m, 0, p.n, p.k, a.data(), kp, in.a_scale.data(), packed.data(),
               in.want_f32.data(), p.n);
  return in;
}

// Everything one grouped variant must get right on one instance.
void check_g32_variant(const QGemmG32Variant& v, const G32Instance& in, std::mt19937_64& rng) {
  const Problem& p = in.p;
  const std::uint32_t groups = in.groups;
  SCOPED_TRACE(std::string(v.name) + ", " + p.describe());

  AlignedBytes packed(v.packed_size(p.n, p.k));
  v.pack(p.n, p.k, in.w.data(), in.w_scale.data(), packed.data());
  const std::size_t a_stride = k_padded(p.k, kGroupSize) + (p.seed % 2 == 0 ? 0 : 5);
  const std::vector<std::int8_t> a = lay_out_g32(in.a, p.m, p.k, a_stride);
  const std::size_t c_stride = p.n + kSpareColumns;
  const std::size_t c32_stride = std::size_t{p.n} * groups + kSpareColumns;

  // Column ranges: all of N, then N cut at up to 5 random multiples of nr (as threads split it;
  // fewer cuts than the per-row test: each range here checks n * groups sums).
  std::set<std::uint32_t> cut_set = {0, p.n};
  const std::uint32_t blocks = (p.n + v.nr - 1) / v.nr;
  for (int i = 0; i < 5 && blocks > 1; ++i) {
    cut_set.insert(static_cast<std::uint32_t>(1 + rng() % (blocks - 1)) * v.nr);
  }
  const std::vector<std::uint32_t> cuts(cut_set.begin(), cut_set.end());
  std::vector<std::pair<std::uint32_t, std::uint32_t>> ranges = {{0, p.n}};
  for (std::size_t i = 0; i + 1 < cuts.size() && cuts.size() > 2; ++i) {
    ranges.emplace_back(cuts[i], cuts[i + 1]);
  }

  for (const auto& [b, e] : ranges) {
    SCOPED_TRACE("columns [" + std::to_string(b) + ", " + std::to_string(e) + ")");
    std::vector<std::int32_t> c32(p.m * c32_stride, kSentinelS32);
    v.gemm_s32(p.m, b, e, p.k, a.data(), a_stride, packed.data(), c32.data(), c32_stride);
    ASSERT_TRUE(check_output(c32, c32_stride, in.want_s32, p.m,
                             static_cast<std::uint32_t>(std::size_t{p.n} * groups), b * groups,
                             e * groups, kSentinelS32, Compare::exact))
        << "gemm_s32 (group sums, " << groups << " per column)";

    std::vector<float> cf(p.m * c_stride, kSentinelF32);
    v.gemm_f32(p.m, b, e, p.k, a.data(), a_stride, in.a_scale.data(), packed.data(), cf.data(),
               c_stride);
    ASSERT_TRUE(
        check_output(cf, c_stride, in.want_f32, p.m, p.n, b, e, kSentinelF32, Compare::exact))
        << "gemm_f32";

    for (std::uint32_t i = 0; i < p.m; ++i) {
      SCOPED_TRACE("gemv_f32 on row " + std::to_string(i));
      const std::vector<float> want_row(in.want_f32.begin() + std::size_t{i} * p.n,
                                        in.want_f32.begin() + std::size_t{i + 1} * p.n);
      std::vector<float> row(c_stride, kSentinelF32);
      v.gemv_f32(b, e, p.k, a.data() + i * a_stride, in.a_scale.data() + std::size_t{i} * groups,
                 packed.data(), row.data());
      ASSERT_TRUE(
          check_output(row, c_stride, want_row, 1, p.n, b, e, kSentinelF32, Compare::exact));
    }
  }
}

TEST(KernelRegistry, ListsEveryGroupedVariant) {
  const auto grouped = qgemm_g32_variants();
  ASSERT_FALSE(grouped.empty());
  EXPECT_STREQ(grouped[0].isa, "scalar");
  std::set<std::string> isas;
  int last_rank = -1;
  for (const QGemmG32Variant& v : grouped) {
    std::printf("[ kernels  ]   %-46s %-40s %s\n", v.name, v.gemv_name,
                supported_here(v) ? "runs here" : "SKIPPED: not supported by this CPU");
    EXPECT_TRUE(isas.insert(v.isa).second) << "two grouped variants for ISA " << v.isa;
    // Same ISA names, in the same order of preference, as the per-row table.
    const int rank = gemm_isa_rank(v.isa);
    EXPECT_GT(rank, last_rank) << v.name << ": ISA missing from, or out of the order of, the "
                                            "per-row table";
    last_rank = rank;
    EXPECT_EQ(kGroupSize % v.kr, 0u) << v.name;
    const std::string tile =
        "_" + std::to_string(v.mr) + "x" + std::to_string(v.nr) + "c" + std::to_string(v.kr);
    const std::string name = v.name;
    EXPECT_TRUE(name.ends_with(tile)) << name << " vs tile " << tile;
    EXPECT_TRUE(name.starts_with("qgemm_f32_qs8dg32_qs8cg32__" + std::string(v.isa) + "_")) << name;
  }
}

TEST(KernelSelection, GroupedFollowsThePerRowChoice) {
  const auto grouped = qgemm_g32_variants();
  EXPECT_EQ(&resolve_qgemm_g32("auto", no_features()), &grouped[0]);
  EXPECT_EQ(&resolve_qgemm_g32("", all_features()), &grouped.back());
  for (const CpuFeatures& cpu : {no_features(), all_features(), cpu_features()}) {
    for (const QGemmVariant& g : qgemm_variants()) {
      if (!g.supported(cpu)) continue;
      SCOPED_TRACE(std::string(g.isa) + " on " + cpu.model);
      const QGemmG32Variant& chosen = resolve_qgemm_g32(g.isa, cpu);
      EXPECT_TRUE(chosen.supported(cpu));
      EXPECT_LE(gemm_isa_rank(chosen.isa), gemm_isa_rank(g.isa));
      for (const QGemmG32Variant& v : grouped) {
        if (v.supported(cpu) && gemm_isa_rank(v.isa) <= gemm_isa_rank(g.isa)) {
          EXPECT_LE(gemm_isa_rank(v.isa), gemm_isa_rank(chosen.isa)) << v.name << " is better";
        }
      }
      // An ISA with its own grouped variant gets exactly that one.
      for (const QGemmG32Variant& v : grouped) {
        if (std::string(v.isa) == g.isa) {
          EXPECT_EQ(&chosen, &v);
        }
      }
    }
  }
  EXPECT_THROW(resolve_qgemm_g32("avx9000", all_features()), InvalidArgument);
  EXPECT_THROW(select_qgemm_g32("avx9000"), InvalidArgument);
  EXPECT_EQ(&select_qgemm_g32("auto"), &resolve_qgemm_g32("auto", cpu_features()));
}

// Worked out by hand: K = 40 (a full group and a tail of 8), N = 2, M = 2.
TEST(KernelReference, GroupedHandComputedProductOnEveryVariant) {
  const std::uint32_t k = 40, groups = 2;
  std::vector<std::int8_t> w(2 * k, 0), a_rows(2 * k, 0);
  // W row 0: 1 in group 0 (k = 0..31), -1 in the tail (k = 32..39).
  // W row 1: -128 at k = 0 and k = 39, 127 at k = 31, 0 elsewhere.
  for (std::uint32_t i = 0; i < k; ++i) w[i] = i < 32 ? 1 : -1;
  w[k + 0] = -128;
  w[k + 31] = 127;
  w[k + 39] = -128;
  // A row 0: all 2. A row 1: -128 everywhere.
  for (std::uint32_t i = 0; i < k; ++i) {
    a_rows[i] = 2;
    a_rows[k + i] = -128;
  }
  // Group sums S[m][n][g]:
  //   row 0 x col 0: 32 * 2 = 64,  8 * -2 = -16      row 0 x col 1: -256 + 254 = -2,  -256
  //   row 1 x col 0: -4096,        8 * 128 = 1024    row 1 x col 1: 16384 - 16256 = 128, 16384
  const std::int32_t want_s32[] = {64, -16, -2, -256, -4096, 1024, 128, 16384};
  const float w_scale[] = {0.5f, 0.25f, 2.0f, 4.0f};  // [n][g]
  const float a_scale[] = {1.0f, 0.125f, 0.5f, 2.0f};  // [m][g]
  // acc = (as0 * ws0) * S0 + (as1 * ws1) * S1, every term exact in binary:
  //   (0,0): 0.5*64 + 0.03125*-16 = 32 - 0.5 = 31.5      (0,1): 2*-2 + 0.5*-256 = -4 - 128 = -132
  //   (1,0): 0.25*-4096 + 0.5*1024 = -1024 + 512 = -512  (1,1): 1*128 + 8*16384 = 131200
  const float want_f32[] = {31.5f, -132.0f, -512.0f, 131200.0f};
  for (const QGemmG32Variant& v : qgemm_g32_variants()) {
    if (!supported_here(v)) continue;
    SCOPED_TRACE(v.name);
    AlignedBytes packed(v.packed_size(2, k));
    v.pack(2, k, w.data(), w_scale, packed.data());
    const std::size_t stride = k_padded(k, kGroupSize);
    const std::vector<std::int8_t> a = lay_out_g32(a_rows, 2, k, stride);
    std::int32_t c[8] = {};
    v.gemm_s32(2, 0, 2, k, a.data(), stride, packed.data(), c, 2 * groups);
    EXPECT_EQ(std::vector<std::int32_t>(c, c + 8),
              std::vector<std::int32_t>(want_s32, want_s32 + 8));
    float cf[4] = {};
    v.gemm_f32(2, 0, 2, k, a.data(), stride, a_scale, packed.data(), cf, 2);
    EXPECT_EQ(std::vector<float>(cf, cf + 4), std::vector<float>(want_f32, want_f32 + 4));
    float row[2] = {};
    v.gemv_f32(0, 2, k, a.data() + stride, a_scale + groups, packed.data(), row);
    EXPECT_EQ(std::vector<float>(row, row + 2), std::vector<float>(want_f32 + 2, want_f32 + 4));
  }
}

// The grouped reference against an int64 loop per group and the contract's float expression.
TEST(KernelReference, GroupedMatchesPlainLoops) {
  std::uint64_t salt = 40000;
  for (const std::uint32_t m : {1u, 3u}) {
    for (const std::uint32_t n : {1u, 7u}) {
      for (const std::uint32_t k : {1u, 31u, 32u, 33u, 100u, 576u}) {
        for (const Fill fill : {Fill::random, Fill::min, Fill::alternating}) {
          const Problem p{m, n, k, fill, fill == Fill::alternating ? Fill::min : fill,
                          case_seed(salt++)};
          SCOPED_TRACE(p.describe());
          const G32Instance in = make_g32_instance(p);
          for (std::uint32_t i = 0; i < m; ++i) {
            for (std::uint32_t j = 0; j < n; ++j) {
              float acc = 0.0f;
              for (std::uint32_t g = 0; g < in.groups; ++g) {
                std::int64_t sum = 0;
                for (std::uint32_t t = g * kGroupSize; t < std::min(k, (g + 1) * kGroupSize); ++t) {
                  sum += std::int64_t{in.a[std::size_t{i} * k + t]} * in.w[std::size_t{j} * k + t];
                }
                ASSERT_EQ(in.want_s32[(std::size_t{i} * n + j) * in.groups + g], sum)
                    << i << "," << j << " group " << g;
                // The contract forbids fusing the product into the addition; this file is not
                // built with -ffp-contract=off (GCC fuses by default where the ISA has FMA, as
                // on aarch64), so the term goes through a volatile to keep its own rounding.
                const volatile float term = (in.a_scale[std::size_t{i} * in.groups + g] *
                                             in.w_scale[std::size_t{j} * in.groups + g]) *
                                            static_cast<float>(sum);
                acc = acc + term;
              }
              ASSERT_EQ(std::bit_cast<std::uint32_t>(in.want_f32[std::size_t{i} * n + j]),
                        std::bit_cast<std::uint32_t>(acc))
                  << i << "," << j;
            }
          }
        }
      }
    }
  }
}

class QgemmG32Kernel : public ::testing::TestWithParam<std::size_t> {
 protected:
  const QGemmG32Variant& variant() const { return qgemm_g32_variants()[GetParam()]; }

  void SetUp() override {
    const QGemmG32Variant& v = variant();
    if (!supported_here(v)) {
      GTEST_SKIP() << v.name << " skipped: ISA " << v.isa << " is not supported by " << cpu_name();
    }
    std::printf("[ kernels  ] testing %s and %s (tile %ux%uc%u, groups of %u)\n", v.name,
                v.gemv_name, v.mr, v.nr, v.kr, kGroupSize);
  }

  void run(const Problem& p) {
    const G32Instance in = make_g32_instance(p);
    std::mt19937_64 rng(p.seed ^ 0x5eed);
    check_g32_variant(variant(), in, rng);
  }
};

TEST_P(QgemmG32Kernel, EdgeShapesAgainstReference) {
  const QGemmG32Variant& v = variant();
  // K: every tail length of a first group, group boundaries, and a few multi-group tails.
  std::set<std::uint32_t> ks = {33, 47, 63, 64, 65, 95, 96, 97, 127, 172, 200};
  for (std::uint32_t k = 1; k <= 32; ++k) ks.insert(k);
  const std::vector<std::uint32_t> ns = edge_sizes(v.nr, {1, 3, 7, 13});
  const Fill fills[][2] = {{Fill::random, Fill::random},     {Fill::min, Fill::min},
                           {Fill::alternating, Fill::min},   {Fill::max, Fill::min},
                           {Fill::min, Fill::max},           {Fill::alternating, Fill::alternating},
                           {Fill::random, Fill::alternating}};
  std::uint64_t salt = 50000;
  for (const std::uint32_t k : ks) {
    for (const std::uint32_t n : ns) {
      // Every M from 1 to 17 on a rotating subset of the (K, N) pairs, 1, 2 and mr + 1 on all.
      for (std::uint32_t m = 1; m <= 17; ++m) {
        if (m > 2 && m != v.mr + 1 && (salt + m) % 5 != 0) continue;
        const auto& f = fills[salt % std::size(fills)];
        run({m, n, k, f[0], f[1], case_seed(salt++)});
        if (HasFatalFailure()) return;
      }
    }
  }
}

TEST_P(QgemmG32Kernel, MobileLlmShapesAgainstReference) {
  struct Shape {
    std::uint32_t n, k;
  };
  // 125M's layers at M = 1 and 5; a few 350M/1B ones at M = 1 (lighter than the per-row test:
  // the grouped reference is slower, and these run under qemu in CI).
  const Shape shapes[] = {{576, 576}, {192, 576}, {1536, 576}, {576, 1536}};
  const Shape larger[] = {{2560, 960}, {960, 2560}, {3584, 1280}};
  std::uint64_t salt = 60000;
  for (const Shape& s : shapes) {
    for (const std::uint32_t m : {1u, 5u}) {
      run({m, s.n, s.k, Fill::random, Fill::random, case_seed(salt++)});
      if (HasFatalFailure()) return;
    }
  }
  for (const Shape& s : larger) {
    run({1, s.n, s.k, Fill::random, Fill::random, case_seed(salt++)});
    if (HasFatalFailure()) return;
  }
  run({1, 32000, 576, Fill::random, Fill::random, case_seed(salt++)});
  if (HasFatalFailure()) return;
  run({3, 576, 1536, Fill::min, Fill::min, case_seed(salt++)});
  if (HasFatalFailure()) return;
  run({3, 576, 1536, Fill::alternating, Fill::max, case_seed(salt++)});
}

std::string g32_param_name(const ::testing::TestParamInfo<std::size_t>& info) {
  return qgemm_g32_variants()[info.param].isa;
}

INSTANTIATE_TEST_SUITE_P(Kernels, QgemmG32Kernel,
                         ::testing::Range<std::size_t>(1, qgemm_g32_variants().size()),
                         g32_param_name);
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(QgemmG32Kernel);

// quantize_groups() through every quantizer: each group of 32 (and the tail) quantized on its
// own, i.e. exactly what the reference quantizer gives for that group alone, zeros up to
// k_padded(k, 32), nothing written past it; identical bytes for every quantizer.
TEST(KernelQuantizeGroups, EveryGroupOnItsOwn) {
  const QuantizeVariant& ref = quantize_variants()[0];
  std::uint64_t salt = 70000;
  for (const std::uint32_t k : {1u, 5u, 31u, 32u, 33u, 64u, 100u, 172u, 576u}) {
    const std::uint64_t seed = case_seed(salt++);
    SCOPED_TRACE("K=" + std::to_string(k) + ", case seed " + std::to_string(seed) +
                 " (MOBILELLM_TEST_SEED=" + std::to_string(base_seed()) + ")");
    std::mt19937_64 rng(seed);
    const std::uint32_t m = 6, groups = group_count(k), kp = k_padded(k, kGroupSize);
    const std::size_t x_stride = k + 3, q_stride = kp + 7;
    const std::vector<float> x = quantizer_rows(m, k, x_stride, rng);
    // Expected: the reference quantizer on each group copied out alone.
    std::vector<std::int8_t> want(m * q_stride, kCanary);
    std::vector<float> want_scale(std::size_t{m} * groups);
    for (std::uint32_t i = 0; i < m; ++i) {
      for (std::uint32_t g = 0; g < groups; ++g) {
        const std::uint32_t len = std::min(kGroupSize, k - g * kGroupSize);
        const std::vector<float> group(x.begin() + i * x_stride + g * kGroupSize,
                                       x.begin() + i * x_stride + g * kGroupSize + len);
        ref.run(1, len, kGroupSize, group.data(), len, want.data() + i * q_stride + g * kGroupSize,
                kGroupSize, want_scale.data() + std::size_t{i} * groups + g);
      }
    }
    for (const QuantizeVariant& v : quantize_variants()) {
      if (!v.supported(cpu_features())) continue;
      SCOPED_TRACE(v.name);
      std::vector<std::int8_t> q(m * q_stride, kCanary);
      std::vector<float> scale(std::size_t{m} * groups, -1.0f);
      quantize_groups(v, m, k, x.data(), x_stride, q.data(), q_stride, scale.data());
      for (std::size_t i = 0; i < scale.size(); ++i) {
        ASSERT_EQ(std::bit_cast<std::uint32_t>(scale[i]),
                  std::bit_cast<std::uint32_t>(want_scale[i]))
            << "scale " << i;
      }
      for (std::size_t b = 0; b < q.size(); ++b) {
        const std::size_t j = b % q_stride;
        const std::int8_t expected = j < k ? want[b] : j < kp ? 0 : kCanary;
        ASSERT_EQ(q[b], expected) << "row " << b / q_stride << " byte " << j;
      }
    }
  }
}

}  // namespace
}  // namespace mobilellm::kernels
