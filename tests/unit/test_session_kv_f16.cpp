// Sessions with a float16 KV cache (SessionOptions::kv_type = KvType::f16) on small random models
// built by model_builder.hpp, with D = 64 and 80-token prompts crossing an attention chunk boundary
// (64 positions):
//   - the cache's size is half the float32 one, and the session names the kvf16 attention kernel;
//   - the logits do not depend on the thread count nor on how the tokens are batched (bit for bit:
//     the keys and values are rounded once when written, and the attention kernels' contract fixes
//     every float operation on the widened values);
//   - the logits are close to the float32 cache's (tolerance below) but not identical (the cache
//     really is float16).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <ostream>
#include <span>
#include <string>
#include <vector>

#include "mobilellm/model.hpp"
#include "mobilellm/session.hpp"
#include "model_builder.hpp"

namespace mobilellm {
namespace {

using test::ModelBuilder;
using test::ModelSpec;

ModelSpec spec_for(const std::string& weight_type, bool layer_sharing) {
  ModelSpec spec;
  spec.weight_type = weight_type;
  spec.layer_sharing = layer_sharing;
  spec.embedding_length = 96;
  spec.feed_forward_length = 160;
  spec.head_count = 6;
  spec.head_count_kv = 2;
  spec.head_dim = 64;
  spec.block_count = 2;
  spec.context_length = 200;
  spec.seed = 7;
  return spec;
}

std::shared_ptr<const Model> build(const ModelSpec& spec) {
  const std::string path = test::tmp_path("kv_f16_" + spec.weight_type +
                                          (spec.layer_sharing ? "_ls" : "") + ".gguf");
  ModelBuilder(spec).write(path);
  return Model::load(path);
}

std::vector<std::int32_t> prompt(std::uint32_t vocab, std::size_t n) {
  std::vector<std::int32_t> tokens;
  for (std::size_t i = 0; i < n; ++i)
    tokens.push_back(std::int32_t(1 + (i * 7 + i / 5) % (vocab - 1)));
  return tokens;
}

// Logits of every token: evaluated in pieces of `chunk` tokens (0: all at once).
std::vector<float> logits(const std::shared_ptr<const Model>& model, KvType kv, unsigned threads,
                          const std::vector<std::int32_t>& tokens, std::size_t chunk) {
  Session s(model, SessionOptions{.context_length = 0, .threads = threads, .kv_type = kv});
  std::vector<float> all, part;
  if (chunk == 0) chunk = tokens.size();
  for (std::size_t i = 0; i < tokens.size(); i += chunk) {
    const std::size_t n = std::min(chunk, tokens.size() - i);
    s.evaluate(std::span<const std::int32_t>(tokens).subspan(i, n), part);
    all.insert(all.end(), part.begin(), part.end());
  }
  return all;
}

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

double rel_l2(const std::vector<float>& a, const std::vector<float>& b) {
  double num = 0, den = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    num += (double(a[i]) - b[i]) * (double(a[i]) - b[i]);
    den += double(b[i]) * b[i];
  }
  return std::sqrt(num / den);
}

TEST(SessionKvF16, HalfTheBytesAndItsOwnKernelName) {
  const ModelSpec spec = spec_for("F32", true);
  auto model = build(spec);
  Session f32(model, SessionOptions{.context_length = 40});
  Session f16(model, SessionOptions{.context_length = 40, .kv_type = KvType::f16});
  EXPECT_EQ(f32.kv_type(), KvType::f32);
  EXPECT_EQ(f16.kv_type(), KvType::f16);
  EXPECT_STREQ(kv_type_name(KvType::f32), "f32");
  EXPECT_STREQ(kv_type_name(KvType::f16), "f16");
  // 2 stored blocks applied twice = 4 KV slots; K and V; kv_heads * head_dim elements per position.
  const std::uint64_t elements = 4ull * 2 * 40 * spec.head_count_kv * spec.head_dim;
  EXPECT_EQ(f32.kv_cache_bytes(), elements * 4);
  EXPECT_EQ(f16.kv_cache_bytes(), elements * 2);
  EXPECT_EQ(f32.kernels(), model->kernels());
  EXPECT_EQ(f32.kernels().find("_kvf16__"), std::string::npos) << f32.kernels();
  EXPECT_NE(f16.kernels().find("attention_f32_gqa_kvf16__"), std::string::npos) << f16.kernels();
  GenerationConfig g;
  g.max_new_tokens = 2;
  g.sampling.temperature = 0.0f;
  g.stop_at_eos = false;
  const GenerationResult r = f16.generate("ab", g);
  EXPECT_EQ(r.stats.kernels, f16.kernels());
  EXPECT_EQ(r.stats.kv_cache_bytes, elements * 2);
}

struct Layout {
  const char* weight_type;
  bool layer_sharing;
  double tolerance;  // relative L2 distance to the f32 cache's logits (CloseToTheFloat32Cache)
};

void PrintTo(const Layout& l, std::ostream* os) {
  *os << l.weight_type << (l.layer_sharing ? ", layer sharing" : "") << ", tolerance "
      << l.tolerance;
}

class SessionKvF16Layouts : public ::testing::TestWithParam<Layout> {};

// The same bits for 1 and 2 threads, for the whole prompt at once, token by token and in uneven
// pieces (80 tokens: attention chunks 0 and 1, a batch of 37 that starts mid-chunk and crosses
// into the next).
TEST_P(SessionKvF16Layouts, SameBitsForAnyThreadsAndBatching) {
  auto model = build(spec_for(GetParam().weight_type, GetParam().layer_sharing));
  const auto tokens = prompt(model->config().vocab_size, 80);
  const std::vector<float> want = logits(model, KvType::f16, 1, tokens, 0);
  EXPECT_TRUE(same_bits(logits(model, KvType::f16, 2, tokens, 0), want)) << "2 threads, batch";
  EXPECT_TRUE(same_bits(logits(model, KvType::f16, 1, tokens, 1), want)) << "1 thread, 1 by 1";
  EXPECT_TRUE(same_bits(logits(model, KvType::f16, 2, tokens, 1), want)) << "2 threads, 1 by 1";
  EXPECT_TRUE(same_bits(logits(model, KvType::f16, 2, tokens, 37), want)) << "2 threads, by 37";
}

// Close to the float32 cache, and not equal to it.
//
// Tolerance, float weights (1e-2): rounding a key or value to binary16 changes it by at most 2^-11
// of itself (relative; the models' keys and values are far inside binary16's normal range). A
// score q.k/sqrt(D) then moves by at most 2^-11 A (A = sum_d |q_d k_d| / sqrt(D), of order 1 to a
// few for these random models), so each softmax weight by a relative 2 A 2^-11 and each attention
// output by about (2 A + 1) 2^-11 of its magnitude. With A <= 4 that is 9 * 2^-11 = 4.4e-3 per
// attention layer, a worst case (the rounding errors are independent and mostly cancel in the
// sums); the residual stream carries the change on through 2 or 4 attention layers, so the
// logits' relative L2 distance stays below about 4 * 4.4e-3 = 1.8e-2; the test uses 1e-2 (the
// measured value, printed, is about 2.5e-4). A cache whose rows were misplaced or read as the
// wrong type moves the logits by orders of magnitude more. (Whether the rounding is the right one
// is tested exactly by test_half.cpp, and end to end against a float64 reference with float16 K
// and V by tests/python/test_kv_cache_f16.py.)
//
// W8A8 (5e-2): the runtime quantizes every linear layer's input to int8 per token (step
// max|x| / 127), so a change of about 2.5e-4 of the attention output flips the rounding of
// roughly 127 * 2.5e-4 * |x| / max|x|, about 1%, of the activations after it by one step
// (max|x| / 127, several times the typical |x| / 127): about sqrt(0.01) * 4 / 127 = 3e-3 of the
// activation vector's norm at each quantized input (o, gate/up, down of every layer, the head:
// 7 to 13 here), adding up in quadrature to about 1e-2 (measured: 1.2e-2). The bound is 5e-2: the
// cache's own effect is the float-weights one above; the rest is W8A8's activation quantization
// noise, which any change of its inputs brings out.
TEST_P(SessionKvF16Layouts, CloseToTheFloat32Cache) {
  auto model = build(spec_for(GetParam().weight_type, GetParam().layer_sharing));
  const auto tokens = prompt(model->config().vocab_size, 80);
  const std::vector<float> f32 = logits(model, KvType::f32, 1, tokens, 0);
  const std::vector<float> f16 = logits(model, KvType::f16, 1, tokens, 0);
  const double d = rel_l2(f16, f32);
  std::printf("[ kv f16   ] %s%s: relative L2 distance of the logits to the f32 cache's %.3g\n",
              GetParam().weight_type, GetParam().layer_sharing ? " (layer sharing)" : "", d);
  EXPECT_LT(d, GetParam().tolerance);
  EXPECT_FALSE(same_bits(f16, f32)) << "the f16 cache gave the f32 cache's bits";
}

INSTANTIATE_TEST_SUITE_P(Layouts, SessionKvF16Layouts,
                         ::testing::Values(Layout{"F32", false, 1e-2}, Layout{"F32", true, 1e-2},
                                           Layout{"F16", true, 1e-2}, Layout{"W8A8", false, 5e-2}),
                         [](const ::testing::TestParamInfo<Layout>& info) {
                           return std::string(info.param.weight_type) +
                                  (info.param.layer_sharing ? "_sharing" : "");
                         });

}  // namespace
}  // namespace mobilellm
