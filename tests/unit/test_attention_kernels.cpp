// Tests of the float32 attention kernels (kernels/kernels.hpp, "attention").
//
// The oracle is a float64 causal grouped-query attention written here, independently of the
// kernels (plain loops, std::exp, no chunks). The scalar reference must agree with it to float32
// rounding, and every other variant compiled into this build must give the scalar reference's
// bits (the contract fixes every float operation), over edge-heavy shapes: head_dim 1 to 128,
// group sizes 1, 3, 5, 1 to 17 tokens and row counts around every variant's tile, pos0 around the
// chunk boundaries, prompts spanning several chunks, rows handed over in pieces that do not fall
// on tile boundaries, and scores from flat to very peaked. Keys, values and queries end where an
// inaccessible page begins, so a read past the last position or row crashes the test; output rows
// carry spare floats that must stay untouched. Variants this CPU cannot run are skipped with a
// message saying so. Data come from one seed, printed; MOBILELLM_TEST_SEED=N replays it.
//
// Every test of a variant runs with a float32 and with a float16 KV cache (AttentionArgs::kv_type,
// test names ending in _kvf16). The float16 cache holds the keys and values rounded by the
// runtime's conversion (common/half.hpp); its contract is the float32 contract on the widened
// values, so a float16 run must give the bits of the scalar reference on a float32 cache holding
// those widened values, and the float64 oracle is computed on the same widened values.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <random>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include <gtest/gtest.h>

#include "common/half.hpp"
#include "kernels/kernels.hpp"
#include "mobilellm/error.hpp"
#include "test_kernels.hpp"

namespace mobilellm::kernels {
namespace {

using namespace test;  // NOLINT(google-build-using-namespace): the shared helpers

// ------------------------------------------------------------------------------------- problems

struct Shape {
  std::uint32_t head_dim = 64, group = 3, tokens = 1, pos0 = 0;
  float score_scale = 1.0f;  // standard deviation of the scores (queries are scaled by it)
  std::uint64_t seed = 0;
  KvType kv = KvType::f32;  // the cache's element type

  std::uint32_t rows() const { return tokens * group; }
  std::uint32_t positions() const { return pos0 + tokens; }
  std::string describe() const {
    return "D=" + std::to_string(head_dim) + " group=" + std::to_string(group) +
           " tokens=" + std::to_string(tokens) + " pos0=" + std::to_string(pos0) +
           " score sd=" + std::to_string(score_scale) +
           (kv == KvType::f16 ? " kv=f16" : " kv=f32") + ", case seed " + std::to_string(seed) +
           " (MOBILELLM_TEST_SEED=" + std::to_string(base_seed()) + ")";
  }
};

Shape with_kv(Shape s, KvType kv) {
  s.kv = kv;
  return s;
}

// Floats in memory whose last one ends where an inaccessible page begins (test_kernels.hpp).
class GuardedFloats {
 public:
  explicit GuardedFloats(std::size_t n) : bytes_(std::max<std::size_t>(n, 1) * sizeof(float)) {}
  float* data() const { return reinterpret_cast<float*>(bytes_.data()); }

 private:
  GuardedBytes bytes_;
};

constexpr std::size_t kSpare = 3;  // floats after each token's heads in q and out
constexpr float kSentinel = -12345.5f;

// One problem's data: queries and outputs of `tokens` rows of group heads (plus spare floats),
// keys and values of every position read. With a float16 cache, k16 and v16 hold the keys' and
// values' binary16 bits (what the kernels read) and k and v their widened values (what the
// float64 oracle and a float32 run of the same values read).
struct Instance {
  Shape shape;
  std::size_t stride;  // floats from one token's rows to the next
  GuardedFloats q, k, v;
  GuardedBytes k16, v16;
  std::vector<double> want, tol;  // float64 attention and tolerances, tokens x group x D

  explicit Instance(const Shape& s)
      : shape(s),
        stride(std::size_t{s.group} * s.head_dim + kSpare),
        q((s.tokens - 1) * stride + std::size_t{s.group} * s.head_dim),
        k(std::size_t{s.positions()} * s.head_dim),
        v(std::size_t{s.positions()} * s.head_dim),
        k16(half_bytes(s)),
        v16(half_bytes(s)) {
    std::mt19937_64 rng(s.seed);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    const std::size_t qn = (s.tokens - 1) * stride + std::size_t{s.group} * s.head_dim;
    for (std::size_t i = 0; i < qn; ++i) q.data()[i] = normal(rng) * s.score_scale;
    const std::size_t kv = std::size_t{s.positions()} * s.head_dim;
    // Values with an offset per column, so that outputs are not all near zero.
    for (std::size_t i = 0; i < kv; ++i) k.data()[i] = normal(rng);
    for (std::size_t i = 0; i < kv; ++i) v.data()[i] = normal(rng) + float(i % s.head_dim % 5) - 2;
    encode();
    reference_attention();
  }

  static std::size_t half_bytes(const Shape& s) {
    return s.kv == KvType::f16 ? std::size_t{s.positions()} * s.head_dim * 2 : 1;
  }

  // A float16 cache: k and v rounded to binary16 (the runtime's conversion), their bits into k16
  // and v16. Call again after changing k or v.
  void encode() {
    if (shape.kv != KvType::f16) return;
    const std::size_t n = std::size_t{shape.positions()} * shape.head_dim;
    for (std::size_t i = 0; i < n; ++i) {
      const std::uint16_t hk = f32_to_f16(k.data()[i]), hv = f32_to_f16(v.data()[i]);
      std::memcpy(k16.data() + 2 * i, &hk, 2);
      std::memcpy(v16.data() + 2 * i, &hv, 2);
      k.data()[i] = f16_to_f32(hk);
      v.data()[i] = f16_to_f32(hv);
    }
  }

  // The arguments for the instance's cache type, or (kv = f32 on a float16 instance) for a float32
  // cache holding the same widened values.
  AttentionArgs args(float* out) const { return args(out, shape.kv); }
  AttentionArgs args(float* out, KvType kv) const {
    const Shape& s = shape;
    const bool half = kv == KvType::f16;
    return AttentionArgs{s.head_dim,
                         s.group,
                         s.pos0,
                         1.0f / std::sqrt(float(s.head_dim)),
                         q.data(),
                         stride,
                         half ? static_cast<const void*>(k16.data()) : k.data(),
                         half ? static_cast<const void*>(v16.data()) : v.data(),
                         kv,
                         out,
                         stride};
  }

  // softmax(q · k / sqrt(D)) · v in float64, straight from the definition, into `want`; and
  // each output's tolerance, into `tol`.
  //
  // The tolerance bounds the float32 error of the contract's operations term by term (u = 2^-24,
  // D = head_dim, a row of len positions):
  //   - a score is an fma chain of D terms: |error| <= D u A, with A = the largest
  //     sum_d |q_d k_pd| / sqrt(D) of the row; x - max and E(x) (about 2 ulp) add a few u to
  //     each weight, whose relative error is then at most about 2 D u A + 8 u;
  //   - the output's error is at most that times S = sum_p w_p |v_pd| (the softmax weights'
  //     share of the values' magnitudes), plus the sums: up to 64 positions per chunk and one
  //     fold per chunk, (64 + 4 chunks) u S.
  // So tol = S u (4 D A + 64 + 4 chunks + 16) (x2 margin on the score term). A worst-case bound
  // (errors of a random walk are far smaller): the tests print the largest error seen as a share
  // of it, and any wrong position, mask or fold moves an output by orders of magnitude more.
  void reference_attention() {
    const Shape& s = shape;
    const std::uint32_t D = s.head_dim;
    const double scale = double(1.0f / std::sqrt(float(D)));
    want.assign(std::size_t{s.rows()} * D, 0.0);
    tol.assign(std::size_t{s.rows()} * D, 0.0);
    std::vector<double> w;
    for (std::uint32_t t = 0; t < s.tokens; ++t) {
      for (std::uint32_t h = 0; h < s.group; ++h) {
        const float* qr = q.data() + t * stride + std::size_t{h} * D;
        const std::uint32_t len = s.pos0 + t + 1;
        w.assign(len, 0.0);
        double top = -std::numeric_limits<double>::infinity(), A = 0;
        for (std::uint32_t p = 0; p < len; ++p) {
          double dot = 0, abs = 0;
          for (std::uint32_t d = 0; d < D; ++d) {
            const double x = double(qr[d]) * k.data()[std::size_t{p} * D + d];
            dot += x;
            abs += std::fabs(x);
          }
          w[p] = dot * scale;
          A = std::max(A, abs * scale);
          top = std::max(top, w[p]);
        }
        double sum = 0;
        for (double& x : w) sum += (x = std::exp(x - top));
        const std::size_t at = (std::size_t{t} * s.group + h) * D;
        for (std::uint32_t p = 0; p < len; ++p) {
          for (std::uint32_t d = 0; d < D; ++d) {
            const double vd = v.data()[std::size_t{p} * D + d];
            want[at + d] += w[p] / sum * vd;
            tol[at + d] += w[p] / sum * std::fabs(vd);
          }
        }
        const double chunks = std::ceil(double(len) / kAttentionChunk);
        for (std::uint32_t d = 0; d < D; ++d)
          tol[at + d] *= 0x1p-24 * (4.0 * D * A + 64 + 4 * chunks + 16);
      }
    }
  }
};

// Runs `variant` on rows [0, rows) in the given pieces (each a call), into a fresh output filled
// with the sentinel. Returns the output (tokens x stride floats).
// With `only` = {first, last}, runs rows [first, last) alone (one call), the others left as they
// were.
// `kv` overrides the instance's cache type (f32: a float32 cache of the same widened values).
std::vector<float> run(const AttentionVariant& variant, const Instance& in,
                       const std::vector<std::uint32_t>& cuts,
                       const std::uint32_t* only = nullptr, const KvType* kv = nullptr) {
  const Shape& s = in.shape;
  std::vector<float> out((s.tokens - 1) * in.stride + std::size_t{s.group} * s.head_dim + kSpare,
                         kSentinel);
  // Exactly workspace_size bytes (rounded up to the alignment), ending at a guard page.
  const std::size_t bytes = variant.workspace_size(s.head_dim);
  GuardedBytes workspace((bytes + kPackedAlignment - 1) / kPackedAlignment * kPackedAlignment);
  const AttentionArgs a = in.args(out.data(), kv != nullptr ? *kv : s.kv);
  if (only != nullptr) {
    variant.run(a, only[0], only[1], workspace.data());
    return out;
  }
  std::uint32_t begin = 0;
  for (std::uint32_t cut : cuts) {
    if (cut > begin && cut < s.rows()) {
      variant.run(a, begin, cut, workspace.data());
      begin = cut;
    }
  }
  variant.run(a, begin, s.rows(), workspace.data());
  return out;
}

// Rows [first, last) as in `want`, every other float still the sentinel.
::testing::AssertionResult only_rows_written(const Instance& in, const std::vector<float>& got,
                                             const std::vector<float>& want, std::uint32_t first,
                                             std::uint32_t last) {
  const std::size_t heads = std::size_t{in.shape.group} * in.shape.head_dim;
  for (std::size_t i = 0; i < got.size(); ++i) {
    const std::size_t t = i / in.stride, x = i % in.stride;
    const std::size_t row = t * in.shape.group + x / in.shape.head_dim;
    const bool mine = x < heads && row >= first && row < last;
    if (mine ? !(got[i] == want[i]) : got[i] != kSentinel) {
      return ::testing::AssertionFailure()
             << in.shape.describe() << ": rows [" << first << ", " << last << ") alone: token "
             << t << " float " << x << ": got " << got[i] << ", want "
             << (mine ? want[i] : kSentinel);
    }
  }
  return ::testing::AssertionSuccess();
}

// The two-step path (decoding): chunk_partials() of rows [first, last) for `chunks` chunks (each
// call into a guarded buffer of exactly its rows' partials), then fold_partials(), into a fresh
// output filled with the sentinel.
std::vector<float> run_in_chunks(const AttentionVariant& variant, const Instance& in,
                                 std::uint32_t first, std::uint32_t last, std::uint32_t chunks) {
  const Shape& s = in.shape;
  std::vector<float> out((s.tokens - 1) * in.stride + std::size_t{s.group} * s.head_dim + kSpare,
                         kSentinel);
  const std::size_t bytes = variant.workspace_size(s.head_dim);
  GuardedBytes workspace((bytes + kPackedAlignment - 1) / kPackedAlignment * kPackedAlignment);
  const AttentionArgs a = in.args(out.data());
  const std::size_t per_chunk = std::size_t{last - first} * (s.head_dim + 2);
  std::vector<float> partials(per_chunk * chunks);
  GuardedFloats one(per_chunk);
  for (std::uint32_t c = 0; c < chunks; ++c) {
    variant.chunk_partials(a, first, last, c, one.data(), workspace.data());
    std::copy_n(one.data(), per_chunk, partials.data() + c * per_chunk);
  }
  variant.fold_partials(a, first, last, chunks, partials.data());
  return out;
}

// Chunks covering every position of rows up to `last`, plus one past them all (which must change
// nothing).
std::uint32_t chunks_for(const Shape& s, std::uint32_t last) {
  return (s.pos0 + (last - 1) / s.group + 1 + kAttentionChunk - 1) / kAttentionChunk + 1;
}

// Shapes for the two-step path: one token (its group's heads) at positions around the chunk
// boundaries and far into the context, and a few tokens (rows with different limits).
std::vector<Shape> decode_shapes() {
  std::vector<Shape> shapes;
  std::uint64_t salt = 0;
  std::size_t cycle = 0;
  for (std::uint32_t D : {64u, 2u, 6u, 32u, 80u, 128u, 1u}) {
    for (std::uint32_t group : {1u, 3u, 5u, 8u}) {
      for (std::uint32_t pos0 : {0u, 1u, 15u, 16u, 63u, 64u, 65u, 200u, 511u}) {
        const std::uint32_t tokens = cycle % 4 == 3 ? 1 + std::uint32_t(cycle % 7) : 1;
        const float sd = (cycle % 3 == 0) ? 1.0f : (cycle % 3 == 1) ? 3.0f : 0.3f;
        ++cycle;
        shapes.push_back({D, group, tokens, pos0, sd, case_seed(7000 + salt++)});
      }
    }
  }
  return shapes;
}

// Every output within the tolerance of the float64 result, spare floats untouched. Returns the
// largest error as a share of its tolerance (for the log).
double check_against_float64(const Instance& in, const std::vector<float>& got) {
  const Shape& s = in.shape;
  double worst = 0;
  for (std::uint32_t t = 0; t < s.tokens; ++t) {
    for (std::uint32_t h = 0; h < s.group; ++h) {
      for (std::uint32_t d = 0; d < s.head_dim; ++d) {
        const float g = got[t * in.stride + std::size_t{h} * s.head_dim + d];
        const double w = in.want[(std::size_t{t} * s.group + h) * s.head_dim + d];
        const double tol = in.tol[(std::size_t{t} * s.group + h) * s.head_dim + d];
        const double err = std::fabs(double(g) - w);
        if (!(err <= tol)) {
          ADD_FAILURE() << s.describe() << ": token " << t << " head " << h << " dim " << d
                        << ": got " << g << ", float64 " << w << ", error " << err
                        << " > tolerance " << tol;
          return worst;
        }
        worst = std::max(worst, err / tol);
      }
    }
    for (std::size_t x = std::size_t{s.group} * s.head_dim; x < in.stride; ++x) {
      if (t * in.stride + x < got.size() && got[t * in.stride + x] != kSentinel) {
        ADD_FAILURE() << s.describe() << ": spare float " << x << " of token " << t
                      << " was written";
        return worst;
      }
    }
  }
  return worst;
}

// The same values as the scalar reference (== on floats: a zero's sign is not part of the
// contract), spare floats untouched.
::testing::AssertionResult same_as_reference(const Instance& in, const std::vector<float>& got,
                                             const std::vector<float>& want) {
  for (std::size_t i = 0; i < got.size(); ++i) {
    if (!(got[i] == want[i])) {
      const std::size_t t = i / in.stride, x = i % in.stride;
      return ::testing::AssertionFailure()
             << in.shape.describe() << ": token " << t << " float " << x << " (head "
             << x / in.shape.head_dim << "): got " << got[i] << ", reference " << want[i];
    }
  }
  return ::testing::AssertionSuccess();
}

// Token counts 1..17, and those whose rows end around a multiple of `tile` (one row below, at and
// above 1, 2 and 3 tiles).
std::vector<std::uint32_t> token_counts(std::uint32_t group, std::uint32_t tile) {
  std::set<std::uint32_t> n;
  for (std::uint32_t i = 1; i <= 17; ++i) n.insert(i);
  for (std::uint32_t m = 1; m <= 3; ++m) {
    for (int delta : {-1, 0, 1}) {
      const std::int64_t rows = std::int64_t{m} * tile + delta;
      if (rows >= 1) n.insert(std::uint32_t((rows + group - 1) / group));
    }
  }
  return {n.begin(), n.end()};
}

// The shapes every variant runs: edge-heavy, derived from the variant's tile. pos0 cycles through
// chunk boundaries (0, 1, 63, 64, 65, 127, 128, 200) so that every token count meets several.
std::vector<Shape> edge_shapes(std::uint32_t tile) {
  std::vector<Shape> shapes;
  const std::uint32_t pos0s[] = {0, 1, 63, 64, 65, 127, 128, 200};
  std::uint64_t salt = 0;
  std::size_t cycle = 0;
  for (std::uint32_t D : {64u, 2u, 32u, 80u, 128u, 1u, 6u}) {
    for (std::uint32_t group : {1u, 3u, 5u}) {
      for (std::uint32_t n : token_counts(group, tile)) {
        const float sd = (cycle % 3 == 0) ? 1.0f : (cycle % 3 == 1) ? 3.0f : 0.3f;
        shapes.push_back({D, group, n, pos0s[cycle++ % 8], sd, case_seed(1000 + salt++)});
      }
    }
  }
  // 125M's shape (D 64, 9 heads over 3 KV heads): a prompt spanning several chunks, and one token
  // decoded after it.
  shapes.push_back({64, 3, 150, 0, 1.0f, case_seed(1000 + salt++)});
  shapes.push_back({64, 3, 37, 300, 2.0f, case_seed(1000 + salt++)});
  shapes.push_back({64, 3, 1, 511, 1.0f, case_seed(1000 + salt++)});
  return shapes;
}

// Cut points of the row range: none, then every tile boundary, then off-tile pieces.
std::vector<std::vector<std::uint32_t>> splits(const Shape& s, std::uint32_t tile) {
  std::vector<std::vector<std::uint32_t>> all{{}};
  if (s.rows() > tile) {
    std::vector<std::uint32_t> tiles;
    for (std::uint32_t r = tile; r < s.rows(); r += tile) tiles.push_back(r);
    all.push_back(tiles);
  }
  if (s.rows() > 2) all.push_back({1, s.rows() / 2 + 1});
  return all;
}

// ---------------------------------------------------------------------- the scalar reference

const AttentionVariant& reference() { return attention_variants()[0]; }

TEST(AttentionReference, MatchesFloat64Attention) {
  double worst = 0;
  for (const Shape& s : edge_shapes(16)) {
    const Instance in(s);
    worst = std::max(worst, check_against_float64(in, run(reference(), in, {})));
    if (HasFailure()) return;
  }
  std::printf("[ kernels  ] scalar reference: largest error %.3g of the tolerance\n", worst);
}

// The reference's two-step path gives the bits of its one-step path, for both cache types.
TEST(AttentionReference, ChunksFoldedGiveTheSameBits) {
  for (KvType kv : {KvType::f32, KvType::f16}) {
    for (const Shape& shape : decode_shapes()) {
      const Shape s = with_kv(shape, kv);
      const Instance in(s);
      const std::vector<float> want = run(reference(), in, {});
      ASSERT_TRUE(same_as_reference(in, run_in_chunks(reference(), in, 0, s.rows(),
                                                      chunks_for(s, s.rows())),
                                    want));
    }
  }
}

// A float16 cache is read as its exact float32 values: the reference on the binary16 bits gives
// the bits of the reference on a float32 cache holding the widened values, and both are within
// the float32 tolerance of the float64 attention on those values. (The bits are those the
// runtime's conversion writes: f32_to_f16, round to nearest even.)
TEST(AttentionReference, Float16CacheIsTheWidenedFloat32Cache) {
  double worst = 0;
  const KvType as_f32 = KvType::f32;
  const std::vector<Shape> shapes = edge_shapes(16);
  for (std::size_t i = 0; i < shapes.size(); i += 2) {  // every other one: they repeat patterns
    const Instance in(with_kv(shapes[i], KvType::f16));
    const std::vector<float> got = run(reference(), in, {});
    ASSERT_TRUE(same_as_reference(in, got, run(reference(), in, {}, nullptr, &as_f32)));
    worst = std::max(worst, check_against_float64(in, got));
    if (HasFailure()) return;
  }
  std::printf("[ kernels  ] scalar reference, f16 cache: largest error %.3g of the tolerance\n",
              worst);
}

// Scores far apart: without the maximum subtracted, exp would overflow (scores of +-300) or every
// weight underflow; with it the result is the float64 one. Also the positions whose weight
// underflows below E's range (e^-87) do not disturb the others.
TEST(AttentionReference, LargeScoresStayFinite) {
  for (float sd : {30.0f, 300.0f}) {
    for (std::uint32_t pos0 : {0u, 100u}) {
      const Instance in(Shape{32, 3, 20, pos0, sd, case_seed(3000 + pos0 + std::uint64_t(sd))});
      check_against_float64(in, run(reference(), in, {}));
    }
  }
}

// Causality, worked out by hand: one head of D = 8, key p = basis vector p % 8, value p =
// (100 p + d). Token t's query points (score 42, weights e^-42 apart) at the basis vector of
// position pos0 + t + 1, the first one it must not see: it matches that future position, and
// positions pos0 + t + 1 - 8, - 16, ... when they exist. So the output is the mean of those
// visible matches' values, or (none) the mean of the values 0 .. pos0 + t.
// Any position past the limit that leaks in moves the output by about 100 or more.
// (With a float16 cache the values above 2048 are rounded to binary16, so the expected means are
// taken over the values as stored.)
void check_causal_by_hand(const AttentionVariant& variant, KvType kv) {
  const std::uint32_t D = 8, n = 12;
  for (std::uint32_t pos0 : {0u, 5u, 60u}) {
    SCOPED_TRACE("pos0 " + std::to_string(pos0));
    Instance in(Shape{D, 1, n, pos0, 1.0f, case_seed(4000), kv});
    for (std::uint32_t p = 0; p < pos0 + n; ++p) {
      for (std::uint32_t d = 0; d < D; ++d) {
        in.k.data()[p * D + d] = d == p % D ? 1.0f : 0.0f;
        in.v.data()[p * D + d] = float(p * 100 + d);
      }
    }
    in.encode();
    for (std::uint32_t t = 0; t < n; ++t) {
      for (std::uint32_t d = 0; d < D; ++d)
        in.q.data()[t * in.stride + d] = d == (pos0 + t + 1) % D ? 120.0f : 0.0f;
    }
    const std::vector<float> got = run(variant, in, {});
    for (std::uint32_t t = 0; t < n; ++t) {
      const std::uint32_t limit = pos0 + t;
      for (std::uint32_t d = 0; d < D; ++d) {
        // The visible matches: limit - 7, limit - 15, ... (equal scores: their mean); without
        // any, the mean of every visible value.
        double matches = 0, sum = 0, all = 0;
        for (std::int64_t p = std::int64_t{limit} - 7; p >= 0; p -= 8, ++matches)
          sum += in.v.data()[p * D + d];
        for (std::uint32_t p = 0; p <= limit; ++p) all += in.v.data()[p * D + d];
        const double want = matches > 0 ? sum / matches : all / (limit + 1);
        EXPECT_NEAR(got[t * in.stride + d], want, 1e-4 * want + 1e-4) << "token " << t;
      }
    }
  }
}

TEST(AttentionReference, AttendsExactlyToPositionsUpToItsOwn) {
  check_causal_by_hand(reference(), KvType::f32);
  check_causal_by_hand(reference(), KvType::f16);
}

// ------------------------------------------------------------------------ the registry

TEST(AttentionRegistry, ListsEveryVariantAndWhichRunHere) {
  const auto variants = attention_variants();
  ASSERT_FALSE(variants.empty());
  EXPECT_STREQ(variants[0].isa, "scalar");
  std::printf("[ kernels  ] CPU: %s\n", cpu_name().c_str());
  std::set<std::string> isas;
  for (const AttentionVariant& v : variants) {
    const bool here = v.supported(cpu_features());
    std::printf("[ kernels  ]   %-44s %s\n", v.name,
                here ? "runs here" : "SKIPPED: not supported by this CPU");
    EXPECT_TRUE(isas.insert(v.isa).second) << "two attention variants for ISA " << v.isa;
    EXPECT_TRUE(std::string(v.name).starts_with("attention_f32_gqa__" + std::string(v.isa) + "_" +
                                                std::to_string(v.tile_rows) + "x"))
        << v.name;
    // The float16-cache name: the same with "kvf16" in the operation part.
    const std::string rest = std::string(v.name).substr(std::strlen("attention_f32_gqa__"));
    EXPECT_EQ(std::string(v.kvf16_name), "attention_f32_gqa_kvf16__" + rest) << v.kvf16_name;
    EXPECT_EQ(v.name_for(KvType::f32), v.name);
    EXPECT_EQ(v.name_for(KvType::f16), v.kvf16_name);
    EXPECT_GE(v.tile_rows, 1u);
    EXPECT_TRUE(v.workspace_size && v.run && v.chunk_partials && v.fold_partials) << v.name;
    EXPECT_GE(v.workspace_size(64), 64 * sizeof(float)) << v.name;
  }
}

CpuFeatures no_features() { return CpuFeatures{}; }

CpuFeatures all_features() {
  CpuFeatures f;
  f.avx2 = f.fma = f.avx512f = f.avx512bw = f.avx512vl = f.avx512vnni = f.f16c = true;
  f.neon = f.dotprod = f.i8mm = true;
  f.model = "every feature";
  return f;
}

// The order of the ISA names, written out here independently of the registry.
int level(const std::string& isa) {
  const char* ladder[] = {"scalar", "avx2", "avx512f", "avx512vnni", "neon", "neondot", "neoni8mm"};
  for (int i = 0; i < 7; ++i) {
    if (isa == ladder[i]) return i;
  }
  return -1;
}

TEST(AttentionSelection, FollowsTheKernelIsaNames) {
  const auto variants = attention_variants();
  for (std::size_t i = 1; i < variants.size(); ++i)
    EXPECT_LT(level(variants[i - 1].isa), level(variants[i].isa)) << variants[i].name;
  EXPECT_EQ(&resolve_attention("auto", no_features()), &variants[0]);
  EXPECT_EQ(&resolve_attention("", all_features()), &variants.back());
  const AttentionVariant* best = &variants[0];
  for (const AttentionVariant& v : variants) {
    if (v.supported(cpu_features())) best = &v;
  }
  EXPECT_EQ(&resolve_attention("auto", cpu_features()), best);
  EXPECT_EQ(&select_attention("auto"), best);

  // An ISA name: the best supported variant at or below it.
  for (const CpuFeatures& cpu : {no_features(), all_features(), cpu_features()}) {
    for (const QGemmVariant& g : qgemm_variants()) {
      if (!g.supported(cpu)) {
        EXPECT_THROW(resolve_attention(g.isa, cpu), InvalidArgument) << g.isa;
        continue;
      }
      SCOPED_TRACE(std::string(g.isa) + " on " + cpu.model);
      const AttentionVariant& chosen = resolve_attention(g.isa, cpu);
      EXPECT_TRUE(chosen.supported(cpu));
      EXPECT_LE(level(chosen.isa), level(g.isa));
      for (const AttentionVariant& v : variants) {
        if (v.supported(cpu) && level(v.isa) <= level(g.isa)) {
          EXPECT_LE(level(v.isa), level(chosen.isa)) << v.name << " would have been better";
        }
      }
    }
  }
  for (const char* bad : {"avx9000", "avx512f", "AVX2"}) {
    EXPECT_THROW(resolve_attention(bad, all_features()), InvalidArgument) << bad;
    EXPECT_THROW(select_attention(bad), InvalidArgument) << bad;
  }
}

// The AVX2 attention unit widens float16 caches with F16C: a CPU with AVX2 and FMA but without
// F16C (a VM may hide it) gets the scalar reference for attention, while the GEMM stays AVX2.
TEST(AttentionSelection, Avx2AttentionNeedsF16c) {
  bool have_avx2 = false;
  for (const AttentionVariant& v : attention_variants()) have_avx2 |= std::string(v.isa) == "avx2";
  if (!have_avx2) GTEST_SKIP() << "no AVX2 attention variant in this build";
  CpuFeatures cpu;
  cpu.avx2 = cpu.fma = true;
  cpu.model = "AVX2 without F16C";
  EXPECT_STREQ(resolve_attention("auto", cpu).isa, "scalar");
  EXPECT_STREQ(resolve_attention("avx2", cpu).isa, "scalar");
  EXPECT_STREQ(resolve_qgemm("avx2", cpu).isa, "avx2");
  cpu.f16c = true;
  EXPECT_STREQ(resolve_attention("auto", cpu).isa, "avx2");
  EXPECT_STREQ(resolve_attention("avx2", cpu).isa, "avx2");
}

// select_attention() without an argument follows MOBILELLM_KERNELS like select_qgemm().
TEST(AttentionSelection, DefaultFollowsTheEnvironment) {
  const char* env = std::getenv("MOBILELLM_KERNELS");
  const std::string name = env != nullptr ? env : "";
  try {
    const AttentionVariant& want = resolve_attention(name, cpu_features());
    EXPECT_EQ(&select_attention(), &want);
    std::printf("[ kernels  ] MOBILELLM_KERNELS=\"%s\": %s\n", name.c_str(), want.name);
  } catch (const InvalidArgument&) {
    EXPECT_THROW(select_attention(), InvalidArgument);
  }
}

// ------------------------------------------------------------------------ every variant

// Parameters: the variant's index in attention_variants(), the KV cache's element type.
class AttentionKernel : public ::testing::TestWithParam<std::tuple<std::size_t, KvType>> {
 protected:
  const AttentionVariant& variant() const { return attention_variants()[std::get<0>(GetParam())]; }
  KvType kv() const { return std::get<1>(GetParam()); }
  const char* name() const { return variant().name_for(kv()); }
  void SetUp() override {
    if (!variant().supported(cpu_features()))
      GTEST_SKIP() << name() << " is not supported by " << cpu_name();
  }

  // The variant against the reference's bits (with the same cache) for every split, and against
  // float64.
  void check(const Shape& shape, double& worst) {
    const Shape s = with_kv(shape, kv());
    const Instance in(s);
    const std::vector<float> want = run(reference(), in, {});
    bool first = true;
    for (const auto& cuts : splits(s, variant().tile_rows)) {
      const std::vector<float> got = run(variant(), in, cuts);
      ASSERT_TRUE(same_as_reference(in, got, want)) << "rows cut at " << cuts.size() << " points";
      if (first) worst = std::max(worst, check_against_float64(in, got));
      first = false;
    }
    // A part of the rows alone, off tile boundaries: it writes exactly its rows.
    if (s.rows() >= 3) {
      const std::uint32_t only[2] = {s.rows() / 3, s.rows() / 3 + std::max(1u, s.rows() / 3)};
      ASSERT_TRUE(only_rows_written(in, run(variant(), in, {}, only), want, only[0], only[1]));
    }
  }
};

TEST_P(AttentionKernel, EdgeShapesMatchTheReferenceBitForBit) {
  double worst = 0;
  for (const Shape& s : edge_shapes(variant().tile_rows)) {
    check(s, worst);
    if (HasFatalFailure() || HasFailure()) return;
  }
  std::printf("[ kernels  ] %s: largest error %.3g of the tolerance\n", name(), worst);
}

TEST_P(AttentionKernel, AttendsExactlyToPositionsUpToItsOwn) {
  check_causal_by_hand(variant(), kv());
}

// The two-step path (decoding) against the reference's one-step bits: all rows, and a part of the
// rows alone (which must write exactly its rows).
TEST_P(AttentionKernel, ChunksFoldedMatchTheReferenceBitForBit) {
  double worst = 0;
  for (const Shape& shape : decode_shapes()) {
    const Shape s = with_kv(shape, kv());
    const Instance in(s);
    const std::vector<float> want = run(reference(), in, {});
    const std::vector<float> got =
        run_in_chunks(variant(), in, 0, s.rows(), chunks_for(s, s.rows()));
    ASSERT_TRUE(same_as_reference(in, got, want));
    worst = std::max(worst, check_against_float64(in, got));
    if (s.rows() >= 2) {
      const std::uint32_t first = s.rows() / 2, last = s.rows();
      ASSERT_TRUE(only_rows_written(
          in, run_in_chunks(variant(), in, first, last, chunks_for(s, last)), want, first, last));
    }
  }
  std::printf("[ kernels  ] %s in chunks: largest error %.3g of the tolerance\n", name(), worst);
}

TEST_P(AttentionKernel, LargeScoresMatchTheReferenceBitForBit) {
  double worst = 0;
  for (float sd : {30.0f, 300.0f}) {
    for (std::uint32_t pos0 : {0u, 100u}) {
      check(Shape{32, 3, 20, pos0, sd, case_seed(5000 + pos0 + std::uint64_t(sd))}, worst);
      if (HasFatalFailure()) return;
    }
  }
}

std::string variant_param_name(
    const ::testing::TestParamInfo<std::tuple<std::size_t, KvType>>& info) {
  return std::string(attention_variants()[std::get<0>(info.param)].isa) +
         (std::get<1>(info.param) == KvType::f16 ? "_kvf16" : "");
}

// Every variant but the reference itself (index 0), with each cache type.
INSTANTIATE_TEST_SUITE_P(
    Kernels, AttentionKernel,
    ::testing::Combine(::testing::Range<std::size_t>(1, attention_variants().size()),
                       ::testing::Values(KvType::f32, KvType::f16)),
    variant_param_name);
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(AttentionKernel);

}  // namespace
}  // namespace mobilellm::kernels
